"""The door's Socket.IO transport: every change to upstream internals, in one package.

One layer per module, as python-socketio's own ``pubsub_manager.py`` / ``kombu_manager.py``:

``frames.py``    Engine.IO and websocket: frames, unmasking, direct writes, pings, the WSGI app.
``reading.py``   websockets read when readable: RFC 6455 frames, a pool of handling green threads.
``codec.py``     JSON (orjson) for the door's packets and the room log's batches.
``packets.py``   Socket.IO packets: strict decoding.
``roomlog.py``   the room log on a RabbitMQ stream: append, read in order, a window for replay.
``sessions.py``  recoverable sessions folded from the log (plain data, no I/O).
``presence.py``  who is in which presence room, across doors, folded from the log (plain data).
``manager.py``   the client manager: rooms of this door, emits through the log, resume.
``server.py``    the Socket.IO server: recovery in CONNECT, parking on disconnect, hardening.

Overrides of upstream internals, each written against the version named here (the door
refuses to start with other versions: :func:`check_upstream_versions`; tests in
``tests/unit/realtime/test_transport.py`` pin their behaviour):

=====================================================  ===================  ==============
upstream symbol                                        library              where
=====================================================  ===================  ==============
``eventlet.websocket.RFC6455WebSocket._apply_mask``    eventlet 0.41.3      frames.apply_mask
``engineio.async_drivers.eventlet.WebSocketWSGI``      python-engineio      frames.RecordingWebSocketWSGI
 (via ``engineio.Server._async["websocket"]``)         4.15.1
``engineio.socket.Socket`` queue/websocket internals   python-engineio      frames.write_now
 (``queue``, ``upgraded``, ``websocket._sendlock``)    4.15.1
``engineio.socket.Socket.schedule_ping``,              python-engineio      frames.DoorEngineSocket,
 ``send``, ``_websocket_handler`` (the socket's         4.15.1               frames.Pinger,
 type, changed at ``connect``)                                              reading.ReadsWhenReadable
``eventlet.websocket.RFC6455WebSocket``                eventlet 0.41.3      frames.DoorWebSocket
 ``._send_closing_frame``, ``._send``
``eventlet.websocket.WebSocketWSGI``                   eventlet 0.41.3      frames.RecordingWebSocketWSGI,
 ``._handle_hybi_request`` (its ``eventlet.input``)                          frames.HeldHandshake
``eventlet.wsgi.HttpProtocol.finish``, ``.setup``      eventlet 0.41.3      frames.DoorProtocol
``http.server.BaseHTTPRequestHandler.parse_request``  Python 3.11          frames.DoorProtocol,
                                                                            frames.read_headers
``socketio.WSGIApp.__call__``                          python-socketio      frames.SocketIOApp
                                                       5.18.1
``socketio.packet.Packet.decode``/``data_is_binary``   python-socketio      packets.StrictPacket
``socketio.Manager.emit``, ``BaseManager.basic_*``,    python-socketio      manager.RoomLogManager
 ``get_rooms``, ``initialize``                         5.18.1
``socketio.Server._handle_connect``,                   python-socketio      server.DoorSocketServer
 ``_handle_disconnect``, ``disconnect``,               5.18.1
 ``_handle_eio_message``, ``_handle_event``
=====================================================  ===================  ==============
"""
from importlib.metadata import version

UPSTREAM = {"eventlet": "0.41.3", "python-engineio": "4.15.1", "python-socketio": "5.18.1"}


def check_upstream_versions(installed=None):
    """Refuse to run the transport on library versions its overrides were not written for."""
    installed = installed or {name: version(name) for name in UPSTREAM}
    wrong = {name: installed[name] for name, expected in UPSTREAM.items() if installed[name] != expected}
    if wrong:
        found = ", ".join(f"{name} {found} (written for {UPSTREAM[name]})" for name, found in wrong.items())
        raise RuntimeError(f"services/realtime/transport overrides internals of other versions: {found}; "
                           "re-check each override listed in services/realtime/transport/__init__.py")
