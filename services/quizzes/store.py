"""Persistence of quizzes and submissions behind plain functions."""
from sqlalchemy import func, select

from services.kernel.database import paged
from services.quizzes.models import Quiz, Submission


def quiz(session, quiz_id):
    return session.get(Quiz, quiz_id)


def quizzes(session, course_id, limit, offset):
    return paged(session, Quiz, Quiz.course_id == course_id, (Quiz.created_at, Quiz.id), limit, offset)


def last_attempt(session, quiz_id, user_id):
    """The highest attempt number this student has used on this quiz (0: none yet)."""
    return session.scalar(
        select(func.coalesce(func.max(Submission.attempt), 0))
        .where(Submission.quiz_id == quiz_id, Submission.user_id == user_id)
    )


def submissions(session, quiz_id, limit, offset, user_id=None):
    """A quiz's submissions, oldest first; only one student's when ``user_id`` is given."""
    condition = Submission.quiz_id == quiz_id
    if user_id is not None:
        condition = condition & (Submission.user_id == user_id)
    return paged(session, Submission, condition,
                 (Submission.submitted_at, Submission.user_id, Submission.attempt), limit, offset)
