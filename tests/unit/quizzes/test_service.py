"""QuizzesService entrypoints with Nameko's worker_factory: real database; the events each worker's unit
of work committed are what ``Database`` publishes once the worker is done."""
import pytest
from nameko.testing.services import worker_factory

from services.kernel.errors import Conflict
from services.quizzes.service import QuizzesService

QUESTIONS = [{"prompt": "2 + 2?", "choices": ["3", "4"], "correct_choice": 1}]


@pytest.fixture
def service(uow, courses):
    """A new worker per call, with its own unit of work and the faked courses service."""
    return lambda: worker_factory(QuizzesService, db=uow(), courses=courses)


def test_submit_commits_quiz_submitted_for_publishing(service, course):
    course_id, instructor, student = course
    quiz = service().create_quiz(instructor, course_id, "Week 1", 50, QUESTIONS, max_attempts=1)
    worker = service()
    submission = worker.submit(student, quiz["id"], [1])
    [(event_type, payload)] = worker.db.committed_events()
    assert event_type == "quiz_submitted" and payload["submission_id"] == submission["id"]
    assert (payload["score"], payload["passed"], payload["course_id"]) == (100, True, course_id)
    # committed: a fresh worker sees the row
    assert service().list_submissions(instructor, quiz["id"], 20, 0)["items"] == [submission]


def test_a_refused_submission_commits_no_event(service, course):
    course_id, instructor, student = course
    quiz = service().create_quiz(instructor, course_id, "Week 1", 50, QUESTIONS, max_attempts=1)
    service().submit(student, quiz["id"], [0])
    worker = service()
    with pytest.raises(Conflict):
        worker.submit(student, quiz["id"], [1])
    assert worker.db.committed_events() == []


def test_health_touches_the_database(service):
    assert service().health() == {"service": "quizzes", "status": "ok"}
