"""Who is connected to this door: each sid's identity, its token's expiry, and per-user caps."""
import time
from dataclasses import dataclass, field

import eventlet
from eventlet import hubs

from services.kernel.errors import RateLimited


@dataclass
class Connection:
    identity: object
    expiry: object = field(default=None, repr=False)


class ConnectionRegistry:
    """The live connections of one door process.

    :param max_per_user: connections one user may hold on this door (``MAX_CONNECTIONS_PER_USER``).
    :param on_expiry: called with a sid when its token expires (the door tells and disconnects it).
    """

    def __init__(self, max_per_user, on_expiry):
        self.max_per_user = max_per_user
        self.on_expiry = on_expiry
        self.connections = {}
        self.sids_by_user = {}

    def __len__(self):
        return len(self.connections)

    def get(self, sid):
        return self.connections.get(sid)

    def check_room_for(self, user_id):
        """Refuse a new connection of ``user_id`` past its cap."""
        if len(self.sids_by_user.get(user_id, ())) >= self.max_per_user:
            raise RateLimited(f"Too many connections: at most {self.max_per_user} per user")

    def accept(self, sid, identity):
        """Remember who ``sid`` is (again, for a resumed session) and when its token expires."""
        self.forget(sid)
        self.sids_by_user.setdefault(identity.user_id, set()).add(sid)
        delay = max(0.0, identity.expires_at - time.time())
        # a bare hub timer, not spawn_after: that holds a green thread (greenlet, exit event, deque,
        # ~2 KB) per idle connection for the token's whole life; the thread starts only at expiry
        expiry = hubs.get_hub().schedule_call_global(delay, eventlet.spawn_n, self._expire, sid)
        self.connections[sid] = Connection(identity, expiry)

    def forget(self, sid):
        """Drop ``sid``; returns its connection (None if unknown)."""
        connection = self.connections.pop(sid, None)
        if connection is None:
            return None
        if connection.expiry:
            connection.expiry.cancel()
        user_sids = self.sids_by_user.get(connection.identity.user_id)
        if user_sids is not None:
            user_sids.discard(sid)
            if not user_sids:
                del self.sids_by_user[connection.identity.user_id]
        return connection

    def of_session(self, session_id):
        """The sids connected with tokens of that login session."""
        return [sid for sid, c in self.connections.items() if c.identity.session_id == session_id]

    def close(self):
        for connection in self.connections.values():
            if connection.expiry:
                connection.expiry.cancel()

    def _expire(self, sid):
        if sid in self.connections:
            self.on_expiry(sid)
