"""ChatService entrypoints with Nameko's worker_factory: real database; the events each worker's unit
of work committed are what ``Database`` publishes once the worker is done."""
import pytest
import uuid6
from nameko.testing.services import worker_factory

from services.chat.service import ChatService
from services.kernel.identity import Identity

INSTRUCTOR = Identity("t-1", "teacher@example.com", "instructor")


@pytest.fixture
def service(service_database):
    database = service_database("chat")
    return lambda: worker_factory(ChatService, db=database.unit())


def sent(text):
    message_id = str(uuid6.uuid7())
    return {"event_id": message_id, "id": message_id, "user_id": "u-1", "user_email": "ann@example.com",
            "message": text, "timestamp": "2026-12-03T06:00:00Z", "client_timestamp": None,
            "video_id": "v-1", "course_id": "c-1"}


def test_a_handed_over_message_is_stored_once_then_read_deleted_and_announced(service):
    message = sent("hello")
    service().on_chat_message_sent(message)
    service().on_chat_message_sent(message)  # redelivered
    [stored] = service().recent_messages("v-1")
    assert stored["id"] == message["id"] and service().history("v-1", 10)["items"] == [stored]
    worker = service()
    assert worker.delete_message(INSTRUCTOR, "instructor", "v-1", message["id"]) == \
        {"id": message["id"], "deleted": True}
    [(name, event)] = worker.db.committed_events()
    assert name == "chat_message_deleted" and event["id"] == message["id"]
    assert service().recent_messages("v-1") == []


def test_a_mute_is_announced_and_listed_for_the_doors(service):
    worker = service()
    muted = worker.mute(INSTRUCTOR, "c-1", "u-1", 5)
    [(name, event)] = worker.db.committed_events()
    assert name == "chat_mute_changed" and event["until"] == muted["until"]
    assert [m["user_id"] for m in service().active_mutes()["mutes"]] == ["u-1"]
    assert service().unmute(INSTRUCTOR, "c-1", "u-1")["until"] is None
    assert service().active_mutes()["mutes"] == []
