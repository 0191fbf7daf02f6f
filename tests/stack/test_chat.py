"""Video rooms with memory on the real stack with two doors (issue 16): history on join, older
pages, deletion, mutes, a message acknowledged just before its door is SIGKILLed, and who is
watching across doors (presence: two tabs on two doors, a door that dies)."""
import signal
import time

import pytest

from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient
from services.stack import rabbitmqctl
from tests.support.stack import own_vhost, running_stack


@pytest.fixture(scope="module")
def doors(key_files, tmp_path_factory):
    """A stack with two of every process; the tests here talk to both doors."""
    with own_vhost() as amqp_uri, \
            running_stack(amqp_uri, key_files, tmp_path_factory.mktemp("chat"), replicas=2) as running:
        yield running


@pytest.fixture
def room(doors):
    """A course with one video, its instructor and two enrolled students (logged in)."""
    campus = Campus(Api(doors.urls[0]))
    course, instructor = campus.course()
    return {"course": course, "video_id": course["videos"][0]["id"], "instructor": instructor,
            "student": campus.enrolled_student(course), "other": campus.enrolled_student(course)}


@pytest.fixture
def campus_of():
    return lambda url: Campus(Api(url))


@pytest.fixture
def clients():
    made = []

    def connect(url, session, video_id=None):
        client = SocketClient(url).connect(auth={"token": session["access_token"]})
        made.append(client)
        client.wait_for("connected")
        if video_id:
            client.joined = client.sio.call("join_video", {"video_id": video_id}, timeout=10)
        return client

    yield connect
    for client in made:
        client.close()


def send(client, video_id, text):
    return client.sio.call("send_chat_message", {"video_id": video_id, "message": text, "timestamp": 1.5},
                           timeout=10)


def history(url, session, video_id, **params):
    return Api(url).call("GET", f"/api/v1/videos/{video_id}/messages", token=session["access_token"], params=params)


def wait_stored(url, session, video_id, ids, timeout=15):
    """The history once every id in ``ids`` is stored (storing is asynchronous by design)."""
    deadline = time.monotonic() + timeout
    while True:
        page = history(url, session, video_id, limit=100).json()
        if set(ids) <= {m["id"] for m in page["data"]} or time.monotonic() > deadline:
            return page


def test_history_on_join_carries_what_was_said_through_the_other_door(doors, room, clients):
    video_id = room["video_id"]
    speaker = clients(doors.urls[0], room["student"], video_id)
    assert speaker.joined["recent_messages"] == []
    acks = [send(speaker, video_id, f"question {n}") for n in range(3)]
    live = speaker.wait_for("new_chat_message", count=3)
    assert [m["id"] for m in live] == [a["id"] for a in acks]  # the acknowledgement is the room's payload
    assert acks == live and len({a["id"] for a in acks}) == 3
    assert [a["id"] for a in acks] == sorted(a["id"] for a in acks)  # time-ordered ids
    wait_stored(doors.urls[1], room["other"], video_id, [a["id"] for a in acks])

    joiner = clients(doors.urls[1], room["other"], video_id)
    assert joiner.joined["recent_messages"] == acks
    assert joiner.events("joined_video")[-1]["recent_messages"] == acks  # the reply event too


def test_older_history_comes_in_pages_before_a_message_id(doors, room, clients):
    video_id = room["video_id"]
    speaker = clients(doors.urls[1], room["student"], video_id)
    ids = [send(speaker, video_id, f"m{n}")["id"] for n in range(7)]
    wait_stored(doors.urls[0], room["instructor"], video_id, ids)

    first = history(doors.urls[0], room["instructor"], video_id, limit=3).json()
    assert [m["id"] for m in first["data"]] == ids[4:]
    assert first["meta"] == {"limit": 3, "before": None, "next_before": ids[4]}
    second = history(doors.urls[0], room["student"], video_id, limit=3, before=ids[4]).json()
    assert [m["id"] for m in second["data"]] == ids[1:4] and second["meta"]["next_before"] == ids[1]
    last = history(doors.urls[1], room["other"], video_id, limit=3, before=ids[1]).json()
    assert [m["id"] for m in last["data"]] == ids[:1] and last["meta"]["next_before"] is None
    default = history(doors.urls[0], room["student"], video_id).json()
    assert default["meta"]["limit"] == 50 and [m["id"] for m in default["data"]] == ids

    assert history(doors.urls[0], room["student"], video_id, limit=101).status_code == 422
    outsider = Api(doors.urls[0]).new_user("student")
    assert history(doors.urls[0], outsider, video_id).status_code == 403
    assert history(doors.urls[0], outsider, "00000000-0000-0000-0000-000000000000").status_code == 404
    assert Api(doors.urls[0]).call("GET", f"/api/v1/videos/{video_id}/messages").status_code == 401


