"""The courses use cases against a real database of each kind (SQLite and PostgreSQL)."""
import pytest

from services.courses import handlers
from services.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.kernel.identity import Identity

TEACHER = Identity(user_id="11111111-1111-1111-1111-111111111111", email="t@example.com", role="instructor")
OTHER_TEACHER = Identity(user_id="22222222-2222-2222-2222-222222222222", email="o@example.com", role="instructor")
ANN = Identity(user_id="33333333-3333-3333-3333-333333333333", email="ann@example.com", role="student")
BOB = Identity(user_id="44444444-4444-4444-4444-444444444444", email="bob@example.com", role="student")


@pytest.fixture
def uow(service_database):
    """A fresh unit of work per call, like one Nameko worker each."""
    return service_database("courses").unit


@pytest.fixture
def course(uow):
    created = handlers.create_course(uow(), TEACHER, "Databases", "ACID and all that")
    return handlers.update_course(uow(), TEACHER, created["id"], {"published": True})


def test_a_new_course_is_an_unpublished_draft_visible_to_its_instructor_only(uow):
    draft = handlers.create_course(uow(), TEACHER, "  Draft ")
    assert draft["title"] == "Draft" and draft["published"] is False and draft["videos"] == []
    assert draft["average_rating"] is None and draft["review_count"] == 0
    assert handlers.get_course(uow(), TEACHER, draft["id"])["id"] == draft["id"]
    for someone in (ANN, OTHER_TEACHER, None):
        with pytest.raises(NotFound):
            handlers.get_course(uow(), someone, draft["id"])


def test_students_cannot_create_courses(uow):
    with pytest.raises(Forbidden):
        handlers.create_course(uow(), ANN, "Mine")


def test_listing_shows_published_courses_and_the_callers_own(uow, course):
    draft = handlers.create_course(uow(), TEACHER, "Draft")
    handlers.create_course(uow(), OTHER_TEACHER, "Someone else's draft")
    assert [c["id"] for c in handlers.list_courses(uow(), ANN, 20, 0)["items"]] == [course["id"]]
    mine = handlers.list_courses(uow(), TEACHER, 20, 0)
    assert {c["id"] for c in mine["items"]} == {course["id"], draft["id"]} and mine["total"] == 2
    first_page = handlers.list_courses(uow(), TEACHER, 1, 0)
    assert len(first_page["items"]) == 1 and first_page["total"] == 2


def test_only_its_instructor_updates_a_course_and_the_event_says_what_changed(uow, course):
    unit = uow()
    updated = handlers.update_course(unit, TEACHER, course["id"], {"title": "Databases II", "published": True})
    assert updated["title"] == "Databases II"
    [(name, payload)] = unit.committed_events()
    assert name == "course_updated" and payload["changed"] == ["title"] and payload["course_id"] == course["id"]
    unchanged = uow()
    handlers.update_course(unchanged, TEACHER, course["id"], {"title": "Databases II"})
    assert unchanged.committed_events() == []
    with pytest.raises(Forbidden):
        handlers.update_course(uow(), OTHER_TEACHER, course["id"], {"title": "Mine now"})
    with pytest.raises(ValidationFailed, match="published"):
        handlers.update_course(uow(), TEACHER, course["id"], {"published": "yes"})


def test_videos_are_ordered_by_position_and_appended_by_default(uow, course):
    first = handlers.add_video(uow(), TEACHER, course["id"], "Intro", 60)
    last = handlers.add_video(uow(), TEACHER, course["id"], "Outro", 60)
    middle = handlers.add_video(uow(), TEACHER, course["id"], "Middle", 90, position=2)
    videos = handlers.get_course(uow(), ANN, course["id"])["videos"]
    assert [v["id"] for v in videos] == [first["id"], middle["id"], last["id"]]
    assert [v["position"] for v in videos] == [1, 2, 3]
    for bad in ({"duration_seconds": 0}, {"duration_seconds": -5}, {"position": 9}):
        args = {"duration_seconds": 60, "position": None} | bad
        with pytest.raises(ValidationFailed):
            handlers.add_video(uow(), TEACHER, course["id"], "Bad", args["duration_seconds"], args["position"])
    with pytest.raises(Forbidden):
        handlers.add_video(uow(), OTHER_TEACHER, course["id"], "Intruder", 60)


