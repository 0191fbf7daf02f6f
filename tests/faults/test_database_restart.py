"""PostgreSQL restarted: every service recovers its connection pool without a restart."""
import subprocess
import time

import pytest

from services import DOMAIN_SERVICES
from tests.faults.conftest import postgres_cluster, wait_until
from tests.support.api import Api, Campus
from tests.support.postgres import POSTGRES_ADMIN_URL, create_postgres_database, postgres_problem
from tests.support.stack import own_vhost, running_stack


def test_a_database_restart(key_files, tmp_path, record_property):
    if postgres_problem():
        pytest.skip(postgres_problem())
    version, name = postgres_cluster()
    databases = {service: create_postgres_database(POSTGRES_ADMIN_URL) for service in DOMAIN_SERVICES}
    settings = {f"{service.upper()}_DATABASE_URL": url for service, (url, _) in databases.items()}
    try:
        with own_vhost() as amqp_uri, running_stack(amqp_uri, key_files, tmp_path, **settings) as stack:
            api = Api(stack.url)
            campus = Campus(api)
            course, instructor = campus.course()
            student = campus.enrolled_student(course)

            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
                           check=True, timeout=120)
            restarted = time.monotonic()
            seconds = wait_until(lambda: api.call("GET", f"/api/v1/courses/{course['id']}").status_code == 200,
                                 timeout=60)
            # writes and reads of every service work again, with no process restarted
            assert api.call("POST", f"/api/v1/courses/{course['id']}/reviews", token=student["access_token"],
                            json={"rating": 4, "comment": "after the restart"}).status_code == 201
            assert api.call("GET", "/api/v1/auth/me", token=student["access_token"]).status_code == 200
            assert api.new_user()["access_token"]
            assert api.call("GET", f"/api/v1/courses/{course['id']}/progress",
                            token=student["access_token"]).status_code == 200
            assert all(process.poll() is None for process in stack.processes.values())
            record_property("database_recovery_s", round(time.monotonic() - restarted, 2))
            print(f"\ndatabase restart: the API answered again {seconds:.1f}s after PostgreSQL was back")
    finally:
        for _, drop in databases.values():
            drop()
