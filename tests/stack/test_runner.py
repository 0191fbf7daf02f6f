"""The runner as a container runs it: wait for the database, migrate, exit (init container)."""
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, inspect

from services.kernel.database import normalise_url
from services.stack import ROOT
from tests.support.postgres import create_postgres_database
from tests.support.stack import own_vhost


def run_runner(*args, **env):
    return subprocess.run([sys.executable, "-m", "services.kernel.runner", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.postgres
def test_migrate_only_applies_the_migrations_and_exits(postgres_server):
    url, drop = create_postgres_database(postgres_server)
    try:
        done = run_runner("--migrate-only", "auth", DATABASE_URL=url, WAIT_FOR_DEPENDENCIES_SECONDS="30")
        assert done.returncode == 0, done.stdout + done.stderr
        engine = create_engine(normalise_url(url))
        assert {"users", "refresh_tokens"} <= set(inspect(engine).get_table_names())
        engine.dispose()
        again = run_runner("--migrate-only", "auth", DATABASE_URL=url, WAIT_FOR_DEPENDENCIES_SECONDS="30")
        assert again.returncode == 0  # every start migrates: nothing to do is fine
    finally:
        drop()


def test_a_database_that_never_answers_stops_the_start_with_the_reason():
    started = time.monotonic()
    done = run_runner("--migrate-only", "auth", DATABASE_URL="postgresql://app:s3cret@127.0.0.1:9/auth",
                      WAIT_FOR_DEPENDENCIES_SECONDS="2")
    assert done.returncode == 1
    assert "giving up" in done.stdout and "database is not answering" in done.stdout
    assert "s3cret" not in done.stdout
    assert time.monotonic() - started < 60


LAUNCHER = """
import os, subprocess, sys, time
service = subprocess.Popen([sys.executable, "-m", "services.kernel.runner", "progress"],
                           env={**os.environ, "STOP_WITH_PARENT": str(os.getpid())}, start_new_session=True,
                           stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT)
print(service.pid, flush=True)
time.sleep(600)
"""


def test_a_service_whose_launcher_was_killed_stops_itself(tmp_path):
    """A test run killed by its timeout (or ``make run`` killed with -9) leaves no service running:
    each was started in a session of its own, so nothing else would stop it."""
    log_path = tmp_path / "progress.log"
    with own_vhost() as amqp_uri:
        launcher = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(log_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "AMQP_URI": amqp_uri, "DATABASE_URL": f"sqlite:///{tmp_path / 'progress.db'}",
                 "METRICS_PORT": "0"})
        service_pid = int(launcher.stdout.readline())
        deadline = time.monotonic() + 60
        while "starting services" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert os.path.exists(f"/proc/{service_pid}"), log_path.read_text()
        launcher.kill()
        launcher.wait()
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{service_pid}") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{service_pid}"), "the service outlived its launcher"
        assert "the launcher" in log_path.read_text() and "is gone: stopping" in log_path.read_text()
