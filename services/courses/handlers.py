"""The courses use cases: load, apply the rules, commit, record events. No Nameko here.

``actor`` is the caller as the door verified it (a ``kernel.identity.Identity``) or
None for an anonymous caller. Results are JSON-ready dicts; lists come back as
``{"items", "total", "limit", "offset"}``.
"""
import uuid

from sqlalchemy.exc import IntegrityError

from services.courses import rules, store
from services.courses.models import Course, Enrollment, Review, Video
from services.kernel import events
from services.kernel.clock import iso, utcnow
from services.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed


def course_view(course, with_videos=True):
    view = {
        "id": course.id,
        "title": course.title,
        "description": course.description,
        "instructor_id": course.instructor_id,
        "published": course.published,
        "average_rating": rules.average(course.rating_sum, course.review_count),
        "review_count": course.review_count,
        "created_at": iso(course.created_at),
        "updated_at": iso(course.updated_at),
    }
    if with_videos:
        view["videos"] = [video_view(v) for v in course.videos]
    return view


def video_view(video):
    return {"id": video.id, "course_id": video.course_id, "title": video.title,
            "duration_seconds": video.duration_seconds, "position": video.position}


def enrollment_view(enrollment):
    return {"id": enrollment.id, "course_id": enrollment.course_id, "user_id": enrollment.user_id,
            "email": enrollment.user_email, "enrolled_at": iso(enrollment.enrolled_at)}


def review_view(review):
    return {"id": review.id, "course_id": review.course_id, "user_id": review.user_id,
            "user_email": review.user_email, "rating": review.rating, "comment": review.comment,
            "created_at": iso(review.created_at)}


def page(rows, total, limit, offset, view):
    return {"items": [view(row) for row in rows], "total": total, "limit": limit, "offset": offset}


def _event_id():
    return str(uuid.uuid4())


def _visible_course(uow, course_id, actor):
    course = store.course(uow.session, rules.parse_id(course_id))
    if course is None or not rules.can_see(course, actor):
        raise NotFound("course not found")
    return course


def _owned_course(uow, course_id, actor):
    course = _visible_course(uow, course_id, actor)
    rules.require_owner(course, actor)
    return course


# -- courses -----------------------------------------------------------------

def create_course(uow, actor, title, description=None):
    rules.require_instructor(actor)
    now = utcnow()
    course = Course(id=str(uuid.uuid4()), instructor_id=actor.user_id, title=rules.title(title),
                    description=rules.description(description), published=False,
                    rating_sum=0, review_count=0, created_at=now, updated_at=now)
    uow.session.add(course)
    uow.commit()
    return course_view(course) | {"videos": []}


def get_course(uow, actor, course_id):
    return course_view(_visible_course(uow, course_id, actor))


def list_courses(uow, actor, limit, offset):
    rows, total = store.visible_courses(uow.session, actor.user_id if actor else None, limit, offset)
    return page(rows, total, limit, offset, course_view)


def update_course(uow, actor, course_id, changes):
    course = _owned_course(uow, course_id, actor)
    checks = {"title": rules.title, "description": rules.description, "published": rules.published}
    changed = []
    for field, value in changes.items():
        if field not in checks:
            raise ValidationFailed(f"{field}: cannot be changed", field)
        value = checks[field](value)
        if getattr(course, field) != value:
            setattr(course, field, value)
            changed.append(field)
    if changed:
        course.updated_at = utcnow()
        view = course_view(course)
        uow.record(events.COURSE_UPDATED.event_type, {
            "event_id": _event_id(), "course_id": course.id, "instructor_id": course.instructor_id,
            "title": course.title, "description": course.description, "published": course.published,
            "changed": changed,
        })
        uow.commit()
        return view
    return course_view(course)


# -- videos ------------------------------------------------------------------

def add_video(uow, actor, course_id, title, duration_seconds, position=None):
    course = _owned_course(uow, course_id, actor)
    title, duration_seconds = rules.title(title), rules.duration(duration_seconds)
    position = rules.position(position, store.video_count(uow.session, course.id))
    store.shift_videos_from(uow.session, course.id, position)
    video = Video(id=str(uuid.uuid4()), course_id=course.id, title=title, duration_seconds=duration_seconds,
                  position=position, created_at=utcnow())
    uow.session.add(video)
    uow.commit()
    return video_view(video)


