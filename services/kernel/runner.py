"""Run one service: ``python -m services.kernel.runner <service>``.

Monkey-patches first (so sockets, the PostgreSQL driver and the broker client are all
green), reads config from the environment, applies the service's migrations, then runs
the Nameko container until SIGTERM or Ctrl-C, which stop it gracefully.
"""
import warnings

# eventlet announces its maintenance mode on import; we chose it knowingly (nameko needs it)
warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated", category=Warning)

import eventlet  # noqa: E402

eventlet.monkey_patch()

import importlib  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()

from nameko.cli.run import run  # noqa: E402

from services import SERVICES  # noqa: E402
from services.kernel.config import load_config  # noqa: E402
from services.kernel.database import migrate  # noqa: E402



def service_class(name):
    module = importlib.import_module(f"services.{name}.service")
    for _, value in inspect.getmembers(module, inspect.isclass):
        if getattr(value, "name", None) == name and value.__module__ == module.__name__:
            return value
    raise LookupError(f"services.{name}.service defines no Nameko service named {name!r}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: python -m services.kernel.runner {{{'|'.join(SERVICES)}}}", file=sys.stderr)
        return 2
    name = argv[0]
    config = load_config(service=name)
    logging.basicConfig(
        level=config["LOG_LEVEL"],
        format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s",
    )
    # expected errors (a 404, a refused login) are answers, not incidents: no tracebacks
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    cls = service_class(name)
    migrations = Path(__file__).resolve().parent.parent / name / "migrations"
    if migrations.is_dir():
        migrate(config["DATABASE_URL"], migrations)
    run([cls], config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
