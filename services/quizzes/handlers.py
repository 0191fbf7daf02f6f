"""The quizzes use cases: load, ask who the caller is, apply the rules, commit, record events.

No Nameko here. ``actor`` is the caller as the door verified it (a ``kernel.identity.Identity``).
``courses`` is whatever answers ``membership(user_id, course_id=...)`` like the courses
service: its RPC client in the service, a fake in unit tests. Results are JSON-ready
dicts; lists come back as ``{"items", "total", "limit", "offset"}``.
"""
import uuid

from sqlalchemy.exc import IntegrityError

from services.kernel import events
from services.kernel.checks import parse_id
from services.kernel.clock import iso, utcnow
from services.kernel.errors import Conflict, Forbidden, NotFound
from services.quizzes import rules, store
from services.quizzes.models import Quiz, Submission

# how often a submission re-reads the attempt count after losing a race for a number
ATTEMPT_RACE_RETRIES = 10


def quiz_view(quiz, with_answers):
    return quiz_summary(quiz) | {
        "questions": quiz.questions if with_answers else rules.without_answers(quiz.questions),
    }


def quiz_summary(quiz):
    return {"id": quiz.id, "course_id": quiz.course_id, "title": quiz.title, "passing_score": quiz.passing_score,
            "max_attempts": quiz.max_attempts, "question_count": len(quiz.questions),
            "created_at": iso(quiz.created_at)}


def submission_view(submission, quiz):
    return {"id": submission.id, "quiz_id": submission.quiz_id, "course_id": quiz.course_id,
            "user_id": submission.user_id, "user_email": submission.user_email, "attempt": submission.attempt,
            "answers": submission.answers, "score": submission.score, "passed": submission.passed,
            "submitted_at": iso(submission.submitted_at)}


def page(rows, total, limit, offset, view):
    return {"items": [view(row) for row in rows], "total": total, "limit": limit, "offset": offset}


def _membership(courses, actor, course_id):
    """What the courses service says the caller is to that course."""
    if actor is None:
        raise Forbidden("sign in to use quizzes")
    return courses.membership(actor.user_id, course_id=course_id)


def _quiz(uow, quiz_id):
    quiz = store.quiz(uow.session, parse_id(quiz_id, "quiz"))
    if quiz is None:
        raise NotFound("quiz not found")
    return quiz


# -- quizzes -------------------------------------------------------------------

def create_quiz(uow, courses, actor, course_id, title, passing_score, questions, max_attempts=None):
    membership = _membership(courses, actor, parse_id(course_id))
    rules.require_instructor(membership)
    quiz = Quiz(id=str(uuid.uuid4()), course_id=membership["course_id"], instructor_id=actor.user_id,
                title=rules.title(title), passing_score=rules.passing_score(passing_score),
                max_attempts=rules.max_attempts(max_attempts), questions=rules.questions(questions),
                created_at=utcnow())
    uow.session.add(quiz)
    uow.commit()
    return quiz_view(quiz, with_answers=True)


def get_quiz(uow, courses, actor, quiz_id):
    quiz = _quiz(uow, quiz_id)
    membership = _membership(courses, actor, quiz.course_id)
    rules.require_member(membership)
    return quiz_view(quiz, with_answers=rules.sees_answers(membership))


def list_quizzes(uow, courses, actor, course_id, limit, offset):
    course_id = parse_id(course_id)
    rules.require_member(_membership(courses, actor, course_id))
    rows, total = store.quizzes(uow.session, course_id, limit, offset)
    return page(rows, total, limit, offset, quiz_summary)


# -- submissions -----------------------------------------------------------------

def submit(uow, courses, actor, quiz_id, answers):
    quiz = _quiz(uow, quiz_id)
    rules.require_student(_membership(courses, actor, quiz.course_id))
    answers = rules.answers(answers, quiz.questions)
    score = rules.score(quiz.questions, answers)
    passed = rules.passed(score, quiz.passing_score)
    for _ in range(ATTEMPT_RACE_RETRIES):
        attempt = rules.next_attempt(store.last_attempt(uow.session, quiz.id, actor.user_id), quiz.max_attempts)
        submission = Submission(id=str(uuid.uuid4()), quiz_id=quiz.id, user_id=actor.user_id,
                                user_email=actor.email, attempt=attempt, answers=answers, score=score,
                                passed=passed, submitted_at=utcnow())
        uow.session.add(submission)
        view = submission_view(submission, quiz)
        uow.record(events.QUIZ_SUBMITTED.event_type, {
            "event_id": str(uuid.uuid4()), "submission_id": submission.id, "quiz_id": quiz.id,
            "course_id": quiz.course_id, "user_id": actor.user_id, "user_email": actor.email,
            "score": score, "passed": passed, "attempt": attempt,
        })
        try:
            uow.commit()
            return view
        except IntegrityError:
            # a concurrent submission of the same student took this attempt number
            # first: count again (which may now say no attempts are left)
            uow.rollback()
    raise Conflict("too many submissions of this quiz at once; try again")


def list_submissions(uow, courses, actor, quiz_id, limit, offset):
    """The instructor sees everyone's submissions; an enrolled student only their own."""
    quiz = _quiz(uow, quiz_id)
    membership = _membership(courses, actor, quiz.course_id)
    rules.require_member(membership)
    only = None if membership["relation"] == "instructor" else actor.user_id
    rows, total = store.submissions(uow.session, quiz.id, limit, offset, user_id=only)
    return page(rows, total, limit, offset, lambda row: submission_view(row, quiz))
