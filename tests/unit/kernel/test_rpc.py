"""RpcClient's deadline call: what a caller sees when the callee or the broker fails."""
import pytest
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, UnknownService

from services.kernel.errors import NotFound, Unavailable
from services.kernel.rpc import call_with_deadline


class Failing:
    """A nameko RPC method whose request fails the way ``error`` says."""

    def __init__(self, error):
        self.error = error

    def call_async(self, *args, **kwargs):
        raise self.error


@pytest.mark.parametrize("error", [
    OperationalError("[Errno 111] ECONNREFUSED"),  # kombu could not reconnect to publish
    ConnectionResetError(104, "Connection reset by peer"),
    UnknownService("courses"),
    RemoteError("KeyError", "boom"),
], ids=["broker unreachable", "connection reset", "unknown service", "callee bug"])
def test_a_failed_call_is_unavailable_never_an_unhandled_error(error):
    with pytest.raises(Unavailable):
        call_with_deadline(Failing(error), "courses", 1)


def test_a_platform_error_of_the_callee_passes_through():
    with pytest.raises(NotFound):
        call_with_deadline(Failing(NotFound("course not found")), "courses", 1)
