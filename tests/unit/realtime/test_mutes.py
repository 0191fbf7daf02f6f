"""The door's table of mutes (``services/realtime/mutes.py``): changes in any order, snapshots."""
from datetime import datetime, timedelta, timezone

from services.realtime.mutes import MuteTable

NOW = datetime(2026, 12, 3, 6, 0, tzinfo=timezone.utc)


def at(minutes):
    return (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_a_mute_holds_until_it_ends_and_a_lift_ends_it():
    table = MuteTable()
    table.apply("c", "u", at(10), version=1.0)
    assert table.muted_until("c", "u", NOW) == NOW + timedelta(minutes=10)
    assert table.muted_until("c", "u", NOW + timedelta(minutes=11)) is None
    assert table.muted_until("c", "other", NOW) is None and table.muted_until("other", "u", NOW) is None
    table.apply("c", "u", None, version=2.0)
    assert table.muted_until("c", "u", NOW) is None


def test_an_older_change_arriving_late_does_not_undo_a_newer():
    table = MuteTable()
    table.apply("c", "u", None, version=2.0)  # the lift came first
    table.apply("c", "u", at(10), version=1.0)  # the mute it lifted, late
    assert table.muted_until("c", "u", NOW) is None


def test_a_snapshot_adds_what_it_lists_and_drops_what_it_no_longer_lists():
    table = MuteTable()
    table.apply("c", "lifted-unheard", at(10), version=1.0)
    table.apply("c", "newer-than-snapshot", at(10), version=90.0)
    table.apply("c", "committed-after-the-read", at(10), version=48.0)
    table.load({"as_of": 50.0, "mutes": [{"course_id": "c", "user_id": "listed", "until": at(5), "version": 3.0}]},
               NOW)
    assert table.loaded
    assert table.muted_until("c", "listed", NOW) is not None
    assert table.muted_until("c", "lifted-unheard", NOW) is None
    assert table.muted_until("c", "newer-than-snapshot", NOW) is not None
    # made just before the snapshot but committed after its read: kept until a later snapshot
    assert table.muted_until("c", "committed-after-the-read", NOW) is not None
    # an older snapshot listing a mute lifted since does not bring it back
    table.apply("c", "listed", None, version=6.0)
    table.load({"as_of": 55.0, "mutes": [{"course_id": "c", "user_id": "listed", "until": at(5), "version": 3.0}]},
               NOW)
    assert table.muted_until("c", "listed", NOW) is None
