"""The Admin UI's switch and credentials (services/realtime/admin_ui.py); the UI itself runs
in tests/stack/test_admin_ui.py."""
import pytest
import socketio

from services.realtime import admin_ui


@pytest.fixture
def server():
    sio = socketio.Server(async_mode="eventlet")
    yield sio
    admin = getattr(sio, "test_admin", None)
    if admin is not None:
        admin.uninstrument()  # instrument() patches engine.io's Socket class for the whole process


def test_off_unless_both_credentials_are_set(server):
    for config in ({}, {"ADMIN_UI_USERNAME": "operator"}, {"ADMIN_UI_PASSWORD": "secret"},
                   {"ADMIN_UI_USERNAME": "", "ADMIN_UI_PASSWORD": "secret"}):
        assert admin_ui.instrument(server, config) is None
    assert "/admin" not in server.handlers


def test_read_only_statistics_unless_development_mode(server):
    server.test_admin = admin_ui.instrument(server, {"ADMIN_UI_USERNAME": "operator", "ADMIN_UI_PASSWORD": "pw"})
    assert server.test_admin.mode == "production" and server.test_admin.read_only is True
    assert set(server.handlers["/admin"]) == {"connect"}  # no emit, join, leave or disconnect


def test_development_mode_allows_the_ui_s_actions(server):
    server.test_admin = admin_ui.instrument(
        server, {"ADMIN_UI_USERNAME": "operator", "ADMIN_UI_PASSWORD": "pw", "ADMIN_UI_MODE": "development"})
    assert server.test_admin.read_only is False
    assert {"emit", "join", "leave", "_disconnect"} <= set(server.handlers["/admin"])


def test_an_unknown_mode_is_refused_at_start(server):
    with pytest.raises(RuntimeError, match="ADMIN_UI_MODE"):
        admin_ui.instrument(server, {"ADMIN_UI_USERNAME": "a", "ADMIN_UI_PASSWORD": "b", "ADMIN_UI_MODE": "debug"})


def test_only_the_configured_pair_is_admitted():
    check = admin_ui.Credentials("operator", "a long passphrase")
    assert check({"username": "operator", "password": "a long passphrase"})
    for wrong in ({"username": "operator", "password": "a long passphrase!"}, {"username": "Operator",
                  "password": "a long passphrase"}, {"password": "a long passphrase"}, {}, None, "operator"):
        assert not check(wrong)
