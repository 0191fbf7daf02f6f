"""The door's moving-window limiter: exact windows, idle keys swept, no background timer."""
from services.realtime.ratelimit import RateLimiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_window_allows_its_amount_then_refuses_until_the_oldest_hit_leaves():
    clock = Clock()
    limiter = RateLimiter(clock)
    assert all(limiter.allow("3/10 seconds", "sid") for _ in range(3))
    assert not limiter.allow("3/10 seconds", "sid")
    assert limiter.allow("3/10 seconds", "other")
    clock.now += 10.01
    assert limiter.allow("3/10 seconds", "sid")


def test_has_room_spends_nothing_and_forget_clears():
    limiter = RateLimiter(Clock())
    assert limiter.has_room("1/minute", "a")
    assert limiter.has_room("1/minute", "a")
    assert limiter.allow("1/minute", "a") and not limiter.has_room("1/minute", "a")
    limiter.forget("1/minute", "a")
    assert limiter.has_room("1/minute", "a")


def test_idle_keys_are_swept():
    clock = Clock()
    limiter = RateLimiter(clock)
    for n in range(100):
        limiter.allow("5/second", n)
    assert len(limiter) == 100
    clock.now += RateLimiter.SWEEP_SECONDS + 1
    limiter.allow("5/second", "fresh")
    assert len(limiter) == 1


def test_retry_after_is_the_wait_until_the_oldest_counted_hit_leaves():
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.retry_after("2/minute", "a") == 0
    limiter.allow("2/minute", "a")
    clock.now += 20
    limiter.allow("2/minute", "a")
    assert limiter.retry_after("2/minute", "a") == 40
    clock.now += 40.01
    assert limiter.retry_after("2/minute", "a") == 0 and limiter.allow("2/minute", "a")
