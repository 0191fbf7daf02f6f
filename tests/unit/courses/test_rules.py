import pytest

from services.courses import rules
from services.kernel.identity import Identity
from services.kernel.errors import Forbidden, NotFound, ValidationFailed


@pytest.mark.parametrize("value", [1, 3, 5])
def test_ratings_one_to_five(value):
    assert rules.rating(value) == value


@pytest.mark.parametrize("value", [0, 6, 4.5, "5", True, None])
def test_other_ratings_are_refused_naming_the_field(value):
    with pytest.raises(ValidationFailed) as failed:
        rules.rating(value)
    assert failed.value.field == "rating"


def test_titles_are_trimmed_and_bounded():
    assert rules.title("  Go  ") == "Go"
    for bad in ("", "   ", "x" * 201, 5):
        with pytest.raises(ValidationFailed, match="title"):
            rules.title(bad)


def test_positions_append_by_default_and_stay_in_range():
    assert rules.position(None, 3) == 4
    assert rules.position(1, 3) == 1
    for bad in (0, 5, -1, "1"):
        with pytest.raises(ValidationFailed, match="position"):
            rules.position(bad, 3)


def test_the_average_is_exact_and_absent_before_any_review():
    assert rules.average(0, 0) is None
    assert rules.average(14, 3) == 4.67
    assert rules.average(10, 2) == 5.0


def test_malformed_ids_are_simply_unknown():
    assert rules.parse_id("6F9619FF-8B86-D011-B42D-00C04FC964FF") == "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    for bad in ("", "x", None, 42, "../etc"):
        with pytest.raises(NotFound):
            rules.parse_id(bad)


def test_only_instructors_create_and_only_owners_edit():
    student = Identity("s", "s@example.com", "student")
    teacher = Identity("t", "t@example.com", "instructor")
    rules.require_instructor(teacher)
    for actor in (student, None):
        with pytest.raises(Forbidden):
            rules.require_instructor(actor)

    class Course:
        instructor_id, published = "t", False

    rules.require_owner(Course, teacher)
    with pytest.raises(Forbidden):
        rules.require_owner(Course, Identity("t2", "t2@example.com", "instructor"))
    assert rules.can_see(Course, teacher) and not rules.can_see(Course, student)
    assert rules.relation(Course, "t", False) == "instructor"
    assert rules.relation(Course, "s", True) == "student"
    assert rules.relation(Course, "x", False) == "none"
