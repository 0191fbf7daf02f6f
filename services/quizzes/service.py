"""The quizzes service's entrypoints. Rules live in handlers/rules; this is the surface."""
from nameko.rpc import rpc

from services.kernel.database import Database
from services.kernel.errors import EXPECTED
from services.kernel.health import HealthRpc
from services.kernel.rpc import RpcClient
from services.quizzes import handlers


class QuizzesService(HealthRpc):
    name = "quizzes"

    db = Database()
    # who is instructor or student of a course is the courses service's to say
    courses = RpcClient("courses")

    @rpc(expected_exceptions=EXPECTED)
    def create_quiz(self, actor, course_id, title, passing_score, questions, max_attempts=None):
        return handlers.create_quiz(self.db, self.courses, actor, course_id, title, passing_score, questions,
                                    max_attempts)

    @rpc(expected_exceptions=EXPECTED)
    def get_quiz(self, actor, quiz_id):
        return handlers.get_quiz(self.db, self.courses, actor, quiz_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_quizzes(self, actor, course_id, limit, offset):
        return handlers.list_quizzes(self.db, self.courses, actor, course_id, limit, offset)

    @rpc(expected_exceptions=EXPECTED)
    def submit(self, actor, quiz_id, answers):
        return handlers.submit(self.db, self.courses, actor, quiz_id, answers)

    @rpc(expected_exceptions=EXPECTED)
    def list_submissions(self, actor, quiz_id, limit, offset):
        return handlers.list_submissions(self.db, self.courses, actor, quiz_id, limit, offset)
