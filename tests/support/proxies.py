"""A TCP proxy in front of the doors: a load balancer for the tests, and the network
faults of the recovery tests.

What it can do to the connections it carries:

- ``cut()``: close both sides of every live connection (the client sees its transport
  close, the door sees the close): a network drop both ends notice.
- ``half_open()``: close the client's side only and keep the door's side open and silent:
  nothing forwarded, never closed (until ``close()``), so the door notices only when its
  ping timeout fires: the commonest mobile failure.
- ``switch_to(port)``: new connections go to that door first (a balancer moving clients);
  with ``cut()`` it moves every live client.
- failover: when the preferred door refuses, the next one is tried (a balancer's health
  check); ``block()`` refuses every new connection until ``unblock()`` (a client offline).

Threads are green in the test process (tests/conftest.py monkey-patches), plain otherwise.
"""
import socket
import threading
import time


class Link:
    """One client connection and its upstream."""

    def __init__(self, client, upstream, upstream_port):
        self.client, self.upstream, self.upstream_port = client, upstream, upstream_port
        self.silent = False  # half-open: the door's side is held, never forwarded nor closed


def _shutdown(sock):
    """End both directions: the peer sees the close, and a thread blocked reading the socket
    wakes (with eventlet, closing a socket another green thread waits on would leave the hub
    listening on a number the OS hands out again: so the reader closes, never the others)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close(sock):
    try:
        sock.close()
    except OSError:
        pass


class TcpProxy:
    """Listens on a port of its own (``url``) and carries each connection to the first of
    ``upstream_ports`` (the doors) that answers."""

    def __init__(self, *upstream_ports, host="127.0.0.1"):
        self.host = host
        self.upstreams = list(upstream_ports)
        self.links = set()
        self.held = []  # door sides of half-open links
        self.blocked = False
        self.accepted = 0
        self._lock = threading.Lock()
        self._closed = False
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(1024)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    # -- faults ----------------------------------------------------------------

    def switch_to(self, port):
        """New connections go to ``port`` first (the others stay as failover)."""
        self.upstreams = [port] + [p for p in self.upstreams if p != port]

    def cut(self):
        """Close both sides of every live link; returns how many."""
        with self._lock:
            links, self.links = list(self.links), set()
        for link in links:
            _shutdown(link.client)
            _shutdown(link.upstream)
        return len(links)

    def half_open(self):
        """Close the client side of every live link, keep the door side open and silent."""
        with self._lock:
            links, self.links = list(self.links), set()
            for link in links:
                link.silent = True
                self.held.append(link.upstream)
        for link in links:
            _shutdown(link.client)
        return len(links)

    def block(self):
        self.blocked = True

    def unblock(self):
        """Accept again; the moment it happened (epoch seconds)."""
        self.blocked = False
        return time.time()

    def live(self, port=None):
        """How many links are live (to ``port``, or to any door)."""
        with self._lock:
            return sum(1 for link in self.links if port is None or link.upstream_port == port)

    def close(self):
        self._closed = True
        _shutdown(self.listener)  # wakes the accepting thread, which closes it
        self.cut()
        for sock in self.held:
            _shutdown(sock)
        self.held = []

    # -- plumbing ----------------------------------------------------------------

    def _accept(self):
        try:
            while not self._closed:
                client, _ = self.listener.accept()
                threading.Thread(target=self._open, args=(client,), daemon=True).start()
        except OSError:
            pass
        finally:
            _close(self.listener)

    def _open(self, client):
        upstream = None
        if not self.blocked:
            for port in list(self.upstreams):
                try:
                    upstream = socket.create_connection((self.host, port), timeout=2)
                    upstream.settimeout(None)
                    break
                except OSError:
                    continue
        if upstream is None:  # blocked, or no door answers: the client sees its connection refused
            _shutdown(client)
            _close(client)
            return
        link = Link(client, upstream, port)
        with self._lock:
            self.links.add(link)
            self.accepted += 1
        threading.Thread(target=self._pipe, args=(link, client, upstream), daemon=True).start()
        threading.Thread(target=self._pipe, args=(link, upstream, client), daemon=True).start()

    def _pipe(self, link, source, target):
        """Forward ``source`` to ``target`` until either ends; then end the other direction too
        and close ``source`` (each socket is closed by the one thread that reads it)."""
        source_ended = False
        try:
            while True:
                try:
                    data = source.recv(65536)
                except (OSError, EOFError, ValueError):  # eventlet: EOFError for a socket closed under us
                    data = b""
                if not data:
                    source_ended = True
                    break
                if link.silent:
                    break
                try:
                    target.sendall(data)
                except (OSError, EOFError, ValueError):
                    break
        finally:
            with self._lock:
                self.links.discard(link)
            if link.silent:
                # half-open: the door's side stays open and unread until it ends by itself
                # or close() shuts it; the client's side was shut by half_open()
                if source is link.client or source_ended:
                    _close(source)
            else:
                _shutdown(target)
                _close(source)
