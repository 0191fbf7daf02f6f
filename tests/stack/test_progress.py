"""Video progress over the real stack: socket -> door buffer -> progress service -> instructor room.

Reads go through the public HTTP API, so "stored" here means what a client reads back.
"""
import signal
import time

import pytest

from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient
from tests.support.stack import own_vhost, running_stack


def progress_of(api, course, student):
    response = api.call("GET", f"/api/v1/courses/{course['id']}/progress", token=student["access_token"])
    assert response.status_code == 200, response.text
    return response.json()["data"]


def video_progress(api, course, student, index=0):
    return progress_of(api, course, student)["videos"][index]


def eventually(read, check, timeout=15):
    """``read()`` until ``check(value)`` holds; the last value either way (for the assert)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not check(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def report(course, progress, timestamp, video=0):
    return {"video_id": course["videos"][video]["id"], "course_id": course["id"], "progress": progress,
            "timestamp": timestamp}


@pytest.fixture
def classroom(campus, connect):
    """A published course of two 600 s videos, its instructor watching the dashboard, one student."""
    course, instructor = campus.course(videos=2)
    teacher = connect(instructor)
    teacher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    student = campus.enrolled_student(course)
    return course, instructor, teacher, student


def test_progress_reaches_the_instructor_live_and_stored(api, connect, classroom):
    course, _, teacher, student = classroom
    watcher = connect(student)
    watcher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    video_id = course["videos"][0]["id"]

    ack = watcher.sio.call("video_progress", report(course, 75, 450), timeout=5)
    assert ack == {"user_id": student["user"]["id"], "video_id": video_id, "progress": 75, "timestamp": 450,
                   "course_id": course["id"]}
    assert teacher.wait_for("student_progress")[0] == ack
    update = teacher.wait_for("progress_update")[0]
    assert {k: update[k] for k in ("user_id", "video_id", "watched_seconds", "percent_complete", "completed",
                                   "course_id")} == {
        "user_id": student["user"]["id"], "video_id": video_id, "watched_seconds": 450, "percent_complete": 75,
        "completed": False, "course_id": course["id"]}

    mine = progress_of(api, course, student)
    assert mine["course_percent_complete"] == 0 and mine["video_count"] == 2
    assert {k: mine["videos"][0][k] for k in ("video_id", "watched_seconds", "last_position", "percent_complete",
                                              "completed")} == {
        "video_id": video_id, "watched_seconds": 450, "last_position": 450, "percent_complete": 75, "completed": False}

    watcher.sio.call("video_progress", report(course, 90, 540), timeout=5)
    assert teacher.wait_for("progress_update", count=2)[-1]["completed"] is True
    assert progress_of(api, course, student)["course_percent_complete"] == 50
    # the dashboard events are the instructor's: a student in the course room sees neither
    assert watcher.events("student_progress") == [] and watcher.events("progress_update") == []


def test_a_burst_of_200_is_throttled_live_and_stored_as_its_maximum(api, connect, classroom):
    course, _, teacher, student = classroom
    watcher = connect(student)
    # watch up to 90 % (540 s), then seek back: the last value sent is 40 % at 240 s
    sent = [(n * 90 / 159, n * 540 / 159) for n in range(160)] + [(40 - n, 240 + n) for n in range(39, -1, -1)]
    assert len(sent) == 200 and sent[-1] == (40, 240)
    started = time.monotonic()
    for progress, timestamp in sent:
        watcher.sio.emit("video_progress", report(course, progress, timestamp))
    last = eventually(lambda: teacher.events("student_progress"), lambda events: events and
                      events[-1]["progress"] == 40 and events[-1]["timestamp"] == 240)
    elapsed = time.monotonic() - started
    assert last[-1]["progress"] == 40 and last[-1]["timestamp"] == 240
    # leading edge plus at most one per 0.25 s window while the burst lasted
    assert len(last) <= 4 * elapsed + 2, (len(last), elapsed)
    print(f"\n200 updates in {elapsed:.2f}s -> {len(last)} student_progress events")

    stored = eventually(lambda: video_progress(api, course, student), lambda v: v["last_position"] == 240)
    assert (stored["percent_complete"], stored["watched_seconds"], stored["last_position"]) == (90, 540, 240)
    assert stored["completed"] is True


def test_out_of_order_updates_never_move_stored_progress_backwards(api, classroom):
    course, _, teacher, student = classroom
    video_id = course["videos"][1]["id"]
    path = f"/api/v1/videos/{video_id}/progress"
    accepted = api.call("POST", path, token=student["access_token"], json={"progress": 80, "timestamp": 480})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["data"] == {"user_id": student["user"]["id"], "video_id": video_id, "progress": 80,
                                       "timestamp": 480, "course_id": course["id"]}
    eventually(lambda: video_progress(api, course, student, 1), lambda v: v["percent_complete"] == 80)
    # an older, lower report arriving after the higher one: only the resume position follows it
    assert api.call("POST", path, token=student["access_token"],
                    json={"progress": 30, "timestamp": 180, "course_id": course["id"]}).status_code == 202
    stored = eventually(lambda: video_progress(api, course, student, 1), lambda v: v["last_position"] == 180)
    assert (stored["percent_complete"], stored["watched_seconds"], stored["last_position"]) == (80, 480, 180)
    updates = teacher.wait_for("progress_update", count=2)
    assert [u["percent_complete"] for u in updates] == [80, 80]


def test_the_final_value_is_stored_when_the_client_disconnects_right_after_sending(api, connect, classroom):
    course, _, _, student = classroom
    watcher = connect(student)
    for n in range(1, 31):
        watcher.sio.emit("video_progress", report(course, n * 2, n * 12))
    # on the wire, not yet handled: python-socketio's disconnect() drops packets still in
    # its send queue (the JavaScript client drains them), so let the queue empty first
    watcher.sio.eio.queue.join()
    watcher.sio.disconnect()
    stored = eventually(lambda: video_progress(api, course, student), lambda v: v["last_position"] == 360)
    assert (stored["percent_complete"], stored["watched_seconds"], stored["last_position"]) == (60, 360, 360)


def test_reports_wait_in_the_queue_while_the_progress_service_restarts(stack, api, connect, classroom):
    course, _, teacher, student = classroom
    watcher = connect(student)
    stack.stop_service("progress")
    try:
        watcher.sio.call("video_progress", report(course, 55, 330), timeout=5)
        # live events do not need the progress service
        assert teacher.wait_for("student_progress")[-1]["progress"] == 55
        time.sleep(1)  # several flushes happen while nobody consumes them
    finally:
        stack.start_service("progress")
        stack.wait_ready(timeout=60)
    stored = eventually(lambda: video_progress(api, course, student), lambda v: v["percent_complete"] == 55)
    assert stored["percent_complete"] == 55 and stored["watched_seconds"] == 330


SOCKET_ERRORS = [
    ({"progress": 101}, "invalid_parameters"),
    ({"progress": "50"}, "invalid_parameters"),
    ({"timestamp": -1}, "invalid_parameters"),
    ({"timestamp": 606}, "invalid_parameters"),  # past the 600 s video and its slack
    ({"course_id": "00000000-0000-0000-0000-000000000000"}, "not_found"),
    ({"video_id": "00000000-0000-0000-0000-000000000000"}, "not_found"),
]


@pytest.mark.parametrize("change, code", SOCKET_ERRORS)
def test_bad_video_progress_gets_an_error_and_nothing_is_stored(api, connect, classroom, change, code):
    course, _, teacher, student = classroom
    watcher = connect(student)
    ack = watcher.sio.call("video_progress", report(course, 50, 300) | change, timeout=5)
    assert ack["code"] == code and ack["event"] == "video_progress"
    assert watcher.sio.connected
    time.sleep(0.6)  # two flush intervals
    assert video_progress(api, course, student)["updated_at"] is None
    assert teacher.events("student_progress") == []


def test_only_enrolled_students_report_and_read_progress(api, campus, connect, classroom):
    course, instructor, _, student = classroom
    outsider = api.new_user()
    video_id = course["videos"][0]["id"]
    for who in (outsider, instructor):
        client = connect(who)
        assert client.sio.call("video_progress", report(course, 10, 60), timeout=5)["code"] == "forbidden"
        response = api.call("POST", f"/api/v1/videos/{video_id}/progress", token=who["access_token"],
                            json={"progress": 10, "timestamp": 60})
        assert response.status_code == 403
        assert api.call("GET", f"/api/v1/courses/{course['id']}/progress",
                        token=who["access_token"]).status_code == 403
    anonymous = api.call("POST", f"/api/v1/videos/{video_id}/progress", json={"progress": 1, "timestamp": 1})
    assert anonymous.status_code == 401
    response = api.call("POST", f"/api/v1/videos/{video_id}/progress", token=student["access_token"],
                        json={"progress": 101, "timestamp": 1})
    assert response.status_code == 422 and "progress" in response.json()["error"]["message"]
    other_course, _ = campus.course()
    assert api.call("POST", f"/api/v1/videos/{video_id}/progress", token=student["access_token"],
                    json={"progress": 1, "timestamp": 1, "course_id": other_course["id"]}).status_code == 404
    assert api.call("GET", "/api/v1/courses/00000000-0000-0000-0000-000000000000/progress",
                    token=student["access_token"]).status_code == 404
    assert api.call("GET", f"/api/v1/courses/{course['id']}/progress/students",
                    token=student["access_token"]).status_code == 403


def test_the_instructor_sees_every_students_progress(api, campus, classroom):
    course, instructor, _, ann = classroom
    bob = campus.enrolled_student(course)
    for video in course["videos"]:
        api.call("POST", f"/api/v1/videos/{video['id']}/progress", token=ann["access_token"],
                 json={"progress": 100, "timestamp": 600})
    eventually(lambda: progress_of(api, course, ann), lambda p: p["course_percent_complete"] == 100)
    response = api.call("GET", f"/api/v1/courses/{course['id']}/progress/students?limit=10",
                        token=instructor["access_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"] == {"total": 2, "limit": 10, "offset": 0}
    by_email = {s["email"]: s for s in body["data"]}
    assert by_email[ann["user"]["email"]]["course_percent_complete"] == 100
    assert by_email[bob["user"]["email"]]["course_percent_complete"] == 0
    assert [v["completed"] for v in by_email[ann["user"]["email"]]["videos"]] == [True, True]


# -- a stack of its own: the door never flushes on its timer, only when it stops -----------

@pytest.fixture(scope="module")
def slow_flush_stack(key_files, tmp_path_factory):
    with own_vhost() as amqp_uri, running_stack(amqp_uri, key_files, tmp_path_factory.mktemp("slow-flush"),
                                                PROGRESS_FLUSH_SECONDS="3600") as running:
        yield running


def test_sigterm_of_the_door_flushes_what_it_holds(slow_flush_stack):
    api = Api(slow_flush_stack.url)
    course, _ = Campus(api).course()
    student = Campus(api).enrolled_student(course)
    watcher = SocketClient(slow_flush_stack.url).connect(auth={"token": student["access_token"]})
    watcher.wait_for("connected")
    for n in range(1, 21):
        watcher.sio.emit("video_progress", report(course, n * 4, n * 24))
    assert watcher.sio.call("video_progress", report(course, 33, 200), timeout=5)["progress"] == 33
    time.sleep(0.5)
    assert video_progress(api, course, student)["updated_at"] is None  # held in the door's memory only

    slow_flush_stack.stop_service("realtime", signal.SIGTERM)
    assert slow_flush_stack.processes["realtime"].returncode == 0
    watcher.close()
    slow_flush_stack.start_service("realtime")
    slow_flush_stack.wait_ready(timeout=60)

    stored = eventually(lambda: video_progress(api, course, student), lambda v: v["updated_at"] is not None)
    assert (stored["percent_complete"], stored["watched_seconds"], stored["last_position"]) == (80, 480, 200)
