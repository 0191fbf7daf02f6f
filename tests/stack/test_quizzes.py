"""Quizzes through the door against the real stack: grading, the instructor's live feed,
answer keys kept from students, attempt limits, validation and who may do what."""
from concurrent.futures import ThreadPoolExecutor

import pytest

UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
QUESTIONS = [
    {"prompt": "2 + 2?", "choices": ["3", "4"], "correct_choice": 1},
    {"prompt": "Capital of France?", "choices": ["Lyon", "Paris", "Nice"], "correct_choice": 1},
    {"prompt": "Largest planet?", "choices": ["Jupiter", "Mars"], "correct_choice": 0},
]


def new_quiz(api, course, instructor, **fields):
    body = {"title": "Week 1", "passing_score": 60, "questions": QUESTIONS} | fields
    created = api.call("POST", f"/api/v1/courses/{course['id']}/quizzes", token=instructor["access_token"], json=body)
    assert created.status_code == 201, created.text
    return created.json()["data"]


def submit(api, quiz, student, answers):
    return api.call("POST", f"/api/v1/quizzes/{quiz['id']}/submissions", token=student["access_token"],
                    json={"answers": answers})


def test_a_submission_is_graded_and_reaches_the_instructor_live(api, campus, connect):
    course, instructor = campus.course()
    quiz = new_quiz(api, course, instructor)
    teacher = connect(instructor)
    teacher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)  # also enters instructor_{id}
    student = campus.enrolled_student(course)
    classmate = connect(student)
    classmate.sio.call("join_course", {"course_id": course["id"]}, timeout=5)

    answered = submit(api, quiz, student, [1, 1, 1])
    assert answered.status_code == 201, answered.text
    submission = answered.json()["data"]
    assert {k: submission[k] for k in ("quiz_id", "score", "passed", "attempt")} == {
        "quiz_id": quiz["id"], "score": 66.67, "passed": True, "attempt": 1}
    assert submission["id"]

    event = teacher.wait_for("quiz_submission")[0]
    assert {k: event[k] for k in ("user_id", "quiz_id", "score", "passed", "course_id", "user_email", "attempt")} == {
        "user_id": student["user"]["id"], "quiz_id": quiz["id"], "score": 66.67, "passed": True,
        "course_id": course["id"], "user_email": student["user"]["email"], "attempt": 1}

    failed = submit(api, quiz, student, [0, 0, 1]).json()["data"]
    assert (failed["score"], failed["passed"], failed["attempt"]) == (0, False, 2)
    assert teacher.wait_for("quiz_submission", count=2)[1]["attempt"] == 2
    assert classmate.events("quiz_submission") == []  # the course room is not the instructor room


def test_students_never_see_the_answer_key(api, campus):
    course, instructor = campus.course()
    quiz = new_quiz(api, course, instructor)
    student = campus.enrolled_student(course)
    token = student["access_token"]
    submit(api, quiz, student, [1, 1, 0])
    for path in (f"/api/v1/quizzes/{quiz['id']}", f"/api/v1/courses/{course['id']}/quizzes",
                 f"/api/v1/quizzes/{quiz['id']}/submissions"):
        seen = api.call("GET", path, token=token)
        assert seen.status_code == 200, seen.text
        assert "correct_choice" not in seen.text
    shown = api.call("GET", f"/api/v1/quizzes/{quiz['id']}", token=token).json()["data"]
    assert shown["questions"] == [{"prompt": q["prompt"], "choices": q["choices"]} for q in QUESTIONS]
    own = api.call("GET", f"/api/v1/quizzes/{quiz['id']}", token=instructor["access_token"]).json()["data"]
    assert own["questions"] == QUESTIONS


