"""A crowd of stock JavaScript socket.io-client 4.x sockets (tests/js/crowd.mjs) in one
Node process, the room traffic they receive (``ChatStream``, ``Room``), and the arithmetic
that judges what each of them received (``judge``, ``assess``): the harness of the
connection state recovery tests (tests/stack/test_recovery.py, tests/faults).

One process for all of them: 200 Node processes would sink a 2-core machine. Each socket
asks for recovery (``auth: {token, recover: true}``), reconnects by itself with small
delays and joins its rooms on ``connect`` only when the session was not recovered, exactly
as an application using the stock client's connection state recovery would.
"""
import itertools
import json
import queue
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import socketio

from tests.support import forge
from tests.support.api import Api, Campus

SCRIPT = Path(__file__).resolve().parent.parent / "js" / "crowd.mjs"

# fields of one received event as crowd.mjs keeps it
NAME, KEY, OFFSET, ARITY, AT, DATA = range(6)
CHAT = "new_chat_message"  # the numbered room events of a ChatStream


@dataclass
class Member:
    """One socket of the crowd: where it connects, who it is, what it joins when not recovered."""
    id: str
    url: str
    token: str
    joins: list = field(default_factory=list)
    recover: bool = True
    auth: dict = field(default_factory=dict)  # extra CONNECT auth fields (a stolen pid, say)


