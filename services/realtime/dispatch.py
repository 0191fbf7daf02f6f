"""Socket events to ``@on_socket`` entrypoints: one class owns every case, connect included.

``SocketDispatch`` is what the door's Socket.IO server calls: it admits connections (the
``connect`` handler checks the token; per-user caps), registers them, hands each client event
to its handler (after the per-connection event rate), and forgets a client that leaves (what it
leaves behind in rooms and presence is the transport's: ``transport/manager.py``).
"""
import logging
from dataclasses import dataclass

from socketio.exceptions import ConnectionRefusedError

from services.kernel.errors import PlatformError
from services.realtime.handshake import token_from_handshake
from services.realtime.ratelimit import RateLimiter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Client:
    """The sender of a socket event, as handed to an ``@on_socket`` worker."""

    sid: str | None
    identity: object = None
    token: str | None = None  # only set for ``connect``

    @property
    def user_id(self):
        return self.identity.user_id

    @property
    def email(self):
        return self.identity.email


@dataclass(frozen=True)
class Admission:
    """What the ``connect`` handler answers: who connects, and the greeting to send them."""

    identity: object
    greeting: dict

    @property
    def user_id(self):
        return self.identity.user_id


class SocketDispatch:
    """The door's side of every socket event (the server's ``gate``, see ``transport/server.py``).

    :param door: sends replies and errors (``door.send``, ``door.send_error``), owns ``sio``.
    :param registry: the door's :class:`~services.realtime.connections.ConnectionRegistry`.
    :param event_rate: client events allowed per connection (``SOCKET_EVENT_RATE``).
    """

    def __init__(self, door, registry, event_rate):
        self.door = door
        self.registry = registry
        self.event_rate = event_rate
        self.event_limiter = RateLimiter()
        self.handlers = {}

    def index(self, providers):
        """Index the ``@on_socket`` entrypoints once: the lookup runs for every client event."""
        self.handlers = {p.socket_event: p for p in providers if hasattr(p, "socket_event")}

    # -- connecting (called by the transport) ------------------------------------------------

    def admit(self, environ, auth):
        handler = self.handlers.get("connect")
        if handler is None:
            raise ConnectionRefusedError("Service unavailable")
        try:
            admission = handler.run(Client(sid=None, token=token_from_handshake(auth, environ)), None)
            self.registry.check_room_for(admission.user_id)
        except PlatformError as exc:
            raise ConnectionRefusedError(exc.message) from None
        except Exception:
            log.exception("connect handler failed")
            raise ConnectionRefusedError("Service unavailable") from None
        return admission

    def connected(self, sid, admission):
        self.registry.accept(sid, admission.identity)
        return self.handlers["connect"].reply_event, admission.greeting

    # -- client events and disconnects (python-socketio handlers) ------------------------------

    def on_disconnect(self, sid, *_reason):
        self.forget(sid)

    def on_event(self, event, sid, *args):
        connection = self.registry.get(sid)
        if connection is None:
            return None
        if not self.event_limiter.allow(self.event_rate, sid):
            return self.door.send_error(sid, event, "rate_limited", f"Too many events: at most {self.event_rate}")
        if event == "*reserved*":  # see DoorSocketServer._handle_event
            event, args = args[0], args[1:]
            return self.door.send_error(sid, event, "not_found", f"Unknown event '{event}'")
        handler = self.handlers.get(event)
        if handler is None or event in ("connect", "disconnect"):
            return self.door.send_error(sid, event, "not_found", f"Unknown event '{event}'")
        return handler.run(Client(sid=sid, identity=connection.identity), args[0] if args else None)

    def forget(self, sid):
        """A connection that left, or that this door closed quietly (its session went on elsewhere)."""
        self.registry.forget(sid)
        self.event_limiter.forget(self.event_rate, sid)