def test_attempts_stop_at_max_attempts(api, campus):
    course, instructor = campus.course()
    quiz = new_quiz(api, course, instructor, max_attempts=2)
    student = campus.enrolled_student(course)
    assert [submit(api, quiz, student, [1, 1, 0]).json()["data"]["attempt"] for _ in range(2)] == [1, 2]
    refused = submit(api, quiz, student, [1, 1, 0])
    assert refused.status_code == 409
    assert refused.json()["error"] == {"code": "conflict", "message": (
        "no attempts left: this quiz allows 2 attempts and you have used them all")}
    # another student has attempts of their own
    assert submit(api, quiz, campus.enrolled_student(course), [1, 1, 0]).status_code == 201


def test_simultaneous_submissions_keep_to_the_limit(api, campus):
    course, instructor = campus.course()
    quiz = new_quiz(api, course, instructor, max_attempts=2)
    student = campus.enrolled_student(course)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: submit(api, quiz, student, [1, 1, 0]), range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 201, 409, 409, 409, 409], [a.text for a in answers]
    assert sorted(a.json()["data"]["attempt"] for a in answers if a.status_code == 201) == [1, 2]


def test_submission_lists(api, campus):
    course, instructor = campus.course()
    quiz = new_quiz(api, course, instructor)
    ann, bob = campus.enrolled_student(course), campus.enrolled_student(course)
    for student in (ann, bob, ann):
        assert submit(api, quiz, student, [1, 1, 0]).status_code == 201
    path = f"/api/v1/quizzes/{quiz['id']}/submissions"
    everyone = api.call("GET", path, token=instructor["access_token"]).json()
    assert everyone["meta"] == {"total": 3, "limit": 20, "offset": 0}
    assert sorted(s["user_email"] for s in everyone["data"]) == sorted(
        [ann["user"]["email"], ann["user"]["email"], bob["user"]["email"]])
    page = api.call("GET", path + "?limit=2&offset=2", token=instructor["access_token"]).json()
    assert page["meta"] == {"total": 3, "limit": 2, "offset": 2} and len(page["data"]) == 1
    own = api.call("GET", path, token=bob["access_token"]).json()
    assert own["meta"]["total"] == 1 and own["data"][0]["user_id"] == bob["user"]["id"]
    listed = api.call("GET", f"/api/v1/courses/{course['id']}/quizzes", token=ann["access_token"]).json()
    assert listed["meta"]["total"] == 1 and listed["data"][0]["id"] == quiz["id"]


def names_the_field(error, field):
    """``{"code": "validation_failed", "message": "field: why"}`` or ``"missing: field"``."""
    if error["code"] == "missing_parameters":
        return error["message"] == f"missing: {field}"
    return error["code"] == "validation_failed" and error["message"].startswith(f"{field}: ")


VALID_QUESTION = {"prompt": "p", "choices": ["a", "b"], "correct_choice": 0}
BAD_QUIZZES = [
    ({"title": "", "passing_score": 60, "questions": [VALID_QUESTION]}, "title"),
    ({"title": "T", "passing_score": 101, "questions": [VALID_QUESTION]}, "passing_score"),
    ({"title": "T", "passing_score": "60", "questions": [VALID_QUESTION]}, "passing_score"),
    ({"title": "T", "passing_score": 60, "max_attempts": 0, "questions": [VALID_QUESTION]}, "max_attempts"),
    ({"title": "T", "passing_score": 60, "questions": []}, "questions"),
    ({"title": "T", "passing_score": 60, "questions": [VALID_QUESTION] * 101}, "questions"),
    ({"title": "T", "passing_score": 60, "questions": [VALID_QUESTION] * 3 + [
        {"prompt": "p", "choices": ["a", "b"], "correct_choice": 2}]}, "questions.3.correct_choice"),
    ({"title": "T", "passing_score": 60, "questions": [{"prompt": "p", "choices": ["a"], "correct_choice": 0}]},
     "questions.0.choices"),
    ({"title": "T", "passing_score": 60, "questions": [{"prompt": "p", "choices": ["a"] * 11, "correct_choice": 0}]},
     "questions.0.choices"),
    ({"title": "T", "passing_score": 60, "questions": [{"prompt": " ", "choices": ["a", "b"], "correct_choice": 0}]},
     "questions.0.prompt"),
    ({"title": "T", "passing_score": 60, "questions": [{"prompt": "p", "choices": ["a", "b"]}]},
     "questions.0.correct_choice"),
    ({"title": "T", "passing_score": 60, "questions": [VALID_QUESTION], "shuffle": True}, "shuffle"),
]


