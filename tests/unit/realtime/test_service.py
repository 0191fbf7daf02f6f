"""RealtimeService entrypoints with Nameko's worker_factory (a real token verifier)."""
import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.kernel.errors import TokenExpired, Unauthorized
from services.kernel.tokens import InvalidToken, TokenVerifier
from services.realtime.door import Client
from services.realtime.service import RealtimeService
from tests import forge


@pytest.fixture
def worker(public_key_pem):
    return worker_factory(RealtimeService, tokens=TokenVerifier(public_key_pem))


def test_connect_admits_a_valid_token_with_the_connected_greeting(worker, private_key_pem):
    claims = forge.claims()
    admission = worker.connect(Client(sid=None, token=forge.sign(private_key_pem, claims)), None)
    assert admission.greeting == {"status": "Connected successfully", "user_id": claims["sub"]}
    assert admission.user_id == claims["sub"] and admission.identity.email == claims["email"]


def test_connect_refuses_a_missing_or_expired_token(worker, private_key_pem):
    with pytest.raises(InvalidToken):
        worker.connect(Client(sid=None, token=None), None)
    with pytest.raises(TokenExpired):
        worker.connect(Client(sid=None, token=forge.sign(private_key_pem, forge.claims(iat=1, exp=2))), None)


def test_me_uses_the_token_subject(worker, private_key_pem):
    claims = forge.claims()
    worker.auth.get_user.return_value = {"id": claims["sub"]}
    request = Request(EnvironBuilder(headers={"Authorization": f"Bearer {forge.sign(private_key_pem, claims)}"})
                      .get_environ())
    assert worker.me(request) == {"user": {"id": claims["sub"]}}
    worker.auth.get_user.assert_called_once_with(claims["sub"])


def test_me_without_a_token_never_calls_auth(worker):
    with pytest.raises(Unauthorized, match="Missing bearer token"):
        worker.me(Request(EnvironBuilder().get_environ()))
    worker.auth.get_user.assert_not_called()
