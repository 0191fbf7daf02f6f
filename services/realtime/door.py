"""The door: one eventlet WSGI server on port 5000 serving the HTTP API and Socket.IO.

``Door`` subclasses Nameko's ``WebServer`` so the service's ``@api`` routes and the
Socket.IO server share the port: ``/socket.io/`` goes to python-socketio, everything
else to Nameko's URL map (wrapped with the origin policy and JSON errors).

Socket.IO runs with a ``KombuManager`` on the platform's RabbitMQ so several door
replicas share rooms: an emit to a room reaches that room's clients on every replica.
The door keeps the table of live connections (who each ``sid`` is, when its token
expires) and hands client events to ``@on_socket`` entrypoints as Nameko workers.
"""
import gc
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import eventlet
import eventlet.wsgi
import socketio
from nameko.web.server import WebServer, WsgiApp, parse_address
from socketio.exceptions import ConnectionRefusedError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.wrappers import Request, Response

from services.kernel.config import split_list
from services.kernel.errors import PlatformError, RateLimited
from services.kernel.tokens import Identity
from services.realtime.broadcast import RoomBroadcast, record_websockets
from services.realtime.handshake import token_from_handshake
from services.realtime.metrics import CountingServer
from services.realtime.ratelimit import RateLimiter

log = logging.getLogger(__name__)

ROOMS_CHANNEL = "realtime-rooms"
MAX_MESSAGE_BYTES = 64 * 1024
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class Client:
    """The sender of a socket event, as handed to an ``@on_socket`` worker."""

    sid: str
    identity: Identity | None = None
    rooms: tuple = ()
    token: str | None = None  # only set for ``connect``

    @property
    def user_id(self):
        return self.identity.user_id

    @property
    def email(self):
        return self.identity.email


@dataclass
class Connection:
    identity: Identity
    expiry: object = field(default=None, repr=False)


def json_response(status, body, headers=None):
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


