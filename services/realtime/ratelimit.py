"""Moving-window rate limits kept in the door process, on the ``limits`` library.

Each replica counts for itself: a user spread over two door replicas gets two windows.
That bounds abuse per connection and per process without a shared store on the hot path.
"""
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self):
        self._strategy = MovingWindowRateLimiter(MemoryStorage())
        self._rules = {}

    def _rule(self, rule):
        if rule not in self._rules:
            self._rules[rule] = parse(rule)
        return self._rules[rule]

    def allow(self, rule, *identifiers):
        """Count one hit of ``rule`` (e.g. ``"20/10 seconds"``); False once it is spent."""
        return self._strategy.hit(self._rule(rule), *identifiers)

    def has_room(self, rule, *identifiers):
        """Whether ``rule`` has hits left, without spending one (count failures with ``allow``)."""
        return self._strategy.test(self._rule(rule), *identifiers)

    def forget(self, rule, *identifiers):
        self._strategy.clear(self._rule(rule), *identifiers)
