"""The door's Socket.IO server: python-socketio's, with connection state recovery in CONNECT.

Overrides of upstream internals (python-socketio 5.18.1; also listed in ``__init__.py``):

* ``Server._handle_connect``: the connection is admitted first (``gate.admit``: the token is
  checked like on any connect), then either resumes a recoverable session (same sid, same
  rooms, the missed room events replayed after the CONNECT packet) or starts a new one. The
  CONNECT reply carries ``pid`` for a client that asked for recovery (``auth: {recover: true}``),
  exactly as Node socket.io 4.x does with ``connectionStateRecovery``, so the stock
  socket.io-client needs no code. Between deciding and the last replayed packet nothing
  yields: no room event can be read, and so none can be missed or sent twice, in between.
* ``Server._handle_disconnect`` and ``Server.disconnect``: a transport that dropped (closed,
  errored, ping timeout, or this door shutting down) parks its session; a client or the
  server ending the connection ends it.
* ``Server._handle_eio_message``: a malformed packet is answered with an ``error`` event to
  its sender instead of a logged traceback (a client can produce one at will), and with the
  same error as the acknowledgement when it was an event whose id could be read (a client
  that called ``call()`` gets its answer instead of a timeout).
* ``Server._handle_event``: a client cannot call the lifecycle handlers (``connect``,
  ``disconnect``, ...) by emitting an event so named.

The door plugs in through ``gate`` (documented on :class:`DoorSocketServer`).
"""
import logging
import time

import eventlet
from eventlet import hubs
from socketio import packet
from socketio.exceptions import ConnectionRefusedError

from services.realtime.metrics import HANDSHAKES_REFUSED, NOT_RESUMED, SESSIONS, CountingServer
from services.realtime.transport import frames
from services.realtime.transport.manager import close_abruptly
from services.realtime.transport.packets import MalformedPacket
from services.realtime.transport.roomlog import parse_offset

log = logging.getLogger(__name__)

SHUTTING_DOWN = "server shutting down"
# why a transport ended, when the session may come back
RECOVERABLE_REASONS = frozenset({"ping timeout", "transport close", "transport error", SHUTTING_DOWN})
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "*"})
# how long a connect waits for this door to read a session another door just wrote
CATCH_UP_SECONDS = 2.0
# how long a connect waits for a door that has just started to read the log's window
STARTING_SECONDS = 15.0


def peer_address(environ):
    return environ.get("REMOTE_ADDR") or "?"


