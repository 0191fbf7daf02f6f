"""Persistence plumbing shared by the services: engines, a unit of work, migrations.

Each service owns one database (its own ``DATABASE_URL``: SQLite file by default,
PostgreSQL in deployment). ``Database`` is the Nameko dependency: engine made in
``setup``, one :class:`UnitOfWork` per worker, closed in ``worker_teardown``, engine
disposed in ``stop``.

Domain events are recorded on the unit of work and only handed out once its
transaction has committed, so no event ever describes a rolled-back row. ``Database``
publishes them itself, in ``worker_result`` (after the entrypoint returned or raised),
from the service's own events exchange: no entrypoint dispatches by hand. This is
Cosmic Python's ``collect_new_events`` + message bus in Nameko's terms. An event that
was committed but could not be published is logged as an error with its payload: the
row exists, and the log is the only trace of the announcement that never went out.
"""
import fcntl
import logging
import os
from pathlib import Path

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.kernel.errors import Conflict
from services.kernel.events import EventDispatcher
from services.kernel.telemetry import observe_transactions

log = logging.getLogger(__name__)


GREEN_POSTGRES_DRIVER = "postgresql+psycopg2://"


def normalise_url(url):
    """``postgresql://`` means psycopg2 here: the driver psycogreen makes cooperative.

    (SQLAlchemy 2.1 would otherwise pick psycopg 3, whose C wait loop blocks eventlet.)
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return GREEN_POSTGRES_DRIVER + url[len(prefix):]
    return url


def make_engine(url):
    """An engine with the settings each backend needs under eventlet."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # WAL lets readers proceed during a write; foreign keys are off by default
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    # pre_ping: a pooled connection that died with a database restart is replaced
    # instead of failing the next request
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def paged(session, model, condition, order_by, limit, offset):
    """``(rows, total)``: one page of ``model`` rows matching ``condition``, and how many match."""
    total = session.scalar(select(func.count()).select_from(model).where(condition))
    rows = session.scalars(select(model).where(condition).order_by(*order_by).limit(limit).offset(offset)).all()
    return rows, total


class UnitOfWork:
    """One transaction's worth of work, and the events it will publish once committed."""

    def __init__(self, session):
        self.session = session
        self._pending = []
        self._committed = []

    def record(self, event_type, payload):
        self._pending.append((event_type, payload))

    def commit(self, conflict=None):
        """Commit; with ``conflict``, a unique-constraint violation (two requests racing
        for the same row) rolls back and becomes ``Conflict(conflict)``: a 409."""
        try:
            self.session.commit()
        except IntegrityError:
            if conflict is None:
                raise
            self.rollback()
            raise Conflict(conflict) from None
        self._committed.extend(self._pending)
        self._pending.clear()

    def rollback(self):
        self.session.rollback()
        self._pending.clear()

    def committed_events(self):
        """Events whose transaction committed, each handed out once."""
        events, self._committed = self._committed, []
        return events

    def publish_committed(self, dispatch):
        """Dispatch the committed events in the order recorded; log any that could not go."""
        events = self.committed_events()
        for index, (event_type, payload) in enumerate(events):
            try:
                dispatch(event_type, payload)
            except Exception:
                log.exception("publishing committed events failed")
                for lost_type, lost_payload in events[index:]:
                    log.error("committed event %s not published: %r", lost_type, lost_payload)
                return

    def close(self):
        if self._pending:
            log.warning("unit of work closed with %d uncommitted events", len(self._pending))
        for event_type, payload in self.committed_events():
            log.error("committed event %s never published: %r", event_type, payload)
        self.session.close()


class Database(DependencyProvider):
    """Nameko dependency giving each worker its own :class:`UnitOfWork`, and publishing
    the events each worker committed once the worker is done."""

    def bind(self, container, attr_name):
        instance = super().bind(container, attr_name)
        # the service's events exchange, as a sub-extension: the container finds it on the
        # bound provider and sets it up, starts and stops it with the others. (Bound here,
        # not declared as a class attribute: Nameko 2.14's ``Extension.bind`` binds
        # sub-extensions without the ``attr_name`` a DependencyProvider needs.)
        instance.dispatcher = EventDispatcher().bind(container, f"{attr_name}_events")
        return instance

    def setup(self):
        url = self.container.config.get("DATABASE_URL")
        if not url:
            raise RuntimeError(f"DATABASE_URL is not set for service {self.container.service_name!r}")
        self.engine = make_engine(url)
        observe_transactions(self.engine, self.container.service_name)
        self.units = {}

    def stop(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        unit = UnitOfWork(Session(self.engine, expire_on_commit=False))
        self.units[worker_ctx] = unit
        return unit

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        # also after an error: what committed before it happened (a revoked session) is announced
        unit = self.units.get(worker_ctx)
        if unit is not None:
            unit.publish_committed(self.dispatcher.get_dependency(worker_ctx))

    def worker_teardown(self, worker_ctx):
        unit = self.units.pop(worker_ctx, None)
        if unit is not None:
            unit.close()


def migrate(database_url, migrations_dir):
    """Apply a service's Alembic migrations up to head (safe to run on every start)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", os.fspath(migrations_dir))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    if not database_url.startswith("sqlite:///"):
        command.upgrade(config, "head")  # PostgreSQL: serialised by run_alembic_env's advisory lock
        return
    # SQLite has no advisory lock: replicas of one service started together
    # (``make run REPLICAS=2``) take turns through a lock file beside the database
    database = Path(database_url[len("sqlite:///"):])
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(config, "head")


def run_alembic_env(context, target_metadata):
    """The body of every service's ``migrations/env.py`` (online mode only).

    On PostgreSQL an advisory lock serialises replicas that start at the same time, so
    two copies of a service never race to apply the same migration.
    """
    url = context.config.attributes.get("database_url") or os.environ["DATABASE_URL"]
    engine = make_engine(url)
    with engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            connection.exec_driver_sql("SELECT pg_advisory_lock(804021)")
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if is_postgres:
                connection.exec_driver_sql("SELECT pg_advisory_unlock(804021)")
                connection.commit()
    engine.dispose()
