"""Dependencies of the realtime service: the socket emitter and the token verifier."""
from nameko.extensions import DependencyProvider

from services.kernel.config import read_secret
from services.kernel.tokens import TokenVerifier
from services.realtime.door import Door


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

    @property
    def connection_count(self):
        return len(self._door.connections)


class Tokens(DependencyProvider):
    def setup(self):
        self.verifier = TokenVerifier(read_secret(self.container.config, "JWT_PUBLIC_KEY"))

    def get_dependency(self, worker_ctx):
        return self.verifier
