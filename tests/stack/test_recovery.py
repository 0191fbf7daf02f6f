"""Connection state recovery (issue 13): sessions that survive drops, moves and door deaths.

Real processes; the clients are the stock JavaScript socket.io-client 4.x asking for
recovery (``auth: {token, recover: true}``, tests/js/crowd.mjs), joining their rooms only
when a connect was not recovered; the network faults come from a TCP proxy in front of
the doors (tests/support/proxies.py); the room events are numbered chat messages
(``ChatStream``). Every scenario prints one ``[recovery]`` line with what it measured
(events lost, duplicated, seconds from the fault to every client recovered) for
docs/reliability.md. The broker restart is in tests/faults/test_recovery_broker.py.
"""
import signal
import time

import jwt
import pytest
import socketio

from tests.support import forge
from tests.support.crowd import ARITY, CHAT, DATA, KEY, NAME, OFFSET, Crowd, Member, Room, assess, judge
from tests.support.proxies import TcpProxy
from tests.support.sockets import SocketClient
from tests.support.stack import own_vhost, running_stack

WINDOW = 6  # RECOVERY_WINDOW_SECONDS of the one-door stack
PING = 2  # its Engine.IO ping interval and timeout: a silent transport is dropped ~4 s on
CROWD = 200  # recovering clients of the door-death and rolling-restart scenarios
RATE = 10  # chat messages a second flowing through those scenarios


@pytest.fixture(scope="module")
def door(key_files, tmp_path_factory):
    """One door, a short recovery window and fast pings."""
    with own_vhost() as amqp_uri, running_stack(
            amqp_uri, key_files, tmp_path_factory.mktemp("recovery"), RECOVERY_WINDOW_SECONDS=str(WINDOW),
            SOCKET_PING_INTERVAL_SECONDS=str(PING), SOCKET_PING_TIMEOUT_SECONDS=str(PING)) as running:
        yield running


@pytest.fixture(scope="module")
def doors(key_files, tmp_path_factory):
    """Two doors (one process of every other service), default settings."""
    with own_vhost() as amqp_uri, \
            running_stack(amqp_uri, key_files, tmp_path_factory.mktemp("recovery-doors"), door_replicas=2) as running:
        yield running


@pytest.fixture
def crowd():
    made = Crowd()
    yield made
    made.close()


@pytest.fixture
def closing():
    """``closing(thing)`` -> thing, closed after the test (proxies, chat streams)."""
    things = []

    def keep(thing):
        things.append(thing)
        return thing

    yield keep
    for thing in reversed(things):
        thing.close()


def drop(crowd, proxy, member_id, block=True):
    """Cut the member's connection (kept offline while ``block``); the moment it happened."""
    before = len(crowd.reports("disconnect", member_id))
    if block:
        proxy.block()
    cut = time.time()
    proxy.cut()
    crowd.wait(lambda: len(crowd.reports("disconnect", member_id)) > before, 10, f"{member_id} told of the drop")
    return cut


def chat_keys(record):
    return [e[KEY] for e in record["events"] if e[NAME] == CHAT]


def connected_payloads(record):
    return [e[DATA] for e in record["events"] if e[NAME] == "connected"]


def assert_recovered_every_time(record, connects):
    """``connects`` connections, each after the first recovered: same sid, joined once."""
    assert len(record["connects"]) == connects, record["connects"]
    assert all(c["recovered"] for c in record["connects"][1:]), record["connects"]
    assert len({c["sid"] for c in record["connects"]}) == 1, record["connects"]
    assert record["joins"] == 1
    assert [c.get("recovered") for c in connected_payloads(record)] == [False] + [True] * (connects - 1)


def assert_clean(record, sent):
    verdict = judge(record, CHAT, sent)
    assert verdict.clean, (verdict, chat_keys(record), sent)


