"""The presence table (transport/presence.py): plain data, folded from records as every door folds them."""
from services.realtime.presence import watching
from services.realtime.transport.presence import GRACE_SECONDS, PresenceTable

ROOM = "video_v1"
ABOUT = {"video_id": "v1", "course_id": "c1"}


def here(sid, user, door="A", room=ROOM):
    return {"k": "here", "sid": sid, "room": room, "user": user, "who": {"user_id": user, "user_email": f"{user}@x"},
            "about": ABOUT, "door": door}


def kinds(changes):
    return [(change.kind, change.who["user_id"]) for change in changes]


def test_a_users_first_connection_joins_and_their_last_one_leaves():
    table = PresenceTable(120)
    assert kinds(table.apply(here("s1", "ann"), 0)) == [("joined", "ann")]
    assert kinds(table.apply(here("s2", "ann", door="B"), 0)) == []  # a second tab, on another door
    assert kinds(table.apply(here("s3", "bob"), 0)) == [("joined", "bob")]
    assert table.watching(ROOM, 100)[1] == 2
    assert kinds(table.apply({"k": "left", "sid": "s1", "room": ROOM}, 1)) == []
    assert kinds(table.apply({"k": "gone", "sid": "s2", "by": "B"}, 2)) == [("left", "ann")]
    assert table.watching(ROOM, 100) == ([{"user_id": "bob", "user_email": "bob@x"}], 1)


def test_a_late_record_of_a_door_that_no_longer_holds_the_connection_changes_nothing():
    table = PresenceTable(120)
    table.apply(here("s1", "ann", door="A"), 0)
    table.apply({"k": "back", "sid": "s1", "door": "B"}, 1)  # recovered on B
    assert table.apply({"k": "parked", "sid": "s1", "by": "A"}, 2) == []
    assert table.apply({"k": "gone", "sid": "s1", "by": "A"}, 2) == []
    assert table.count(ROOM) == 1 and table.attendances["s1"].parked_at is None


def test_a_parked_connection_counts_until_the_grace_then_expires_and_a_late_recovery_joins_again():
    table = PresenceTable(120)
    table.apply(here("s1", "ann"), 0)
    table.apply({"k": "parked", "sid": "s1", "by": "A"}, 10)
    assert table.expired(10 + GRACE_SECONDS - 1, lambda door: None) == []
    assert table.expired(10 + GRACE_SECONDS + 1, lambda door: None) == [("s1", None)]
    assert kinds(table.apply({"k": "gone", "sid": "s1", "by": None, "expired": True}, 21)) == [("left", "ann")]
    assert kinds(table.apply({"k": "back", "sid": "s1", "door": "B"}, 30)) == [("joined", "ann")]
    assert table.count(ROOM) == 1


def test_a_recovery_within_the_grace_neither_leaves_nor_joins():
    table = PresenceTable(120)
    table.apply(here("s1", "ann"), 0)
    assert table.apply({"k": "parked", "sid": "s1", "by": "A"}, 1) == []
    assert table.apply({"k": "back", "sid": "s1", "door": "B"}, 3) == []
    assert table.expired(100, lambda door: None) == []


def test_the_connections_of_a_silent_door_expire_a_grace_after_it_fell_silent():
    table = PresenceTable(120)
    table.apply(here("s1", "ann", door="dead"), 0)
    table.apply(here("s2", "bob", door="alive"), 0)
    silent = {"dead": 5.0}.get
    assert table.expired(5 + GRACE_SECONDS - 1, silent) == []
    assert table.expired(5 + GRACE_SECONDS + 1, silent) == [("s1", "dead")]


def test_a_roster_teaches_a_late_door_everyone_silently():
    table = PresenceTable(120)
    conns = [["s1", "ann", {"user_id": "ann", "user_email": "ann@x"}, {ROOM: ABOUT}],
             ["s2", "ann", {"user_id": "ann", "user_email": "ann@x"}, {ROOM: ABOUT, "video_v2": ABOUT}]]
    assert table.apply({"k": "roster", "door": "A", "conns": conns}, 0) == []
    assert table.count(ROOM) == 1 and table.count("video_v2") == 1
    assert kinds(table.apply({"k": "gone", "sid": "s1", "by": "A"}, 1)) == []
    assert kinds(table.apply({"k": "gone", "sid": "s2", "by": "A"}, 1)) == [("left", "ann"), ("left", "ann")]


def test_changed_counts_are_taken_once():
    table = PresenceTable(120)
    table.apply(here("s1", "ann"), 0)
    table.apply(here("s2", "bob"), 0)
    assert table.take_changed() == {ROOM: (2, ABOUT)}
    assert table.take_changed() == {}
    table.apply({"k": "gone", "sid": "s1", "by": "A"}, 1)
    table.apply({"k": "gone", "sid": "s2", "by": "A"}, 1)
    assert table.take_changed() == {ROOM: (0, ABOUT)}


def test_the_joiner_is_in_watching_once_whether_or_not_their_entry_went_round_yet():
    ann, bob = {"user_id": "ann", "user_email": "a"}, {"user_id": "bob", "user_email": "b"}
    assert watching([bob], 1, ann) == {"watching": [ann, bob], "watching_count": 2}
    assert watching([ann, bob], 2, ann) == {"watching": [ann, bob], "watching_count": 2}
    crowd = [{"user_id": str(n), "user_email": ""} for n in range(100)]
    shown = watching(crowd, 150, ann)
    assert len(shown["watching"]) == 100 and shown["watching"][0] == ann and shown["watching_count"] == 151
