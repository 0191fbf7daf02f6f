"""The progress service's entrypoints. Rules live in handlers/rules; this is the surface."""
import eventlet
from nameko.events import SERVICE_POOL, event_handler
from nameko.rpc import rpc
from sqlalchemy.exc import OperationalError

from services.kernel import events
from services.kernel.database import Database
from services.kernel.errors import EXPECTED
from services.kernel.health import HealthRpc
from services.kernel.rpc import RpcClient
from services.progress import handlers

# a batch that failed on the database goes back to the queue; pausing first keeps a
# database outage from turning into a hot redelivery loop
DATABASE_RETRY_PAUSE_SECONDS = 1.0


class ProgressService(HealthRpc):
    name = "progress"

    db = Database()
    courses = RpcClient("courses")

    # durable queue, requeued on error: a batch the door handed over is stored even if
    # this service was down or its database failed when it arrived
    @event_handler(*events.PROGRESS_REPORTED, handler_type=SERVICE_POOL, requeue_on_error=True)
    def on_progress_reported(self, event):
        try:
            handlers.record_reports(self.db, event.get("reports"))
        except OperationalError:
            eventlet.sleep(DATABASE_RETRY_PAUSE_SECONDS)
            raise

    @rpc(expected_exceptions=EXPECTED)
    def course_progress(self, actor, course_id):
        return handlers.course_progress(self.db, self.courses, actor, course_id)

    @rpc(expected_exceptions=EXPECTED)
    def students_progress(self, actor, course_id, limit, offset):
        return handlers.students_progress(self.db, self.courses, actor, course_id, limit, offset)
