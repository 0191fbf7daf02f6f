"""Progress persistence against a real database of each kind (SQLite and PostgreSQL)."""
import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.kernel.errors import Forbidden, NotFound
from services.kernel.identity import Identity
from services.progress import handlers, rules
from services.progress.models import VideoProgress

USER, OTHER, COURSE = "u-1", "u-2", "c-1"


@pytest.fixture
def database(service_database):
    return service_database("progress")


@pytest.fixture
def engine(database):
    return database.engine


@pytest.fixture
def uow(database):
    """A fresh unit of work per call, like one Nameko worker each."""
    return database.unit


def message(progress, position, at, user=USER, video="v-1", last=None):
    return {"user_id": user, "video_id": video, "course_id": COURSE, "progress": progress,
            "furthest_position": position, "last_position": position if last is None else last, "reported_at": at}


def record(uow, *messages):
    unit = uow()
    changed = handlers.record_reports(unit, list(messages))
    # one progress_recorded per batch; its records are what these tests look at
    return changed, [record for _, payload in unit.committed_events() for record in payload["records"]]


def stored(uow, user=USER, video="v-1"):
    return uow().session.get(VideoProgress, (user, video))


def test_first_report_inserts_a_row_and_records_one_event(uow):
    changed, events = record(uow, message(40, 240, at=1.0))
    row = stored(uow)
    assert changed == 1
    assert (row.watched_seconds, row.last_position, row.percent_complete, row.completed) == (240, 240, 40, False)
    assert [e["video_id"] for e in events] == ["v-1"]
    assert events[0] | {"updated_at": None} == {
        "user_id": USER, "video_id": "v-1", "course_id": COURSE, "watched_seconds": 240,
        "last_position": 240, "percent_complete": 40, "completed": False, "updated_at": None}
    assert events[0]["updated_at"].endswith("Z")


def test_late_and_out_of_order_reports_never_move_progress_backwards(uow):
    record(uow, message(80, 480, at=5.0))
    changed, events = record(uow, message(30, 180, at=2.0))  # an older report, arriving late
    row = stored(uow)
    assert (changed, events) == (0, [])
    assert (row.watched_seconds, row.percent_complete, row.last_position) == (480, 80, 480)


def test_seeking_back_moves_the_resume_position_only(uow):
    record(uow, message(80, 480, at=1.0))
    changed, events = record(uow, message(20, 120, at=2.0))
    row = stored(uow)
    assert changed == 1 and events[0]["last_position"] == 120
    assert (row.watched_seconds, row.percent_complete, row.last_position) == (480, 80, 120)


def test_redelivered_batch_changes_nothing_and_announces_nothing(uow):
    batch = [message(50, 300, at=3.0), message(10, 60, at=3.0, video="v-2")]
    assert record(uow, *batch)[0] == 2
    assert record(uow, *batch) == (0, [])


def test_completed_from_90_percent_and_stays_completed(uow):
    record(uow, message(89.9, 540, at=1.0))
    assert stored(uow).completed is False
    _, events = record(uow, message(90, 541, at=2.0))
    assert events[0]["completed"] is True and stored(uow).completed is True
    record(uow, message(5, 30, at=3.0))  # rewatching from the start
    assert stored(uow).completed is True and stored(uow).percent_complete == 90


def test_duplicate_keys_in_one_batch_are_merged_before_the_upsert(uow):
    changed, events = record(uow, message(70, 420, at=2.0), message(90, 100, at=1.0, last=100))
    row = stored(uow)
    assert changed == 1 and len(events) == 1
    assert (row.percent_complete, row.watched_seconds, row.last_position, row.completed) == (90, 420, 420, True)


def test_malformed_reports_are_skipped_and_the_rest_stored(uow):
    changed, _ = record(uow, {"user_id": USER}, message(150, 10, at=1.0), "junk", message(20, 120, at=1.0))
    assert changed == 1 and stored(uow).percent_complete == 20
    assert handlers.record_reports(uow(), None) == 0


