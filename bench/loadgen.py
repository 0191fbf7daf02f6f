"""A lean Socket.IO load generator: thousands of clients from one asyncio process.

It speaks Engine.IO v4 / Socket.IO v5 directly over raw websocket frames (an
``asyncio.Protocol`` per client, no client library), so the cost per message received
is a frame header, a dictionary look-up and a clock reading: the generator is not the
bottleneck it measures (its own CPU time is reported with every result).

Like a browser, every client offers ``permessage-deflate; client_max_window_bits``; if
the server accepts, server frames are inflated per connection (context takeover as
negotiated). Client frames are masked with the all-zero key: a valid RFC 6455 frame
that costs no XOR pass (nothing here needs the masking's proxy-cache protection).

It runs on uvloop when installed (``make bench`` installs it). Driven by ``bench/run.py`` as a subprocess: one JSON command per line on stdin, one
JSON answer per line on stdout. Loopback only; every loop is bounded.

Measured payloads carry their send time and a sequence number: fan-out events carry
``"title": "bench <seq> <epoch seconds>"`` (the realtime handler passes ``title``
through unchanged), progress reports encode the tick in ``timestamp`` (the position),
chat messages are their own text, ``"bench <seq> <epoch seconds>"``: the room's
``new_chat_message`` carries it back, so every member counts what it received.

Recovering clients (``record: "recovery"``) do what socket.io-client >= 4.6 does with
connection state recovery: CONNECT with ``{token, recover: true}``, keep the ``pid`` of the
reply and the offset (the last argument) of each room event, and when the connection is
lost reconnect (after 0.5..1.5 s, as its default backoff) with ``{token, recover, pid,
offset}``; the answer's ``pid`` says whether the session was recovered. Each session keeps
the sequence numbers it received, so lost, duplicated and reordered events are counted.
"""
import asyncio
import base64
import json
import os
import random
import resource
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
TAIL = b"\x00\x00\xff\xff"


def frame(payload: bytes, opcode=1):
    """A masked client frame with the zero mask key (payload bytes unchanged)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return header + b"\x00\x00\x00\x00" + payload


PONG = frame(b"3")

# the C reader of fan-out clients (bench/sink.c, built by `make bench`); BENCH_SINK=0: read in Python
SINK_BINARY = Path(__file__).resolve().parent.parent / "var" / "bench" / "sink"
SINK_RECORD = struct.Struct("=qd")
SINK_HEADER = struct.Struct("=8Q")


class Sink:
    """``bench/sink.c`` in a child process (pinned with this one): it takes over the reading of
    fan-out clients once they have joined their room, so that the generator's core is not the
    ceiling it measures. Talks over a SOCK_SEQPACKET pair; descriptors go over as SCM_RIGHTS."""

    BATCH = 200  # descriptors per message (the kernel's limit is 253)

    def __init__(self, binary):
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen([str(binary), str(theirs.fileno())], pass_fds=[theirs.fileno()])
        theirs.close()

    @classmethod
    def start(cls):
        if os.environ.get("BENCH_SINK", "1") == "0" or not SINK_BINARY.exists():
            return None
        return cls(SINK_BINARY)

    def take(self, clients, stats):
        """Hand these clients' sockets over; this process never reads them again."""
        fds = []
        for client in clients:
            client.transport.pause_reading()
            if client.buffer:  # a frame cut short at the hand-over: it cannot be read by both
                stats.error("partial frame at hand-over")
            client.handed_over = True
            fds.append(os.dup(client.transport.get_extra_info("socket").fileno()))
        try:
            self.take_descriptors(fds)
        finally:
            for fd in fds:  # the sink holds its own copies now
                os.close(fd)

    def take_descriptors(self, fds):
        for at in range(0, len(fds), self.BATCH):
            socket.send_fds(self.control, [b"A"], fds[at:at + self.BATCH])
            assert self.control.recv(1) == b"a"

    def drain(self, stats):
        """Everything the sink recorded since the last drain, into ``stats``."""
        self.control.send(b"R")
        count, reads, messages, compressed, fragmented, closed, _open, _ = SINK_HEADER.unpack(
            self.control.recv(SINK_HEADER.size))
        remaining = count * SINK_RECORD.size
        while remaining:
            chunk = self.control.recv(65536)
            remaining -= len(chunk)
            stats.fanout.extend(SINK_RECORD.iter_unpack(chunk))
        stats.reads += reads
        stats.messages += messages
        stats.compressed_frames += compressed
        for what, n in (("compressed frame in the sink (not decoded)", compressed),
                        ("fragmented frame in the sink (not decoded)", fragmented),
                        ("connection closed while in the sink", closed)):
            if n:
                stats.errors[what] = stats.errors.get(what, 0) + n

    def close_all(self):
        """Close the sink's copies: a socket's TCP connection closes when its last copy does."""
        self.control.send(b"C")
        assert self.control.recv(1) == b"c"

    def stop(self):
        self.control.close()
        self.process.wait(10)