def report(scenario, record, sent, seconds, since="the fault"):
    verdict = judge(record, CHAT, sent)
    print(f"\n[recovery] {scenario}: lost {len(verdict.lost)}, duplicated {len(verdict.duplicated)}, "
          f"recovered {seconds:.2f}s after {since}")


def back_online(crowd, proxy, cut, member_id, timeout=15):
    """Let the member reconnect; seconds from then until it connected again."""
    unblocked = proxy.unblock()
    crowd.wait_reconnected(cut, [member_id], timeout)
    return crowd.recovered_since(cut, [member_id])[member_id]["t"] / 1000 - unblocked


# -- one door ------------------------------------------------------------------------------

def test_a_dropped_client_gets_its_session_back_with_every_event_it_missed(door, private_key_pem, crowd, closing):
    room = Room(door, private_key_pem, students=1)
    proxy = closing(TcpProxy(door.port))
    watcher = closing(SocketClient(door.url).connect(auth={"token": room.instructor["access_token"]}))
    watcher.sio.call("join_video", {"video_id": room.video_id}, timeout=10)
    stream = closing(room.stream(door.url))
    crowd.add(room.members(proxy.url))
    crowd.wait_joined(["s0"])
    stream.send(2)
    assert not crowd.wait_tally(CHAT, stream.tag, 2, ["s0"])

    cut = drop(crowd, proxy, "s0")
    stream.send(3)  # while it is away
    seconds = back_online(crowd, proxy, cut, "s0")
    stream.send(2)  # after: still in the room, without joining again
    assert not crowd.wait_tally(CHAT, stream.tag, 7, ["s0"])

    record = crowd.dump()["s0"]
    report("drop on one door", record, stream.sent, seconds, "the network came back")
    # in the room's presence throughout: it joined once, and a recovered connection neither
    # leaves nor joins (issue 16)
    student_id = room.students[0][0]
    assert [e["user_id"] for e in watcher.events("user_joined_video") if e["user_id"] == student_id] == [student_id]
    assert [e for e in watcher.events("user_left_video") if e["user_id"] == student_id] == []
    assert not stream.refused
    assert_recovered_every_time(record, connects=2)
    assert_clean(record, stream.sent)
    # the protocol's offset rides after the payload of a room event, never after a reply
    assert all(e[ARITY] == 2 and e[OFFSET] for e in record["events"] if e[NAME] == CHAT)
    assert all(e[ARITY] == 1 for e in record["events"] if e[NAME] in ("connected", "joined_course", "joined_video"))


def test_a_client_dropped_before_any_room_event_recovers_from_its_session_start(door, private_key_pem, crowd,
                                                                                closing):
    room = Room(door, private_key_pem, students=1)
    proxy = closing(TcpProxy(door.port))
    stream = closing(room.stream(door.url))
    crowd.add(room.members(proxy.url))
    crowd.wait_joined(["s0"])
    assert crowd.dump()["s0"]["offset"] is None  # it will present its pid and no offset

    cut = drop(crowd, proxy, "s0")
    stream.send(3)
    seconds = back_online(crowd, proxy, cut, "s0")
    stream.send(1)
    assert not crowd.wait_tally(CHAT, stream.tag, 4, ["s0"])

    record = crowd.dump()["s0"]
    report("drop before any room event", record, stream.sent, seconds, "the network came back")
    assert_recovered_every_time(record, connects=2)
    assert_clean(record, stream.sent)


