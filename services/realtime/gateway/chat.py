"""Chat moderation and history: the chat rows of API.md, and the mutes every door holds.

``send_chat_message`` and ``join_video`` stay with the rooms (``courses.py``); they use what
this module keeps: the mutes (``chat_mutes``, checked without an RPC) and the hand-over to
the chat service (``chat_messages``). Who may read or moderate is the door's cached
membership answer (``CoursesGateway.membership``); the chat service checks authorship.
``chat_message_deleted`` reaches the video room through ``relays.py``, like every relay.
"""
import logging
import time

from nameko.events import BROADCAST, event_handler
from nameko.timer import timer

from services.kernel import events
from services.kernel.errors import Forbidden, Unavailable
from services.realtime import answers, rooms, schemas
from services.realtime.entrypoints import INSTRUCTOR, USER, CursorPage, api
from services.realtime.gateway import Gateway

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
        """``(identity, membership answer)`` if the caller is the course's instructor, or 401/403/404."""
        identity = self.caller(request)
        answer = rooms.require_member(self.membership(identity.user_id, course_id=course_id), "course")
        if answer["relation"] != "instructor":
            raise Forbidden("only the course's instructor may mute in it")
        return identity, answer

    # -- HTTP ---------------------------------------------------------------------

    @api("GET", "/api/v1/videos/<video_id>/messages", summary="Older chat history of a video room, oldest first",
         callers=USER, answer=answers.ChatMessage, cursor=True, errors=(401, 403, 404, 422, 503), tag="chat",
         description="The course's enrolled students and its instructor. The limit messages just before "
                     "before (a message id), or the latest; deleted messages are left out. A cursor, not an "
                     "offset: the chat grows while you page.")
    def chat_history(self, request, video_id):
        _, answer = self.video_member(request, video_id)
        limit, before = schemas.cursor_params(request)
        page = self.chat.history(answer["video_id"], limit, before)
        return CursorPage(page["items"], page["limit"], page["before"], page["next_before"])

    @api("DELETE", "/api/v1/videos/<video_id>/messages/<message_id>",
         summary="Delete a chat message; room event chat_message_deleted", callers=USER,
         answer=answers.DeletedMessage, errors=(401, 403, 404, 503), tag="chat",
         description="The course's instructor, or the message's author.")
    def delete_chat_message(self, request, video_id, message_id):
        identity, answer = self.video_member(request, video_id)
        return self.chat.delete_message(identity, answer["relation"], answer["video_id"], message_id)

    @api("POST", "/api/v1/courses/<course_id>/mutes", status=201,
         summary="Mute a user in the course's chat for some minutes", callers=INSTRUCTOR, answer=answers.Mute,
         body=schemas.NewMute, errors=(400, 401, 403, 404, 422, 503), tag="chat",
         description="Every door refuses their send_chat_message with error code muted (and until) within a "
                     "second; a new mute replaces the previous one.")
    def mute(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.NewMute)
        identity, answer = self.course_instructor(request, course_id)
        return self.chat.mute(identity, answer["course_id"], body.user_id, body.minutes)

    @api("DELETE", "/api/v1/courses/<course_id>/mutes/<user_id>", summary="Lift a mute", callers=INSTRUCTOR,
         answer=answers.Mute, errors=(401, 403, 404, 503), tag="chat")
    def unmute(self, request, course_id, user_id):
        identity, answer = self.course_instructor(request, course_id)
        return self.chat.unmute(identity, answer["course_id"], user_id)

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
