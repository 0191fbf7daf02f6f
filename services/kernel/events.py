"""The event catalogue: every domain event that crosses a service boundary.

A Nameko event is addressed by (source service, event type). Handlers subscribe with
``@event_handler(*events.USER_REGISTERED, ...)``; publishers dispatch ``event_type``
from the service named ``source``. Payloads are JSON objects whose fields are listed
beside each event. Delivery is at-least-once: every payload carries an ``event_id``
so handlers can be idempotent.

Every event goes out through :class:`EventDispatcher` below (the ``Database`` dependency's
publishing after commit, the door's progress flush), which stamps each one with the trace
it belongs to and the moment it was sent.
"""
import time
from collections import namedtuple

from nameko import events as nameko_events

EventName = namedtuple("EventName", "source event_type")

# auth
USER_REGISTERED = EventName("auth", "user_registered")
"""{event_id, user_id, email, role, created_at}"""

SESSION_REVOKED = EventName("auth", "session_revoked")
"""{event_id, user_id, session_id}: a logout or a detected refresh-token reuse."""

# courses
COURSE_UPDATED = EventName("courses", "course_updated")
"""{event_id, course_id, instructor_id, title, description, published, changed: [field names]}"""

ENROLLMENT_CREATED = EventName("courses", "enrollment_created")
"""{event_id, enrollment_id, course_id, instructor_id, user_id, user_email, enrolled_at}"""

REVIEW_CREATED = EventName("courses", "review_created")
"""{event_id, review_id, course_id, user_id, user_email, rating, comment, created_at,
average_rating, review_count}"""

# realtime (the door)
PROGRESS_REPORTED = EventName("realtime", "progress_reported")
"""{event_id, reports: [{user_id, video_id, course_id, progress, furthest_position, last_position,
reported_at}]}: what one door accepted in one flush interval, coalesced to one report per
(student, video): ``progress`` and ``furthest_position`` are the maxima seen, ``last_position``
the latest position and ``reported_at`` (epoch seconds, the door's clock) when it was seen."""

CHAT_MESSAGE_SENT = EventName("realtime", "chat_message_sent")
"""{event_id, id, user_id, user_email, message, timestamp, client_timestamp, video_id, course_id}:
one chat message the door emitted to its video room (the ``new_chat_message`` payload), handed
to the chat service to store; ``event_id`` is the message's ``id`` (a UUIDv7 made by the door),
so a message handed over twice is stored once."""

# chat
CHAT_MESSAGE_DELETED = EventName("chat", "chat_message_deleted")
"""{event_id, id, video_id, course_id, deleted_by}: a stored message was deleted (once per message)."""

CHAT_MUTE_CHANGED = EventName("chat", "chat_mute_changed")
"""{event_id, course_id, user_id, until, version}: a user muted in a course until ``until``, or the
mute lifted (``until`` null). Every door keeps the mutes in memory; ``version`` (epoch seconds of
the change) orders changes, so an older one never undoes a newer."""

# progress
PROGRESS_RECORDED = EventName("progress", "progress_recorded")
"""{event_id, records: [{user_id, video_id, course_id, watched_seconds, last_position,
percent_complete, completed, updated_at}]}: the rows one stored batch changed, in ONE event
(as the door hands over its reports in one ``progress_reported``): one publish per
transaction, not per row, and one door worker announcing them all."""

# quizzes
QUIZ_SUBMITTED = EventName("quizzes", "quiz_submitted")
"""{event_id, submission_id, quiz_id, course_id, user_id, user_email, score, passed, attempt}"""


class EventDispatcher(nameko_events.EventDispatcher):
    """Nameko's dispatcher, reading the worker's context when each event is sent.

    Nameko's own copies the context into the headers once, when the worker starts; this
    one does it per event, so the headers carry the trace context the worker runs in
    (``services/kernel/telemetry.py``) and ``dispatched_at``, the moment of sending, from
    which the handler measures how long the event waited.
    """

    def get_dependency(self, worker_ctx):
        def dispatch(event_type, event_data):
            self.publish(event_type, event_data, worker_ctx.context_data)

        return dispatch

    def publish(self, event_type, event_data, context_data=None):
        """Send one event (also from outside a worker, with no ``context_data``)."""
        headers = {**(context_data or {}), "dispatched_at": time.time()}
        self.publisher.publish(
            event_data, exchange=self.exchange, routing_key=event_type,
            extra_headers={self._get_header_name(key): value for key, value in headers.items() if value is not None})
