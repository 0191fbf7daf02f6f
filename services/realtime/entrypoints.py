"""The door's two kinds of entrypoint: ``@api`` HTTP routes and ``@on_socket`` events.

Both turn what arrives at the door into an ordinary Nameko worker, so a handler gets
RPC clients, event dispatchers and the ``Sockets`` dependency like any other worker,
and can be unit-tested with ``worker_factory`` / ``entrypoint_hook``. A socket event's
worker runs in the socket's own green thread (``workers.py``).
"""
import logging
from dataclasses import dataclass

from nameko.exceptions import IncorrectSignature
from nameko.extensions import Entrypoint
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from services.kernel.errors import PlatformError, TryLater
from services.realtime.door import Door, error_body, json_response
from services.realtime.workers import InlineWorkers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """A list result: rendered as ``{"data": items, "meta": {total, limit, offset}}``."""

    items: list
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class CursorPage:
    """A page read by cursor (chat history): ``{"data": items, "meta": {limit, before, next_before}}``."""

    items: list
    limit: int
    before: str | None
    next_before: str | None


# who may call a route, as its OpenAPI description says it
ANYONE, USER, STUDENT, INSTRUCTOR = "anyone", "user", "student", "instructor"
CALLERS = (ANYONE, USER, STUDENT, INSTRUCTOR)


class ApiEndpoint(HttpRequestHandler):
    """An HTTP route answering in API.md's envelope, and describing itself.

    The worker returns the ``data`` (or a :class:`Page` / :class:`CursorPage`, or a ready
    ``Response``); platform errors become
    ``{"error": {"code", "message"}}`` with their status. Anything unexpected is logged
    with its traceback here and answered as a bare 500, never with the traceback.

    The route's description is its own metadata, which ``openapi.py`` turns into the
    OpenAPI document: ``summary``; ``callers`` (one of :data:`CALLERS`); ``answer``, the
    ``answers.py`` model of its ``data`` (a list of them with ``listing=True``, or with
    ``cursor=True`` for a :class:`CursorPage` read with ``?limit=&before=``); ``body``,
    the ``schemas.py`` model it validates its body with; ``errors``, the error statuses
    it can answer; ``tag`` and an optional ``description``. A route without a summary or
    with unknown callers fails where it is declared, so the door cannot start with it.
    """

    server = Door()

    def __init__(self, method, url, status=200, *, summary, callers, answer=None, body=None, listing=False,
                 cursor=False, errors=(), tag, description="", **kwargs):
        if not summary or callers not in CALLERS or not tag:
            raise ValueError(f"{method} {url}: a route needs a summary, a tag and callers in {CALLERS}")
        kwargs.setdefault("expected_exceptions", PlatformError)
        self.status = status
        self.summary, self.callers, self.answer, self.body = summary, callers, answer, body
        self.listing, self.errors, self.tag, self.description = listing, tuple(errors), tag, description
        self.cursor = cursor
        super().__init__(method, url, **kwargs)

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result  # a route that answers in another format (/metrics, the OpenAPI description)
        if isinstance(result, Page):
            body = {"data": result.items, "meta": {"total": result.total, "limit": result.limit,
                                                   "offset": result.offset}}
        elif isinstance(result, CursorPage):
            body = {"data": result.items, "meta": {"limit": result.limit, "before": result.before,
                                                   "next_before": result.next_before}}
        else:
            body = {"data": result}
        return json_response(self.status, body)

    def response_from_exception(self, exc):
        if isinstance(exc, PlatformError):
            headers = {}
            if exc.status == 401:
                headers["WWW-Authenticate"] = "Bearer"
            if isinstance(exc, TryLater):
                headers["Retry-After"] = str(exc.retry_after)
            return json_response(exc.status, error_body(exc.code, exc.message), headers or None)
        if isinstance(exc, IncorrectSignature):
            return json_response(400, error_body("bad_request", "Malformed request"))
        log.error("unhandled error in %s %s", self.method, self.url, exc_info=exc)
        return json_response(500, error_body("internal_error", "Internal server error"))


api = ApiEndpoint.decorator


class SocketEvent(Entrypoint):
    """A Socket.IO client event handled by a Nameko worker.

    The worker is called with ``(client, data)``. What it returns is emitted to the
    sender as ``reply`` (if the event has one) and returned as the acknowledgement.
    A ``PlatformError`` becomes an ``error`` event ``{message, code, event}`` to the
    sender alone (and the acknowledgement); nothing else sees it, nothing disconnects.
    ``connect`` is special: an error there refuses the connection (see ``Door``).

    The worker runs in the green thread the event arrived in (``workers.py``: the same
    dependencies, hooks, ids and ``max_workers`` bound as a spawned worker, without the
    spawn and the per-event injection of what is one object per process).
    """

    door = Door()
    workers = InlineWorkers()

    def __init__(self, socket_event, reply=None, **kwargs):
        kwargs.setdefault("expected_exceptions", PlatformError)
        self.socket_event = socket_event
        self.reply_event = reply
        super().__init__(**kwargs)

    def setup(self):
        self.door.register_provider(self)

    def stop(self):
        self.door.unregister_provider(self)
        super().stop()

    def run(self, client, data):
        result, exc_info = self.workers.run(self, (client, data), {"socket_event": self.socket_event})
        if self.socket_event == "connect":
            if exc_info is not None:
                raise exc_info[1]
            return result
        if exc_info is None:
            if self.reply_event and result is not None:
                self.door.send(client.sid, self.reply_event, result)
            return result
        exc = exc_info[1]
        if isinstance(exc, PlatformError):
            if exc.details:  # an error that says more (``muted``: until when)
                payload = {"message": exc.message, "code": exc.socket_code, "event": self.socket_event,
                           **exc.details}
                self.door.send(client.sid, "error", payload)
                return payload
            return self.door.send_error(client.sid, self.socket_event, exc.socket_code, exc.message)
        log.error("unhandled error in socket event %s", self.socket_event, exc_info=exc_info)
        return self.door.send_error(client.sid, self.socket_event, "unavailable", "Internal error")


on_socket = SocketEvent.decorator
