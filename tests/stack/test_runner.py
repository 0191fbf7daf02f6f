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
