"""Persistence of video progress: one monotonic upsert for a whole batch, and the reads.

``record`` is ``INSERT .. ON CONFLICT (user_id, video_id) DO UPDATE`` with max semantics,
written once with SQLAlchemy's dialect inserts so the same statement runs on SQLite and
PostgreSQL. The database does the merge of ``rules.merge`` itself, atomically, so two
batches touching the same row (two workers, two door replicas) cannot lose each other's
values the way a read-modify-write could.
"""
from sqlalchemy import Float, and_, case, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from services.progress import rules
from services.progress.models import VideoProgress

# rows per statement: well under PostgreSQL's 65535 bind parameters (9 per row)
CHUNK_ROWS = 500


class greatest(FunctionElement):
    """The larger of its arguments: ``GREATEST`` on PostgreSQL, scalar ``max`` on SQLite."""

    type = Float()
    name = "greatest"
    inherit_cache = True


@compiles(greatest)
def _greatest(element, compiler, **kw):
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _sqlite_max(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"


_DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def record(session, reports, now):
    """Merge ``reports`` (at most one per (student, video)) into the stored rows.

    Returns the rows that changed, as they are after the merge (dicts of the columns).
    A report that adds nothing (a redelivery, a late or stale one) changes no row and is
    not returned: the ``WHERE`` of ``DO UPDATE`` skips it.
    """
    table = VideoProgress.__table__
    insert = _DIALECT_INSERTS[session.get_bind().dialect.name]
    # the same key order in every transaction: two batches locking the same rows on
    # PostgreSQL take the locks in the same order and so cannot deadlock
    rows = [{
        "user_id": r.user_id, "video_id": r.video_id, "course_id": r.course_id,
        "watched_seconds": r.furthest_position, "last_position": r.last_position,
        "position_reported_at": r.reported_at, "percent_complete": r.progress,
        "completed": rules.is_completed(r.progress), "updated_at": now,
    } for r in sorted(reports, key=lambda r: r.key)]
    changed = []
    for start in range(0, len(rows), CHUNK_ROWS):
        statement = insert(table).values(rows[start:start + CHUNK_ROWS])
        new, old = statement.excluded, table.c
        # rules.is_later in SQL: the report's position is newer, or as new and further
        later_position = or_(new.position_reported_at > old.position_reported_at,
                             and_(new.position_reported_at == old.position_reported_at,
                                  new.last_position > old.last_position))
        statement = statement.on_conflict_do_update(
            index_elements=[old.user_id, old.video_id],
            set_={
                "watched_seconds": greatest(old.watched_seconds, new.watched_seconds),
                "percent_complete": greatest(old.percent_complete, new.percent_complete),
                "completed": or_(old.completed, new.completed),
                "last_position": case((later_position, new.last_position), else_=old.last_position),
                "position_reported_at": greatest(old.position_reported_at, new.position_reported_at),
                "updated_at": new.updated_at,
            },
            where=or_(new.watched_seconds > old.watched_seconds,
                      new.percent_complete > old.percent_complete,
                      later_position),
        ).returning(*table.c)
        changed.extend(dict(row._mapping) for row in session.execute(statement))
    return changed


def progress_rows(session, course_id, user_ids):
    """The stored rows of these students in this course."""
    if not user_ids:
        return []
    return session.scalars(
        select(VideoProgress).where(VideoProgress.course_id == course_id, VideoProgress.user_id.in_(user_ids))
    ).all()
