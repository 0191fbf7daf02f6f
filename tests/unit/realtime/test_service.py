"""RealtimeService entrypoints with Nameko's worker_factory (a real token verifier)."""
import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.kernel.errors import TokenExpired, Unauthorized
from services.kernel.tokens import InvalidToken, TokenVerifier
from services.realtime.door import Client
from services.realtime.service import RealtimeService
from tests.support import forge


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


def post(path, body, peer="198.51.100.7", forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return Request(EnvironBuilder(path=path, method="POST", json=body, headers=headers,
                                  environ_base={"REMOTE_ADDR": peer}).get_environ())


@pytest.fixture
def limited(public_key_pem):
    """A worker with the real limiter, the default budgets and 10.0.0.5 as trusted proxy."""
    from services.kernel.config import SETTINGS
    from services.realtime.addresses import TrustedProxies
    from services.realtime.ratelimit import RateLimiter

    limits, addresses = RateLimiter(), TrustedProxies("10.0.0.5")
    return lambda: worker_factory(RealtimeService, tokens=TokenVerifier(public_key_pem), limits=limits,
                                  addresses=addresses, config=dict(SETTINGS))


def test_registrations_past_the_address_budget_get_429_before_any_rpc(limited):
    from services.kernel.errors import RateLimited

    body = {"email": "ann@example.com", "password": "correct horse"}
    for _ in range(20):  # REGISTRATIONS_PER_ADDRESS: 20/minute
        worker = limited()
        worker.register(post("/api/v1/auth/register", body))
    worker = limited()
    with pytest.raises(RateLimited) as refused:
        worker.register(post("/api/v1/auth/register", body))
    worker.auth.register.assert_not_called()
    assert 55 <= refused.value.retry_after <= 60
    # spoofed X-Forwarded-For from an untrusted peer: still the same address
    with pytest.raises(RateLimited):
        limited().register(post("/api/v1/auth/register", body, forwarded="203.0.113.1"))
    # the trusted proxy naming another client: that client's own budget
    limited().register(post("/api/v1/auth/register", body, peer="10.0.0.5", forwarded="203.0.113.1"))
    with pytest.raises(RateLimited):  # ... and naming the flooding one: the same budget
        limited().register(post("/api/v1/auth/register", body, peer="10.0.0.5", forwarded="198.51.100.7"))


def test_successful_logins_count_against_the_address_budget(limited):
    from services.kernel.errors import RateLimited

    body = {"email": "ann@example.com", "password": "correct horse"}
    for _ in range(60):  # LOGINS_PER_ADDRESS: 60/minute, successes included
        worker = limited()
        worker.auth.login.return_value = {"access_token": "..."}
        worker.login(post("/api/v1/auth/login", body))
    worker = limited()
    with pytest.raises(RateLimited, match="Too many logins"):
        worker.login(post("/api/v1/auth/login", body))
    worker.auth.login.assert_not_called()
    limited().login(post("/api/v1/auth/login", body, peer="198.51.100.8"))  # another address is not affected
