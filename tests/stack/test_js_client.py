"""Every room event of the document, as the JavaScript socket.io-client 4.x receives it."""


def test_the_javascript_client_gets_every_event(api, campus, connect, node_client):
    course, instructor = campus.course()
    video_id = course["videos"][0]["id"]
    student = campus.enrolled_student(course)

    teacher = node_client(instructor)
    assert teacher.wait_for("connected") == {"status": "Connected successfully", "user_id": instructor["user"]["id"]}
    assert teacher.call("join_course", {"course_id": course["id"]}) == {
        "course_id": course["id"], "status": "Joined successfully"}
    assert teacher.wait_for("joined_course")["course_id"] == course["id"]
    assert teacher.call("join_video", {"video_id": video_id})["status"] == "Joined successfully"
    assert teacher.wait_for("joined_video")["video_id"] == video_id

    learner = connect(student)
    learner.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
    learner.sio.call("join_video", {"video_id": video_id}, timeout=5)
    joined = teacher.wait_for("user_joined_video")
    assert (joined["user_id"], joined["user_email"]) == (student["user"]["id"], student["user"]["email"])

    learner.sio.call("send_chat_message", {"video_id": video_id, "message": "Question about the content",
                                           "timestamp": "2024-01-20T10:30:00Z"}, timeout=5)
    chat = teacher.wait_for("new_chat_message")
    assert {k: chat[k] for k in ("user_id", "user_email", "message")} == {
        "user_id": student["user"]["id"], "user_email": student["user"]["email"],
        "message": "Question about the content"}
    assert chat["timestamp"].endswith("Z")

    newcomer = campus.enrolled_student(course)
    enrollment = teacher.wait_for("new_enrollment")
    assert enrollment["user_id"] == newcomer["user"]["id"]
    assert enrollment["message"] == f"{newcomer['user']['email']} enrolled in the course"

    api.call("POST", f"/api/v1/courses/{course['id']}/reviews", token=student["access_token"],
             json={"rating": 5, "comment": "Excellent course..."})
    review = teacher.wait_for("new_review")
    assert (review["user_email"], review["rating"], review["comment"]) == (
        student["user"]["email"], 5, "Excellent course...")

    api.call("PATCH", f"/api/v1/courses/{course['id']}", token=instructor["access_token"], json={"title": "Renamed"})
    assert teacher.wait_for("course_updated")["title"] == "Renamed"

    learner.sio.call("leave_video", {"video_id": video_id}, timeout=5)
    assert teacher.wait_for("user_left_video")["user_id"] == student["user"]["id"]
    assert teacher.call("leave_course", {"course_id": course["id"]})["status"] == "Left successfully"
    assert teacher.wait_for("left_course")["course_id"] == course["id"]

    error = teacher.call("join_course", {})
    assert error == {"message": "missing: course_id", "code": "missing_parameters", "event": "join_course"}
    assert teacher.wait_for("error") == error
