"""The door's connection registry: a token's expiry ends its connection, and an idle
connection holds no green thread while it waits for that (docs/benchmarks.md, memory)."""
import gc
import time
from types import SimpleNamespace

import eventlet
from eventlet.greenthread import GreenThread

from services.realtime.connections import ConnectionRegistry


def identity(user, expires_in):
    return SimpleNamespace(user_id=user, session_id=f"session-{user}", expires_at=time.time() + expires_in)


def green_threads():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, GreenThread))


def test_a_token_expiry_ends_its_connection_and_a_forgotten_one_does_not():
    expired = []
    registry = ConnectionRegistry(max_per_user=3, on_expiry=expired.append)
    registry.accept("a", identity("u1", 0.05))
    registry.accept("b", identity("u2", 0.05))
    registry.forget("b")
    eventlet.sleep(0.3)
    assert expired == ["a"]


def test_waiting_connections_hold_no_green_thread_each():
    registry = ConnectionRegistry(max_per_user=3, on_expiry=lambda sid: None)
    before = green_threads()
    for n in range(200):
        registry.accept(f"s{n}", identity(f"u{n}", 3600))
    assert len(registry) == 200
    assert green_threads() - before == 0
    registry.close()
