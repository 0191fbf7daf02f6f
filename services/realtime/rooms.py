"""Room names (exactly as the user's document spells them) and who may enter them."""
from cachetools import LRUCache
from eventlet.event import Event

from services.kernel.errors import Forbidden, NotFound

COURSE_PREFIX, VIDEO_PREFIX, INSTRUCTOR_PREFIX = "course_", "video_", "instructor_"


def course_room(course_id):
    return f"{COURSE_PREFIX}{course_id}"


def video_room(video_id):
    return f"{VIDEO_PREFIX}{video_id}"


def instructor_room(course_id):
    return f"{INSTRUCTOR_PREFIX}{course_id}"


def video_ids(rooms):
    return [room[len(VIDEO_PREFIX):] for room in rooms if room.startswith(VIDEO_PREFIX)]


def require_member(answer, what):
    """Refuse unless the membership answer says the user belongs to the course."""
    if not answer.get("exists"):
        raise NotFound(f"{what} not found")
    if answer["relation"] not in ("instructor", "student"):
        raise Forbidden(f"you are not enrolled in this {what}'s course")
    return answer


class Memberships:
    """What the courses service said about (user, course) and (user, video), remembered.

    Only positive answers are kept: an enrollment is never undone, an instructor never
    changes, a video never moves to another course, so a "yes" stays true. A "no" is
    asked again next time (the rare path), so a student who just enrolled is let in at
    once without any invalidation message. ``asked`` counts the RPCs actually made.

    One question is in flight per key: lookups of a key that is being asked about wait for
    that answer (or its error). A student sends five updates a second, so without this every
    update of a cold door asked again while the first RPC was slow, and a burst of students
    became a storm of RPCs that made every answer slower (the bench saw 500 students time out).
    """

    def __init__(self, maxsize=200_000):
        self._known = LRUCache(maxsize=maxsize)
        self._asking = {}  # key -> Event of the lookup that asks
        self.asked = 0

    def lookup(self, user_id, ask, course_id=None, video_id=None):
        key = (user_id, course_id, video_id)
        known = self._known.get(key)
        if known is not None:
            return known
        asking = self._asking.get(key)
        if asking is not None:
            return asking.wait()  # the answer, or the asker's error raised here too
        asking = self._asking[key] = Event()
        self.asked += 1
        try:
            answer = ask()
        except Exception as exc:
            asking.send_exception(exc)
            raise
        finally:
            del self._asking[key]
        if answer.get("exists") and answer.get("relation") in ("instructor", "student"):
            self._known[key] = answer
        asking.send(answer)
        return answer
