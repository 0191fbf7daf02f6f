"""Fixtures of the quizzes unit tests: the quizzes schema on each kind of database, a faked courses service."""
import pytest

from tests.unit.quizzes.fakes import CoursesMembershipFake, person


@pytest.fixture
def uow(service_database):
    """A fresh unit of work per call, like one Nameko worker each."""
    return service_database("quizzes").unit


@pytest.fixture
def courses():
    return CoursesMembershipFake()


@pytest.fixture
def course(courses):
    """(course_id, its instructor, an enrolled student)."""
    instructor, student = person("instructor"), person()
    course_id = courses.add_course(instructor)
    courses.enroll(course_id, student)
    return course_id, instructor, student
