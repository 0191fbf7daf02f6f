"""Who may do what, for every HTTP route and socket event of the door.

``ROUTES`` and ``SOCKET_EVENTS`` say, for each one, which callers must be refused; the
coverage tests fail as soon as the door grows a route or event that is not listed, so
no entrypoint ships without its refusals being tried against the real stack.
"""
import inspect
import time

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.realtime.entrypoints import ANYONE, ApiEndpoint, SocketEvent
from services.realtime.service import RealtimeService
from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient

QUIZ = {"title": "Week 1", "passing_score": 50,
        "questions": [{"prompt": "2 + 2?", "choices": ["3", "4"], "correct_choice": 1}]}

# who is refused, and how: anonymous (401), and the people without the right (403).
# outsider: a student enrolled nowhere; rival_student: enrolled in course B only;
# rival_instructor: teaches course B; student: enrolled in course A; instructor: teaches A
ROUTES = {
    ("POST", "/api/v1/courses"): ({"title": "x"}, ["outsider", "student"]),
    ("PATCH", "/api/v1/courses/<course_id>"): ({"title": "x"}, ["outsider", "student", "rival_instructor"]),
    ("POST", "/api/v1/courses/<course_id>/videos"): ({"title": "x", "duration_seconds": 5},
                                                      ["outsider", "student", "rival_instructor"]),
    ("POST", "/api/v1/courses/<course_id>/enrollments"): (None, ["instructor", "rival_instructor"]),
    ("GET", "/api/v1/courses/<course_id>/enrollments"): (None, ["outsider", "student", "rival_instructor"]),
    ("POST", "/api/v1/courses/<course_id>/reviews"): ({"rating": 5}, ["outsider", "rival_student",
                                                                     "rival_instructor", "instructor"]),
    ("GET", "/api/v1/courses/<course_id>/progress"): (None, ["outsider", "rival_student", "rival_instructor"]),
    ("GET", "/api/v1/courses/<course_id>/progress/students"): (None, ["outsider", "student", "rival_instructor"]),
    ("POST", "/api/v1/videos/<video_id>/progress"): ({"progress": 5, "timestamp": 1},
                                                     ["outsider", "rival_student", "rival_instructor"]),
    ("POST", "/api/v1/courses/<course_id>/quizzes"): (QUIZ, ["outsider", "student", "rival_instructor"]),
    ("GET", "/api/v1/courses/<course_id>/quizzes"): (None, ["outsider", "rival_student", "rival_instructor"]),
    ("GET", "/api/v1/quizzes/<quiz_id>"): (None, ["outsider", "rival_student", "rival_instructor"]),
    ("POST", "/api/v1/quizzes/<quiz_id>/submissions"): ({"answers": [1]}, ["outsider", "rival_student",
                                                                           "rival_instructor", "instructor"]),
    ("GET", "/api/v1/quizzes/<quiz_id>/submissions"): (None, ["outsider", "rival_student", "rival_instructor"]),
    ("GET", "/api/v1/videos/<video_id>/messages"): (None, ["outsider", "rival_student", "rival_instructor"]),
    # the message is the instructor's: a student of the course is neither its author nor the instructor
    ("DELETE", "/api/v1/videos/<video_id>/messages/<message_id>"): (None, ["outsider", "rival_student",
                                                                          "rival_instructor", "student"]),
    ("POST", "/api/v1/courses/<course_id>/mutes"): ({"user_id": "someone", "minutes": 5},
                                                    ["outsider", "student", "rival_student", "rival_instructor"]),
    ("DELETE", "/api/v1/courses/<course_id>/mutes/<user_id>"): (None, ["outsider", "student", "rival_student",
                                                                       "rival_instructor"]),
    ("POST", "/api/v1/auth/logout"): (None, []),
    ("GET", "/api/v1/auth/me"): (None, []),
}
# socket events: the payload (for course A) and who gets ``forbidden``
SOCKET_EVENTS = {
    "join_course": (lambda w: {"course_id": w["course"]["id"]}, ["outsider", "rival_student", "rival_instructor"]),
    "join_video": (lambda w: {"video_id": w["video_id"]}, ["outsider", "rival_student", "rival_instructor"]),
    "send_chat_message": (lambda w: {"video_id": w["video_id"], "message": "hi"},
                          ["outsider", "rival_student", "rival_instructor", "student"]),  # not in the room
    "video_progress": (lambda w: {"video_id": w["video_id"], "course_id": w["course"]["id"], "progress": 5,
                                  "timestamp": 1}, ["outsider", "rival_student", "rival_instructor"]),
}
# need no right: they only ever act on the caller's own connection
HARMLESS_SOCKET_EVENTS = {"connect", "leave_course", "leave_video"}


def door_entrypoints(kind):
    found = []
    for _, method in inspect.getmembers(RealtimeService, inspect.isfunction):
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, kind):
                found.append(entrypoint)
    return found


