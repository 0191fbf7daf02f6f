"""Course and video rooms over real sockets: joins, presence, chat, room broadcasts."""
import time

import pytest


def test_join_course_and_receive_new_enrollment(api, campus, connect):
    course, instructor = campus.course()
    teacher = connect(instructor)
    joined = teacher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    assert joined == {"course_id": course["id"], "status": "Joined successfully"}
    assert teacher.wait_for("joined_course")[0] == joined

    classmate = campus.enrolled_student(course)
    peer = connect(classmate)
    peer.sio.call("join_course", {"course_id": course["id"]}, timeout=5)

    newcomer = campus.enrolled_student(course)
    email = newcomer["user"]["email"]
    for client in (teacher, peer):
        event = client.wait_for("new_enrollment", count=1 if client is peer else 2)[-1]
        assert event["user_id"] == newcomer["user"]["id"] and event["user_email"] == email
        assert event["message"] == f"{email} enrolled in the course" and event["course_id"] == course["id"]
    time.sleep(0.5)
    # the instructor is in course_ and instructor_ rooms: still one copy per enrollment
    assert len(teacher.events("new_enrollment")) == 2


def test_new_review_and_course_updated_reach_the_course_room(api, campus, connect):
    course, instructor = campus.course()
    student = campus.enrolled_student(course)
    watcher = connect(student)
    watcher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)

    review = api.call("POST", f"/api/v1/courses/{course['id']}/reviews", token=student["access_token"],
                      json={"rating": 5, "comment": "Excellent course..."})
    assert review.status_code == 201
    event = watcher.wait_for("new_review")[0]
    assert {k: event[k] for k in ("user_email", "rating", "comment", "course_id")} == {
        "user_email": student["user"]["email"], "rating": 5, "comment": "Excellent course...",
        "course_id": course["id"]}

    api.call("PATCH", f"/api/v1/courses/{course['id']}", token=instructor["access_token"], json={"title": "New title"})
    updated = watcher.wait_for("course_updated")[0]
    assert updated["course_id"] == course["id"] and updated["title"] == "New title"


def test_video_room_presence_and_chat(campus, connect):
    course, instructor = campus.course()
    video_id = course["videos"][0]["id"]
    ann, bob = campus.enrolled_student(course), campus.enrolled_student(course)
    first, second = connect(ann), connect(bob)

    assert first.sio.call("join_video", {"video_id": video_id}, timeout=5)["status"] == "Joined successfully"
    first.wait_for("joined_video")
    second.sio.call("join_video", {"video_id": video_id}, timeout=5)
    joined = first.wait_for("user_joined_video")[0]
    assert joined == {"user_id": bob["user"]["id"], "user_email": bob["user"]["email"],
                      "video_id": video_id, "course_id": course["id"]}
    # not told about itself; it may hear of ann's join, whose announcement crosses the room log
    # (and the presence fold) and can reach the room after bob is in it
    assert [e for e in second.events("user_joined_video") if e["user_id"] == bob["user"]["id"]] == []

    ack = second.sio.call("send_chat_message", {"video_id": video_id, "message": "  Question?  ",
                                                "timestamp": "2024-01-20T10:30:00Z"}, timeout=5)
    for client in (first, second):
        message = client.wait_for("new_chat_message")[0]
        assert message["message"] == "Question?" and message["user_id"] == bob["user"]["id"]
        assert message["user_email"] == bob["user"]["email"] and message["client_timestamp"] == "2024-01-20T10:30:00Z"
        assert message["timestamp"].endswith("Z") and message["timestamp"] != "2024-01-20T10:30:00Z"
        assert message["course_id"] == course["id"] and message["video_id"] == video_id
    assert ack["message"] == "Question?"

    left = second.sio.call("leave_video", {"video_id": video_id}, timeout=5)
    assert left == {"video_id": video_id, "status": "Left successfully"}
    assert second.wait_for("left_video")[0] == left
    assert first.wait_for("user_left_video")[0]["user_id"] == bob["user"]["id"]

    second.sio.call("join_video", {"video_id": video_id}, timeout=5)
    second.close()  # leaving by disconnecting tells the room too
    assert len(first.wait_for("user_left_video", count=2)) == 2


def test_leave_course_stops_broadcasts(campus, connect):
    course, instructor = campus.course()
    student = campus.enrolled_student(course)
    client = connect(student)
    client.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    assert client.sio.call("leave_course", {"course_id": course["id"]}, timeout=5) == {
        "course_id": course["id"], "status": "Left successfully"}
    client.wait_for("left_course")
    campus.enrolled_student(course)
    time.sleep(1)
    assert client.events("new_enrollment") == []


ERRORS = [
    ("join_course", None, "missing_parameters"),
    ("join_course", {}, "missing_parameters"),
    ("join_course", {"course_id": 42}, "invalid_parameters"),
    ("join_course", "course", "invalid_parameters"),
    ("join_course", {"course_id": "00000000-0000-0000-0000-000000000000"}, "not_found"),
    ("join_course", {"course_id": "not-a-uuid"}, "not_found"),
    ("join_video", {"video_id": "00000000-0000-0000-0000-000000000000"}, "not_found"),
    ("join_video", {"video_id": ["x"]}, "invalid_parameters"),
    ("send_chat_message", {"video_id": "00000000-0000-0000-0000-000000000000", "message": "hi"}, "forbidden"),
    ("send_chat_message", {"message": "hi"}, "missing_parameters"),
]


@pytest.mark.parametrize("event, payload, code", ERRORS)
def test_bad_events_get_an_error_and_the_connection_lives(api, connect, event, payload, code):
    client = connect(api.new_user())
    args = () if payload is None else (payload,)
    ack = client.sio.call(event, *args, timeout=5)
    assert ack["code"] == code and ack["event"] == event and ack["message"]
    assert client.wait_for("error")[0] == ack
    assert client.sio.connected
    assert client.sio.call("join_course", {"course_id": "x"}, timeout=5)["code"] == "not_found"


def test_outsiders_are_forbidden(api, campus, connect):
    course, _ = campus.course()
    outsider = connect(api.new_user())
    other_teacher = connect(api.new_user("instructor"))
    for client in (outsider, other_teacher):
        assert client.sio.call("join_course", {"course_id": course["id"]}, timeout=5)["code"] == "forbidden"
        assert client.sio.call("join_video", {"video_id": course["videos"][0]["id"]}, timeout=5)["code"] == "forbidden"


def test_chat_rules(campus, connect):
    course, _ = campus.course()
    video_id = course["videos"][0]["id"]
    client = connect(campus.enrolled_student(course))
    client.sio.call("join_video", {"video_id": video_id}, timeout=5)
    for message in ("   ", "x" * 2001):
        ack = client.sio.call("send_chat_message", {"video_id": video_id, "message": message}, timeout=5)
        assert ack["code"] == "invalid_parameters" and "message" in ack["message"]
    assert "code" not in client.sio.call("send_chat_message", {"video_id": video_id, "message": "x" * 2000}, timeout=5)
    answers = [client.sio.call("send_chat_message", {"video_id": video_id, "message": f"m{i}"}, timeout=5)
               for i in range(25)]
    limited = [a for a in answers if a.get("code") == "rate_limited"]
    assert len(limited) == 6  # 20 in 10 s: one already sent, 19 more pass, the other 6 wait
    assert client.sio.connected
