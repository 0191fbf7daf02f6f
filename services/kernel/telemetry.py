"""What every service says about its own work: Prometheus metrics and OpenTelemetry traces.

``Telemetry`` is a Nameko dependency the runner attaches to every service class (as it
does ``RequestLog``), so it sees every worker: RPCs, event handlers and the door's
``@api`` and ``@on_socket`` workers alike. For each worker it

- times it, by service, kind, entrypoint and outcome (``service_entrypoint_duration_seconds``);
- for an event handler, measures how long the event waited between its dispatch and
  the start of its handling (``service_event_lag_seconds``, from the ``dispatched_at``
  header the kernel's ``EventDispatcher`` stamps);
- runs it in a span whose W3C ``traceparent`` it puts into the worker's context data.
  Nameko copies context data into the headers of every RPC call and every event the
  worker sends, so the callee's span becomes a child of this one: one review post is
  one trace, door -> courses -> its transaction -> the event -> the door -> the room emit.

``observe_transactions(engine, service)`` (called by the ``Database`` dependency) times
each database transaction and gives it a span. Domain services serve their metrics on
``METRICS_PORT``; the door keeps its ``/metrics`` route.

Spans are exported only when something is configured to receive them: OTLP over HTTP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, or JSON lines under ``SPAN_FILE_DIR`` (the
tests' cross-process check). Otherwise the sampler records nothing: a worker costs an
id, a ``traceparent`` string and a context switch, and the ids still reach the logs.

Label values come from our own code (method names, event names, error codes), never
from input, so the number of series is bounded.
"""
import contextlib
import json
import logging
import os
import random
import time

import eventlet
import eventlet.wsgi
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler
from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Histogram, make_wsgi_app
from sqlalchemy import event

from services.kernel.errors import PlatformError

log = logging.getLogger(__name__)

# -- metrics ------------------------------------------------------------------------

# the slowest RPC the door waits for is RPC_TIMEOUT_SECONDS (5 s by default)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# events may wait in their queue through an outage: seconds to minutes
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

ENTRYPOINT_DURATION = Histogram(
    "service_entrypoint_duration_seconds",
    "How long each worker took, by service, kind (rpc, event, http, socket), entrypoint and outcome "
    "(ok, an error code of services/kernel/errors.py, or unexpected)",
    ["service", "kind", "entrypoint", "outcome"], buckets=LATENCY_BUCKETS)
EVENT_LAG = Histogram(
    "service_event_lag_seconds",
    "How long an event waited between its dispatch and the start of its handling, by handling service and event",
    ["service", "event"], buckets=LAG_BUCKETS)
TRANSACTION_DURATION = Histogram(
    "service_db_transaction_seconds",
    "Database transactions from their first statement to commit or rollback, by service and outcome",
    ["service", "outcome"], buckets=LATENCY_BUCKETS)

# -- tracing ------------------------------------------------------------------------

TRACEPARENT = "traceparent"
DISPATCHED_AT = "dispatched_at"
_propagator = TraceContextTextMapPropagator()
# replaced by configure_tracing(); until then (unit tests of other things) nothing is recorded
_tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer(__name__)
_recording = False  # whether any exporter takes spans (configure_tracing)
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)


class JsonLinesExporter(SpanExporter):
    """Finished spans as JSON lines in a file of this process's own (tests read them)."""

    def __init__(self, path):
        self.path = path

    def export(self, spans):
        lines = [json.dumps(span_record(span)) + "\n" for span in spans]
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


def span_record(span):
    parent = span.parent
    return {
        "name": span.name,
        "service": span.resource.attributes.get("service.name"),
        "kind": span.kind.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "start": span.start_time / 1e9,
        "end": span.end_time / 1e9,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes),
    }


