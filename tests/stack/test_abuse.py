"""Abuse that needs no account: registration floods, spoofed addresses, a full hashing budget.

A platform of its own, with the default budgets (the shared stack raises them, since
every test there makes its people from 127.0.0.1) and 127.0.0.2 as its trusted proxy.
Callers come from loopback addresses of their own (any 127.x.y.z is this host on
Linux), so each is a distinct address to the door, exactly as separate machines are.
The flood runs in its own process (tests/stack/flood.py), as an attacker would.
Latencies are compared with the same calls on the quiet platform, never with fixed
speeds; each test prints its figures (docs/reliability.md quotes them).
"""
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.kernel.config import SETTINGS
from tests.stack.flood import session_from
from tests.support.stack import own_vhost, running_stack

ROOT = Path(__file__).resolve().parent.parent.parent
PROXY = "127.0.0.2"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def stack(key_files, tmp_path_factory):
    defaults = {name: SETTINGS[name] for name in (
        "REGISTRATIONS_PER_ADDRESS", "LOGINS_PER_ADDRESS", "HASHING_CONCURRENCY", "HASHING_QUEUE",
        "HASHING_WAIT_SECONDS")}
    with own_vhost() as amqp_uri, running_stack(amqp_uri, key_files, tmp_path_factory.mktemp("abuse"),
                                                TRUSTED_PROXIES=PROXY, **defaults) as running:
        separate_cores(running)
        yield running