class Door(WebServer):
    def setup(self):
        config = self.container.config
        _, port = parse_address(config.get("WEB_SERVER_ADDRESS", "0.0.0.0:5000"))
        own = config.get("PUBLIC_ORIGINS") or f"http://localhost:{port},http://127.0.0.1:{port}"
        self.allowed_origins = split_list(own) + split_list(config.get("CORS_ALLOWED_ORIGINS"))
        self.connections = {}
        self.sids_by_user = {}
        self.event_rate = config["SOCKET_EVENT_RATE"]
        self.max_connections_per_user = int(config["MAX_CONNECTIONS_PER_USER"])
        self.event_limiter = RateLimiter()
        self.sio = DoorSocketServer(
            async_mode="eventlet",
            serializer=StrictPacket,
            client_manager=RoomBroadcast(config["AMQP_URI"], channel=ROOMS_CHANNEL),  # a lean KombuManager
            cors_allowed_origins=self.allowed_origins,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            # one client's events run in order, in that client's own green thread,
            # so a join is done before the chat message sent right after it
            async_handlers=False,
        )
        record_websockets(self.sio.eio)  # RoomBroadcast writes room emits straight to the websockets
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_event)

    def get_wsgi_app(self):
        api = OriginPolicy(DoorApp(self), self.allowed_origins)
        return SocketIOApp(self.sio, dashboard(api))

    def make_url_map(self):
        # socket entrypoints register with the door too; only HTTP ones have URL rules
        http_only = [p for p in self._providers if hasattr(p, "get_url_rule")]
        saved, self._providers = self._providers, http_only
        try:
            return super().make_url_map()
        finally:
            self._providers = saved

    def start(self):
        # every @on_socket entrypoint registered in its setup(); index them once, since
        # the lookup runs for every client event
        self.socket_handlers = {p.socket_event: p for p in self._providers if hasattr(p, "socket_event")}
        super().start()
        # the start-up heap (modules, the service, its dependencies) lives as long as the
        # process: keep it out of the garbage collector's full passes, whose pauses show
        # as delivery-latency spikes for every client (docs/benchmarks.md)
        gc.freeze()

    def stop(self):
        for timer in [c.expiry for c in self.connections.values() if c.expiry]:
            timer.cancel()
        super().stop()

    # -- socket events -------------------------------------------------------

    def socket_handler(self, event):
        return self.socket_handlers.get(event)

    def _on_connect(self, sid, environ, auth=None):
        handler = self.socket_handler("connect")
        client = Client(sid=sid, token=token_from_handshake(auth, environ))
        try:
            reply = handler.run(client, None)
        except PlatformError as exc:
            raise ConnectionRefusedError(exc.message) from None
        except Exception:
            log.exception("connect handler failed")
            raise ConnectionRefusedError("Service unavailable") from None
        if reply is not None:
            # the CONNECT packet goes out when this handler returns; a reply emitted
            # now would reach the client before it counts itself connected
            self.sio.start_background_task(self.send, sid, handler.reply_event, reply)

    def _on_disconnect(self, sid, *_reason):
        connection = self.connections.pop(sid, None)
        if connection is None:
            return
        self.event_limiter.forget(self.event_rate, sid)
        if connection.expiry:
            connection.expiry.cancel()
        user_sids = self.sids_by_user.get(connection.identity.user_id)
        if user_sids is not None:
            user_sids.discard(sid)
            if not user_sids:
                del self.sids_by_user[connection.identity.user_id]
        handler = self.socket_handler("disconnect")
        if handler is not None:
            rooms = tuple(r for r in self.sio.rooms(sid) if r != sid)
            handler.run(Client(sid=sid, identity=connection.identity, rooms=rooms), None, wait=False)

    def _on_event(self, event, sid, *args):
        connection = self.connections.get(sid)
        if connection is None:
            return None
        if not self.event_limiter.allow(self.event_rate, sid):
            return self.send_error(sid, event, "rate_limited", f"Too many events: at most {self.event_rate}")
        if event == "*reserved*":  # see DoorSocketServer._handle_event
            event, args = args[0], args[1:]
            return self.send_error(sid, event, "not_found", f"Unknown event '{event}'")
        handler = self.socket_handler(event)
        if handler is None:
            return self.send_error(sid, event, "not_found", f"Unknown event '{event}'")
        client = Client(sid=sid, identity=connection.identity)
        return handler.run(client, args[0] if args else None)

    # -- used by the Sockets dependency and the entrypoints ------------------

    def accept(self, sid, identity):
        """Remember who ``sid`` is and end the connection when its token expires."""
        user_sids = self.sids_by_user.setdefault(identity.user_id, set())
        if len(user_sids) >= self.max_connections_per_user:
            raise RateLimited(f"Too many connections: at most {self.max_connections_per_user} per user")
        user_sids.add(sid)
        delay = max(0.0, identity.expires_at - time.time())
        self.connections[sid] = Connection(identity, eventlet.spawn_after(delay, self._expire, sid))

    def end_session(self, session_id, message):
        """Tell and disconnect this replica's clients that connected with that session."""
        ending = [sid for sid, c in self.connections.items() if c.identity.session_id == session_id]
        for sid in ending:
            self.send(sid, "error", {"message": message, "code": "forbidden"})
            self.sio.disconnect(sid)
        return len(ending)

    def _expire(self, sid):
        if sid in self.connections:
            self.send(sid, "error", {"message": "Token expired", "code": "token_expired"})
            self.sio.disconnect(sid)

    def send(self, sid, event, payload):
        """Emit to one client of this replica, without a trip through the broker."""
        self.sio.emit(event, payload, to=sid, ignore_queue=True)

    def send_error(self, sid, event, code, message):
        payload = {"message": message, "code": code, "event": event}
        self.send(sid, "error", payload)
        return payload


RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "*"})


class MalformedPacket(ValueError):
    """A Socket.IO packet that cannot be decoded or has no event name."""


_SCALARS = frozenset({str, int, float, bool, type(None)})


class StrictPacket(socketio.packet.Packet):
    @classmethod
    def data_is_binary(cls, data):
        # upstream's answer without a list, a reduce and a call per scalar at each level:
        # it runs for every packet, and was 7 % of the door's CPU under progress load
        if isinstance(data, dict):
            items = data.values()
        elif isinstance(data, list):
            items = data
        else:
            return isinstance(data, (bytes, bytearray))
        return any(type(item) not in _SCALARS and cls.data_is_binary(item) for item in items)

    def decode(self, encoded_packet):
        try:
            return super().decode(encoded_packet)
        except Exception as exc:
            raise MalformedPacket(f"undecodable packet ({type(exc).__name__})") from None