class Stats:
    """What every client of this process received, shared (one process, one thread)."""

    def __init__(self):
        self.fanout = []  # (seq, latency seconds)
        self.fanout_cache = {}  # payload bytes -> (seq, sent_at): decoded once per event
        self.progress_updates = []  # (recv_time, data dict)
        self.recovery_cache = {}  # payload bytes -> (seq, sent_at, offset)
        self.chat = []  # (seq, latency seconds) of every new_chat_message received
        self.chat_cache = {}  # payload bytes -> (seq, sent_at)
        self.sent_at = {}  # seq -> send time, of the recovery scenario's events
        self.student_progress = 0
        self.errors = {}
        self.compressed_frames = 0
        # reads (data_received calls) and messages over every client: how a server's traffic
        # arrives (many messages per read cost the generator less per message)
        self.reads = 0
        self.messages = 0

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1


class Session:
    """A recovering client's Socket.IO session over its successive connections."""

    __slots__ = ("token", "pid", "offset", "received", "positions", "connected_at", "recovered_at",
                 "fresh_sessions", "reconnect_port", "client")

    def __init__(self, token, reconnect_port):
        self.token = token
        self.pid = None
        self.offset = None
        self.received = []  # (seq, receive time)
        self.positions = []  # the room-log position (from the offset) of each, in arrival order
        self.connected_at = None  # the last CONNECT accepted
        self.recovered_at = None  # the last CONNECT that recovered the session
        self.fresh_sessions = 0  # reconnects that were not recovered
        self.reconnect_port = reconnect_port
        self.client = None

    def auth(self):
        auth = {"token": self.token, "recover": True}
        if self.pid is not None:
            auth["pid"] = self.pid
            if self.offset is not None:
                auth["offset"] = self.offset
        return auth

    def accepted(self, data, now):
        pid = data.get("pid")
        self.connected_at = now
        if self.pid is not None and pid == self.pid:
            self.recovered_at = now
        else:
            if self.pid is not None:
                self.fresh_sessions += 1
            self.pid, self.offset = pid, None


