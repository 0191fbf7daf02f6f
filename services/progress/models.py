"""The progress service's table. Only this service reads or writes it.

One row per (student, video). Every column only ever moves forward (see ``store.record``),
so applying the same report twice, or an old report after a newer one, changes nothing.
"""
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class VideoProgress(Base):
    __tablename__ = "video_progress"
    __table_args__ = (Index("ix_video_progress_course_user", "course_id", "user_id"),)

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    video_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # a video never moves to another course, so the row can carry it (no join with courses)
    course_id: Mapped[str] = mapped_column(String(36))
    # the furthest position reached, in seconds
    watched_seconds: Mapped[float] = mapped_column(Float)
    # where to resume: the position reported last, and when (epoch seconds, door clock)
    last_position: Mapped[float] = mapped_column(Float)
    position_reported_at: Mapped[float] = mapped_column(Float)
    percent_complete: Mapped[float] = mapped_column(Float)
    completed: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
