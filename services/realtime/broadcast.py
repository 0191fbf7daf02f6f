"""Room broadcasts across door replicas: python-socketio's KombuManager, made safe to share.

Every door replica publishes its room emits to a fanout exchange on RabbitMQ and
delivers what the others publish to its own clients. Two things about the stock
manager matter for a door that must stay responsive:

- it publishes through one connection from whichever green thread emits, so two emits
  at once could interleave their frames on the wire: publishes are serialised here;
- it retries a failed publish forever (kombu's ``ensure`` without ``max_retries``), so
  a broker outage would freeze every emit: here a publish gives up after a few quick
  retries. The emitting replica has already delivered to its own clients by then;
  only other replicas' clients miss that one message, and the outage is logged.

The producer is made once per connection instead of per message (the stock manager
declares the exchange again on every publish, a broker round trip each time).
"""
import socketio
from eventlet.semaphore import Semaphore

PUBLISH_RETRIES = 2


class RoomBroadcaster(socketio.KombuManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._publishing = Semaphore(1)
        self._producer = None

    def _producer_publish(self, connection):
        if self._producer is None:
            self._producer = connection.Producer(exchange=self._exchange(), **self.producer_options)
        return connection.ensure(self._producer, self._producer.publish, max_retries=PUBLISH_RETRIES,
                                 interval_start=0.1, interval_step=0.2, interval_max=0.5)

    def _publish(self, data):
        with self._publishing:
            super()._publish(data)
