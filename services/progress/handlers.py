"""The progress use cases: merge reports into storage, and read progress back. No Nameko here.

``courses`` is the courses service (an RPC client in production): progress never reads
courses' tables, it asks who may see what and which videos a course has.
``actor`` is the caller as the door verified it (a ``kernel.identity.Identity``).
"""
import logging
import uuid

from services.kernel import events
from services.kernel.clock import iso, utcnow
from services.kernel.errors import Forbidden, NotFound, ValidationFailed
from services.progress import rules, store

log = logging.getLogger(__name__)


def record_reports(uow, raw_reports):
    """Apply one batch of door reports in one transaction; returns how many rows changed.

    Records one ``progress_recorded`` listing every changed row (published after the commit).
    A malformed report is skipped, not raised: the batch is redelivered on errors, and a
    report that can never be stored must not hold back the good ones beside it.
    """
    reports = []
    for data in raw_reports if isinstance(raw_reports, list) else []:
        try:
            reports.append(rules.parse_report(data))
        except ValidationFailed as exc:
            log.warning("skipping a malformed progress report (%s): %r", exc, data)
    changed = store.record(uow.session, rules.merge_all(reports), utcnow())
    if changed:
        uow.record(events.PROGRESS_RECORDED.event_type, {"event_id": str(uuid.uuid4()), "records": [{
            "user_id": row["user_id"], "video_id": row["video_id"],
            "course_id": row["course_id"], "watched_seconds": row["watched_seconds"],
            "last_position": row["last_position"], "percent_complete": row["percent_complete"],
            "completed": row["completed"], "updated_at": iso(row["updated_at"]),
        } for row in changed]})
    uow.commit()
    return len(changed)


def video_view(video, row):
    """A video of the course with the student's progress in it (zeros before the first report)."""
    return {
        "video_id": video["id"], "title": video["title"], "position": video["position"],
        "duration_seconds": video["duration_seconds"],
        "watched_seconds": row.watched_seconds if row else 0.0,
        "last_position": row.last_position if row else 0.0,
        "percent_complete": row.percent_complete if row else 0.0,
        "completed": bool(row.completed) if row else False,
        "updated_at": iso(row.updated_at) if row else None,
    }


def student_view(course, user_id, rows):
    """One student's progress in a course: every video, and the course percent."""
    by_video = {row.video_id: row for row in rows if row.user_id == user_id}
    videos = [video_view(video, by_video.get(video["id"])) for video in course["videos"]]
    completed = sum(1 for video in videos if video["completed"])
    return {
        "user_id": user_id, "course_id": course["id"],
        "course_percent_complete": rules.course_percent(completed, len(videos)),
        "completed_videos": completed, "video_count": len(videos), "videos": videos,
    }


def course_progress(uow, courses, actor, course_id):
    """An enrolled student's own progress in a course (resume positions included)."""
    answer = courses.membership(actor.user_id, course_id=course_id)
    if not answer.get("exists"):
        raise NotFound("course not found")
    if answer["relation"] != "student":
        raise Forbidden("only students enrolled in this course have progress in it")
    course = courses.get_course(actor, answer["course_id"])
    rows = store.progress_rows(uow.session, course["id"], [actor.user_id])
    return student_view(course, actor.user_id, rows)


def students_progress(uow, courses, actor, course_id, limit, offset):
    """Every enrolled student's progress, a page at a time (the course's instructor only).

    The page is a page of enrollments (courses says who may list them), so students who
    have not started yet are listed too, with zeros.
    """
    enrollments = courses.list_enrollments(actor, course_id, limit, offset)
    course = courses.get_course(actor, course_id)
    students = enrollments["items"]
    rows = store.progress_rows(uow.session, course["id"], [s["user_id"] for s in students])
    items = [{"email": s["email"], "enrolled_at": s["enrolled_at"]} | student_view(course, s["user_id"], rows)
             for s in students]
    return {"items": items, "total": enrollments["total"], "limit": limit, "offset": offset}