class DoorSocketServer(CountingServer):
    """python-socketio's server with recoverable sessions (see the module docstring).

    :param connect_timeout: seconds an Engine.IO session may wait for its Socket.IO CONNECT.
    :param max_connections: Engine.IO sessions this server takes; past it handshakes get 503.
    :param pending_per_address: sessions not yet connected one address may hold (429 past it).
    :param client_address: ``environ -> address`` the per-address bound counts (the door's
        trusted-proxy rule); the socket's peer by default.
    :param gate: what the door decides about connections, with two methods:
        ``admit(environ, auth)`` returns an admission with ``user_id``, or raises
        ``ConnectionRefusedError`` (a bad token, too many connections); it may yield.
        ``connected(sid, admission)`` registers the connection and returns
        ``(event, payload)``, the greeting to send (or None); it must not yield.
    The client manager must be a :class:`~services.realtime.transport.manager.RoomLogManager`.
    """

    def __init__(self, *args, gate, connect_timeout=10, max_connections=20000, pending_per_address=50,
                 client_address=peer_address, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.client_address = client_address
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.pending_per_address = pending_per_address
        self._pending = {}  # client address -> Engine.IO sessions not yet connected to Socket.IO
        self._address_of = {}  # eio_sid -> (its client address, its connect timeout), while pending

    # -- bounds on connections that have not authenticated (yet) -----------------------------

    def handshake_refusal(self, environ):
        """``(status, message)`` when a new Engine.IO session must be refused here, else None."""
        if len(self.eio.sockets) >= self.max_connections:
            HANDSHAKES_REFUSED.labels("door full").inc()
            return 503, "This door is full; try again (a balancer sends you to another one)"
        if len(self._pending.get(self.client_address(environ), ())) >= self.pending_per_address:
            HANDSHAKES_REFUSED.labels("too many unauthenticated from one address").inc()
            return 429, "Too many connections from your address have not authenticated yet"
        return None

    def _handle_eio_connect(self, eio_sid, environ):
        frames.adopt(self.eio.sockets[eio_sid])
        super()._handle_eio_connect(eio_sid, environ)
        address = self.client_address(environ)
        self._pending.setdefault(address, set()).add(eio_sid)
        # a bare hub timer that starts a green thread only if it fires (spawn_after would hold
        # one per handshake for connect_timeout: greenlet, exit event, deque), cancelled when
        # the session connects (or ends): every connect fired it, and started a green thread
        # for nothing, connect_timeout later
        timer = hubs.get_hub().schedule_call_global(self.connect_timeout, eventlet.spawn_n,
                                                    self._close_if_never_connected, eio_sid)
        self._address_of[eio_sid] = (address, timer)

    def _no_longer_pending(self, eio_sid):
        address, timer = self._address_of.pop(eio_sid, (None, None))
        if timer is not None:
            timer.cancel()
        pending = self._pending.get(address)
        if pending is not None:
            pending.discard(eio_sid)
            if not pending:
                del self._pending[address]

    def _close_if_never_connected(self, eio_sid):
        if eio_sid in self._address_of:
            engine_socket = self.eio.sockets.get(eio_sid)
            self._no_longer_pending(eio_sid)
            if engine_socket is not None and not engine_socket.closed:
                HANDSHAKES_REFUSED.labels("connect timeout").inc()
                close_abruptly(engine_socket)

    def _handle_eio_disconnect(self, eio_sid, reason):
        self._no_longer_pending(eio_sid)
        return super()._handle_eio_disconnect(eio_sid, reason)

    # -- connecting --------------------------------------------------------------------------

    def _handle_connect(self, eio_sid, namespace, data):
        namespace = namespace or "/"
        if namespace != "/" and namespace in self.handlers:
            # the Socket.IO Admin UI's namespace, when it is on (admin_ui.py): its own credentials
            return super()._handle_connect(eio_sid, namespace, data)
        if namespace != "/" or self.manager.sid_from_eio_sid(eio_sid, namespace) is not None:
            self._send_packet(eio_sid, self.packet_class(packet.CONNECT_ERROR, data="Unable to connect",
                                                         namespace=namespace))
            return
        auth = data if isinstance(data, dict) else {}
        try:
            admission = self.gate.admit(self.environ.get(eio_sid, {}), data)
        except ConnectionRefusedError as exc:
            self._send_packet(eio_sid, self.packet_class(packet.CONNECT_ERROR, data=exc.error_args,
                                                         namespace=namespace))
            return
        recover = auth.get("recover") is True
        session = start = None
        if recover and auth.get("pid"):
            session, start = self._resumable(auth["pid"], admission.user_id, parse_offset(auth.get("offset")))
        if eio_sid not in self.eio.sockets:
            return  # the client went away while it was being admitted
        # from here to the last packet nothing yields (see the module docstring)
        if recover:
            SESSIONS.labels("resumed" if session is not None else "fresh").inc()
        if session is not None:
            missed = self.manager.resume(session, start, eio_sid, namespace)
            sid, pid = session.sid, session.pid
        else:
            sid = self.manager.connect(self.manager.pre_connect(eio_sid, namespace), namespace)
            pid = self.manager.open_session(sid, admission.user_id) if recover else None
            missed = ()
        self._no_longer_pending(eio_sid)
        greeting = self.gate.connected(sid, admission)
        # the answer, the greeting and what was missed: one write (frames.gathering)
        with frames.gathering():
            self._send_packet(eio_sid, self.packet_class(
                packet.CONNECT, {"sid": sid, "pid": pid} if pid else {"sid": sid}, namespace=namespace))
            if greeting is not None:
                event, payload = greeting
                if recover:
                    payload = dict(payload, recovered=session is not None)
                self.emit(event, payload, to=sid, namespace=namespace, ignore_queue=True)
            for missed_packet in missed:
                self._send_eio_packet(eio_sid, missed_packet)

    def _resumable(self, pid, user_id, offset):
        """The session this connection may resume, waiting briefly for a door that is behind."""
        # a door that has just started knows no session before it has read the log's window
        self.manager.log.ready.wait(STARTING_SECONDS)
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            session, start, why_not = self.manager.find_resumable(pid, user_id, offset)
            if session is not None:
                return session, start
            if why_not not in ("unknown", "ahead") or time.monotonic() > deadline:
                log.info("a session was not resumed: %s", why_not)
                NOT_RESUMED.labels(why_not).inc()
                return None, None
            eventlet.sleep(0.05)

    # -- disconnecting -----------------------------------------------------------------------

    def _handle_disconnect(self, eio_sid, namespace, reason=None):
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        if sid is not None:
            self.manager.end_session(sid, recoverable=reason in RECOVERABLE_REASONS, moving=reason == SHUTTING_DOWN)
        return super()._handle_disconnect(eio_sid, namespace, reason)

    def disconnect(self, sid, namespace=None, ignore_queue=False):
        """End the connection (a DISCONNECT packet: the client does not come back by itself)."""
        self.manager.end_session(sid, recoverable=False)
        return super().disconnect(sid, namespace=namespace, ignore_queue=ignore_queue)

    def close_transports(self):
        """Close every transport (no DISCONNECT packet), so clients reconnect, to another door."""
        for engine_socket in list(self.eio.sockets.values()):
            close_abruptly(engine_socket, SHUTTING_DOWN)

    # -- hardening ---------------------------------------------------------------------------

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
                ack_id = getattr(exc, "ack_id", None)
                if ack_id is not None:
                    self._send_packet(eio_sid, self.packet_class(packet.ACK, namespace="/", data=[error], id=ack_id))

    def _handle_event(self, eio_sid, namespace, id, data):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise MalformedPacket("an event packet must be a list starting with the event name", ack_id=id)
        if data[0] in RESERVED_EVENTS:
            # lifecycle handlers are registered under these names; a client must not be
            # able to call them by emitting an event so named
            data = ["*reserved*", *data]
        return super()._handle_event(eio_sid, namespace, id, data)
