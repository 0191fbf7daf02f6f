"""Waiting for the broker and the database before a container migrates and starts."""
import time

from services.kernel import reachability


def test_an_unreachable_broker_and_database_are_reported_with_the_password_hidden():
    broker = reachability.broker_problem("amqp://guest:s3cret@127.0.0.1:9/", timeout=1)
    assert broker and "127.0.0.1:9" in broker and "s3cret" not in broker
    database = reachability.database_problem("postgresql://app:s3cret@127.0.0.1:9/auth", timeout=1)
    assert database and "s3cret" not in database


def test_a_reachable_database_is_fine(tmp_path):
    assert reachability.database_problem(f"sqlite:///{tmp_path / 'here.db'}") is None


def test_wait_for_retries_until_each_check_passes():
    answers = iter(["starting", "starting", None])
    calls = []

    def broker():
        calls.append("broker")
        return next(answers)

    def database():
        calls.append("database")
        return None

    assert reachability.wait_for([broker, database], seconds=5, interval=0.01) is None
    assert calls == ["broker", "broker", "broker", "database"]


def test_wait_for_gives_up_with_the_last_problem():
    started = time.monotonic()
    problem = reachability.wait_for([lambda: "still down"], seconds=0.2, interval=0.05)
    assert problem == "still down" and time.monotonic() - started < 2


def test_no_waiting_when_not_asked():
    assert reachability.wait_for([lambda: "down"], seconds=0) is None
