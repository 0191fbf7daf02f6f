"""A command-line Socket.IO client of the course platform: watch rooms, send progress and chat.

    python app/utils/websocket_client_example.py <jwt_token> --course COURSE_ID
    python app/utils/websocket_client_example.py --email ann@example.com --password ... \\
        --video VIDEO_ID --chat VIDEO_ID:"Question about the content"

Every event it receives is printed as one line: ``<UTC time>  <event>  <payload as JSON>``;
its own state changes (connected, disconnected, replies) as ``<UTC time>  [what]  ...``.
Ctrl-C ends it.

It reconnects by itself after a network drop or a server restart. The server does not
remember rooms across connections, so the client emits its ``join_course`` /
``join_video`` again on every (re)connect.

Exit codes: 0 ended normally (Ctrl-C, ``--exit-after``); 2 refused: a bad or expired
token, a failed login, or the server ending the connection ("refused: Invalid token",
"refused: Token expired", ... on one line); 3 the server cannot be reached; 64 bad
command line (as in sysexits.h, so it never mixes with 2).

Needs ``python-socketio[client]`` (python-socketio, requests and websocket-client), which
``make install`` puts in ``.venv``.
"""
import argparse
import json
import sys
import threading
from datetime import datetime, timezone

import requests
import socketio

EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE = 0, 2, 3, 64
REFUSALS = ("Invalid token", "Token expired")


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def say(what, data=None, stream=sys.stdout):
    """One line per event: time, name, compact JSON payload."""
    text = "" if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
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


class CourseClient:
    """python-socketio's ``Client`` with reconnection, rejoining its rooms on every connect."""

    def __init__(self, url, token, courses=(), videos=(), transport=None):
        self.url, self.token = url, token
        self.courses, self.videos = list(courses), list(videos)
        self.transports = [transport] if transport else None
        self.refusal = None
        self.first_connect = threading.Event()
        self.sio = socketio.Client(reconnection=True, reconnection_delay=1, reconnection_delay_max=5)
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("connect_error", self.on_connect_error)
        self.sio.on("*", self.on_event)

    def on_connect(self):
        say("[connected]", {"url": self.url, "sid": self.sio.get_sid()})
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
            self.sio.connect(self.url, auth={"token": self.token}, transports=self.transports, wait_timeout=10)
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
        client = CourseClient(url, token, args.course, args.video, args.transport)
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