class Crowd:
    """The Node process; ``lines`` are its connect/disconnect/connect_error/joined reports."""

    def __init__(self):
        self.process = subprocess.Popen(["node", str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1)
        self.lines = []
        self._replies = {}
        self._reply_ids = itertools.count(1)
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            message = json.loads(line)
            if "reply" in message:
                self._replies.setdefault(message["reply"], queue.Queue()).put(message)
            else:
                self.lines.append(message)

    def _check_alive(self):
        """A crowd whose Node process died (its packages not installed, say) fails at once, not
        after a test's whole timeout."""
        if self.process.poll() is not None:
            raise AssertionError(f"crowd.mjs exited with code {self.process.returncode}: see its stderr "
                                 f"(are tests/js's packages installed? make tests/js/node_modules/.package-lock.json)")

    def _send(self, **command):
        self._check_alive()  # (a green write to a dead process's pipe would wait for ever)
        with self._lock:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()

    def _ask(self, timeout=60, **command):
        reply = next(self._reply_ids)
        box = self._replies.setdefault(reply, queue.Queue())
        self._send(reply=reply, **command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # a green-friendly wait (eventlet patches time.sleep)
            try:
                return box.get_nowait()
            except queue.Empty:
                self._check_alive()
                time.sleep(0.02)
        raise AssertionError(f"crowd.mjs did not answer {command.get('cmd')!r} within {timeout}s "
                             f"(exit code {self.process.poll()})")

    def add(self, members, reconnection_delay_ms=100, reconnection_delay_max_ms=1000, reconnection=True):
        self._send(cmd="add", clients=[m.__dict__ for m in members],
                   options={"reconnectionDelay": reconnection_delay_ms,
                            "reconnectionDelayMax": reconnection_delay_max_ms, "reconnection": reconnection})

    def add_joined(self, members, batch=50, timeout=120):
        """Add ``members`` ``batch`` at a time, each batch joined before the next: 200 sockets
        joining at once are 400 membership RPCs in one burst, a load test of their own."""
        for start in range(0, len(members), batch):
            self.add(members[start:start + batch])
            self.wait_joined([m.id for m in members[start:start + batch]], timeout)

    def dump(self):
        """Every socket's record: events, connects, disconnects, errors, joins, pid, offset."""
        return self._ask(cmd="dump")["clients"]

    def tally(self, name, prefix):
        """{member id: distinct ``name`` events received whose key starts with ``prefix``}."""
        return self._ask(cmd="tally", name=name, prefix=prefix)["counts"]

    def wait_tally(self, name, prefix, count, ids, timeout=30):
        """Until each of ``ids`` has ``count`` such events; the tally of the laggards if not."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.tally(name, prefix)
            short = {i: counts.get(i, 0) for i in ids if counts.get(i, 0) < count}
            if not short or time.monotonic() > deadline:
                return short
            time.sleep(0.3)

    def recovered_since(self, since, ids):
        """For each of ``ids``, its first connect after ``since`` (epoch seconds), or None."""
        first = {}
        for line in self.reports("connect"):
            if line["connect"] in ids and line["t"] / 1000 > since and line["connect"] not in first:
                first[line["connect"]] = line
        return {i: first.get(i) for i in ids}

    def wait_reconnected(self, since, ids, timeout=60):
        """Seconds from ``since`` until every one of ``ids`` connected again (recovered or not);
        raises with the missing ones. The connects themselves: ``recovered_since``."""
        self.wait(lambda: all(self.recovered_since(since, ids).values()), timeout,
                  f"reconnected (missing: {[i for i, c in self.recovered_since(since, ids).items() if not c][:10]})")
        return max(c["t"] / 1000 for c in self.recovered_since(since, ids).values()) - since

    def emit(self, member_id, event, data, timeout=10):
        """Emit from one socket and wait for its acknowledgement."""
        answer = self._ask(timeout=timeout + 5, cmd="emit", client=member_id, event=event, data=data,
                           ack_ms=int(timeout * 1000))
        if answer["error"]:
            raise AssertionError(f"{member_id}: no ack for {event}: {answer['error']}")
        return answer["ack"]

    def close_member(self, member_id):
        self._send(cmd="close", client=member_id)

    def reports(self, kind, member_id=None):
        """The streamed lines of one kind (connect, disconnect, connect_error, joined)."""
        return [line for line in list(self.lines) if kind in line and (member_id is None or line[kind] == member_id)]

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            self._check_alive()
            time.sleep(0.05)
        raise AssertionError(f"crowd: not {what} within {timeout}s")

    def wait_joined(self, ids, timeout=60):
        """Until each of ``ids`` had its joins answered; fails if a join was refused."""
        ids = set(ids)
        self.wait(lambda: ids <= {line["joined"] for line in self.reports("joined")}, timeout, "joined")
        refused = {line["joined"] for line in self.reports("joined") if line["refused"]}
        if refused:
            records = self.dump()
            raise AssertionError(f"joins refused: {[(i, records[i]['refusedJoins']) for i in sorted(refused)][:5]}")

    def connect_count(self, member_id):
        return len(self.reports("connect", member_id))

    def close(self):
        if self.process.poll() is None:
            try:
                self._send(cmd="quit")
                self.process.wait(5)
            except Exception:
                self.process.kill()
                self.process.wait()


def room_events(record, name=None):
    """The events of one socket that came through a room (they carry an offset)."""
    return [e for e in record["events"] if e[OFFSET] is not None and (name is None or e[NAME] == name)]


@dataclass
class Verdict:
    """What one socket received of a stream of numbered events, against what was sent."""
    lost: list
    duplicated: list
    out_of_order: bool
    duplicate_offsets: int

    @property
    def clean(self):
        return not (self.lost or self.duplicated or self.out_of_order or self.duplicate_offsets)


def judge(record, name, sent, maybe=()):
    """Compare the ``name`` events a socket got (keys) with the ``sent`` keys.

    Keys sort in sending order (``ChatStream`` numbers them). ``maybe``: keys whose sending
    was not acknowledged (gone out or not: at most once). An offset seen twice means some
    room event, of any kind, was delivered twice.
    """
    wanted = set(sent) | set(maybe)
    got = [e[KEY] for e in record["events"] if e[NAME] == name and e[KEY] in wanted]
    seen, duplicated = set(), []
    for key in got:
        if key in seen:
            duplicated.append(key)
        seen.add(key)
    offsets = [e[OFFSET] for e in room_events(record)]
    return Verdict(lost=[k for k in sent if k not in seen], duplicated=duplicated,
                   out_of_order=got != sorted(got), duplicate_offsets=len(offsets) - len(set(offsets)))


def summarise(records, name, sent, maybe=()):
    """(lost, duplicated, sockets out of order, duplicate offsets), summed over every socket."""
    verdicts = {member_id: judge(record, name, sent, maybe) for member_id, record in records.items()}
    return {
        "lost": sum(len(v.lost) for v in verdicts.values()),
        "duplicated": sum(len(v.duplicated) for v in verdicts.values()),
        "out_of_order": sum(v.out_of_order for v in verdicts.values()),
        "duplicate_offsets": sum(v.duplicate_offsets for v in verdicts.values()),
        "unclean": sorted(member_id for member_id, v in verdicts.items() if not v.clean),
    }


# -- the room traffic and the people of a scenario -------------------------------------------

class ChatStream:
    """Numbered chat messages (``<tag>-00001``, ...) into one video room, one at a time.

    Sent by python-socketio clients that did not opt in, each send waiting for its
    acknowledgement, so ``sent`` (the acknowledged ones: the door emitted them) is the
    order every member of the room must see. ``maybe``: no acknowledgement came (emitted or
    not); ``refused``: an error reply (never emitted). Several senders share the chat rate
    limit (20 per 10 s per user): ``rate`` a second needs ``rate / 1.5`` of them.
    """

    def __init__(self, url, tokens, video_id, tag=None):
        self.video_id = video_id
        self.tag = tag or uuid.uuid4().hex[:6]
        self.sent, self.maybe, self.refused = [], [], []
        self.seq = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = None
        self._tokens = tokens
        self._senders = self._connect(url)

    def _connect(self, url):
        senders = []
        for token in self._tokens:
            client = socketio.Client(reconnection=False)
            client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
            joined = client.call("join_video", {"video_id": self.video_id}, timeout=10)
            assert "code" not in joined, joined
            senders.append(client)
        return senders

    def send(self, count=1):
        for _ in range(count):
            self._send_next()

    def _send_next(self):
        with self._lock:
            self.seq += 1
            key = f"{self.tag}-{self.seq:05d}"
            sender = self._senders[self.seq % len(self._senders)]
            try:
                ack = sender.call("send_chat_message", {"video_id": self.video_id, "message": key}, timeout=5)
            except Exception as exc:  # no acknowledgement: it may or may not have gone out
                self.maybe.append(key)
                self.refused.append((key, repr(exc)))
                return
            if isinstance(ack, dict) and ack.get("message") == key and "code" not in ack:
                self.sent.append(key)
            else:
                self.refused.append((key, ack))

    def start(self, rate):
        """Send ``rate`` a second in the background until ``stop()``."""
        def run():
            started, n = time.monotonic(), 0
            while not self._stopping.is_set():
                n += 1
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self._send_next()

        self._stopping.clear()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None

    def move_to(self, url):
        """Send through another door from the next message on (a rolling restart's senders)."""
        fresh = self._connect(url)
        with self._lock:
            old, self._senders = self._senders, fresh
        for client in old:
            client.disconnect()

    def close(self):
        self.stop()
        for client in self._senders:
            if client.connected:
                client.disconnect()


class Room:
    """A published course with one video, its instructor (through the API), ``students``
    minted and enrolled, and ``senders`` more for a ``ChatStream``."""

    def __init__(self, stack, private_pem, students, senders=3):
        self.api = Api(stack.url)
        campus = Campus(self.api)
        self.course, self.instructor = campus.course()
        self.course_id = self.course["id"]
        self.video_id = self.course["videos"][0]["id"]
        # minted tokens (claims as the auth service issues them): 200 argon2 registrations
        # would measure the password hash, not recovery
        signer = forge.Signer(private_pem)
        people = [(user_id, signer.token(user_id, ttl=900))
                  for user_id in (str(uuid.uuid4()) for _ in range(students + senders))]
        campus.enroll_all(self.course, [token for _, token in people], workers=8)
        self.students, self.senders = people[:students], [token for _, token in people[students:]]

    def joins(self):
        return [["join_course", {"course_id": self.course_id}], ["join_video", {"video_id": self.video_id}]]

    def members(self, url, prefix="s"):
        """One recovering crowd member per student, all at ``url`` (a proxy, or a door)."""
        return [Member(id=f"{prefix}{n}", url=url, token=token, joins=self.joins())
                for n, (_, token) in enumerate(self.students)]

    def stream(self, url):
        return ChatStream(url, self.senders, self.video_id)

    def retitle(self, title, timeout=60):
        """``course_updated`` to the course room (the API retried while the platform comes back)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.api.call("PATCH", f"/api/v1/courses/{self.course_id}",
                                   token=self.instructor["access_token"], json={"title": title})
            if answer.status_code == 200 or time.monotonic() > deadline:
                assert answer.status_code == 200, answer.text
                return
            time.sleep(0.5)


def assess(crowd, stream, ids, faults, scenario, final_title, allow_refused=False):
    """After a scenario: wait for the stream and the final ``course_updated`` to arrive, then
    measure and check every socket. ``faults``: epoch seconds of each fault (cut, kill, ...).

    Prints one line for docs/reliability.md; returns the numbers. Every socket must have
    every acknowledged event exactly once, in order, each reconnect recovered (same sid,
    never joined again) and the final course update (its course room kept).
    """
    crowd.wait_tally(CHAT, stream.tag, len(stream.sent), ids, timeout=45)
    crowd.wait_tally("course_updated", final_title, 1, ids, timeout=30)
    records = {i: r for i, r in crowd.dump().items() if i in ids}
    totals = summarise(records, CHAT, stream.sent, stream.maybe)
    fresh = sorted(i for i, r in records.items() if any(not c["recovered"] for c in r["connects"][1:]))
    rejoined = sorted(i for i, r in records.items() if r["joins"] != 1)
    new_sid = sorted(i for i, r in records.items() if len({c["sid"] for c in r["connects"]}) != 1)
    without_final = sorted(i for i, r in records.items()
                           if not any(e[NAME] == "course_updated" and e[KEY] == final_title for e in r["events"]))
    recover_seconds = []
    for fault in faults:
        firsts = crowd.recovered_since(fault, ids)
        recovered = [c["t"] / 1000 - fault for c in firsts.values() if c and c["recovered"]]
        recover_seconds.append(round(max(recovered), 2) if len(recovered) == len(ids) else None)
    numbers = {"scenario": scenario, "clients": len(ids), "events": len(stream.sent),
               "unacknowledged": len(stream.maybe), "refused": len(stream.refused),
               "lost": totals["lost"], "duplicated": totals["duplicated"],
               "out_of_order_sockets": totals["out_of_order"], "duplicate_offsets": totals["duplicate_offsets"],
               "not_recovered": len(fresh), "rejoined": len(rejoined), "sid_changed": len(new_sid),
               "without_final_update": len(without_final), "seconds_to_all_recovered": recover_seconds,
               "join_retries": sum(r["retriedJoins"] for r in records.values())}
    print(f"\n[recovery] {json.dumps(numbers)}")
    problems = {"unclean": totals["unclean"][:10], "not recovered": fresh[:10], "rejoined": rejoined[:10],
                "new sid": new_sid[:10], "without the final update": without_final[:10]}
    if not allow_refused:
        problems["refused sends"] = stream.refused[:5]
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, f"{scenario}: {numbers}; {problems}"
    return numbers

