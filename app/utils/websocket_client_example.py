"""A command-line Socket.IO client of the course platform: watch rooms, send progress and chat.

    python app/utils/websocket_client_example.py <jwt_token> --course COURSE_ID
    python app/utils/websocket_client_example.py --email ann@example.com --password ... \\
        --video VIDEO_ID --chat VIDEO_ID:"Question about the content"

Every event it receives is printed as one line: ``<UTC time>  <event>  <payload as JSON>``;
its own state changes (connected, disconnected, replies) as ``<UTC time>  [what]  ...``.
Ctrl-C ends it.

It reconnects by itself after a network drop or a server restart, and asks for a
recoverable session (``auth: {token, recover: true}``): the server's CONNECT reply then
carries a private session id (``pid``) and every room event carries its offset as its last
argument. The client keeps both and presents them on its next connect, as socket.io-client
4.6+ does. When the server recovers the session (within ``RECOVERY_WINDOW_SECONDS``, 120 s
by default, on any door), the connection keeps its sid and its rooms and first receives
every room event it missed, once and in order: the client prints ``[recovered]`` and does
not join again. Otherwise (window passed, ``--no-recover``, a server without recovery) the
connection starts in no room, and the client emits its ``join_course`` / ``join_video``
again. The offset is stripped before an event is printed or handed to any handler.

Exit codes: 0 ended normally (Ctrl-C, ``--exit-after``); 2 refused: a bad or expired
token, a failed login, or the server ending the connection ("refused: Invalid token",
"refused: Token expired", ... on one line); 3 the server cannot be reached; 64 bad
command line (as in sysexits.h, so it never mixes with 2).

Needs ``python-socketio[client]`` (python-socketio, requests and websocket-client), which
``make install`` puts in ``.venv``.
"""
import argparse
import inspect
import json
import sys
import threading
from datetime import datetime, timezone

import engineio
import requests
import socketio

EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE = 0, 2, 3, 64
REFUSALS = ("Invalid token", "Token expired")


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_one_line_at_a_time = threading.Lock()


def say(what, data=None, stream=sys.stdout):
    """One line per event: time, name, compact JSON payload (whole lines, whichever thread says it)."""
    text = "" if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    with _one_line_at_a_time:
        print(f"{now()}  {what}  {text}".rstrip(), file=stream, flush=True)


class Refused(Exception):
    """The server (or the login) said no: exit code 2."""


class Unreachable(Exception):
    """No server answered: exit code 3."""


# -- the command line --------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def progress_report(text):
    """VIDEO:COURSE:PERCENT:SECONDS -> the ``video_progress`` payload."""
    try:
        video_id, course_id, percent, seconds = text.split(":")
        return {"video_id": video_id, "course_id": course_id, "progress": float(percent), "timestamp": float(seconds)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected VIDEO:COURSE:PERCENT:SECONDS, got {text!r}") from None


def chat_message(text):
    """VIDEO:TEXT -> the ``send_chat_message`` payload (stamped when sent)."""
    video_id, colon, message = text.partition(":")
    if not (video_id and colon and message.strip()):
        raise argparse.ArgumentTypeError(f"expected VIDEO:TEXT, got {text!r}")
    return {"video_id": video_id, "message": message}


def parse_args(argv):
    parser = Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog="Exit codes: 0 done, 2 refused (token or login), 3 server unreachable, 64 usage.")
    parser.add_argument("token", nargs="?", help="an access token (JWT); or log in with --email/--password")
    parser.add_argument("--email", help="log in with POST /api/v1/auth/login instead of passing a token")
    parser.add_argument("--password", help="the password for --email")
    parser.add_argument("--url", default="http://localhost:5000", help="the door (default: %(default)s)")
    parser.add_argument("--course", action="append", default=[], metavar="COURSE_ID",
                        help="join this course's room on every (re)connect; repeatable")
    parser.add_argument("--video", action="append", default=[], metavar="VIDEO_ID",
                        help="join this video's room on every (re)connect; repeatable")
    parser.add_argument("--progress", action="append", default=[], type=progress_report,
                        metavar="VIDEO:COURSE:PERCENT:SECONDS", help="send video_progress once connected; repeatable")
    parser.add_argument("--chat", action="append", default=[], type=chat_message, metavar="VIDEO:TEXT",
                        help="send a chat message once connected (joins that video's room); repeatable")
    parser.add_argument("--exit-after", type=float, metavar="SECONDS",
                        help="disconnect and exit after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--transport", choices=("websocket", "polling"),
                        help="force one transport (default: polling, then upgrade to websocket)")
    parser.add_argument("--no-recover", dest="recover", action="store_false",
                        help="do not ask for a recoverable session: rejoin the rooms after every reconnect")
    args = parser.parse_args(argv)
    if bool(args.token) == bool(args.email):
        parser.error("give either a token or --email (with --password)")
    if args.email and not args.password:
        parser.error("--email needs --password")
    # chatting needs the video room; joining it is implied
    args.video += [m["video_id"] for m in args.chat if m["video_id"] not in args.video]
    return args


