"""The door's chat path with Nameko's worker_factory: ids, the mute check (no RPC), the hand-over.

The room emit, the hand-over and the chat service are replaced here (``sockets``,
``chat_messages``, ``chat``); tests/stack/test_chat.py runs the same path on the real stack.
"""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from services.kernel.errors import Muted
from services.kernel.identity import Identity
from services.realtime.dependencies import ChatMessages
from services.realtime.dispatch import Client
from services.realtime.mutes import MuteTable
from services.realtime.ratelimit import RateLimiter
from services.realtime.rooms import Memberships
from services.realtime.service import RealtimeService

STUDENT = Identity("u-1", "ann@example.com", "student")
MEMBER = {"exists": True, "relation": "student", "course_id": "c-1", "video_id": "v-1"}


@pytest.fixture
def mutes():
    return MuteTable()


@pytest.fixture
def worker(mutes):
    worker = worker_factory(RealtimeService, chat_mutes=mutes, memberships=Memberships(), limits=RateLimiter())
    worker.courses.membership.return_value = MEMBER
    worker.sockets.rooms.return_value = ["video_v-1"]
    return worker


def send(worker, text="hello"):
    return worker.send_chat_message(Client(sid="s-1", identity=STUDENT),
                                    {"video_id": "v-1", "message": text, "timestamp": 3})


def test_a_message_gets_a_time_ordered_id_is_emitted_then_handed_over_and_acknowledged(worker):
    first, second = send(worker, "one"), send(worker, "two")
    assert first["id"] < second["id"]  # UUIDv7 strings sort by time
    assert worker.sockets.emit.call_args_list[0].args == ("new_chat_message", first)
    assert [call.args[0] for call in worker.chat_messages.call_args_list] == [first, second]
    assert worker.chat.mock_calls == []  # sending never calls the chat service


def test_a_muted_sender_is_refused_with_until_without_any_rpc(worker, mutes):
    until = datetime.now(timezone.utc) + timedelta(minutes=5)
    mutes.apply("c-1", "u-1", until.isoformat(), version=1.0)
    with pytest.raises(Muted) as refused:
        send(worker)
    assert refused.value.details == {"until": until.isoformat().replace("+00:00", "Z")}
    worker.sockets.emit.assert_not_called()
    worker.chat_messages.assert_not_called()
    assert worker.chat.mock_calls == []
    mutes.apply("c-1", "u-1", None, version=2.0)
    assert "id" in send(worker)


def test_join_video_carries_the_recent_messages_and_who_is_watching(worker):
    worker.chat.recent_messages.return_value = [{"id": "m-1"}]
    other = {"user_id": "u-other", "user_email": "other@example.com"}
    worker.sockets.watching.return_value = ([other], 1)
    joined = worker.join_video(Client(sid="s-1", identity=STUDENT), {"video_id": "v-1"})
    assert joined["recent_messages"] == [{"id": "m-1"}]
    worker.chat.recent_messages.assert_called_once_with("v-1")
    assert joined["watching_count"] == 2
    assert joined["watching"] == [{"user_id": STUDENT.user_id, "user_email": STUDENT.email}, other]


class RefusingBroker:
    """A publisher whose broker refuses until told otherwise."""

    def __init__(self):
        self.refusing, self.published = True, []

    def __call__(self, message):
        if self.refusing:
            raise ConnectionError("broker down")
        self.published.append(message["id"])


def test_a_hand_over_the_broker_refuses_is_held_and_retried_in_order():
    handover, broker = ChatMessages(), RefusingBroker()
    handover.held, handover._publish = [], broker
    assert handover.hand_over({"id": "m-1"}) is False
    broker.refusing = False
    assert handover.hand_over({"id": "m-2"}) is False  # behind m-1: never overtakes it
    assert handover.retry_held() is True and broker.published == ["m-1", "m-2"]
    assert handover.hand_over({"id": "m-3"}) is True and broker.published[-1] == "m-3"
    assert handover.held == []
