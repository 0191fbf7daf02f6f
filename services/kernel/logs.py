"""Logs as JSON lines, and one line per handled request carrying Nameko's call id.

``configure(service, level)`` makes every record of the process one JSON object on
stdout (python-json-logger), tagged with the service name, with secrets redacted.
``RequestLog`` is a Nameko dependency the runner attaches to every service: each
worker (an RPC, an event, an HTTP route, a socket event) ends with one line naming
the entrypoint, its call id and the chain of call ids that led to it, how long it
took and how it ended. Every line logged inside a worker also carries ``trace_id``, the
OpenTelemetry trace it belongs to (``services/kernel/telemetry.py``), which stays the same
across RPCs and events. Following ``call_id_stack`` from the door's line to the auth
service's line follows one request across processes.

Arguments are never logged: ``login`` and ``register`` receive passwords, ``refresh``
a refresh token. Only names, ids and durations leave a worker.
"""
import io
import logging
import re
import sys
import time

from nameko.extensions import DependencyProvider
from pythonjsonlogger.json import JsonFormatter

from services.kernel.telemetry import current_trace_id

# a token in a query string (``?token=...``, ``access_token=...``) or a header echoed
# into a message; eventlet's access log line contains the full request line
SECRET_PATTERNS = (
    re.compile(r"((?:[?&]|\b)[A-Za-z_]*token=)[^&\s\"']+", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
)
REDACTED = "[redacted]"


def redact(text):
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(rf"\1{REDACTED}", text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with tokens replaced, whoever logged it."""

    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class ServiceTag(logging.Filter):
    def __init__(self, service):
        super().__init__()
        self.service = service

    def filter(self, record):
        record.service = self.service
        return True


class StderrAsLog(io.TextIOBase):
    """Stands in for ``sys.stderr``: what is written there becomes a log record.

    Some libraries write to stderr directly (eventlet's websocket reports a failed socket
    shutdown on the WSGI error stream, without even a newline); written as is, that text
    would break the JSON lines. Each write becomes one record instead.
    """

    def __init__(self, logger):
        super().__init__()
        self.logger = logger
        self._writing = False

    def writable(self):
        return True

    def write(self, text):
        if not self._writing:  # a failing handler reporting on stderr must not loop
            self._writing = True
            try:
                message = text.rstrip("\n")
                if message.strip():
                    self.logger.warning(message)
            finally:
                self._writing = False
        return len(text)


class TraceTag(logging.Filter):
    """Adds the trace id of the worker a record is logged in (none outside workers)."""

    def filter(self, record):
        trace_id = current_trace_id()
        if trace_id is not None:
            record.trace_id = trace_id
        return True


def configure(service, level="INFO", stream=None, capture_stderr=False):
    """Send every log record of this process to ``stream`` (stdout) as one JSON line.

    ``capture_stderr``: also turn what is written to ``sys.stderr`` into records (the
    runner does, so that everything a service prints is a JSON line).
    """
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(
        "{asctime}{levelname}{name}{service}{message}", style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    ))
    handler.addFilter(ServiceTag(service))
    handler.addFilter(TraceTag())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # no line names its thread or process, and asking for them is dear: under eventlet's
    # patched threading, current_thread() was a sixth of the door's request log line
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if capture_stderr:
        sys.stderr = StderrAsLog(logging.getLogger("stderr"))


request_log = logging.getLogger("services.requests")


class RequestLog(DependencyProvider):
    """One ``handled`` line per worker: entrypoint, call ids, duration, outcome."""

    def setup(self):
        self.started = {}

    def worker_setup(self, worker_ctx):
        self.started[worker_ctx] = time.monotonic()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(worker_ctx, None)
        entrypoint = worker_ctx.entrypoint
        socket_event = getattr(entrypoint, "socket_event", None)
        # a door handles thousands of socket events a second (video_progress: one per student
        # every few seconds); the metrics count and time each one, so a successful one is a
        # debug line: this line was half of such an event's CPU (docs/benchmarks.md, "Socket
        # events without a spawned worker"). Errors, HTTP, RPC and events stay info.
        level = logging.DEBUG if socket_event and exc_info is None else logging.INFO
        if not request_log.isEnabledFor(level):
            return
        fields = {
            "entrypoint": entrypoint.method_name,
            "call_id": worker_ctx.call_id,
            "call_id_stack": worker_ctx.call_id_stack,
            "duration_ms": round((time.monotonic() - started) * 1000, 2) if started else None,
            "outcome": "ok" if exc_info is None else "error",
        }
        if socket_event:
            fields["socket_event"] = socket_event
        http_method = getattr(entrypoint, "method", None)
        if isinstance(http_method, str):
            fields["http"] = f"{http_method} {entrypoint.url}"
        if exc_info is not None:
            # the error's kind and code, never its message (it may echo input)
            error = exc_info[1]
            fields["error"] = getattr(error, "code", None) or type(error).__name__
        request_log.log(level, "handled", extra=fields)

    def worker_teardown(self, worker_ctx):
        self.started.pop(worker_ctx, None)
