"""The Socket.IO Admin UI: python-socketio's ``instrument()`` on the door's server, off by default.

When ``ADMIN_UI_USERNAME`` and ``ADMIN_UI_PASSWORD`` are both set, the door serves the
admin namespace ``/admin`` (what the UI connects to, with those credentials) and the UI
itself at ``/admin/``: the built files of the ``@socket.io/admin-ui`` npm package, vendored
under ``static/admin`` (``make vendor-admin-ui``), because the hosted UI cannot be reached
from a closed network. Unset, nothing is instrumented and nothing is served.

``ADMIN_UI_MODE`` is python-socketio's mode:

* ``production`` (the default): server statistics only (clients, packets and bytes in and
  out), and read-only: the UI cannot emit, join, leave or disconnect anything.
* ``development``: also every socket with its rooms and every event in and out, and the
  UI's actions (emit, join, leave, disconnect). Every room emit then also costs one admin
  event per recipient: for a staging door, not for a busy one.

A socket's handshake is shown without its secrets: the access token in the query string
and the ``Authorization`` and ``Cookie`` headers are redacted before they leave the door.
"""
import hmac
import time

from socketio.admin import InstrumentedServer
from werkzeug.middleware.shared_data import SharedDataMiddleware

from services.kernel.logs import REDACTED, redact
from services.realtime.edge import STATIC_DIR

NAMESPACE = "/admin"
UI_DIR = STATIC_DIR / "admin"
MODES = ("production", "development")
SECRET_HEADERS = frozenset({"authorization", "cookie"})


def instrument(sio, config):
    """Instrument ``sio`` when the Admin UI is configured: the instrumentation, or None."""
    username, password = config.get("ADMIN_UI_USERNAME"), config.get("ADMIN_UI_PASSWORD")
    if not (username and password):
        return None
    mode = config.get("ADMIN_UI_MODE") or "production"
    if mode not in MODES:
        raise RuntimeError(f"ADMIN_UI_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    return DoorAdmin(sio, auth=Credentials(username, password), mode=mode, read_only=mode != "development",
                     namespace=NAMESPACE)


class Credentials:
    """The admin namespace's check of the UI's ``{username, password}``, in constant time."""

    def __init__(self, username, password):
        self._expected = (username.encode(), password.encode())

    def __call__(self, client_auth):
        if not isinstance(client_auth, dict):
            return False
        given = (str(client_auth.get("username", "")).encode(), str(client_auth.get("password", "")).encode())
        # both compared, always: the time taken does not say which one was wrong
        return all([hmac.compare_digest(a, b) for a, b in zip(given, self._expected)])


class DoorAdmin(InstrumentedServer):
    """python-socketio's instrumentation, fitted to the door.

    The door admits connections in its own ``_handle_connect`` (transport/server.py), which
    does not trigger upstream's ``connect`` event, so a socket may disconnect without a
    recorded connection time; and handshakes are shown without their secrets.
    """

    def _trigger_event(self, event, namespace, *args):
        if event == "disconnect" and self.mode == "development":
            self.sio.manager._timestamps.setdefault(args[0], time.time())
        return super()._trigger_event(event, namespace, *args)

    def serialize_socket(self, sid, namespace, eio_sid=None):
        if eio_sid is not None and sid not in self.sio.manager._timestamps:
            self.sio.manager._timestamps[sid] = time.time()  # first seen by the admin UI
        serialized = super().serialize_socket(sid, namespace, eio_sid)
        handshake = serialized["handshake"]
        handshake["headers"] = {name: REDACTED if name in SECRET_HEADERS else redact(value)
                                for name, value in handshake["headers"].items()}
        handshake["query"] = {name: REDACTED if "token" in name.lower() else value
                              for name, value in handshake["query"].items()}
        return serialized


def serve_ui(app):
    """The UI's files at ``/admin/`` (its index at ``/admin/``), in front of ``app``."""
    # the directory first: a file export would answer every path under its prefix
    return SharedDataMiddleware(app, [
        ("/admin", str(UI_DIR)),
        ("/admin/", str(UI_DIR / "index.html")),
    ])
