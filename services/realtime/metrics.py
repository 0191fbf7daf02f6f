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


class CountingServer(socketio.Server):
    """A Socket.IO server that counts what it emits and can be asked about its rooms."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _servers.add(self)

    def emit(self, event, *args, **kwargs):
        SOCKET_EVENTS_SENT.labels(event).inc()
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
        yield from self.recovery()

    def recovery(self):
        """How full the replay window of connection state recovery is (transport/roomlog.py):
        when it holds its maximum of entries before RECOVERY_WINDOW_SECONDS have passed, a
        client that comes back within the window can no longer be replayed what it missed."""
        held = GaugeMetricFamily(
            "realtime_recovery_window_entries", "Room events this replica holds in memory for replay")
        capacity = GaugeMetricFamily(
            "realtime_recovery_window_capacity", "Room events this replica holds for replay at most")
        parked = GaugeMetricFamily(
            "realtime_recoverable_sessions", "Recoverable sessions this replica knows of (connected, or dropped and still resumable)")
        entries, limit, sessions = 0, 0, 0
        for server in list(_servers):
            manager = server.manager
            window = getattr(getattr(manager, "log", None), "window", None)
            if window is not None:
                entries += len(window)
                limit += window.max_entries
            if getattr(manager, "sessions", None) is not None:
                sessions += len(manager.sessions)
        held.add_metric([], entries)
        capacity.add_metric([], limit)
        parked.add_metric([], sessions)
        yield held
        yield capacity
        yield parked


REGISTRY.register(DoorCollector())


def observe_rpc(service, method, seconds):
    RPC_DURATION.labels(service, method).observe(seconds)


class DoorMetrics(DependencyProvider):
    """Counts each socket event a worker handles and each error a worker answers with."""

    def worker_setup(self, worker_ctx):
        event = getattr(worker_ctx.entrypoint, "socket_event", None)
        if event:
            SOCKET_EVENTS_RECEIVED.labels(event).inc()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if exc_info is not None:
            error = exc_info[1]
            ERRORS.labels(error.code if isinstance(error, PlatformError) else "internal_error").inc()
