"""Nameko dependencies of the auth service: its keys and hashers, built once at start."""
from dataclasses import dataclass

from nameko.extensions import DependencyProvider

from services.auth.credentials import Passwords, TokenIssuer
from services.kernel.config import read_secret


@dataclass(frozen=True)
class Credentials:
    passwords: Passwords
    issuer: TokenIssuer
    refresh_ttl: int


class CredentialsProvider(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.credentials = Credentials(
            passwords=Passwords(),
            issuer=TokenIssuer(read_secret(config, "JWT_PRIVATE_KEY"), config["ACCESS_TOKEN_TTL_SECONDS"]),
            refresh_ttl=int(config["REFRESH_TOKEN_TTL_SECONDS"]),
        )

    def get_dependency(self, worker_ctx):
        return self.credentials