class Client(asyncio.Protocol):
    def __init__(self, gen, token, record=None, session=None):
        self.gen = gen
        self.stats = gen.stats
        self.token = token
        self.record = record  # which room events this client measures ("fanout", "progress", "recovery", "chat", None)
        self.chat_received = []  # the seqs of the chat messages this client received, in order
        self.session = session  # a recovering client's session (record "recovery")
        self.transport = None
        self.buffer = bytearray()
        self.handshaken = False
        self.inflater = None
        self.deflate_accepted = False
        self.connected = asyncio.get_running_loop().create_future()
        self.closed = False
        self.acks = {}
        self.next_ack = 0
        self.fragments = None
        self.handed_over = False  # read by the sink from then on

    # -- transport ----------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.gen.path}?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {self.gen.host}:{self.gen.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n\r\n"
        )
        transport.write(request.encode())

    def connection_lost(self, exc):
        self.closed = True
        self.gen.open_clients.discard(self)
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"closed before connect ({exc})"))
        elif self.session is not None and self.session.client is self and not self.gen.closing:
            self.gen.reconnect_later(self.session)

    def data_received(self, data):
        self.stats.reads += 1
        if not self.handshaken:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            data = bytes(self.buffer[end + 4:])
            self.buffer = bytearray()
            if " 101 " not in head.split("\r\n", 1)[0]:
                self.stats.error("handshake refused")
                self._fail(ConnectionError(head.split("\r\n", 1)[0]))
                return
            self.handshaken = True
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-extensions" and "permessage-deflate" in value:
                    self.deflate_accepted = True
                    self.inflater = zlib.decompressobj(-15)
        if self.buffer:  # a frame was cut short by the last read
            self.buffer += data
            data = bytes(self.buffer)
            self.buffer = bytearray()
        self.parse(data)

    def parse(self, buf):
        """Handle every complete frame in ``buf``; keep the incomplete rest for the next read."""
        now = time.time()
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if size - pos < head + n:
                break
            payload = buf[pos + head:pos + head + n]
            pos += head + n
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode in (1, 2):
                if b0 & 0x40:  # RSV1: a compressed message
                    self.stats.compressed_frames += 1
                if not fin:
                    self.fragments, self._fragmented_compressed = [payload], bool(b0 & 0x40)
                    continue
                if b0 & 0x40:
                    payload = self.inflater.decompress(payload + TAIL)
                self.on_message(payload, now)
            elif opcode == 0:  # continuation
                self.fragments.append(payload)
                if not fin:
                    continue
                payload, self.fragments = b"".join(self.fragments), None
                if self._fragmented_compressed:
                    payload = self.inflater.decompress(payload + TAIL)
                self.on_message(payload, now)
            elif opcode == 9:
                self.transport.write(frame(payload, opcode=10))
            elif opcode == 8:
                self.transport.close()
                return
        if pos < size:
            self.buffer = bytearray(buf[pos:])

    _fragmented_compressed = False

    def _fail(self, exc):
        if not self.connected.done():
            self.connected.set_exception(exc)
        self.transport.close()

    # -- Engine.IO / Socket.IO ------------------------------------------------------

    def on_message(self, message, now):
        self.stats.messages += 1
        kind = message[:1]
        if kind == b"4":  # Engine.IO message: a Socket.IO packet
            sio = message[1:2]
            if sio == b"2":  # EVENT
                self.on_event(message, now)
            elif sio == b"3":  # ACK
                body = message[2:]
                bracket = body.find(b"[")
                ack_id = int(body[:bracket])
                future = self.acks.pop(ack_id, None)
                if future is not None and not future.done():
                    future.set_result(json.loads(body[bracket:]))
            elif sio == b"0":  # CONNECT accepted
                if self.session is not None:
                    self.session.accepted(json.loads(message[2:]), now)
                if not self.connected.done():
                    self.connected.set_result(True)
            elif sio == b"4":  # CONNECT refused
                self.stats.error("connect refused: " + message[2:80].decode(errors="replace"))
                self._fail(ConnectionError(message[2:].decode(errors="replace")))
        elif kind == b"2":  # Engine.IO ping
            self.transport.write(PONG)
        elif kind == b"0":  # Engine.IO open: join the default namespace with the token
            auth = self.session.auth() if self.session is not None else {"token": self.token}
            self.transport.write(frame(b"40" + json.dumps(auth).encode()))
        elif kind == b"1":
            self.transport.close()

    def on_event(self, message, now):
        if self.record == "fanout" and message.startswith(b'42["course_updated"'):
            stats = self.stats
            known = stats.fanout_cache.get(message)
            if known is None:
                data = json.loads(message[2:])[1]
                _, seq, sent_at = data["title"].split(" ")
                known = stats.fanout_cache[message] = (int(seq), float(sent_at))
            stats.fanout.append((known[0], now - known[1]))
        elif self.record == "recovery" and message.startswith(b'42["course_updated"'):
            stats = self.stats
            known = stats.recovery_cache.get(message)
            if known is None:  # every client gets the same bytes: one decode per event
                event = json.loads(message[2:])
                _, seq, sent_at = event[1]["title"].split(" ")
                offset = event[-1] if len(event) > 2 and isinstance(event[-1], str) else None
                known = stats.recovery_cache[message] = (int(seq), float(sent_at), offset)
                stats.sent_at[known[0]] = known[1]
            self.session.received.append((known[0], now))
            if known[2] is not None:
                self.session.offset = known[2]
                self.session.positions.append(tuple(int(part) for part in known[2].split(".")))
        elif self.record == "chat" and message.startswith(b'42["new_chat_message"'):
            stats = self.stats
            known = stats.chat_cache.get(message)
            if known is None:  # the same bytes reach every member: one decode per message
                _, seq, sent_at = json.loads(message[2:])[1]["message"].split(" ")
                known = stats.chat_cache[message] = (int(seq), float(sent_at))
            self.chat_received.append(known[0])
            stats.chat.append((known[0], now - known[1]))
        elif self.record == "progress":
            if message.startswith(b'42["progress_update"'):
                self.stats.progress_updates.append((now, json.loads(message[2:])[1]))
            elif message.startswith(b'42["student_progress"'):
                self.stats.student_progress += 1
        elif message.startswith(b'42["error"'):
            self.stats.error("error event: " + message[2:200].decode(errors="replace"))

    def emit(self, event, data, ack=False):
        future = None
        prefix = b"42"
        if ack:
            ack_id = self.next_ack
            self.next_ack += 1
            future = asyncio.get_running_loop().create_future()
            self.acks[ack_id] = future
            prefix += str(ack_id).encode()
        if not self.closed:
            self.transport.write(frame(prefix + json.dumps([event, data], separators=(",", ":")).encode()))
        return future


