"""The event catalogue: every domain event that crosses a service boundary.

A Nameko event is addressed by (source service, event type). Handlers subscribe with
``@event_handler(*events.USER_REGISTERED, ...)``; publishers dispatch ``event_type``
from the service named ``source``. Payloads are JSON objects whose fields are listed
beside each event. Delivery is at-least-once: every payload carries an ``event_id``
so handlers can be idempotent.
"""
from collections import namedtuple

EventName = namedtuple("EventName", "source event_type")

# auth
USER_REGISTERED = EventName("auth", "user_registered")
"""{event_id, user_id, email, role, created_at}"""

SESSION_REVOKED = EventName("auth", "session_revoked")
"""{event_id, user_id, session_id}: a logout or a detected refresh-token reuse."""


def publish_committed(unit_of_work, dispatch):
    """Dispatch the events of a committed unit of work, in the order recorded."""
    for event_type, payload in unit_of_work.committed_events():
        dispatch(event_type, payload)
