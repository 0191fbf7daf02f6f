"""Course rules, free of Nameko and SQL: who may do what, and what valid input is."""
from services.kernel.checks import parse_id, text, whole_number  # noqa: F401  (handlers say rules.parse_id)
from services.kernel.errors import Forbidden, ValidationFailed

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_COMMENT = 5000
MAX_DURATION_SECONDS = 24 * 3600


def title(value):
    return text(value, "title", MAX_TITLE)


def description(value):
    return text(value, "description", MAX_DESCRIPTION, required=False)


def comment(value):
    return text(value, "comment", MAX_COMMENT, required=False)


def published(value):
    if not isinstance(value, bool):
        raise ValidationFailed("published: must be true or false", "published")
    return value


def rating(value):
    return whole_number(value, "rating", 1, 5)


def duration(value):
    return whole_number(value, "duration_seconds", 1, MAX_DURATION_SECONDS)


def position(value, video_count):
    """Where a new video goes: 1-based; omitted means after the last one."""
    if value is None:
        return video_count + 1
    return whole_number(value, "position", 1, video_count + 1)


def require_instructor(actor):
    if actor is None or not actor.is_instructor:
        raise Forbidden("only instructors can create courses")


def require_owner(course, actor):
    if actor is None or course.instructor_id != actor.user_id:
        raise Forbidden("only the course's instructor can do this")


def can_see(course, actor):
    return course.published or (actor is not None and course.instructor_id == actor.user_id)


def require_student(actor, action):
    if actor is None or actor.is_instructor:
        raise Forbidden(f"only students can {action}")


def average(rating_sum, count):
    """The exact mean, rounded for display; None before the first review."""
    return round(rating_sum / count, 2) if count else None


def relation(course, user_id, enrolled):
    if course.instructor_id == user_id:
        return "instructor"
    return "student" if enrolled else "none"
