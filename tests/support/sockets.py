"""Socket.IO clients that record what they receive: python-socketio's, and the JavaScript
``socket.io-client`` in a Node process (tests/js/client.mjs)."""
import json
import queue
import subprocess
import threading
import time
from pathlib import Path

import socketio


class SocketClient:
    """A python-socketio ``Client`` that records what it receives, for assertions."""

    def __init__(self, url):
        self.url = url
        self.sio = socketio.Client(reconnection=False)
        self.received = []
        self.connect_error = None
        self.sio.on("*", lambda event, data=None: self.received.append((event, data)))
        self.sio.on("connect_error", self._on_connect_error)

    def _on_connect_error(self, data=None):
        self.connect_error = data

    def connect(self, transports=("websocket",), **kwargs):
        self.sio.connect(self.url, transports=list(transports), wait_timeout=10, **kwargs)
        return self

    def events(self, name):
        return [data for event, data in self.received if event == name]

    def wait_for(self, name, count=1, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.events(name)) >= count:
                return self.events(name)
            self.sio.sleep(0.02)
        raise AssertionError(f"no {name!r} within {timeout}s; got {self.received}")

    def close(self):
        if self.sio.connected:
            self.sio.disconnect()


class NodeClient:
    """The JavaScript ``socket.io-client`` (tests/js/client.mjs) in a Node process."""

    SCRIPT = Path(__file__).resolve().parent.parent / "js" / "client.mjs"

    def __init__(self, url, token):
        self.lines = queue.Queue()
        self.received = []
        self._next_id = 0
        self.process = subprocess.Popen(["node", str(self.SCRIPT), url, token], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            message = json.loads(line)
            self.received.append(message)
            self.lines.put(message)

    def wait(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.received):
                if predicate(message):
                    return message
            time.sleep(0.02)
        raise AssertionError(f"Node client: nothing matched within {timeout}s; got {self.received}")

    def wait_for(self, event, timeout=10):
        return self.wait(lambda m: m.get("event") == event, timeout)["data"]

    def call(self, event, data, timeout=10):
        self._next_id += 1
        call_id = self._next_id
        self.process.stdin.write(json.dumps({"id": call_id, "emit": event, "data": data}) + "\n")
        self.process.stdin.flush()
        return self.wait(lambda m: m.get("ack") == call_id, timeout)["data"]

    def events(self, name):
        return [m["data"] for m in self.received if m.get("event") == name]

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write('{"close": true}\n')
                self.process.stdin.flush()
                self.process.wait(5)
            except Exception:
                self.process.kill()
