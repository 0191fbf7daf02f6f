"""Chat rules, free of Nameko and SQL: what a handed-over message is, pages, who may delete, mutes.

Messages arrive at least once (the door retries a hand-over until the broker confirms it),
so a message is identified by the id the door gave it, never by its content.
"""
import math
from dataclasses import dataclass
from datetime import timedelta

from services.kernel.errors import Forbidden, ValidationFailed

MAX_ID_LENGTH = 64
MAX_MESSAGE_LENGTH = 2000
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 100
# what ``joined_video`` carries: the latest messages of the room
RECENT_MESSAGES = 50
MAX_MUTE_MINUTES = 30 * 24 * 60


@dataclass(frozen=True)
class Message:
    """One chat message as the room saw it (the ``new_chat_message`` payload)."""

    id: str
    video_id: str
    course_id: str
    user_id: str
    user_email: str
    message: str
    timestamp: str
    client_timestamp: object = None

    def as_payload(self):
        return {"id": self.id, "user_id": self.user_id, "user_email": self.user_email, "message": self.message,
                "timestamp": self.timestamp, "client_timestamp": self.client_timestamp,
                "video_id": self.video_id, "course_id": self.course_id}


def _text(data, field, max_length=MAX_ID_LENGTH):
    value = data.get(field)
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise ValidationFailed(f"{field}: must be a string of 1 to {max_length} characters", field)
    return value


def parse_message(data):
    """A :class:`Message` from the door's ``chat_message_sent`` payload, or ValidationFailed."""
    if not isinstance(data, dict):
        raise ValidationFailed("message: must be an object")
    client_timestamp = data.get("client_timestamp")
    if client_timestamp is not None and (isinstance(client_timestamp, bool)
                                         or not isinstance(client_timestamp, (str, int, float))):
        raise ValidationFailed("client_timestamp: must be a string, a number or null", "client_timestamp")
    return Message(
        id=_text(data, "id"), video_id=_text(data, "video_id"), course_id=_text(data, "course_id"),
        user_id=_text(data, "user_id"), user_email=_text(data, "user_email", 320),
        message=_text(data, "message", MAX_MESSAGE_LENGTH), timestamp=_text(data, "timestamp"),
        client_timestamp=client_timestamp,
    )


def history_limit(limit):
    if limit is None:
        return HISTORY_DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise ValidationFailed(f"limit: must be from 1 to {HISTORY_MAX_LIMIT}", "limit")
    return limit


def page(newest_first, limit):
    """``(messages oldest first, next_before)`` from up to ``limit + 1`` rows read newest first.

    The extra row only says whether an older page exists; ``next_before`` is then the oldest
    message of this page (the next page holds the messages before it).
    """
    shown = list(reversed(newest_first[:limit]))
    more = len(newest_first) > limit
    return shown, (shown[0]["id"] if more and shown else None)


def check_may_delete(actor_id, relation, author_id):
    """The course's instructor may delete any message of it; anyone else only their own."""
    if relation != "instructor" and actor_id != author_id:
        raise Forbidden("only the course's instructor or the message's author may delete it")


def mute_minutes(minutes):
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise ValidationFailed(f"minutes: must be a whole number from 1 to {MAX_MUTE_MINUTES}", "minutes")
    return minutes


def mute_until(now, minutes):
    return now + timedelta(minutes=mute_minutes(minutes))


def is_muted(until, now):
    """Whether a mute ending at ``until`` (None: lifted) still holds at ``now``."""
    return until is not None and until > now


def version_of(moment):
    """A mute change's version: its time as epoch seconds (later changes win)."""
    return math.floor(moment.timestamp() * 1_000_000) / 1_000_000
