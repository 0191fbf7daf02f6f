"""The door's surface, one module per domain: the HTTP routes and socket events of each.

Each module holds a mixin of Nameko entrypoints (nothing else); ``service.py`` composes
them into the one ``RealtimeService`` and declares the dependencies they share.
Keeping the areas apart lets a reader (and a change) take one domain at a time.
"""
from services.kernel.errors import Unauthorized
from services.kernel.tokens import InvalidToken, bearer_token


class Gateway:
    """What every area needs: who is calling."""

    def client_address(self, request):
        """The caller's address: the socket's peer, or whom a trusted proxy names."""
        return self.addresses.client_address(request.environ)

    def verified(self, token):
        """The identity of a valid access token whose session is not revoked."""
        identity = self.tokens.verify(token)
        if identity.session_id in self.revoked_sessions:
            raise InvalidToken()
        return identity

    def caller(self, request):
        """The verified identity behind ``Authorization: Bearer``, or 401."""
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise Unauthorized("Missing bearer token")
        return self.verified(token)
