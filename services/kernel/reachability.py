"""Is the broker reachable, is a database reachable; wait until they are.

A container starts before (or while) RabbitMQ and PostgreSQL come up, and restarts
when they go away. Instead of crashing in a loop, the runner waits for both, up to
``WAIT_FOR_DEPENDENCIES_SECONDS``, then migrates and starts.
"""
import logging
import time
from urllib.parse import urlparse

log = logging.getLogger(__name__)


def redact(uri):
    """``uri`` with its password replaced, fit for a log line."""
    parts = urlparse(uri)
    return uri.replace(f":{parts.password}@", ":***@") if parts.password else uri


def broker_problem(amqp_uri, timeout=3):
    """None if RabbitMQ answers at ``amqp_uri``, else one line saying what is wrong."""
    from kombu import Connection

    try:
        with Connection(amqp_uri, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1)
        return None
    except Exception as exc:
        return f"RabbitMQ is not answering at {redact(amqp_uri)} ({type(exc).__name__}: {exc})."


def database_problem(database_url, timeout=3):
    """None if the database at ``database_url`` answers ``SELECT 1``, else what is wrong."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from services.kernel.database import normalise_url

    url = normalise_url(database_url)
    connect_args = {"connect_timeout": timeout} if url.startswith("postgresql") else {}
    engine = create_engine(url, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:
        return f"The database is not answering at {redact(database_url)} ({type(exc).__name__})."
    finally:
        engine.dispose()


def wait_for(checks, seconds, interval=1.0):
    """Run each ``check()`` (None = fine, else a problem) in turn until it passes.

    Returns None when every check passed within ``seconds``, else the last problem
    seen. ``seconds <= 0`` waits for nothing (``make run`` checks the broker itself).
    """
    if seconds <= 0:
        return None
    deadline = time.monotonic() + seconds
    for check in checks:
        while (problem := check()) is not None:
            if time.monotonic() >= deadline:
                return problem
            log.info("waiting for a dependency: %s", problem)
            time.sleep(interval)
    return None
