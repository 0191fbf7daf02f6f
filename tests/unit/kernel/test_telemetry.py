"""Telemetry: each worker timed and traced, its trace context handed on, transactions timed,
the metrics served on the service's own port. In-process containers, the SDK's in-memory
span exporter, a real SQLite database and a real HTTP scrape."""
import io
import json
import logging

import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.extensions import DependencyProvider, Entrypoint
from nameko.testing.services import entrypoint_hook
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text

from services.kernel import logs, telemetry
from services.kernel.errors import NotFound

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
PARENT = f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"


class Call(Entrypoint):
    """An entrypoint needing no broker: the test calls it through ``entrypoint_hook``."""


call = Call.decorator


class OutgoingContext(DependencyProvider):
    """What an RPC or event sent by the worker right now would carry in its headers."""

    def get_dependency(self, worker_ctx):
        return lambda: worker_ctx.context_data


class CatalogueService:
    name = "catalogue"
    telemetry = telemetry.Telemetry(serve_metrics=True)
    request_log = logs.RequestLog()
    outgoing = OutgoingContext()

    @call
    def lookup(self, found=True):
        logging.getLogger("catalogue").info("looking up")
        if not found:
            raise NotFound("no such course")
        return self.outgoing()


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    telemetry.configure_tracing("catalogue", {}, exporter=exporter)
    yield exporter
    telemetry.configure_tracing("test", {})  # back to recording nothing


@pytest.fixture
def container():
    running = ServiceContainer(CatalogueService, {"METRICS_PORT": "0"})
    running.start()
    yield running
    running.stop()


def count(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


def test_a_worker_runs_in_a_child_span_of_its_caller_and_hands_its_own_context_on(container, spans):
    with entrypoint_hook(container, "lookup", context_data={"traceparent": PARENT}) as lookup:
        outgoing = lookup()

    (span,) = spans.get_finished_spans()
    assert span.name == "catalogue.lookup"
    assert format(span.context.trace_id, "032x") == PARENT_TRACE
    assert format(span.parent.span_id, "016x") == PARENT_SPAN
    assert span.resource.attributes["service.name"] == "catalogue"
    # what the worker's calls and events carry: the same trace, this worker's span as parent
    assert outgoing["traceparent"] == f"00-{PARENT_TRACE}-{format(span.context.span_id, '016x')}-01"


def test_a_worker_with_no_caller_starts_a_trace(container, spans):
    with entrypoint_hook(container, "lookup") as lookup:
        lookup()
    with entrypoint_hook(container, "lookup") as lookup:
        lookup()
    first, second = spans.get_finished_spans()
    assert first.parent is None and second.parent is None
    assert first.context.trace_id != second.context.trace_id


def test_durations_are_counted_by_entrypoint_and_outcome(container, spans):
    labels = {"service": "catalogue", "kind": "other", "entrypoint": "lookup"}
    ok_before = count("service_entrypoint_duration_seconds_count", outcome="ok", **labels)
    missing_before = count("service_entrypoint_duration_seconds_count", outcome="not_found", **labels)
    with entrypoint_hook(container, "lookup") as lookup:
        lookup()
    with entrypoint_hook(container, "lookup") as lookup:
        with pytest.raises(NotFound):
            lookup(found=False)

    assert count("service_entrypoint_duration_seconds_count", outcome="ok", **labels) == ok_before + 1
    assert count("service_entrypoint_duration_seconds_count", outcome="not_found", **labels) == missing_before + 1
    failed = spans.get_finished_spans()[-1]
    assert failed.status.status_code.name == "ERROR" and failed.attributes["outcome"] == "not_found"


def test_log_lines_in_a_worker_carry_its_trace_id(container, spans):
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    logs.configure("catalogue", "INFO", stream=buffer)
    try:
        with entrypoint_hook(container, "lookup", context_data={"traceparent": PARENT}) as lookup:
            lookup()
        logging.getLogger("catalogue").info("outside any worker")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    lines = {line["message"]: line for line in map(json.loads, buffer.getvalue().splitlines())}
    assert lines["looking up"]["trace_id"] == PARENT_TRACE
    assert lines["handled"]["trace_id"] == PARENT_TRACE and lines["handled"]["call_id"].startswith("catalogue.lookup.")
    assert "trace_id" not in lines["outside any worker"]


def test_with_no_exporter_nothing_is_recorded_but_the_trace_still_travels(container):
    telemetry.configure_tracing("catalogue", {})
    with entrypoint_hook(container, "lookup", context_data={"traceparent": PARENT}) as lookup:
        outgoing = lookup()
    trace_id = outgoing["traceparent"].split("-")[1]
    assert trace_id == PARENT_TRACE
    with entrypoint_hook(container, "lookup") as lookup:
        assert lookup()["traceparent"].split("-")[1] != "0" * 32  # a fresh, valid trace id


def test_the_metrics_are_served_on_the_services_own_port(container):
    with entrypoint_hook(container, "lookup") as lookup:
        lookup()
    port = next(d for d in container.dependencies if isinstance(d, telemetry.Telemetry)).metrics_port
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    assert 'service_entrypoint_duration_seconds_count{entrypoint="lookup",kind="other",outcome="ok",' \
           'service="catalogue"}' in response.text


def test_transactions_are_timed_by_outcome_and_traced(spans, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    telemetry.observe_transactions(engine, "catalogue")
    commits = count("service_db_transaction_seconds_count", service="catalogue", outcome="commit")
    rollbacks = count("service_db_transaction_seconds_count", service="catalogue", outcome="rollback")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE course (id INTEGER)"))
    with pytest.raises(RuntimeError):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO course VALUES (1)"))
            raise RuntimeError("the use case failed")
    engine.dispose()

    assert count("service_db_transaction_seconds_count", service="catalogue", outcome="commit") == commits + 1
    assert count("service_db_transaction_seconds_count", service="catalogue", outcome="rollback") == rollbacks + 1
    assert [s.attributes["outcome"] for s in spans.get_finished_spans()] == ["commit", "rollback"]


def test_with_an_otlp_endpoint_spans_are_posted_to_the_collector(container):
    """A stand-in collector on a local port receives the OTLP/HTTP protobuf export."""
    import eventlet
    import eventlet.wsgi
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received = []

    def collector(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        received.append((environ["PATH_INFO"], environ.get("CONTENT_TYPE"), body))
        start_response("200 OK", [("Content-Type", "application/x-protobuf")])
        return [b""]

    listener = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(eventlet.wsgi.server, listener, collector, log_output=False)
    try:
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        provider = telemetry.configure_tracing("catalogue", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
        with entrypoint_hook(container, "lookup", context_data={"traceparent": PARENT}) as lookup:
            lookup()
        assert provider.force_flush(10_000)
    finally:
        server.kill()
        telemetry.configure_tracing("test", {})

    (path, content_type, body), = received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service_name = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
    (span,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert service_name == "catalogue" and span.name == "catalogue.lookup"
    assert span.trace_id.hex() == PARENT_TRACE and span.parent_span_id.hex() == PARENT_SPAN
