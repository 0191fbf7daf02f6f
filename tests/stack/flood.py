"""A registration flood, as an attacker's laptop sends it: its own process, many threads.

    python -m tests.stack.flood URL --seconds 8 --concurrency 16 [--source 127.0.0.3] [--forwarded random]

SIGTERM ends it early; SIGSTOP / SIGCONT pause and resume it.
Each thread registers new accounts back to back. ``--source`` sends from that local
address (any 127.x.y.z works on Linux), ``--forwarded random`` adds a made-up
``X-Forwarded-For`` to every request. It prints one JSON line the first time each status
is seen (``{"first": "429", "after": 0.41}``), and once every thread has had it
(``{"first": "429 to all", ...}``: from then on nothing the flood sent is let through),
and one line with the totals at the end (``{"statuses": {"201": 20, "429": 931},
"retry_after": {"429": ["42"]}}``). Run by tests/stack/test_abuse.py.
"""
import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter

import requests
from requests.adapters import HTTPAdapter


class FromAddress(HTTPAdapter):
    """Connections from a chosen local address."""

    def __init__(self, source_ip, **kwargs):
        self.source_ip = source_ip
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source_ip=None):
    session = requests.Session()
    if source_ip:
        session.mount("http://", FromAddress(source_ip))
    return session


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--source")
    parser.add_argument("--forwarded", choices=["random"])
    args = parser.parse_args(argv)
    # an attacker's laptop spends its own CPU, not the platform's: on a test machine the
    # flood only yields the cores it shares with the platform, it still sends all it can
    os.nice(19)

    statuses, retry_after, lock = Counter(), {}, threading.Lock()
    started = time.monotonic()
    stop_at = started + args.seconds
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())  # ends early, totals still printed

    threads_refused = Counter()  # status -> how many threads have had it at least once

    def flood():
        session = session_from(args.source)
        seen = set()
        while time.monotonic() < stop_at and not stopping.is_set():
            headers = {}
            if args.forwarded:
                headers["X-Forwarded-For"] = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
            body = {"email": f"flood-{uuid.uuid4().hex[:12]}@example.com", "password": "flood password"}
            try:
                status = session.post(args.url + "/api/v1/auth/register", json=body, headers=headers,
                                      timeout=15)
                code, retry = str(status.status_code), status.headers.get("Retry-After")
            except requests.RequestException as exc:
                code, retry = type(exc).__name__, None
            with lock:
                statuses[code] += 1
                if retry is not None:
                    retry_after.setdefault(code, set()).add(retry)
                if statuses[code] == 1:
                    print(json.dumps({"first": code, "after": round(time.monotonic() - started, 3)}), flush=True)
                if code not in seen:
                    seen.add(code)
                    threads_refused[code] += 1
                    if threads_refused[code] == args.concurrency:
                        # each thread's next request was sent after this answer: none in flight is let through
                        print(json.dumps({"first": f"{code} to all", "after": round(time.monotonic() - started, 3)}),
                              flush=True)

    threads = [threading.Thread(target=flood) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.1)  # short waits: SIGTERM is handled in this thread, between them
    print(json.dumps({"statuses": statuses, "retry_after": {k: sorted(v) for k, v in retry_after.items()}}),
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