def separate_cores(stack):
    """The door and the auth service on a core each, as on the separate machines (or pods
    with CPU limits) they are deployed to. Co-located on two cores, the door answering a
    flood's 429s (a full core: a flood sends as fast as it is answered) halves the CPU an
    argon2 hash gets, and a login takes twice as long whatever the limits do
    (docs/reliability.md gives both figures). Threads started later inherit the core."""
    if len(os.sched_getaffinity(0)) < 2:
        return
    door_core, auth_core = sorted(os.sched_getaffinity(0))[:2]
    for instance, core in (("realtime", door_core), ("auth", auth_core)):
        for task in Path(f"/proc/{stack.processes[instance].pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), {core})


def an_address():
    """A loopback address no other test uses (127.0.0.x stays clear of the proxy's)."""
    return f"127.{random.randrange(1, 250)}.{random.randrange(1, 250)}.{random.randrange(2, 250)}"


class Person:
    """Someone calling the door from an address of their own (or through the proxy as ``forwarded``)."""

    def __init__(self, stack, source_ip, forwarded=None):
        self.url = stack.url
        self.http = session_from(source_ip)
        self.headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        self.email = f"person-{random.getrandbits(48):012x}@example.com"

    def call(self, method, path, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, self.url + path, headers=headers, timeout=15, **kwargs)

    def register(self):
        return self.call("POST", "/api/v1/auth/register", json={"email": self.email, "password": PASSWORD})

    def timed(self, method, path, **kwargs):
        started = time.perf_counter()
        response = self.call(method, path, **kwargs)
        return response, time.perf_counter() - started

    def login(self):
        return self.timed("POST", "/api/v1/auth/login", json={"email": self.email, "password": PASSWORD})


class Flood:
    """tests/stack/flood.py in its own process."""

    def __init__(self, stack, seconds, concurrency, source=None, forwarded=None):
        command = [sys.executable, "-m", "tests.stack.flood", stack.url, "--seconds", str(seconds),
                   "--concurrency", str(concurrency)]
        command += ["--source", source] if source else []
        command += ["--forwarded", forwarded] if forwarded else []
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.firsts = {}

    def wait_for_first(self, status, timeout=60):
        """Block until the flood has had its first ``status`` answer."""
        deadline = time.monotonic() + timeout
        while status not in self.firsts:
            assert time.monotonic() < deadline, f"no {status} within {timeout}s: {self.firsts}"
            line = json.loads(self.process.stdout.readline() or "{}")
            assert "first" in line, f"the flood ended first: {line}"
            self.firsts[line["first"]] = line["after"]

    def running(self):
        return self.process.poll() is None

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        """End it now; its totals."""
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        return self.result()

    def result(self):
        out, _ = self.process.communicate(timeout=60)
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        return lines[-1]

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()


@pytest.fixture
def flood(stack):
    started = []

    def start(**kwargs):
        started.append(Flood(stack, **kwargs))
        return started[-1]

    yield start
    for running in started:
        running.kill()


def median(seconds):
    return statistics.median(seconds)


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def test_a_registration_flood_from_one_address_gets_429_and_others_still_log_in(stack, flood):
    ann = Person(stack, an_address())
    assert ann.register().status_code == 201
    ann.login()  # warm: the first login pays for connections and caches

    attack = flood(seconds=120, concurrency=16, source=an_address())
    attack.wait_for_first("429")
    # while the 20 registrations the address may make are hashed, a login goes first
    # (the hashing budget serves logins before registrations): slower, never refused
    while_hashing = [ann.login() for _ in range(2)]
    attack.wait_for_first("429 to all")  # from here on the flood costs the auth service nothing
    # quiet and flooded logins in pairs (the flood paused, then resumed), so the machine's
    # own load, which drifts, weighs on both sides alike
    quiet, during = [], []
    for _ in range(7):
        attack.pause()
        time.sleep(0.2)
        quiet.append(ann.login())
        attack.resume()
        time.sleep(0.2)
        during.append(ann.login())
    assert attack.running(), "the flood ended before the logins did: make it longer"
    outcome = attack.stop()

    assert {response.status_code for response, _ in quiet + while_hashing + during} == {200}
    statuses = outcome["statuses"]
    # the address's budget, and not one registration more, reached the auth service
    assert statuses.get("201", 0) + statuses.get("503", 0) <= 20 and statuses.get("201", 0) >= 1
    assert statuses["429"] >= 10 * 20
    assert all(int(value) >= 1 for value in outcome["retry_after"]["429"])
    quiet_median, during_median = median([t for _, t in quiet]), median([t for _, t in during])
    print(f"\nlogin quiet {ms(quiet_median)}, during the flood {ms(during_median)}; flood: {statuses}, "
          f"first 429 after {attack.firsts['429']} s, Retry-After {outcome['retry_after']['429']}; "
          f"each login during: {[ms(t) for _, t in during]}; quiet: {[ms(t) for _, t in quiet]}; "
          f"while the 20 were hashed: {[ms(t) for _, t in while_hashing]}")
    # starved is what the flood did before issue 18 (3.5 s and 503s); how much slower a login
    # gets on a 2-core machine where the flood client, the door answering its 429s and the
    # auth service share the cores is a measurement (printed above, docs/reliability.md):
    # it ranged 1.7x-2.8x on quiet runs, so a ratio would test the machine, not the door
    assert max(t for _, t in during) < 1.5, [ms(t) for _, t in during]


def test_spoofed_forwarded_for_without_a_trusted_proxy_is_one_address(stack, flood):
    source = an_address()
    attack = flood(seconds=120, concurrency=8, source=source, forwarded="random")
    attack.wait_for_first("429 to all", timeout=60)
    time.sleep(1)
    statuses = attack.stop()["statuses"]
    print(f"\nspoofed flood from one address: {statuses}")
    assert statuses.get("201", 0) + statuses.get("503", 0) <= 20 and statuses["429"] >= 50

    # the same header through the trusted proxy is believed: a new address has its own budget,
    # and the flooding address named by the proxy is the same client as before
    assert Person(stack, PROXY, forwarded=an_address()).register().status_code == 201
    named = Person(stack, PROXY, forwarded=f"203.0.113.9, {source}").register()
    assert named.status_code == 429 and int(named.headers["Retry-After"]) >= 1
    assert named.json()["error"]["code"] == "rate_limited"


def rss_mib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(field)


def test_with_the_hashing_budget_full_refresh_and_api_calls_still_answer(stack, flood):
    bob = Person(stack, an_address())
    assert bob.register().status_code == 201
    quiet_login = median([bob.login()[1] for _ in range(3)])
    session = bob.login()[0].json()["data"]
    auth = {"Authorization": f"Bearer {session['access_token']}"}

    def refresh():
        response, seconds = bob.timed("POST", "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert response.status_code == 200, response.text
        session["refresh_token"] = response.json()["data"]["refresh_token"]
        return seconds

    def me():
        response, seconds = bob.timed("GET", "/api/v1/auth/me", headers=auth)
        assert response.status_code == 200, response.text
        return seconds

    quiet_refresh, quiet_me = median([refresh() for _ in range(5)]), median([me() for _ in range(5)])
    auth_pid = stack.processes["auth"].pid
    rss_before = rss_mib(auth_pid, "VmRSS")

    # many addresses (through the trusted proxy), more callers than the auth service has workers
    attack = flood(seconds=12, concurrency=40, source=PROXY, forwarded="random")
    attack.wait_for_first("503")
    busy_refresh, busy_me = median([refresh() for _ in range(5)]), median([me() for _ in range(5)])
    assert attack.running(), "the flood ended before the calls did: make it longer"
    outcome = attack.result()
    peak = rss_mib(auth_pid, "VmHWM")

    statuses = outcome["statuses"]
    print(f"\nhashing budget full: refresh quiet {ms(quiet_refresh)} busy {ms(busy_refresh)}; "
          f"/auth/me quiet {ms(quiet_me)} busy {ms(busy_me)}; one login (a hash) quiet {ms(quiet_login)}; "
          f"flood {statuses}, Retry-After {outcome['retry_after'].get('503')}; "
          f"auth RSS {rss_before:.0f} MiB before, peak {peak:.0f} MiB")
    assert statuses.get("201", 0) >= 1 and statuses["503"] >= 1 and "429" not in statuses
    assert all(int(value) >= 1 for value in outcome["retry_after"]["503"])
    # neither waits behind the hashes: a caller queued behind 40 hashing ones, two at a time,
    # would wait for many hashes; each answers within two, since it still shares the 2 cores
    # with the two hashes running (refresh took 177 ms under the flood against a 170 ms hash
    # in one CI run of 2026-12-04, and failed the bound of one hash it had until then)
    assert busy_refresh < 2 * quiet_login and busy_me < 2 * quiet_login
    # two hashes at a time (64 MiB each), not one per waiting caller
    assert peak - rss_before < 4 * 64
