"""Access-token verification, shared by every service that checks who is calling.

Only the auth service signs (see ``services.auth.tokens``); everyone else verifies with
the public key. The algorithm is pinned: a token whose header claims anything else
(``none``, ``HS256`` keyed with our public key, ...) is refused before its signature is
looked at. Header tricks (``kid``, ``jku``, ``jwk``, ``x5u``) are refused even with a good
signature: we have one key and never fetch another.
"""
import jwt

from services.kernel.errors import TokenExpired, Unauthorized
from services.kernel.identity import Identity

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ("sub", "email", "role", "type", "iat", "exp", "jti")
FORBIDDEN_HEADERS = ("kid", "jku", "jwk", "x5u", "x5c", "crit")
ROLES = ("student", "instructor")


class InvalidToken(Unauthorized):
    """Anything wrong with a token other than its age. Message fixed by API.md."""

    def __init__(self, message="Invalid token", field=None):
        super().__init__(message, field)


class TokenVerifier:
    def __init__(self, public_key_pem, leeway_seconds=0):
        self._key = _load_public_key(public_key_pem)
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
            decoded = jwt.decode_complete(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": list(REQUIRED_CLAIMS)},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("Token expired") from None
        except jwt.PyJWTError:
            raise InvalidToken() from None
        header, claims = decoded["header"], decoded["payload"]
        if header.get("alg") != ALGORITHM or any(h in header for h in FORBIDDEN_HEADERS):
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


def _load_public_key(pem):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise RuntimeError("JWT public key must be an Ed25519 key (EdDSA)")
    return key


def bearer_token(authorization_header):
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization_header:
        return None
    scheme, _, token = authorization_header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