@pytest.mark.parametrize("seed", [3, 11])
def test_any_order_any_batching_any_redelivery_stores_the_rules_merge(uow, seed):
    rng = random.Random(seed)
    sent = [message(rng.uniform(0, 100), rng.uniform(0, 600), at=float(rng.randint(1, 9)), last=rng.uniform(0, 600),
                    video=rng.choice(["v-1", "v-2"])) for _ in range(40)]
    expected = {r.video_id: r for r in rules.merge_all([rules.parse_report(m) for m in sent])}
    order = sent[:]
    rng.shuffle(order)
    batches = []
    while order:
        size = rng.randint(1, 5)
        batches.append(order[:size])
        order = order[size:]
    for batch in batches + rng.sample(batches, 3):  # a few batches delivered twice
        record(uow, *batch)
    for video, merged in expected.items():
        row = stored(uow, video=video)
        assert (row.percent_complete, row.watched_seconds, row.last_position, row.position_reported_at) == \
            pytest.approx((merged.progress, merged.furthest_position, merged.last_position, merged.reported_at))
        assert row.completed == rules.is_completed(merged.progress)


def test_a_large_batch_is_one_transaction_of_chunked_statements(uow, engine):
    batch = [message(50, 300, at=1.0, user=f"u-{n:04d}") for n in range(1200)]
    changed, events = record(uow, *batch)
    assert changed == 1200 and len(events) == 1200
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(VideoProgress)) == 1200


# -- reads (the courses service replaced by a plain fake) ----------------------------

class FakeCourses:
    def __init__(self, relation="student"):
        self.relation = relation
        self.course = {"id": COURSE, "videos": [
            {"id": f"v-{n}", "title": f"Lecture {n}", "position": n, "duration_seconds": 600} for n in (1, 2, 3)]}

    def membership(self, user_id, course_id=None, video_id=None):
        if course_id != COURSE:
            return {"exists": False}
        return {"exists": True, "course_id": COURSE, "relation": self.relation}

    def get_course(self, actor, course_id):
        return self.course

    def list_enrollments(self, actor, course_id, limit, offset):
        if self.relation != "instructor":
            raise Forbidden("only the course's instructor can do this")
        people = [{"user_id": USER, "email": "ann@example.com", "enrolled_at": "2026-01-01T00:00:00Z"},
                  {"user_id": OTHER, "email": "bob@example.com", "enrolled_at": "2026-01-02T00:00:00Z"}]
        return {"items": people[offset:offset + limit], "total": len(people), "limit": limit, "offset": offset}


def actor(user_id=USER, role="student"):
    return Identity(user_id=user_id, email="x@example.com", role=role)


def test_course_progress_lists_every_video_with_resume_positions_and_the_course_percent(uow):
    record(uow, message(95, 590, at=1.0, video="v-1"), message(40, 240, at=1.0, video="v-2", last=200))
    record(uow, message(99, 600, at=1.0, video="v-3", user=OTHER))  # someone else's
    view = handlers.course_progress(uow(), FakeCourses(), actor(), COURSE)
    assert view["course_percent_complete"] == 33.33
    assert (view["completed_videos"], view["video_count"]) == (1, 3)
    first, second, third = view["videos"]
    assert (first["video_id"], first["completed"], first["watched_seconds"]) == ("v-1", True, 590)
    assert (second["last_position"], second["watched_seconds"], second["percent_complete"]) == (200, 240, 40)
    assert (third["percent_complete"], third["completed"], third["updated_at"]) == (0.0, False, None)


def test_course_progress_is_for_enrolled_students_only(uow):
    with pytest.raises(Forbidden):
        handlers.course_progress(uow(), FakeCourses(relation="none"), actor(), COURSE)
    with pytest.raises(Forbidden):
        handlers.course_progress(uow(), FakeCourses(relation="instructor"), actor(), COURSE)
    with pytest.raises(NotFound):
        handlers.course_progress(uow(), FakeCourses(), actor(), "unknown")


def test_students_progress_pages_every_enrolled_student(uow):
    record(uow, message(92, 560, at=1.0, video="v-1"), message(100, 600, at=1.0, video="v-2", user=OTHER),
           message(91, 600, at=1.0, video="v-3", user=OTHER))
    page = handlers.students_progress(uow(), FakeCourses(relation="instructor"), actor("t-1", "instructor"),
                                      COURSE, 20, 0)
    assert page["total"] == 2
    assert [(s["email"], s["course_percent_complete"]) for s in page["items"]] == [
        ("ann@example.com", 33.33), ("bob@example.com", 66.67)]
    second_page = handlers.students_progress(uow(), FakeCourses(relation="instructor"),
                                             actor("t-1", "instructor"), COURSE, 1, 1)
    assert [s["user_id"] for s in second_page["items"]] == [OTHER] and second_page["total"] == 2
    with pytest.raises(Forbidden):
        handlers.students_progress(uow(), FakeCourses(relation="student"), actor(), COURSE, 20, 0)
