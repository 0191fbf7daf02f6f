"""The relay table: each domain event reaches its rooms once, with the payload the documents fix."""
import pytest
from nameko.events import SERVICE_POOL
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.testing.services import worker_factory

from services.kernel import events
from services.realtime.dependencies import DeliveryLedger
from services.realtime.gateway.relays import RELAYS
from services.realtime.service import RealtimeService

ENROLLMENT = {"event_id": "e-1", "enrollment_id": "en-1", "course_id": "c-1", "instructor_id": "t-1",
              "user_id": "u-1", "user_email": "ann@example.com", "enrolled_at": "2026-01-01T00:00:00Z"}
REVIEW = {"event_id": "e-2", "review_id": "r-1", "course_id": "c-1", "user_id": "u-1",
          "user_email": "ann@example.com", "rating": 4, "comment": "Clear", "created_at": "2026-01-01T00:00:00Z",
          "average_rating": 4.5, "review_count": 2}
DELETED = {"event_id": "e-4", "id": "m-1", "video_id": "v-1", "course_id": "c-1", "deleted_by": "t-1"}
COURSE = {"event_id": "e-3", "course_id": "c-1", "instructor_id": "t-1", "title": "New", "description": None,
          "published": True, "changed": ["title", "published"]}


@pytest.fixture
def worker():
    return worker_factory(RealtimeService, handled=DeliveryLedger())


@pytest.mark.parametrize("handler, event, socket_event, payload, to", [
    ("on_enrollment_created", ENROLLMENT, "new_enrollment", {
        "user_id": "u-1", "user_email": "ann@example.com", "message": "ann@example.com enrolled in the course",
        "course_id": "c-1", "enrolled_at": "2026-01-01T00:00:00Z"}, ["course_c-1", "instructor_c-1"]),
    ("on_review_created", REVIEW, "new_review", {
        "user_email": "ann@example.com", "rating": 4, "comment": "Clear", "course_id": "c-1", "user_id": "u-1",
        "average_rating": 4.5, "review_count": 2}, "course_c-1"),
    ("on_course_updated", COURSE, "course_updated", {
        "course_id": "c-1", "title": "New", "description": None, "published": True,
        "changed": ["title", "published"]}, "course_c-1"),
    ("on_chat_message_deleted", DELETED, "chat_message_deleted", {
        "id": "m-1", "video_id": "v-1", "course_id": "c-1"}, "video_v-1"),
])
def test_each_event_reaches_its_rooms_once_with_its_payload(worker, handler, event, socket_event, payload, to):
    getattr(worker, handler)(event)
    getattr(worker, handler)(dict(event))  # redelivered: at-least-once delivery must not show it twice
    worker.sockets.emit.assert_called_once_with(socket_event, payload, to=to)
    [(_, sent, _)] = [call for call in worker.sockets.emit.mock_calls]
    assert list(sent[1]) == list(payload)  # the fields in the documented order


def test_every_relay_is_a_pooled_handler_named_for_its_event():
    """``on_<event_type>`` names the RabbitMQ queue the door's replicas share: it must not change."""
    for relay in RELAYS:
        [entrypoint] = getattr(getattr(RealtimeService, relay.handler_name), ENTRYPOINT_EXTENSIONS_ATTR)
        assert (entrypoint.source_service, entrypoint.event_type) == tuple(relay.event)
        assert entrypoint.handler_type == SERVICE_POOL
    assert {relay.event for relay in RELAYS} == {events.ENROLLMENT_CREATED, events.REVIEW_CREATED,
                                                 events.COURSE_UPDATED, events.PROGRESS_RECORDED,
                                                 events.QUIZ_SUBMITTED, events.CHAT_MESSAGE_DELETED}
