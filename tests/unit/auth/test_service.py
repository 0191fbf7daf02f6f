"""AuthService entrypoints with Nameko's worker_factory: real database; the events each worker's unit of
work committed are what ``Database`` publishes once the worker is done (tests/unit/kernel/test_database.py)."""
import pytest
from argon2 import PasswordHasher
from nameko.testing.services import worker_factory

from services.auth.credentials import Passwords, TokenIssuer
from services.auth.dependencies import Credentials
from services.auth.service import AuthService
from services.kernel.errors import Conflict


@pytest.fixture
def service(service_database, private_key_pem):
    database = service_database("auth")
    credentials = Credentials(Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
                              TokenIssuer(private_key_pem, 900), 3600)
    return lambda: worker_factory(AuthService, db=database.unit(), credentials=credentials)


def test_register_commits_user_registered_for_publishing(service):
    worker = service()
    user = worker.register("ann@example.com", "correct horse")
    [(event_type, payload)] = worker.db.committed_events()
    assert event_type == "user_registered"
    assert payload["user_id"] == user["id"] and payload["email"] == "ann@example.com"
    # committed: a fresh worker sees the row
    assert service().get_user(user["id"]) == user


def test_a_failed_register_commits_no_event(service):
    service().register("ann@example.com", "correct horse")
    worker = service()
    with pytest.raises(Conflict):
        worker.register("ann@example.com", "correct horse")
    assert worker.db.committed_events() == []


def test_refresh_reuse_commits_session_revoked_though_it_raises(service):
    service().register("ann@example.com", "correct horse")
    pair = service().login("ann@example.com", "correct horse")
    service().refresh(pair["refresh_token"])
    worker = service()
    with pytest.raises(Exception, match="reuse"):
        worker.refresh(pair["refresh_token"])
    assert [name for name, _ in worker.db.committed_events()] == ["session_revoked"]


def test_health_touches_the_database(service):
    assert service().health() == {"service": "auth", "status": "ok"}
