"""Benchmark, not a test (pytest does not collect ``bench_*``): progress under a steady load.

    .venv/bin/pytest tests/integration/bench_progress.py -s

20 students each report 10 times a second for 5 seconds on the shared test stack; the
instructor's dashboard counts what it receives. Prints the numbers; asserts only that
the final values arrived (speed is measured here, never asserted).
"""
import time

STUDENTS, RATE_PER_SECOND, SECONDS = 20, 10, 5


def test_progress_under_load(api, campus, connect):
    course, instructor = campus.course(videos=1)
    video_id = course["videos"][0]["id"]
    teacher = connect(instructor)
    teacher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    students = [connect(campus.enrolled_student(course)) for _ in range(STUDENTS)]

    ticks = RATE_PER_SECOND * SECONDS
    started = time.monotonic()
    for tick in range(1, ticks + 1):
        for client in students:
            client.sio.emit("video_progress", {"video_id": video_id, "course_id": course["id"],
                                               "progress": 100 * tick / ticks, "timestamp": 600 * tick / ticks})
        time.sleep(max(0.0, started + tick / RATE_PER_SECOND - time.monotonic()))
    sent_at = time.monotonic()

    def final_updates():
        return {u["user_id"] for u in teacher.events("progress_update") if u["percent_complete"] == 100}

    while len(final_updates()) < STUDENTS and time.monotonic() - sent_at < 30:
        time.sleep(0.05)
    settled = time.monotonic() - sent_at
    assert len(final_updates()) == STUDENTS

    live, stored = teacher.events("student_progress"), teacher.events("progress_update")
    transactions = len({u["updated_at"] for u in stored})  # one clock reading per batch transaction
    print(f"\n{STUDENTS * ticks} updates from {STUDENTS} students over {sent_at - started:.1f}s "
          f"({STUDENTS * RATE_PER_SECOND}/s)\n"
          f"  student_progress received: {len(live)} ({len(live) / STUDENTS / SECONDS:.1f}/s per student)\n"
          f"  progress_update received:  {len(stored)} from {transactions} write transactions "
          f"({transactions / SECONDS:.1f}/s for all students together)\n"
          f"  last update sent -> every final value stored and announced: {settled * 1000:.0f} ms")
