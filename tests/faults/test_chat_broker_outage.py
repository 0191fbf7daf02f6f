"""RabbitMQ stopped while students chat on two doors: every message a door acknowledged during
the outage is stored once the broker is back, each once (issue 16).

While the broker is away a door still acknowledges a chat message: its room emit waits in the
room log's outbox, and the hand-over to the chat service, refused, is held by the door
(``ChatMessages`` in services/realtime/dependencies.py) and retried every second. Nothing here
needs the broker until it is back: the senders' memberships are cached by their first message,
the mutes are in the door's memory, acknowledgements go straight to the socket.
"""
import time

from services.stack import rabbitmqctl
from tests.faults.conftest import wait_until
from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient
from tests.support.stack import log_text, own_vhost, running_stack

ROUNDS = 4  # messages each client sends during the outage, spread over it
OUTAGE_SECONDS = 5


def send(client, video_id, text):
    return client.sio.call("send_chat_message", {"video_id": video_id, "message": text, "timestamp": 1},
                           timeout=10)


def test_chat_messages_acknowledged_during_a_broker_outage_are_stored_once_it_is_back(key_files, tmp_path):
    with own_vhost() as amqp_uri, running_stack(amqp_uri, key_files, tmp_path, door_replicas=2) as stack:
        api = Api(stack.url)
        campus = Campus(api)
        course, _ = campus.course()
        video_id = course["videos"][0]["id"]
        students = [campus.enrolled_student(course) for _ in range(2)]
        clients = [SocketClient(url).connect(auth={"token": student["access_token"]})  # each on each door
                   for student in students for url in stack.urls]
        try:
            for client in clients:
                assert "code" not in client.sio.call("join_video", {"video_id": video_id}, timeout=10)
            # before: the hand-over path works and each sender's membership is cached
            before = [send(client, video_id, "before") for client in clients]
            assert all("id" in ack for ack in before), before

            def stored_ids():
                page = api.call("GET", f"/api/v1/videos/{video_id}/messages", token=students[0]["access_token"],
                                params={"limit": 100})
                return [m["id"] for m in page.json()["data"]] if page.status_code == 200 else []

            wait_until(lambda: set(stored_ids()) == {a["id"] for a in before}, timeout=30)

            rabbitmqctl("stop_app")
            try:
                during = []
                for n in range(ROUNDS):
                    during += [send(client, video_id, f"during {n}") for client in clients]
                    time.sleep(OUTAGE_SECONDS / ROUNDS)
            finally:
                rabbitmqctl("start_app")
            # acknowledged all the same: the door holds what the broker refused
            assert all("id" in ack for ack in during), during
            held = sum(log_text(stack, door).count("could not hand over chat message")
                       for door in stack.instances("realtime"))
            assert held > 0, "no hand-over was refused: the outage did not reach the chat path"

            expected = sorted(a["id"] for a in before + during)
            # the doors publish what they hold, the chat service stores it: each once, in time order
            wait_until(lambda: stored_ids() == expected, timeout=120, interval=1)
        finally:
            for client in clients:
                client.close()
