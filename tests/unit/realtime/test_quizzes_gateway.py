"""The door's quiz routes and its quiz_submitted handler, with Nameko's worker_factory."""
import json

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.kernel.errors import MissingParameters, Unauthorized, ValidationFailed
from services.kernel.tokens import TokenVerifier
from services.realtime.dependencies import DeliveryLedger
from services.realtime.service import RealtimeService
from tests.support import forge

EVENT = {"event_id": "e-1", "submission_id": "s-1", "quiz_id": "q-1", "course_id": "c-1", "user_id": "u-1",
         "user_email": "ann@example.com", "score": 85.0, "passed": True, "attempt": 2}


@pytest.fixture
def worker(public_key_pem):
    return worker_factory(RealtimeService, tokens=TokenVerifier(public_key_pem), handled=DeliveryLedger())


def request(body=None, token=None, method="POST"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body)
    return Request(EnvironBuilder(method=method, data=data, content_type="application/json",
                                  headers=headers).get_environ())


def test_a_submission_reaches_the_instructor_room_once(worker):
    worker.on_quiz_submitted(EVENT)
    worker.on_quiz_submitted(EVENT)  # redelivered: at-least-once delivery must not show it twice
    worker.sockets.emit.assert_called_once_with("quiz_submission", {
        "user_id": "u-1", "quiz_id": "q-1", "score": 85.0, "passed": True, "course_id": "c-1",
        "user_email": "ann@example.com", "attempt": 2, "submission_id": "s-1",
    }, to="instructor_c-1")


def test_submit_passes_the_verified_caller_and_the_answers(worker, private_key_pem):
    claims = forge.claims(email="ann@example.com")
    worker.quizzes.submit.return_value = {"id": "s-1"}
    assert worker.submit_quiz(request({"answers": [1, 0]}, forge.sign(private_key_pem, claims)), "q-1") == {"id": "s-1"}
    caller, quiz_id, answers = worker.quizzes.submit.call_args.args
    assert (caller.user_id, caller.email, caller.role) == (claims["sub"], "ann@example.com", "student")
    assert (quiz_id, answers) == ("q-1", [1, 0])


def test_create_quiz_hands_the_questions_over_as_plain_dicts(worker, private_key_pem):
    token = forge.sign(private_key_pem, forge.claims(role="instructor"))
    question = {"prompt": "2 + 2?", "choices": ["3", "4"], "correct_choice": 1}
    worker.create_quiz(request({"title": "Week 1", "passing_score": 70, "questions": [question]}, token), "c-1")
    _, course_id, title, passing_score, questions, max_attempts = worker.quizzes.create_quiz.call_args.args
    assert (course_id, title, passing_score, questions, max_attempts) == ("c-1", "Week 1", 70, [question], None)


def test_anonymous_callers_are_refused_before_the_body_is_read(worker):
    with pytest.raises(Unauthorized):
        worker.create_quiz(request({"nonsense": True}), "c-1")
    with pytest.raises(Unauthorized):
        worker.submit_quiz(request({"answers": "x"}), "q-1")
    worker.quizzes.create_quiz.assert_not_called()
    worker.quizzes.submit.assert_not_called()


@pytest.mark.parametrize("body, error, field", [
    ({"title": "T", "passing_score": 70, "questions": [{"prompt": "p", "choices": ["a", "b"],
                                                        "correct_choice": "1"}]},
     ValidationFailed, "questions.0.correct_choice"),
    ({"title": "T", "passing_score": True, "questions": []}, ValidationFailed, "passing_score"),
    ({"title": "T", "passing_score": 70, "max_attempts": "3", "questions": []}, ValidationFailed, "max_attempts"),
    ({"title": "T", "passing_score": 70, "questions": [{"prompt": "p", "choices": ["a", 2], "correct_choice": 0}]},
     ValidationFailed, "questions.0.choices.1"),
    ({"title": "T", "questions": []}, MissingParameters, "passing_score"),
])
def test_badly_typed_quizzes_name_the_field(worker, private_key_pem, body, error, field):
    token = forge.sign(private_key_pem, forge.claims(role="instructor"))
    with pytest.raises(error) as failed:
        worker.create_quiz(request(body, token), "c-1")
    assert failed.value.field == field and field in failed.value.message
    worker.quizzes.create_quiz.assert_not_called()