def test_the_instructor_and_the_author_delete_others_may_not(doors, room, clients):
    video_id, api = room["video_id"], Api(doors.urls[0])
    speaker = clients(doors.urls[0], room["student"], video_id)
    watcher = clients(doors.urls[1], room["other"], video_id)
    first, second, kept = (send(speaker, video_id, text)["id"] for text in ("rude", "typo", "fine"))
    wait_stored(doors.urls[0], room["student"], video_id, [first, second, kept])

    def delete(session, message_id):
        return api.call("DELETE", f"/api/v1/videos/{video_id}/messages/{message_id}", token=session["access_token"])

    refused = delete(room["other"], first)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    by_instructor = delete(room["instructor"], first)
    assert by_instructor.status_code == 200 and by_instructor.json() == {"data": {"id": first, "deleted": True}}
    by_author = delete(room["student"], second)
    assert by_author.json() == {"data": {"id": second, "deleted": True}}
    assert delete(room["student"], "01900000-0000-7000-8000-000000000000").status_code == 404

    course_id = room["course"]["id"]
    heard = []
    for client in (speaker, watcher):  # both doors' clients of the room hear each deletion once
        client.wait_for("chat_message_deleted", count=2)
        heard.append(client.events("chat_message_deleted"))
        assert sorted(heard[-1], key=lambda event: event["id"]) == [
            {"id": first, "video_id": video_id, "course_id": course_id},
            {"id": second, "video_id": video_id, "course_id": course_id}]
    # in one order on both doors (the room log's); which deletion comes first is not fixed: two
    # domain events may be relayed by two doors at once (a fresh-clone CI saw second, first)
    assert heard[0] == heard[1]
    assert [m["id"] for m in history(doors.urls[1], room["other"], video_id).json()["data"]] == [kept]
    assert [m["id"] for m in clients(doors.urls[1], room["other"], video_id).joined["recent_messages"]] == [kept]


def test_a_mute_and_its_lifting_hold_on_both_doors_within_a_second(doors, room, clients):
    video_id, course_id = room["video_id"], room["course"]["id"]
    api, student = Api(doors.urls[0]), room["student"]
    on_each_door = [clients(url, student, video_id) for url in doors.urls]
    muted_path = f"/api/v1/courses/{course_id}/mutes"

    refused = api.call("POST", muted_path, token=room["other"]["access_token"],
                       json={"user_id": student["user"]["id"], "minutes": 5})
    assert refused.status_code == 403
    muted = api.call("POST", muted_path, token=room["instructor"]["access_token"],
                     json={"user_id": student["user"]["id"], "minutes": 5})
    assert muted.status_code == 201, muted.text
    assert set(muted.json()["data"]) == {"course_id", "user_id", "until"}
    until = muted.json()["data"]["until"]

    def answers_within_a_second(client, predicate):
        deadline = time.monotonic() + 1.0
        while True:
            answer = send(client, video_id, "still here?")
            if predicate(answer) or time.monotonic() > deadline:
                return answer
            time.sleep(0.05)

    for client in on_each_door:
        answer = answers_within_a_second(client, lambda a: a.get("code") == "muted")
        assert answer == {"message": answer["message"], "code": "muted", "event": "send_chat_message",
                          "until": until}
        assert client.events("error")[-1] == answer
    # the other student is not muted
    assert "id" in send(clients(doors.urls[1], room["other"], video_id), video_id, "I can talk")

    lifted = Api(doors.urls[1]).call("DELETE", f"{muted_path}/{student['user']['id']}",
                                     token=room["instructor"]["access_token"])
    assert lifted.status_code == 200, lifted.text
    for client in on_each_door:
        assert "id" in answers_within_a_second(client, lambda a: "id" in a)


def test_messages_the_broker_refuses_while_the_chat_service_is_gone_are_stored_once_it_is_back(
        doors, room, clients):
    """The chat service stopped and its queue deleted: the broker refuses every hand-over (mandatory
    routing finds no queue). Senders are acknowledged all the same, the room gets every message at
    once, and the doors hold them until the chat service has declared its queue again."""
    video_id = room["video_id"]
    speakers = [clients(url, room["student"], video_id) for url in doors.urls]
    doors.stop_instances(doors.instances("chat"))
    vhost = doors.env["AMQP_URI"].rsplit("/", 1)[1]
    rabbitmqctl("delete_queue", "-p", vhost, "evt-realtime-chat_message_sent--chat.on_chat_message_sent")
    try:
        acks = [send(speaker, video_id, f"while away {n}") for n in range(3) for speaker in speakers]
        assert all("id" in ack for ack in acks), acks
        speakers[0].wait_for("new_chat_message", count=len(acks))
    finally:
        for instance in doors.instances("chat"):
            doors.start_service(instance)
        doors.wait_ready(timeout=60)
    page = wait_stored(doors.urls[0], room["student"], video_id, [a["id"] for a in acks])
    assert [m["id"] for m in page["data"]] == sorted(a["id"] for a in acks)  # each once, in time order


