"""Quiz rules, free of Nameko and SQL: what a valid quiz is, who may do what, grading.

Who the caller is to a course comes from the courses service's ``membership`` answer
(``{"exists", "relation": "instructor"|"student"|"none", ...}``); this service never
reads the courses tables.
"""
import math

from services.kernel.checks import text, whole_number
from services.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed

MAX_TITLE = 200
MAX_PROMPT = 2000
MAX_CHOICE = 500
MIN_QUESTIONS, MAX_QUESTIONS = 1, 100
MIN_CHOICES, MAX_CHOICES = 2, 10
MAX_ATTEMPTS_LIMIT = 1000


# -- what a valid quiz is -----------------------------------------------------------

def title(value):
    return text(value, "title", MAX_TITLE)


def passing_score(value):
    """A percent, 0..100; fractions allowed (a pass mark of 66.67 is a real need)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 100:
        raise ValidationFailed("passing_score: must be a number from 0 to 100", "passing_score")
    return float(value)


def max_attempts(value):
    """None means unlimited."""
    if value is None:
        return None
    return whole_number(value, "max_attempts", 1, MAX_ATTEMPTS_LIMIT)


def questions(value):
    """``[{prompt, choices, correct_choice}]``, checked and trimmed; errors name the path."""
    if not isinstance(value, list) or not MIN_QUESTIONS <= len(value) <= MAX_QUESTIONS:
        raise ValidationFailed(f"questions: must be a list of {MIN_QUESTIONS} to {MAX_QUESTIONS} questions",
                               "questions")
    return [question(item, f"questions.{index}") for index, item in enumerate(value)]


def question(value, field):
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field}: must be an object", field)
    unknown = sorted(set(value) - {"prompt", "choices", "correct_choice"})
    if unknown:
        raise ValidationFailed(f"{field}.{unknown[0]}: unknown field", f"{field}.{unknown[0]}")
    choices = value.get("choices")
    if not isinstance(choices, list) or not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
        raise ValidationFailed(f"{field}.choices: must be a list of {MIN_CHOICES} to {MAX_CHOICES} choices",
                               f"{field}.choices")
    return {
        "prompt": text(value.get("prompt"), f"{field}.prompt", MAX_PROMPT),
        "choices": [text(choice, f"{field}.choices.{n}", MAX_CHOICE) for n, choice in enumerate(choices)],
        "correct_choice": whole_number(value.get("correct_choice"), f"{field}.correct_choice", 0, len(choices) - 1),
    }


def answers(value, quiz_questions):
    """One choice index per question, in the quiz's order."""
    if not isinstance(value, list) or len(value) != len(quiz_questions):
        raise ValidationFailed(f"answers: must be a list of exactly {len(quiz_questions)} choice indexes, "
                               f"one per question", "answers")
    return [whole_number(answer, f"answers.{n}", 0, len(q["choices"]) - 1)
            for n, (answer, q) in enumerate(zip(value, quiz_questions))]


# -- who may do what ----------------------------------------------------------------

def require_course(membership):
    if not membership.get("exists"):
        raise NotFound("course not found")
    return membership


def require_instructor(membership):
    if require_course(membership)["relation"] != "instructor":
        raise Forbidden("only the course's instructor can do this")


def require_member(membership):
    if require_course(membership)["relation"] not in ("instructor", "student"):
        raise Forbidden("only students enrolled in this course and its instructor can see its quizzes")


def require_student(membership):
    if require_course(membership)["relation"] != "student":
        raise Forbidden("only students enrolled in this course can submit its quizzes")


def sees_answers(membership):
    """Only the instructor ever sees which choice is correct."""
    return membership.get("relation") == "instructor"


def without_answers(quiz_questions):
    """The questions as a student sees them: no ``correct_choice`` anywhere."""
    return [{"prompt": q["prompt"], "choices": list(q["choices"])} for q in quiz_questions]


# -- grading and attempts ------------------------------------------------------------

def score(quiz_questions, checked_answers):
    """Percent of questions answered correctly, 0..100, rounded to 2 places."""
    correct = sum(1 for q, answer in zip(quiz_questions, checked_answers) if q["correct_choice"] == answer)
    return round(100 * correct / len(quiz_questions), 2)


def passed(submission_score, quiz_passing_score):
    """The score the student is shown decides: 66.67 passes a 66.67 pass mark."""
    return submission_score >= quiz_passing_score


def next_attempt(last_attempt, limit):
    """The number of the attempt about to be made (from 1), or 409 if none is left."""
    attempt = last_attempt + 1
    if limit is not None and attempt > limit:
        raise Conflict(f"no attempts left: this quiz allows {limit} attempt{'s' if limit != 1 else ''} "
                       f"and you have used {'them all' if limit != 1 else 'it'}")
    return attempt
