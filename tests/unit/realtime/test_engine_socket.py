"""The door's Engine.IO socket (``frames.DoorEngineSocket``) on real websockets: packets reach
the client whole and in order whether written at once or queued behind a client that stopped
reading, the writer green thread exists only while something is queued, and a server-side
close still writes what was queued, then the CLOSE, then ends the connection. On the reading
side (``reading.py``): no green thread waits for a quiet client, a client's messages are handled
in order even when it sends faster than they are handled, and the websocket protocol's own
frames (ping, close, errors) are answered as eventlet answered them."""
import gc
import socket as stdlib_socket
import struct
import weakref

import greenlet

import engineio
import eventlet
import pytest
import websocket
from eventlet import wsgi

from services.realtime.transport import frames, reading


@pytest.fixture
def door_engine():
    """A python-engineio server as the door configures it (``frames.install`` and ``adopt`` in
    its ``connect`` event), served by eventlet with the door's HTTP protocol on a free port."""
    # messages handled in the reading green thread, as python-socketio configures its Engine.IO server
    server = engineio.Server(async_mode="eventlet", ping_interval=25, ping_timeout=20, async_handlers=False)
    frames.install(server)
    connected = []

    @server.on("connect")
    def on_connect(sid, environ):
        frames.adopt(server.sockets[sid])
        connected.append(sid)

    listener = eventlet.listen(("127.0.0.1", 0))
    serving = eventlet.spawn(serve_as_the_door, listener, engineio.WSGIApp(server))
    server.url = "ws://127.0.0.1:%d/engine.io/?EIO=4&transport=websocket" % listener.getsockname()[1]
    server.connected = connected
    yield server
    server.pinger.stop()
    serving.kill()
    listener.close()


def serve_as_the_door(listener, app):
    """Accept and serve connections as nameko's ``WebServer.run`` does for the door: each in a
    green thread of its own that does not close the connection when it ends (eventlet's
    ``wsgi.server`` does, which would end a websocket read when readable)."""
    http = wsgi.Server(listener, listener.getsockname(), app, protocol=frames.DoorProtocol, log_output=False)
    while True:
        sock, address = listener.accept()
        eventlet.spawn_n(http.process_request, [address, sock, wsgi.STATE_IDLE])


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


def parked_green_threads():
    """Every green thread waiting somewhere: the code names of its frames, innermost first."""
    parked = []
    for thread in gc.get_objects():
        if isinstance(thread, greenlet.greenlet) and thread.gr_frame is not None:
            names, f = [], thread.gr_frame
            while f is not None:
                names.append(f.f_code.co_name)
                f = f.f_back
            parked.append(names)
    return parked


def test_quiet_clients_have_no_green_thread_waiting_for_them(door_engine):
    def parked_outside_the_pool():
        return [names for names in parked_green_threads() if "_serve" not in names]

    def open_talkative_clients(count):
        clients = [open_client(door_engine) for _ in range(count)]
        for client, _ in clients:  # each says something, then nothing
            client.send("4hello")
        eventlet.sleep(0.2)
        return clients

    clients = open_talkative_clients(5)  # the server's own tasks are running from here on
    before = parked_outside_the_pool()
    clients += open_talkative_clients(20)
    after = parked_outside_the_pool()
    assert not [names for names in after if "_websocket_handler" in names or "handle_one_request" in names]
    assert len(after) == len(before)
    assert 1 <= len(door_engine.reading_threads.idle) <= reading.ReadingThreads.KEEP
    for client, engine_socket in clients:
        assert engine_socket.listener is not None and not engine_socket.handling
        client.close()


def test_a_client_sending_faster_than_it_is_handled_is_read_no_further_and_loses_nothing(door_engine):
    release, handled = eventlet.Event(), []

    @door_engine.on("message")
    def on_message(sid, data):
        if not handled:
            release.wait()  # the first message's handling takes a while
        handled.append(data)

    client, engine_socket = open_client(door_engine)
    messages = [f"{n:05d}" + "m" * 10_000 for n in range(100)]  # 1 MB, four times PAUSE_BYTES
    sending = eventlet.spawn(lambda: [client.send("4" + message) for message in messages])
    with eventlet.Timeout(10):
        while engine_socket.listener is not None:  # read until paused
            eventlet.sleep(0.01)
    assert reading.PAUSE_BYTES < engine_socket.parser.buffered <= reading.PAUSE_BYTES + reading.READ_BYTES
    release.send()
    sending.wait()
    with eventlet.Timeout(10):
        while len(handled) < len(messages):
            eventlet.sleep(0.01)
    assert handled == messages
    assert engine_socket.listener is not None  # read again once handled
    client.close()


def test_websocket_pings_are_answered_and_a_close_is_answered_with_its_status(door_engine):
    client, engine_socket = open_client(door_engine)
    client.ping("are you there")
    opcode, data = client.recv_data(control_frame=True)
    assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    client.send_close(status=3001, reason=b"going")
    opcode, data = client.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", data[:2])[0] == 3001
    with eventlet.Timeout(5):
        while not engine_socket.closed:
            eventlet.sleep(0.01)
    assert engine_socket.sid not in door_engine.sockets


