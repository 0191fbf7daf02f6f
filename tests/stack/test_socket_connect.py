"""Socket.IO connect as API.md describes it, with a stock python-socketio client."""
import time

import pytest
import socketio

from tests.support import forge


@pytest.mark.parametrize("how", ["auth", "query", "header"])
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_valid_token_connects_every_way(api, sockets, how, transport):
    session = api.new_user()
    token = session["access_token"]
    client = sockets()
    options = {
        "auth": {"auth": {"token": token}},
        "query": {},
        "header": {"headers": {"Authorization": f"Bearer {token}"}},
    }[how]
    url = client.url + (f"?token={token}" if how == "query" else "")
    client.url = url
    client.connect(transports=[transport], **options)
    connected = client.wait_for("connected")[0]
    assert connected == {"status": "Connected successfully", "user_id": session["user"]["id"]}


def refusal(sockets, **connect_options):
    client = sockets()
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(**connect_options)
    return client.connect_error


def test_no_token_is_refused(sockets):
    assert refusal(sockets) == {"message": "Invalid token"}


def test_forged_tokens_are_refused(sockets, private_key_pem, public_key_pem):
    for kind, token in forge.forgeries(private_key_pem, public_key_pem).items():
        assert refusal(sockets, auth={"token": token}) == {"message": "Invalid token"}, kind


def test_a_refresh_token_is_refused(api, sockets):
    session = api.new_user()
    assert refusal(sockets, auth={"token": session["refresh_token"]}) == {"message": "Invalid token"}


def test_an_expired_token_is_refused_as_expired(sockets, private_key_pem):
    expired = forge.sign(private_key_pem, forge.claims(iat=int(time.time()) - 60, exp=int(time.time()) - 5))
    assert refusal(sockets, auth={"token": expired}) == {"message": "Token expired"}


def test_a_token_expiring_while_connected_ends_the_connection(sockets, private_key_pem):
    soon = forge.sign(private_key_pem, forge.claims(exp=int(time.time()) + 2))
    client = sockets().connect(auth={"token": soon})
    client.wait_for("connected")
    error = client.wait_for("error", timeout=10)[0]
    assert error["code"] == "token_expired" and error["message"] == "Token expired"
    deadline = time.monotonic() + 5
    while client.sio.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.sio.connected


def test_an_unknown_event_is_answered_not_disconnected(api, sockets):
    client = sockets().connect(auth={"token": api.new_user()["access_token"]})
    client.wait_for("connected")
    ack = client.sio.call("no_such_event", {"x": 1}, timeout=5)
    assert ack == {"message": "Unknown event 'no_such_event'", "code": "not_found", "event": "no_such_event"}
    assert client.wait_for("error")[0] == ack
    assert client.sio.connected
