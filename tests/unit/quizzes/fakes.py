"""Stand-ins for what the quizzes service asks other services (unit tests only)."""
import uuid

import eventlet

from services.kernel.identity import Identity


class CoursesMembershipFake:
    """Answers ``membership`` like the courses service does, from a table kept here."""

    def __init__(self):
        self.courses = {}  # course_id -> (instructor_id, set of enrolled student ids)

    def add_course(self, instructor):
        course_id = str(uuid.uuid4())
        self.courses[course_id] = (instructor.user_id, set())
        return course_id

    def enroll(self, course_id, student):
        self.courses[course_id][1].add(student.user_id)

    def membership(self, user_id, course_id=None, video_id=None):
        eventlet.sleep(0)  # like the RPC it stands in for, it lets other green threads run
        if course_id not in self.courses:
            return {"exists": False}
        instructor_id, students = self.courses[course_id]
        relation = "instructor" if user_id == instructor_id else "student" if user_id in students else "none"
        return {"exists": True, "course_id": course_id, "instructor_id": instructor_id, "published": True,
                "relation": relation}


def person(role="student"):
    user_id = str(uuid.uuid4())
    return Identity(user_id=user_id, email=f"{role}-{user_id[:8]}@example.com", role=role)
