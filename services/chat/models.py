"""The chat service's tables. Only this service reads or writes them.

A message row is keyed by the id the door made (a UUIDv7): the door may hand the same
message over twice (at-least-once), and the second insert is a no-op. UUIDv7 strings
sort as their creation times do, so ``ORDER BY id`` is the order of the chat.
"""
from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_video_id_id", "video_id", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    video_id: Mapped[str] = mapped_column(String(36))
    # a video never moves to another course, so the row can carry it (no join with courses)
    course_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(36))
    user_email: Mapped[str] = mapped_column(String(320))
    message: Mapped[str] = mapped_column(Text)
    # exactly as the door stamped it and the room saw it (an ISO 8601 string)
    timestamp: Mapped[str] = mapped_column(String(40))
    # whatever the client sent as its own timestamp (string, number or null), kept as sent
    client_timestamp: Mapped[object] = mapped_column(JSON, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(36), nullable=True)


class ChatMute(Base):
    """One (course, user) mute. Lifting keeps the row with ``until`` null, so every change has a
    ``version`` the doors can order by (a lift must not be undone by an older snapshot)."""

    __tablename__ = "chat_mutes"

    course_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    muted_by: Mapped[str] = mapped_column(String(36))
    # epoch seconds of the change (service clock): later changes win on every door
    version: Mapped[float] = mapped_column(Float)
