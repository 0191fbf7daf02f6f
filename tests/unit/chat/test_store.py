"""Chat persistence and use cases against a real database of each kind (SQLite and PostgreSQL)."""
import pytest
import uuid6
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.chat import handlers
from services.chat.models import ChatMessage
from services.kernel.identity import Identity
from services.kernel.errors import Forbidden, NotFound, ValidationFailed

VIDEO, OTHER_VIDEO, COURSE = "v-1", "v-2", "c-1"
AUTHOR, OTHER, INSTRUCTOR = "u-author", "u-other", "u-instructor"
author = Identity(AUTHOR, "author@example.com", "student")
instructor = Identity(INSTRUCTOR, "teacher@example.com", "instructor")


@pytest.fixture
def database(service_database):
    return service_database("chat")


@pytest.fixture
def uow(database):
    """A fresh unit of work per call, like one Nameko worker each."""
    return database.unit


def sent(text, video=VIDEO, user=AUTHOR):
    message_id = str(uuid6.uuid7())
    return {"event_id": message_id, "id": message_id, "user_id": user, "user_email": f"{user}@example.com",
            "message": text, "timestamp": "2026-12-03T06:00:00.000001Z", "client_timestamp": 12.5,
            "video_id": video, "course_id": COURSE}


def stored_count(database):
    with Session(database.engine) as session:
        return session.scalar(select(func.count()).select_from(ChatMessage))


def test_a_message_handed_over_twice_is_stored_once_with_its_payload(uow, database):
    message = sent("hello")
    assert handlers.store_message(uow(), message) is True
    assert handlers.store_message(uow(), message) is False  # the redelivery
    assert stored_count(database) == 1
    [recent] = handlers.recent_messages(uow(), VIDEO)
    assert recent == {k: v for k, v in message.items() if k != "event_id"}


def test_a_malformed_message_is_dropped_not_raised(uow, database):
    assert handlers.store_message(uow(), {"id": "x", "message": ""}) is False
    assert stored_count(database) == 0


def test_recent_messages_are_the_latest_50_of_the_video_oldest_first(uow):
    messages = [sent(f"m{n}") for n in range(55)]
    for message in messages:
        handlers.store_message(uow(), message)
    handlers.store_message(uow(), sent("elsewhere", video=OTHER_VIDEO))
    recent = handlers.recent_messages(uow(), VIDEO)
    assert [m["message"] for m in recent] == [f"m{n}" for n in range(5, 55)]


def test_history_pages_back_with_next_before_until_none(uow):
    for n in range(7):
        handlers.store_message(uow(), sent(f"m{n}"))
    first = handlers.history(uow(), VIDEO, limit=3)
    assert [m["message"] for m in first["items"]] == ["m4", "m5", "m6"]
    assert first["next_before"] == first["items"][0]["id"] and first["before"] is None and first["limit"] == 3
    second = handlers.history(uow(), VIDEO, limit=3, before=first["next_before"])
    assert [m["message"] for m in second["items"]] == ["m1", "m2", "m3"]
    last = handlers.history(uow(), VIDEO, limit=3, before=second["next_before"])
    assert [m["message"] for m in last["items"]] == ["m0"] and last["next_before"] is None
    assert handlers.history(uow(), VIDEO)["limit"] == 50
    with pytest.raises(ValidationFailed):
        handlers.history(uow(), VIDEO, limit=101)


def test_delete_by_author_or_instructor_leaves_the_message_out_and_announces_once(uow):
    mine, theirs = sent("mine"), sent("theirs", user=OTHER)
    handlers.store_message(uow(), mine)
    handlers.store_message(uow(), theirs)
    with pytest.raises(Forbidden):
        handlers.delete_message(uow(), author, "student", VIDEO, theirs["id"])
    with pytest.raises(NotFound):
        handlers.delete_message(uow(), author, "student", OTHER_VIDEO, mine["id"])
    unit = uow()
    assert handlers.delete_message(unit, author, "student", VIDEO, mine["id"]) == \
        {"id": mine["id"], "deleted": True}
    [(name, event)] = unit.committed_events()
    assert name == "chat_message_deleted" and (event["id"], event["video_id"], event["course_id"]) == \
        (mine["id"], VIDEO, COURSE)
    again = uow()
    handlers.delete_message(again, instructor, "instructor", VIDEO, mine["id"])
    assert again.committed_events() == []  # already deleted: nothing new to announce
    handlers.delete_message(uow(), instructor, "instructor", VIDEO, theirs["id"])
    assert handlers.recent_messages(uow(), VIDEO) == []
    assert handlers.history(uow(), VIDEO)["items"] == []


def test_mutes_are_announced_with_versions_listed_while_active_and_lifted(uow):
    unit = uow()
    muted = handlers.mute(unit, instructor, COURSE, OTHER, 10)
    assert muted["course_id"] == COURSE and muted["user_id"] == OTHER and muted["until"].endswith("Z")
    [(name, event)] = unit.committed_events()
    assert name == "chat_mute_changed" and event["until"] == muted["until"]
    [active] = handlers.active_mutes(uow())["mutes"]
    assert active["user_id"] == OTHER and active["version"] == event["version"]
    lifting = uow()
    assert handlers.unmute(lifting, instructor, COURSE, OTHER)["until"] is None
    [(_, lifted)] = lifting.committed_events()
    assert lifted["until"] is None and lifted["version"] >= event["version"]
    assert handlers.active_mutes(uow())["mutes"] == []
    with pytest.raises(ValidationFailed):
        handlers.mute(uow(), instructor, COURSE, OTHER, 0)
    with pytest.raises(ValidationFailed):
        handlers.mute(uow(), instructor, COURSE, INSTRUCTOR, 5)
