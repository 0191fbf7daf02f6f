"""Progress under a steady load from real Socket.IO clients: ``.venv/bin/python -m bench.progress_load``.

Starts its own platform (``tests/support/``: ``running_stack`` in a vhost of its own),
then 20 students each report 10 times a second for 5 seconds while the instructor's
dashboard counts what it receives. Prints the numbers; checks only that the final values
arrived (speed is measured here, never asserted). ``make bench`` measures the same path
at scale with the raw load generator; this one uses the python-socketio client a
student's browser stands for, in about half a minute.
"""
import sys
import tempfile
import time
from pathlib import Path

from bench.run import stack_settings
from services.stack import ensure_dev_keys
from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient
from tests.support.stack import own_vhost, running_stack

STUDENTS, RATE_PER_SECOND, SECONDS = 20, 10, 5


def connect(url, session):
    client = SocketClient(url).connect(auth={"token": session["access_token"]})
    client.wait_for("connected")
    return client


def progress_under_load(url):
    campus = Campus(Api(url))
    course, instructor = campus.course(videos=1)
    video_id = course["videos"][0]["id"]
    teacher = connect(url, instructor)
    teacher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    students = [connect(url, campus.enrolled_student(course)) for _ in range(STUDENTS)]
    try:
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
        if len(final_updates()) < STUDENTS:
            print(f"only {len(final_updates())} of {STUDENTS} final values arrived", file=sys.stderr)
            return 1

        live, stored = teacher.events("student_progress"), teacher.events("progress_update")
        transactions = len({u["updated_at"] for u in stored})  # one clock reading per batch transaction
        print(f"{STUDENTS * ticks} updates from {STUDENTS} students over {sent_at - started:.1f}s "
              f"({STUDENTS * RATE_PER_SECOND}/s)\n"
              f"  student_progress received: {len(live)} ({len(live) / STUDENTS / SECONDS:.1f}/s per student)\n"
              f"  progress_update received:  {len(stored)} from {transactions} write transactions "
              f"({transactions / SECONDS:.1f}/s for all students together)\n"
              f"  last update sent -> every final value stored and announced: {settled * 1000:.0f} ms")
        return 0
    finally:
        for client in [teacher, *students]:
            client.close()


def main():
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as var_dir, own_vhost(prefix="bench") as amqp_uri:
        keys = ensure_dev_keys(Path(var_dir) / "keys")
        with running_stack(amqp_uri, keys, Path(var_dir) / "stack", settings=stack_settings()) as stack:
            return progress_under_load(stack.url)


if __name__ == "__main__":
    sys.exit(main())