# -- enrollments -------------------------------------------------------------

def enroll(uow, actor, course_id):
    course = _visible_course(uow, course_id, actor)
    if course.instructor_id == actor.user_id:
        raise Forbidden("instructors cannot enroll in their own course")
    # a draft is invisible (404 above) to all but its instructor, so only published
    # courses get this far
    rules.require_student(actor, "enroll")
    if store.is_enrolled(uow.session, course.id, actor.user_id):
        raise Conflict("already enrolled in this course")
    enrollment = Enrollment(id=str(uuid.uuid4()), course_id=course.id, user_id=actor.user_id,
                            user_email=actor.email, enrolled_at=utcnow())
    uow.session.add(enrollment)
    view = enrollment_view(enrollment)
    uow.record(events.ENROLLMENT_CREATED.event_type, {
        "event_id": _event_id(), "enrollment_id": enrollment.id, "course_id": course.id,
        "instructor_id": course.instructor_id, "user_id": actor.user_id, "user_email": actor.email,
        "enrolled_at": view["enrolled_at"],
    })
    # the same student enrolling twice at once: the unique constraint decides
    uow.commit(conflict="already enrolled in this course")
    return view


def list_enrollments(uow, actor, course_id, limit, offset):
    course = _owned_course(uow, course_id, actor)
    rows, total = store.enrollments(uow.session, course.id, limit, offset)
    return page(rows, total, limit, offset, enrollment_view)


# -- reviews -----------------------------------------------------------------

def add_review(uow, actor, course_id, rating, comment):
    course = _visible_course(uow, course_id, actor)
    rating, comment = rules.rating(rating), rules.comment(comment)
    if actor is None or not store.is_enrolled(uow.session, course.id, actor.user_id):
        raise Forbidden("only students enrolled in this course can review it")
    review = Review(id=str(uuid.uuid4()), course_id=course.id, user_id=actor.user_id, user_email=actor.email,
                    rating=rating, comment=comment, created_at=utcnow())
    uow.session.add(review)
    try:
        uow.session.flush()  # the unique (course, user) constraint speaks before we count the rating
    except IntegrityError:
        uow.rollback()
        raise Conflict("you have already reviewed this course") from None
    store.add_rating(uow.session, course.id, rating)
    uow.session.refresh(course)
    view = review_view(review)
    uow.record(events.REVIEW_CREATED.event_type, {
        "event_id": _event_id(), "review_id": review.id, "course_id": course.id, "user_id": actor.user_id,
        "user_email": actor.email, "rating": rating, "comment": comment, "created_at": view["created_at"],
        "average_rating": rules.average(course.rating_sum, course.review_count),
        "review_count": course.review_count,
    })
    uow.commit(conflict="you have already reviewed this course")
    return view


def list_reviews(uow, actor, course_id, limit, offset):
    course = _visible_course(uow, course_id, actor)
    rows, total = store.reviews(uow.session, course.id, limit, offset)
    return page(rows, total, limit, offset, review_view)


# -- membership ----------------------------------------------------------------

def membership(uow, user_id, course_id=None, video_id=None):
    """Whether the course (or video) exists, and the user's relation to its course.

    ``relation`` is ``instructor``, ``student`` (enrolled) or ``none``. Cheap: one query of
    indexed lookups. The door caches the positive answers, which never change.
    """
    try:
        if video_id is not None:
            facts = store.membership_facts(uow.session, user_id, video_id=rules.parse_id(video_id, "video"))
        else:
            facts = store.membership_facts(uow.session, user_id, course_id=rules.parse_id(course_id))
    except NotFound:  # not even an id
        facts = None
    if facts is None:
        return {"exists": False}
    enrolled = facts.instructor_id != user_id and bool(facts.enrolled)
    answer = {"exists": True, "course_id": facts.course_id, "instructor_id": facts.instructor_id,
              "published": facts.published, "relation": rules.relation(facts, user_id, enrolled)}
    if video_id is not None:
        answer.update(video_id=facts.video_id, duration_seconds=facts.duration_seconds)
    return answer
