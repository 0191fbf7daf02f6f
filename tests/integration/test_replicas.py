"""Two door replicas share rooms over RabbitMQ: a room emit reaches the clients of both."""
from services.stack import Stack
from tests.integration.conftest import SocketClient, free_port


def test_room_emits_reach_the_clients_of_every_door_replica(stack, api, campus, tmp_path):
    replica = Stack(stack.env, tmp_path, port=free_port(), echo=False)
    replica.start(services=("realtime",))
    clients = []
    try:
        replica.wait_ready(timeout=90)
        course, instructor = campus.course()
        for url in (stack.url, replica.url):
            client = SocketClient(url).connect(auth={"token": campus.enrolled_student(course)["access_token"]})
            client.wait_for("connected")
            client.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
            clients.append(client)
        # either replica may handle each domain event; the other gets it through the exchange
        titles = [f"Renamed {n}" for n in range(4)]
        for title in titles:
            patched = api.call("PATCH", f"/api/v1/courses/{course['id']}", token=instructor["access_token"],
                               json={"title": title})
            assert patched.status_code == 200, patched.text
        for client in clients:
            client.wait_for("course_updated", count=len(titles))
            assert sorted(event["title"] for event in client.events("course_updated")) == titles
    finally:
        for client in clients:
            client.close()
        replica.stop()
