"""The service catalogue: which services make up the platform.

The one list every launcher, probe and manifest test follows. Adding a service is one
line here (plus its package, following the auth layout); ``services/stack.py``, the
runner, the probe and the deployment tests all derive from it.
"""
from pathlib import Path

# the door last: it is ready only when the services behind it answer
SERVICES = ("auth", "courses", "progress", "quizzes", "realtime")
DOOR = "realtime"
DOMAIN_SERVICES = tuple(s for s in SERVICES if s != DOOR)

PACKAGES = Path(__file__).resolve().parent.parent


def present(services=SERVICES):
    """Those of ``services`` whose package exists in this checkout or image, in order.

    Services are built in parallel: a checkout may not hold all of them yet, and the
    local stack starts only what it can run.
    """
    return tuple(s for s in services if (PACKAGES / s / "service.py").is_file())


def migrations_dir(service):
    """The service's Alembic directory, or None when it has no database of its own."""
    path = PACKAGES / service / "migrations"
    return path if path.is_dir() else None
