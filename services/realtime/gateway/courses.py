"""Courses: the course rows of API.md, the course/video rooms, chat, and room broadcasts."""
import uuid6
from nameko.events import SERVICE_POOL, event_handler

from services.kernel import events
from services.kernel.clock import iso, utcnow
from services.kernel.errors import Forbidden, Muted, PlatformError, RateLimited, ValidationFailed
from services.realtime import rooms, schemas
from services.realtime.entrypoints import Page, api, on_socket
from services.realtime.gateway import Gateway

MAX_CHAT_MESSAGE = 2000
CHAT_RATE = "20/10 seconds"


def actor(identity):
    """The caller as the courses service wants it (from the verified token)."""
    if identity is None:
        return None
    return {"user_id": identity.user_id, "email": identity.email, "role": identity.role}


def as_page(result):
    return Page(result["items"], result["total"], result["limit"], result["offset"])


class CoursesGateway(Gateway):
    def optional_caller(self, request):
        """Anonymous is fine on public routes, but a token that is sent must be valid."""
        if "Authorization" not in request.headers:
            return None
        return self.caller(request)

    def membership(self, user_id, course_id=None, video_id=None):
        return self.memberships.lookup(
            user_id, lambda: self.courses.membership(user_id, course_id=course_id, video_id=video_id),
            course_id=course_id, video_id=video_id)

    # -- HTTP ---------------------------------------------------------------------

    @api("POST", "/api/v1/courses", status=201)
    def create_course(self, request):
        body = schemas.parse_json_body(request, schemas.NewCourse)
        return self.courses.create_course(actor(self.caller(request)), body.title, body.description)

    @api("GET", "/api/v1/courses")
    def list_courses(self, request):
        limit, offset = schemas.page_params(request)
        return as_page(self.courses.list_courses(actor(self.optional_caller(request)), limit, offset))

    @api("GET", "/api/v1/courses/<course_id>")
    def get_course(self, request, course_id):
        return self.courses.get_course(actor(self.optional_caller(request)), course_id)

    @api("PATCH", "/api/v1/courses/<course_id>")
    def update_course(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.CourseChanges)
        changes = body.model_dump(exclude_unset=True)
        for field, value in changes.items():
            if value is None:
                raise ValidationFailed(f"{field}: must not be null", field)
        return self.courses.update_course(actor(self.caller(request)), course_id, changes)

    @api("POST", "/api/v1/courses/<course_id>/videos", status=201)
    def add_video(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.NewVideo)
        return self.courses.add_video(actor(self.caller(request)), course_id, body.title,
                                      body.duration_seconds, body.position)

    @api("POST", "/api/v1/courses/<course_id>/enrollments", status=201)
    def enroll(self, request, course_id):
        schemas.parse_json_body(request, schemas.Strict)
        return self.courses.enroll(actor(self.caller(request)), course_id)

    @api("GET", "/api/v1/courses/<course_id>/enrollments")
    def list_enrollments(self, request, course_id):
        limit, offset = schemas.page_params(request)
        return as_page(self.courses.list_enrollments(actor(self.caller(request)), course_id, limit, offset))

    @api("POST", "/api/v1/courses/<course_id>/reviews", status=201)
    def add_review(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.NewReview)
        return self.courses.add_review(actor(self.caller(request)), course_id, body.rating, body.comment)

    @api("GET", "/api/v1/courses/<course_id>/reviews")
    def list_reviews(self, request, course_id):
        limit, offset = schemas.page_params(request)
        return as_page(self.courses.list_reviews(actor(self.optional_caller(request)), course_id, limit, offset))

    # -- socket: rooms and chat -----------------------------------------------------

    @on_socket("join_course", reply="joined_course")
    def join_course(self, client, data):
        course_id = schemas.validate(data, schemas.CourseRef).course_id
        answer = rooms.require_member(self.membership(client.user_id, course_id=course_id), "course")
        self.sockets.enter_room(client.sid, rooms.course_room(answer["course_id"]))
        if answer["relation"] == "instructor":
            self.sockets.enter_room(client.sid, rooms.instructor_room(answer["course_id"]))
        return {"course_id": answer["course_id"], "status": "Joined successfully"}

    @on_socket("leave_course", reply="left_course")
    def leave_course(self, client, data):
        course_id = schemas.validate(data, schemas.CourseRef).course_id
        self.sockets.leave_room(client.sid, rooms.course_room(course_id))
        self.sockets.leave_room(client.sid, rooms.instructor_room(course_id))
        return {"course_id": course_id, "status": "Left successfully"}

    @on_socket("join_video", reply="joined_video")
    def join_video(self, client, data):
        video_id = schemas.validate(data, schemas.VideoRef).video_id
        answer = rooms.require_member(self.membership(client.user_id, video_id=video_id), "video")
        room = rooms.video_room(answer["video_id"])
        # in the room before reading history: a message sent meanwhile is then seen live,
        # perhaps in the history too (same ``id``), rather than in neither
        self.sockets.enter_room(client.sid, room)
        try:
            recent = self.chat.recent_messages(answer["video_id"])
        except PlatformError:
            self.sockets.leave_room(client.sid, room)
            raise
        self.sockets.emit("user_joined_video", self._presence(client, answer), to=room, skip_sid=client.sid)
        return {"video_id": answer["video_id"], "course_id": answer["course_id"], "status": "Joined successfully",
                "recent_messages": recent}

    @on_socket("leave_video", reply="left_video")
    def leave_video(self, client, data):
        video_id = schemas.validate(data, schemas.VideoRef).video_id
        room = rooms.video_room(video_id)
        if room in self.sockets.rooms(client.sid):
            self.sockets.leave_room(client.sid, room)
            answer = self.membership(client.user_id, video_id=video_id)
            self.sockets.emit("user_left_video", self._presence(client, answer), to=room)
        return {"video_id": video_id, "status": "Left successfully"}

    @on_socket("disconnect")
    def disconnect(self, client, _data):
        for video_id in rooms.video_ids(client.rooms):
            answer = self.membership(client.user_id, video_id=video_id)
            self.sockets.emit("user_left_video", self._presence(client, answer), to=rooms.video_room(video_id),
                              skip_sid=client.sid)

    @on_socket("send_chat_message")
    def send_chat_message(self, client, data):
        chat = schemas.validate(data, schemas.ChatMessage)
        room = rooms.video_room(chat.video_id)
        if room not in self.sockets.rooms(client.sid):
            raise Forbidden("join the video room before chatting in it")
        message = chat.message.strip()
        if not 1 <= len(message) <= MAX_CHAT_MESSAGE:
            raise ValidationFailed(f"message: must be 1 to {MAX_CHAT_MESSAGE} characters after trimming", "message")
        if not self.limits.allow(CHAT_RATE, "chat", client.user_id):
            raise RateLimited("too many chat messages: at most 20 in 10 seconds")
        answer = self.membership(client.user_id, video_id=chat.video_id)
        muted_until = self.chat_mutes.muted_until(answer.get("course_id"), client.user_id)
        if muted_until is not None:
            raise Muted("you are muted in this course's chat", iso(muted_until))
        payload = {
            # made here, not by the database: the room sees it at once, and it is the key the
            # chat service stores by (a UUIDv7: unique, and ordered by time as a string)
            "id": str(uuid6.uuid7()),
            "user_id": client.user_id, "user_email": client.email, "message": message,
            "timestamp": iso(utcnow()), "client_timestamp": chat.timestamp,
            "video_id": chat.video_id, "course_id": answer.get("course_id"),
        }
        self.sockets.emit("new_chat_message", payload, to=room)
        # acknowledged once the broker holds it for the chat service (see ChatMessages)
        self.chat_messages(payload)
        return payload

    @staticmethod
    def _presence(client, answer):
        return {"user_id": client.user_id, "user_email": client.email,
                "video_id": answer.get("video_id"), "course_id": answer.get("course_id")}

    # -- room broadcasts from domain events (one door replica handles each) -------------

    @event_handler(*events.ENROLLMENT_CREATED, handler_type=SERVICE_POOL)
    def on_enrollment_created(self, event):
        if self.handled.first_time(event["event_id"]):
            course_id = event["course_id"]
            self.sockets.emit("new_enrollment", {
                "user_id": event["user_id"], "user_email": event["user_email"],
                "message": f"{event['user_email']} enrolled in the course",
                "course_id": course_id, "enrolled_at": event["enrolled_at"],
            }, to=[rooms.course_room(course_id), rooms.instructor_room(course_id)])

    @event_handler(*events.REVIEW_CREATED, handler_type=SERVICE_POOL)
    def on_review_created(self, event):
        if self.handled.first_time(event["event_id"]):
            self.sockets.emit("new_review", {
                "user_email": event["user_email"], "rating": event["rating"], "comment": event["comment"],
                "course_id": event["course_id"], "user_id": event["user_id"],
                "average_rating": event["average_rating"], "review_count": event["review_count"],
            }, to=rooms.course_room(event["course_id"]))

    @event_handler(*events.COURSE_UPDATED, handler_type=SERVICE_POOL)
    def on_course_updated(self, event):
        if self.handled.first_time(event["event_id"]):
            self.sockets.emit("course_updated", {
                "course_id": event["course_id"], "title": event["title"], "description": event["description"],
                "published": event["published"], "changed": event["changed"],
            }, to=rooms.course_room(event["course_id"]))
