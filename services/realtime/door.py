"""The door: one eventlet WSGI server on port 5000 serving the HTTP API and Socket.IO.

``Door`` subclasses Nameko's ``WebServer`` so the service's ``@api`` routes and the
Socket.IO server share the port: ``/socket.io/`` goes to python-socketio, everything
else to Nameko's URL map (wrapped with the origin policy and JSON errors).

Socket.IO runs with a ``KombuManager`` on the platform's RabbitMQ so several door
replicas share rooms: an emit to a room reaches that room's clients on every replica.
The door keeps the table of live connections (who each ``sid`` is, when its token
expires) and hands client events to ``@on_socket`` entrypoints as Nameko workers.
"""
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import eventlet
import socketio
from nameko.web.server import WebServer, WsgiApp, parse_address
from socketio.exceptions import ConnectionRefusedError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.wrappers import Request, Response

from services.kernel.config import split_list
from services.kernel.errors import PlatformError
from services.kernel.tokens import Identity
from services.realtime.handshake import token_from_handshake

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
        self.sio = socketio.Server(
            async_mode="eventlet",
            client_manager=socketio.KombuManager(config["AMQP_URI"], channel=ROOMS_CHANNEL),
            cors_allowed_origins=self.allowed_origins,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            # one client's events run in order, in that client's own green thread,
            # so a join is done before the chat message sent right after it
            async_handlers=False,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_event)

    def get_wsgi_app(self):
        api = OriginPolicy(DoorApp(self), self.allowed_origins)
        return socketio.WSGIApp(self.sio, dashboard(api))

    def make_url_map(self):
        # socket entrypoints register with the door too; only HTTP ones have URL rules
        http_only = [p for p in self._providers if hasattr(p, "get_url_rule")]
        saved, self._providers = self._providers, http_only
        try:
            return super().make_url_map()
        finally:
            self._providers = saved

    def stop(self):
        for timer in [c.expiry for c in self.connections.values() if c.expiry]:
            timer.cancel()
        super().stop()

    # -- socket events -------------------------------------------------------

    def socket_handler(self, event):
        for provider in self._providers:
            if getattr(provider, "socket_event", None) == event:
                return provider
        return None

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
        if connection.expiry:
            connection.expiry.cancel()
        handler = self.socket_handler("disconnect")
        if handler is not None:
            rooms = tuple(r for r in self.sio.rooms(sid) if r != sid)
            handler.run(Client(sid=sid, identity=connection.identity, rooms=rooms), None, wait=False)

    def _on_event(self, event, sid, *args):
        connection = self.connections.get(sid)
        if connection is None:
            return None
        handler = self.socket_handler(event)
        client = Client(sid=sid, identity=connection.identity)
        if handler is None or event in ("connect", "disconnect"):
            return self.send_error(sid, event, "not_found", f"Unknown event '{event}'")
        return handler.run(client, args[0] if args else None)

    # -- used by the Sockets dependency and the entrypoints ------------------

    def accept(self, sid, identity):
        """Remember who ``sid`` is and end the connection when its token expires."""
        delay = max(0.0, identity.expires_at - time.time())
        self.connections[sid] = Connection(identity, eventlet.spawn_after(delay, self._expire, sid))

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
