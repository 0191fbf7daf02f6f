"""The quizzes use cases against a real database of each kind (SQLite and PostgreSQL).

Only the courses service is faked (``CoursesMembershipFake``): these tests are about the
quizzes rules and their persistence; the stack tests use the real courses service.
"""
import json

import eventlet
import pytest

from services.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.quizzes import handlers, store
from tests.unit.quizzes.fakes import person

UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"

QUESTIONS = [
    {"prompt": "2 + 2?", "choices": ["3", "4"], "correct_choice": 1},
    {"prompt": "Capital of France?", "choices": ["Lyon", "Paris", "Nice"], "correct_choice": 1},
    {"prompt": "Largest planet?", "choices": ["Jupiter", "Mars"], "correct_choice": 0},
]


def make_quiz(uow, courses, course, passing_score=60, max_attempts=None, questions=QUESTIONS):
    course_id, instructor, _ = course
    return handlers.create_quiz(uow(), courses, instructor, course_id, "Week 1", passing_score, questions,
                                max_attempts)


def test_the_instructor_creates_a_quiz_and_sees_the_answer_key(uow, courses, course):
    quiz = make_quiz(uow, courses, course, max_attempts=2)
    assert quiz["course_id"] == course[0] and quiz["title"] == "Week 1" and quiz["passing_score"] == 60
    assert quiz["max_attempts"] == 2 and quiz["question_count"] == 3 and quiz["created_at"].endswith("Z")
    assert quiz["questions"] == QUESTIONS
    assert handlers.get_quiz(uow(), courses, course[1], quiz["id"]) == quiz


def test_a_student_never_sees_the_answer_key(uow, courses, course):
    quiz = make_quiz(uow, courses, course)
    seen = handlers.get_quiz(uow(), courses, course[2], quiz["id"])
    assert "correct_choice" not in json.dumps(seen)
    assert seen["questions"] == [{"prompt": q["prompt"], "choices": q["choices"]} for q in QUESTIONS]


def test_only_the_course_instructor_creates_quizzes(uow, courses, course):
    for outsider in (person("instructor"), course[2], person()):
        with pytest.raises(Forbidden):
            handlers.create_quiz(uow(), courses, outsider, course[0], "Week 1", 60, QUESTIONS)
    # refused before the input is even looked at: no hints about what would be valid
    with pytest.raises(Forbidden):
        handlers.create_quiz(uow(), courses, course[2], course[0], "", 600, [])
    for course_id in (UNKNOWN_ID, "not-a-uuid", None):
        with pytest.raises(NotFound):
            handlers.create_quiz(uow(), courses, course[1], course_id, "Week 1", 60, QUESTIONS)


def test_an_invalid_quiz_names_the_field_and_stores_nothing(uow, courses, course):
    bad = QUESTIONS + [{"prompt": "p", "choices": ["a", "b"], "correct_choice": 2}]
    with pytest.raises(ValidationFailed, match=r"^questions.3.correct_choice: "):
        make_quiz(uow, courses, course, questions=bad)
    assert handlers.list_quizzes(uow(), courses, course[1], course[0], 20, 0)["total"] == 0


def test_only_members_read_a_quiz(uow, courses, course):
    quiz = make_quiz(uow, courses, course)
    for outsider in (person(), person("instructor")):
        with pytest.raises(Forbidden):
            handlers.get_quiz(uow(), courses, outsider, quiz["id"])
    for quiz_id in (UNKNOWN_ID, "nope", 7):
        with pytest.raises(NotFound, match="quiz not found"):
            handlers.get_quiz(uow(), courses, course[1], quiz_id)


def test_members_list_a_courses_quizzes_without_their_questions(uow, courses, course):
    first, second = make_quiz(uow, courses, course), make_quiz(uow, courses, course)
    listed = handlers.list_quizzes(uow(), courses, course[2], course[0], 1, 1)
    assert listed["total"] == 2 and listed["limit"] == 1 and listed["offset"] == 1
    assert [q["id"] for q in listed["items"]] == [second["id"]]
    assert "questions" not in listed["items"][0] and listed["items"][0]["question_count"] == 3
    assert first["id"] != second["id"]
    with pytest.raises(Forbidden):
        handlers.list_quizzes(uow(), courses, person(), course[0], 20, 0)
    with pytest.raises(NotFound):
        handlers.list_quizzes(uow(), courses, course[1], UNKNOWN_ID, 20, 0)


def test_a_submission_is_graded_stored_and_announced_after_commit(uow, courses, course):
    quiz = make_quiz(uow, courses, course)
    student = course[2]
    unit = uow()
    submission = handlers.submit(unit, courses, student, quiz["id"], [1, 1, 1])
    assert {k: submission[k] for k in ("quiz_id", "score", "passed", "attempt")} == {
        "quiz_id": quiz["id"], "score": 66.67, "passed": True, "attempt": 1}
    [(event_type, payload)] = unit.committed_events()
    assert event_type == "quiz_submitted"
    assert payload == {"event_id": payload["event_id"], "submission_id": submission["id"], "quiz_id": quiz["id"],
                       "course_id": course[0], "user_id": student.user_id, "user_email": student.email,
                       "score": 66.67, "passed": True, "attempt": 1}
    second = handlers.submit(uow(), courses, student, quiz["id"], [0, 0, 1])
    assert (second["score"], second["passed"], second["attempt"]) == (0, False, 2)
    stored = handlers.list_submissions(uow(), courses, student, quiz["id"], 20, 0)["items"]
    assert [(s["attempt"], s["score"], s["answers"]) for s in stored] == [(1, 66.67, [1, 1, 1]), (2, 0, [0, 0, 1])]


