"""Dependencies of the realtime service: sockets, tokens, and the door's own memory.

Each memory (memberships, rate windows, handled event ids) is one object per door
process, built in ``setup`` and shared by every worker of that process.
"""
from cachetools import TTLCache
from nameko.extensions import DependencyProvider

from services.kernel.config import read_secret
from services.kernel.tokens import TokenVerifier
from services.realtime.door import Door
from services.realtime.ratelimit import RateLimiter
from services.realtime.rooms import Memberships


class Sockets(DependencyProvider):
    """Emits and room changes go through here, never through ``sio`` directly."""

    door = Door()

    def get_dependency(self, worker_ctx):
        return SocketsApi(self.door)


class SocketsApi:
    def __init__(self, door):
        self._door = door

    def accept(self, sid, identity):
        self._door.accept(sid, identity)

    def send(self, sid, event, payload):
        """To one client connected to this replica (replies, errors)."""
        self._door.send(sid, event, payload)

    def emit(self, event, payload, to, skip_sid=None):
        """To rooms (a name or a list; a client in several gets one copy) on every replica."""
        self._door.sio.emit(event, payload, to=to, skip_sid=skip_sid)

    def enter_room(self, sid, room):
        self._door.sio.enter_room(sid, room)

    def leave_room(self, sid, room):
        self._door.sio.leave_room(sid, room)

    def rooms(self, sid):
        return [room for room in self._door.sio.rooms(sid) if room != sid]

    def disconnect(self, sid):
        self._door.sio.disconnect(sid)

    def end_session(self, session_id, message="Session ended"):
        return self._door.end_session(session_id, message)


class Tokens(DependencyProvider):
    def setup(self):
        self.verifier = TokenVerifier(read_secret(self.container.config, "JWT_PUBLIC_KEY"))

    def get_dependency(self, worker_ctx):
        return self.verifier


class MembershipCache(DependencyProvider):
    def setup(self):
        self.memberships = Memberships()

    def get_dependency(self, worker_ctx):
        return self.memberships


class RateLimits(DependencyProvider):
    def setup(self):
        self.limiter = RateLimiter()

    def get_dependency(self, worker_ctx):
        return self.limiter


class DeliveryLedger:
    """Event ids already handled here: a redelivered event reaches the rooms once."""

    def __init__(self, maxsize=100_000, ttl=3600):
        self._seen = TTLCache(maxsize=maxsize, ttl=ttl)

    def first_time(self, event_id):
        if event_id in self._seen:
            return False
        self._seen[event_id] = True
        return True


class HandledEvents(DependencyProvider):
    def setup(self):
        self.ledger = DeliveryLedger()

    def get_dependency(self, worker_ctx):
        return self.ledger


class RevokedSessions(DependencyProvider):
    """Sessions logged out (or revoked for refresh-token reuse) while their access tokens
    may still be unexpired: this door refuses those tokens until they would have expired."""

    def setup(self):
        ttl = int(self.container.config["ACCESS_TOKEN_TTL_SECONDS"]) + 60
        self.revoked = TTLCache(maxsize=100_000, ttl=ttl)

    def get_dependency(self, worker_ctx):
        return self.revoked
