"""The auth service's entrypoints. Rules live in handlers/accounts; this is the surface."""
from nameko.rpc import rpc

from services.auth import handlers
from services.auth.dependencies import CredentialsProvider
from services.kernel.database import Database
from services.kernel.errors import EXPECTED
from services.kernel.health import HealthRpc


class AuthService(HealthRpc):
    name = "auth"

    db = Database()
    credentials = CredentialsProvider()

    @rpc(expected_exceptions=EXPECTED)
    def register(self, email, password, role="student"):
        return handlers.register(self.db, self.credentials.passwords, email, password, role)

    @rpc(expected_exceptions=EXPECTED)
    def login(self, email, password):
        c = self.credentials
        return handlers.login(self.db, c.passwords, c.issuer, c.refresh_ttl, email, password)

    @rpc(expected_exceptions=EXPECTED)
    def refresh(self, refresh_token):
        c = self.credentials
        return handlers.refresh(self.db, c.issuer, c.refresh_ttl, refresh_token)

    @rpc(expected_exceptions=EXPECTED)
    def logout(self, user_id, session_id):
        return handlers.logout(self.db, user_id, session_id)

    @rpc(expected_exceptions=EXPECTED)
    def get_user(self, user_id):
        return handlers.get_user(self.db, user_id)