class DoorSocketServer(CountingServer):
    """python-socketio's server (counting what it emits, for /metrics), answering a
    malformed packet instead of logging a traceback.

    The library catches a packet it cannot handle but logs it as an error with its
    traceback; a client can produce that at will. Here the packet is dropped, the
    sender gets an ``error`` event, and the connection (and everyone else) carries on.
    """

    def _handle_eio_message(self, eio_sid, data):
        try:
            return super()._handle_eio_message(eio_sid, data)
        except ValueError as exc:  # MalformedPacket, or the library's own "Unknown packet type."
            self._binary_packet.pop(eio_sid, None)
            log.info("dropped a malformed Socket.IO packet: %s", exc)
            error = {"message": "Malformed packet", "code": "invalid_parameters", "event": None}
            sid = self.manager.sid_from_eio_sid(eio_sid, "/")
            if sid is not None and self.manager.is_connected(sid, "/"):
                self.emit("error", error, to=sid, ignore_queue=True)

    def _handle_event(self, eio_sid, namespace, id, data):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise MalformedPacket("an event packet must be a list starting with the event name")
        if data[0] in RESERVED_EVENTS:
            # lifecycle handlers are registered under these names; a client must not be
            # able to call them by emitting an event so named
            data = ["*reserved*", *data]
        return super()._handle_event(eio_sid, namespace, id, data)


class SocketIOApp(socketio.WSGIApp):
    """python-socketio's WSGI app, with a malformed frame ending only its own connection.

    python-engineio rejects an empty websocket frame by raising ``ValueError`` out of the
    connection's handler (upstream closes the connection on purpose: python-engineio
    PR #270). That is the right outcome, but it would reach the WSGI server as a 500 with
    a traceback; here it is one log line instead.
    """

    def __call__(self, environ, start_response):
        # Compression policy: permessage-deflate is refused. Browsers offer it on every
        # websocket; eventlet accepts the offer per connection and then deflates every
        # frame for every client separately (a room emit to 1,000 clients = 1,000
        # compressions) and keeps a zlib context (~100 KB) per connection. Our frames
        # are small JSON events, so the door sends them as they are: dropping the offer
        # before eventlet's handshake reads it makes it answer without the extension,
        # which RFC 6455/7692 clients accept. Measured in docs/benchmarks.md.
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        try:
            return super().__call__(environ, start_response)
        except ValueError as exc:
            if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
                raise
            log.info("closed a websocket that sent a malformed frame: %s", exc)
            # the response was the websocket itself: tell eventlet's server, as its
            # websocket handler does, that there is nothing left to write
            eventlet.wsgi.WSGI_LOCAL.already_handled = True
            return []


def dashboard(app):
    """The dashboard page at ``/dashboard`` and its files under ``/static/``, in front of ``app``.

    werkzeug serves them: ``safe_join`` refuses ``..`` and absolute paths, content types
    come from the file names, and anything not a file falls through to ``app`` (a 404).
    """
    return SharedDataMiddleware(app, {
        "/dashboard": str(STATIC_DIR / "dashboard.html"),
        "/static": str(STATIC_DIR),
    })


class DoorApp(WsgiApp):
    """Nameko's URL dispatch, with unknown routes and methods answered in the envelope."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            response = json_response(exc.code, error_body(_snake(exc.name), exc.description), exc.get_headers())
            response.headers["Content-Type"] = "application/json"
        return response(environ, start_response)


def _snake(name):
    return name.lower().replace(" ", "_")


class OriginPolicy:
    """CORS for the HTTP API: no ``Origin`` or an allowed one passes, any other gets 403."""

    ALLOWED_HEADERS = "Authorization, Content-Type"
    ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"

    def __init__(self, app, allowed_origins):
        self.app = app
        self.allowed = set(allowed_origins)

    def __call__(self, environ, start_response):
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return self.app(environ, start_response)
        if origin not in self.allowed:
            refusal = json_response(403, error_body("forbidden", f"Origin {origin} is not allowed"))
            return refusal(environ, start_response)
        cors = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            cors += [("Access-Control-Allow-Methods", self.ALLOWED_METHODS),
                     ("Access-Control-Allow-Headers", self.ALLOWED_HEADERS),
                     ("Access-Control-Max-Age", "600")]
            return Response(status=204, headers=cors)(environ, start_response)

        def start_with_cors(status, headers, exc_info=None):
            return start_response(status, list(headers) + cors, exc_info)

        return self.app(environ, start_with_cors)
