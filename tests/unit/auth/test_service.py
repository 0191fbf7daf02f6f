"""AuthService entrypoints with Nameko's worker_factory: real database, recorded dispatch."""
import pytest
from argon2 import PasswordHasher
from nameko.testing.services import worker_factory
from sqlalchemy.orm import Session

from services.auth.credentials import Passwords, TokenIssuer
from services.auth.dependencies import Credentials
from services.auth.service import AuthService
from services.kernel.database import UnitOfWork, make_engine
from services.kernel.errors import Conflict


@pytest.fixture
def service(migrated, private_key_pem):
    engine = make_engine(migrated("auth"))
    credentials = Credentials(Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
                              TokenIssuer(private_key_pem, 900), 3600)

    units = []

    def new_worker():
        units.append(UnitOfWork(Session(engine)))
        return worker_factory(AuthService, db=units[-1], credentials=credentials)

    yield new_worker
    for unit in units:  # what Database.worker_teardown does in a real container
        unit.close()
    engine.dispose()


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