class Generator:
    def __init__(self, url):
        parsed = urlparse(url)
        self.host, self.port, self.path = parsed.hostname, parsed.port, "/socket.io/"
        self.stats = Stats()
        self.clients = []
        self.open_clients = set()
        self.sessions = []  # the recovering clients' sessions
        self.closing = False  # no reconnecting while the generator closes its clients
        self.sink = Sink.start()
        self.started_cpu = self.cpu()

    def hand_over(self, clients):
        """Fan-out clients that have joined: read by the sink from now on, if there is one."""
        if self.sink is not None:
            self.sink.take([c for c in clients if c.record == "fanout" and not c.handed_over and not c.closed],
                           self.stats)

    def drain_sink(self):
        if self.sink is not None:
            self.sink.drain(self.stats)

    @staticmethod
    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    async def connect_one(self, token, record, port=None, timeout=30, session=None):
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(
            loop.create_connection(lambda: Client(self, token, record, session), self.host, port or self.port),
            timeout)
        if session is not None:
            session.client = client
        await asyncio.wait_for(client.connected, timeout)
        self.open_clients.add(client)
        self.clients.append(client)
        return client

    def reconnect_later(self, session):
        """A lost recovering connection: reconnect as socket.io-client does (first after 0.5..1.5 s,
        then doubling up to 5 s), to the session's reconnect port, presenting its pid and offset."""
        async def reconnect():
            delay = random.uniform(0.5, 1.5)
            deadline = time.monotonic() + 120
            while not self.closing and time.monotonic() < deadline:
                await asyncio.sleep(delay)
                try:
                    await self.connect_one(session.token, "recovery", session.reconnect_port, timeout=10,
                                           session=session)
                    return
                except Exception as exc:
                    self.stats.error(f"reconnect: {type(exc).__name__}")
                    delay = min(delay * 2, 5.0)

        asyncio.get_running_loop().create_task(reconnect())

    async def connect_many(self, tokens, record=None, concurrency=200, ports=None, deadline_s=600,
                           recover=False, reconnect_ports=None):
        """Connect one client per token, ``concurrency`` handshakes in flight at a time."""
        semaphore = asyncio.Semaphore(concurrency)
        failures = []
        started = time.monotonic()
        deadline = started + deadline_s
        connected = []

        async def one(index, token):
            async with semaphore:
                if time.monotonic() > deadline:
                    failures.append("deadline")
                    return
                port = ports[index % len(ports)] if ports else None
                session = None
                if recover:
                    session = Session(token, reconnect_ports[index % len(reconnect_ports)] if reconnect_ports
                                      else port)
                    self.sessions.append(session)
                try:
                    connected.append(await self.connect_one(token, record, port, session=session))
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
        elapsed = time.monotonic() - started
        return connected, failures, elapsed

    async def call_all(self, clients, event, data_of, concurrency=500, timeout=30):
        """Emit an event with an acknowledgement from each client; returns the answers."""
        semaphore = asyncio.Semaphore(concurrency)

        async def one(client):
            async with semaphore:
                return await asyncio.wait_for(client.emit(event, data_of(client), ack=True), timeout)

        return await asyncio.gather(*(one(c) for c in clients), return_exceptions=True)


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(q / 100 * (len(sorted_values) - 1)))))
    return sorted_values[index]


