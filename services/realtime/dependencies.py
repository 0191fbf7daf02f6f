"""Dependencies of the realtime service: sockets, tokens, and the door's own memory.

Each memory (memberships, rate windows, handled event ids, progress windows, the
progress not yet flushed, chat messages not yet handed over, the courses' mutes) is one
object per door process, built in ``setup`` and shared by every worker of that process:
each such provider says so (``OnePerProcess``), and the socket events' workers are given
it without asking it again per event (``workers.py``).
"""
import logging
import time

import eventlet
from cachetools import TTLCache
from eventlet import hubs
from nameko.extensions import DependencyProvider

from services.kernel import events, telemetry
from services.kernel.config import SETTINGS, read_secret
from services.kernel.events import EventDispatcher
from services.kernel.tokens import TokenVerifier
from services.realtime import metrics
from services.realtime.addresses import TrustedProxies
from services.realtime.door import Door
from services.realtime.mutes import MuteTable
from services.realtime.ratelimit import RateLimiter
from services.realtime.reports import ReportBuffer, hand_over
from services.realtime.rooms import Memberships
from services.realtime.throttle import Throttle
from services.realtime.workers import OnePerProcess

log = logging.getLogger(__name__)


class Sockets(OnePerProcess, DependencyProvider):
    """Emits and room changes go through here, never through ``sio`` directly."""

    door = Door()

    def setup(self):
        self.api = SocketsApi(self.door)

    def get_dependency(self, worker_ctx):
        return self.api


class SocketsApi:
    def __init__(self, door):
        self._door = door

    def send(self, sid, event, payload):
        """To one client connected to this replica (replies, errors)."""
        self._door.send(sid, event, payload)

    def emit(self, event, payload, to, skip_sid=None):
        """To rooms (a name or a list; a client in several gets one copy) on every replica."""
        with telemetry.span(f"emit {event}"):
            self._door.sio.emit(event, payload, to=to, skip_sid=skip_sid)

    def enter_room(self, sid, room):
        self._door.manager.enter_room(sid, "/", room)

    def attend(self, sid, room, presence):
        """Count the client, in ``room`` already, among the room's watchers (``presence.in_video``)."""
        self._door.manager.attend(sid, room, presence)

    def watching(self, room, limit):
        """Up to ``limit`` users in ``room``'s presence on every door, and how many there are."""
        return self._door.manager.watching(room, limit)

    def leave_room(self, sid, room):
        self._door.sio.leave_room(sid, room)

    def rooms(self, sid):
        return [room for room in self._door.sio.rooms(sid) if room != sid]

    def disconnect(self, sid):
        self._door.sio.disconnect(sid)

    def end_session(self, session_id, message="Session ended"):
        return self._door.end_session(session_id, message)

    @property
    def ready(self):
        """Whether this door serves sockets: it has read the room log, and is not stopping."""
        return self._door.ready


class Tokens(OnePerProcess, DependencyProvider):
    def setup(self):
        self.verifier = TokenVerifier(read_secret(self.container.config, "JWT_PUBLIC_KEY"))

    def get_dependency(self, worker_ctx):
        return self.verifier


class MembershipCache(OnePerProcess, DependencyProvider):
    def setup(self):
        self.memberships = Memberships()

    def get_dependency(self, worker_ctx):
        return self.memberships


class ClientAddresses(OnePerProcess, DependencyProvider):
    """The caller's address as the per-address limits count it (see ``addresses.py``)."""

    def setup(self):
        self.proxies = TrustedProxies(self.container.config.get("TRUSTED_PROXIES", ""))

    def get_dependency(self, worker_ctx):
        return self.proxies


class RateLimits(OnePerProcess, DependencyProvider):
    def setup(self):
        self.limiter = RateLimiter()

    def get_dependency(self, worker_ctx):
        return self.limiter


class DeliveryLedger:
    """Event ids already handled here: a redelivered event reaches the rooms once."""

    def __init__(self, maxsize=100_000, ttl=3600):
        self._seen = TTLCache(maxsize=maxsize, ttl=ttl)

    def first_time(self, event_id):
        if event_id in self._seen:
            return False
        self._seen[event_id] = True
        return True


class HandledEvents(OnePerProcess, DependencyProvider):
    def setup(self):
        self.ledger = DeliveryLedger()

    def get_dependency(self, worker_ctx):
        return self.ledger


class RevokedSessions(OnePerProcess, DependencyProvider):
    """Sessions logged out (or revoked for refresh-token reuse) while their access tokens
    may still be unexpired: this door refuses those tokens until they would have expired."""

    def setup(self):
        ttl = int(self.container.config["ACCESS_TOKEN_TTL_SECONDS"]) + 60
        self.revoked = TTLCache(maxsize=100_000, ttl=ttl)

    def get_dependency(self, worker_ctx):
        return self.revoked


class ProgressThrottle(OnePerProcess, DependencyProvider):
    """The live ``student_progress`` windows: at most four events a second per (student, video)."""

    INTERVAL_SECONDS = 0.25

    def setup(self):
        # a window's close runs as a hub timer, not in a green thread of its own: it only appends
        # to the room log (never waits), and under progress load windows close 2,000 times a
        # second, each green thread a greenlet made, switched to and torn down
        # (docs/benchmarks.md)
        self.throttle = Throttle(self.INTERVAL_SECONDS, hubs.get_hub().schedule_call_global)

    def stop(self):
        # live-only values: the stored path (ProgressReports) carries the final one
        self.throttle.cancel()

    def get_dependency(self, worker_ctx):
        return self.throttle


