"""AuthService entrypoints with Nameko's worker_factory: real database, recorded dispatch."""
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


def test_register_dispatches_user_registered_after_commit(service):
    worker = service()
    user = worker.register("ann@example.com", "correct horse")
    worker.dispatch.assert_called_once()
    event_type, payload = worker.dispatch.call_args.args
    assert event_type == "user_registered"
    assert payload["user_id"] == user["id"] and payload["email"] == "ann@example.com"
    # committed before dispatch: a fresh worker sees the row
    assert service().get_user(user["id"]) == user


def test_a_failed_register_dispatches_nothing(service):
    service().register("ann@example.com", "correct horse")
    worker = service()
    with pytest.raises(Conflict):
        worker.register("ann@example.com", "correct horse")
    worker.dispatch.assert_not_called()


def test_refresh_reuse_dispatches_session_revoked(service):
    service().register("ann@example.com", "correct horse")
    pair = service().login("ann@example.com", "correct horse")
    service().refresh(pair["refresh_token"])
    worker = service()
    with pytest.raises(Exception, match="reuse"):
        worker.refresh(pair["refresh_token"])
    assert worker.dispatch.call_args.args[0] == "session_revoked"


def test_health_touches_the_database(service):
    assert service().health() == {"service": "auth", "status": "ok"}
