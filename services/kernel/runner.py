"""Run one service: ``python -m services.kernel.runner <service>``.

Monkey-patches first (so sockets, the PostgreSQL driver and the broker client are all
green), reads config from the environment, waits up to ``WAIT_FOR_DEPENDENCIES_SECONDS``
for RabbitMQ and the service's database (a container may start before them), applies
the service's migrations, then runs the Nameko container until SIGTERM or Ctrl-C,
which stop it gracefully. Every record it logs is a JSON line (``services.kernel.logs``).
"""
import warnings

# eventlet announces its maintenance mode on import; we chose it knowingly (nameko needs it)
warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated", category=Warning)

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()

from nameko.cli.run import run  # noqa: E402

from services import DOMAIN_SERVICES, SERVICES  # noqa: E402
from services.kernel import identity, logs, reachability, telemetry  # noqa: E402,F401  (identity: its RPC wire type)
from services.kernel import broker_acks  # noqa: E402
from services.kernel.config import load_config  # noqa: E402
from services.kernel.database import migrate  # noqa: E402

log = logging.getLogger("services.runner")


broker_acks.install()


def service_class(name):
    module = importlib.import_module(f"services.{name}.service")
    for _, value in inspect.getmembers(module, inspect.isclass):
        if getattr(value, "name", None) == name and value.__module__ == module.__name__:
            return value
    raise LookupError(f"services.{name}.service defines no Nameko service named {name!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.kernel.runner", description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--migrate-only", action="store_true",
                        help="wait for the database, apply the migrations and exit (a Kubernetes init container)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    name = args.service
    config = load_config(service=name)
    logs.configure(name, config["LOG_LEVEL"], capture_stderr=True)
    # expected errors (a 404, a refused login) are answers, not incidents: no tracebacks
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    migrations = Path(__file__).resolve().parent.parent / name / "migrations"
    migrations = migrations if migrations.is_dir() else None  # the door has no database
    problem = wait_for_dependencies(config, needs_broker=not args.migrate_only,
                                    needs_database=migrations is not None)
    if problem:
        log.error("giving up after WAIT_FOR_DEPENDENCIES_SECONDS: %s", problem)
        return 1
    if migrations:
        migrate(config["DATABASE_URL"], migrations)
    if args.migrate_only:
        log.info("migrations of %s applied", name)
        return 0
    cls = service_class(name)
    # every service, whoever wrote it, logs one line per request with its call id
    cls.request_log = logs.RequestLog()
    # ... and is timed and traced; the domain services serve their metrics on METRICS_PORT
    telemetry.configure_tracing(name, config)
    cls.telemetry = telemetry.Telemetry(serve_metrics=name in DOMAIN_SERVICES)
    if config.get("STOP_WITH_PARENT"):
        eventlet.spawn_n(stop_when_orphaned, int(config["STOP_WITH_PARENT"]))
    tune_garbage_collector(config["GC_THRESHOLDS"])
    run([cls], config)
    return 0


def tune_garbage_collector(thresholds):
    """Collect the young generation less often, and never walk what was there at start.

    A service allocates many short-lived objects per message; with CPython's default (a young
    collection every 700 allocations) whatever is in flight for a few milliseconds (a report
    waiting for its flush, a message in a queue) is promoted and walked again by every full
    collection: a fifth of the door's CPU under progress load (docs/benchmarks.md). What was
    made before the service runs (modules, classes, config) lives for ever: ``gc.freeze``.
    """
    try:
        values = [int(value) for value in thresholds.split(",")]
        if not 1 <= len(values) <= 3 or min(values) < 1:
            raise ValueError
    except ValueError:
        raise SystemExit(f"GC_THRESHOLDS must be one to three positive integers, e.g. 50000,20,10: {thresholds!r}")
    gc.set_threshold(*values)
    gc.freeze()


def stop_when_orphaned(launcher_pid, every=2.0):
    """SIGTERM ourselves (a graceful stop) once the launcher is gone: our parent is then
    another process (init, a subreaper), as a service started in its own session is never
    stopped with its launcher's process group."""
    while os.getppid() == launcher_pid:
        eventlet.sleep(every)
    log.warning("the launcher (pid %d) is gone: stopping", launcher_pid)
    os.kill(os.getpid(), signal.SIGTERM)


def wait_for_dependencies(config, needs_broker, needs_database):
    """None once the broker and the database (for those who need them) answer."""
    checks = []
    if needs_broker:
        checks.append(lambda: reachability.broker_problem(config["AMQP_URI"]))
    # a SQLite file is there when we make it; only a database server can be late
    if needs_database and config["DATABASE_URL"] and not config["DATABASE_URL"].startswith("sqlite"):
        checks.append(lambda: reachability.database_problem(config["DATABASE_URL"]))
    return reachability.wait_for(checks, float(config["WAIT_FOR_DEPENDENCIES_SECONDS"]))


if __name__ == "__main__":
    sys.exit(main())
