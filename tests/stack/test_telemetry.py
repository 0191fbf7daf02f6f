"""Telemetry on the real platform: every domain service's own metrics port, values that
move under real requests, and one trace id for a review post across the processes.

The stack here writes every process's finished spans as JSON lines (``SPAN_FILE_DIR``, a
test-only setting), so the test reads what each process exported.
"""
import json
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services import DOMAIN_SERVICES
from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient
from tests.support.stack import log_records, own_vhost, running_stack


@pytest.fixture(scope="module")
def traced(key_files, tmp_path_factory):
    """A stack of its own whose processes export their spans into ``stack.span_dir``."""
    var_dir = tmp_path_factory.mktemp("traced")
    span_dir = var_dir / "spans"
    with own_vhost() as amqp_uri, running_stack(amqp_uri, key_files, var_dir, SPAN_FILE_DIR=str(span_dir)) as stack:
        stack.span_dir = span_dir
        yield stack


def scrape(url):
    """``{(name, sorted label items): value}`` of one Prometheus text page."""
    response = requests.get(url, timeout=5)
    assert response.status_code == 200, url
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def scrape_all(stack):
    pages = {service: scrape(f"http://127.0.0.1:{stack.metrics_ports[service]}/metrics") for service in DOMAIN_SERVICES}
    pages["realtime"] = scrape(f"{stack.url}/metrics")
    return pages


def eventually(check, timeout=10):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.2)
    return check()


def test_every_service_serves_metrics_that_move_under_real_requests(traced):
    api, campus = Api(traced.url), Campus(Api(traced.url))
    before = scrape_all(traced)
    course, _ = campus.course()
    student = campus.enrolled_student(course)
    watcher = SocketClient(traced.url).connect(auth={"token": student["access_token"]})
    try:
        watcher.wait_for("connected")
        video_id = course["videos"][0]["id"]
        watcher.sio.call("video_progress", {"video_id": video_id, "course_id": course["id"], "progress": 50,
                                            "timestamp": 300}, timeout=5)
        posted = api.call("POST", f"/api/v1/courses/{course['id']}/reviews", token=student["access_token"],
                          json={"rating": 4, "comment": "Clear"})
        assert posted.status_code == 201
        assert api.call("GET", "/health/ready").status_code == 200  # asks every domain service
    finally:
        watcher.close()

    def moved(process, name, **labels):
        return value(scrape_all(traced)[process], name, **labels) > value(before[process], name, **labels)

    rpc = "service_entrypoint_duration_seconds_count"
    for service in DOMAIN_SERVICES:
        assert moved(service, rpc, service=service, kind="rpc", entrypoint="health", outcome="ok"), service
    assert moved("auth", rpc, service="auth", kind="rpc", entrypoint="login", outcome="ok")
    assert moved("courses", rpc, service="courses", kind="rpc", entrypoint="add_review", outcome="ok")
    assert moved("courses", "service_db_transaction_seconds_count", service="courses", outcome="commit")
    assert moved("realtime", rpc, service="realtime", kind="http", entrypoint="add_review", outcome="ok")
    assert moved("realtime", rpc, service="realtime", kind="socket", entrypoint="video_progress", outcome="ok")
    # the review's event waited for the door; the door's progress flush waited for the progress service
    assert eventually(lambda: moved("realtime", "service_event_lag_seconds_count", service="realtime",
                                    event="courses.review_created"))
    assert eventually(lambda: moved("progress", "service_event_lag_seconds_count", service="progress",
                                    event="realtime.progress_reported"))
    assert moved("realtime", "realtime_progress_flush_seconds_count", outcome="ok")
    assert (("realtime_progress_buffer_reports", ()) in scrape_all(traced)["realtime"])


def spans_of(stack):
    return [json.loads(line) for path in stack.span_dir.glob("*.jsonl") for line in path.read_text().splitlines()]


def test_a_review_post_is_one_trace_from_the_door_through_courses_and_back_to_the_room(traced):
    api, campus = Api(traced.url), Campus(Api(traced.url))
    course, _ = campus.course()
    student = campus.enrolled_student(course)
    watcher = SocketClient(traced.url).connect(auth={"token": student["access_token"]})
    try:
        watcher.wait_for("connected")
        watcher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
        posted = api.call("POST", f"/api/v1/courses/{course['id']}/reviews", token=student["access_token"],
                          json={"rating": 5, "comment": "Traced"})
        assert posted.status_code == 201
        watcher.wait_for("new_review")
    finally:
        watcher.close()

    route = "POST /api/v1/courses/<course_id>/reviews"

    def chain():
        spans = spans_of(traced)
        posts = [s for s in spans if s["name"] == route]
        if not posts:
            return None
        trace_id = posts[-1]["trace_id"]
        found = {s["name"]: s for s in spans if s["trace_id"] == trace_id}
        wanted = (route, "courses.add_review", "courses.review_created -> realtime.on_review_created",
                  "emit new_review")
        return found if all(name in found for name in wanted) else None

    assert eventually(chain), sorted({s["name"] for s in spans_of(traced)})
    spans = chain()
    door = spans["POST /api/v1/courses/<course_id>/reviews"]
    add_review = spans["courses.add_review"]
    relay = spans["courses.review_created -> realtime.on_review_created"]
    emit = spans["emit new_review"]
    assert (door["service"], add_review["service"], relay["service"]) == ("realtime", "courses", "realtime")
    assert door["parent_id"] is None  # the request started the trace
    assert add_review["parent_id"] == door["span_id"]
    assert relay["parent_id"] == add_review["span_id"]
    assert emit["parent_id"] == relay["span_id"]
    transactions = [s for s in spans_of(traced) if s["trace_id"] == door["trace_id"] and s["name"] == "db transaction"]
    assert any(t["parent_id"] == add_review["span_id"] and t["attributes"]["outcome"] == "commit"
               for t in transactions)

    # the JSON log lines of both processes name the same trace beside their call ids
    door_line = [r for r in log_records(traced, "realtime") if r.get("call_id") == door["attributes"]["call_id"]]
    courses_line = [r for r in log_records(traced, "courses") if r.get("call_id") == add_review["attributes"]["call_id"]]
    assert door_line and door_line[-1]["trace_id"] == door["trace_id"]
    assert courses_line and courses_line[-1]["trace_id"] == door["trace_id"]