def test_attempts_stop_at_max_attempts(uow, courses, course):
    quiz = make_quiz(uow, courses, course, max_attempts=2)
    for _ in range(2):
        handlers.submit(uow(), courses, course[2], quiz["id"], [1, 1, 0])
    unit = uow()
    with pytest.raises(Conflict, match="no attempts left: this quiz allows 2 attempts"):
        handlers.submit(unit, courses, course[2], quiz["id"], [1, 1, 0])
    assert unit.committed_events() == []
    assert handlers.list_submissions(uow(), courses, course[1], quiz["id"], 20, 0)["total"] == 2


def test_only_enrolled_students_submit(uow, courses, course):
    quiz = make_quiz(uow, courses, course)
    for outsider in (course[1], person(), person("instructor")):
        with pytest.raises(Forbidden):
            handlers.submit(uow(), courses, outsider, quiz["id"], [1, 1, 0])
    with pytest.raises(NotFound):
        handlers.submit(uow(), courses, course[2], UNKNOWN_ID, [1, 1, 0])


@pytest.mark.parametrize("answers, field", [([1, 1], "answers"), ([1, 1, 0, 0], "answers"), ([1, 3, 0], "answers.1")])
def test_bad_answers_name_the_field_and_use_no_attempt(uow, courses, course, answers, field):
    quiz = make_quiz(uow, courses, course, max_attempts=1)
    with pytest.raises(ValidationFailed) as failed:
        handlers.submit(uow(), courses, course[2], quiz["id"], answers)
    assert failed.value.field == field
    assert handlers.submit(uow(), courses, course[2], quiz["id"], [1, 1, 0])["attempt"] == 1


def test_the_instructor_lists_everyone_and_a_student_only_their_own(uow, courses, course):
    quiz = make_quiz(uow, courses, course)
    course_id, instructor, ann = course
    bob = person()
    courses.enroll(course_id, bob)
    for student in (ann, bob, ann):
        handlers.submit(uow(), courses, student, quiz["id"], [1, 1, 0])
    everyone = handlers.list_submissions(uow(), courses, instructor, quiz["id"], 20, 0)
    assert everyone["total"] == 3
    assert sorted(s["user_email"] for s in everyone["items"]) == sorted([ann.email, ann.email, bob.email])
    own = handlers.list_submissions(uow(), courses, bob, quiz["id"], 20, 0)
    assert own["total"] == 1 and own["items"][0]["user_id"] == bob.user_id
    paged = handlers.list_submissions(uow(), courses, instructor, quiz["id"], 2, 2)
    assert (paged["total"], len(paged["items"]), paged["offset"]) == (3, 1, 2)
    with pytest.raises(Forbidden):
        handlers.list_submissions(uow(), courses, person(), quiz["id"], 20, 0)


def test_a_lost_race_for_an_attempt_number_counts_again(uow, courses, course, monkeypatch):
    """Another worker commits the same attempt number between our count and our insert."""
    quiz = make_quiz(uow, courses, course, max_attempts=2)
    counted = store.last_attempt
    raced = []

    def count_then_lose_the_race(session, quiz_id, user_id):
        last = counted(session, quiz_id, user_id)
        if not raced:
            raced.append("racing")  # the rival counts with this function too: it races no one
            raced[0] = handlers.submit(uow(), courses, course[2], quiz_id, [0, 0, 0])
        return last

    monkeypatch.setattr(store, "last_attempt", count_then_lose_the_race)
    unit = uow()
    ours = handlers.submit(unit, courses, course[2], quiz["id"], [1, 1, 0])
    assert (raced[0]["attempt"], ours["attempt"]) == (1, 2)
    assert [payload["attempt"] for _, payload in unit.committed_events()] == [2]

    raced.clear()
    monkeypatch.setattr(store, "last_attempt", lambda *args: 1)  # stale: says one attempt is left
    unit = uow()
    with pytest.raises(Conflict):  # the unique constraint holds; no third attempt slips in
        handlers.submit(unit, courses, course[2], quiz["id"], [1, 1, 0])
    assert unit.committed_events() == []


@pytest.mark.parametrize("max_attempts, numbers", [(3, [1, 2, 3]), (None, [1, 2, 3, 4, 5, 6, 7, 8])])
def test_concurrent_submissions_never_exceed_max_attempts_or_share_a_number(uow, courses, course, max_attempts,
                                                                             numbers):
    quiz = make_quiz(uow, courses, course, max_attempts=max_attempts)

    def submit_once(_):
        try:
            return handlers.submit(uow(), courses, course[2], quiz["id"], [1, 1, 0])["attempt"]
        except Conflict:
            return "conflict"

    outcomes = list(eventlet.GreenPool(8).imap(submit_once, range(8)))
    assert sorted(o for o in outcomes if o != "conflict") == numbers
    assert outcomes.count("conflict") == 8 - len(numbers)
    stored = handlers.list_submissions(uow(), courses, course[1], quiz["id"], 20, 0)
    assert sorted(s["attempt"] for s in stored["items"]) == numbers