def latency_summary(latencies_s):
    values = sorted(latencies_s)
    ms = lambda v: None if v is None else round(v * 1000, 2)  # noqa: E731
    return {"p50_ms": ms(percentile(values, 50)), "p95_ms": ms(percentile(values, 95)),
            "p99_ms": ms(percentile(values, 99)), "max_ms": ms(values[-1] if values else None)}


async def recovery_result(gen, first_seq, last_seq, killed_at, timeout):
    """What the sessions went through since ``killed_at``: reconnected, recovered (same pid),
    and, over the events ``first_seq..last_seq``, lost, duplicated and out of order per session.

    Out of order means against the room log (an offset not after the one before it): the one
    order every client gets. The order the bench dispatched the events in is not that order
    when two doors handle them (each appends what it handled; an event the killed door had
    taken but not appended is redelivered to the other, later): ``dispatch_inversions``
    counts those, for information."""
    expected = set(range(first_seq, last_seq + 1))
    sessions = gen.sessions

    def back(session):
        return session.connected_at is not None and session.connected_at > killed_at

    def complete(session):
        return back(session) and expected <= {seq for seq, _ in session.received}

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(complete(s) for s in sessions):
        await asyncio.sleep(0.1)
    lost = duplicated = out_of_order = dispatch_inversions = 0
    reconnected, recovered, caught_up = [], [], []
    for session in sessions:
        seqs = [seq for seq, _ in session.received if first_seq <= seq <= last_seq]
        lost += len(expected - set(seqs))
        duplicated += len(seqs) - len(set(seqs))
        dispatch_inversions += sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
        out_of_order += sum(1 for a, b in zip(session.positions, session.positions[1:]) if b <= a)
        if back(session):
            reconnected.append(session.connected_at - killed_at)
        if session.recovered_at is not None and session.recovered_at > killed_at:
            recovered.append(session.recovered_at - killed_at)
            # caught up: every event sent before its recovery received (the replay included)
            before = [at for seq, at in session.received
                      if first_seq <= seq <= last_seq and gen.stats.sent_at.get(seq, 0) < session.recovered_at]
            caught_up.append(max(before, default=session.recovered_at) - killed_at)
    reconnected.sort(), recovered.sort(), caught_up.sort()
    seconds = lambda values, q: round(percentile(values, q), 2) if values else None  # noqa: E731
    return {"sessions": len(sessions), "events": len(expected), "expected": len(expected) * len(sessions),
            "reconnected": len(reconnected), "recovered": len(recovered),
            "fresh_sessions": sum(s.fresh_sessions for s in sessions),
            "recovered_p50_s": seconds(recovered, 50), "recovered_max_s": seconds(recovered, 100),
            "all_recovered_s": seconds(recovered, 100) if len(recovered) == len(sessions) else None,
            "caught_up_p50_s": seconds(caught_up, 50), "caught_up_max_s": seconds(caught_up, 100),
            "lost": lost, "duplicated": duplicated, "out_of_order": out_of_order,
            "dispatch_inversions": dispatch_inversions,
            "complete": all(complete(s) for s in sessions)}


