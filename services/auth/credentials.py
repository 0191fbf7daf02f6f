"""Password hashing and token minting: the auth service's secrets live here and only here."""
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from eventlet import tpool

from services.kernel.tokens import ALGORITHM


class Passwords:
    """argon2id hashing, run in a real OS thread so a hash never freezes the event loop."""

    def __init__(self, hasher=None):
        self._hasher = hasher or PasswordHasher()
        # verifying against this when the email is unknown keeps timing uniform,
        # so a login attempt cannot tell registered addresses from others
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password):
        return tpool.execute(self._hasher.hash, password)

    def verify(self, password_hash, password):
        try:
            return tpool.execute(self._hasher.verify, password_hash or self._decoy, password) \
                and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class TokenIssuer:
    def __init__(self, private_key_pem, access_ttl_seconds):
        key = load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise RuntimeError("JWT private key must be an Ed25519 key (EdDSA)")
        self._key = key
        self.access_ttl = int(access_ttl_seconds)

    def access_token(self, user, session_id, now):
        issued_at = int(now.timestamp())
        claims = {
            "sub": user.id,
            "email": user.email,
            "role": user.role,
            "type": "access",
            "sid": session_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self.access_ttl,
            "jti": uuid.uuid4().hex,
        }
        return IssuedAccessToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), self.access_ttl)


def new_refresh_token():
    """An opaque refresh token and the hash we store (the token itself is never stored)."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()
