"""The quizzes service's tables. Only this service reads or writes them.

A quiz never changes once made, so its questions (with the answer key) are kept as one
JSON document on the quiz row: read whole, graded whole. ``course_id`` points into the
courses service's database, so it is a plain column, not a foreign key. Submitters'
emails are stored as they were at submission (from the verified token).
"""
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Quiz(Base):
    __tablename__ = "quizzes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(36), index=True)
    instructor_id: Mapped[str] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(200))
    passing_score: Mapped[float] = mapped_column(Float)
    max_attempts: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: unlimited
    # [{"prompt", "choices": [str], "correct_choice": int}] in the order students answer
    questions: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Submission(Base):
    __tablename__ = "submissions"
    # the database, not a read-then-write, guarantees one row per attempt number
    __table_args__ = (UniqueConstraint("quiz_id", "user_id", "attempt", name="uq_submission_quiz_user_attempt"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    quiz_id: Mapped[str] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    user_email: Mapped[str] = mapped_column(String(320))
    attempt: Mapped[int] = mapped_column(Integer)
    answers: Mapped[list] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
