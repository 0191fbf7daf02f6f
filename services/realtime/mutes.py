"""Who is muted in which course, as this door knows it: checked on every chat message, no RPC.

Plain Python (no Nameko): the ``ChatMutes`` dependency holds one :class:`MuteTable` per door
process. It learns each change from a BROADCAST event (every door hears it, within
milliseconds) and reloads the chat service's snapshot at start and then periodically, which
also repairs a change missed while this door's broadcast queue was being (re)declared.

Every change carries a ``version`` (epoch seconds of the change on the chat service), so the
order in which broadcasts and snapshots arrive does not matter: the newer version wins, and a
lifted mute is kept as a tombstone (``until`` None) so an older snapshot cannot bring it back.
"""
import time
from dataclasses import dataclass
from datetime import datetime, timezone


# a change is versioned when the chat service makes it, but commits a moment later: one made
# just before a snapshot may be missing from it though already broadcast. A held entry is
# therefore dropped as "no longer listed" only if it is older than the snapshot by this much.
SNAPSHOT_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Mute:
    until: datetime | None  # None: lifted
    version: float


def parse_time(value):
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class MuteTable:
    def __init__(self):
        self._mutes = {}  # (course_id, user_id) -> Mute
        self.loaded = False
        self.loaded_at = 0.0  # time.monotonic() of the last snapshot

    def __len__(self):
        return len(self._mutes)

    def apply(self, course_id, user_id, until, version):
        """One change (``until``: ISO 8601 string or None), unless a newer one is held."""
        key = (course_id, user_id)
        held = self._mutes.get(key)
        if held is None or version >= held.version:
            self._mutes[key] = Mute(parse_time(until), version)

    def load(self, snapshot, now=None):
        """The chat service's ``{"as_of", "mutes"}``: every mute in force at ``as_of``.

        A held entry the snapshot does not list, and clearly older than it, was lifted or has
        ended by then: dropped. Ended mutes and old tombstones are collected here too.
        """
        now = now or datetime.now(timezone.utc)
        as_of = snapshot["as_of"]
        listed = set()
        for mute in snapshot["mutes"]:
            listed.add((mute["course_id"], mute["user_id"]))
            self.apply(mute["course_id"], mute["user_id"], mute["until"], mute["version"])
        for key, held in list(self._mutes.items()):
            stale = key not in listed and held.version <= as_of - SNAPSHOT_MARGIN_SECONDS
            ended = held.until is not None and held.until <= now
            if stale or ended:
                del self._mutes[key]
        self.loaded, self.loaded_at = True, time.monotonic()

    def muted_until(self, course_id, user_id, now=None):
        """When the user's mute in the course ends, or None if they are not muted."""
        held = self._mutes.get((course_id, user_id))
        if held is None or held.until is None:
            return None
        now = now or datetime.now(timezone.utc)
        return held.until if held.until > now else None
