import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from services.kernel.errors import TokenExpired
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError

from services.kernel.tokens import InvalidToken, TokenVerifier, _SegmentCheckingJWS, bearer_token
from tests.support import forge


@pytest.fixture
def verifier(public_key_pem):
    return TokenVerifier(public_key_pem)


def test_a_genuine_access_token_gives_its_identity(verifier, private_key_pem):
    claims = forge.claims(role="instructor", email="ivy@example.com")
    identity = verifier.verify(forge.sign(private_key_pem, claims))
    assert (identity.user_id, identity.email, identity.role) == (claims["sub"], "ivy@example.com", "instructor")
    assert identity.expires_at == claims["exp"]
    assert identity.session_id == claims["sid"]
    assert identity.is_instructor


def test_an_expired_token_is_refused_as_expired(verifier, private_key_pem):
    token = forge.sign(private_key_pem, forge.claims(iat=int(time.time()) - 100, exp=int(time.time()) - 10))
    with pytest.raises(TokenExpired, match="Token expired"):
        verifier.verify(token)


@pytest.mark.parametrize("kind", [
    "garbage", "alg_none", "hs256_public_key", "wrong_key", "other_algorithm", "tampered", "refresh_type", "missing_sub",
    "missing_exp", "not_yet_valid", "kid_header", "jku_header", "unknown_role"])
def test_every_forgery_is_refused_as_invalid(verifier, private_key_pem, public_key_pem, kind):
    token = forge.forgeries(private_key_pem, public_key_pem)[kind]
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    assert str(refused.value) == "Invalid token"
    assert not isinstance(refused.value, TokenExpired)


@pytest.mark.parametrize("kind, algorithm", [("rsa", "RS256"), ("ed25519", "EdDSA")])
def test_the_algorithm_follows_the_key_and_only_it_is_accepted(kind, algorithm):
    private_pem, public_pem = key_pair(kind)
    verifier = TokenVerifier(public_pem)
    assert verifier.algorithm == algorithm
    assert verifier.verify(forge.sign(private_pem, forge.claims())).role == "student"
    for forgery in ("other_algorithm", "wrong_key", "hs256_public_key", "alg_none"):
        with pytest.raises(InvalidToken):
            verifier.verify(forge.forgeries(private_pem, public_pem)[forgery])


def test_a_weak_or_foreign_key_is_refused_at_start():
    small = rsa.generate_private_key(65537, 1024).public_key()
    with pytest.raises(RuntimeError, match="at least 2048 bits"):
        TokenVerifier(public_pem_of(small))
    with pytest.raises(RuntimeError, match="RSA key .* or an Ed25519 key"):
        TokenVerifier(public_pem_of(ec.generate_private_key(ec.SECP256R1()).public_key()))


def key_pair(kind):
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return private, public_pem_of(key.public_key())


def public_pem_of(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize("segment", [
    b"", b"e30", b"e30=", b"e30==", b"e30===", b"eyJhIjoxfQ", b"eyJhIjoxfQ==", b"eyJhIjoxfQ=", b"!!!!",
    b"e3 0", b"e30\n", b"e+0/", b"e30=e30", b"a", b"ab", b"abc", b"abcd", b"abcde", b"=", b"==", b"A===",
    b"e\xc3\xa90", b"Zm9vYg", b"Zm9vYh", b"-_-_", "é".encode()])
def test_the_segment_check_is_pyjwts_own(segment):
    """Our one-pass segment check (tokens._SegmentCheckingJWS) answers as PyJWT's does."""
    def outcome(check):
        try:
            return check(segment, "payload")
        except DecodeError as refused:
            return str(refused)

    assert outcome(_SegmentCheckingJWS._decode_base64url_segment) == outcome(PyJWS._decode_base64url_segment)


@pytest.mark.parametrize("token", [None, "", 42, "x" * 5000])
def test_non_tokens_are_invalid(verifier, token):
    with pytest.raises(InvalidToken):
        verifier.verify(token)


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None), (None, None),
])
def test_bearer_token_parsing(header, token):
    assert bearer_token(header) == token
