"""Chat moderation and history: the chat rows of API.md, mutes on every door, deletions to rooms.

``send_chat_message`` and ``join_video`` stay with the rooms (``courses.py``); they use what
this module keeps: the mutes (``chat_mutes``, checked without an RPC) and the hand-over to
the chat service (``chat_messages``). Who may read or moderate is the door's cached
membership answer (``CoursesGateway.membership``); the chat service checks authorship.
"""
import logging
import time

from nameko.events import BROADCAST, SERVICE_POOL, event_handler
from nameko.timer import timer

from services.kernel import events
from services.kernel.errors import Forbidden, Unavailable
from services.realtime import rooms, schemas
from services.realtime.entrypoints import CursorPage, api
from services.realtime.gateway import Gateway
from services.realtime.gateway.courses import actor

log = logging.getLogger(__name__)

# a door loads the mutes at start (retrying every tick until the chat service answers) and
# then reloads them this often: a change broadcast while its queue was being (re)declared
# is repaired within this long
MUTES_TICK_SECONDS = 5
MUTES_RELOAD_SECONDS = 60


class ChatGateway(Gateway):
    def video_member(self, request, video_id):
        """``(identity, membership answer)`` of the caller in the video's course, or 401/403/404."""
        identity = self.caller(request)
        return identity, rooms.require_member(self.membership(identity.user_id, video_id=video_id), "video")

    def course_instructor(self, request, course_id):
        """The caller if they are the course's instructor, or 401/403/404."""
        identity = self.caller(request)
        answer = rooms.require_member(self.membership(identity.user_id, course_id=course_id), "course")
        if answer["relation"] != "instructor":
            raise Forbidden("only the course's instructor may mute in it")
        return identity, answer

    # -- HTTP ---------------------------------------------------------------------

    @api("GET", "/api/v1/videos/<video_id>/messages")
    def chat_history(self, request, video_id):
        _, answer = self.video_member(request, video_id)
        limit, before = schemas.cursor_params(request)
        page = self.chat.history(answer["video_id"], limit, before)
        return CursorPage(page["items"], page["limit"], page["before"], page["next_before"])

    @api("DELETE", "/api/v1/videos/<video_id>/messages/<message_id>")
    def delete_chat_message(self, request, video_id, message_id):
        identity, answer = self.video_member(request, video_id)
        return self.chat.delete_message(actor(identity), answer["relation"], answer["video_id"], message_id)

    @api("POST", "/api/v1/courses/<course_id>/mutes", status=201)
    def mute(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.NewMute)
        identity, answer = self.course_instructor(request, course_id)
        return self.chat.mute(actor(identity), answer["course_id"], body.user_id, body.minutes)

    @api("DELETE", "/api/v1/courses/<course_id>/mutes/<user_id>")
    def unmute(self, request, course_id, user_id):
        identity, answer = self.course_instructor(request, course_id)
        return self.chat.unmute(actor(identity), answer["course_id"], user_id)

    # -- the mutes, on every door -----------------------------------------------------

    @timer(interval=MUTES_TICK_SECONDS, eager=True)
    def load_chat_mutes(self):
        table = self.chat_mutes
        if table.loaded and time.monotonic() - table.loaded_at < MUTES_RELOAD_SECONDS:
            return
        try:
            table.load(self.chat.active_mutes())
        except Unavailable as exc:  # the chat service is down or busy: the next tick tries again
            log.warning("could not load the chat mutes (%s); retrying in %d s", exc, MUTES_TICK_SECONDS)

    # every door replica hears this (BROADCAST): each updates its own table, so a mute
    # holds on every door at once; nothing is emitted
    @event_handler(*events.CHAT_MUTE_CHANGED, handler_type=BROADCAST, reliable_delivery=False)
    def on_chat_mute_changed(self, event):
        self.chat_mutes.apply(event["course_id"], event["user_id"], event["until"], event["version"])

    # -- room broadcasts from domain events (one door replica handles each) -------------

    @event_handler(*events.CHAT_MESSAGE_DELETED, handler_type=SERVICE_POOL)
    def on_chat_message_deleted(self, event):
        if self.handled.first_time(event["event_id"]):
            self.sockets.emit("chat_message_deleted", {
                "id": event["id"], "video_id": event["video_id"], "course_id": event["course_id"],
            }, to=rooms.video_room(event["video_id"]))