class ProgressReports(OnePerProcess, EventDispatcher):
    """Progress reports held per (student, video) and handed to the progress service in batches.

    Every ``PROGRESS_FLUSH_SECONDS`` the buffer is drained into ONE ``progress_reported``
    event (persistent message, publisher confirms, mandatory routing to the progress
    service's durable queue): the progress service then writes one transaction per
    flush, however often clients report. A batch the broker did not take (broker down,
    queue not declared yet) goes back into the buffer for the next tick.

    On a graceful stop (SIGTERM) Nameko stops the entrypoints, waits for the running
    workers, then stops the dependencies: the flush in ``stop`` therefore sees every
    report a worker accepted, and the publisher (its own pooled broker connection,
    not the entrypoints' consumer) still works. Only a SIGKILL loses what is held: at
    most one flush interval of the latest values.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("mandatory", True)
        super().__init__(**kwargs)

    def setup(self):
        super().setup()
        config = self.container.config
        self.interval = float(config.get("PROGRESS_FLUSH_SECONDS", SETTINGS["PROGRESS_FLUSH_SECONDS"]))
        self.buffer = ReportBuffer()
        metrics.watch_progress_buffer(self.buffer)
        self._stopping = eventlet.Event()
        self._flusher = None

    def start(self):
        self._flusher = self.container.spawn_managed_thread(self._flush_periodically)

    def stop(self):
        self._stopping.send(True)
        if self._flusher is not None:
            self._flusher.wait()  # wakes at once; if it was publishing, that publish completes
        if not self.flush():
            log.error("stopping with %d progress reports not handed over", len(self.buffer))

    def get_dependency(self, worker_ctx):
        return self.buffer

    def _flush_periodically(self):
        while not self._stopping.wait(self.interval):
            self.flush()

    def flush(self):
        """Hand what is held to the progress service; True when nothing is left unsent."""
        if not len(self.buffer):
            return True
        started = time.perf_counter()
        sent = hand_over(self.buffer, self._publish)
        metrics.PROGRESS_FLUSH.labels("ok" if sent else "failed").observe(time.perf_counter() - started)
        return sent

    def _publish(self, message):
        self.publish(events.PROGRESS_REPORTED.event_type, message)


class ChatMessages(OnePerProcess, EventDispatcher):
    """Chat messages handed to the chat service: one persistent, confirmed, mandatory publish each.

    ``send_chat_message`` emits to the room first, then calls ``hand_over(payload)``, then
    acknowledges: the acknowledgement leaves only once the broker has confirmed that the
    message sits in the chat service's durable queue, so a door killed right after an
    acknowledgement loses nothing. The wait is one broker round trip, never a database or
    an RPC. The chat service stores by the message's ``id`` (``event_id``), so a publish
    repeated after a lost confirm stores nothing twice.

    A publish the broker refuses (down, or no chat queue bound yet: ``mandatory``) is held
    here and retried every ``RETRY_SECONDS`` in the background, in order; the sender is
    acknowledged all the same (the room already has the message). Only a door that dies
    while the broker refuses loses what it holds; a SIGTERM tries once more before stopping.
    """

    RETRY_SECONDS = 1.0
    # one quick retry on a stale pooled connection (a broker restart); past that the
    # message is held instead of keeping the sender's acknowledgement waiting
    RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

    def __init__(self, **kwargs):
        kwargs.setdefault("mandatory", True)
        kwargs.setdefault("retry_policy", self.RETRY_POLICY)
        super().__init__(**kwargs)

    def setup(self):
        super().setup()
        self.held = []
        self._stopping = eventlet.Event()
        self._retrier = None

    def start(self):
        self._retrier = self.container.spawn_managed_thread(self._retry_periodically)

    def stop(self):
        self._stopping.send(True)
        if self._retrier is not None:
            self._retrier.wait()
        if not self.retry_held():
            log.error("stopping with %d chat messages not handed over", len(self.held))

    def get_dependency(self, worker_ctx):
        return self.hand_over

    def hand_over(self, payload):
        """Publish one message (confirmed); True if the broker took it, else it is held."""
        message = {"event_id": payload["id"], **payload}
        if not self.held:
            try:
                self._publish(message)
                return True
            except Exception as exc:
                log.warning("could not hand over chat message %s (%s: %s); holding it",
                            payload["id"], type(exc).__name__, exc)
        self.held.append(message)  # behind those already held: they go out in order
        return False

    def retry_held(self):
        """Publish what is held, oldest first; True when nothing is left."""
        while self.held:
            try:
                self._publish(self.held[0])
            except Exception as exc:
                log.warning("still holding %d chat messages (%s: %s)", len(self.held), type(exc).__name__, exc)
                return False
            self.held.pop(0)
        return True

    def _retry_periodically(self):
        while not self._stopping.wait(self.RETRY_SECONDS):
            self.retry_held()

    def _publish(self, message):
        self.publish(events.CHAT_MESSAGE_SENT.event_type, message)  # stamped: the chat service measures its lag


class ChatMutes(OnePerProcess, DependencyProvider):
    """The courses' mutes, one :class:`~services.realtime.mutes.MuteTable` per door process."""

    def setup(self):
        self.table = MuteTable()

    def get_dependency(self, worker_ctx):
        return self.table
