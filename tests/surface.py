"""The door's surface as its code declares it: HTTP routes, socket events handled and emitted.

The API descriptions are tested against this, never against a list kept in a test, so a
route or event added on any branch must be documented before the suite passes again.
"""
import re
from pathlib import Path

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.realtime.service import RealtimeService

REALTIME_SOURCE = Path(__file__).resolve().parent.parent / "services" / "realtime"
# sockets.emit("new_review", ...), self.send(sid, "error", ...): an event name as a literal
EMIT_CALL = re.compile(r"\.(?:emit|send)\(\s*(?:[\w.\[\]]+\s*,\s*)?\"(\w+)\"")


def entrypoints(service=RealtimeService):
    for name in dir(service):
        yield from getattr(getattr(service, name), ENTRYPOINT_EXTENSIONS_ATTR, ())


def http_routes():
    """{(METHOD, "/api/v1/courses/{course_id}")} of every ``@api`` entrypoint."""
    return {(ep.method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.url))
            for ep in entrypoints() if hasattr(ep, "get_url_rule")}


def handled_socket_events():
    """Client events with an ``@on_socket`` handler (``disconnect`` is not one a client sends)."""
    return {ep.socket_event for ep in entrypoints() if hasattr(ep, "socket_event")} - {"disconnect"}


def emitted_socket_events():
    """Every event the door sends: handlers' replies and every literal emit in its code."""
    replies = {ep.reply_event for ep in entrypoints() if getattr(ep, "reply_event", None)}
    literal = {name for path in REALTIME_SOURCE.rglob("*.py") for name in EMIT_CALL.findall(path.read_text())}
    return replies | literal
