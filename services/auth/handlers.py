"""The auth use cases: load, apply the rules, commit, record events. No Nameko here.

Each function takes a unit of work and the credentials helpers, and returns plain
JSON-ready dicts. The recorded events are published after commit by the ``Database`` dependency.
"""
import uuid
from datetime import timedelta


from services.auth import accounts, store
from services.auth.credentials import new_refresh_token, refresh_token_hash
from services.auth.models import RefreshToken, User
from services.kernel import events
from services.kernel.clock import as_utc, iso, utcnow
from services.kernel.errors import Conflict, NotFound, Unauthorized, ValidationFailed


def user_view(user):
    return {"id": user.id, "email": user.email, "role": user.role, "created_at": iso(user.created_at)}


def register(uow, passwords, email, password, role="student"):
    email = accounts.normalise_email(email)
    accounts.check_password(password)
    role = accounts.check_role(role)
    passwords.refuse_if_full()  # a flood's refusals cost no query
    if store.user_by_email(uow.session, email) is not None:
        raise Conflict("email: already registered", "email")
    password_hash = passwords.hash(password)
    user = User(id=str(uuid.uuid4()), email=email, password_hash=password_hash, role=role, created_at=utcnow())
    uow.session.add(user)
    view = user_view(user)
    uow.record(events.USER_REGISTERED.event_type, {"event_id": str(uuid.uuid4()), "user_id": user.id,
                                                   "email": email, "role": role, "created_at": view["created_at"]})
    # two registrations of one address may race: the unique index decides
    uow.commit(conflict="email: already registered")
    return view


def login(uow, passwords, issuer, refresh_ttl, email, password):
    try:
        email = accounts.normalise_email(email)
    except ValidationFailed:
        email = None  # same answer as a wrong password: no hint what was wrong
    user = store.user_by_email(uow.session, email) if email else None
    if not passwords.verify(user.password_hash if user else None, password if isinstance(password, str) else ""):
        raise Unauthorized("Invalid email or password")
    session_id = str(uuid.uuid4())
    return _issue_pair(uow, issuer, refresh_ttl, user, session_id)


def refresh(uow, issuer, refresh_ttl, refresh_token):
    if not isinstance(refresh_token, str) or not refresh_token:
        raise Unauthorized("Invalid refresh token")
    now = utcnow()
    row = store.refresh_token_by_hash(uow.session, refresh_token_hash(refresh_token))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        raise Unauthorized("Invalid refresh token")
    if row.used_at is not None or not store.mark_used(uow.session, row.id, now):
        # a rotated-away token came back: it was copied. Revoke the whole session.
        store.revoke_family(uow.session, row.family_id, now)
        uow.record(events.SESSION_REVOKED.event_type, {"event_id": str(uuid.uuid4()), "user_id": row.user_id,
                                                       "session_id": row.family_id, "reason": "refresh_token_reuse"})
        uow.commit()
        raise Unauthorized("Refresh token reuse detected; the session has been revoked")
    user = store.user_by_id(uow.session, row.user_id)
    return _issue_pair(uow, issuer, refresh_ttl, user, row.family_id)


def logout(uow, user_id, session_id):
    now = utcnow()
    revoked = store.revoke_family(uow.session, session_id, now, user_id=user_id) if session_id else 0
    uow.record(events.SESSION_REVOKED.event_type, {"event_id": str(uuid.uuid4()), "user_id": user_id,
                                                   "session_id": session_id, "reason": "logout"})
    uow.commit()
    return {"revoked_refresh_tokens": revoked}


def get_user(uow, user_id):
    user = store.user_by_id(uow.session, user_id) if isinstance(user_id, str) else None
    if user is None:
        raise NotFound("user not found")
    return user_view(user)


def _issue_pair(uow, issuer, refresh_ttl, user, session_id):
    now = utcnow()
    token, token_hash = new_refresh_token()
    uow.session.add(RefreshToken(
        id=str(uuid.uuid4()), user_id=user.id, family_id=session_id, token_hash=token_hash,
        created_at=now, expires_at=now + timedelta(seconds=int(refresh_ttl)),
    ))
    uow.commit()
    access = issuer.access_token(user, session_id, now)
    return {
        "access_token": access.token,
        "refresh_token": token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "user": user_view(user),
    }
