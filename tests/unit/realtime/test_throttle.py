"""The leading + trailing edge throttle, driven by a fake clock (no real time passes), and the
door's throttle on eventlet's hub (the last test)."""
import eventlet
from eventlet import hubs

from services.realtime.dependencies import ProgressThrottle
from services.realtime.throttle import Throttle


class FakeClock:
    """A scheduler whose time moves only when the test says so."""

    def __init__(self):
        self.now = 0.0
        self.timers = []

    def schedule(self, delay, callback, *args):
        timer = FakeTimer(self.now + delay, callback, args)
        self.timers.append(timer)
        return timer

    @property
    def pending(self):
        return [t for t in self.timers if not t.cancelled]

    def advance(self, seconds):
        end = self.now + seconds
        while True:
            due = sorted((t for t in self.pending if t.due <= end), key=lambda t: t.due)
            if not due:
                break
            self.timers.remove(due[0])
            self.now = due[0].due
            due[0].callback(*due[0].args)
        self.now = end


class FakeTimer:
    def __init__(self, due, callback, args):
        self.due, self.callback, self.args, self.cancelled = due, callback, args, False

    def cancel(self):
        self.cancelled = True


class Recorder:
    def __init__(self, clock):
        self.clock, self.sent = clock, []

    def __call__(self, value):
        self.sent.append((self.clock.now, value))


def test_first_value_goes_at_once_and_the_last_at_the_window_end():
    clock = FakeClock()
    throttle, send = Throttle(0.25, clock.schedule), Recorder(clock)
    for n in range(10):
        throttle.offer("k", n, send)
        clock.advance(0.01)
    assert send.sent == [(0.0, 0)]
    clock.advance(1)
    assert send.sent == [(0.0, 0), (0.25, 9)]
    assert len(throttle) == 0  # quiet for a window: forgotten, no timer left


def test_a_burst_of_200_sends_at_most_four_a_second_and_ends_with_the_last_value():
    clock = FakeClock()
    throttle, send = Throttle(0.25, clock.schedule), Recorder(clock)
    for n in range(200):  # 200 updates over 2 seconds
        throttle.offer("k", n, send)
        clock.advance(0.01)
    clock.advance(1)
    times = [t for t, _ in send.sent]
    assert send.sent[-1][1] == 199
    assert len(send.sent) <= 2 * 4 + 1
    assert all(later - earlier >= 0.25 for earlier, later in zip(times, times[1:]))


def test_keys_are_independent_and_each_active_key_has_one_timer():
    clock = FakeClock()
    throttle, send = Throttle(0.25, clock.schedule), Recorder(clock)
    for n in range(50):
        throttle.offer(("ann", "v1"), ("ann", n), send)
        throttle.offer(("bob", "v1"), ("bob", n), send)
    assert len(throttle) == 2 and len(clock.pending) == 2
    assert [v for _, v in send.sent] == [("ann", 0), ("bob", 0)]
    clock.advance(0.25)
    assert sorted(v for _, v in send.sent[2:]) == [("ann", 49), ("bob", 49)]


def test_a_failing_trailing_send_does_not_break_the_key():
    clock = FakeClock()
    throttle, send = Throttle(0.25, clock.schedule), Recorder(clock)
    throttle.offer("k", 1, send)

    def broken(value):
        raise ConnectionError("broker down")

    throttle.offer("k", 2, broken)
    clock.advance(0.25)
    clock.advance(0.25)
    throttle.offer("k", 3, send)
    assert [v for _, v in send.sent] == [1, 3]


def test_cancel_drops_every_window():
    clock = FakeClock()
    throttle, send = Throttle(0.25, clock.schedule), Recorder(clock)
    throttle.offer("a", 1, send)
    throttle.offer("a", 2, send)
    throttle.cancel()
    clock.advance(1)
    assert [v for _, v in send.sent] == [1] and clock.pending == [] and len(throttle) == 0


def test_the_doors_windows_close_on_the_hub_with_no_green_thread_each():
    """ProgressThrottle's windows are hub timers: the trailing value is sent from the hub
    itself (no green thread made per window), after the interval, and a failing send is
    logged without stopping the next window."""
    provider = ProgressThrottle()
    provider.setup()
    throttle = provider.throttle
    throttle.interval = 0.2
    sent, senders = [], []

    def send(value):
        senders.append(eventlet.getcurrent())
        if value == "fails":
            raise RuntimeError("emit failed")
        sent.append(value)

    try:
        throttle.offer("key", "first", send)
        throttle.offer("key", "fails", send)
        eventlet.sleep(0.3)  # the first window closed at 0.2 with "fails", which opened a second
        throttle.offer("key", "last", send)
        assert sent == ["first"]
        eventlet.sleep(0.3)  # the second closed at 0.4 with "last"
        assert sent == ["first", "last"]
        hub = hubs.get_hub().greenlet
        assert senders[1:] == [hub, hub]  # the trailing sends ran on the hub
    finally:
        provider.stop()
    assert len(throttle) == 0
