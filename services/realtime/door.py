"""The door: one eventlet WSGI server on port 5000 serving the HTTP API and Socket.IO.

``Door`` subclasses Nameko's ``WebServer`` so the service's ``@api`` routes and the Socket.IO
server share the port: ``/socket.io/`` goes to python-socketio, everything else to Nameko's URL
map (``edge.py``: the origin policy, JSON errors, the dashboard's files). It composes:

* the transport (``transport/``): the Socket.IO server with recoverable sessions, and the
  client manager whose room emits go through the room log every door reads;
* the connection registry (``connections.py``): who each sid is, token expiry, per-user caps;
* the socket dispatch (``dispatch.py``): client events to ``@on_socket`` entrypoints;
* the presence announcer (``presence.py``): who is watching each video, across doors.
"""
import gc
import logging
import socket

from nameko.web.server import WebServer, parse_address

from services.kernel.config import SETTINGS, split_list
from services.realtime import admin_ui
from services.realtime.presence import Announcer
from services.realtime.addresses import TrustedProxies
from services.realtime.connections import ConnectionRegistry
from services.realtime.dispatch import Client, SocketDispatch  # noqa: F401  (Client: the workers' view)
from services.realtime.edge import DoorApp, OriginPolicy, dashboard, error_body, json_response  # noqa: F401
from services.realtime.transport import check_upstream_versions, frames
from services.realtime.transport.manager import RoomLogManager
from services.realtime.transport.packets import StrictPacket
from services.realtime.transport.server import DoorSocketServer

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
# connections the kernel holds for the door before it accepts them. eventlet.listen's (and so
# nameko's) 50 overflowed under a burst of connects: a dropped SYN is retried after a second,
# so connects stalled while the door had CPU to spare (docs/benchmarks.md); the kernel caps it
# at net.core.somaxconn
LISTEN_BACKLOG = 1024
# a connection is handed to the door when its request has arrived, not at its handshake: the
# request's green thread then reads it at once instead of finding nothing, waiting on the hub
# and being woken for it (a registration with the hub and a failed read per connect). A client
# silent for this long is handed over anyway, and meets the HTTP read timeout as before.
DEFER_ACCEPT_SECONDS = 5


def setting(config, name, kind=str):
    return kind(config.get(name) or SETTINGS[name])


