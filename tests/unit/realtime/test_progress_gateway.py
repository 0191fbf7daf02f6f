"""The door's progress entrypoints with Nameko's worker_factory: real checks, buffer and throttle."""
import pytest
from nameko.testing.services import worker_factory

from services.kernel.errors import Forbidden, MissingParameters, NotFound, ValidationFailed
from services.kernel.identity import Identity
from services.realtime.dependencies import DeliveryLedger
from services.realtime.door import Client
from services.realtime.reports import ReportBuffer
from services.realtime.rooms import Memberships
from services.realtime.service import RealtimeService
from services.realtime.throttle import Throttle
from tests.unit.realtime.test_throttle import FakeClock

STUDENT = Identity(user_id="u1", email="ann@example.com", role="student", expires_at=2**31)
MEMBER = {"exists": True, "course_id": "c1", "video_id": "v1", "duration_seconds": 600,
          "instructor_id": "t1", "published": True, "relation": "student"}


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def worker(clock):
    worker = worker_factory(RealtimeService, progress_reports=ReportBuffer(), memberships=Memberships(),
                            handled=DeliveryLedger(),
                            progress_throttle=Throttle(0.25, clock.schedule))
    worker.courses.membership.return_value = MEMBER
    return worker


def send(worker, **fields):
    data = {"video_id": "v1", "course_id": "c1", "progress": 75, "timestamp": 450} | fields
    return worker.video_progress(Client(sid="s1", identity=STUDENT), data)


def test_video_progress_is_shown_live_and_held_for_storage(worker, clock):
    accepted = send(worker)
    assert accepted == {"user_id": "u1", "video_id": "v1", "progress": 75, "timestamp": 450, "course_id": "c1"}
    worker.sockets.emit.assert_called_once_with("student_progress", accepted, to="instructor_c1")
    [held] = worker.progress_reports.drain()
    assert (held.user_id, held.video_id, held.course_id) == ("u1", "v1", "c1")
    assert (held.progress, held.furthest_position, held.last_position) == (75, 450, 450)


def test_a_burst_is_throttled_live_but_fully_merged_for_storage(worker, clock):
    for n in range(1, 101):
        send(worker, progress=n, timestamp=n * 6 - 1)
    assert worker.sockets.emit.call_count == 1  # the leading edge only, until the window ends
    clock.advance(0.25)
    assert worker.sockets.emit.call_count == 2
    assert worker.sockets.emit.call_args.args[1]["progress"] == 100
    [held] = worker.progress_reports.drain()
    assert (held.progress, held.furthest_position) == (100, 599)
    assert worker.courses.membership.call_count == 1  # a "yes" is remembered


@pytest.mark.parametrize("fields, error", [
    ({"progress": 101}, ValidationFailed),
    ({"progress": "75"}, ValidationFailed),
    ({"timestamp": -1}, ValidationFailed),
    ({"timestamp": 700}, ValidationFailed),  # beyond the 600 s video and its slack
    ({"course_id": "c2"}, NotFound),
    ({"video_id": None}, ValidationFailed),
])
def test_bad_reports_are_refused_and_neither_shown_nor_held(worker, fields, error):
    with pytest.raises(error):
        send(worker, **fields)
    worker.sockets.emit.assert_not_called()
    assert len(worker.progress_reports) == 0


def test_missing_fields_and_strangers(worker):
    with pytest.raises(MissingParameters):
        worker.video_progress(Client(sid="s1", identity=STUDENT), {"video_id": "v1"})
    worker.courses.membership.return_value = MEMBER | {"relation": "none"}
    with pytest.raises(Forbidden):
        send(worker)
    worker.courses.membership.return_value = {"exists": False}
    with pytest.raises(NotFound):
        send(worker)


def test_progress_recorded_becomes_progress_update_for_the_instructor_room_once(worker):
    event = {"event_id": "e1", "records": [{
        "user_id": "u1", "video_id": "v1", "course_id": "c1", "watched_seconds": 300,
        "last_position": 280, "percent_complete": 75.5, "completed": False, "updated_at": "2026-01-01T00:00:00Z"}]}
    worker.on_progress_recorded(event)
    worker.on_progress_recorded(event)  # redelivered
    worker.sockets.emit.assert_called_once()
    name, payload = worker.sockets.emit.call_args.args
    assert name == "progress_update" and worker.sockets.emit.call_args.kwargs == {"to": "instructor_c1"}
    assert {k: payload[k] for k in ("user_id", "video_id", "watched_seconds", "percent_complete", "completed",
                                    "course_id")} == {"user_id": "u1", "video_id": "v1", "watched_seconds": 300,
                                                      "percent_complete": 75.5, "completed": False, "course_id": "c1"}