# -- the client --------------------------------------------------------------------------

def log_in(url, email, password):
    """The access token for these credentials (the HTTP API's login)."""
    try:
        answer = requests.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10)
    except requests.RequestException as exc:
        raise Unreachable(f"cannot reach {url}: {type(exc).__name__}") from None
    body = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
    if answer.status_code != 200:
        raise Refused(body.get("error", {}).get("message") or f"login failed with HTTP {answer.status_code}")
    return body["data"]["access_token"]


class InOrderEngineIOClient(engineio.Client):
    """python-engineio's ``Client`` that hands each message on in the order it arrived.

    Upstream (python-engineio 4.15.1, ``engineio.client.Client._trigger_event``) starts a new
    thread for every message, so two room events that arrive together can reach the handlers
    in either order, and a recovering client could keep an older offset than the last event
    it saw. Here messages are handled one after the other on the thread that reads them, as
    socket.io-client handles them in a browser. The price: a handler must not wait for the
    server (``call()`` inside a handler would wait for an answer this thread has to read).
    """

    def _trigger_event(self, event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class RecoveringClient(socketio.Client):
    """python-socketio's ``Client`` with Socket.IO connection state recovery, as the
    JavaScript socket.io-client (>= 4.6) does it, and events handled in order
    (``InOrderEngineIOClient``).

    python-socketio's client has none, so it keeps the session's ``pid`` and the last
    offset itself and presents both in the ``auth`` of its next CONNECT:

    - ``auth()`` is given to ``connect(auth=...)``, python-socketio's public seam: a
      callable is asked for the auth data on every connection attempt, reconnects included.
    - ``_handle_connect(namespace, data)`` extends python-socketio 5.18.1's
      ``socketio.client.Client._handle_connect``, which receives the CONNECT packet's data
      (``{"sid", "pid"}``) but hands none of it to the ``connect`` handler: here the
      ``pid`` is kept, and ``recovered`` set when the server answered with the pid it was
      given (the session was recovered: same sid, same rooms) before ``connect`` handlers run.
    - ``_handle_event(namespace, id, data)`` extends ``socketio.client.Client._handle_event``
      (5.18.1): a room event's last argument is its offset (a string after the one payload
      every event of this platform has); it is kept and removed before any handler is
      called, so handlers see exactly what a client without recovery sees.

    ``UPSTREAM`` lists the methods extended here with their signatures as written against;
    ``supported()`` checks them, so other python-socketio / python-engineio releases run
    the plain ``socketio.Client`` without recovery (said on stderr) instead of mishandling
    packets.
    """

    UPSTREAM = {(socketio.Client, "_handle_connect"): "(self, namespace, data)",
                (socketio.Client, "_handle_event"): "(self, namespace, id, data)",
                (socketio.Client, "_engineio_client_class"): "(self)",
                (engineio.Client, "_trigger_event"): "(self, event, *args, **kwargs)"}

    def __init__(self, token, recover=True, **kwargs):
        super().__init__(**kwargs)
        self.token = token
        self.recover = recover
        self.pid = None  # the session id the server gave us (private: never printed)
        self.offset = None  # the offset of the last room event received in that session
        self.recovered = False  # was the last connect a recovery?
        self._offered_pid = None

    @classmethod
    def supported(cls):
        """Are the installed libraries' methods the ones extended here (same names and signatures)?"""
        for (owner, name), signature in cls.UPSTREAM.items():
            method = getattr(owner, name, None)
            if method is None or str(inspect.signature(method)) != signature:
                return False
        return True

    def _engineio_client_class(self):
        return InOrderEngineIOClient

    def auth(self):
        """The CONNECT packet's auth for this attempt: the token, and the session to recover."""
        auth = {"token": self.token}
        if self.recover:
            auth["recover"] = True
            if self.pid is not None:
                auth["pid"] = self.pid
                if self.offset is not None:  # none yet: every room event since the session began
                    auth["offset"] = self.offset
        self._offered_pid = auth.get("pid")
        return auth

    def _handle_connect(self, namespace, data):
        if self.recover and (namespace or "/") not in self.namespaces:
            pid = data.get("pid") if isinstance(data, dict) else None
            self.recovered = pid is not None and pid == self._offered_pid
            if not self.recovered:  # a new session (or a server without recovery): its offsets start afresh
                self.pid, self.offset = pid, None
        super()._handle_connect(namespace, data)

    def _handle_event(self, namespace, id, data):
        if self.pid is not None and len(data) > 2 and isinstance(data[-1], str):
            self.offset = data[-1]
            data = data[:-1]
        super()._handle_event(namespace, id, data)


class CourseClient:
    """The command line's client: python-socketio with reconnection and, when ``recover``,
    connection state recovery (``RecoveringClient``); rejoins its rooms on every connect
    that did not recover them."""

    def __init__(self, url, token, courses=(), videos=(), transport=None, recover=False):
        self.url, self.token = url, token
        self.courses, self.videos = list(courses), list(videos)
        self.transports = [transport] if transport else None
        self.refusal = None
        self.first_connect = threading.Event()
        options = dict(reconnection=True, reconnection_delay=1, reconnection_delay_max=5)
        if RecoveringClient.supported():
            self.sio = RecoveringClient(token, recover=recover, **options)
            self.auth = self.sio.auth
        else:
            print("python-socketio / python-engineio are not the releases this client was written for "
                  "(5.18.1 / 4.15.1): running without recovery", file=sys.stderr)
            self.sio = socketio.Client(**options)
            self.auth = {"token": token}
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("connect_error", self.on_connect_error)
        self.sio.on("*", self.on_event)

    def on_connect(self):
        say("[connected]", {"url": self.url, "sid": self.sio.get_sid()})
        if getattr(self.sio, "recovered", False):
            # same sid, same rooms: no join; the missed room events come next, before any newer one
            say("[recovered]", {"sid": self.sio.get_sid()})
        else:
            # emitted in order and handled in order by the server: joins come before anything sent next
            for course_id in self.courses:
                self.sio.emit("join_course", {"course_id": course_id})
            for video_id in self.videos:
                self.sio.emit("join_video", {"video_id": video_id})
        self.first_connect.set()

    def on_disconnect(self, reason=None):
        say("[disconnected]", {"reason": str(reason)} if reason else None)

    def on_connect_error(self, data=None):
        message = data.get("message") if isinstance(data, dict) else data
        if message in REFUSALS:
            self.refusal = message
            # a refused token will be refused again: stop reconnecting (from another
            # task, since this handler runs inside the reconnection task it stops)
            self.sio.start_background_task(self.sio.shutdown)
        say("[connect_error]", data)

    def on_event(self, event, data=None):
        say(event, data)
        # an error naming no client event ends the connection (token expired, session
        # ended by a logout); the server disconnects next, and there is no point reconnecting
        if event == "error" and isinstance(data, dict) and "event" not in data:
            self.refusal = data.get("message") or "Disconnected by the server"

    def connect(self):
        try:
            self.sio.connect(self.url, auth=self.auth, transports=self.transports, wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            if self.refusal:
                raise Refused(self.refusal) from None
            raise Unreachable(f"cannot connect to {self.url}: {exc}") from None

    def send(self, event, payload):
        """Emit and print the acknowledgement (the reply, or the error payload)."""
        try:
            reply = self.sio.call(event, payload, timeout=10)
        except socketio.exceptions.TimeoutError:
            reply = {"message": "no acknowledgement within 10 s"}
        say(f"[ack {event}]", reply)

    def run(self, progress=(), chats=(), exit_after=None):
        self.connect()
        self.first_connect.wait(10)
        for report in progress:
            self.send("video_progress", report)
        for chat in chats:
            self.send("send_chat_message", {**chat, "timestamp": now()})
        if exit_after is not None:
            self.sio.sleep(exit_after)
            self.sio.disconnect()
        self.sio.wait()  # returns once disconnected for good (not while reconnecting)
        if self.refusal:
            raise Refused(self.refusal)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    url = args.url.rstrip("/")
    client = None
    try:
        token = args.token or log_in(url, args.email, args.password)
        client = CourseClient(url, token, args.course, args.video, args.transport, recover=args.recover)
        client.run(args.progress, args.chat, args.exit_after)
        return EXIT_OK
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Unreachable as exc:
        print(f"unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        if client is not None and client.sio.connected:
            client.sio.disconnect()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
