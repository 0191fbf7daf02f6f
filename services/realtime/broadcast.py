"""Room broadcasts across door replicas: python-socketio's KombuManager, made outage-proof.

Every door replica publishes its room emits to a fanout exchange on RabbitMQ and
delivers what the others publish to its own clients. The stock manager publishes from
whichever green thread emits, through one shared connection, retrying forever; during
a broker outage every emit would then hang, holding a Nameko worker each until the
door could not serve anything at all.

Here an emit never waits for the broker. The emitting replica delivers to its own
clients at once (python-socketio does that before publishing); the message for the
other replicas goes into a bounded queue that one green thread drains to the broker.
While the broker is down that thread retries with backoff, so the other replicas get
the messages late rather than never; only when more than ``QUEUE_LIMIT`` messages
pile up are the oldest dropped (and counted in the log).
"""
import collections
import logging

import eventlet
import socketio

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
RETRY_MAX_SECONDS = 5.0


class RoomBroadcaster(socketio.KombuManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._outbox = collections.deque(maxlen=QUEUE_LIMIT)
        self._wake = eventlet.Event()
        self._producer = None
        self._publisher = None
        self.dropped = 0

    def initialize(self):
        super().initialize()
        self._publisher = self.server.start_background_task(self._drain)

    def _publish(self, data):
        if len(self._outbox) == self._outbox.maxlen:
            self.dropped += 1
        self._outbox.append(data)
        if not self._wake.ready():
            self._wake.send()

    def _drain(self):
        delay = 0.1
        while True:
            if not self._outbox:
                self._wake.wait()
                self._wake = eventlet.Event()
                continue
            try:
                self._send(self._outbox[0])
                self._outbox.popleft()
                delay = 0.1
            except Exception as exc:
                log.warning("room broadcasts held (%d waiting, %d dropped): broker unreachable: %s",
                            len(self._outbox), self.dropped, exc)
                self._producer = None
                try:
                    self.publisher_connection.release()
                except Exception:
                    pass
                self.publisher_connection = self._connection()
                eventlet.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _send(self, data):
        if self._producer is None:
            # made once per connection: the stock manager declares the exchange again on
            # every publish, a broker round trip each time
            self._producer = self.publisher_connection.Producer(exchange=self._exchange(), **self.producer_options)
        self._producer.publish(self.json.dumps(data))