def configure_tracing(service, config, exporter=None):
    """Make this process's tracer; spans are recorded only when some exporter takes them.

    ``exporter``: an exporter of the caller's (the SDK's in-memory one in tests), written
    to as each span ends.
    """
    global _tracer, _recording
    processors = []
    if exporter is not None:
        processors.append(SimpleSpanProcessor(exporter))
    endpoint = config.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processors.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    span_dir = config.get("SPAN_FILE_DIR")
    if span_dir:
        os.makedirs(span_dir, exist_ok=True)
        path = os.path.join(span_dir, f"{service}-{os.getpid()}.jsonl")
        processors.append(SimpleSpanProcessor(JsonLinesExporter(path)))
    # with nowhere to send spans, none is recorded; ids are still made and propagated
    sampler = ParentBased(ALWAYS_ON) if processors else ALWAYS_OFF
    provider = TracerProvider(sampler=sampler, resource=Resource.create({"service.name": service}))
    for processor in processors:
        provider.add_span_processor(processor)
    _tracer = provider.get_tracer(__name__)
    _recording = bool(processors)
    return provider


def unrecorded_span(parent):
    """A span with ids and nothing else, for when no exporter takes spans: the SDK's sampler
    would come to the same (a trace id from ``parent``, a ``traceparent`` string, or a fresh
    one; flags "not sampled"), at several times the cost, for every socket event of the door."""
    trace_id = 0
    if isinstance(parent, str):
        span_context = trace.get_current_span(_propagator.extract({TRACEPARENT: parent})).get_span_context()
        trace_id = span_context.trace_id if span_context.is_valid else 0
    return NonRecordingSpan(SpanContext(trace_id or random.getrandbits(128), random.getrandbits(64),
                                        is_remote=False, trace_flags=_UNSAMPLED))


def current_trace_id():
    """The trace id of the span this green thread runs in (hex), or None."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def span(name, **attributes):
    """A child span of the current one, as a context manager (``with span("emit x"): ...``);
    nothing at all when no exporter takes spans (the trace id in logs is the worker's anyway)."""
    if not _recording:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes)


_NO_SPAN = contextlib.nullcontext()


# -- the dependency -----------------------------------------------------------------

def entrypoint_kind(entrypoint):
    if isinstance(entrypoint, Rpc):
        return "rpc"
    if isinstance(entrypoint, EventHandler):
        return "event"
    if isinstance(entrypoint, HttpRequestHandler):
        return "http"
    if getattr(entrypoint, "socket_event", None):
        return "socket"
    return "other"


def span_name(service, entrypoint, kind):
    if kind == "http":
        return f"{entrypoint.method} {entrypoint.url}"  # the route's rule, never the requested path
    if kind == "socket":
        return f"socket {entrypoint.socket_event}"
    if kind == "event":
        return f"{entrypoint.source_service}.{entrypoint.event_type} -> {service}.{entrypoint.method_name}"
    return f"{service}.{entrypoint.method_name}"


SPAN_KINDS = {"rpc": SpanKind.SERVER, "http": SpanKind.SERVER, "socket": SpanKind.SERVER,
              "event": SpanKind.CONSUMER}


def outcome(exc_info):
    if exc_info is None:
        return "ok"
    error = exc_info[1]
    return error.code if isinstance(error, PlatformError) else "unexpected"


