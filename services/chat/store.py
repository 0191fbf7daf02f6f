"""Persistence of chat messages and mutes behind plain functions.

``add_messages`` is ``INSERT .. ON CONFLICT (id) DO NOTHING``, written once with
SQLAlchemy's dialect inserts so it runs on SQLite and PostgreSQL: a message handed over
twice (a redelivery, a door's retry after a lost confirm) is stored once.
"""
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from services.chat.models import ChatMessage, ChatMute

_DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _insert(session):
    return _DIALECT_INSERTS[session.get_bind().dialect.name]


def add_messages(session, messages):
    """Store the messages not stored yet; returns how many were new."""
    if not messages:
        return 0
    rows = [{"id": m.id, "video_id": m.video_id, "course_id": m.course_id, "user_id": m.user_id,
             "user_email": m.user_email, "message": m.message, "timestamp": m.timestamp,
             "client_timestamp": m.client_timestamp} for m in messages]
    statement = _insert(session)(ChatMessage.__table__).values(rows).on_conflict_do_nothing(index_elements=["id"])
    return len(session.execute(statement.returning(ChatMessage.id)).all())


def message(session, message_id):
    return session.get(ChatMessage, message_id)


def latest_messages(session, video_id, limit, before=None):
    """Up to ``limit`` messages of the video not deleted, newest first, older than ``before``."""
    condition = [ChatMessage.video_id == video_id, ChatMessage.deleted_at.is_(None)]
    if before is not None:
        condition.append(ChatMessage.id < before)
    return session.scalars(select(ChatMessage).where(*condition).order_by(ChatMessage.id.desc()).limit(limit)).all()


def mute(session, course_id, user_id):
    return session.get(ChatMute, (course_id, user_id))


def set_mute(session, course_id, user_id, until, muted_by, version):
    """Create or replace the course's mute of that user (``until`` None: lifted)."""
    row = session.get(ChatMute, (course_id, user_id))
    if row is None:
        row = ChatMute(course_id=course_id, user_id=user_id)
        session.add(row)
    row.until, row.muted_by, row.version = until, muted_by, version
    return row


def active_mutes(session, now):
    return session.scalars(select(ChatMute).where(ChatMute.until > now)).all()
