"""Who is watching a video: what a connection says of itself in a video room's presence, and
how the changes the transport computes across doors (``transport/presence.py``) are announced.

* ``user_joined_video`` / ``user_left_video`` go to the video room (not to the connection that
  caused them) when a user's first connection enters it or their last one leaves;
* ``video_presence {course_id, video_id, watching_count}`` goes to the course's instructor
  room when a video's number of watchers changes, at most once a second per video.
"""
from services.realtime.rooms import instructor_room

# ``watching`` in ``joined_video`` lists at most this many users (``watching_count`` counts all)
MAX_WATCHING_LISTED = 100


def who(identity):
    return {"user_id": identity.user_id, "user_email": identity.email}


def in_video(identity, membership):
    """What a connection entering a video room counts as in its presence."""
    return {"user": identity.user_id, "who": who(identity),
            "about": {"video_id": membership["video_id"], "course_id": membership["course_id"]}}


def watching(listed, count, joiner):
    """``joined_video``'s ``watching`` and ``watching_count``, the joiner included (their own
    entry may not have gone round the room log yet)."""
    if all(user["user_id"] != joiner["user_id"] for user in listed):
        count += 1
        listed = [joiner, *listed[:MAX_WATCHING_LISTED - 1]]
    return {"watching": listed, "watching_count": count}


class Announcer:
    """Turns presence changes into room events, through ``sio`` (the door's Socket.IO server)."""

    def __init__(self, sio):
        self.sio = sio

    def change(self, change):
        event = "user_joined_video" if change.kind == "joined" else "user_left_video"
        self.sio.emit(event, {**change.who, **change.about}, to=change.room, skip_sid=change.sid)

    def count(self, room, count, about):
        self.sio.emit("video_presence", {"course_id": about["course_id"], "video_id": about["video_id"],
                                         "watching_count": count}, to=instructor_room(about["course_id"]))