def test_a_student_enrolls_once(uow, course):
    unit = uow()
    enrollment = handlers.enroll(unit, ANN, course["id"])
    assert enrollment["email"] == "ann@example.com"
    [(name, payload)] = unit.committed_events()
    assert name == "enrollment_created" and payload["user_email"] == "ann@example.com"
    again = uow()
    with pytest.raises(Conflict):
        handlers.enroll(again, ANN, course["id"])
    assert again.committed_events() == []  # no second event
    listed = handlers.list_enrollments(uow(), TEACHER, course["id"], 20, 0)
    assert [e["user_id"] for e in listed["items"]] == [ANN.user_id] and listed["total"] == 1
    with pytest.raises(Forbidden):
        handlers.list_enrollments(uow(), ANN, course["id"], 20, 0)


def test_who_may_enroll(uow, course):
    draft = handlers.create_course(uow(), OTHER_TEACHER, "Draft")
    with pytest.raises(Forbidden):
        handlers.enroll(uow(), TEACHER, course["id"])  # its own instructor
    with pytest.raises(Forbidden):
        handlers.enroll(uow(), OTHER_TEACHER, course["id"])  # instructors do not enroll
    with pytest.raises(NotFound):
        handlers.enroll(uow(), ANN, draft["id"])  # a draft is invisible to students, so 404
    with pytest.raises(NotFound):
        handlers.enroll(uow(), ANN, "00000000-0000-0000-0000-000000000000")


def test_reviews_keep_an_exact_average(uow, course):
    handlers.enroll(uow(), ANN, course["id"])
    handlers.enroll(uow(), BOB, course["id"])
    unit = uow()
    handlers.add_review(unit, ANN, course["id"], 5, "Excellent")
    [(name, payload)] = unit.committed_events()
    assert name == "review_created" and payload["average_rating"] == 5.0 and payload["review_count"] == 1
    handlers.add_review(uow(), BOB, course["id"], 2, "")
    again = handlers.get_course(uow(), None, course["id"])
    assert again["average_rating"] == 3.5 and again["review_count"] == 2
    with pytest.raises(Conflict):
        handlers.add_review(uow(), ANN, course["id"], 1, "changed my mind")
    assert handlers.get_course(uow(), None, course["id"])["review_count"] == 2
    reviews = handlers.list_reviews(uow(), None, course["id"], 20, 0)["items"]
    assert [r["user_email"] for r in reviews] == ["bob@example.com", "ann@example.com"]  # newest first


def test_only_enrolled_students_review_and_ratings_are_bounded(uow, course):
    with pytest.raises(Forbidden):
        handlers.add_review(uow(), ANN, course["id"], 5, "never enrolled")
    handlers.enroll(uow(), ANN, course["id"])
    for bad in (0, 6, 2.5, "5"):
        with pytest.raises(ValidationFailed, match="rating"):
            handlers.add_review(uow(), ANN, course["id"], bad, "")
    with pytest.raises(ValidationFailed, match="comment"):
        handlers.add_review(uow(), ANN, course["id"], 3, "x" * 5001)


def test_membership_answers(uow, course):
    video = handlers.add_video(uow(), TEACHER, course["id"], "Intro", 300)
    handlers.enroll(uow(), ANN, course["id"])
    assert handlers.membership(uow(), TEACHER.user_id, course_id=course["id"])["relation"] == "instructor"
    assert handlers.membership(uow(), ANN.user_id, course_id=course["id"])["relation"] == "student"
    assert handlers.membership(uow(), BOB.user_id, course_id=course["id"])["relation"] == "none"
    by_video = handlers.membership(uow(), ANN.user_id, video_id=video["id"])
    assert by_video["course_id"] == course["id"] and by_video["duration_seconds"] == 300
    assert handlers.membership(uow(), ANN.user_id, course_id="nope") == {"exists": False}
    assert handlers.membership(uow(), ANN.user_id, video_id=course["id"]) == {"exists": False}
    assert handlers.membership(uow(), ANN.user_id, video_id="nope") == {"exists": False}
    assert handlers.membership(uow(), BOB.user_id, video_id=video["id"])["relation"] == "none"
    assert handlers.membership(uow(), TEACHER.user_id, video_id=video["id"])["relation"] == "instructor"
    facts = handlers.membership(uow(), ANN.user_id, course_id=course["id"])
    assert facts["published"] is course["published"] and facts["instructor_id"] == TEACHER.user_id
