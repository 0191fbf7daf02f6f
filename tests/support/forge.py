"""Access tokens: genuine ones signed with a stack's key (as the auth service issues them),
and the classic forgeries the door must refuse. The benchmark mints its clients' tokens
here too: thousands of argon2id logins would measure the password hash, not the door."""
import base64
import functools
import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from services.kernel.tokens import algorithm_of


def claims(**overrides):
    now = int(time.time())
    base = {"sub": str(uuid.uuid4()), "email": "ann@example.com", "role": "student", "type": "access",
            "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex, "sid": str(uuid.uuid4())}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


class Signer:
    """Signs with one private key, loaded once (PEM text or bytes)."""

    def __init__(self, private_pem):
        pem = private_pem.encode() if isinstance(private_pem, str) else private_pem
        self._key = serialization.load_pem_private_key(pem, password=None)
        self.algorithm = algorithm_of(self._key)

    def sign(self, payload, headers=None):
        return jwt.encode(payload, self._key, algorithm=self.algorithm, headers=headers)

    def token(self, user_id, role="student", ttl=600, email=None):
        """A genuine access token for ``user_id``, valid for ``ttl`` seconds."""
        now = int(time.time())
        return self.sign(claims(sub=user_id, role=role, email=email or f"{role}-{user_id[:8]}@example.com",
                                iat=now, exp=now + ttl))


def sign(private_pem, payload, headers=None):
    return Signer(private_pem).sign(payload, headers)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def alg_none(payload):
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(payload).encode())}."


def hs256_with_public_key(public_pem, payload):
    """Algorithm confusion: an HMAC "signature" keyed with our own public key."""
    import hashlib
    import hmac

    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    signature = hmac.new(public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def wrong_key(private_pem, payload):
    """Signed, with the right algorithm, by a key of the same kind that is not ours."""
    algorithm = Signer(private_pem).algorithm
    other = _stranger_rsa_key() if algorithm == "RS256" else ed25519.Ed25519PrivateKey.generate()
    return jwt.encode(payload, other, algorithm=algorithm)


@functools.lru_cache(maxsize=1)
def _stranger_rsa_key():
    return rsa.generate_private_key(65537, 2048)  # ~0.1 s to make: one per test run


def other_algorithm(private_pem, payload):
    """Signed by a key of the other kind API.md allows (EdDSA where we pin RS256, or the
    reverse): a verifier that took "any asymmetric algorithm" would check it against a key
    the attacker chose."""
    algorithm = Signer(private_pem).algorithm
    if algorithm == "RS256":
        return jwt.encode(payload, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA")
    return jwt.encode(payload, _stranger_rsa_key(), algorithm="RS256")


def tampered(private_pem, payload, **changes):
    """A genuine token whose payload was edited afterwards (signature no longer matches)."""
    header, _, signature = sign(private_pem, payload).split(".")
    return f"{header}.{_b64(json.dumps({**payload, **changes}).encode())}.{signature}"


def forgeries(private_pem, public_pem):
    """Every token the platform must refuse with "Invalid token", by name."""
    good = claims()
    return {
        "garbage": "not-a-jwt",
        "alg_none": alg_none(good),
        "hs256_public_key": hs256_with_public_key(public_pem, good),
        "wrong_key": wrong_key(private_pem, good),
        "other_algorithm": other_algorithm(private_pem, good),
        "tampered": tampered(private_pem, good, role="instructor"),
        "refresh_type": sign(private_pem, claims(type="refresh")),
        "missing_sub": sign(private_pem, claims(sub=None)),
        "missing_exp": sign(private_pem, claims(exp=None)),
        "not_yet_valid": sign(private_pem, claims(nbf=int(time.time()) + 3600)),
        "kid_header": sign(private_pem, good, headers={"kid": "../../etc/passwd"}),
        "jku_header": sign(private_pem, good, headers={"jku": "http://127.0.0.1:1/keys.json"}),
        "unknown_role": sign(private_pem, claims(role="admin")),
    }
