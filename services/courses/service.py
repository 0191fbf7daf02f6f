"""The courses service's entrypoints. Rules live in handlers/rules; this is the surface."""
from nameko.rpc import rpc

from services.courses import handlers
from services.kernel.database import Database
from services.kernel.errors import EXPECTED
from services.kernel.health import HealthRpc


class CoursesService(HealthRpc):
    name = "courses"

    db = Database()

    @rpc(expected_exceptions=EXPECTED)
    def create_course(self, actor, title, description=None):
        return handlers.create_course(self.db, actor, title, description)

    @rpc(expected_exceptions=EXPECTED)
    def get_course(self, actor, course_id):
        return handlers.get_course(self.db, actor, course_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_courses(self, actor, limit, offset):
        return handlers.list_courses(self.db, actor, limit, offset)

    @rpc(expected_exceptions=EXPECTED)
    def update_course(self, actor, course_id, changes):
        return handlers.update_course(self.db, actor, course_id, changes)

    @rpc(expected_exceptions=EXPECTED)
    def add_video(self, actor, course_id, title, duration_seconds, position=None):
        return handlers.add_video(self.db, actor, course_id, title, duration_seconds, position)

    @rpc(expected_exceptions=EXPECTED)
    def enroll(self, actor, course_id):
        return handlers.enroll(self.db, actor, course_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_enrollments(self, actor, course_id, limit, offset):
        return handlers.list_enrollments(self.db, actor, course_id, limit, offset)

    @rpc(expected_exceptions=EXPECTED)
    def add_review(self, actor, course_id, rating, comment):
        return handlers.add_review(self.db, actor, course_id, rating, comment)

    @rpc(expected_exceptions=EXPECTED)
    def list_reviews(self, actor, course_id, limit, offset):
        return handlers.list_reviews(self.db, actor, course_id, limit, offset)

    @rpc(expected_exceptions=EXPECTED)
    def membership(self, user_id, course_id=None, video_id=None):
        return handlers.membership(self.db, user_id, course_id, video_id)
