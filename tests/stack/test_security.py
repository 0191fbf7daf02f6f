"""Attacks and abuse at the door: sessions, origins, sizes, rates, replays."""
import http.client
import json
import time
import uuid

import pytest
import socketio
from nameko.standalone.events import event_dispatcher


def test_logout_ends_that_sessions_sockets_and_its_token(api, connect, sockets):
    email, password = api.register()
    phone, laptop = api.login(email, password), api.login(email, password)
    phone_socket, laptop_socket = connect(phone), connect(laptop)

    assert api.call("POST", "/api/v1/auth/logout", token=phone["access_token"]).status_code == 200
    error = phone_socket.wait_for("error")[0]
    assert error["code"] == "forbidden" and "Session ended" in error["message"]
    deadline = time.monotonic() + 5
    while phone_socket.sio.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not phone_socket.sio.connected

    # the logged-out access token is refused from now on, on both doors' protocols
    assert api.call("GET", "/api/v1/auth/me", token=phone["access_token"]).status_code == 401
    again = sockets()
    with pytest.raises(socketio.exceptions.ConnectionError):
        again.connect(auth={"token": phone["access_token"]})
    assert again.connect_error == {"message": "Invalid token"}

    # the other device's session is untouched
    assert laptop_socket.sio.connected
    assert api.call("GET", "/api/v1/auth/me", token=laptop["access_token"]).status_code == 200


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_foreign_origin_cannot_open_a_socket(api, stack, transport):
    token = api.new_user()["access_token"]

    def opens(origin):
        # websocket-client sends its own Origin unless told which one to send
        client = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
        try:
            client.connect(stack.url, auth={"token": token}, transports=[transport], wait_timeout=5,
                           headers={"Origin": origin} if transport == "polling" else {})
            return client.connected
        except socketio.exceptions.ConnectionError:
            return False
        finally:
            client.disconnect()

    assert not opens("https://evil.example")
    assert not opens("null")
    assert opens("https://app.example.com")  # CORS_ALLOWED_ORIGINS of this stack
    assert opens(stack.url.replace("127.0.0.1", "localhost"))  # the door's own


def test_an_oversized_message_is_refused_without_harming_others(api, campus, connect):
    course, _ = campus.course()
    video_id = course["videos"][0]["id"]
    abuser, bystander = connect(campus.enrolled_student(course)), connect(campus.enrolled_student(course))
    bystander.sio.call("join_video", {"video_id": video_id}, timeout=5)
    abuser.sio.emit("send_chat_message", {"video_id": video_id, "message": "x" * 70_000})
    deadline = time.monotonic() + 5
    while abuser.sio.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not abuser.sio.connected  # a frame over 64 KB closes that connection (1009)
    assert bystander.sio.connected
    assert bystander.sio.call("send_chat_message", {"video_id": video_id, "message": "still here"},
                              timeout=5)["message"] == "still here"


def test_a_flood_of_events_is_rate_limited_per_connection(api, connect):
    flooder, neighbour = connect(api.new_user()), connect(api.new_user())
    for _ in range(400):  # the window allows bursts of 300 (SOCKET_EVENT_RATE)
        flooder.sio.emit("join_course", {"course_id": "x"})
    errors = flooder.wait_for("error", count=400, timeout=60)
    codes = [e["code"] for e in errors]
    assert codes.count("rate_limited") >= 90 and "not_found" in codes
    assert flooder.sio.connected
    assert neighbour.sio.call("join_course", {"course_id": "x"}, timeout=5)["code"] == "not_found"


def test_connections_per_user_are_capped(api, sockets):
    token = api.new_user()["access_token"]
    clients = [sockets().connect(auth={"token": token}) for _ in range(20)]
    for client in clients:
        client.wait_for("connected")
    extra = sockets()
    with pytest.raises(socketio.exceptions.ConnectionError):
        extra.connect(auth={"token": token})
    assert "Too many connections" in extra.connect_error["message"]
    clients[0].close()
    time.sleep(0.3)
    sockets().connect(auth={"token": token}).wait_for("connected")


def test_failed_logins_are_limited_per_email(api):
    email, password = api.register()
    for _ in range(5):
        assert api.call("POST", "/api/v1/auth/login", json={"email": email, "password": "wrong!!!"}).status_code == 401
    limited = api.call("POST", "/api/v1/auth/login", json={"email": email, "password": password})
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"


def login_from(stack, source_ip, email, password):
    """POST /login from another loopback address, so this test's window is its own."""
    host, port = stack.url.rsplit("//", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source_ip, 0))
    connection.request("POST", "/api/v1/auth/login", json.dumps({"email": email, "password": password}),
                       {"Content-Type": "application/json"})
    status = connection.getresponse().status
    connection.close()
    return status


def test_failed_logins_are_limited_per_address(api, stack):
    email, password = api.register()
    address = f"127.0.{uuid.uuid4().int % 200 + 20}.{uuid.uuid4().int % 200 + 20}"
    statuses = [login_from(stack, address, f"nobody{n}@example.com", "wrong password") for n in range(30)]
    assert set(statuses) == {401}
    assert login_from(stack, address, email, password) == 429
    assert api.call("POST", "/api/v1/auth/login", json={"email": email, "password": password}).status_code == 200


def test_a_redelivered_domain_event_reaches_the_room_once(api, campus, connect, stack):
    course, instructor = campus.course()
    teacher = connect(instructor)
    teacher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    event = {"event_id": str(uuid.uuid4()), "enrollment_id": str(uuid.uuid4()), "course_id": course["id"],
             "instructor_id": instructor["user"]["id"], "user_id": str(uuid.uuid4()),
             "user_email": "replayed@example.com", "enrolled_at": "2026-01-01T00:00:00Z"}
    dispatch = event_dispatcher({"AMQP_URI": stack.env["AMQP_URI"]})
    for _ in range(3):  # at-least-once delivery: the same event, three times
        dispatch("courses", "enrollment_created", event)
    teacher.wait_for("new_enrollment")
    time.sleep(1)
    assert len(teacher.events("new_enrollment")) == 1
