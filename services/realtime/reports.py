"""What the door checks in a progress report, and how it holds reports until the next flush.

Plain Python (no Nameko, no sockets): the ``ProgressReports`` dependency wraps a
:class:`ReportBuffer` and flushes it every ``PROGRESS_FLUSH_SECONDS`` as one event.
"""
import logging
import uuid
from dataclasses import dataclass

from services.kernel.errors import Forbidden, NotFound, ValidationFailed
from services.realtime import rooms

log = logging.getLogger(__name__)

# players round durations and report a little past the end; more than this is a bad client
POSITION_SLACK_SECONDS = 5.0


@dataclass(frozen=True)
class Report:
    """One (student, video)'s progress as the door saw it; the shape of ``PROGRESS_REPORTED`` items."""

    user_id: str
    video_id: str
    course_id: str
    progress: float  # percent 0..100: the highest seen since the last flush
    furthest_position: float  # seconds: the highest seen since the last flush
    last_position: float  # seconds: the latest seen
    reported_at: float  # epoch seconds (door clock) when last_position was seen

    @property
    def key(self):
        return self.user_id, self.video_id

    def as_message(self):
        # the fields are plain values: ``dataclasses.asdict`` would deep-copy each of them, for
        # every report of every flush (1.3 % of the door at 2,500 updates/s)
        return {"user_id": self.user_id, "video_id": self.video_id, "course_id": self.course_id,
                "progress": self.progress, "furthest_position": self.furthest_position,
                "last_position": self.last_position, "reported_at": self.reported_at}


def check_report(answer, course_id, timestamp):
    """Refuse a report unless the sender is an enrolled student of the video's course.

    ``answer`` is the courses service's membership answer for (sender, video); a video of
    another course than ``course_id`` is "not found" there. Returns the position to store:
    ``timestamp`` capped at the video's duration (the slack is tolerated, not stored).
    """
    answer = rooms.require_member(answer, "video")
    if course_id is not None and answer["course_id"] != course_id:
        raise NotFound("video not found in this course")
    if answer["relation"] != "student":
        raise Forbidden("only students enrolled in this course report progress")
    duration = float(answer["duration_seconds"])
    if timestamp > duration + POSITION_SLACK_SECONDS:
        raise ValidationFailed(f"timestamp: beyond the video's duration ({duration:g} s)", "timestamp")
    return min(timestamp, duration)


def coalesce(held, report):
    """One report keeping everything storage needs from both: maxima, and the latest position.

    Keeping only the newest report would lose a maximum when a student seeks back
    within one flush interval.
    """
    latest = report if (report.reported_at, report.last_position) >= (held.reported_at, held.last_position) \
        else held
    return Report(
        user_id=held.user_id, video_id=held.video_id, course_id=held.course_id,
        progress=max(held.progress, report.progress),
        furthest_position=max(held.furthest_position, report.furthest_position),
        last_position=latest.last_position, reported_at=latest.reported_at,
    )


class ReportBuffer:
    """The reports of one door process since the last flush, one per (student, video).

    Its size is bounded by the number of students actively watching, not by how often
    they report: a client sending ten updates a second costs one entry.
    """

    def __init__(self):
        self._held = {}

    def __len__(self):
        return len(self._held)

    def add(self, report):
        held = self._held.get(report.key)
        self._held[report.key] = report if held is None else coalesce(held, report)

    def drain(self):
        """Everything held, handed out once (the buffer is empty afterwards)."""
        batch, self._held = list(self._held.values()), {}
        return batch

    def restore(self, batch):
        """Put back a batch that could not be sent, merged with whatever came since."""
        for report in batch:
            self.add(report)


def hand_over(buffer, publish):
    """Send everything ``buffer`` holds as ONE message with ``publish(message)``.

    Returns True when nothing is left unsent. If ``publish`` raises (broker down, no
    queue bound yet), the batch goes back into the buffer, merged with what arrived
    meanwhile, for the next attempt: a report is dropped only by a process that dies.
    """
    batch = buffer.drain()
    if not batch:
        return True
    try:
        publish({"event_id": str(uuid.uuid4()), "reports": [report.as_message() for report in batch]})
        return True
    except Exception as exc:
        log.warning("could not hand over %d progress reports (%s: %s); retrying", len(batch), type(exc).__name__, exc)
        buffer.restore(batch)
        return False
