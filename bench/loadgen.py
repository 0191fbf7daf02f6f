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
through unchanged), progress reports encode the tick in ``timestamp`` (the position).
"""
import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time
import zlib
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


class Stats:
    """What every client of this process received, shared (one process, one thread)."""

    def __init__(self):
        self.fanout = []  # (seq, latency seconds)
        self.fanout_cache = {}  # payload bytes -> (seq, sent_at): decoded once per event
        self.progress_updates = []  # (recv_time, data dict)
        self.student_progress = 0
        self.errors = {}
        self.compressed_frames = 0

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1


class Client(asyncio.Protocol):
    def __init__(self, gen, token, record=None):
        self.gen = gen
        self.stats = gen.stats
        self.token = token
        self.record = record  # which room events this client measures ("fanout", "progress", None)
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

    def data_received(self, data):
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
                if not self.connected.done():
                    self.connected.set_result(True)
            elif sio == b"4":  # CONNECT refused
                self.stats.error("connect refused: " + message[2:80].decode(errors="replace"))
                self._fail(ConnectionError(message[2:].decode(errors="replace")))
        elif kind == b"2":  # Engine.IO ping
            self.transport.write(PONG)
        elif kind == b"0":  # Engine.IO open: join the default namespace with the token
            self.transport.write(frame(b"40" + json.dumps({"token": self.token}).encode()))
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
        self.started_cpu = self.cpu()

    @staticmethod
    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    async def connect_one(self, token, record, port=None, timeout=30):
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(
            loop.create_connection(lambda: Client(self, token, record), self.host, port or self.port), timeout)
        await asyncio.wait_for(client.connected, timeout)
        self.open_clients.add(client)
        self.clients.append(client)
        return client

    async def connect_many(self, tokens, record=None, concurrency=200, ports=None, deadline_s=600):
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
                try:
                    connected.append(await self.connect_one(token, record, port))
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
            clients, failures, elapsed = await gen.connect_many(
                command["tokens"], command.get("record"), command.get("concurrency", 200), command.get("ports"))
            answer({"connected": len(clients), "failed": len(failures), "failures": failures[:5],
                    "seconds": round(elapsed, 3), "total_open": len(gen.open_clients),
                    "deflate_accepted": sum(c.deflate_accepted for c in clients),
                    "cpu_s": round(Generator.cpu() - cpu_before, 3)})
        elif cmd == "join":
            # {"event": "join_course", "data": {...}, "first": i, "count": n}: the clients connected so far
            chosen = gen.clients[command.get("first", 0):command.get("first", 0) + command["count"]]
            answers = await gen.call_all(chosen, command["event"], lambda c: command["data"])
            ok = sum(1 for a in answers if isinstance(a, list) and a and isinstance(a[0], dict)
                     and a[0].get("status"))
            bad = [repr(a)[:200] for a in answers if not (isinstance(a, list) and a and isinstance(a[0], dict)
                                                          and a[0].get("status"))]
            answer({"joined": ok, "failed": len(bad), "failures": bad[:3]})
        elif cmd == "fanout_window":
            # {"first_seq", "last_seq", "clients", "seconds", "grace"}: stats over that window's events
            expected_events = command["last_seq"] - command["first_seq"] + 1
            expected = expected_events * command["clients"]
            deadline = time.monotonic() + command.get("grace", 5.0)
            lo, hi = command["first_seq"], command["last_seq"]

            def window():
                return [lat for seq, lat in gen.stats.fanout if lo <= seq <= hi]

            while len(window()) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            latencies = window()
            result = {"clients": command["clients"], "events": expected_events, "expected": expected,
                      "delivered": len(latencies), "delivered_ratio": round(len(latencies) / expected, 5),
                      "deliveries_per_s": round(len(latencies) / command["seconds"], 1)}
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
        elif cmd == "stats":
            answer({"open": len(gen.open_clients), "errors": gen.stats.errors,
                    "compressed_frames": gen.stats.compressed_frames,
                    "cpu_s": round(Generator.cpu() - gen.started_cpu, 3)})
        elif cmd == "close":
            for client in list(gen.clients):
                if client.transport is not None:
                    client.transport.close()
            await asyncio.sleep(0.5)
            gen.clients.clear()
            answer({"closed": True})
        elif cmd == "quit":
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
