"""The door's Engine.IO socket (``frames.DoorEngineSocket``) on real websockets: packets reach
the client whole and in order whether written at once or queued behind a client that stopped
reading, the writer green thread exists only while something is queued, and a server-side
close still writes what was queued, then the CLOSE, then ends the connection."""
import socket as stdlib_socket

import engineio
import eventlet
import pytest
import websocket
from eventlet import wsgi

from services.realtime.transport import frames


@pytest.fixture
def door_engine():
    """A python-engineio server as the door configures it (``frames.install`` and ``adopt`` in
    its ``connect`` event), served by eventlet with the door's HTTP protocol on a free port."""
    server = engineio.Server(async_mode="eventlet", ping_interval=25, ping_timeout=20)
    frames.install(server)
    connected = []

    @server.on("connect")
    def on_connect(sid, environ):
        frames.adopt(server.sockets[sid])
        connected.append(sid)

    listener = eventlet.listen(("127.0.0.1", 0))
    serving = eventlet.spawn(wsgi.server, listener, engineio.WSGIApp(server), protocol=frames.DoorProtocol,
                             log_output=False)
    server.url = "ws://127.0.0.1:%d/engine.io/?EIO=4&transport=websocket" % listener.getsockname()[1]
    server.connected = connected
    yield server
    server.pinger.stop()
    serving.kill()
    listener.close()


def open_client(server, receive_buffer=None):
    sockopt = [(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, receive_buffer)] if receive_buffer else ()
    client = websocket.create_connection(server.url, timeout=10, sockopt=sockopt)
    assert client.recv().startswith("0{")  # OPEN, queued before the websocket was there
    with eventlet.Timeout(5):
        while not server.connected:
            eventlet.sleep(0.01)
    engine_socket = server.sockets[server.connected[-1]]
    assert type(engine_socket) is frames.DoorEngineSocket
    return client, engine_socket


def test_an_idle_websocket_has_no_writer_green_thread_nor_http_buffers(door_engine):
    client, engine_socket = open_client(door_engine)
    eventlet.sleep(0.1)
    assert engine_socket.writer is None and engine_socket.queue.qsize() == 0
    assert all(stream.closed for stream in engine_socket.websocket.environ[frames.DoorProtocol.STREAMS])
    door_engine.send(engine_socket.sid, "hello")  # written at once: still no writer
    assert engine_socket.writer is None
    assert client.recv() == "4hello"
    client.close()


def send_behind_a_full_kernel_buffer(server, engine_socket, count):
    """Send a message larger than the kernel's buffers, then ``count`` more: the first one's rest
    is written by a green thread holding the websocket's send lock, so the next ones are queued
    and a writer is started. Returns every message sent, in order."""
    messages = ["z" * 4_000_000] + [f"message {n} " + "x" * 2000 for n in range(count)]
    for message in messages:
        server.send(engine_socket.sid, message)
    assert engine_socket.writer is not None
    return messages


def test_packets_queued_behind_a_client_that_stopped_reading_arrive_whole_and_in_order(door_engine):
    client, engine_socket = open_client(door_engine, receive_buffer=4096)
    messages = send_behind_a_full_kernel_buffer(door_engine, engine_socket, 400)
    assert engine_socket.queue.qsize() > 0  # the rest waits, in order
    received = [client.recv() for _ in messages]
    assert received == ["4" + message for message in messages]
    with eventlet.Timeout(5):
        while engine_socket.writer is not None:
            eventlet.sleep(0.01)
    assert engine_socket.queue.qsize() == 0
    door_engine.send(engine_socket.sid, "after")
    assert client.recv() == "4after"
    client.close()


def test_a_server_side_close_writes_what_was_queued_then_the_close_and_ends_the_connection(door_engine):
    client, engine_socket = open_client(door_engine, receive_buffer=4096)
    messages = send_behind_a_full_kernel_buffer(door_engine, engine_socket, 200)
    reading = eventlet.spawn(lambda: [client.recv() for _ in messages])
    door_engine.disconnect(engine_socket.sid)  # waits until the writer has written all of it
    assert reading.wait() == ["4" + message for message in messages]
    assert client.recv() == "1"  # Engine.IO CLOSE
    assert client.recv() == ""  # the websocket's own close frame
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        client.recv()
    assert engine_socket.closed and engine_socket.writer is None
    assert engine_socket.queue.on_put is None  # no cycle left between the socket and its queue


def test_a_client_that_leaves_ends_its_reader_and_leaves_nothing_behind(door_engine):
    client, engine_socket = open_client(door_engine)
    disconnected = []
    door_engine.on("disconnect", lambda sid, reason: disconnected.append((sid, reason)))
    client.close()
    with eventlet.Timeout(5):
        while not disconnected:
            eventlet.sleep(0.01)
    assert disconnected[0][0] == engine_socket.sid
    assert engine_socket.closed and engine_socket.writer is None and engine_socket.queue.on_put is None
