"""Socket events' workers run in their caller's green thread (``services/realtime/workers.py``):
the same dependencies, hooks, ids and trace as a spawned Nameko worker, one pool slot each.

In-process containers with the kernel's real request log and telemetry; no broker."""
import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.extensions import DependencyProvider, Entrypoint

from services.kernel import logs, telemetry
from services.kernel.errors import NotFound
from services.realtime.workers import InlineWorkers, OnePerProcess


class Inline(Entrypoint):
    """What ``SocketEvent`` is to the door: an entrypoint whose workers run inline."""

    workers = InlineWorkers()

    def __call__(self, *args):
        return self.workers.run(self, args, {"socket_event": self.method_name})


inline = Inline.decorator


class Memory(OnePerProcess, DependencyProvider):
    """One object per process; counts how often it is asked."""

    def setup(self):
        self.memory, self.asked = {}, 0

    def get_dependency(self, worker_ctx):
        self.asked += 1
        return self.memory


class Caller(DependencyProvider):
    """Per worker, as an RPC client is: what a call sent now would carry."""

    def get_dependency(self, worker_ctx):
        return lambda: worker_ctx.context_data


class Hooks(DependencyProvider):
    def setup(self):
        self.seen = []

    def worker_setup(self, worker_ctx):
        self.seen.append(("setup", worker_ctx.call_id))

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        self.seen.append(("result", worker_ctx.call_id, result, exc_info and type(exc_info[1])))

    def worker_teardown(self, worker_ctx):
        self.seen.append(("teardown", worker_ctx.call_id))


class DoorLike:
    name = "doorlike"
    memory = Memory()
    caller = Caller()
    hooks = Hooks()
    request_log = logs.RequestLog()
    telemetry = telemetry.Telemetry()

    @inline
    def remember(self, key, value):
        self.memory[key] = value
        return {"outgoing": self.caller(), "trace_id": telemetry.current_trace_id()}

    @inline
    def fail(self):
        raise NotFound("nothing here")

    @inline
    def wait(self, gate):
        gate.wait()
        return "waited"


def start(max_workers=10):
    container = ServiceContainer(DoorLike, {"max_workers": max_workers})
    container.start()
    return container


@pytest.fixture
def container():
    running = start()
    yield running
    running.stop()


def entrypoint(container, name):
    return next(e for e in container.entrypoints if e.method_name == name)


def provider(container, kind):
    return next(d for d in container.dependencies if isinstance(d, kind))


def test_a_worker_gets_the_process_s_objects_once_and_its_own_ids_per_event(container):
    remember = entrypoint(container, "remember")
    first, _ = remember("a", 1)
    second, _ = remember("b", 2)

    memory = provider(container, Memory)
    assert memory.memory == {"a": 1, "b": 2} and memory.asked == 1
    # each worker's calls carry its own call id, after the socket event's name
    first_ids, second_ids = first["outgoing"]["call_id_stack"], second["outgoing"]["call_id_stack"]
    assert len(first_ids) == 1 and first_ids[0].startswith("doorlike.remember.") and first_ids != second_ids
    assert first["outgoing"]["socket_event"] == "remember"
    assert first["outgoing"]["traceparent"].split("-")[1] == first["trace_id"] != second["trace_id"]


def test_hooks_run_in_nameko_s_order_and_the_trace_is_detached_even_after_an_error(container):
    result, exc_info = entrypoint(container, "fail")()

    assert result is None and isinstance(exc_info[1], NotFound)
    (setup, ended, teardown) = provider(container, Hooks).seen
    assert setup[0] == "setup" and ended == ("result", setup[1], None, NotFound) and teardown == ("teardown", setup[1])
    # the thread goes on serving its client: no worker's span stays current in it
    assert telemetry.current_trace_id() is None
    assert entrypoint(container, "remember")("c", 3)[0]["trace_id"] is not None
    assert telemetry.current_trace_id() is None


def test_a_worker_holds_a_pool_slot_so_max_workers_bounds_them():
    container = start(max_workers=1)
    try:
        gate, answers = eventlet.Event(), []
        first = eventlet.spawn(entrypoint(container, "wait"), gate)
        second = eventlet.spawn(lambda: answers.append(entrypoint(container, "remember")("d", 4)))
        eventlet.sleep(0.05)
        assert container._worker_pool.free() == 0 and answers == []  # the second waits for the slot
        gate.send(True)
        assert first.wait() == ("waited", None)
        second.wait()
        assert answers and provider(container, Memory).memory == {"d": 4}
        assert container._worker_pool.free() == 1
    finally:
        container.stop()


def test_a_graceful_stop_waits_for_a_running_worker_before_stopping_the_dependencies():
    container = start()
    gate = eventlet.Event()
    running = eventlet.spawn(entrypoint(container, "wait"), gate)
    eventlet.sleep(0.05)
    stopping = eventlet.spawn(container.stop)
    eventlet.sleep(0.05)
    assert not stopping.dead  # as for a spawned worker
    gate.send(True)
    assert running.wait() == ("waited", None)
    stopping.wait()


def test_what_the_door_declares_one_per_process_is_one_object_for_every_worker(key_files):
    """The door's providers, set up (nothing started: no broker), each asked by two workers."""
    from nameko.containers import WorkerContext

    from services.kernel.config import load_config
    from services.kernel.rpc import RpcClient
    from services.realtime.service import RealtimeService
    from services.realtime.workers import one_per_process

    config = load_config({"JWT_PUBLIC_KEY_FILE": str(key_files[1])}, service="realtime")
    door = ServiceContainer(RealtimeService, config)
    for extension in door.dependencies:
        extension.setup()
    event = next(e for e in door.entrypoints if e.method_name == "video_progress")
    first, second = (WorkerContext(door, RealtimeService(), event) for _ in range(2))

    shared = [p for p in door.dependencies if one_per_process(p)]
    assert {p.attr_name for p in shared} >= {"sockets", "memberships", "progress_reports", "chat_messages",
                                             "progress_throttle", "chat_mutes", "config"}
    for provider in shared:
        assert provider.get_dependency(first) == provider.get_dependency(second), provider.attr_name
    # the RPC clients are not: each worker's calls carry its own call ids and trace
    assert {p.attr_name for p in door.dependencies if not one_per_process(p)} == {
        p.attr_name for p in door.dependencies if isinstance(p, RpcClient)}