@pytest.mark.parametrize("body, field", BAD_QUIZZES)
def test_every_invalid_quiz_is_a_422_naming_the_field(api, campus, body, field):
    course, instructor = campus.course(videos=0)
    refused = api.call("POST", f"/api/v1/courses/{course['id']}/quizzes", token=instructor["access_token"], json=body)
    assert refused.status_code == 422, refused.text
    assert names_the_field(refused.json()["error"], field)


@pytest.mark.parametrize("body, field", [
    ({"answers": [1, 1]}, "answers"),
    ({"answers": [1, 1, 0, 0]}, "answers"),
    ({"answers": [1, 3, 0]}, "answers.1"),
    ({"answers": [1, -1, 0]}, "answers.1"),
    ({"answers": [1, "1", 0]}, "answers.1"),
    ({"answers": "1,1,0"}, "answers"),
    ({}, "answers"),
])
def test_every_invalid_submission_is_a_422_naming_the_field(api, campus, body, field):
    course, instructor = campus.course(videos=0)
    quiz = new_quiz(api, course, instructor, max_attempts=1)
    student = campus.enrolled_student(course)
    refused = api.call("POST", f"/api/v1/quizzes/{quiz['id']}/submissions", token=student["access_token"], json=body)
    assert refused.status_code == 422, refused.text
    assert names_the_field(refused.json()["error"], field)
    assert submit(api, quiz, student, [1, 1, 0]).status_code == 201  # a refused answer used no attempt


def test_who_may_do_what(api, campus):
    course, instructor = campus.course(videos=0)
    quiz = new_quiz(api, course, instructor)
    student = campus.enrolled_student(course)
    unenrolled, other_instructor = api.new_user("student"), api.new_user("instructor")
    other_course, _ = campus.course(videos=0)
    other_student = campus.enrolled_student(other_course)  # enrolled, but in another course
    routes = {
        "create": ("POST", f"/api/v1/courses/{course['id']}/quizzes",
                   {"title": "T", "passing_score": 60, "questions": QUESTIONS}),
        "list": ("GET", f"/api/v1/courses/{course['id']}/quizzes", None),
        "read": ("GET", f"/api/v1/quizzes/{quiz['id']}", None),
        "submit": ("POST", f"/api/v1/quizzes/{quiz['id']}/submissions", {"answers": [1, 1, 0]}),
        "submissions": ("GET", f"/api/v1/quizzes/{quiz['id']}/submissions", None),
    }

    def status(who, route):
        method, path, body = routes[route]
        return api.call(method, path, token=who and who["access_token"], json=body).status_code

    for route in routes:
        assert status(None, route) == 401, route
        for outsider in (unenrolled, other_student, other_instructor):
            assert status(outsider, route) == 403, route
    assert status(student, "create") == 403
    assert status(instructor, "submit") == 403


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/quizzes/{unknown}"),
    ("GET", "/api/v1/quizzes/not-a-uuid"),
    ("POST", "/api/v1/quizzes/{unknown}/submissions"),
    ("GET", "/api/v1/quizzes/not-a-uuid/submissions"),
    ("GET", "/api/v1/courses/{unknown}/quizzes"),
    ("POST", "/api/v1/courses/not-a-uuid/quizzes"),
])
def test_unknown_or_malformed_ids_are_404(api, method, path):
    instructor = api.new_user("instructor")
    body = {"answers": [0]} if path.endswith("submissions") else {
        "title": "T", "passing_score": 60, "questions": QUESTIONS}
    answer = api.call(method, path.format(unknown=UNKNOWN_ID), token=instructor["access_token"],
                      json=body if method == "POST" else None)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"
