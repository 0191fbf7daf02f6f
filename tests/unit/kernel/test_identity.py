"""The one caller type crosses RPC as itself: what the door sends, a domain service receives."""
from kombu.serialization import dumps, loads

from services.kernel.identity import Identity


def test_an_identity_round_trips_through_the_rpc_serializer_without_its_session():
    sent = Identity(user_id="u1", email="ann@example.com", role="instructor", expires_at=2**31, session_id="s1")
    content_type, encoding, body = dumps({"args": [sent, "c1"], "kwargs": {}}, serializer="json")
    received = loads(body, content_type, encoding)["args"][0]
    assert received == Identity(user_id="u1", email="ann@example.com", role="instructor")
    assert received.is_instructor and received.expires_at == 0 and received.session_id == ""
    assert "session_id" not in body and "expires_at" not in body


def test_no_caller_travels_as_null():
    content_type, encoding, body = dumps({"args": [None]}, serializer="json")
    assert loads(body, content_type, encoding) == {"args": [None]}
