"""Fixtures of the quizzes unit tests: a migrated database of each kind, a faked courses service."""
import pytest
from sqlalchemy.orm import Session

from services.kernel.database import UnitOfWork, make_engine
from tests.unit.quizzes.fakes import CoursesMembershipFake, person


@pytest.fixture
def engine(migrated):
    engine = make_engine(migrated("quizzes"))
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine):
    """A fresh unit of work per call, like one Nameko worker each."""
    units = []

    def new():
        units.append(UnitOfWork(Session(engine, expire_on_commit=False)))
        return units[-1]

    yield new
    for unit in units:
        unit.close()


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
