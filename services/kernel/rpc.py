"""RPC between services with a deadline.

Nameko 2's ``RpcProxy`` waits for a reply forever. A caller that must answer a person
(the realtime door) or stay responsive (a service asking another) uses ``RpcClient``
instead: every call is bounded by ``RPC_TIMEOUT_SECONDS``, and a service that is down,
unknown or too slow becomes ``Unavailable`` (HTTP 503, socket code ``unavailable``).
Typed platform errors raised by the callee pass through unchanged.
"""
import time

import eventlet
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import RpcProxy

from services.kernel.errors import PlatformError, Unavailable


class RpcClient(RpcProxy):
    def __init__(self, target_service, timeout=None, **options):
        super().__init__(target_service, **options)
        self.timeout = timeout

    def setup(self):
        super().setup()
        self.deadline = self.timeout or float(self.container.config.get("RPC_TIMEOUT_SECONDS", 5))
        # a request nobody took in time expires in the queue: a service that comes back
        # after an outage never acts on calls whose callers already got a 503
        self.options.setdefault("expiration", self.deadline)
        # a service class may define ``observe_rpc(service, method, seconds)`` to be
        # told how long each call took (the door feeds its Prometheus histogram)
        self.observe = getattr(self.container.service_cls, "observe_rpc", None)

    def get_dependency(self, worker_ctx):
        # nameko's proxy (its publisher, the worker's headers) is made on the first call: most
        # workers of the door call no service at all (a video_progress event with its
        # membership cached), and making five proxies per event was a tenth of its CPU
        return _DeadlineProxy(self, worker_ctx)

    def make_proxy(self, worker_ctx):
        return super().get_dependency(worker_ctx)


class _DeadlineProxy:
    """One worker's calls to one service; made for every worker, so it holds two references."""

    __slots__ = ("_client", "_worker_ctx", "_proxy")

    def __init__(self, client, worker_ctx):
        self._client = client
        self._worker_ctx = worker_ctx
        self._proxy = None

    def __getattr__(self, method_name):
        if method_name.startswith("_"):
            raise AttributeError(method_name)
        if self._proxy is None:
            self._proxy = self._client.make_proxy(self._worker_ctx)
        method = getattr(self._proxy, method_name)
        client = self._client

        def call(*args, timeout=None, **kwargs):
            started = time.monotonic()
            try:
                return call_with_deadline(method, client.target_service, timeout or client.deadline, *args, **kwargs)
            finally:
                if client.observe is not None:
                    client.observe(client.target_service, method_name, time.monotonic() - started)

        return call


def call_with_deadline(method, service_name, timeout, *args, **kwargs):
    try:
        with eventlet.Timeout(timeout):
            return method.call_async(*args, **kwargs).result()
    except eventlet.Timeout:
        raise Unavailable(f"The {service_name} service did not answer in time") from None
    except UnknownService:
        raise Unavailable(f"The {service_name} service is not running") from None
    except PlatformError:
        raise
    except RemoteError as exc:
        # a bug on the other side: say which service, never leak its traceback
        raise Unavailable(f"The {service_name} service failed ({exc.exc_type})") from None
    except (OSError, ConnectionError, OperationalError) as exc:
        # OperationalError: kombu's own, when it cannot (re)connect to publish the request
        raise Unavailable(f"The message broker is not reachable ({type(exc).__name__})") from None
