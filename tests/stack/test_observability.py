"""What an operator sees: JSON logs that follow a request across services, secrets kept
out of them, the door's Prometheus metrics, and the probe the containers run."""
import os
import subprocess
import sys
import time

from services.stack import ROOT
from tests.support.stack import log_records, log_text, own_vhost


def wait_for_line(stack, instance, predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in log_records(stack, instance) if predicate(r)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no such line in {instance}.log")


def test_a_login_can_be_followed_from_the_door_to_auth(stack, api):
    email, password = api.register(password="a very secret passphrase")
    api.login(email, password)

    door_line = wait_for_line(stack, "realtime", lambda r: r.get("entrypoint") == "login")[-1]
    assert door_line["service"] == "realtime" and door_line["http"] == "POST /api/v1/auth/login"
    auth_line = wait_for_line(stack, "auth", lambda r: r.get("entrypoint") == "login"
                              and door_line["call_id"] in r.get("call_id_stack", []))[-1]
    assert auth_line["service"] == "auth" and auth_line["outcome"] == "ok"
    assert auth_line["call_id_stack"] == [door_line["call_id"], auth_line["call_id"]]
    assert isinstance(auth_line["duration_ms"], float)

    for instance in ("realtime", "auth"):
        text = log_text(stack, instance)
        assert password not in text and "passphrase" not in text


def test_tokens_never_reach_the_logs(stack, api, sockets):
    session = api.new_user()
    access, refresh = session["access_token"], session["refresh_token"]
    api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": refresh})
    client = sockets()
    client.url = f"{client.url}?token={access}"
    client.connect(transports=["polling"])  # the token rides in every polling request's URL
    client.wait_for("connected")
    client.close()

    wait_for_line(stack, "realtime", lambda r: "token=[redacted]" in r["message"])
    for instance in ("realtime", "auth"):
        text = log_text(stack, instance)
        assert access not in text and refresh not in text


def metrics(api):
    response = api.call("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def sample(text, name, **labels):
    """The value of one series in Prometheus text, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric == name and ",".join(sorted(label_text.rstrip("}").split(","))) == wanted:
            return float(value)
    return None


def test_metrics_count_connections_rpc_events_and_errors(api, sockets):
    session = api.new_user()
    before = metrics(api)
    client = sockets().connect(auth={"token": session["access_token"]})
    client.wait_for("connected")
    client.sio.call("no_such_event", {}, timeout=5)
    api.call("GET", "/api/v1/auth/me")  # 401
    api.login(session["user"]["email"], "correct horse battery")

    after = metrics(api)
    assert sample(after, "realtime_connections") >= 1
    assert sample(after, "realtime_rooms") is not None
    assert sample(after, "realtime_socket_events_received_total", event="connect") >= 1
    assert sample(after, "realtime_socket_events_sent_total", event="connected") >= 1
    assert sample(after, "realtime_socket_events_sent_total", event="error") >= 1
    assert sample(after, "realtime_errors_total", code="unauthorized") > \
        (sample(before, "realtime_errors_total", code="unauthorized") or 0)
    logins = sample(after, "realtime_rpc_duration_seconds_count", service="auth", method="login")
    assert logins > (sample(before, "realtime_rpc_duration_seconds_count", service="auth", method="login") or 0)


def probe(*args, **env):
    return subprocess.run([sys.executable, "-m", "services.kernel.probe", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_the_probe_checks_a_running_service_and_fails_for_a_missing_one(stack):
    healthy = probe("auth", AMQP_URI=stack.env["AMQP_URI"])
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.strip() == "auth: ok"

    # a vhost where nothing runs: no answer, a non-zero exit within the limit
    started = time.monotonic()
    with own_vhost() as empty:
        missing = probe("auth", AMQP_URI=empty, PROBE_TIMEOUT_SECONDS="2")
    assert missing.returncode == 1 and missing.stderr.startswith("auth:")
    assert time.monotonic() - started < 30
    unreachable = probe("auth", AMQP_URI="amqp://guest:guest@127.0.0.1:9/", PROBE_TIMEOUT_SECONDS="2")
    assert unreachable.returncode == 1

    door = probe("realtime", WEB_SERVER_ADDRESS=f"0.0.0.0:{stack.port}")
    assert door.returncode == 0, door.stderr
    wrong_port = probe("realtime", "--live", WEB_SERVER_ADDRESS="0.0.0.0:9", PROBE_TIMEOUT_SECONDS="2")
    assert wrong_port.returncode == 1
