import eventlet
import pytest

from services.kernel.errors import Forbidden, NotFound
from services.realtime import rooms


def test_room_names_are_the_documents():
    assert rooms.course_room("c1") == "course_c1"
    assert rooms.video_room("v1") == "video_v1"
    assert rooms.instructor_room("c1") == "instructor_c1"
    assert rooms.video_ids(["course_c1", "video_v1", "video_v2", "instructor_c1"]) == ["v1", "v2"]


def test_require_member():
    assert rooms.require_member({"exists": True, "relation": "student"}, "course")
    with pytest.raises(NotFound, match="video not found"):
        rooms.require_member({"exists": False}, "video")
    with pytest.raises(Forbidden):
        rooms.require_member({"exists": True, "relation": "none"}, "course")


class CountingCourses:
    """Stands in for the courses RPC in this unit test: answers from a dict, counts calls."""

    def __init__(self, relations):
        self.relations = relations
        self.calls = 0

    def ask(self, user_id, course_id):
        self.calls += 1
        relation = self.relations.get((user_id, course_id))
        return {"exists": relation is not None, "course_id": course_id, "relation": relation or "none"}


def test_members_are_asked_about_once_and_outsiders_every_time():
    courses = CountingCourses({("ann", "c1"): "student", ("bob", "c1"): None})
    memberships = rooms.Memberships()
    for _ in range(100):
        memberships.lookup("ann", lambda: courses.ask("ann", "c1"), course_id="c1")
    assert courses.calls == 1 and memberships.asked == 1

    courses.relations[("bob", "c1")] = None
    memberships.lookup("bob", lambda: courses.ask("bob", "c1"), course_id="c1")
    courses.relations[("bob", "c1")] = "student"  # bob enrolls: the next look is fresh
    assert memberships.lookup("bob", lambda: courses.ask("bob", "c1"), course_id="c1")["relation"] == "student"
    assert courses.calls == 3


def test_the_cache_is_bounded():
    memberships = rooms.Memberships(maxsize=10)
    for n in range(50):
        memberships.lookup(f"u{n}", lambda: {"exists": True, "relation": "student"}, course_id="c")
    assert len(memberships._known) == 10


def test_lookups_of_a_key_being_asked_about_share_the_one_question_and_its_error():
    memberships = rooms.Memberships()
    gate, calls = eventlet.event.Event(), []

    def slow_ask():
        calls.append(1)
        return gate.wait()

    waiting = [eventlet.spawn(memberships.lookup, "ann", slow_ask, video_id="v1") for _ in range(5)]
    eventlet.sleep(0)
    gate.send({"exists": True, "relation": "student", "video_id": "v1"})
    assert [w.wait()["relation"] for w in waiting] == ["student"] * 5
    assert len(calls) == 1 and memberships.asked == 1

    def failing_ask():
        calls.append(1)
        eventlet.sleep(0.01)
        raise NotFound("video not found")

    failing = [eventlet.spawn(memberships.lookup, "ann", failing_ask, video_id="v2") for _ in range(3)]
    for lookup in failing:
        with pytest.raises(NotFound):
            lookup.wait()
    assert len(calls) == 2  # one question for the three, and nothing kept: the next asks again
    with pytest.raises(NotFound):
        memberships.lookup("ann", failing_ask, video_id="v2")
    assert len(calls) == 3
