"""The ack override: a reset socket no longer escapes (it killed the container), other errors do."""
from unittest import mock

import pytest
from nameko.messaging import QueueConsumer

from services.kernel import broker_acks


def test_an_ack_on_a_socket_the_broker_reset_is_ignored_and_the_version_is_guarded():
    broker_acks.install()
    broker_acks.install()  # idempotent: wrapped once
    assert QueueConsumer.ack_message.__wrapped__.__name__ == "ack_message"
    message = mock.Mock()
    message.ack.side_effect = ConnectionResetError(104, "Connection reset by peer")
    message.requeue.side_effect = BrokenPipeError(32, "Broken pipe")
    consumer = QueueConsumer.__new__(QueueConsumer)
    assert consumer.ack_message(message) is None
    assert consumer.requeue_message(message) is None
    message.ack.side_effect = ValueError("not a connection problem")
    with pytest.raises(ValueError):
        consumer.ack_message(message)
    with pytest.raises(RuntimeError, match="nameko 2.15.0"):
        broker_acks.install("2.15.0")
