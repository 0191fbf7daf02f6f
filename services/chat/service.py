"""The chat service's entrypoints. Rules live in handlers/rules; this is the surface."""
import eventlet
from nameko.events import SERVICE_POOL, event_handler
from nameko.rpc import rpc
from sqlalchemy.exc import OperationalError

from services.chat import handlers
from services.kernel import events
from services.kernel.database import Database
from services.kernel.errors import EXPECTED
from services.kernel.health import HealthRpc

# a message that failed on the database goes back to the queue; pausing first keeps a
# database outage from turning into a hot redelivery loop
DATABASE_RETRY_PAUSE_SECONDS = 1.0


class ChatService(HealthRpc):
    name = "chat"

    db = Database()

    # durable queue, requeued on error: a message the door handed over (its sender already
    # has the acknowledgement) is stored even if this service or its database was down
    @event_handler(*events.CHAT_MESSAGE_SENT, handler_type=SERVICE_POOL, requeue_on_error=True)
    def on_chat_message_sent(self, event):
        try:
            handlers.store_message(self.db, event)
        except OperationalError:
            eventlet.sleep(DATABASE_RETRY_PAUSE_SECONDS)
            raise

    @rpc(expected_exceptions=EXPECTED)
    def recent_messages(self, video_id):
        return handlers.recent_messages(self.db, video_id)

    @rpc(expected_exceptions=EXPECTED)
    def history(self, video_id, limit=None, before=None):
        return handlers.history(self.db, video_id, limit, before)

    @rpc(expected_exceptions=EXPECTED)
    def delete_message(self, actor, relation, video_id, message_id):
        return handlers.delete_message(self.db, actor, relation, video_id, message_id)

    @rpc(expected_exceptions=EXPECTED)
    def mute(self, actor, course_id, user_id, minutes):
        return handlers.mute(self.db, actor, course_id, user_id, minutes)

    @rpc(expected_exceptions=EXPECTED)
    def unmute(self, actor, course_id, user_id):
        return handlers.unmute(self.db, actor, course_id, user_id)

    @rpc(expected_exceptions=EXPECTED)
    def active_mutes(self):
        return handlers.active_mutes(self.db)