class Door(WebServer):
    def setup(self):
        check_upstream_versions()
        config = self.container.config
        _, port = parse_address(config.get("WEB_SERVER_ADDRESS", "0.0.0.0:5000"))
        own = config.get("PUBLIC_ORIGINS") or f"http://localhost:{port},http://127.0.0.1:{port}"
        self.allowed_origins = split_list(own) + split_list(config.get("CORS_ALLOWED_ORIGINS"))
        self.stopping = False
        self.registry = ConnectionRegistry(int(config["MAX_CONNECTIONS_PER_USER"]), on_expiry=self._expire)
        self.dispatch = SocketDispatch(self, self.registry, config["SOCKET_EVENT_RATE"])
        self.manager = RoomLogManager(
            config["AMQP_URI"],
            window_seconds=setting(config, "RECOVERY_WINDOW_SECONDS", float),
            window_entries=setting(config, "ROOM_LOG_WINDOW_ENTRIES", int),
            max_age=setting(config, "ROOM_LOG_MAX_AGE"),
            max_bytes=setting(config, "ROOM_LOG_MAX_BYTES", int),
            on_drop=self.dispatch.forget,
        )
        self.sio = DoorSocketServer(
            gate=self.dispatch,
            async_mode="eventlet",
            serializer=StrictPacket,
            client_manager=self.manager,
            cors_allowed_origins=self.allowed_origins,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            ping_interval=setting(config, "SOCKET_PING_INTERVAL_SECONDS", float),
            ping_timeout=setting(config, "SOCKET_PING_TIMEOUT_SECONDS", float),
            connect_timeout=setting(config, "CONNECT_TIMEOUT_SECONDS", float),
            max_connections=setting(config, "MAX_CONNECTIONS", int),
            pending_per_address=setting(config, "PENDING_CONNECTIONS_PER_ADDRESS", int),
            client_address=TrustedProxies(config.get("TRUSTED_PROXIES") or "").client_address,
            # one client's events run in order, in that client's own green thread,
            # so a join is done before the chat message sent right after it
            async_handlers=False,
        )
        frames.install(self.sio.eio)
        # who watches which video, across doors: the transport computes it, this announces it
        announcer = Announcer(self.sio)
        self.manager.on_presence, self.manager.on_count = announcer.change, announcer.count
        self.sio.on("disconnect", self.dispatch.on_disconnect)
        self.sio.on("*", self.dispatch.on_event)
        self.admin_ui = admin_ui.instrument(self.sio, config)  # None unless configured

    def get_wsgi_app(self):
        api = OriginPolicy(DoorApp(self), self.allowed_origins)
        http = dashboard(api)
        return frames.SocketIOApp(self.sio, admin_ui.serve_ui(http) if self.admin_ui else http)

    def get_wsgi_server(self, sock, wsgi_app, protocol=frames.DoorProtocol, debug=False):
        return super().get_wsgi_server(sock, wsgi_app, protocol=protocol, debug=debug)

    def make_url_map(self):
        # socket entrypoints register with the door too; only HTTP ones have URL rules
        http_only = [p for p in self._providers if hasattr(p, "get_url_rule")]
        saved, self._providers = self._providers, http_only
        try:
            return super().make_url_map()
        finally:
            self._providers = saved

    def process_request(self, sock, address):
        """Serve one connection; an error in it ends that connection, and only that one.

        nameko serves each connection in a managed thread, and a managed thread that raises
        kills the container: one client's failure would end every connection of the door."""
        try:
            super().process_request(sock, address)
        except Exception:
            log.exception("a connection from %s failed", address[0] if address else "?")
            try:
                sock.close()
            except OSError:
                pass

    def start(self):
        self.dispatch.index(self._providers)  # every @on_socket entrypoint registered in its setup()
        self.manager.start()
        super().start()
        self._sock.listen(LISTEN_BACKLOG)  # on a listening socket, listen() sets the backlog anew
        if hasattr(socket, "TCP_DEFER_ACCEPT"):
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECONDS)
        # the start-up heap (modules, the service, its dependencies) lives as long as the
        # process: keep it out of the garbage collector's full passes, whose pauses show
        # as delivery-latency spikes for every client (docs/benchmarks.md)
        gc.freeze()

    @property
    def ready(self):
        """Serving: the room log has been read up to where it stood at start, and not stopping."""
        return self.manager.log.ready.ready() and not self.stopping

    def drain(self):
        """Begin stopping (SIGTERM): stop accepting, so reconnects go to another door (or retry
        until this one is back), and close every transport without a Socket.IO DISCONNECT, so
        clients reconnect by themselves and resume there (their sessions are parked)."""
        if self.stopping:
            return
        self.stopping = True
        self._is_accepting = False
        self._gt.kill()
        self._sock.close()
        # the entrypoints are stopping: leaving clients are parked, not announced
        self.dispatch.handlers = {}
        self.sio.close_transports()

    def unregister_provider(self, provider):
        # the first entrypoint to stop starts the drain: clients move while the rest stops
        self.drain()
        super().unregister_provider(provider)

    def stop(self):
        self.drain()
        self.sio.eio.pinger.stop()
        self.manager.stop()  # appends what waits (the parked sessions among it)
        self.registry.close()
        super().stop()

    # -- used by the Sockets dependency and the entrypoints ------------------------------------

    def end_session(self, session_id, message):
        """Tell and disconnect this replica's clients that connected with that session."""
        ending = self.registry.of_session(session_id)
        for sid in ending:
            self.send(sid, "error", {"message": message, "code": "forbidden"})
            self.sio.disconnect(sid)
        return len(ending)

    def _expire(self, sid):
        self.send(sid, "error", {"message": "Token expired", "code": "token_expired"})
        self.sio.disconnect(sid)

    def send(self, sid, event, payload):
        """Emit to one client of this replica, without a trip through the room log."""
        self.sio.emit(event, payload, to=sid, ignore_queue=True)

    def send_error(self, sid, event, code, message):
        payload = {"message": message, "code": code, "event": event}
        self.send(sid, "error", payload)
        return payload
