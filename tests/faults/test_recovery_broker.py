"""RabbitMQ restarted under a stream of room events, 200 recovering clients on two doors:
what was emitted while the broker was away reaches every client on every door once it is
back, in order, never twice (issue 13). The harness is tests/support/crowd.py, as in tests/stack/test_recovery.py."""
import time

from services.stack import rabbitmqctl
from tests.faults.conftest import wait_until
from tests.support.api import Api
from tests.support.crowd import AT, CHAT, KEY, NAME, Crowd, Room, assess
from tests.support.stack import own_vhost, running_stack

CROWD = 200
RATE = 10
OUTAGE_SECONDS = 5


def test_room_events_sent_while_the_broker_is_away_reach_every_recovering_client_once(
        key_files, private_key_pem, tmp_path):
    with own_vhost() as amqp_uri, running_stack(amqp_uri, key_files, tmp_path, door_replicas=2) as stack:
        room = Room(stack, private_key_pem, students=CROWD, senders=RATE * 2 // 3 + 1)
        stream = room.stream(stack.urls[0])
        crowd = Crowd()
        try:
            # half the crowd on each door, straight to it: the broker is the fault here
            members = room.members(stack.urls[0], prefix="a")[:CROWD // 2] + \
                room.members(stack.urls[1], prefix="b")[CROWD // 2:]
            ids = [m.id for m in members]
            crowd.add_joined(members)
            before = f"before-{stream.tag}"
            room.retitle(before)
            assert not crowd.wait_tally("course_updated", before, 1, ids, timeout=30)

            stream.start(RATE)
            try:
                time.sleep(3)
                before_outage = len(stream.sent)
                stopped = time.time()
                rabbitmqctl("stop_app")
                try:
                    time.sleep(OUTAGE_SECONDS)  # the chat goes on: what the doors acknowledge must arrive
                finally:
                    rabbitmqctl("start_app")
                    restarted = time.time()
                    during_outage = stream.sent[before_outage:]
                for url in stack.urls:
                    wait_until(lambda: Api(url).call("GET", "/health/ready").status_code == 200, timeout=120)
                time.sleep(3)
            finally:
                stream.stop()
            final = f"final-{stream.tag}"
            room.retitle(final)
            numbers = assess(crowd, stream, ids, [stopped], "broker restart (stop_app, start_app)", final,
                             allow_refused=True)  # a send the door refused was never emitted
            # when the last client had the last event acknowledged while the broker was away
            records = crowd.dump()
            arrivals = [e[AT] / 1000 for r in records.values() for e in r["events"]
                        if e[NAME] == CHAT and during_outage and e[KEY] == during_outage[-1]]
            caught_up = max(arrivals) - restarted if arrivals else None
            print(f"[recovery] broker away {restarted - stopped:.1f}s; {len(during_outage)} room events "
                  f"acknowledged while it was away ({len(stream.refused)} sends refused); every client had them "
                  f"{caught_up if caught_up is None else round(caught_up, 2)}s after start_app")
            assert numbers["lost"] == numbers["duplicated"] == 0
            assert during_outage, "no room event was emitted while the broker was away: nothing to check"
        finally:
            crowd.close()
            stream.close()
