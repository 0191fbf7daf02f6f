"""Nameko dependencies of the auth service: its keys and hashers, built once at start."""
from dataclasses import dataclass

from nameko.extensions import DependencyProvider

from services.auth.credentials import HashingBudget, Passwords, TokenIssuer
from services.kernel.config import DEFAULT_WORKER_POOL, read_secret


@dataclass(frozen=True)
class Credentials:
    passwords: Passwords
    issuer: TokenIssuer
    refresh_ttl: int


class CredentialsProvider(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.credentials = Credentials(
            passwords=Passwords(budget=hashing_budget(config)),
            issuer=TokenIssuer(read_secret(config, "JWT_PRIVATE_KEY"), config["ACCESS_TOKEN_TTL_SECONDS"]),
            refresh_ttl=int(config["REFRESH_TOKEN_TTL_SECONDS"]),
        )

    def get_dependency(self, worker_ctx):
        return self.credentials


def hashing_budget(config):
    """The budget from config; it must leave workers free for refreshes and the other RPCs."""
    budget = HashingBudget(config["HASHING_CONCURRENCY"], config["HASHING_QUEUE"], config["HASHING_WAIT_SECONDS"])
    workers = config.get("max_workers", DEFAULT_WORKER_POOL)
    held = budget.concurrency + 2 * budget.queue  # running, and both queues (logins', registrations') full
    if held > workers * 2 // 3:
        raise RuntimeError(f"HASHING_CONCURRENCY + 2 x HASHING_QUEUE ({held}) must be at most two thirds of "
                           f"the auth service's {workers} workers, or hashing could take them all")
    return budget