def test_a_frame_that_breaks_the_protocol_is_answered_with_a_close_and_ends_the_connection(door_engine):
    client, engine_socket = open_client(door_engine)
    client.sock.sendall(struct.pack("!BB", 0x81, 5) + b"plain")  # not masked
    opcode, data = client.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", data[:2])[0] == 1002
    with eventlet.Timeout(5):
        while not engine_socket.closed:
            eventlet.sleep(0.01)
    assert engine_socket.listener is None and engine_socket.sid not in door_engine.sockets


def test_a_connection_that_ended_is_freed_at_once_without_the_garbage_collector(door_engine):
    # python-engineio's service task walks a copy of the sockets, sleeping between them, so a
    # pass holds every socket for up to ping_timeout seconds: not started here
    door_engine.start_service_task = False
    gc.disable()  # a reference cycle would keep it until a collection: 5 KB a connection (test_connection_bounds)
    try:
        client, engine_socket = open_client(door_engine)
        client.send("4hello")
        eventlet.sleep(0.1)
        freed = weakref.ref(engine_socket), weakref.ref(engine_socket.websocket)
        del engine_socket
        client.close()
        with eventlet.Timeout(5):
            while freed[0]() is not None:
                eventlet.sleep(0.01)
        assert freed[1]() is None
    finally:
        gc.enable()


def test_the_open_packet_is_written_by_the_connecting_request_without_a_writer_green_thread(door_engine, monkeypatch):
    started = []
    start_writer = frames.DoorEngineSocket._start_writer

    def counted(engine_socket):
        started.append(engine_socket.sid)
        return start_writer(engine_socket)

    monkeypatch.setattr(frames.DoorEngineSocket, "_start_writer", counted)
    client, engine_socket = open_client(door_engine)  # the OPEN packet arrived
    assert started == [] and engine_socket.writer is None
    door_engine.send(engine_socket.sid, "hello")
    assert client.recv() == "4hello"
    client.close()


def test_the_answer_to_the_handshake_leaves_with_the_open_packet_in_one_send(door_engine, monkeypatch):
    sent = []
    sendall = eventlet.greenio.base.GreenSocket.sendall

    def recorded(sock, data, *args):
        sent.append(bytes(data))
        return sendall(sock, data, *args)

    monkeypatch.setattr(eventlet.greenio.base.GreenSocket, "sendall", recorded)
    client, _ = open_client(door_engine)  # the answer and the OPEN packet arrived
    answers = [data for data in sent if data.startswith(b"HTTP/1.1 101 ")]
    assert len(answers) == 1
    head, _, first_frame = answers[0].partition(b"\r\n\r\n")
    assert first_frame[:1] == b"\x81" and first_frame[2:4] == b"0{"  # a text frame: the OPEN packet
    client.close()


def kernel_socket(client):
    """The client's socket under the green one: reads that never wait."""
    return getattr(client.sock, "fd", client.sock)


def test_frames_gathered_are_held_until_the_block_ends_then_arrive_in_order_for_each_client(door_engine):
    (one, first), (other, second) = open_client(door_engine), open_client(door_engine)
    with frames.gathering():
        for n in range(3):
            door_engine.send(first.sid, f"packet {n}")
            door_engine.send(second.sid, f"other {n}")
        with frames.gathering():  # nested: one gathering
            door_engine.send(first.sid, "nested")
        for client in (one, other):
            with pytest.raises(BlockingIOError):
                kernel_socket(client).recv(65536, stdlib_socket.MSG_DONTWAIT)  # nothing written yet
    for engine_socket in (first, second):
        assert not engine_socket.websocket._sendlock.locked() and engine_socket.websocket.gathered is None
    assert [one.recv() for _ in range(4)] == ["4packet 0", "4packet 1", "4packet 2", "4nested"]
    assert [other.recv() for _ in range(3)] == ["4other 0", "4other 1", "4other 2"]
    door_engine.send(first.sid, "after")  # written at once again
    assert one.recv() == "4after"
    one.close()
    other.close()


def test_frames_gathered_in_one_green_thread_do_not_hold_another_threads_writes(door_engine):
    (one, first), (other, second) = open_client(door_engine), open_client(door_engine)
    with frames.gathering():
        door_engine.send(first.sid, "held")
        eventlet.spawn(door_engine.send, second.sid, "not held").wait()
        assert other.recv() == "4not held"
        eventlet.spawn(door_engine.send, first.sid, "joins what is held").wait()  # after it, in order
    assert [one.recv() for _ in range(2)] == ["4held", "4joins what is held"]
    one.close()
    other.close()


def test_frames_gathered_behind_pending_writes_take_their_turn(door_engine):
    client, engine_socket = open_client(door_engine, receive_buffer=4096)
    messages = send_behind_a_full_kernel_buffer(door_engine, engine_socket, 20)
    with frames.gathering():  # something is pending: the usual way, queued
        door_engine.send(engine_socket.sid, "together")
    assert [client.recv() for _ in messages] == ["4" + message for message in messages]
    assert client.recv() == "4together"
    client.close()
