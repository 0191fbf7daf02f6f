"""Moving-window rate limits kept in the door process (rules in the ``limits`` notation).

Each replica counts for itself: a user spread over two door replicas gets two windows.
That bounds abuse per connection and per process without a shared store on the hot path.

The windows are plain deques of hit times, pruned when their key is used and swept for
idle keys at most once per ``SWEEP_SECONDS``. (The ``limits`` library's MemoryStorage,
used here before, re-scans every key every 10 ms from a background timer while any
key holds hits: with thousands of connections that sweep alone took a quarter of the
door's CPU under load; see docs/benchmarks.md.)
"""
import time
from collections import deque

from limits import parse


class RateLimiter:
    SWEEP_SECONDS = 30.0

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._rules = {}
        self._windows = {}  # (rule, identifiers) -> deque of hit times, oldest first
        self._next_sweep = clock() + self.SWEEP_SECONDS

    def _rule(self, rule):
        parsed = self._rules.get(rule)
        if parsed is None:
            item = parse(rule)
            parsed = self._rules[rule] = (item.amount, float(item.get_expiry()))
        return parsed

    def _hits(self, rule, identifiers, now):
        amount, period = self._rule(rule)
        if now >= self._next_sweep:
            self._sweep(now)
        hits = self._windows.get((rule, identifiers))
        if hits is not None:
            horizon = now - period
            while hits and hits[0] <= horizon:
                hits.popleft()
        return amount, hits

    def allow(self, rule, *identifiers):
        """Count one hit of ``rule`` (e.g. ``"20/10 seconds"``); False once it is spent."""
        now = self._clock()
        amount, hits = self._hits(rule, identifiers, now)
        if hits is None:
            hits = self._windows[(rule, identifiers)] = deque()
        if len(hits) >= amount:
            return False
        hits.append(now)
        return True

    def has_room(self, rule, *identifiers):
        """Whether ``rule`` has hits left, without spending one (count failures with ``allow``)."""
        amount, hits = self._hits(rule, identifiers, self._clock())
        return hits is None or len(hits) < amount

    def retry_after(self, rule, *identifiers):
        """Seconds until ``rule`` has room again for these identifiers (0: it has room now)."""
        now = self._clock()
        amount, hits = self._hits(rule, identifiers, now)
        if hits is None or len(hits) < amount:
            return 0.0
        _, period = self._rule(rule)
        return hits[-amount] + period - now

    def forget(self, rule, *identifiers):
        self._windows.pop((rule, identifiers), None)

    def __len__(self):
        """How many keys hold a window (idle ones go at the next sweep)."""
        return len(self._windows)

    def _sweep(self, now):
        self._next_sweep = now + self.SWEEP_SECONDS
        idle = [key for key, hits in self._windows.items()
                if not hits or hits[-1] <= now - self._rule(key[0])[1]]
        for key in idle:
            del self._windows[key]
