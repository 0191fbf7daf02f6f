"""Progress: the ``video_progress`` socket event and the progress rows of API.md.

A report, by socket or by HTTP, takes one path (``accept_progress``): checked against the
video's course, shown at once to the instructor room as ``student_progress`` (throttled
per student and video), and held in the door's buffer, which the ``ProgressReports``
dependency flushes to the progress service as one event per interval. The progress
service stores the batch in one transaction and announces each changed row; a relay
(``relays.py``) turns that into ``progress_update`` for the instructor room.
"""
import time

from services.realtime import answers, reports, rooms, schemas
from services.realtime.entrypoints import INSTRUCTOR, STUDENT, api, on_socket
from services.realtime.gateway import Gateway
from services.realtime.gateway.courses import as_page


class ProgressGateway(Gateway):
    def accept_progress(self, identity, video_id, course_id, progress, timestamp):
        """Check a report, show it live, hold it for storage; returns what was accepted.

        ``self.membership`` is the door's cached membership lookup (``CoursesGateway``).
        """
        answer = self.membership(identity.user_id, video_id=video_id)
        position = reports.check_report(answer, course_id, timestamp)
        course_id, video_id = answer["course_id"], answer["video_id"]
        self.progress_reports.add(reports.Report(
            user_id=identity.user_id, video_id=video_id, course_id=course_id, progress=progress,
            furthest_position=position, last_position=position, reported_at=time.time(),
        ))
        accepted = {"user_id": identity.user_id, "video_id": video_id, "progress": progress,
                    "timestamp": timestamp, "course_id": course_id}
        room = rooms.instructor_room(course_id)
        self.progress_throttle.offer(
            (identity.user_id, video_id), accepted,
            lambda payload: self.sockets.emit("student_progress", payload, to=room))
        return accepted

    # -- socket -------------------------------------------------------------------

    @on_socket("video_progress")
    def video_progress(self, client, data):
        report = schemas.validate(data, schemas.VideoProgress)
        return self.accept_progress(client.identity, report.video_id, report.course_id,
                                    report.progress, report.timestamp)

    # -- HTTP ---------------------------------------------------------------------

    # 202: accepted into the same buffer as the socket event, stored within one flush
    # interval (read it back with GET .../progress)
    @api("POST", "/api/v1/videos/<video_id>/progress", status=202, summary="Report progress without a socket",
         callers=STUDENT, answer=answers.AcceptedProgress, body=schemas.ProgressBody,
         errors=(400, 401, 403, 404, 422, 429), tag="progress",
         description="The same as the socket event video_progress: accepted at once, stored within one flush "
                     "interval (read it back with GET .../progress); stored progress never goes back.")
    def report_progress(self, request, video_id):
        body = schemas.parse_json_body(request, schemas.ProgressBody)
        return self.accept_progress(self.caller(request), video_id, body.course_id, body.progress, body.timestamp)

    @api("GET", "/api/v1/courses/<course_id>/progress", summary="The caller's progress per video", callers=STUDENT,
         answer=answers.CourseProgress, errors=(401, 403, 404), tag="progress")
    def course_progress(self, request, course_id):
        return self.progress.course_progress(self.caller(request), course_id)

    @api("GET", "/api/v1/courses/<course_id>/progress/students", summary="Every student's progress",
         callers=INSTRUCTOR, answer=answers.StudentProgress, listing=True, errors=(401, 403, 404, 422),
         tag="progress")
    def students_progress(self, request, course_id):
        limit, offset = schemas.page_params(request)
        return as_page(self.progress.students_progress(self.caller(request), course_id, limit, offset))
