"""Progress rules, free of Nameko and SQL: what a report is, how reports merge, completion.

Everything here is monotonic on purpose. Reports arrive in batches, possibly late, out
of order or twice (at-least-once delivery, several door replicas), so the stored state
is a merge that only moves forward: the furthest position and the percent are maxima,
the resume position is the one reported last (by the door's clock), and a video once
completed stays completed. ``store.record`` applies exactly this merge in SQL.
"""
import math
from dataclasses import dataclass

from services.kernel.errors import ValidationFailed

COMPLETION_PERCENT = 90.0
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class Report:
    """The latest a door knows about one student in one video."""

    user_id: str
    video_id: str
    course_id: str
    progress: float  # percent 0..100, the highest seen
    furthest_position: float  # seconds, the highest seen
    last_position: float  # seconds, the latest seen (where to resume)
    reported_at: float  # epoch seconds on the door when last_position was seen

    @property
    def key(self):
        return self.user_id, self.video_id


def _identifier(data, field):
    value = data.get(field)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise ValidationFailed(f"{field}: must be an id", field)
    return value


def _number(data, field, low, high=math.inf):
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValidationFailed(f"{field}: must be a number from {low} to {high}", field)
    return float(value)


def parse_report(data):
    """A :class:`Report` from its JSON form (see ``events.PROGRESS_REPORTED``), or ValidationFailed."""
    if not isinstance(data, dict):
        raise ValidationFailed("report: must be an object")
    furthest = _number(data, "furthest_position", 0)
    last = _number(data, "last_position", 0)
    return Report(
        user_id=_identifier(data, "user_id"), video_id=_identifier(data, "video_id"),
        course_id=_identifier(data, "course_id"), progress=_number(data, "progress", 0, 100),
        # the furthest position is at least where the student is now
        furthest_position=max(furthest, last), last_position=last,
        reported_at=_number(data, "reported_at", 0),
    )


def is_later(report, than):
    """Whether ``report``'s position supersedes ``than``'s: later, or (a tie) further."""
    return (report.reported_at, report.last_position) > (than.reported_at, than.last_position)


def merge(held, report):
    """One report that says everything both say. Commutative, associative, idempotent."""
    latest = report if is_later(report, held) else held
    return Report(
        user_id=held.user_id, video_id=held.video_id, course_id=held.course_id,
        progress=max(held.progress, report.progress),
        furthest_position=max(held.furthest_position, report.furthest_position),
        last_position=latest.last_position, reported_at=latest.reported_at,
    )


def merge_all(reports):
    """At most one report per (student, video), each the merge of all given for it."""
    merged = {}
    for report in reports:
        held = merged.get(report.key)
        merged[report.key] = report if held is None else merge(held, report)
    return list(merged.values())


def is_completed(percent):
    return percent >= COMPLETION_PERCENT


def course_percent(completed_videos, video_count):
    """Completed videos over the course's videos, as a percent; 0 for a course without videos."""
    if not video_count:
        return 0.0
    return round(100.0 * completed_videos / video_count, 2)
