"""The auth use cases against a real database of each kind (SQLite and PostgreSQL)."""
import pytest
from argon2 import PasswordHasher

from services.auth import handlers
from services.auth.credentials import Passwords, TokenIssuer
from services.kernel.errors import Conflict, NotFound, Unauthorized
from services.kernel.tokens import TokenVerifier

# the cheapest argon2id settings: these tests are about rules, not hashing cost
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def uow(service_database):
    """A fresh unit of work per call, like one Nameko worker each."""
    return service_database("auth").unit


@pytest.fixture
def passwords():
    return Passwords(FAST_HASHER)


@pytest.fixture
def issuer(private_key_pem):
    return TokenIssuer(private_key_pem, 900)


def register(uow, passwords, email="ann@example.com", role="student"):
    unit = uow()
    user = handlers.register(unit, passwords, email, "correct horse", role)
    return user, unit.committed_events()


def test_register_stores_a_normalised_user_and_records_one_event(uow, passwords):
    user, events = register(uow, passwords, email=" Ann@Example.com ", role="instructor")
    assert user["email"] == "ann@example.com" and user["role"] == "instructor"
    assert user["created_at"].endswith("Z")
    assert [name for name, _ in events] == ["user_registered"]
    assert events[0][1]["user_id"] == user["id"]
    assert handlers.get_user(uow(), user["id"]) == user


def test_the_password_is_stored_hashed(uow, passwords):
    from services.auth import store

    user, _ = register(uow, passwords)
    stored = store.user_by_id(uow().session, user["id"]).password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_a_second_registration_of_an_address_conflicts_and_records_nothing(uow, passwords):
    register(uow, passwords)
    unit = uow()
    with pytest.raises(Conflict, match="email"):
        handlers.register(unit, passwords, "ANN@example.com", "another password")
    assert unit.committed_events() == []


def test_login_issues_a_verifiable_access_token(uow, passwords, issuer, public_key_pem):
    user, _ = register(uow, passwords)
    pair = handlers.login(uow(), passwords, issuer, 3600, "ann@example.com", "correct horse")
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900 and pair["user"] == user
    identity = TokenVerifier(public_key_pem).verify(pair["access_token"])
    assert identity.user_id == user["id"] and identity.role == "student"


@pytest.mark.parametrize("email, password", [
    ("ann@example.com", "wrong password"), ("nobody@example.com", "correct horse"), ("not an email", "x"),
])
def test_login_failures_all_look_the_same(uow, passwords, issuer, email, password):
    register(uow, passwords)
    with pytest.raises(Unauthorized) as refused:
        handlers.login(uow(), passwords, issuer, 3600, email, password)
    assert str(refused.value) == "Invalid email or password"


def test_refresh_rotates_and_the_old_token_stops_working(uow, passwords, issuer):
    register(uow, passwords)
    first = handlers.login(uow(), passwords, issuer, 3600, "ann@example.com", "correct horse")
    second = handlers.refresh(uow(), issuer, 3600, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    third = handlers.refresh(uow(), issuer, 3600, second["refresh_token"])
    assert third["user"]["email"] == "ann@example.com"


def test_a_reused_refresh_token_revokes_the_whole_family(uow, passwords, issuer):
    register(uow, passwords)
    first = handlers.login(uow(), passwords, issuer, 3600, "ann@example.com", "correct horse")
    second = handlers.refresh(uow(), issuer, 3600, first["refresh_token"])
    unit = uow()
    with pytest.raises(Unauthorized, match="reuse"):
        handlers.refresh(unit, issuer, 3600, first["refresh_token"])  # the thief, or the victim
    assert [name for name, _ in unit.committed_events()] == ["session_revoked"]
    with pytest.raises(Unauthorized):
        handlers.refresh(uow(), issuer, 3600, second["refresh_token"])  # the family is gone


def test_other_sessions_survive_a_revoked_family(uow, passwords, issuer):
    register(uow, passwords)
    phone = handlers.login(uow(), passwords, issuer, 3600, "ann@example.com", "correct horse")
    laptop = handlers.login(uow(), passwords, issuer, 3600, "ann@example.com", "correct horse")
    handlers.refresh(uow(), issuer, 3600, phone["refresh_token"])
    with pytest.raises(Unauthorized):
        handlers.refresh(uow(), issuer, 3600, phone["refresh_token"])
    assert handlers.refresh(uow(), issuer, 3600, laptop["refresh_token"])["access_token"]


def test_logout_revokes_that_session_only(uow, passwords, issuer, public_key_pem):
    user, _ = register(uow, passwords)
    phone = handlers.login(uow(), passwords, issuer, 3600, "ann@example.com", "correct horse")
    laptop = handlers.login(uow(), passwords, issuer, 3600, "ann@example.com", "correct horse")
    session_id = TokenVerifier(public_key_pem).verify(phone["access_token"]).session_id
    assert handlers.logout(uow(), user["id"], session_id) == {"revoked_refresh_tokens": 1}
    with pytest.raises(Unauthorized):
        handlers.refresh(uow(), issuer, 3600, phone["refresh_token"])
    assert handlers.refresh(uow(), issuer, 3600, laptop["refresh_token"])


def test_an_expired_refresh_token_is_refused(uow, passwords, issuer):
    register(uow, passwords)
    pair = handlers.login(uow(), passwords, issuer, -1, "ann@example.com", "correct horse")
    with pytest.raises(Unauthorized, match="Invalid refresh token"):
        handlers.refresh(uow(), issuer, 3600, pair["refresh_token"])


@pytest.mark.parametrize("token", ["", None, "made-up", 12])
def test_unknown_refresh_tokens_are_refused(uow, issuer, token):
    with pytest.raises(Unauthorized, match="Invalid refresh token"):
        handlers.refresh(uow(), issuer, 3600, token)


def test_unknown_user(uow):
    with pytest.raises(NotFound):
        handlers.get_user(uow(), "00000000-0000-0000-0000-000000000000")
