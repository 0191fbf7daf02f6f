"""Courses: the course rows of API.md, the course/video rooms and chat (room relays: relays.py)."""
import uuid6

from services.kernel.clock import iso, utcnow
from services.kernel.errors import Forbidden, Muted, PlatformError, RateLimited, ValidationFailed
from services.realtime import answers, presence, rooms, schemas
from services.realtime.entrypoints import ANYONE, INSTRUCTOR, STUDENT, Page, api, on_socket
from services.realtime.gateway import Gateway

MAX_CHAT_MESSAGE = 2000
CHAT_RATE = "20/10 seconds"


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

    @api("POST", "/api/v1/courses", status=201, summary="Create a course (an unpublished draft)",
         callers=INSTRUCTOR, answer=answers.Course, body=schemas.NewCourse, errors=(400, 401, 403, 422),
         tag="courses")
    def create_course(self, request):
        body = schemas.parse_json_body(request, schemas.NewCourse)
        return self.courses.create_course(self.caller(request), body.title, body.description)

    @api("GET", "/api/v1/courses", summary="Published courses and the caller's own", callers=ANYONE,
         answer=answers.Course, listing=True, errors=(401, 422), tag="courses")
    def list_courses(self, request):
        limit, offset = schemas.page_params(request)
        return as_page(self.courses.list_courses(self.optional_caller(request), limit, offset))

    @api("GET", "/api/v1/courses/<course_id>", summary="One course with its videos in order", callers=ANYONE,
         answer=answers.Course, errors=(401, 404), tag="courses",
         description="A draft is visible to its instructor only (404 to others).")
    def get_course(self, request, course_id):
        return self.courses.get_course(self.optional_caller(request), course_id)

    @api("PATCH", "/api/v1/courses/<course_id>", summary="Change a course; room event course_updated",
         callers=INSTRUCTOR, answer=answers.Course, body=schemas.CourseChanges, errors=(400, 401, 403, 404, 422),
         tag="courses")
    def update_course(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.CourseChanges)
        changes = body.model_dump(exclude_unset=True)
        for field, value in changes.items():
            if value is None:
                raise ValidationFailed(f"{field}: must not be null", field)
        return self.courses.update_course(self.caller(request), course_id, changes)

    @api("POST", "/api/v1/courses/<course_id>/videos", status=201, summary="Add a video", callers=INSTRUCTOR,
         answer=answers.Video, body=schemas.NewVideo, errors=(400, 401, 403, 404, 422), tag="courses",
         description="Appended when position is omitted; a given position shifts later videos down.")
    def add_video(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.NewVideo)
        return self.courses.add_video(self.caller(request), course_id, body.title,
                                      body.duration_seconds, body.position)

    @api("POST", "/api/v1/courses/<course_id>/enrollments", status=201, summary="Enroll; room event new_enrollment",
         callers=STUDENT, answer=answers.Enrollment, errors=(401, 403, 404, 409), tag="courses")
    def enroll(self, request, course_id):
        schemas.parse_json_body(request, schemas.Strict)
        return self.courses.enroll(self.caller(request), course_id)

    @api("GET", "/api/v1/courses/<course_id>/enrollments", summary="The course's students", callers=INSTRUCTOR,
         answer=answers.Enrollment, listing=True, errors=(401, 403, 404, 422), tag="courses")
    def list_enrollments(self, request, course_id):
        limit, offset = schemas.page_params(request)
        return as_page(self.courses.list_enrollments(self.caller(request), course_id, limit, offset))

    @api("POST", "/api/v1/courses/<course_id>/reviews", status=201,
         summary="Review a course once; room event new_review", callers=STUDENT, answer=answers.Review,
         body=schemas.NewReview, errors=(400, 401, 403, 404, 409, 422), tag="courses")
    def add_review(self, request, course_id):
        body = schemas.parse_json_body(request, schemas.NewReview)
        return self.courses.add_review(self.caller(request), course_id, body.rating, body.comment)

    @api("GET", "/api/v1/courses/<course_id>/reviews", summary="Reviews, newest first", callers=ANYONE,
         answer=answers.Review, listing=True, errors=(401, 404, 422), tag="courses")
    def list_reviews(self, request, course_id):
        limit, offset = schemas.page_params(request)
        return as_page(self.courses.list_reviews(self.optional_caller(request), course_id, limit, offset))

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
        # counted among the watchers (and announced to the room, if this is the user's first
        # connection in it) once it is sure to stay: presence.py
        self.sockets.attend(client.sid, room, presence.in_video(client.identity, answer))
        listed, count = self.sockets.watching(room, presence.MAX_WATCHING_LISTED)
        return {"video_id": answer["video_id"], "course_id": answer["course_id"], "status": "Joined successfully",
                "recent_messages": recent, **presence.watching(listed, count, presence.who(client.identity))}

    @on_socket("leave_video", reply="left_video")
    def leave_video(self, client, data):
        video_id = schemas.validate(data, schemas.VideoRef).video_id
        # user_left_video goes out (presence.py) if it was this user's last connection in the room
        self.sockets.leave_room(client.sid, rooms.video_room(video_id))
        return {"video_id": video_id, "status": "Left successfully"}

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