def test_a_message_acknowledged_just_before_its_door_is_killed_is_in_history(doors, room, clients):
    video_id = room["video_id"]
    speaker = clients(doors.urls[1], room["student"], video_id)
    ack = send(speaker, video_id, "last words")
    doors.stop_service("realtime-2", sig=signal.SIGKILL)
    try:
        page = wait_stored(doors.urls[0], room["student"], video_id, [ack["id"]])
        assert [m for m in page["data"] if m["id"] == ack["id"]] == [ack]
    finally:
        doors.start_service("realtime-2")
        doors.wait_ready(timeout=60)


# -- presence -----------------------------------------------------------------------------------

def who(session):
    return {"user_id": session["user"]["id"], "user_email": session["user"]["email"]}


def presence_of(client, event, session):
    return [e for e in client.events(event) if e["user_id"] == session["user"]["id"]]


def counts(client, video_id):
    return [e["watching_count"] for e in client.events("video_presence") if e["video_id"] == video_id]


def wait_count(client, video_id, count, timeout=20):
    # counts come from the leader door; one that an earlier test killed is taken for alive
    # until its silence shows (up to 15 s), and its counts are announced by the next leader
    deadline = time.monotonic() + timeout
    while counts(client, video_id)[-1:] != [count] and time.monotonic() < deadline:
        time.sleep(0.05)
    return counts(client, video_id)


def test_two_tabs_on_two_doors_are_one_watcher_announced_once(doors, room, clients, campus_of):
    video_id, course_id = room["video_id"], room["course"]["id"]
    teacher = clients(doors.urls[0], room["instructor"])
    teacher.sio.call("join_course", {"course_id": course_id}, timeout=10)  # the instructor room
    ann = clients(doors.urls[0], room["student"], video_id)
    assert ann.joined["watching"] == [who(room["student"])] and ann.joined["watching_count"] == 1
    assert wait_count(teacher, video_id, 1)[-1:] == [1]

    first_tab = clients(doors.urls[1], room["other"], video_id)
    assert first_tab.joined["watching_count"] == 2
    assert sorted(first_tab.joined["watching"], key=str) == sorted([who(room["student"]), who(room["other"])], key=str)
    assert ann.wait_for("user_joined_video")[0] == {**who(room["other"]), "video_id": video_id, "course_id": course_id}

    second_tab = clients(doors.urls[0], room["other"], video_id)  # the same user, on the other door
    assert second_tab.joined["watching_count"] == 2
    # a third user joining through the same door after the second tab: the door announces in
    # the order it read the records, so a join announced for the second tab would come first
    carol = campus_of(doors.urls[0]).enrolled_student(room["course"])
    clients(doors.urls[0], carol, video_id)
    assert ann.wait_for("user_joined_video", count=2)[1]["user_id"] == carol["user"]["id"]
    assert len(presence_of(ann, "user_joined_video", room["other"])) == 1
    assert wait_count(teacher, video_id, 3)[-1:] == [3]

    first_tab.sio.call("leave_video", {"video_id": video_id}, timeout=10)  # one tab of two leaves: nothing
    second_tab.close()  # the last one goes
    left = ann.wait_for("user_left_video")[0]
    assert left == {**who(room["other"]), "video_id": video_id, "course_id": course_id}
    assert len(presence_of(ann, "user_left_video", room["other"])) == 1
    assert wait_count(teacher, video_id, 2)[-1:] == [2]
    # at most one video_presence a second per video, and only on changes
    assert all(a != b for a, b in zip(counts(teacher, video_id), counts(teacher, video_id)[1:]))


def test_when_a_door_dies_its_watchers_leave_within_30_seconds(doors, room, clients):
    video_id, course_id = room["video_id"], room["course"]["id"]
    teacher = clients(doors.urls[0], room["instructor"])
    teacher.sio.call("join_course", {"course_id": course_id}, timeout=10)
    ann = clients(doors.urls[0], room["student"], video_id)
    on_dying_door = clients(doors.urls[1], room["other"], video_id)
    ann.wait_for("user_joined_video")
    assert wait_count(teacher, video_id, 2)[-1:] == [2]

    killed = time.monotonic()
    doors.stop_service("realtime-2", sig=signal.SIGKILL)
    try:
        left = ann.wait_for("user_left_video", timeout=35)[0]
        seconds = time.monotonic() - killed
        print(f"\n[presence] a dead door's watcher left the room {seconds:.1f}s after the kill")
        assert left["user_id"] == room["other"]["user"]["id"] and seconds <= 30
        assert wait_count(teacher, video_id, 1)[-1:] == [1]
    finally:
        doors.start_service("realtime-2")
        doors.wait_ready(timeout=60)
