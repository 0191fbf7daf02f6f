"""Persistence of users and refresh tokens behind plain functions of a SQLAlchemy session."""
from sqlalchemy import select, update

from services.auth.models import RefreshToken, User


def user_by_id(session, user_id):
    return session.get(User, user_id)


def user_by_email(session, email):
    return session.scalars(select(User).where(User.email == email)).first()


def refresh_token_by_hash(session, token_hash):
    return session.scalars(select(RefreshToken).where(RefreshToken.token_hash == token_hash)).first()


def mark_used(session, token_id, now):
    """Claim a refresh token for rotation. False if someone else already used it.

    A conditional UPDATE is atomic on SQLite and PostgreSQL alike, so two requests racing
    with the same token cannot both succeed.
    """
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


def revoke_family(session, family_id, now, user_id=None):
    """Revoke every live token of a session; returns how many were still live."""
    statement = update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
    if user_id is not None:
        statement = statement.where(RefreshToken.user_id == user_id)
    return session.execute(statement.values(revoked_at=now)).rowcount
