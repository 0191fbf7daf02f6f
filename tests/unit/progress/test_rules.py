"""The progress rules, plain: parsing a report, the monotonic merge, completion, course percent."""
import itertools
import random

import pytest

from services.kernel.errors import ValidationFailed
from services.progress import rules
from services.progress.rules import Report


def report(progress=10.0, furthest=60.0, last=None, at=1.0, user="u1", video="v1"):
    return Report(user_id=user, video_id=video, course_id="c1", progress=progress, furthest_position=furthest,
                  last_position=furthest if last is None else last, reported_at=at)


def as_message(r):
    return {"user_id": r.user_id, "video_id": r.video_id, "course_id": r.course_id, "progress": r.progress,
            "furthest_position": r.furthest_position, "last_position": r.last_position, "reported_at": r.reported_at}


def test_parse_report_round_trips_and_counts_the_current_position_as_reached():
    original = report(progress=42, furthest=100, last=80, at=1700000000.5)
    assert rules.parse_report(as_message(original)) == original
    # a report whose furthest is behind its current position: the position was reached
    assert rules.parse_report(as_message(report(furthest=10, last=30))).furthest_position == 30


@pytest.mark.parametrize("field, value", [
    ("progress", 100.5), ("progress", -1), ("progress", "50"), ("progress", True), ("progress", float("nan")),
    ("last_position", -0.1), ("furthest_position", float("inf")), ("reported_at", None),
    ("user_id", ""), ("video_id", 7), ("course_id", "x" * 65),
])
def test_parse_report_refuses_what_cannot_be_stored(field, value):
    message = as_message(report()) | {field: value}
    with pytest.raises(ValidationFailed) as raised:
        rules.parse_report(message)
    assert raised.value.field == field


def test_merge_keeps_maxima_and_the_latest_position():
    merged = rules.merge(report(progress=80, furthest=480, last=480, at=1.0),
                         report(progress=30, furthest=180, last=120, at=2.0))
    assert (merged.progress, merged.furthest_position) == (80, 480)
    # the student went back to 120 s after reaching 480 s: resume where they are now
    assert (merged.last_position, merged.reported_at) == (120, 2.0)


def test_merge_is_order_free_and_idempotent():
    rng = random.Random(7)
    sample = [report(progress=rng.uniform(0, 100), furthest=rng.uniform(0, 600), last=rng.uniform(0, 600),
                     at=rng.choice([1.0, 2.0, 3.0])) for _ in range(6)]
    results = set()
    for order in itertools.permutations(sample):
        merged = order[0]
        for r in order[1:] + order[:2]:  # the first two again: redelivery changes nothing
            merged = rules.merge(merged, r)
        results.add(merged)
    assert len(results) == 1


def test_merge_all_keeps_one_report_per_student_and_video():
    merged = rules.merge_all([report(progress=10), report(progress=50, video="v2"), report(progress=30)])
    assert sorted((r.video_id, r.progress) for r in merged) == [("v1", 30), ("v2", 50)]


def test_completion_starts_at_90_percent():
    assert not rules.is_completed(89.99)
    assert rules.is_completed(90) and rules.is_completed(100)


def test_course_percent_is_completed_videos_over_videos():
    assert rules.course_percent(1, 3) == 33.33
    assert rules.course_percent(3, 3) == 100.0
    assert rules.course_percent(0, 4) == 0.0
    assert rules.course_percent(0, 0) == 0.0  # a course without videos yet
