"""Domain events relayed to socket rooms: one table, one way of relaying.

Each row of ``RELAYS`` says which domain event (``services/kernel/events.py``) becomes
which socket event (``docs/asyncapi.yaml``), with which payload, to which rooms. Every
relay handles its event the same way:

- ``SERVICE_POOL``: one door replica takes each event; its room emit reaches the clients
  of every replica (``Sockets.emit``).
- ``self.handled.first_time(event_id)``: delivery is at-least-once, so a redelivered
  event reaches the rooms once.
- An event carrying several rows (``progress_recorded``'s ``records``) becomes one socket
  event per row.

The handler of an event is named ``on_<event_type>``. The name is part of the event's
queue name in RabbitMQ (``evt-<source>-<event_type>--realtime.on_<event_type>``), so it
stays as it is.
"""
from dataclasses import dataclass
from typing import Callable

from nameko.events import SERVICE_POOL, event_handler

from services.kernel import events
from services.kernel.events import EventName
from services.realtime import rooms
from services.realtime.gateway import Gateway


@dataclass(frozen=True)
class Relay:
    event: EventName
    socket_event: str
    payload: Callable[[dict], dict]  # one row of the event -> what the rooms get
    rooms: Callable[[dict], object]  # one row of the event -> a room or a list of rooms
    rows: Callable[[dict], list] = lambda event: [event]  # the rows of an event (most have one: itself)

    @property
    def handler_name(self):
        return f"on_{self.event.event_type}"

    def handler(self):
        relay = self

        @event_handler(*relay.event, handler_type=SERVICE_POOL)
        def handle(self, event):
            if self.handled.first_time(event["event_id"]):
                for row in relay.rows(event):
                    self.sockets.emit(relay.socket_event, relay.payload(row), to=relay.rooms(row))

        handle.__name__ = handle.__qualname__ = self.handler_name
        handle.__doc__ = f"{relay.event.source}.{relay.event.event_type} -> {relay.socket_event}"
        return handle


def new_enrollment(event):
    return {
        "user_id": event["user_id"], "user_email": event["user_email"],
        "message": f"{event['user_email']} enrolled in the course",
        "course_id": event["course_id"], "enrolled_at": event["enrolled_at"],
    }


def new_review(event):
    return {
        "user_email": event["user_email"], "rating": event["rating"], "comment": event["comment"],
        "course_id": event["course_id"], "user_id": event["user_id"],
        "average_rating": event["average_rating"], "review_count": event["review_count"],
    }


def course_updated(event):
    return {
        "course_id": event["course_id"], "title": event["title"], "description": event["description"],
        "published": event["published"], "changed": event["changed"],
    }


def progress_update(record):
    return {
        "user_id": record["user_id"], "video_id": record["video_id"],
        "watched_seconds": record["watched_seconds"], "percent_complete": record["percent_complete"],
        "completed": record["completed"], "course_id": record["course_id"],
        "last_position": record["last_position"], "updated_at": record["updated_at"],
    }


def quiz_submission(event):
    return {
        "user_id": event["user_id"], "quiz_id": event["quiz_id"], "score": event["score"],
        "passed": event["passed"], "course_id": event["course_id"], "user_email": event["user_email"],
        "attempt": event["attempt"], "submission_id": event["submission_id"],
    }


def chat_message_deleted(event):
    return {"id": event["id"], "video_id": event["video_id"], "course_id": event["course_id"]}


def video_room(row):
    return rooms.video_room(row["video_id"])


def course_room(row):
    return rooms.course_room(row["course_id"])


def instructor_room(row):
    return rooms.instructor_room(row["course_id"])


def course_and_instructor_rooms(row):
    return [rooms.course_room(row["course_id"]), rooms.instructor_room(row["course_id"])]


RELAYS = (
    Relay(events.ENROLLMENT_CREATED, "new_enrollment", new_enrollment, course_and_instructor_rooms),
    Relay(events.REVIEW_CREATED, "new_review", new_review, course_room),
    Relay(events.COURSE_UPDATED, "course_updated", course_updated, course_room),
    # one stored batch: one progress_update per changed row, to the instructor's dashboard
    Relay(events.PROGRESS_RECORDED, "progress_update", progress_update, instructor_room,
          rows=lambda event: event["records"]),
    Relay(events.QUIZ_SUBMITTED, "quiz_submission", quiz_submission, instructor_room),
    Relay(events.CHAT_MESSAGE_DELETED, "chat_message_deleted", chat_message_deleted, video_room),
)

# the door's relay entrypoints: one ``on_<event_type>`` per row of the table
RelaysGateway = type("RelaysGateway", (Gateway,), {
    "__doc__": "Domain events to socket rooms, as ``RELAYS`` says.",
    "__module__": __name__,
    **{relay.handler_name: relay.handler() for relay in RELAYS},
})