def test_a_half_open_drop_is_recovered_at_once_and_the_old_transport_timing_out_changes_nothing(
        door, private_key_pem, crowd, closing):
    room = Room(door, private_key_pem, students=2)
    proxy = closing(TcpProxy(door.port))
    stream = closing(room.stream(door.url))
    dropped, observer = room.members(proxy.url)[0], room.members(door.url)[1]
    crowd.add([dropped, observer])
    crowd.wait_joined(["s0", "s1"])
    stream.send(2)
    assert not crowd.wait_tally(CHAT, stream.tag, 2, ["s0"])

    silenced = time.time()
    assert proxy.half_open() == 1  # the client's side closes; the door's stays open and silent
    seconds = crowd.wait_reconnected(silenced, ["s0"], 15)
    recovered_at = crowd.recovered_since(silenced, ["s0"])["s0"]
    stream.send(2)
    time.sleep(2 * PING + 2)  # the old transport's ping timeout fires in here
    stream.send(2)
    assert not crowd.wait_tally(CHAT, stream.tag, 6, ["s0", "s1"])
    time.sleep(0.5)

    records = crowd.dump()
    record = records["s0"]
    report("half-open drop", record, stream.sent, seconds)
    # recovered while the door still believed the old transport alive (it learns only at the timeout)
    assert recovered_at["recovered"] and recovered_at["t"] / 1000 - silenced < 2 * PING
    assert_recovered_every_time(record, connects=2)
    assert len(record["disconnects"]) == 1  # the timeout did not touch the recovered session
    assert record["connected"]
    assert_clean(record, stream.sent)
    # closed quietly: the room was never told the user left
    user_id = room.students[0][0]
    assert not [e for e in records["s1"]["events"] if e[NAME] == "user_left_video" and e[KEY] == user_id]


def test_two_recoveries_in_a_row(door, private_key_pem, crowd, closing):
    room = Room(door, private_key_pem, students=1)
    proxy = closing(TcpProxy(door.port))
    stream = closing(room.stream(door.url))
    crowd.add(room.members(proxy.url))
    crowd.wait_joined(["s0"])
    stream.send(1)
    assert not crowd.wait_tally(CHAT, stream.tag, 1, ["s0"])
    took = []
    for _ in range(2):
        cut = drop(crowd, proxy, "s0")
        stream.send(2)
        took.append(back_online(crowd, proxy, cut, "s0"))
        stream.send(1)
        assert not crowd.wait_tally(CHAT, stream.tag, len(stream.sent), ["s0"])

    record = crowd.dump()["s0"]
    report("two recoveries in a row", record, stream.sent, max(took), "the network came back (slower of two)")
    assert_recovered_every_time(record, connects=3)
    assert_clean(record, stream.sent)


def test_another_users_pid_gets_a_fresh_session_and_the_owner_still_recovers(door, private_key_pem, crowd, closing):
    room = Room(door, private_key_pem, students=2)
    proxy = closing(TcpProxy(door.port))
    stream = closing(room.stream(door.url))
    owner = room.members(proxy.url)[0]
    crowd.add([owner])
    crowd.wait_joined(["s0"])
    stream.send(2)
    assert not crowd.wait_tally(CHAT, stream.tag, 2, ["s0"])

    cut = drop(crowd, proxy, "s0")
    stolen = crowd.dump()["s0"]
    assert stolen["pid"] and stolen["offset"]
    stream.send(2)  # missed by the owner: the thief must not get them
    thief = Member(id="thief", url=door.url, token=room.students[1][1], joins=[],
                   auth={"pid": stolen["pid"], "offset": stolen["offset"]})
    crowd.add([thief])
    crowd.wait(lambda: crowd.reports("connect", "thief") or crowd.reports("connect_error", "thief"), 15,
               "thief answered")
    stream.send(1)
    seconds = back_online(crowd, proxy, cut, "s0")
    stream.send(1)
    assert not crowd.wait_tally(CHAT, stream.tag, 6, ["s0"])
    time.sleep(0.5)

    records = crowd.dump()
    taken = records["thief"]
    assert [c["recovered"] for c in taken["connects"]] == [False], taken
    assert taken["connects"][0]["sid"] != stolen["connects"][0]["sid"]
    assert [c.get("recovered") for c in connected_payloads(taken)] == [False]
    assert chat_keys(taken) == []  # nothing of the owner's session: neither its rooms nor its missed events
    record = records["s0"]
    report("another user's pid, then the owner", record, stream.sent, seconds, "the network came back")
    assert_recovered_every_time(record, connects=2)
    assert_clean(record, stream.sent)


