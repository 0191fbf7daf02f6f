"""Access-token verification, shared by every service that checks who is calling.

Only the auth service signs (see ``services.auth.credentials``); everyone else verifies
with the public key. The algorithm follows the key (RSA: ``RS256``, Ed25519: ``EdDSA``) and
is pinned: a token whose header claims anything else (``none``, ``HS256`` keyed with our
public key, the other of the two, ...) is refused before its signature is looked at. Header
tricks (``kid``, ``jku``, ``jwk``, ``x5u``) are refused even with a good signature: we have
one key and never fetch another.
"""
import binascii

import jwt
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

from services.kernel.errors import TokenExpired, Unauthorized
from services.kernel.identity import Identity

MIN_RSA_BITS = 2048
REQUIRED_CLAIMS = ("sub", "email", "role", "type", "iat", "exp", "jti")
FORBIDDEN_HEADERS = ("kid", "jku", "jwk", "x5u", "x5c", "crit")
ROLES = ("student", "instructor")
BASE64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class _SegmentCheckingJWS(PyJWS):
    """PyJWT's JWS, each segment's alphabet checked in one pass of C: PyJWT 2.15.1 checks it
    a character at a time in a Python generator, about 25 us of the 70 an RS256 token takes
    to verify (3 % of a connect). Its rules, step for step (tests/unit/kernel/test_tokens.py
    holds them side by side)."""

    @staticmethod
    def _decode_base64url_segment(segment, name):
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if padding > 2 or (padding and len(segment) % 4 != 0):
            raise DecodeError(f"Invalid {name} padding")
        if len(stripped) % 4 == 1 or stripped.translate(None, BASE64URL_ALPHABET):
            raise DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64url_decode(stripped)
        except (TypeError, binascii.Error) as err:
            raise DecodeError(f"Invalid {name} padding") from err
        if base64url_encode(decoded) != stripped:
            raise DecodeError(f"Invalid {name} padding")
        return decoded


class _PyJWT(jwt.PyJWT):
    def __init__(self):
        super().__init__()
        self._jws = _SegmentCheckingJWS(options=self._get_sig_options())


_jwt = _PyJWT()


class InvalidToken(Unauthorized):
    """Anything wrong with a token other than its age. Message fixed by API.md."""

    def __init__(self, message="Invalid token", field=None):
        super().__init__(message, field)


class TokenVerifier:
    def __init__(self, public_key_pem, leeway_seconds=0):
        self._key = _load_public_key(public_key_pem)
        self.algorithm = algorithm_of(self._key)
        self._algorithms = [self.algorithm]
        self._leeway = leeway_seconds

    def verify(self, token):
        """Return the :class:`Identity` of a valid access token, else raise.

        Raises ``TokenExpired`` ("Token expired") for a genuine token past ``exp``,
        ``InvalidToken`` ("Invalid token") for everything else.
        """
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise InvalidToken()
        try:
            # one parse: PyJWT refuses an ``alg`` not in ``algorithms`` before it looks at the
            # signature (parsing every token twice, header first, cost ~3 % of a connect)
            decoded = _jwt.decode_complete(
                token,
                self._key,
                algorithms=self._algorithms,
                options={"require": list(REQUIRED_CLAIMS)},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("Token expired") from None
        except jwt.PyJWTError:
            raise InvalidToken() from None
        header, claims = decoded["header"], decoded["payload"]
        if header.get("alg") != self.algorithm or any(h in header for h in FORBIDDEN_HEADERS):
            raise InvalidToken()
        if claims.get("type") != "access" or claims.get("role") not in ROLES:
            raise InvalidToken()
        if not all(isinstance(claims[name], str) and claims[name] for name in ("sub", "email", "jti")):
            raise InvalidToken()
        return Identity(
            user_id=claims["sub"],
            email=claims["email"],
            role=claims["role"],
            expires_at=int(claims["exp"]),
            session_id=str(claims.get("sid", "")),
        )


def algorithm_of(key):
    """The one JWT algorithm a key (private or public) signs or verifies with.

    Both kinds API.md allows are accepted, so a deployment keeps the key it has; new keys
    are RSA (``services.stack.ensure_dev_keys``): OpenSSL verifies an RS256 token in about
    half the time of an EdDSA one, and every connect and request verifies one, while only
    a login or a refresh signs (docs/benchmarks.md, "Issue 15, 2026-12-04 afternoon")."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        if key.key_size < MIN_RSA_BITS:
            raise RuntimeError(f"JWT RSA key must have at least {MIN_RSA_BITS} bits, not {key.key_size}")
        return "RS256"
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "EdDSA"
    raise RuntimeError("JWT key must be an RSA key (RS256) or an Ed25519 key (EdDSA)")


def _load_public_key(pem):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    algorithm_of(key)  # refuses any other kind now, not at the first token
    return key


def bearer_token(authorization_header):
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization_header:
        return None
    scheme, _, token = authorization_header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
