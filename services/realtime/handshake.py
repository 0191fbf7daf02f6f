"""Where a Socket.IO client may put its token (API.md): auth payload, query, header."""
from urllib.parse import parse_qs

from services.kernel.tokens import bearer_token


def token_from_handshake(auth, environ):
    """The first token offered: ``auth: {token}``, then ``?token=``, then the header."""
    if isinstance(auth, dict) and auth.get("token"):
        return auth["token"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("token"):
        return query["token"][0]
    return bearer_token(environ.get("HTTP_AUTHORIZATION"))
