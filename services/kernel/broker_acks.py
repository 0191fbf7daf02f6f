"""A broker reset must not kill a service: acknowledging on a dead connection is ignored.

Override of an upstream internal: ``nameko.messaging.QueueConsumer.ack_message`` and
``requeue_message`` (nameko 2.14.1). Upstream ignores ``amqp.exceptions.ConnectionError``
there, but a socket reset by a restarting broker raises the built-in ``ConnectionResetError``
(an ``OSError``) instead; it escapes the worker's result handler and Nameko kills the whole
container ("thread exited with error"). Found by tests/faults/test_recovery_broker.py: the
chat service died when RabbitMQ restarted under a steady stream of chat hand-overs. An
unacknowledged message is redelivered by the broker anyway (every handler here is
idempotent), which is what upstream's own comment expects.
"""
from importlib.metadata import version

from nameko import messaging

WRITTEN_FOR = "2.14.1"


def _ignoring_a_dead_socket(method):
    def guarded(self, message):
        try:
            return method(self, message)
        except OSError:  # the broker reset the connection: it will redeliver the message
            return None

    guarded.__wrapped__ = method
    return guarded


def install(installed=None):
    """Apply the override, refusing a Nameko it was not written for."""
    installed = installed or version("nameko")
    if installed != WRITTEN_FOR:
        raise RuntimeError(f"services/kernel/broker_acks.py overrides nameko {WRITTEN_FOR} internals; "
                           f"nameko {installed} is installed: re-check QueueConsumer.ack_message")
    consumer = messaging.QueueConsumer
    if not hasattr(consumer.ack_message, "__wrapped__"):
        consumer.ack_message = _ignoring_a_dead_socket(consumer.ack_message)
        consumer.requeue_message = _ignoring_a_dead_socket(consumer.requeue_message)