def test_a_token_that_expired_during_the_gap_is_refused(door, private_key_pem, crowd, closing):
    room = Room(door, private_key_pem, students=1)
    proxy = closing(TcpProxy(door.port))
    claims = jwt.decode(room.students[0][1], options={"verify_signature": False})
    expires = int(time.time()) + 4
    short = forge.sign(private_key_pem, {**claims, "exp": expires})
    crowd.add([Member(id="s0", url=proxy.url, token=short, joins=room.joins())])
    crowd.wait_joined(["s0"])
    cut = drop(crowd, proxy, "s0")
    while time.time() < expires + 0.5:
        time.sleep(0.1)
    assert time.time() - cut < WINDOW  # still inside the window: only the token refuses it
    proxy.unblock()
    crowd.wait(lambda: any(e["message"] == "Token expired" for e in crowd.reports("connect_error", "s0")), 15,
               "refused with 'Token expired'")
    assert not crowd.recovered_since(cut, ["s0"])["s0"]


def test_after_the_window_a_reconnect_is_a_fresh_session_that_joins_again(door, private_key_pem, crowd, closing):
    room = Room(door, private_key_pem, students=1)
    proxy = closing(TcpProxy(door.port))
    stream = closing(room.stream(door.url))
    crowd.add(room.members(proxy.url))
    crowd.wait_joined(["s0"])
    stream.send(1)
    assert not crowd.wait_tally(CHAT, stream.tag, 1, ["s0"])
    cut = drop(crowd, proxy, "s0")
    stream.send(1)  # sent while away: an ordinary new connection never sees it
    time.sleep(WINDOW + 2)
    proxy.unblock()
    crowd.wait_reconnected(cut, ["s0"], 15)
    crowd.wait(lambda: len(crowd.reports("joined", "s0")) == 2, 15, "joined again")
    stream.send(2)
    assert not crowd.wait_tally(CHAT, stream.tag, 3, ["s0"])

    record = crowd.dump()["s0"]
    first, again = record["connects"]
    assert not again["recovered"] and again["sid"] != first["sid"]
    assert record["joins"] == 2
    assert [c.get("recovered") for c in connected_payloads(record)] == [False, False]
    assert chat_keys(record) == [stream.sent[0]] + stream.sent[2:]


def test_a_python_client_that_did_not_opt_in_gets_room_events_with_one_argument(door, private_key_pem, closing):
    room = Room(door, private_key_pem, students=1)
    client = socketio.Client(reconnection=False)
    connected, chats, others = [], [], []
    client.on("connected", lambda data: connected.append(data))
    client.on(CHAT, lambda data: chats.append(data))  # one parameter, as in the user's document
    client.on("*", lambda event, *args: others.append((event, len(args))))
    client.connect(door.url, auth={"token": room.students[0][1]}, transports=["websocket"], wait_timeout=10)
    try:
        assert "code" not in client.call("join_video", {"video_id": room.video_id}, timeout=10)
        stream = closing(room.stream(door.url))  # its senders joining: user_joined_video, a room event
        stream.send(3)
        deadline = time.monotonic() + 10
        while len(chats) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c["message"] for c in chats] == stream.sent
        assert "recovered" not in connected[0]
        joined = [arity for event, arity in others if event == "user_joined_video"]
        assert joined and set(joined) == {1}
    finally:
        client.disconnect()


# -- two doors -----------------------------------------------------------------------------

