"""Presence: which users are in which presence rooms, across every door, folded from the room log.

A connection that enters a room *with presence* (the door passes who it is and what the room
is about) is described by records doors append to the room log; every door folds them, in
log order, into its own :class:`PresenceTable`. Because every door folds the same records in
the same order, every door computes the same transitions ("this user's first connection
entered the room", "their last one left"), and the door that appended the record causing a
transition is the one that announces it: each is announced once, whatever the number of
doors or tabs.

The records (``sid`` is the Socket.IO sid, which a recovered session keeps):

``here``    ``{sid, room, user, who, about, door}``: the connection entered ``room``.
``left``    ``{sid, room}``: it left ``room``.
``parked``  ``{sid, by}``: its transport dropped on door ``by``; it still counts, for
            :data:`GRACE_SECONDS`, as it may come back (a recovered session, or a client
            rejoining through another door with a new sid).
``back``    ``{sid, door}``: a recovered session is served again, by ``door``.
``gone``    ``{sid, by, expired}``: it ended; ``by`` is the door it had when that was
            decided (None: parked), and the record changes nothing if the connection has
            moved since (a late record of a door that no longer holds it).
``roster``  ``{door, conns: [[sid, user, who, {room: about}], ...]}``: a door restates its
            connections (every ``REFRESH_SECONDS``), so a door that reads only the last part
            of the log still knows everyone; it adds the ones a door did not know, silently.

Time-based decisions (a parked connection past its grace; the connections of a door that
stopped beating) are taken by one door, the *leader* (the live door with the smallest id),
which appends ``gone`` records for them: the decision is then in the log like any other.

This module is plain data: no sockets, no broker, no clock of its own (``now`` is passed in).
"""
from dataclasses import dataclass, field

# a connection whose transport dropped still counts this long (a recovered one comes back
# in seconds); with a door's silence taken for death after 15 s, a dead door's users leave
# within about 15 + GRACE + one beat
GRACE_SECONDS = 10.0
PRESENCE_RECORDS = frozenset({"here", "left", "parked", "back", "gone", "roster"})


@dataclass
class Attendance:
    """One connection's presence: who it is and the presence rooms it is in."""

    sid: str
    user: str
    who: dict
    door: str | None
    rooms: dict = field(default_factory=dict)  # room -> what the room is about
    parked_at: float | None = None


@dataclass(frozen=True)
class Change:
    """A transition to announce: a user's first connection ``joined`` a room, or their last ``left``."""

    kind: str
    room: str
    who: dict
    about: dict
    sid: str


class PresenceTable:
    """Every presence the log has told this door about (see the module docstring)."""

    def __init__(self, window_seconds):
        self.window_seconds = window_seconds
        self.attendances = {}  # sid -> Attendance
        self.rooms = {}  # room -> {user: {sid, ...}}
        self.about = {}  # room -> what it is about (kept while its count may be announced)
        self.departed = {}  # sid -> (Attendance, when): expired, and may still be recovered
        self.changed = set()  # rooms whose number of users changed since ``take_changed``

    def __len__(self):
        return len(self.attendances)

    # -- folding -----------------------------------------------------------------------------

    def apply(self, record, now):
        """Fold one record; returns the :class:`Change` s it causes, in order."""
        kind = record["k"]
        changes = []
        if kind == "roster":
            for sid, user, who, rooms in record["conns"]:
                if sid not in self.attendances:
                    attendance = self.attendances[sid] = Attendance(sid, user, who, record["door"])
                    self.departed.pop(sid, None)
                    for room, about in rooms.items():
                        self._add(attendance, room, about, None)
            return changes
        sid = record["sid"]
        attendance = self.attendances.get(sid)
        if kind == "here":
            if attendance is None:
                attendance = self._revive(sid, changes) or Attendance(sid, record["user"], record["who"], None)
                self.attendances[sid] = attendance
            attendance.door, attendance.parked_at = record["door"], None
            if record["room"] not in attendance.rooms:
                self._add(attendance, record["room"], record["about"], changes)
        elif kind == "back":
            if attendance is None:
                attendance = self._revive(sid, changes)
                if attendance is None:
                    return changes  # never known here (it predates what this door has read)
                self.attendances[sid] = attendance
            attendance.door, attendance.parked_at = record["door"], None
        elif attendance is None:
            return changes
        elif kind == "left":
            if record["room"] in attendance.rooms:
                self._remove(attendance, record["room"], changes)
        elif kind == "parked":
            if attendance.door == record["by"]:
                attendance.door, attendance.parked_at = None, now
        elif kind == "gone":
            if attendance.door == record["by"]:
                del self.attendances[sid]
                for room in list(attendance.rooms):
                    self._remove(attendance, room, changes, keep=True)
                if record.get("expired"):
                    self.departed[sid] = (attendance, now)
        return changes

    def _revive(self, sid, changes):
        """An attendance that expired and comes back (a session recovered late), its rooms re-entered."""
        departed = self.departed.pop(sid, None)
        if departed is None:
            return None
        old = departed[0]
        attendance = Attendance(sid, old.user, old.who, None)
        for room, about in old.rooms.items():
            self._add(attendance, room, about, changes)
        return attendance

    def _add(self, attendance, room, about, changes):
        users = self.rooms.setdefault(room, {})
        sids = users.setdefault(attendance.user, set())
        first = not sids
        sids.add(attendance.sid)
        attendance.rooms[room] = about
        self.about[room] = about
        if first:
            self.changed.add(room)
            if changes is not None:
                changes.append(Change("joined", room, attendance.who, about, attendance.sid))

    def _remove(self, attendance, room, changes, keep=False):
        about = attendance.rooms[room] if keep else attendance.rooms.pop(room)
        users = self.rooms.get(room, {})
        sids = users.get(attendance.user, set())
        sids.discard(attendance.sid)
        if not sids:
            users.pop(attendance.user, None)
            if not users:
                self.rooms.pop(room, None)
            self.changed.add(room)
            changes.append(Change("left", room, attendance.who, about, attendance.sid))

    # -- reading -----------------------------------------------------------------------------

    def count(self, room):
        """How many distinct users are in ``room``."""
        return len(self.rooms.get(room, ()))

    def watching(self, room, limit):
        """Up to ``limit`` of the users in ``room`` (each once, as its ``who``), and how many there are."""
        users = self.rooms.get(room, {})
        shown = []
        for sids in users.values():
            if len(shown) >= limit:
                break
            shown.append(self.attendances[next(iter(sids))].who)
        return shown, len(users)

    def take_changed(self):
        """``{room: (count, about)}`` for the rooms whose number of users changed since last asked."""
        changed = {room: (self.count(room), self.about.get(room)) for room in self.changed}
        for room, (count, _) in changed.items():
            if count == 0:
                self.about.pop(room, None)
        self.changed = set()
        return changed

    # -- time ----------------------------------------------------------------------------------

    def expired(self, now, silent_since):
        """``(sid, by)`` of the attendances to end now: parked past the grace, or their door
        silent (``silent_since(door)``: since when a door has been silent, None if it beats)
        for longer than the grace."""
        ended = []
        for sid, attendance in self.attendances.items():
            since = attendance.parked_at if attendance.door is None else silent_since(attendance.door)
            if since is not None and now - since > GRACE_SECONDS:
                ended.append((sid, attendance.door))
        return ended

    def collect_garbage(self, now):
        """Forget departed attendances past the recovery window."""
        for sid in [sid for sid, (_, when) in self.departed.items() if now - when > self.window_seconds]:
            del self.departed[sid]
