"""The door's CPU per socket event, in one process: ``.venv/bin/python -m bench.socket_events``.

Runs the door's Nameko container (``RealtimeService`` with the request log and telemetry the
runner attaches, JSON log lines to a file) in this process, on a RabbitMQ vhost of its own and
with no other service; registers ``--students`` connections whose course membership is
already cached (as after their first report), then hands ``--events`` ``video_progress``
events, round robin over the students, to the socket dispatch exactly as the transport does
(``SocketDispatch.on_event``), and reads this process's CPU time around them. The door's
background work the events cause (live ``student_progress`` emits into the room log, the
progress flushes) runs meanwhile and is counted; Engine.IO framing is not, so this isolates
what changes with the socket event's worker (``docs/benchmarks.md``). Prints µs per event for
each of ``--rounds`` rounds. Speed is measured here, never asserted.
"""
import warnings

warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated", category=Warning)

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

from nameko.containers import ServiceContainer  # noqa: E402

from services.kernel import logs, telemetry  # noqa: E402
from services.kernel.config import load_config  # noqa: E402
from services.kernel.identity import Identity  # noqa: E402
from services.realtime.dependencies import MembershipCache  # noqa: E402
from services.realtime.door import Door  # noqa: E402
from services.realtime.service import RealtimeService  # noqa: E402
from services.stack import ensure_dev_keys  # noqa: E402
from tests.support.stack import free_ports, own_vhost  # noqa: E402


def door_container(amqp_uri, public_key, log_file):
    config = load_config({"AMQP_URI": amqp_uri, "JWT_PUBLIC_KEY_FILE": str(public_key),
                          "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_ports()}",
                          # the per-connection event budget is checked, never reached
                          "SOCKET_EVENT_RATE": "100000000/10 seconds"}, service="realtime")
    logs.configure("realtime", "INFO", stream=log_file)
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)  # as the runner sets it
    RealtimeService.request_log = logs.RequestLog()
    telemetry.configure_tracing("realtime", config)
    RealtimeService.telemetry = telemetry.Telemetry()
    return ServiceContainer(RealtimeService, config)


def measure(container, students, events, rounds):
    door = next(e for e in container.extensions if isinstance(e, Door))
    deadline = time.monotonic() + 60
    while not door.ready and time.monotonic() < deadline:
        eventlet.sleep(0.1)
    memberships = next(d for d in container.dependencies if isinstance(d, MembershipCache)).memberships
    course_id, video_id = str(uuid.uuid4()), str(uuid.uuid4())
    sids = []
    for n in range(students):
        identity = Identity(str(uuid.uuid4()), f"student{n}@example.com", "student", expires_at=int(time.time()) + 3600)
        sid = f"bench-{n}"
        door.registry.accept(sid, identity)
        memberships.lookup(identity.user_id, lambda: {"exists": True, "relation": "student", "course_id": course_id,
                                                      "video_id": video_id, "duration_seconds": 600},
                           video_id=video_id)
        sids.append(sid)
    # the floor: as many hub turns with no event (what the loop costs without the door's work)
    started_cpu = time.process_time()
    for _ in range(events):
        eventlet.sleep(0)
    floor = time.process_time() - started_cpu
    results = []
    for _ in range(rounds):
        eventlet.sleep(0.5)  # what the previous round left (flushes, room log appends) settles first
        started_cpu = time.process_time()
        for n in range(events):
            answer = door.dispatch.on_event("video_progress", sids[n % students], {
                "video_id": video_id, "course_id": course_id, "progress": 50, "timestamp": n % 600})
            assert answer["video_id"] == video_id, answer
            eventlet.sleep(0)  # the hub runs between events, as between reads from the network
        eventlet.sleep(0.5)  # and the emits and the flush the events caused are counted
        results.append(time.process_time() - started_cpu)
    return floor, results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.socket_events", description=__doc__.splitlines()[0])
    # one by default: every student's live emits (four a second) go through the room log, whose
    # per-message cost at this pace (a hub turn per event) would swamp the event's own
    parser.add_argument("--students", type=int, default=1)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--without-request-log", action="store_true",
                        help="what the one 'handled' line per worker costs: measured without it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-socket-events-") as var_dir, \
            own_vhost(prefix="bench") as amqp_uri, open(Path(var_dir) / "door.log", "w") as log_file:
        keys = ensure_dev_keys(Path(var_dir) / "keys")
        container = door_container(amqp_uri, keys[1], log_file)
        if args.without_request_log:
            logs.request_log.setLevel(logging.WARNING)
        container.start()
        try:
            floor, results = measure(container, args.students, args.events, args.rounds)
        finally:
            container.stop()
    per_event = [cpu / args.events * 1e6 for cpu in results]
    print(f"{args.events} video_progress events over {args.students} connection(s), {args.rounds} rounds"
          f"{' (no request log lines)' if args.without_request_log else ''}: door CPU per event "
          f"{' '.join(f'{us:.0f}' for us in per_event)} µs (median {statistics.median(per_event):.0f} µs; "
          f"a hub turn with no event: {floor / args.events * 1e6:.0f} µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