def public_routes():
    """Open to anyone by design (API.md; ``callers=ANYONE`` on the route): no refusal to test."""
    return {(e.method, e.url) for e in door_entrypoints(ApiEndpoint) if e.callers == ANYONE}


def test_every_route_has_its_refusals_listed():
    routes = {(e.method, e.url) for e in door_entrypoints(ApiEndpoint)}
    assert routes - set(ROUTES) - public_routes() == set(), "new routes need a line in ROUTES or callers=ANYONE"
    assert set(ROUTES) <= routes, "listed routes that no longer exist"
    assert set(ROUTES).isdisjoint(public_routes()), "a route documented as open to anyone refuses callers here"


def test_every_socket_event_has_its_refusals_listed():
    events = {e.socket_event for e in door_entrypoints(SocketEvent)}
    assert events == set(SOCKET_EVENTS) | HARMLESS_SOCKET_EVENTS


@pytest.fixture(scope="module")
def world(stack):
    """Two courses with their people, a video, a quiz and a stored chat message of the instructor in course A."""
    api = Api(stack.url)
    campus = Campus(api)
    course, instructor = campus.course()
    rival_course, rival_instructor = campus.course()
    quiz = api.call("POST", f"/api/v1/courses/{course['id']}/quizzes", token=instructor["access_token"],
                    json=QUIZ).json()["data"]
    video_id = course["videos"][0]["id"]
    chat = SocketClient(stack.url).connect(auth={"token": instructor["access_token"]})
    try:
        chat.sio.call("join_video", {"video_id": video_id}, timeout=10)
        message_id = chat.sio.call("send_chat_message", {"video_id": video_id, "message": "welcome"}, timeout=10)["id"]
    finally:
        chat.close()
    # stored asynchronously: wait, so that a refusal below is a 403 for the right reason, not a 404
    deadline = time.monotonic() + 15
    while message_id not in {m["id"] for m in api.call("GET", f"/api/v1/videos/{video_id}/messages",
                                                       token=instructor["access_token"]).json()["data"]}:
        assert time.monotonic() < deadline, "the instructor's chat message was not stored"
        time.sleep(0.1)
    student = campus.enrolled_student(course)
    return {
        "course": course, "video_id": video_id, "quiz": quiz, "message_id": message_id,
        "rival_course": rival_course, "rival_video_id": rival_course["videos"][0]["id"],
        "people": {
            "instructor": instructor, "rival_instructor": rival_instructor,
            "student": student, "rival_student": campus.enrolled_student(rival_course),
            "outsider": api.new_user(),
        },
    }


def concrete(path, world):
    return (path.replace("<course_id>", world["course"]["id"]).replace("<video_id>", world["video_id"])
            .replace("<quiz_id>", world["quiz"]["id"]).replace("<message_id>", world["message_id"])
            .replace("<user_id>", world["people"]["student"]["user"]["id"]))


@pytest.mark.parametrize("method, path", sorted(ROUTES))
def test_each_route_refuses_whoever_lacks_the_right(api, world, method, path):
    body, refused = ROUTES[(method, path)]
    url = concrete(path, world)
    anonymous = api.call(method, url, json=body)
    assert anonymous.status_code == 401, (method, path, anonymous.text)
    for who in refused:
        response = api.call(method, url, json=body, token=world["people"][who]["access_token"])
        assert response.status_code == 403, (method, path, who, response.status_code, response.text)
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("event", sorted(SOCKET_EVENTS))
def test_each_socket_event_refuses_whoever_lacks_the_right(world, connect, event):
    make_payload, refused = SOCKET_EVENTS[event]
    for who in refused:
        ack = connect(world["people"][who]).sio.call(event, make_payload(world), timeout=5)
        assert ack.get("code") == "forbidden", (event, who, ack)


def test_ids_from_another_course_cannot_be_mixed_in(api, world, connect):
    student = world["people"]["student"]
    client = connect(student)
    mixes = [
        {"video_id": world["rival_video_id"], "course_id": world["course"]["id"]},  # B's video under A
        {"video_id": world["video_id"], "course_id": world["rival_course"]["id"]},  # A's video under B
    ]
    for mix in mixes:
        ack = client.sio.call("video_progress", mix | {"progress": 5, "timestamp": 1}, timeout=5)
        assert ack.get("code") in ("forbidden", "not_found"), (mix, ack)
        response = api.call("POST", f"/api/v1/videos/{mix['video_id']}/progress", token=student["access_token"],
                            json={"progress": 5, "timestamp": 1, "course_id": mix["course_id"]})
        assert response.status_code in (403, 404), (mix, response.text)
    rival_video_room = client.sio.call("send_chat_message", {"video_id": world["rival_video_id"], "message": "x"},
                                       timeout=5)
    assert rival_video_room["code"] == "forbidden"