async def chat_run(gen, first, count, video_id, rate, seconds, ack_timeout=10.0):
    """``rate`` chat messages a second for ``seconds``, from the clients ``first..first+count`` in
    turn (each sends ``rate / count`` a second: under the 20 per 10 s limit when that is <= 2),
    each ``"bench <seq> <send time>"`` and acknowledged. Returns what was acknowledged (seq -> id)."""
    senders = gen.clients[first:first + count]
    total = max(1, int(rate * seconds))
    pending, acked, refused, ack_s, sent_at = [], {}, [], [], {}
    started = time.monotonic()
    for n in range(total):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        seq = n + 1
        at = sent_at[seq] = time.time()
        future = senders[n % len(senders)].emit(
            "send_chat_message", {"video_id": video_id, "message": f"bench {seq} {at:.6f}", "timestamp": at},
            ack=True)
        future.add_done_callback(lambda f, at=at: f.cancelled() or ack_s.append(time.time() - at))
        pending.append((seq, future))
    send_seconds = time.monotonic() - started
    deadline = time.monotonic() + ack_timeout  # one wait for all: a dead socket's acks never come
    for seq, future in pending:
        try:
            reply = (await asyncio.wait_for(future, max(0.01, deadline - time.monotonic())))[0]
        except Exception as exc:  # no acknowledgement: emitted or not, it is not counted as sent
            refused.append(f"{seq}: {type(exc).__name__}")
            continue
        if isinstance(reply, dict) and "id" in reply:
            acked[seq] = reply["id"]
        else:
            refused.append(f"{seq}: {reply}"[:200])
    ack_s.sort()
    ms = lambda v: None if v is None else round(v * 1000, 2)  # noqa: E731
    return {"sent": total, "send_seconds": round(send_seconds, 3), "acked": acked, "refused": len(refused),
            "refusals": refused[:5], "sent_at": sent_at, "first_sent_at": sent_at[1],
            "ack_p50_ms": ms(percentile(ack_s, 50)), "ack_p99_ms": ms(percentile(ack_s, 99))}


async def chat_collect(gen, first, count, seqs, grace):
    """Waits until every client ``first..first+count`` has received every message of ``seqs`` (the
    acknowledged ones) or ``grace`` seconds; then latencies (send -> each receipt, and send -> the
    last member's receipt of it), and over the members what was lost or duplicated."""
    members = gen.clients[first:first + count]
    expected = set(seqs)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not all(expected <= set(m.chat_received) for m in members):
        await asyncio.sleep(0.1)
    latencies = [lat for seq, lat in gen.stats.chat if seq in expected]
    last_receipt = {}
    for seq, lat in gen.stats.chat:
        if seq in expected and lat > last_receipt.get(seq, -1.0):
            last_receipt[seq] = lat
    lost = duplicated = inversions = 0
    for member in members:
        got = [seq for seq in member.chat_received if seq in expected]
        lost += len(expected - set(got))
        duplicated += len(got) - len(set(got))
        # against the send order, for information: two messages sent through two doors within a
        # few ms of each other may enter the room log the other way round (every member still
        # sees the log's one order)
        inversions += sum(1 for a, b in zip(got, got[1:]) if b < a)
    every = latency_summary(list(last_receipt.values()))
    result = {"members": len(members), "messages": len(expected), "expected": len(expected) * len(members),
              "delivered": len(latencies), "lost": lost, "duplicated": duplicated, "send_order_inversions": inversions,
              "all_members_p50_ms": every["p50_ms"], "all_members_p99_ms": every["p99_ms"],
              "all_members_max_ms": every["max_ms"]}
    result.update(latency_summary(latencies))
    return result


