"""A domain service killed with SIGKILL: callers get 503 fast, nothing runs late, queued events survive."""
import signal
import time


def test_a_killed_service_answers_503_fast_and_never_acts_on_expired_calls(api, stack):
    instructor = api.new_user("instructor")
    stack.stop_service("courses", sig=signal.SIGKILL)
    try:
        started = time.monotonic()
        response = api.call("POST", "/api/v1/courses", token=instructor["access_token"], json={"title": "Ghost"})
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
        assert time.monotonic() - started < 10  # RPC_TIMEOUT_SECONDS=3 in this stack
    finally:
        stack.start_service("courses")
        stack.wait_ready(timeout=60)
    time.sleep(1)
    mine = api.call("GET", "/api/v1/courses", token=instructor["access_token"]).json()
    # the request that timed out expired in the queue: the course was never created behind the caller's back
    assert [c["title"] for c in mine["data"] if c["instructor_id"] == instructor["user"]["id"]] == []
    created = api.call("POST", "/api/v1/courses", token=instructor["access_token"], json={"title": "Real"})
    assert created.status_code == 201


def test_progress_reported_while_the_progress_service_is_dead_is_stored_when_it_returns(api, campus, connect, stack):
    course, _ = campus.course()
    video_id = course["videos"][0]["id"]
    student = campus.enrolled_student(course)
    client = connect(student)
    stack.stop_service("progress", sig=signal.SIGKILL)
    try:
        for percent in (10, 40, 70):
            ack = client.sio.call("video_progress", {"video_id": video_id, "course_id": course["id"],
                                                     "progress": percent, "timestamp": percent * 6}, timeout=5)
            assert ack["progress"] == percent
        time.sleep(1)  # the door hands the batch to the durable queue while nobody consumes it
    finally:
        stack.start_service("progress")
        stack.wait_ready(timeout=60)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        mine = api.call("GET", f"/api/v1/courses/{course['id']}/progress", token=student["access_token"])
        videos = mine.json()["data"]["videos"] if mine.status_code == 200 else []
        if videos and videos[0]["percent_complete"] == 70:
            break
        time.sleep(0.3)
    assert videos[0]["percent_complete"] == 70 and videos[0]["watched_seconds"] == 420