def test_a_client_moved_to_the_other_door_gets_its_session_back_there(doors, private_key_pem, crowd, closing):
    first, second = doors.port, doors.port + 1
    room = Room(doors, private_key_pem, students=1)
    proxy = closing(TcpProxy(first, second))
    stream = closing(room.stream(doors.urls[0]))  # the senders stay on the door the client leaves
    crowd.add(room.members(proxy.url))
    crowd.wait_joined(["s0"])
    assert proxy.live(first) == 1
    stream.send(2)
    assert not crowd.wait_tally(CHAT, stream.tag, 2, ["s0"])

    proxy.switch_to(second)
    cut = drop(crowd, proxy, "s0")
    stream.send(3)
    seconds = back_online(crowd, proxy, cut, "s0")
    assert (proxy.live(first), proxy.live(second)) == (0, 1)
    stream.send(2)
    assert not crowd.wait_tally(CHAT, stream.tag, 7, ["s0"])

    record = crowd.dump()["s0"]
    report("moved to the other door", record, stream.sent, seconds, "the network came back")
    assert_recovered_every_time(record, connects=2)
    assert_clean(record, stream.sent)


def crowd_in_room(doors, private_key_pem, crowd, closing, sender_door):
    """CROWD recovering clients through a failover proxy (door 1 first), joined; a stream
    ready on ``sender_door`` (enough senders for RATE under the chat limit)."""
    room = Room(doors, private_key_pem, students=CROWD, senders=RATE * 2 // 3 + 1)
    proxy = closing(TcpProxy(doors.port, doors.port + 1))
    stream = closing(room.stream(doors.urls[sender_door]))
    members = room.members(proxy.url)
    crowd.add_joined(members)
    ids = [m.id for m in members]
    # every one in both rooms before the fault: the final course update afterwards then
    # shows the course room kept (the chat shows the video room)
    before = f"before-{stream.tag}"
    room.retitle(before)
    late = crowd.wait_tally("course_updated", before, 1, ids, timeout=30)
    assert not late, f"not in the course room before the fault: {sorted(late)[:10]}"
    return room, proxy, stream, ids


def restart_stopped_doors(stack):
    """Leave the module's stack whole for the next test, whatever happened."""
    for instance in stack.instances("realtime"):
        if stack.processes[instance].poll() is not None:
            stack.start_service(instance)
    stack.wait_ready(timeout=90)


def test_the_door_holding_200_recovering_clients_killed_under_a_stream_of_room_events(
        doors, private_key_pem, crowd, closing):
    room, proxy, stream, ids = crowd_in_room(doors, private_key_pem, crowd, closing, sender_door=1)
    assert proxy.live(doors.port) == CROWD
    stream.start(RATE)
    try:
        time.sleep(3)
        killed = time.time()
        doors.stop_service("realtime", signal.SIGKILL)  # the balancer fails over to the other door
        crowd.wait_reconnected(killed, ids, timeout=90)
        assert proxy.live(doors.port + 1) == CROWD
        time.sleep(3)
    finally:
        stream.stop()
        restart_stopped_doors(doors)
    final = f"final-{stream.tag}"
    room.retitle(final)
    assess(crowd, stream, ids, [killed], "door holding 200 clients killed (SIGKILL)", final)


def test_a_rolling_restart_of_both_doors_under_a_stream_of_room_events(doors, private_key_pem, crowd, closing):
    room, proxy, stream, ids = crowd_in_room(doors, private_key_pem, crowd, closing, sender_door=1)
    stream.start(RATE)
    stopped = []
    try:
        time.sleep(3)
        for leaving, staying in (("realtime", 1), ("realtime-2", 0)):
            proxy.switch_to(doors.port + staying)  # the terminating door leaves the balancer
            if staying == 0:
                stream.move_to(doors.urls[0])
            stopped.append(time.time())
            doors.stop_service(leaving, signal.SIGTERM)
            crowd.wait_reconnected(stopped[-1], ids, timeout=90)
            assert proxy.live(doors.port + staying) == CROWD
            doors.start_service(leaving)
            doors.wait_ready(timeout=90)
            time.sleep(2)
    finally:
        stream.stop()
        restart_stopped_doors(doors)
    final = f"final-{stream.tag}"
    room.retitle(final)
    assess(crowd, stream, ids, stopped, "rolling restart of two doors (SIGTERM)", final)
