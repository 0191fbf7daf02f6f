"""The faults tier: the real platform while what it stands on fails.

What belongs here: a test that stops, restarts or breaks something every other test
shares (the machine's RabbitMQ, its PostgreSQL) and checks that the platform recovers.
They run in their own phase of ``make test``, after the main suite, never beside other
tests. Each starts its own stack with ``tests.support.stack.running_stack``. A process
of our own dying (a service killed) is the stack tier's: nothing shared stops there.
"""
import shutil
import subprocess
import time

import pytest



def wait_until(predicate, timeout, interval=0.2):
    """Seconds it took for ``predicate()`` to hold; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return time.monotonic() - started
        except Exception:
            pass
        time.sleep(interval)
    raise AssertionError(f"not recovered within {timeout}s")


def postgres_cluster():
    """(version, name) of the local PostgreSQL cluster, for pg_ctlcluster."""
    if shutil.which("pg_lsclusters") is None:
        pytest.skip("pg_lsclusters is not installed: no local PostgreSQL cluster to restart")
    line = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    version, name = line.split()[:2]
    return version, name
