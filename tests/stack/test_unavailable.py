"""A backing service that is down: the door answers 503 quickly, and recovers with it."""
import time


def test_auth_down_gives_503_quickly_then_recovers(stack, api):
    email, password = api.register()
    stack.stop_service("auth")
    try:
        started = time.monotonic()
        response = api.call("POST", "/api/v1/auth/login", json={"email": email, "password": password})
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert elapsed < 10  # the deadline is RPC_TIMEOUT_SECONDS=3 in this stack
        assert api.call("GET", "/health/ready").status_code == 503
    finally:
        stack.start_service("auth")
        stack.wait_ready(timeout=60)
    assert api.call("POST", "/api/v1/auth/login", json={"email": email, "password": password}).status_code == 200