class Telemetry(DependencyProvider):
    """Times, measures and traces every worker of its service (see the module's docstring).

    ``serve_metrics``: serve this process's metrics on ``METRICS_PORT`` (domain services;
    the door has its own ``/metrics`` route).
    """

    def __init__(self, serve_metrics=False):
        self.serve_metrics = serve_metrics

    def setup(self):
        self.service = self.container.service_name
        self.workers = {}
        # per entrypoint: its kind and span name; per (entrypoint, outcome): its histogram
        # child. Both are fixed by our own code, and the door looks them up for every event
        self.described = {}
        self.durations = {}
        self.metrics_server = None
        port = self.container.config.get("METRICS_PORT")
        self.metrics_port = int(port) if self.serve_metrics and port else None

    def start(self):
        if self.metrics_port is not None:
            listener = eventlet.listen(("0.0.0.0", self.metrics_port))
            self.metrics_port = listener.getsockname()[1]  # the one taken, if 0 asked for any
            self.metrics_server = self.container.spawn_managed_thread(
                lambda: eventlet.wsgi.server(listener, make_wsgi_app(), log_output=False), "metrics-server")
            log.info("metrics served on port %d", self.metrics_port)

    def stop(self):
        if self.metrics_server is not None:
            self.metrics_server.kill()
            self.metrics_server = None

    def describe(self, entrypoint):
        described = self.described.get(entrypoint)
        if described is None:
            kind = entrypoint_kind(entrypoint)
            described = self.described[entrypoint] = (kind, span_name(self.service, entrypoint, kind),
                                                      SPAN_KINDS.get(kind, SpanKind.INTERNAL))
        return described

    def worker_setup(self, worker_ctx):
        entrypoint = worker_ctx.entrypoint
        kind, name, span_kind = self.describe(entrypoint)
        dispatched_at = worker_ctx.data.pop(DISPATCHED_AT, None)  # this worker's events get their own
        if kind == "event" and isinstance(dispatched_at, (int, float)):
            EVENT_LAG.labels(self.service, f"{entrypoint.source_service}.{entrypoint.event_type}").observe(
                max(0.0, time.time() - dispatched_at))
        parent = worker_ctx.data.get(TRACEPARENT)
        if _recording:
            parent_context = _propagator.extract({TRACEPARENT: parent}) if isinstance(parent, str) else None
            worker_span = _tracer.start_span(
                name, context=parent_context, kind=span_kind,
                attributes={"service": self.service, "entrypoint": entrypoint.method_name,
                            "call_id": worker_ctx.call_id})
        else:
            worker_span = unrecorded_span(parent)
        ids = worker_span.get_span_context()
        # what the calls and events it sends carry (W3C trace context, as the propagator writes it)
        worker_ctx.data[TRACEPARENT] = f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"
        token = context.attach(trace.set_span_in_context(worker_span))
        self.workers[worker_ctx] = (time.perf_counter(), kind, worker_span, token)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        begun = self.workers.get(worker_ctx)
        if begun is None:  # another dependency's worker_setup failed before ours ran
            return
        started, kind, worker_span, _ = begun
        ended = outcome(exc_info)
        duration = self.durations.get((worker_ctx.entrypoint, ended))
        if duration is None:
            duration = self.durations[worker_ctx.entrypoint, ended] = ENTRYPOINT_DURATION.labels(
                self.service, kind, worker_ctx.entrypoint.method_name, ended)
        duration.observe(time.perf_counter() - started)
        if not worker_span.is_recording():
            return
        if ended != "ok":
            worker_span.set_status(Status(StatusCode.ERROR, ended))
        worker_span.set_attribute("outcome", ended)
        worker_span.end()

    def worker_teardown(self, worker_ctx):
        started = self.workers.pop(worker_ctx, None)
        if started is not None:
            context.detach(started[3])


def observe_transactions(engine, service):
    """Time each transaction on ``engine`` and trace it as a child of the worker's span."""

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.info["telemetry.transaction"] = (
            time.perf_counter(), _tracer.start_span("db transaction", kind=SpanKind.CLIENT,
                                                    attributes={"service": service}))

    def _ended(connection, how):
        began = connection.info.pop("telemetry.transaction", None)
        if began is None:
            return
        started, transaction_span = began
        TRANSACTION_DURATION.labels(service, how).observe(time.perf_counter() - started)
        transaction_span.set_attribute("outcome", how)
        transaction_span.end()

    event.listen(engine, "commit", lambda connection: _ended(connection, "commit"))
    event.listen(engine, "rollback", lambda connection: _ended(connection, "rollback"))