async def read_commands():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        yield json.loads(line)


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main():
    gen = None
    progress_clients = []
    progress_sent = {}  # (user_id, tick) -> send time
    async for command in read_commands():
        cmd = command["cmd"]
        cpu_before = Generator.cpu() if gen else 0.0
        wall_before = time.monotonic()
        if cmd == "init":
            gen = Generator(command["url"])
            answer({"ok": True})
        elif cmd == "connect":
            # {"tokens": [...], "record": "fanout"|"progress"|None, "ports": [...]?, "concurrency": n}
            # recovering clients: "recover": true, "record": "recovery", "reconnect_ports": [...]
            gen.closing = False
            clients, failures, elapsed = await gen.connect_many(
                command["tokens"], command.get("record"), command.get("concurrency", 200), command.get("ports"),
                recover=command.get("recover", False), reconnect_ports=command.get("reconnect_ports"))
            answer({"connected": len(clients), "failed": len(failures), "failures": failures[:5],
                    "seconds": round(elapsed, 3), "total_open": len(gen.open_clients),
                    "deflate_accepted": sum(c.deflate_accepted for c in clients),
                    "cpu_s": round(Generator.cpu() - cpu_before, 3)})
        elif cmd == "join":
            # {"event": "join_course", "data": {...}, "first": i, "count": n}: the clients connected so far
            chosen = gen.clients[command.get("first", 0):command.get("first", 0) + command["count"]]
            answers = await gen.call_all(chosen, command["event"], lambda c: command["data"])

            def joined(a):
                return isinstance(a, list) and a and isinstance(a[0], dict) and a[0].get("status")

            # a client told "unavailable" (a service behind the door too busy to answer in time:
            # thousands joining in the same second) tries again once: the answer says "try again"
            again = [c for c, a in zip(chosen, answers)
                     if isinstance(a, list) and a and isinstance(a[0], dict) and a[0].get("code") == "unavailable"]
            if again:
                retried = dict(zip(map(id, again), await gen.call_all(again, command["event"],
                                                                      lambda c: command["data"])))
                answers = [retried.get(id(c), a) for c, a in zip(chosen, answers)]
            ok = sum(1 for a in answers if joined(a))
            bad = [repr(a)[:200] for a in answers if not joined(a)]
            gen.hand_over([c for c, a in zip(chosen, answers) if joined(a)])
            answer({"joined": ok, "failed": len(bad), "failures": bad[:3], "retried": len(again)})
        elif cmd == "fanout_window":
            # {"first_seq", "last_seq", "clients", "seconds", "grace"}: stats over that window's events
            expected_events = command["last_seq"] - command["first_seq"] + 1
            expected = expected_events * command["clients"]
            deadline = time.monotonic() + command.get("grace", 5.0)
            lo, hi = command["first_seq"], command["last_seq"]

            def window():
                gen.drain_sink()
                return [lat for seq, lat in gen.stats.fanout if lo <= seq <= hi]

            while len(window()) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            latencies = window()
            result = {"clients": command["clients"], "events": expected_events, "expected": expected,
                      "delivered": len(latencies), "delivered_ratio": round(len(latencies) / expected, 5),
                      "deliveries_per_s": round(len(latencies) / command["seconds"], 1),
                      # since the previous window: pings and other messages included
                      "messages_per_read": round(gen.stats.messages / max(1, gen.stats.reads), 2),
                      "reader": "c" if gen.sink is not None else "python"}
            gen.stats.reads = gen.stats.messages = 0
            result.update(latency_summary(latencies))
            gen.stats.fanout = [(s, l) for s, l in gen.stats.fanout if s > hi]
            gen.stats.fanout_cache.clear()
            answer(result)
        elif cmd == "progress_run":
            # {"students": [index range of clients], "video_id", "course_id", "duration_s", "rate", "ticks"}
            first, count = command["first"], command["count"]
            progress_clients = gen.clients[first:first + count]
            rate, seconds = command["rate"], command["seconds"]
            ticks = int(rate * seconds)
            sent = 0
            started = time.monotonic()
            send_times = progress_sent
            duration = command["duration_seconds"]
            for tick in range(1, ticks + 1):
                target = started + tick / rate
                delay = target - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = time.time()
                position = round(duration * tick / ticks, 3)
                progress = round(100 * tick / ticks, 3)
                for client in progress_clients:
                    client.emit("video_progress", {"video_id": command["video_id"], "course_id": command["course_id"],
                                                   "progress": progress, "timestamp": position})
                    sent += 1
                send_times[position] = now
            send_seconds = time.monotonic() - started
            answer({"sent": sent, "send_seconds": round(send_seconds, 3), "ticks": ticks,
                    "final_position": round(duration, 3)})
        elif cmd == "progress_collect":
            # waits until every student's final value is announced (or the grace ends)
            final = command["final_position"]
            deadline = time.monotonic() + command.get("grace", 20.0)
            students = command["students"]

            def finals():
                return {d["user_id"] for _, d in gen.stats.progress_updates if d["last_position"] >= final}

            while len(finals()) < students and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            lags = []
            for recv, data in gen.stats.progress_updates:
                sent_at = progress_sent.get(round(data["last_position"], 3))
                if sent_at is not None:
                    lags.append(recv - sent_at)
            lags.sort()
            answer({"progress_updates": len(gen.stats.progress_updates),
                    "student_progress": gen.stats.student_progress,
                    "transactions": len({d["updated_at"] for _, d in gen.stats.progress_updates}),
                    "final_announced": len(finals()),
                    "lag_p50_ms": round(percentile(lags, 50) * 1000, 1) if lags else None,
                    "lag_p99_ms": round(percentile(lags, 99) * 1000, 1) if lags else None,
                    "lag_max_ms": round(lags[-1] * 1000, 1) if lags else None})
        elif cmd == "chat_run":
            # {"first", "count", "video_id", "rate", "seconds"}: the clients must have joined the video
            answer(await chat_run(gen, command.get("first", 0), command["count"], command["video_id"],
                                  command["rate"], command["seconds"]))
        elif cmd == "chat_collect":
            # {"first", "count", "seqs", "grace"}: receipts of the acknowledged messages by every member
            answer(await chat_collect(gen, command.get("first", 0), command["count"], command["seqs"],
                                      command.get("grace", 10.0)))
        elif cmd == "recovery_wait":
            # {"first_seq", "last_seq", "killed_at" (epoch s), "wait_s"}: waits until every session
            # is connected again after the kill and holds every event of the window (or the timeout)
            answer(await recovery_result(gen, command["first_seq"], command["last_seq"], command["killed_at"],
                                         command.get("wait_s", 60.0)))
        elif cmd == "stats":
            answer({"open": len(gen.open_clients), "errors": gen.stats.errors,
                    "compressed_frames": gen.stats.compressed_frames,
                    "cpu_s": round(Generator.cpu() - gen.started_cpu, 3)})
        elif cmd == "close":
            gen.closing = True
            gen.sessions.clear()
            if gen.sink is not None:
                gen.sink.close_all()
            for client in list(gen.clients):
                if client.transport is not None:
                    client.transport.close()
            await asyncio.sleep(0.5)
            gen.clients.clear()
            answer({"closed": True})
        elif cmd == "quit":
            if gen is not None and gen.sink is not None:
                gen.sink.stop()
            answer({"bye": True})
            return
        else:
            answer({"error": f"unknown command {cmd}"})
        del cpu_before, wall_before


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    try:  # libuv's loop: about half the per-callback cost of asyncio's own (bench extra)
        import uvloop
    except ImportError:
        uvloop = None
    (uvloop.run if uvloop else asyncio.run)(main())
