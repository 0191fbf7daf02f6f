"""The door's surface as its code declares it: HTTP routes, socket events handled and emitted.

The API descriptions are tested against this, never against a list kept in a test, so a
route or event added on any branch must be documented before the suite passes again.
"""
import inspect
import re
from pathlib import Path

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.realtime.gateway.relays import RELAYS
from services.realtime.service import RealtimeService

REALTIME_SOURCE = Path(__file__).resolve().parents[2] / "services" / "realtime"
# sockets.emit("new_review", ...), self.send(sid, "error", ...): an event name as a literal
EMIT_CALL = re.compile(r"\.(?:emit|send)\(\s*(?:[\w.\[\]]+\s*,\s*)?\"(\w+)\"")
# schemas.parse_json_body(request, schemas.NewReview): the model a route validates its body with
BODY_MODEL = re.compile(r"parse_json_body\(\s*request\s*,\s*schemas\.(\w+)\s*\)")
# schemas.validate(data, schemas.CourseRef): the model a socket event's payload is checked with
PAYLOAD_MODEL = re.compile(r"schemas\.validate\(\s*data\s*,\s*schemas\.(\w+)\s*\)")


def entrypoints(service=RealtimeService):
    for name in dir(service):
        yield from getattr(getattr(service, name), ENTRYPOINT_EXTENSIONS_ATTR, ())


def _route(ep):
    return ep.method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.url)


def http_routes():
    """{(METHOD, "/api/v1/courses/{course_id}")} of every ``@api`` entrypoint."""
    return {_route(ep) for ep in entrypoints() if hasattr(ep, "get_url_rule")}


def http_body_models():
    """{route: name of the schemas.py model its body is validated with, or None}."""
    bodies = {}
    for name in dir(RealtimeService):
        method = getattr(RealtimeService, name)
        for ep in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if hasattr(ep, "get_url_rule"):
                found = BODY_MODEL.findall(inspect.getsource(method))
                # ``schemas.Strict`` itself is "no fields at all": an empty body
                bodies[_route(ep)] = found[0] if found and found[0] != "Strict" else None
    return bodies


def handled_socket_events():
    """Client events with an ``@on_socket`` handler (``disconnect`` is not one a client sends)."""
    return {ep.socket_event for ep in entrypoints() if hasattr(ep, "socket_event")} - {"disconnect"}


def emitted_socket_events():
    """Every event the door sends: handlers' replies, its relays and every literal emit in its code."""
    replies = {ep.reply_event for ep in entrypoints() if getattr(ep, "reply_event", None)}
    relayed = {relay.socket_event for relay in RELAYS}
    literal = {name for path in REALTIME_SOURCE.rglob("*.py") for name in EMIT_CALL.findall(path.read_text())}
    return replies | relayed | literal


def socket_payload_models():
    """{client event: name of the schemas.py model its payload is validated with}."""
    models = {}
    for name in dir(RealtimeService):
        method = getattr(RealtimeService, name)
        for ep in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            found = PAYLOAD_MODEL.findall(inspect.getsource(method)) if hasattr(ep, "socket_event") else []
            if found:
                models[ep.socket_event] = found[0]
    return models
