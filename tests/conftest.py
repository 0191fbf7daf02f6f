"""Fixtures shared by every test: green I/O, key pairs, and databases of both kinds.

Monkey-patching happens first: Nameko's own pytest plugin no longer does it, and the
services under test expect green sockets exactly as in production.
"""
import os
import warnings

# hypothesis loads every installed "hypothesis" plugin on import; trio's (which selenium
# brings in) cannot import on eventlet's green sockets, and we use no plugin
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)

import eventlet  # noqa: E402

eventlet.monkey_patch()

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()

from services.stack import ensure_dev_keys  # noqa: E402
from tests.support.postgres import POSTGRES_ADMIN_URL, create_postgres_database, postgres_problem  # noqa: E402

MIGRATIONS = Path(__file__).resolve().parent.parent / "services"


@pytest.fixture(scope="session")
def key_files(tmp_path_factory):
    """(private, public) PEM paths of a fresh Ed25519 pair for this run."""
    return ensure_dev_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def private_key_pem(key_files):
    return key_files[0].read_text()


@pytest.fixture(scope="session")
def public_key_pem(key_files):
    return key_files[1].read_text()


@pytest.fixture(scope="session")
def postgres_server():
    problem = postgres_problem()
    if problem:
        pytest.skip(problem)
    return POSTGRES_ADMIN_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """An empty database of each kind the platform supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    admin_url = request.getfixturevalue("postgres_server")
    url, drop = create_postgres_database(admin_url)
    yield url
    drop()


class ServiceDatabase:
    """A service's migrated database, and units of work on it like its workers'."""

    def __init__(self, url):
        from services.kernel.database import make_engine

        self.engine = make_engine(url)
        self._units = []

    def unit(self):
        """A fresh :class:`UnitOfWork`, as ``Database`` gives each Nameko worker."""
        from sqlalchemy.orm import Session

        from services.kernel.database import UnitOfWork

        self._units.append(UnitOfWork(Session(self.engine, expire_on_commit=False)))
        return self._units[-1]

    def close(self):
        for unit in self._units:  # what Database.worker_teardown does in a container
            unit.close()
        self.engine.dispose()


@pytest.fixture
def service_database(migrated):
    """``service_database("auth")`` -> that service's schema on each kind of database."""
    opened = []

    def open_for(service):
        opened.append(ServiceDatabase(migrated(service)))
        return opened[-1]

    yield open_for
    for database in opened:
        database.close()


@pytest.fixture
def migrated(database_url):
    """``migrated("auth")`` -> a database URL with that service's migrations applied."""
    from services.kernel.database import migrate

    def apply(service):
        migrate(database_url, MIGRATIONS / service / "migrations")
        return database_url

    return apply
