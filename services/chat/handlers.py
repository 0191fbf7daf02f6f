"""The chat use cases: store what the doors hand over, read history, delete, mute. No Nameko here.

The door checks who belongs to the course (its cached membership answers) before it calls
here, and passes that answer on as ``relation`` (``"instructor"`` or ``"student"``);
this service owns the rules only it can check: who wrote a message, whether it is deleted,
who is muted until when. ``actor`` is the caller as the door verified it (a
``kernel.identity.Identity``).
"""
import logging
import uuid

from services.chat import rules, store
from services.kernel import events
from services.kernel.clock import as_utc, iso, utcnow
from services.kernel.errors import NotFound, ValidationFailed

log = logging.getLogger(__name__)


def store_message(uow, data):
    """Store one message a door handed over; True if it was new (a redelivery stores nothing).

    A malformed message is logged and dropped, not raised: raising would requeue it forever.
    """
    try:
        message = rules.parse_message(data)
    except ValidationFailed as exc:
        log.warning("dropping a malformed chat message (%s): %r", exc, data)
        return False
    added = store.add_messages(uow.session, [message])
    uow.commit()
    return added > 0


def _payload(row):
    return rules.Message(id=row.id, video_id=row.video_id, course_id=row.course_id, user_id=row.user_id,
                         user_email=row.user_email, message=row.message, timestamp=row.timestamp,
                         client_timestamp=row.client_timestamp).as_payload()


def recent_messages(uow, video_id):
    """The latest messages of the video (``joined_video``'s ``recent_messages``), oldest first."""
    rows = store.latest_messages(uow.session, video_id, rules.RECENT_MESSAGES)
    return [_payload(row) for row in reversed(rows)]


def history(uow, video_id, limit=None, before=None):
    """One page of older history: ``{"items", "limit", "before", "next_before"}``."""
    limit = rules.history_limit(limit)
    if before is not None and (not isinstance(before, str) or not 0 < len(before) <= rules.MAX_ID_LENGTH):
        raise ValidationFailed("before: must be a message id", "before")
    rows = store.latest_messages(uow.session, video_id, limit + 1, before)
    items, next_before = rules.page([_payload(row) for row in rows], limit)
    return {"items": items, "limit": limit, "before": before, "next_before": next_before}


def delete_message(uow, actor, relation, video_id, message_id):
    """Delete a message of the video (its author, or the course's instructor); records
    ``chat_message_deleted`` once. Deleting it again answers the same and announces nothing."""
    row = store.message(uow.session, message_id)
    if row is None or row.video_id != video_id:
        raise NotFound("message not found")
    rules.check_may_delete(actor.user_id, relation, row.user_id)
    if row.deleted_at is None:
        row.deleted_at, row.deleted_by = utcnow(), actor.user_id
        uow.record(events.CHAT_MESSAGE_DELETED.event_type, {
            "event_id": str(uuid.uuid4()), "id": row.id, "video_id": row.video_id, "course_id": row.course_id,
            "deleted_by": actor.user_id,
        })
    uow.commit()
    return {"id": row.id, "deleted": True}


def _mute_view(row):
    return {"course_id": row.course_id, "user_id": row.user_id, "until": iso(row.until)}


def _record_mute_change(uow, row):
    uow.record(events.CHAT_MUTE_CHANGED.event_type, {
        "event_id": str(uuid.uuid4()), "version": row.version, **_mute_view(row)})


def mute(uow, actor, course_id, user_id, minutes):
    """Mute ``user_id`` in the course for ``minutes`` from now (replacing any earlier mute)."""
    if not isinstance(user_id, str) or not 0 < len(user_id) <= rules.MAX_ID_LENGTH:
        raise ValidationFailed("user_id: must be a user id", "user_id")
    if user_id == actor.user_id:
        raise ValidationFailed("user_id: the instructor cannot mute themselves", "user_id")
    now = utcnow()
    row = store.set_mute(uow.session, course_id, user_id, rules.mute_until(now, minutes), actor.user_id,
                         rules.version_of(now))
    _record_mute_change(uow, row)
    uow.commit(conflict="this user's mute changed meanwhile; try again")
    return _mute_view(row)


def unmute(uow, actor, course_id, user_id):
    """Lift the mute (if any): the row stays, with ``until`` null, as the newest version."""
    now = utcnow()
    row = store.set_mute(uow.session, course_id, user_id, None, actor.user_id, rules.version_of(now))
    _record_mute_change(uow, row)
    uow.commit(conflict="this user's mute changed meanwhile; try again")
    return _mute_view(row)


def active_mutes(uow):
    """Every mute in force now, as the doors load them: ``{"as_of": version, "mutes": [...]}``.

    ``as_of`` lets a door drop what it holds from before the snapshot that the snapshot no
    longer lists (a lift or an end it did not hear about).
    """
    now = utcnow()
    mutes = [{"version": row.version, **_mute_view(row)} for row in store.active_mutes(uow.session, now)
             if rules.is_muted(as_utc(row.until), now)]
    return {"as_of": rules.version_of(now), "mutes": mutes}
