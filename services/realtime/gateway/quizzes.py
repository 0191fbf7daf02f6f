"""Quizzes: the quiz rows of API.md (``quiz_submission`` to the instructor room is a relay: relays.py)."""
from services.realtime import answers, schemas
from services.realtime.entrypoints import INSTRUCTOR, STUDENT, USER, api
from services.realtime.gateway import Gateway
from services.realtime.gateway.courses import as_page


class QuizzesGateway(Gateway):
    # every quiz route needs a signed-in caller: 401 comes before any look at the body

    @api("POST", "/api/v1/courses/<course_id>/quizzes", status=201, summary="Create a quiz", callers=INSTRUCTOR,
         answer=answers.Quiz, body=schemas.NewQuiz, errors=(400, 401, 403, 404, 422), tag="quizzes")
    def create_quiz(self, request, course_id):
        caller = self.caller(request)
        body = schemas.parse_json_body(request, schemas.NewQuiz)
        return self.quizzes.create_quiz(caller, course_id, body.title, body.passing_score,
                                        [question.model_dump() for question in body.questions], body.max_attempts)

    @api("GET", "/api/v1/courses/<course_id>/quizzes", summary="The course's quizzes", callers=USER,
         answer=answers.Quiz, listing=True, errors=(401, 403, 404, 422), tag="quizzes",
         description="Its instructor and enrolled students.")
    def list_quizzes(self, request, course_id):
        caller = self.caller(request)
        limit, offset = schemas.page_params(request)
        return as_page(self.quizzes.list_quizzes(caller, course_id, limit, offset))

    @api("GET", "/api/v1/quizzes/<quiz_id>", summary="One quiz (students never see correct_choice)", callers=USER,
         answer=answers.Quiz, errors=(401, 403, 404), tag="quizzes")
    def get_quiz(self, request, quiz_id):
        return self.quizzes.get_quiz(self.caller(request), quiz_id)

    @api("POST", "/api/v1/quizzes/<quiz_id>/submissions", status=201,
         summary="Answer a quiz; instructor event quiz_submission", callers=STUDENT, answer=answers.Submission,
         body=schemas.QuizAnswers, errors=(400, 401, 403, 404, 409, 422), tag="quizzes")
    def submit_quiz(self, request, quiz_id):
        caller = self.caller(request)
        body = schemas.parse_json_body(request, schemas.QuizAnswers)
        return self.quizzes.submit(caller, quiz_id, body.answers)

    @api("GET", "/api/v1/quizzes/<quiz_id>/submissions",
         summary="Submissions: all to the instructor, own to a student", callers=USER, answer=answers.Submission,
         listing=True, errors=(401, 403, 404, 422), tag="quizzes")
    def list_quiz_submissions(self, request, quiz_id):
        caller = self.caller(request)
        limit, offset = schemas.page_params(request)
        return as_page(self.quizzes.list_submissions(caller, quiz_id, limit, offset))
