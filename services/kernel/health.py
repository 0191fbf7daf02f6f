"""The health RPC every domain service answers (used by /health/ready and the probes)."""
from nameko.rpc import rpc
from sqlalchemy import text


class HealthRpc:
    """Mixin for a service class with a ``db`` dependency."""

    @rpc
    def health(self):
        # a real round trip to the service's own database, not just "the process runs"
        self.db.session.execute(text("SELECT 1"))
        return {"service": self.name, "status": "ok"}
