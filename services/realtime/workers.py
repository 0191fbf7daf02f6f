"""The socket events' Nameko workers, run in the green thread the event arrived in.

A worker from ``ServiceContainer.spawn_worker`` is a green thread of its own (and an ``Event``
for the socket's thread to wait on), a fresh service instance, every dependency provider asked
for its dependency, and every provider's ``worker_setup``, ``worker_result`` and
``worker_teardown`` called whether it has one or not: about a third of the door's CPU for a
``video_progress`` (docs/benchmarks.md). Yet the event already has a green thread (its client's,
where its events run in order), and most of the door's dependencies are one object per process.

``InlineWorkers`` runs the same worker without those costs. For each event it makes what a
worker owns, a service instance and a ``WorkerContext`` (call id, call id stack, context data:
what its RPCs and events carry onwards), then

- holds a slot of the container's worker pool, as a spawned worker does: ``max_workers``
  still bounds the process's concurrent workers (a full pool makes the socket's thread wait,
  as ``spawn_worker`` did), and a graceful stop still waits for the running ones before it
  stops the dependencies (the progress flush then sees every report accepted);
- sets the dependencies that are one object per process (``OnePerProcess`` providers, the
  config, and providers that give none) from a table made once, and asks only the others
  (the RPC clients, whose calls carry this worker's ids) per event;
- calls the ``worker_setup`` / ``worker_result`` / ``worker_teardown`` of the providers that
  define them (the request log line, telemetry's span and timing, the door's metrics), in
  Nameko's order; the teardown also when something before it failed, since the thread goes
  on serving its client and must not keep a worker's trace context attached.

The handler is the same ``@on_socket`` method, and ``entrypoint_hook`` / ``worker_factory``
test it as any Nameko worker.
"""
import sys

import eventlet
from nameko.containers import WorkerContext
from nameko.dependency_providers import Config
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import DependencyProvider, SharedExtension


class OnePerProcess:
    """A provider whose ``get_dependency`` gives every worker the same object (a mixin)."""


def one_per_process(provider):
    return (isinstance(provider, (OnePerProcess, Config))
            or type(provider).get_dependency is DependencyProvider.get_dependency)


def defines(provider, hook):
    return getattr(type(provider), hook) is not getattr(DependencyProvider, hook)


class InlineWorkers(SharedExtension):
    """One per container: runs ``@on_socket`` workers in their caller's green thread."""

    def setup(self):
        providers = list(self.container.dependencies)
        self.per_worker = [p for p in providers if not one_per_process(p)]
        self.setups = [p for p in providers if defines(p, "worker_setup")]
        self.results = [p for p in providers if defines(p, "worker_result")]
        self.teardowns = [p for p in providers if defines(p, "worker_teardown")]
        self.shared = None  # made with the first worker: every provider is set up by then

    def _shared(self, worker_ctx):
        if self.shared is None:
            self.shared = {p.attr_name: p.get_dependency(worker_ctx)
                           for p in self.container.dependencies if one_per_process(p)}
        return self.shared

    def run(self, entrypoint, args, context_data):
        """Run ``entrypoint``'s method with ``args`` as a worker, here; ``(result, exc_info)``."""
        pool = self.container._worker_pool
        current = eventlet.getcurrent()
        borrowed = current not in pool.coroutines_running  # not already a worker's thread
        if borrowed:
            # GreenPool.spawn's bookkeeping, for the thread we are in
            pool.sem.acquire()
            if not pool.coroutines_running:
                pool.no_coros_running = eventlet.Event()
            pool.coroutines_running.add(current)
        try:
            if self.container._being_killed:
                raise ContainerBeingKilled()
            return self._work(entrypoint, args, context_data)
        finally:
            if borrowed:
                pool._spawn_done(current)

    def _work(self, entrypoint, args, context_data):
        service = self.container.service_cls()
        worker_ctx = WorkerContext(self.container, service, entrypoint, args, data=context_data)
        attributes = vars(service)
        attributes.update(self._shared(worker_ctx))
        for provider in self.per_worker:
            attributes[provider.attr_name] = provider.get_dependency(worker_ctx)
        try:
            for provider in self.setups:
                provider.worker_setup(worker_ctx)
            result = exc_info = None
            try:
                result = getattr(service, entrypoint.method_name)(*args)
            except Exception:
                exc_info = sys.exc_info()
            for provider in self.results:
                provider.worker_result(worker_ctx, result, exc_info)
            return result, exc_info
        finally:
            for provider in self.teardowns:
                provider.worker_teardown(worker_ctx)
            # the worker's RPC proxies (attributes of the service) hold its context, which holds
            # the service: a reference cycle per event, that only the garbage collector could
            # free, and collecting ten objects per event cost the door a fifth of its CPU under
            # progress load (docs/benchmarks.md). Without the service the context is freed at
            # once; the service lives on only where a handler kept it (a deferred emit's closure)
            worker_ctx.service = None
