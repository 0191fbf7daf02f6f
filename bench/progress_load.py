"""Progress under a steady load from real Socket.IO clients: ``.venv/bin/python -m bench.progress_load``.

Starts its own platform (``tests/support/``: ``running_stack`` in a vhost of its own),
then 20 students each report 10 times a second for 5 seconds while the instructor's
dashboard counts what it receives (``--students``, ``--rate``, ``--seconds`` scale it).
Prints the numbers, among them the door's CPU per update: its CPU seconds over the sending
and settling, less what it spends idle over as long, read from ``/proc`` (at this rate the
room log's per-message work weighs more than at scale; ``bench/socket_events.py`` isolates
the socket event itself). ``BENCH_PROFILE=1`` samples the door meanwhile
(``bench/results/profiles/progress_load.txt``). Checks only that the final values arrived
(speed is measured here, never asserted). ``make bench`` measures the same path at scale
with the raw load generator; this one uses the python-socketio client a student's browser
stands for, in about half a minute.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.profile import profiled
from bench.run import cpu_seconds, stack_settings
from services.stack import ensure_dev_keys
from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient
from tests.support.stack import own_vhost, running_stack

STUDENTS, RATE_PER_SECOND, SECONDS = 20, 10, 5


def connect(url, session):
    client = SocketClient(url).connect(auth={"token": session["access_token"]})
    client.wait_for("connected")
    return client


def progress_under_load(url, door_pid, students=STUDENTS, rate=RATE_PER_SECOND, seconds=SECONDS):
    campus = Campus(Api(url))
    course, instructor = campus.course(videos=1)
    video_id = course["videos"][0]["id"]
    teacher = connect(url, instructor)
    teacher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    clients = [connect(url, campus.enrolled_student(course)) for _ in range(students)]
    try:
        ticks = rate * seconds
        idle = cpu_seconds(door_pid)  # what the door spends doing nothing over as long as the run
        time.sleep(seconds + 1)
        idle = (cpu_seconds(door_pid) - idle) / (seconds + 1)
        door_cpu = cpu_seconds(door_pid)
        with profiled(door_pid, "progress_load"):
            started = time.monotonic()
            for tick in range(1, ticks + 1):
                report = {"video_id": video_id, "course_id": course["id"], "progress": 100 * tick / ticks,
                          "timestamp": 600 * tick / ticks}
                for client in clients:
                    client.sio.emit("video_progress", report)
                time.sleep(max(0.0, started + tick / rate - time.monotonic()))
            sent_at = time.monotonic()

            def final_updates():
                return {u["user_id"] for u in teacher.events("progress_update") if u["percent_complete"] == 100}

            while len(final_updates()) < students and time.monotonic() - sent_at < 30:
                time.sleep(0.05)
        settled = time.monotonic() - sent_at
        door_cpu = cpu_seconds(door_pid) - door_cpu - idle * (time.monotonic() - started)
        if len(final_updates()) < students:
            print(f"only {len(final_updates())} of {students} final values arrived", file=sys.stderr)
            return 1

        live, stored = teacher.events("student_progress"), teacher.events("progress_update")
        transactions = len({u["updated_at"] for u in stored})  # one clock reading per batch transaction
        print(f"{students * ticks} updates from {students} students over {sent_at - started:.1f}s "
              f"({students * rate}/s)\n"
              f"  student_progress received: {len(live)} ({len(live) / students / seconds:.1f}/s per student)\n"
              f"  progress_update received:  {len(stored)} from {transactions} write transactions "
              f"({transactions / seconds:.1f}/s for all students together)\n"
              f"  last update sent -> every final value stored and announced: {settled * 1000:.0f} ms\n"
              f"  door CPU per update, idle ({idle * 1000:.1f} ms/s) taken out: "
              f"{door_cpu / (students * ticks) * 1e6:.0f} µs")
        return 0
    finally:
        for client in [teacher, *clients]:
            client.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.progress_load", description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=STUDENTS)
    parser.add_argument("--rate", type=int, default=RATE_PER_SECOND, help="updates a second per student")
    parser.add_argument("--seconds", type=int, default=SECONDS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as var_dir, own_vhost(prefix="bench") as amqp_uri:
        keys = ensure_dev_keys(Path(var_dir) / "keys")
        with running_stack(amqp_uri, keys, Path(var_dir) / "stack", settings=stack_settings()) as stack:
            return progress_under_load(stack.url, stack.processes["realtime"].pid,
                                       args.students, args.rate, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
