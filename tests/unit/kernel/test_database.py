"""The ``Database`` dependency publishes what each worker committed, once the worker is done.

A real database (SQLite) and a real ``Database`` bound as Nameko binds it; only the
broker side is recorded: the events dispatcher's ``dispatch`` is a list.
"""
import logging

import pytest
from sqlalchemy import text

from services.kernel.database import Database


class Container:
    """What ``Database`` reads of its Nameko container."""

    def __init__(self, database_url):
        self.config, self.service_name = {"DATABASE_URL": database_url}, "demo"


class RecordingDispatcher:
    def __init__(self, fail_on=None):
        self.sent, self.fail_on = [], fail_on

    def get_dependency(self, worker_ctx):
        def dispatch(event_type, payload):
            if event_type == self.fail_on:
                raise ConnectionError("broker unreachable")
            self.sent.append((event_type, payload))
        return dispatch


@pytest.fixture
def database(tmp_path):
    container = Container(f"sqlite:///{tmp_path / 'test.db'}")
    provider = Database().bind(container, "db")
    provider.setup()
    provider.dispatcher = RecordingDispatcher()
    yield provider
    provider.stop()


def run_worker(database, body, raises=None):
    """What Nameko's container does around one entrypoint call."""
    worker_ctx = object()
    unit = database.get_dependency(worker_ctx)
    exc_info = None
    try:
        body(unit)
    except Exception as exc:
        if raises is None or not isinstance(exc, raises):
            raise
        exc_info = (type(exc), exc, exc.__traceback__)
    database.worker_result(worker_ctx, None, exc_info)
    database.worker_teardown(worker_ctx)


def test_committed_events_are_published_in_order_after_the_worker(database):
    def body(unit):
        unit.session.execute(text("SELECT 1"))
        unit.record("first", {"n": 1})
        unit.record("second", {"n": 2})
        unit.commit()
        assert database.dispatcher.sent == []  # not while the worker runs
    run_worker(database, body)
    assert database.dispatcher.sent == [("first", {"n": 1}), ("second", {"n": 2})]


def test_what_committed_before_an_error_is_still_published(database):
    def body(unit):
        unit.record("session_revoked", {"n": 1})
        unit.commit()
        raise PermissionError("reuse detected")
    run_worker(database, body, raises=PermissionError)
    assert database.dispatcher.sent == [("session_revoked", {"n": 1})]


def test_rolled_back_or_uncommitted_events_are_never_published(database, caplog):
    def body(unit):
        unit.record("rolled_back", {})
        unit.rollback()
        unit.record("never_committed", {})
    with caplog.at_level(logging.WARNING, logger="services.kernel.database"):
        run_worker(database, body)
    assert database.dispatcher.sent == []
    assert "1 uncommitted events" in caplog.text


def test_a_committed_event_that_cannot_be_published_is_logged_as_an_error(database, caplog):
    database.dispatcher = RecordingDispatcher(fail_on="second")

    def body(unit):
        for name in ("first", "second", "third"):
            unit.record(name, {"name": name})
        unit.commit()
    with caplog.at_level(logging.ERROR, logger="services.kernel.database"):
        run_worker(database, body)
    assert database.dispatcher.sent == [("first", {"name": "first"})]
    lost = [r.getMessage() for r in caplog.records if "not published" in r.getMessage()]
    assert lost == ["committed event second not published: {'name': 'second'}",
                    "committed event third not published: {'name': 'third'}"]


def test_a_unit_closed_with_committed_events_never_published_logs_them_as_errors(database, caplog):
    unit = database.get_dependency("worker")
    unit.record("orphan", {"id": 7})
    unit.commit()
    with caplog.at_level(logging.ERROR, logger="services.kernel.database"):
        database.worker_teardown("worker")  # no worker_result: nobody published
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "committed event orphan never published: {'id': 7}"]


def test_every_service_with_a_database_gets_its_events_dispatcher_from_it():
    from nameko.containers import ServiceContainer
    from nameko.events import EventDispatcher

    from services.auth.service import AuthService
    from services.courses.service import CoursesService
    from services.progress.service import ProgressService
    from services.quizzes.service import QuizzesService

    for service in (AuthService, CoursesService, ProgressService, QuizzesService):
        container = ServiceContainer(service, {"AMQP_URI": "memory://"})
        [database] = [d for d in container.dependencies if isinstance(d, Database)]
        # set up, started and stopped by the container like any other extension
        assert database.dispatcher in container.subextensions
        assert isinstance(database.dispatcher, EventDispatcher)
        assert not any(isinstance(d, EventDispatcher) for d in container.dependencies)  # nobody dispatches by hand
