"""The door's side of progress, plain: the checks, the coalescing buffer, the hand-over."""
import dataclasses

import pytest

from services.kernel.errors import Forbidden, NotFound, ValidationFailed
from services.realtime.reports import Report, ReportBuffer, check_report, hand_over

MEMBER = {"exists": True, "course_id": "c1", "video_id": "v1", "duration_seconds": 600,
          "instructor_id": "t1", "published": True, "relation": "student"}


def report(progress, position, at, user="u1", video="v1", furthest=None):
    return Report(user_id=user, video_id=video, course_id="c1", progress=progress,
                  furthest_position=position if furthest is None else furthest, last_position=position,
                  reported_at=at)


def test_check_report_accepts_an_enrolled_student_and_caps_the_position():
    assert check_report(MEMBER, "c1", 450) == 450
    assert check_report(MEMBER, None, 450) == 450  # HTTP: the course is optional
    assert check_report(MEMBER, "c1", 603) == 600  # within the slack: tolerated, stored as the end


@pytest.mark.parametrize("answer, course_id, timestamp, error", [
    ({"exists": False}, "c1", 1, NotFound),
    (MEMBER, "another-course", 1, NotFound),
    (MEMBER | {"relation": "none"}, "c1", 1, Forbidden),
    (MEMBER | {"relation": "instructor"}, "c1", 1, Forbidden),
    (MEMBER, "c1", 606, ValidationFailed),
])
def test_check_report_refuses(answer, course_id, timestamp, error):
    with pytest.raises(error):
        check_report(answer, course_id, timestamp)


def test_buffer_holds_one_report_per_student_and_video_with_maxima_and_the_latest_position():
    buffer = ReportBuffer()
    for n in range(10):
        buffer.add(report(progress=n * 10, position=n * 60, at=n))
    buffer.add(report(progress=5, position=30, at=10))  # seeking back to the start
    buffer.add(report(progress=50, position=300, at=1, user="u2"))
    assert len(buffer) == 2
    mine = {r.user_id: r for r in buffer.drain()}["u1"]
    assert (mine.progress, mine.furthest_position, mine.last_position, mine.reported_at) == (90, 540, 30, 10)
    assert len(buffer) == 0 and buffer.drain() == []


def test_hand_over_sends_one_message_for_everything_held():
    buffer, sent = ReportBuffer(), []
    for user in ("u1", "u2", "u3"):
        for n in range(10):
            buffer.add(report(progress=n, position=n, at=n, user=user))
    assert hand_over(buffer, sent.append) is True
    assert len(sent) == 1 and len(sent[0]["reports"]) == 3 and sent[0]["event_id"]
    assert sent[0]["reports"][0] == {"user_id": "u1", "video_id": "v1", "course_id": "c1", "progress": 9,
                                     "furthest_position": 9, "last_position": 9, "reported_at": 9}
    assert hand_over(buffer, sent.append) is True and len(sent) == 1  # nothing held: nothing sent


def test_a_failed_hand_over_keeps_the_batch_merged_with_newer_reports():
    buffer, sent = ReportBuffer(), []
    buffer.add(report(progress=80, position=480, at=1))

    def broker_down(message):
        raise ConnectionError("broker down")

    assert hand_over(buffer, broker_down) is False
    buffer.add(report(progress=20, position=120, at=2))  # arrived while the broker was down
    assert hand_over(buffer, sent.append) is True
    [held] = sent[0]["reports"]
    assert (held["progress"], held["furthest_position"], held["last_position"]) == (80, 480, 120)


def test_a_reports_message_is_every_field_of_it():
    report = Report("u1", "v1", "c1", progress=42.5, furthest_position=61.0, last_position=12.5, reported_at=1.5e9)
    assert report.as_message() == dataclasses.asdict(report)
