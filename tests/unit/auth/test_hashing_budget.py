"""The auth service's hashing budget: bounded concurrency, a short bounded queue, then 503.

The budget hands hashes to eventlet's thread pool; here that hand-over runs the function
on the calling green thread instead, so each test decides when a "hash" ends.
"""
import eventlet
import pytest
from argon2 import PasswordHasher
from eventlet.event import Event
from nameko.exceptions import deserialize, serialize

from services.auth import credentials
from services.auth.credentials import HashingBudget, Passwords
from services.auth.dependencies import hashing_budget
from services.kernel.errors import Overloaded, Unavailable


@pytest.fixture
def inline_pool(monkeypatch):
    monkeypatch.setattr(credentials.tpool, "execute", lambda function, *args: function(*args))
    # and without the nice: on this thread it would lower the whole test run's priority
    monkeypatch.setattr(credentials, "at_hashing_priority", lambda function, *args: function(*args))


class Hashes:
    """Pretend hashes that end when the test says so."""

    def __init__(self):
        self.started = []
        self.done = Event()

    def __call__(self, name):
        self.started.append(name)
        self.done.wait()
        return name


def test_at_most_concurrency_at_once_then_a_bounded_queue_then_refused_at_once(inline_pool):
    budget, hashes = HashingBudget(concurrency=2, queue=1, wait_seconds=5), Hashes()
    callers = [eventlet.spawn(budget.run, hashes, name) for name in ("a", "b", "c")]
    eventlet.sleep(0)
    assert hashes.started == ["a", "b"] and budget.waiting == 1  # c waits its turn
    with pytest.raises(Overloaded) as refused:
        budget.run(hashes, "d")  # the queue is full: refused without waiting
    assert (refused.value.status, refused.value.retry_after) == (503, 5)
    hashes.done.send()
    assert [caller.wait() for caller in callers] == ["a", "b", "c"]
    assert budget.waiting == 0 and budget.free == 2


def test_a_caller_that_waits_too_long_is_refused_and_leaves_the_queue(inline_pool):
    budget, hashes = HashingBudget(concurrency=1, queue=4, wait_seconds=0.05), Hashes()
    holder = eventlet.spawn(budget.run, hashes, "a")
    eventlet.sleep(0)
    with pytest.raises(Overloaded):
        budget.run(hashes, "b")
    assert budget.waiting == 0 and hashes.started == ["a"]
    hashes.done.send()
    assert holder.wait() == "a" and budget.run(hashes, "c") == "c"


def test_logins_go_first_and_have_a_queue_of_their_own(inline_pool):
    budget, hashes = HashingBudget(concurrency=1, queue=2, wait_seconds=5), Hashes()
    registrations = [eventlet.spawn(budget.run, hashes, name) for name in ("r1", "r2", "r3")]
    eventlet.sleep(0)
    with pytest.raises(Overloaded):
        budget.run(hashes, "r4")  # the registrations' queue is full
    login = eventlet.spawn(budget.run, hashes, "login", urgent=True)  # the logins' is not
    eventlet.sleep(0)
    assert hashes.started == ["r1"] and budget.waiting == 3
    hashes.done.send()
    assert login.wait() == "login" and [r.wait() for r in registrations] == ["r1", "r2", "r3"]
    assert hashes.started == ["r1", "login", "r2", "r3"]  # the login went before the waiting registrations
    assert budget.free == 1


def test_a_waiter_killed_in_the_queue_leaves_it_and_takes_no_turn(inline_pool):
    budget, hashes = HashingBudget(concurrency=1, queue=2, wait_seconds=5), Hashes()
    holder = eventlet.spawn(budget.run, hashes, "a")
    waiter = eventlet.spawn(budget.run, hashes, "b")
    eventlet.sleep(0)
    waiter.kill()
    assert budget.waiting == 0
    hashes.done.send()
    assert holder.wait() == "a" and budget.free == 1 and hashes.started == ["a"]


def test_a_failing_hash_gives_its_turn_back(inline_pool):
    budget = HashingBudget(concurrency=1, queue=0, wait_seconds=1)

    def broken(_):
        raise ValueError("boom")

    with pytest.raises(ValueError):
        budget.run(broken, "x")
    assert budget.run(lambda name: name, "y") == "y"


def test_passwords_hash_and_verify_through_the_real_thread_pool():
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1), HashingBudget(1, 2, 5))
    stored = passwords.hash("correct horse")
    assert passwords.verify(stored, "correct horse") and not passwords.verify(stored, "wrong")
    assert not passwords.verify(None, "correct horse")  # unknown email: the decoy, never True


def test_overloaded_keeps_its_type_status_and_retry_after_across_rpc():
    received = deserialize(serialize(Overloaded("busy", 1.2)))
    assert isinstance(received, Overloaded) and isinstance(received, Unavailable)
    assert (received.status, received.code, received.retry_after, received.message) == (503, "unavailable", 2, "busy")


def test_the_configured_budget_must_leave_half_the_workers_to_other_rpcs():
    config = {"HASHING_CONCURRENCY": "2", "HASHING_QUEUE": "8", "HASHING_WAIT_SECONDS": "2", "max_workers": 30}
    assert hashing_budget(config).concurrency == 2
    with pytest.raises(RuntimeError, match="HASHING_QUEUE"):
        hashing_budget({**config, "HASHING_QUEUE": "14"})
    with pytest.raises(RuntimeError, match="HASHING_CONCURRENCY"):
        hashing_budget({**config, "HASHING_CONCURRENCY": "0"})


def test_hashes_run_in_a_niced_os_thread_and_the_event_loop_keeps_its_priority():
    import os

    from eventlet import tpool

    from services.auth.credentials import HASHING_NICENESS, at_hashing_priority

    def own_niceness():
        return os.getpriority(os.PRIO_PROCESS, credentials._os_threading.get_native_id())

    before = own_niceness()
    assert tpool.execute(at_hashing_priority, own_niceness) >= HASHING_NICENESS
    assert own_niceness() == before  # the event loop's thread is left as it was
