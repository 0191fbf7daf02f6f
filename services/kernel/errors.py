"""The platform's error types: one table from domain failure to HTTP status and socket code.

Services raise these; Nameko serialises them over RPC and, because each class is
registered with ``deserialize_to_instance``, the caller gets the same typed exception
back instead of a generic ``RemoteError``. The realtime door turns them into the
HTTP envelope ``{"error": {"code", "message"}}`` or a socket ``error`` event.
"""
import math

from nameko.exceptions import deserialize_to_instance


class PlatformError(Exception):
    """Base of every expected failure. ``field`` names the offending input, if any."""

    status = 500
    code = "internal_error"
    socket_code = "unavailable"

    def __init__(self, message, field=None):
        super().__init__(message, field) if field else super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self):
        return self.message

    @property
    def details(self):
        """Fields the socket ``error`` payload carries beside ``message``, ``code`` and ``event``."""
        return {}


@deserialize_to_instance
class BadRequest(PlatformError):
    status, code, socket_code = 400, "bad_request", "invalid_parameters"


@deserialize_to_instance
class ValidationFailed(PlatformError):
    status, code, socket_code = 422, "validation_failed", "invalid_parameters"


@deserialize_to_instance
class MissingParameters(ValidationFailed):
    code, socket_code = "missing_parameters", "missing_parameters"


@deserialize_to_instance
class Unauthorized(PlatformError):
    status, code, socket_code = 401, "unauthorized", "forbidden"


@deserialize_to_instance
class TokenExpired(Unauthorized):
    code, socket_code = "token_expired", "token_expired"


@deserialize_to_instance
class Forbidden(PlatformError):
    status, code, socket_code = 403, "forbidden", "forbidden"


@deserialize_to_instance
class NotFound(PlatformError):
    status, code, socket_code = 404, "not_found", "not_found"


@deserialize_to_instance
class Muted(PlatformError):
    """A chat message from a user muted in the course: refused until ``until`` (ISO 8601).

    ``until`` travels in the exception's args, so it survives RPC like the type does.
    """

    status, code, socket_code = 403, "muted", "muted"

    def __init__(self, message, until):
        Exception.__init__(self, message, until)
        self.message, self.field, self.until = message, None, until

    @property
    def details(self):
        return {"until": self.until}


@deserialize_to_instance
class Conflict(PlatformError):
    status, code, socket_code = 409, "conflict", "invalid_parameters"


class TryLater(PlatformError):
    """A refusal that ends by itself: the door answers it with ``Retry-After: retry_after``.

    ``retry_after`` (whole seconds, at least 1) travels in the exception's args, so it
    survives RPC like the type does (Nameko sends every argument as a string).
    """

    def __init__(self, message, retry_after=1):
        retry_after = max(1, math.ceil(float(retry_after)))
        Exception.__init__(self, message, retry_after)
        self.message, self.field, self.retry_after = message, None, retry_after


@deserialize_to_instance
class RateLimited(TryLater):
    status, code, socket_code = 429, "rate_limited", "rate_limited"


@deserialize_to_instance
class Unavailable(PlatformError):
    status, code, socket_code = 503, "unavailable", "unavailable"


@deserialize_to_instance
class Overloaded(TryLater, Unavailable):
    """A service refusing work it has no room for (the auth service's hashing budget)."""


# for @rpc(expected_exceptions=...): these are answers, not crashes, so Nameko
# does not log them as errors
EXPECTED = (PlatformError,)
