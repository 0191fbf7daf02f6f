"""The door's Prometheus metrics, served as text at ``/metrics`` (``gateway/metrics.py``).

What an operator of several door replicas wants to see per replica: live connections
and rooms, socket events in and out by name, how long each RPC behind the door takes,
and which errors clients are given. Label values come only from our own code (event
and method names, error codes), never from client input, so series stay bounded.

Process metrics (memory, CPU, open files) come with prometheus_client's default
registry, which is the one used here.
"""
import weakref

import socketio
from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from services.kernel.errors import PlatformError

SOCKET_EVENTS_RECEIVED = Counter(
    "realtime_socket_events_received_total", "Client socket events handled, by event name", ["event"])
SOCKET_EVENTS_SENT = Counter(
    "realtime_socket_events_sent_total",
    "Socket events emitted by this replica (to one client or to a room), by event name", ["event"])
RPC_DURATION = Histogram(
    "realtime_rpc_duration_seconds", "Duration of RPC calls from the door, by service and method",
    ["service", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ERRORS = Counter(
    "realtime_errors_total", "Errors answered to clients (HTTP and socket), by error code", ["code"])
SESSIONS = Counter(
    "realtime_recoverable_connects_total",
    "Connections that asked for recovery, by outcome: a fresh session or a resumed one", ["outcome"])
HANDSHAKES_REFUSED = Counter(
    "realtime_handshakes_refused_total",
    "Socket.IO connections refused or closed before authenticating, by reason", ["reason"])
NOT_RESUMED = Counter(
    "realtime_sessions_not_resumed_total",
    "Reconnects that presented a session but got a fresh one, by reason", ["reason"])
PROGRESS_BUFFERED = Gauge(
    "realtime_progress_buffer_reports",
    "Progress reports held by this replica until its next flush (one per student and video)")
PROGRESS_FLUSH = Histogram(
    "realtime_progress_flush_seconds",
    "How long handing the held progress reports to the broker took, by outcome (ok, failed: kept for the next)",
    ["outcome"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def watch_progress_buffer(buffer):
    """Report ``buffer``'s size at each scrape (the door has one per process)."""
    PROGRESS_BUFFERED.set_function(lambda: len(buffer))


# the Socket.IO servers of this process (one per running door); read at scrape time
_servers = weakref.WeakSet()


class Children(dict):
    """A labelled metric's children by label value, each looked up once: ``labels()`` takes a
    lock and builds a tuple per call, and the door counts every socket event in and out."""

    def __init__(self, metric):
        super().__init__()
        self.metric = metric

    def __missing__(self, value):
        child = self[value] = self.metric.labels(value)
        return child


_sent = Children(SOCKET_EVENTS_SENT)


class CountingServer(socketio.Server):
    """A Socket.IO server that counts what it emits and can be asked about its rooms."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _servers.add(self)

    def emit(self, event, *args, **kwargs):
        _sent[event].inc()
        return super().emit(event, *args, **kwargs)


class DoorCollector:
    """Connections and rooms, counted from the servers' own tables when scraped."""

    def collect(self):
        connections = GaugeMetricFamily(
            "realtime_connections", "Socket.IO clients connected to this replica")
        rooms = GaugeMetricFamily(
            "realtime_rooms", "Socket.IO rooms with a member on this replica (a client's own room excluded)")
        connected, named_rooms = 0, 0
        for server in list(_servers):
            members = server.manager.rooms.get("/", {})
            sids = set(members.get(None, {}))
            connected += len(sids)
            named_rooms += sum(1 for room in members if room is not None and room not in sids)
        connections.add_metric([], connected)
        rooms.add_metric([], named_rooms)
        yield connections
        yield rooms
        known = GaugeMetricFamily(
            "realtime_recoverable_sessions", "Recoverable sessions this replica knows of (every door's, live or parked)")
        outbox = GaugeMetricFamily(
            "realtime_room_log_outbox", "Records waiting to be appended to the room log (grows while the broker is away)")
        window = GaugeMetricFamily(
            "realtime_room_log_window", "Room events this replica holds in memory for replay")
        pending = GaugeMetricFamily(
            "realtime_unauthenticated_sessions", "Engine.IO sessions on this replica that have not sent a Socket.IO CONNECT")
        pending.add_metric([], sum(len(getattr(server, "_address_of", ())) for server in list(_servers)))
        yield pending
        engine = GaugeMetricFamily(
            "realtime_engineio_sessions", "Engine.IO sessions this replica holds (authenticated or not)")
        engine.add_metric([], sum(len(server.eio.sockets) for server in list(_servers)))
        yield engine
        managers = [server.manager for server in list(_servers) if hasattr(server.manager, "log")]
        known.add_metric([], sum(len(m.sessions) for m in managers))
        outbox.add_metric([], sum(m.log.waiting for m in managers))
        window.add_metric([], sum(len(m.log.window) for m in managers))
        # at capacity before RECOVERY_WINDOW_SECONDS have passed, a client that comes back within
        # the window can no longer be replayed what it missed (the RecoveryWindowPressure alert)
        capacity = GaugeMetricFamily(
            "realtime_room_log_window_capacity", "Room events this replica holds in memory for replay at most")
        capacity.add_metric([], sum(m.log.window.max_entries for m in managers))
        yield known
        yield outbox
        yield window
        yield capacity


REGISTRY.register(DoorCollector())


def observe_rpc(service, method, seconds):
    RPC_DURATION.labels(service, method).observe(seconds)


class DoorMetrics(DependencyProvider):
    """Counts each socket event a worker handles and each error a worker answers with."""

    def setup(self):
        self.received = Children(SOCKET_EVENTS_RECEIVED)

    def worker_setup(self, worker_ctx):
        event = getattr(worker_ctx.entrypoint, "socket_event", None)
        if event:
            self.received[event].inc()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if exc_info is not None:
            error = exc_info[1]
            ERRORS.labels(error.code if isinstance(error, PlatformError) else "internal_error").inc()
