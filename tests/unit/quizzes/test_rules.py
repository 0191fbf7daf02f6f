"""Quiz rules without a database or a broker: validation, who may do what, grading, attempts."""
import json

import pytest

from services.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.quizzes import rules


def question(prompt="2 + 2?", choices=("3", "4", "5"), correct_choice=1):
    return {"prompt": prompt, "choices": list(choices), "correct_choice": correct_choice}


# -- grading ------------------------------------------------------------------------

def test_score_is_the_percent_correct_rounded_to_two_places():
    three = [question(correct_choice=0), question(correct_choice=1), question(correct_choice=2)]
    assert rules.score(three, [0, 1, 2]) == 100
    assert rules.score(three, [1, 2, 0]) == 0
    assert rules.score(three, [0, 1, 0]) == 66.67
    assert rules.score(three, [0, 0, 0]) == 33.33
    assert rules.score([question()] * 8, [1] + [0] * 7) == 12.5


@pytest.mark.parametrize("score, passing_score, passed", [
    (70, 70, True), (69.99, 70, False), (100, 100, True), (0, 0, True), (66.67, 66.67, True), (66.66, 66.67, False),
])
def test_passed_when_the_score_reaches_the_passing_score(score, passing_score, passed):
    assert rules.passed(score, passing_score) is passed


def test_attempts_are_numbered_from_one_and_unlimited_by_default():
    assert rules.next_attempt(0, None) == 1
    assert rules.next_attempt(41, None) == 42
    assert rules.next_attempt(2, 3) == 3


@pytest.mark.parametrize("last, limit", [(1, 1), (3, 3), (5, 3)])
def test_no_attempt_beyond_the_limit(last, limit):
    with pytest.raises(Conflict, match=f"no attempts left: this quiz allows {limit} attempt"):
        rules.next_attempt(last, limit)


# -- what a valid quiz is -------------------------------------------------------------

def test_a_valid_definition_comes_back_trimmed():
    checked = rules.questions([question(prompt="  Capital of France? ", choices=(" Paris", "Lyon "), correct_choice=0)])
    assert checked == [{"prompt": "Capital of France?", "choices": ["Paris", "Lyon"], "correct_choice": 0}]
    assert rules.passing_score(66.67) == 66.67 and rules.passing_score(0) == 0.0
    assert rules.max_attempts(None) is None and rules.max_attempts(3) == 3


@pytest.mark.parametrize("questions, field", [
    ([], "questions"),
    ([question()] * 101, "questions"),
    ("not a list", "questions"),
    ([question(), "x"], "questions.1"),
    ([question(), question(), question(), question(correct_choice=3)], "questions.3.correct_choice"),
    ([question(correct_choice=-1)], "questions.0.correct_choice"),
    ([question(correct_choice=True)], "questions.0.correct_choice"),
    ([question(choices=("only one",), correct_choice=0)], "questions.0.choices"),
    ([question(choices=[str(n) for n in range(11)])], "questions.0.choices"),
    ([question(choices=("a", "  "))], "questions.0.choices.1"),
    ([question(prompt="")], "questions.0.prompt"),
    ([question(prompt="x" * 2001)], "questions.0.prompt"),
    ([{"prompt": "p", "choices": ["a", "b"]}], "questions.0.correct_choice"),
    ([question() | {"hint": "x"}], "questions.0.hint"),
])
def test_invalid_questions_name_the_field(questions, field):
    with pytest.raises(ValidationFailed) as failed:
        rules.questions(questions)
    assert failed.value.field == field and failed.value.message.startswith(f"{field}: ")


@pytest.mark.parametrize("value", [-0.01, 100.5, True, "70", None, float("nan")])
def test_passing_score_is_a_percent(value):
    with pytest.raises(ValidationFailed, match="passing_score: ") as failed:
        rules.passing_score(value)
    assert failed.value.field == "passing_score"


@pytest.mark.parametrize("value", [0, -1, 1.5, "3", 1001])
def test_max_attempts_is_a_positive_whole_number(value):
    with pytest.raises(ValidationFailed, match="max_attempts: ") as failed:
        rules.max_attempts(value)
    assert failed.value.field == "max_attempts"


@pytest.mark.parametrize("answers, field", [
    ([1], "answers"), ([1, 1, 1], "answers"), ("1,1", "answers"),
    ([1, 3], "answers.1"), ([-1, 0], "answers.0"), ([1, True], "answers.1"), ([1, "2"], "answers.1"),
])
def test_answers_one_valid_index_per_question(answers, field):
    with pytest.raises(ValidationFailed) as failed:
        rules.answers(answers, [question(), question()])
    assert failed.value.field == field


# -- who may do what ----------------------------------------------------------------

def member(relation):
    return {"exists": True, "course_id": "c", "instructor_id": "i", "published": True, "relation": relation}


def test_only_the_instructor_sees_the_answer_key():
    assert rules.sees_answers(member("instructor"))
    assert not rules.sees_answers(member("student"))
    shown = json.dumps(rules.without_answers([question(), question(correct_choice=2)]))
    assert "correct_choice" not in shown and "4" in shown


@pytest.mark.parametrize("check, allowed", [
    (rules.require_instructor, {"instructor"}),
    (rules.require_member, {"instructor", "student"}),
    (rules.require_student, {"student"}),
])
def test_relations(check, allowed):
    for relation in ("instructor", "student", "none"):
        if relation in allowed:
            check(member(relation))
        else:
            with pytest.raises(Forbidden):
                check(member(relation))
    with pytest.raises(NotFound):
        check({"exists": False})
