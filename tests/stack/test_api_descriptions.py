"""The API descriptions hold for what the running platform really sends.

Every HTTP answer below is checked against the OpenAPI document the door serves, and
every Socket.IO event and acknowledgement the clients receive against docs/asyncapi.yaml.
"""
import jsonschema
import pytest

from tests.support import api_descriptions


@pytest.fixture(scope="module")
def served_openapi(stack):
    import requests

    answer = requests.get(f"{stack.url}/api/v1/openapi.json", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    return answer.json()


def test_the_door_serves_the_openapi_document(served_openapi):
    from openapi_spec_validator import validate

    validate(served_openapi)
    assert served_openapi["info"]["title"] == "Course platform HTTP API"


def test_real_http_answers_fit_the_openapi_document(api, served_openapi):
    def check(method, path, template, status, token=None, **kwargs):
        answer = api.call(method, path, token=token, **kwargs)
        assert answer.status_code == status, answer.text
        api_descriptions.check_answer(served_openapi, method, template, status, answer.json())
        return answer.json()

    email, password = api.register("instructor")
    check("POST", "/api/v1/auth/register", "/api/v1/auth/register", 201,
          json={"email": f"x{email}", "password": password, "role": "student"})
    session = check("POST", "/api/v1/auth/login", "/api/v1/auth/login", 200,
                    json={"email": email, "password": password})["data"]
    teacher = session["access_token"]
    check("GET", "/api/v1/auth/me", "/api/v1/auth/me", 200, token=teacher)
    course = check("POST", "/api/v1/courses", "/api/v1/courses", 201, token=teacher, json={"title": "T"})["data"]
    one = "/api/v1/courses/{course_id}"
    video = check("POST", f"/api/v1/courses/{course['id']}/videos", one + "/videos", 201, token=teacher,
                  json={"title": "V", "duration_seconds": 60})["data"]
    check("PATCH", f"/api/v1/courses/{course['id']}", one, 200, token=teacher, json={"published": True})
    check("GET", f"/api/v1/courses/{course['id']}", one, 200)
    check("GET", "/api/v1/courses?limit=5", "/api/v1/courses", 200)
    student = api.new_user()["access_token"]
    check("POST", f"/api/v1/courses/{course['id']}/enrollments", one + "/enrollments", 201, token=student)
    check("GET", f"/api/v1/courses/{course['id']}/enrollments", one + "/enrollments", 200, token=teacher)
    check("POST", f"/api/v1/courses/{course['id']}/reviews", one + "/reviews", 201, token=student,
          json={"rating": 4, "comment": "Good"})
    check("GET", f"/api/v1/courses/{course['id']}/reviews", one + "/reviews", 200)
    check("POST", f"/api/v1/courses/{course['id']}/reviews", one + "/reviews", 409, token=student,
          json={"rating": 4})
    check("POST", f"/api/v1/videos/{video['id']}/progress", "/api/v1/videos/{video_id}/progress", 202,
          token=student, json={"progress": 50, "timestamp": 30})
    check("GET", f"/api/v1/courses/{course['id']}/progress", one + "/progress", 200, token=student)
    check("GET", f"/api/v1/courses/{course['id']}/progress/students", one + "/progress/students", 200,
          token=teacher)
    check("GET", "/api/v1/courses/00000000-0000-0000-0000-000000000000", one, 404)
    check("POST", "/api/v1/courses", "/api/v1/courses", 422, token=teacher, json={"title": 5})
    check("GET", "/api/v1/auth/me", "/api/v1/auth/me", 401)
    check("GET", "/health/ready", "/health/ready", 200)
    check("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", 200, token=teacher)


def test_an_answer_that_breaks_the_document_is_caught(served_openapi):
    with pytest.raises(jsonschema.ValidationError):
        api_descriptions.check_answer(served_openapi, "GET", "/api/v1/auth/me", 200, {"data": {"user": {"id": 1}}})


def test_real_socket_payloads_fit_the_asyncapi_document(api, campus, connect):
    course, instructor = campus.course()
    video_id = course["videos"][0]["id"]
    student = campus.enrolled_student(course)
    teacher, learner = connect(instructor), connect(student)
    acks = []

    def call(client, event, payload):
        acks.append((event, client.sio.call(event, payload, timeout=5)))
        return acks[-1][1]

    call(teacher, "join_course", {"course_id": course["id"]})
    call(learner, "join_course", {"course_id": course["id"]})
    call(teacher, "join_video", {"video_id": video_id})
    call(learner, "join_video", {"video_id": video_id})
    call(learner, "send_chat_message", {"video_id": video_id, "message": "Question?", "timestamp": "2024-01-20T10:30:00Z"})
    campus.enrolled_student(course)
    api.call("POST", f"/api/v1/courses/{course['id']}/reviews", token=student["access_token"],
             json={"rating": 5, "comment": "Excellent course..."})
    api.call("PATCH", f"/api/v1/courses/{course['id']}", token=instructor["access_token"], json={"title": "Renamed"})
    expected = {"connected", "joined_course", "joined_video", "user_joined_video", "new_chat_message",
                "new_enrollment", "new_review", "course_updated", "left_video", "user_left_video", "left_course",
                "error"}

    call(learner, "video_progress", {"video_id": video_id, "course_id": course["id"], "progress": 50,
                                     "timestamp": 300})
    expected |= {"student_progress", "progress_update"}
    teacher.wait_for("progress_update")
    quiz = api.call("POST", f"/api/v1/courses/{course['id']}/quizzes", token=instructor["access_token"],
                    json={"title": "Q", "passing_score": 50,
                          "questions": [{"prompt": "2+2?", "choices": ["3", "4"], "correct_choice": 1}]})
    api.call("POST", f"/api/v1/quizzes/{quiz.json()['data']['id']}/submissions",
             token=student["access_token"], json={"answers": [1]})
    expected.add("quiz_submission")
    teacher.wait_for("quiz_submission")

    teacher.wait_for("course_updated")
    learner.wait_for("new_review")
    call(learner, "leave_video", {"video_id": video_id})
    teacher.wait_for("user_left_video")
    call(learner, "leave_course", {"course_id": course["id"]})
    call(learner, "join_course", {})  # an error, as the sender gets it

    received = teacher.received + learner.received
    assert expected <= {event for event, _ in received}
    for event, payload in received:
        api_descriptions.check_payload(event, payload)
    replies = {op["messages"][0]["$ref"].split("/")[-1]: op.get("reply")
               for op in api_descriptions.asyncapi()["operations"].values() if op["action"] == "receive"}
    for event, ack in acks:
        if ack is None:  # a handler that answers nothing acknowledges without a payload
            continue
        allowed = [api_descriptions.resolve(m["$ref"])["name"] for m in replies[event]["messages"]]
        reply_event = "error" if "code" in ack else allowed[0]
        assert reply_event in allowed, (event, ack)
        api_descriptions.check_payload(reply_event, ack)
