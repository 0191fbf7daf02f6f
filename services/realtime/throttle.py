"""A per-key leading + trailing edge throttle, for live events a dashboard can only absorb so fast.

The first value for a key is sent at once and opens a window of ``interval`` seconds.
Values offered while the window is open replace each other; when it closes, the latest
is sent and a new window opens. So a key sends at most once per interval, the first
value is not delayed and the last value always arrives. Each active key has exactly
one timer (no thread per offer); a key that goes quiet for a window is forgotten.
"""
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class _Window:
    timer: object = None
    pending: tuple | None = field(default=None)  # (value, send) waiting for the trailing edge


class Throttle:
    def __init__(self, interval, schedule):
        """``schedule(delay, callback, *args)`` runs ``callback(*args)`` after ``delay``
        seconds and returns a handle with ``cancel()`` (``eventlet.spawn_after`` does)."""
        self.interval = interval
        self._schedule = schedule
        self._windows = {}

    def __len__(self):
        """How many keys have an open window (and so one timer each)."""
        return len(self._windows)

    def offer(self, key, value, send):
        """Send ``value`` with ``send(value)`` now, or as the trailing value of the open window."""
        window = self._windows.get(key)
        if window is not None:
            window.pending = (value, send)
            return False
        self._open(key)
        send(value)
        return True

    def cancel(self):
        """Drop every open window and pending value (the process is stopping)."""
        windows, self._windows = self._windows, {}
        for window in windows.values():
            window.timer.cancel()

    def _open(self, key):
        self._windows[key] = _Window(timer=self._schedule(self.interval, self._close, key))

    def _close(self, key):
        window = self._windows.pop(key, None)
        if window is None or window.pending is None:
            return
        value, send = window.pending
        self._open(key)  # the trailing send counts as the next window's send
        try:
            send(value)
        except Exception:  # a timer has no caller to tell; the next offer tries again
            log.exception("throttled send failed for %r", key)
