"""A PostgreSQL database of one's own on the local server (tests and bench)."""
import os
import uuid

from services.kernel.database import normalise_url

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_problem(admin_url=POSTGRES_ADMIN_URL):
    """None when the server answers, else why not (one line)."""
    from sqlalchemy import create_engine

    try:
        engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL not answering at {admin_url}: {type(exc).__name__}"


def create_postgres_database(admin_url=POSTGRES_ADMIN_URL, prefix="test"):
    """A new, uniquely named database (parallel runs never collide); returns (url, drop)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    def admin_sql(statement):
        # a fresh connection each time: the server may have restarted in between (fault tests)
        admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as connection:
            connection.exec_driver_sql(statement)
        admin.dispose()

    admin_sql(f'CREATE DATABASE "{name}"')

    def drop():
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop
