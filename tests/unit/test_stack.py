"""``make run``'s port check (``services.stack.port_is_free``) against real sockets."""
import socket

import eventlet

from services.stack import port_is_free


def leave_time_wait_behind():
    """A port whose only sockets are in TIME_WAIT: a door that served a client, then stopped.

    The server side closes first, so its end of the connection lingers in TIME_WAIT.
    """
    listener = eventlet.listen(("127.0.0.1", 0))  # as the door listens
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()
    listener.close()
    client.close()
    return port


def test_a_port_whose_only_sockets_are_in_time_wait_is_free():
    port = leave_time_wait_behind()
    with socket.socket() as plain:  # the check as it was, without SO_REUSEADDR: refused
        try:
            plain.bind(("0.0.0.0", port))
            bound_without_reuse = True
        except OSError:
            bound_without_reuse = False
    assert not bound_without_reuse, "no TIME_WAIT socket was left behind: the test proves nothing"
    assert port_is_free(port)
    eventlet.listen(("0.0.0.0", port)).close()  # and the door really binds it


def test_a_port_with_a_door_listening_is_not_free():
    listener = eventlet.listen(("0.0.0.0", 0))  # SO_REUSEADDR and SO_REUSEPORT, as the door
    try:
        assert not port_is_free(listener.getsockname()[1])
    finally:
        listener.close()
