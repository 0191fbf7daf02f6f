"""Fault tests restart the shared RabbitMQ and PostgreSQL: they run in their own phase
of ``make test``, after the main suite, never beside other tests. Each builds its own
stack with the one stack machinery of ``tests/integration/conftest.py``."""
import shutil
import subprocess
import time

import pytest

from services.stack import rabbitmqctl  # noqa: F401  (re-exported for the tests)


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
