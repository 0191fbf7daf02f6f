"""ProgressService entrypoints with Nameko's worker_factory: real database; the events each worker's unit
of work committed are what ``Database`` publishes once the worker is done."""
import pytest
from nameko.testing.services import worker_factory

from services.progress.service import ProgressService


@pytest.fixture
def service(service_database):
    database = service_database("progress")
    return lambda: worker_factory(ProgressService, db=database.unit())


def batch(*reports):
    return {"event_id": "e1", "reports": [
        {"user_id": "u1", "video_id": video, "course_id": "c1", "progress": progress,
         "furthest_position": position, "last_position": position, "reported_at": 1.0}
        for video, progress, position in reports]}


def test_a_batch_is_stored_then_each_changed_row_announced(service):
    worker = service()
    worker.on_progress_reported(batch(("v1", 50, 300), ("v2", 95, 590)))
    [(name, event)] = worker.db.committed_events()  # one event for the batch
    announced = {record["video_id"]: record for record in event["records"]}
    assert name == "progress_recorded" and set(announced) == {"v1", "v2"} and announced["v2"]["completed"] is True
    # the same batch again (at-least-once delivery): nothing changes, nothing announced
    again = service()
    again.on_progress_reported(batch(("v1", 50, 300), ("v2", 95, 590)))
    assert again.db.committed_events() == []
