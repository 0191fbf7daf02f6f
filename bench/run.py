"""``make bench``: start the platform, load it from one process, write the numbers.

    .venv/bin/python -m bench.run            # the full run (12-17 minutes)
    BENCH_QUICK=1 .venv/bin/python -m bench.run   # the smoke run (~1 minute, small numbers)
    BENCH_ONLY=recovery BENCH_QUICK=1 .venv/bin/python -m bench.run   # one scenario (comma-separated list)
    BENCH_PLAN=smoke BENCH_ONLY=fanout,node .venv/bin/python -m bench.run  # one short step: does it work
    BENCH_REPEAT=3 .venv/bin/python -m bench.run   # three runs in a row, each written, and their spread

The server under test (the door, or the Node baseline) runs on core 0 and the load generator
(with its C reader of fan-out clients, ``bench/sink.c``) and the event dispatcher on core 1
(``taskset``; ``BENCH_PIN=0`` turns it off). The Node baseline is up beside the door (its own
vhost, load generator and clients) and the two ceilings are searched a trial each in turn.
During each fan-out window RabbitMQ is moved to core 1 too and back on every core after; its
CPU is reported (``broker_cpu_percent``).
PostgreSQL and the other services are not pinned (idle during fan-out).
    BENCH_ONLY=chat .venv/bin/python -m bench.run   # the chat scenario alone

The platform is started exactly as ``make run`` and the stack tests start it, with the
helpers the tests use (``tests/support/``: ``running_stack`` in a vhost of its own); the
load comes from ``bench/loadgen.py`` (one asyncio process, raw Engine.IO framing), the
domain events from this process through Nameko's own dispatcher: the real path
(Nameko event -> realtime's handler -> room). Writes ``bench/results/latest.json``,
a dated copy, and ``docs/benchmarks.md`` with its plot (``bench/report.py``).

Clients are authenticated with access tokens signed by the stack's own development key
(claims as the auth service issues them): 10,000 argon2id logins would measure the
password hash, not the door. The instructor and the course go through the HTTP API;
enrollments too (one POST per student).

Loopback only; every loop is bounded in count and time. Speed is measured, never asserted.
"""
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path


from bench.profile import profiled
from services.kernel.config import DEFAULT_AMQP_URI
from services.stack import Stack, broker_problem, ensure_dev_keys
from tests.support.api import Api, Campus
from tests.support.forge import Signer
from tests.support.postgres import POSTGRES_ADMIN_URL, create_postgres_database, postgres_problem
from tests.support.stack import free_ports, own_vhost, running_stack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
NODE_DIR = ROOT / "bench" / "baselines" / "node"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0") or os.environ.get("BENCH_PLAN") == "smoke"
TOKEN_TTL_SECONDS = 7200
# the server under test on one core, the load generator (and this process's dispatcher) on the other
PIN = (os.environ.get("BENCH_PIN", "1") != "0" and shutil.which("taskset") is not None
       and len(os.sched_getaffinity(0)) >= 2)
SERVER_CORE, LOADGEN_CORE = 0, 1
# three consecutive runs must agree within this (issue 15), else the figure is not yet a measurement
AGREEMENT = 0.15


def plan():
    """Every size and duration of the run, in one place (the smoke run shrinks them);
    ``BENCH_STEP_SECONDS`` overrides the length of each fan-out ceiling step."""
    sizes = _plan()
    if os.environ.get("BENCH_STEP_SECONDS"):
        sizes["max_step_seconds"] = float(os.environ["BENCH_STEP_SECONDS"])
    return sizes


def _plan():
    if os.environ.get("BENCH_PLAN") == "dev":  # a mid-size run to compare one change with the next
        return {"fanout_clients": [500], "fanout_rate": 10, "fanout_seconds": 8,
                "ramp_clients_seconds": 3, "max_rates": [20, 40, 80, 120, 160, 240], "max_step_seconds": 4,
                "connections": 2000, "connection_batch": 1000, "progress_students": 200,
                "progress_rate": 5, "progress_seconds": 8, "node": True, "fanout_replicas": 1, "progress_replicas": 1,
                "recovery_clients": 1000, "recovery_rate": 5, "recovery_seconds": 12, "recovery_kill_after": 4,
                "chat_users": 200, "chat_rate": 20, "chat_seconds": 10, "chat_replicas": 2}
    if os.environ.get("BENCH_PLAN") == "smoke":  # one short step of everything: does it work
        return {"fanout_clients": [100], "fanout_rate": 10, "fanout_seconds": 3,
                "ramp_clients_seconds": 2, "max_rates": [20], "max_step_seconds": 3,
                "connections": 200, "connection_batch": 200, "progress_students": 50,
                "progress_rate": 5, "progress_seconds": 3, "node": True, "fanout_replicas": 1, "progress_replicas": 1,
                "recovery_clients": 100, "recovery_rate": 5, "recovery_seconds": 6, "recovery_kill_after": 2,
                "chat_users": 20, "chat_rate": 5, "chat_seconds": 3, "chat_replicas": 2}
    if QUICK and os.environ.get("BENCH_PLAN") != "full":
        return {"fanout_clients": [100, 200], "fanout_rate": 10, "fanout_seconds": 5,
                "ramp_clients_seconds": 3, "max_rates": [20, 80, 200], "max_step_seconds": 3,
                "connections": 1000, "connection_batch": 500, "progress_students": 100,
                "progress_rate": 5, "progress_seconds": 5, "node": True, "fanout_replicas": 1, "progress_replicas": 1,
                "recovery_clients": 200, "recovery_rate": 5, "recovery_seconds": 10, "recovery_kill_after": 3,
                "chat_users": 20, "chat_rate": 5, "chat_seconds": 10, "chat_replicas": 2}
    return {"fanout_clients": [250, 500, 1000], "fanout_rate": 10, "fanout_seconds": 30,
            "ramp_clients_seconds": 10, "max_rates": [20, 40, 60, 80, 100, 130, 160, 200, 260, 330, 420, 540, 700],
            "max_step_seconds": 6, "connections": 10_000, "connection_batch": 1000,
            "progress_students": 500, "progress_rate": 5, "progress_seconds": 30, "node": True, "fanout_replicas": 1, "progress_replicas": 1,
            "recovery_clients": 2000, "recovery_rate": 5, "recovery_seconds": 20, "recovery_kill_after": 5,
            "chat_users": 200, "chat_rate": 20, "chat_seconds": 30, "chat_replicas": 2}


# -- the platform ----------------------------------------------------------------------

def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def fresh_database(service):
    """A fresh PostgreSQL database for ``service`` (the progress and chat services write under
    load): ``(url, drop)``; ``(None, no-op)`` when no server answers (the service then keeps
    its SQLite file)."""
    admin_url = os.environ.get("BENCH_POSTGRES_URL", POSTGRES_ADMIN_URL)
    problem = postgres_problem(admin_url)
    if problem:
        print(f"  (no PostgreSQL for the {service} service: {problem}; using SQLite)")
        return None, lambda: None
    return create_postgres_database(admin_url, prefix="bench")


def stack_settings(progress_db=None, chat_db=None):
    """What a benchmark's platform runs with (the rest are the defaults of ``make run``)."""
    settings = {
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        # the bench makes all its people from one address; the defaults would refuse most
        "REGISTRATIONS_PER_ADDRESS": "100000/minute",
        "LOGINS_PER_ADDRESS": "100000/minute",
        # and opens thousands of sockets from it at once, 10,000 on one door
        "PENDING_CONNECTIONS_PER_ADDRESS": "100000",
        "MAX_CONNECTIONS": "100000",
    }
    if progress_db:
        settings["PROGRESS_DATABASE_URL"] = progress_db
    if chat_db:
        settings["CHAT_DATABASE_URL"] = chat_db
    return settings


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def cpu_seconds_of(pids):
    """CPU seconds of the processes still alive among ``pids``."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            pass
    return total


def pin(pid, core):
    """Every thread of process ``pid`` onto ``core`` (an int, or None: every core); no-op unpinned.
    Threads started later inherit it from the thread that starts them."""
    if not PIN:
        return
    cores = str(core) if core is not None else f"0-{os.cpu_count() - 1}"
    subprocess.run(["taskset", "-a", "-p", "-c", cores, str(pid)], check=True, stdout=subprocess.DEVNULL)


def pinned_command(command, core):
    return ["taskset", "-c", str(core), *command] if PIN else command


@contextmanager
def on_core(core):
    """This thread on ``core`` meanwhile (the event dispatcher on the load generator's core while
    measuring, the machine's speed taken on the server's)."""
    if not PIN:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def core_times():
    """Per core, from /proc/stat: ``{core: (busy, total)}`` in clock ticks (busy: neither idle nor
    waiting for I/O), and the machine's ``steal`` ticks (time the hypervisor gave to others)."""
    cores, steal = {}, 0
    for line in Path("/proc/stat").read_text().splitlines():
        if not line.startswith("cpu"):
            break
        name, *ticks = line.split()
        ticks = [int(t) for t in ticks]
        if name == "cpu":
            steal = ticks[7] if len(ticks) > 7 else 0
            continue
        total = sum(ticks[:8])
        cores[int(name[3:])] = (total - ticks[3] - ticks[4], total)
    return cores, steal


def cores_busy(before, after):
    """Each pinned core's busy share between two :func:`core_times`, in percent, and the steal
    over the whole machine: ``{"server": ..., "loadgen": ..., "steal": ...}``."""
    (cores_a, steal_a), (cores_b, steal_b) = before, after
    busy = {}
    for name, core in (("server", SERVER_CORE), ("loadgen", LOADGEN_CORE)):
        if core in cores_a and core in cores_b:
            total = cores_b[core][1] - cores_a[core][1]
            busy[name] = round(100 * (cores_b[core][0] - cores_a[core][0]) / total, 1) if total else None
    total = sum(t for _, t in cores_b.values()) - sum(t for _, t in cores_a.values())
    busy["steal"] = round(100 * (steal_b - steal_a) / total, 1) if total else None
    return busy


def broker_pids():
    """RabbitMQ's Erlang VM (``beam.smp``): a machine service shared by everything, not pinned,
    so its CPU is measured beside the server's. Read from /proc, never touched."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip().startswith("beam"):
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


@contextmanager
def broker_on_loadgen_core(brokers):
    """RabbitMQ (every thread of its VM) on the load generator's core during a fan-out window,
    back on every core after. Left to float it was scheduled on the server's core too, 10-15 %
    of a core at the ceilings, beside the server under test; each ceiling then moved with where
    the broker happened to run (docs/benchmarks.md, 2026-12-04)."""
    for pid in brokers:
        pin(pid, LOADGEN_CORE)
    try:
        yield
    finally:
        for pid in brokers:
            pin(pid, None)


def per_delivery_us(step):
    cpu, rate = step.get("server_cpu_percent"), step.get("deliveries_per_s")
    return round(cpu / 100 / rate * 1e6, 2) if cpu and rate else None


# -- people and courses ----------------------------------------------------------------

def mint(signer):
    """An access token for a new student, valid through the whole run."""
    return signer.token(str(uuid.uuid4()), ttl=TOKEN_TTL_SECONDS)


# -- the load generator ------------------------------------------------------------------

class LoadGen:
    """``bench/loadgen.py`` in its own process: one JSON command, one JSON answer."""

    def __init__(self):
        self.process = subprocess.Popen(pinned_command([sys.executable, str(ROOT / "bench" / "loadgen.py")],
                                                       LOADGEN_CORE),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.started_cpu = 0.0

    def ask(self, cmd, timeout=900, **args):
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        result = {}

        def read():
            result["line"] = self.process.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if "line" not in result or not result["line"]:
            raise RuntimeError(f"the load generator did not answer {cmd!r} (exit {self.process.poll()})")
        return json.loads(result["line"])

    def cpu_seconds(self):
        """The generator's CPU with its C reader's (``bench/sink.c``, a child on the same core)."""
        pid = self.process.pid
        try:
            children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            children = []
        return cpu_seconds(pid) + cpu_seconds_of(children)

    def close(self):
        if self.process.poll() is None:
            try:
                self.ask("quit", timeout=10)
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait()


# -- domain events at a steady rate ------------------------------------------------------

class Dispatcher:
    """``courses``/``course_updated`` through Nameko's own dispatcher, paced, seq + send time in ``title``."""

    def __init__(self, amqp_uri, course_id, instructor_id):
        from nameko.standalone.events import event_dispatcher

        self.dispatch = event_dispatcher({"AMQP_URI": amqp_uri, "serializer": "json"})
        self.course_id, self.instructor_id = course_id, instructor_id
        self.seq = 0

    def run(self, rate, seconds):
        """Dispatch ``rate`` events a second for ``seconds``; returns (first_seq, last_seq, wall seconds)."""
        first = self.seq + 1
        count = max(1, int(rate * seconds))
        started = time.monotonic()
        for n in range(count):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.seq += 1
            self.dispatch("courses", "course_updated", {
                "event_id": str(uuid.uuid4()), "course_id": self.course_id, "instructor_id": self.instructor_id,
                "title": f"bench {self.seq} {time.time():.6f}", "description": None, "published": True,
                "changed": ["title"],
            })
        return first, self.seq, max(time.monotonic() - started, count / rate)


def fanout_window(gen, dispatcher, clients, rate, seconds, grace=5.0, server_pids=()):
    brokers = broker_pids()
    gen_cpu, broker_cpu = gen.cpu_seconds(), cpu_seconds_of(brokers)
    server_cpu = [cpu_seconds(pid) for pid in server_pids]
    cores_before = core_times()
    with broker_on_loadgen_core(brokers):
        with on_core(LOADGEN_CORE):
            first, last, wall = dispatcher.run(rate, seconds)
        cores_after = core_times()  # the sending window: the drain after it is the readers' alone
        result = gen.ask("fanout_window", first_seq=first, last_seq=last, clients=clients, seconds=wall,
                         grace=grace)
    result["rate"] = rate
    result["achieved_rate"] = round((last - first + 1) / wall, 1)
    # how busy each core was while the events were sent: the load generator's core full means
    # what failed may be the generator's reading, not the server (``generator_bound``)
    result["core_busy_percent"] = cores_busy(cores_before, cores_after)
    # CPU over the sending window and its drain, as a share of one core during the window
    result["loadgen_cpu_percent"] = round(100 * (gen.cpu_seconds() - gen_cpu) / wall, 1)
    if brokers:
        result["broker_cpu_percent"] = round(100 * (cpu_seconds_of(brokers) - broker_cpu) / wall, 1)
    if server_pids:
        by_door = [round(100 * (cpu_seconds(pid) - before) / wall, 1) for pid, before in zip(server_pids, server_cpu)]
        result["server_cpu_percent"] = round(sum(by_door), 1)
        if len(by_door) > 1:
            result["server_cpu_percent_by_process"] = by_door
        result["server_cpu_us_per_delivery"] = per_delivery_us(result)
    return result


# halvings of the gap between the last step passed and the first failed: the ladder's steps are
# 25-33 % apart near the ceilings measured here, so a ceiling near a step flipped between two
# values that far apart from run to run; after three halvings they are 3-4 % apart (two left
# 6-8 %, and a ratio of two such ceilings moved up to 16 % by rounding alone)
REFINE_STEPS = 3
# near the line a step is decided by the majority of up to three trials: a saturated server's p99
# over one 6-second trial is heavy-tailed (Node's 80 events/s: 189, 90, 176 ms in three runs), so
# one trial flipped the ceiling by a step either way; a trial this far under the line decides alone
STEP_TRIALS = 3
CLEAR_P99_MS = 50


# the load generator's core this busy while a trial's events were sent: the generator (its C
# reader, RabbitMQ, the dispatcher, all on that core) may be what fell behind, not the server.
# On 2026-12-04 evening, on a machine 25 % faster than the afternoon's, our door passed 700
# events/s (p99 60-79 ms) with that core 94-97 % busy and the dispatcher on it short of the
# rate: past there the bench measures itself
GENERATOR_BOUND_PERCENT = 95


def trial_passed(step):
    return step["p99_ms"] is not None and step["p99_ms"] <= 100 and step["delivered_ratio"] >= 0.999


def generator_bound(step):
    busy = step.get("core_busy_percent", {}).get("loadgen")
    return busy is not None and busy >= GENERATOR_BOUND_PERCENT


def limited_by(steps):
    """What a search's ceiling is the limit of: ``"server"`` when a step failed with the load
    generator's core to spare in every failed trial; ``"load generator"`` when a failed trial
    had that core full (the server's own ceiling is then at least the one found); ``"ladder"``
    when no step failed (at least the top of the ladder)."""
    failed = [s for s in steps if not s["step_passed"]]
    if not failed:
        return "ladder"
    if any(generator_bound(s) for s in failed if not s["passed"]):
        return "load generator"
    return "server"


def ceiling_search(rates, refine=REFINE_STEPS):
    """One server's search for its ceiling, apart from running the steps: a generator that
    yields ``(rate, stage)`` for each trial to run and is sent that trial's step (a dict with
    ``p99_ms`` and ``delivered_ratio``); it returns ``(steps, best)``: every trial, and the
    chosen trial of the highest step passed (None if none). Up the ladder until a step fails,
    then ``refine`` halvings between the last passed and the first failed; a step near the line
    is the majority of up to ``STEP_TRIALS`` trials. Apart so that two servers' searches can be
    run a trial each in turn (:func:`fanout_ceilings`)."""
    steps = []

    def decide(rate, stage):
        """The step at ``rate``: its first passing trial if the majority passed, else its first."""
        trials = []
        while True:
            step = yield rate, stage
            step["passed"], step["stage"] = trial_passed(step), stage
            steps.append(step)
            trials.append(step)
            if len(trials) == 1 and step["passed"] and step["p99_ms"] <= CLEAR_P99_MS:
                break
            if max(sum(t["passed"] for t in trials), sum(not t["passed"] for t in trials)) * 2 > STEP_TRIALS:
                break
        passed = sum(t["passed"] for t in trials) * 2 > len(trials)
        for trial in trials:
            trial["trials"], trial["step_passed"] = len(trials), passed
        return next(t for t in trials if t["passed"]) if passed else trials[0]

    best, failed_at = None, None
    for rate in rates:
        step = yield from decide(rate, "ladder")
        if not step["step_passed"]:
            failed_at = rate
            break
        best = step
    if best is not None and failed_at is not None:
        low, high = best["rate"], failed_at
        for _ in range(refine):
            middle = round((low + high) / 2)
            if middle in (low, high):
                break
            step = yield from decide(middle, "refine")
            if step["step_passed"]:
                best, low = step, middle
            else:
                high = middle
    return steps, best


class Server:
    """A server under test for the ceiling: its load generator (clients connected and joined),
    its dispatcher, the processes whose CPU is its CPU."""

    def __init__(self, name, gen, dispatcher, clients, pids):
        self.name, self.gen, self.dispatcher, self.clients, self.pids = name, gen, dispatcher, clients, pids

    def window(self, rate, seconds, grace=5.0, pause=1.0):
        """A fan-out window at ``rate``, then ``pause`` seconds for the server to settle."""
        step = fanout_window(self.gen, self.dispatcher, self.clients, rate, seconds, grace=grace,
                             server_pids=self.pids)
        time.sleep(pause)
        return step


def quiet_trial(server, rate, step_seconds, quiet):
    """One trial of ``server`` at ``rate`` on a quiet machine: ``quiet`` (a :class:`QuietMachine`,
    or None: no check) waits for the machine to be as fast as it has been before the trial, and
    a trial the machine slowed down during is run again (up to ``QUIET_RETRIES`` times). Returns
    ``(step, discarded)``: the trial the search is given, and those run on a machine not quiet."""
    if quiet is None:
        return server.window(rate, step_seconds, grace=4.0), []
    discarded = []
    while True:
        calm = quiet.settle()
        step = server.window(rate, step_seconds, grace=4.0)
        after = quiet.speed()
        step["machine_speed_us"] = [calm["speed_us"], after]
        step["machine_waited_s"] = calm["waited_s"]
        step["machine_quiet"] = calm["quiet"] and quiet.is_quiet(after)
        if step["machine_quiet"] or len(discarded) >= QUIET_RETRIES:
            return step, discarded
        discarded.append(step)


def fanout_ceilings(servers, rates, step_seconds, log, refine=REFINE_STEPS, quiet=None):
    """Each server's ceiling, their searches run a trial each in turn: ours at a rate, then Node
    at its next rate, seconds apart, so that a slow stretch of the machine falls on both (run
    one after the other, minutes apart, each ceiling moved with the machine's speed). That
    alone did not steady the ceilings' ratio: where it moved was the shape of each server's
    knee (docs/benchmarks.md, "Issue 15, 2026-12-04 midday") on a machine whose own speed
    moved by half within a run ("afternoon"): each trial is run on a quiet machine
    (``quiet``, :func:`quiet_trial`). Returns one ``fanout_max`` result per server, in order,
    each with what its ceiling is the limit of (:func:`limited_by`)."""
    if quiet is not None:
        quiet.new_search()
    searches = {server.name: ceiling_search(rates, refine) for server in servers}
    pending = {name: next(search) for name, search in searches.items()}
    not_quiet = {server.name: [] for server in servers}
    results = {}
    while pending:
        for server in servers:
            if server.name not in pending:
                continue
            rate, stage = pending.pop(server.name)
            step, discarded = quiet_trial(server, rate, step_seconds, quiet)
            for trial in discarded:
                log(f"    {server.name} {rate}/s: p99 {trial['p99_ms']} ms on a machine not quiet (speed "
                    f"{trial['machine_speed_us']} us before, after), run again")
            not_quiet[server.name] += discarded
            busy = step.get("core_busy_percent", {})
            log(f"    {server.name} {rate}/s: p50 {step['p50_ms']} p99 {step['p99_ms']} ms, delivered "
                f"{step['delivered_ratio']}, {step['deliveries_per_s']} deliveries/s (server CPU "
                f"{step.get('server_cpu_percent')} % = {step.get('server_cpu_us_per_delivery')} us/delivery, "
                f"RabbitMQ {step.get('broker_cpu_percent')} %, load generator {step['loadgen_cpu_percent']} %, "
                f"cores busy {busy.get('server')} / {busy.get('loadgen')} %, "
                f"{step.get('messages_per_read')} messages per read; machine {step.get('machine_speed_us')} us) "
                f"{'ok' if trial_passed(step) else 'over'}")
            try:
                pending[server.name] = searches[server.name].send(step)
            except StopIteration as done:
                steps, best = done.value
                limit = limited_by(steps)
                results[server.name] = {
                    "clients": server.clients, "steps": steps,
                    "max_rate": best["rate"] if best else None,
                    "max_deliveries_per_s": best["deliveries_per_s"] if best else 0.0,
                    "limited_by": limit, "not_quiet": not_quiet[server.name],
                    "quiet_tolerance": quiet.tolerance if quiet else None}
                log(f"    {server.name}: ceiling {results[server.name]['max_deliveries_per_s']} deliveries/s"
                    f"{'' if limit == 'server' else ' or more (the limit of the ' + limit + ')'}")
    return [results[server.name] for server in servers]


def fanout_max(gen, dispatcher, clients, rates, step_seconds, log, server_pids=(), refine=REFINE_STEPS,
               quiet=None):
    """One server's ceiling alone (:func:`fanout_ceilings` of one)."""
    server = Server("ours", gen, dispatcher, clients, list(server_pids))
    return fanout_ceilings([server], rates, step_seconds, log, refine, quiet)[0]


# -- the scenarios -----------------------------------------------------------------------

def scenario_connections(stack, gen, signer, p, log):
    """10,000 connects on ``stack``'s door (a door of its own: see ``run_once``)."""
    pid = stack.processes["realtime"].pid
    base_rss = rss_mb(pid)
    samples = [{"connections": 0, "rss_mb": round(base_rss, 1)}]
    reached, seconds, failures = 0, 0.0, []
    cpu_before = gen.cpu_seconds()
    door_cpu_before = cpu_seconds(pid)
    target = p["connections"]
    while reached < target:
        batch = min(p["connection_batch"], target - reached)
        tokens = [mint(signer) for _ in range(batch)]
        answer = gen.ask("connect", tokens=tokens, record=None, concurrency=100, ports=[stack.port])
        reached += answer["connected"]
        seconds += answer["seconds"]
        failures += answer["failures"]
        time.sleep(1.0)  # let the door settle before reading its memory
        samples.append({"connections": reached, "rss_mb": round(rss_mb(pid), 1)})
        log(f"    {reached} connected ({answer['connected'] / answer['seconds']:.0f}/s), "
            f"door RSS {samples[-1]['rss_mb']} MB")
        if answer["connected"] == 0:
            break
    final_rss = samples[-1]["rss_mb"]
    stats = gen.ask("stats")
    result = {
        "target": target, "reached": reached, "still_open": stats["open"],
        "connects_per_s": round(reached / seconds, 1) if seconds else 0.0,
        "rss_mb": final_rss, "rss_idle_mb": round(base_rss, 1),
        "kb_per_connection": round((final_rss - base_rss) * 1024 / reached, 1) if reached else None,
        "samples": samples, "failures": failures[:5],
        "loadgen_cpu_s": round(gen.cpu_seconds() - cpu_before, 2),
        "door_cpu_s": round(cpu_seconds(pid) - door_cpu_before, 2),
    }
    with profiled(pid, "disconnects"):
        started = time.monotonic()
        gen.ask("close")
        result["disconnect_seconds"] = round(settle(pid) - started, 1)
    log(f"    all closed; the door was busy with the disconnects for {result['disconnect_seconds']} s")
    return result


def settle(pid, idle_percent=10, limit_s=180):
    """Wait until process ``pid`` uses under ``idle_percent`` of a core for a second; returns that time."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before, at = cpu_seconds(pid), time.monotonic()
        time.sleep(1.0)
        if 100 * (cpu_seconds(pid) - before) / (time.monotonic() - at) < idle_percent:
            return at
    return time.monotonic()


def scenario_fanout(stack_url_port, gen, dispatcher, tokens, course_id, p, log, door_pids, ports=None):
    """Clients join the course room in steps (the latency-by-clients curve), then the 30 s run at 1,000."""
    by_clients = []
    joined = 0
    result = None
    for size in p["fanout_clients"]:
        answer = gen.ask("connect", tokens=tokens[joined:size], record="fanout", concurrency=100, ports=ports)
        assert answer["failed"] == 0, answer
        joins = gen.ask("join", event="join_course", data={"course_id": course_id}, first=joined, count=size - joined)
        assert joins["failed"] == 0, joins
        joined = size
        time.sleep(1.0)
        final = size == p["fanout_clients"][-1]
        seconds = p["fanout_seconds"] if final else p["ramp_clients_seconds"]
        window = fanout_window(gen, dispatcher, size, p["fanout_rate"], seconds, server_pids=door_pids)
        window["door_cpu_percent"] = window.get("server_cpu_percent")
        window["deflate_accepted"] = answer["deflate_accepted"]
        by_clients.append(window)
        log(f"    {size} clients at {p['fanout_rate']}/s for {seconds}s: p50 {window['p50_ms']} "
            f"p99 {window['p99_ms']} ms, delivered {window['delivered_ratio']}")
        if final:
            result = dict(window)
    result["by_clients"] = by_clients
    return result


def scenario_progress(stack, gen, instructor_token, tokens, course, video, p, log, door_pids, ports=None):
    students = p["progress_students"]
    gen.ask("close")
    teacher = gen.ask("connect", tokens=[instructor_token], record="progress")
    assert teacher["connected"] == 1, teacher
    joined = gen.ask("join", event="join_course", data={"course_id": course["id"]}, first=0, count=1)
    assert joined["joined"] == 1, joined
    answer = gen.ask("connect", tokens=tokens[:students], record=None, concurrency=100, ports=ports)
    assert answer["failed"] == 0, answer
    door_cpu = sum(cpu_seconds(pid) for pid in door_pids)
    service_cpu = {name: cpu_seconds(proc.pid) for name, proc in stack.processes.items() if name != "realtime"}
    gen_cpu = gen.cpu_seconds()
    wall = time.monotonic()
    run = gen.ask("progress_run", first=1, count=students, video_id=video["id"], course_id=course["id"],
                  rate=p["progress_rate"], seconds=p["progress_seconds"],
                  duration_seconds=video["duration_seconds"])
    collected = gen.ask("progress_collect", final_position=run["final_position"], students=students, grace=30)
    door_cpu = sum(cpu_seconds(pid) for pid in door_pids) - door_cpu
    wall = time.monotonic() - wall
    service_cpu = {name: round(100 * (cpu_seconds(stack.processes[name].pid) - before) / wall, 1)
                   for name, before in service_cpu.items()}
    # what storage holds, read back through the instructor's API
    api = Api(stack.url, timeout=30)
    stored_final = 0
    offset = 0
    while True:
        page = api.call("GET", f"/api/v1/courses/{course['id']}/progress/students?limit=100&offset={offset}",
                        instructor_token).json()
        for student in page["data"]:
            for v in student.get("videos", []):
                if v["video_id"] == video["id"] and v["last_position"] is not None \
                        and abs(v["last_position"] - run["final_position"]) < 1e-6 and v["completed"]:
                    stored_final += 1
        offset += 100
        if offset >= page["meta"]["total"]:
            break
    stats = gen.ask("stats")
    seconds = run["send_seconds"]
    result = {
        "students": students, "rate_per_student": p["progress_rate"], "seconds": p["progress_seconds"],
        "sent": run["sent"], "sent_per_s": round(run["sent"] / seconds, 1),
        "stored_rows": collected["progress_updates"],
        "stored_per_s": round(collected["progress_updates"] / seconds, 1),
        "lag_p50_ms": collected["lag_p50_ms"], "lag_p99_ms": collected["lag_p99_ms"],
        "lag_max_ms": collected["lag_max_ms"],
        "final_values_lost": students - stored_final, "final_announced": collected["final_announced"],
        "db_transactions": collected["transactions"],
        "student_progress_live": collected["student_progress"],
        "errors": stats["errors"],
        "door_cpu_percent": round(100 * door_cpu / wall, 1), "other_services_cpu_percent": service_cpu,
        "loadgen_cpu_percent": round(100 * (gen.cpu_seconds() - gen_cpu) / wall, 1),
        "wall_seconds": round(wall, 1),
    }
    log(f"    sent {result['sent_per_s']}/s, stored rows {result['stored_per_s']}/s in "
        f"{result['db_transactions']} transactions, lag p99 {result['lag_p99_ms']} ms, "
        f"final values lost {result['final_values_lost']}")
    gen.ask("close")
    return result


def scenario_recovery(stack, gen, dispatcher, campus, signer, tokens, course, p, log):
    """Connection state recovery when a door dies: ``recovery_clients`` clients connect to door A
    with ``auth: {token, recover: true}`` and join the course room; course_updated flows at
    ``recovery_rate``/s; after ``recovery_kill_after`` s door A is killed with SIGKILL and every
    client reconnects (socket.io-client's backoff) to door B, the stack's own door, presenting its
    pid and last offset. Measured: how long until every session is recovered on B (target <= 10 s)
    and has caught up with the events it missed; events lost and duplicated (target 0 and 0)."""
    count = p["recovery_clients"]
    if len(tokens) < count:  # more students than the other scenarios use
        extra = [mint(signer) for _ in range(count - len(tokens))]
        campus.enroll_all(course, extra)
        tokens = tokens + extra
    tokens = tokens[:count]
    gen.ask("close")
    door_a = Stack(stack.env, stack.var_dir / "recovery-door-a", port=free_ports(), echo=False)
    try:
        door_a.start(services=("realtime",))
        door_a.wait_ready(timeout=120)
        answer = gen.ask("connect", tokens=tokens, record="recovery", recover=True, concurrency=100,
                         ports=[door_a.port], reconnect_ports=[stack.port])
        assert answer["failed"] == 0, answer
        joins = gen.ask("join", event="join_course", data={"course_id": course["id"]}, first=0, count=count)
        assert joins["failed"] == 0, joins
        time.sleep(1.0)
        rate = p["recovery_rate"]
        first, _, _ = dispatcher.run(rate, p["recovery_kill_after"])
        door_a.stop_service("realtime", sig=signal.SIGKILL)
        killed_at = time.time()
        _, last, _ = dispatcher.run(rate, p["recovery_seconds"] - p["recovery_kill_after"])
        result = gen.ask("recovery_wait", first_seq=first, last_seq=last, killed_at=killed_at, wait_s=60)
    finally:
        door_a.stop()
    result.update({"clients": count, "rate": rate, "seconds": p["recovery_seconds"],
                   "killed_after_s": p["recovery_kill_after"], "errors": gen.ask("stats")["errors"]})
    log(f"    {result['recovered']}/{count} recovered on door B, the last {result['recovered_max_s']} s after the "
        f"SIGKILL (p50 {result['recovered_p50_s']} s), caught up after {result['caught_up_max_s']} s; "
        f"{result['fresh_sessions']} fresh sessions; events lost {result['lost']}, duplicated "
        f"{result['duplicated']}, out of order {result['out_of_order']}")
    gen.ask("close")
    return result


def scenario_two_doors(gen, dispatcher, tokens, course_id, p, log, doors, one_door, quiet=None):
    """The fan-out of ``fanout_max`` again, its clients spread over two door processes, both on
    the server core: what the second door costs. Each door reads the whole room log (every
    record of every door), so the pair pays the log's per-event cost twice; the deliveries (the
    per-recipient work) are split between them. Compared step by step with the one-door run
    (``one_door``: ``fanout_max``'s steps): door CPU per delivery summed over both doors, each
    door's share, and the extra CPU of the second door per event, net of what it uses idle
    (measured first, over one step's length with no event flowing). On 2 cores the second door
    cannot get a core of its own next to the load generator; what the capacity model needs
    is that the per-delivery cost stays and the per-door overhead is small."""
    ports, door_pids = doors(2)
    pin(door_pids[1], SERVER_CORE)
    try:
        gen.ask("close")
        clients = len(tokens)
        answer = gen.ask("connect", tokens=tokens, record="fanout", concurrency=100, ports=ports)
        assert answer["failed"] == 0, answer
        joins = gen.ask("join", event="join_course", data={"course_id": course_id}, first=0, count=clients)
        assert joins["failed"] == 0, joins
        time.sleep(1.0)
        # the second door's own cost with no event flowing (its beats, the log's heartbeats, timers),
        # so that what it costs per event is told apart from what it costs to exist
        idle_before, idle_at = cpu_seconds(door_pids[1]), time.monotonic()
        time.sleep(p["max_step_seconds"])
        idle = round(100 * (cpu_seconds(door_pids[1]) - idle_before) / (time.monotonic() - idle_at), 1)
        result = fanout_max(gen, dispatcher, clients, p["max_rates"], p["max_step_seconds"], log,
                            server_pids=door_pids, quiet=quiet)
        result["second_door_idle_cpu_percent"] = idle
    finally:
        pin(door_pids[1], None)  # the progress scenario's second door runs unpinned, as before
    single = {step["rate"]: step for step in one_door.get("steps", [])}
    for step in result["steps"]:
        alone = single.get(step["rate"])
        if alone and alone.get("server_cpu_percent") is not None and step.get("server_cpu_percent") is not None:
            extra = step["server_cpu_percent"] - alone["server_cpu_percent"]
            step["extra_door_cpu_percent"] = round(extra, 1)
            # the second door's extra CPU per event of the room log, in microseconds, net of its idle cost
            step["extra_door_us_per_event"] = round((extra - idle) / 100 / step["achieved_rate"] * 1e6, 1)
            step["one_door_us_per_delivery"] = alone.get("server_cpu_us_per_delivery")
    result["doors"] = 2
    gen.ask("close")
    return result


class StoredWatch:
    """Reads a video's latest chat history through the API every ``interval`` s in a thread: when
    each message was first seen stored. The chat service stores what the doors hand over; this
    is its storage as a client sees it (resolution: the interval plus one HTTP round trip)."""

    def __init__(self, url, token, video_id, interval=0.25):
        self.url, self.token, self.video_id, self.interval = url, token, video_id, interval
        self.first_seen = {}  # message id -> epoch seconds
        self.refusals = {}  # HTTP status -> count: a history the bench could not read is not "not stored"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        api = Api(self.url, timeout=10)  # a session of its own: not shared across threads
        while not self._stopping.wait(self.interval):
            self.page(api, {"limit": 100})

    def page(self, api, params):
        answer = api.call("GET", f"/api/v1/videos/{self.video_id}/messages", self.token, params=params)
        if answer.status_code != 200:
            self.refusals[answer.status_code] = self.refusals.get(answer.status_code, 0) + 1
            return None
        body, now = answer.json(), time.time()
        for message in body["data"]:
            self.first_seen.setdefault(message["id"], now)
        return body

    def stop(self):
        self._stopping.set()
        self._thread.join(15)

    def all_stored(self, ids, timeout):
        """Stops polling once every id is seen, or at ``timeout``; then pages through the whole
        history once (a burst larger than a page between two polls is found there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not set(ids) <= set(self.first_seen):
            time.sleep(self.interval)
        self.stop()
        api, params = Api(self.url, timeout=30), {"limit": 100}
        while (body := self.page(api, params)) and body["meta"]["next_before"]:
            params = {"limit": 100, "before": body["meta"]["next_before"]}
        return {i: self.first_seen[i] for i in ids if i in self.first_seen}


def scenario_chat(stack, gen, campus, signer, tokens, course, video, instructor_token, p, log, door_pids,
                  ports=None):
    """A chat in one video room: ``chat_users`` students join it (spread over the doors) and send
    ``chat_rate`` messages a second in all, for ``chat_seconds``, each acknowledged; every member
    counts every message it receives (the sender too). Measured: send -> each receipt, send ->
    the last member's receipt (targets p99 <= 100 ms), lost and duplicated receipts (target 0),
    and how fast the chat service stores them, read back through the history API."""
    users = p["chat_users"]
    if len(tokens) < users:
        extra = [mint(signer) for _ in range(users - len(tokens))]
        campus.enroll_all(course, extra)
        tokens = tokens + extra
    gen.ask("close")
    answer = gen.ask("connect", tokens=tokens[:users], record="chat", concurrency=100, ports=ports)
    assert answer["failed"] == 0, answer
    joins = gen.ask("join", event="join_video", data={"video_id": video["id"]}, first=0, count=users)
    assert joins["failed"] == 0, joins
    time.sleep(1.0)
    watch = StoredWatch(stack.url, instructor_token, video["id"]).start()
    chat_pid = stack.processes["chat"].pid
    door_cpu, chat_cpu, gen_cpu = (sum(cpu_seconds(pid) for pid in door_pids), cpu_seconds(chat_pid),
                                   gen.cpu_seconds())
    wall = time.monotonic()
    run = gen.ask("chat_run", first=0, count=users, video_id=video["id"], rate=p["chat_rate"],
                  seconds=p["chat_seconds"])
    acked = {int(seq): message_id for seq, message_id in run["acked"].items()}
    received = gen.ask("chat_collect", first=0, count=users, seqs=sorted(acked), grace=15)
    stored = watch.all_stored(list(acked.values()), timeout=30)
    wall = time.monotonic() - wall
    sent_at = {int(seq): at for seq, at in run["sent_at"].items()}
    lags = sorted(stored[message_id] - sent_at[seq] for seq, message_id in acked.items() if message_id in stored)
    stored_span = max(stored.values(), default=run["first_sent_at"]) - run["first_sent_at"]
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    result = {
        "users": users, "rate": p["chat_rate"], "seconds": p["chat_seconds"], "doors": len(door_pids),
        "sent": run["sent"], "acknowledged": len(acked), "refused": run["refused"], "refusals": run["refusals"],
        "ack_p50_ms": run["ack_p50_ms"], "ack_p99_ms": run["ack_p99_ms"],
        **{key: received[key] for key in ("expected", "delivered", "lost", "duplicated", "send_order_inversions",
                                          "p50_ms", "p95_ms", "p99_ms", "max_ms", "all_members_p50_ms",
                                          "all_members_p99_ms", "all_members_max_ms")},
        "stored": len(stored), "not_stored": len(acked) - len(stored),
        # first send -> the last acknowledged message seen stored: keeping up means the send rate
        "stored_per_s": round(len(stored) / stored_span, 1) if stored_span > 0 else None,
        "storage_lag_p50_ms": ms(lags[len(lags) // 2]) if lags else None,
        "storage_lag_p99_ms": ms(lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))]) if lags else None,
        "door_cpu_percent": round(100 * (sum(cpu_seconds(pid) for pid in door_pids) - door_cpu) / wall, 1),
        "chat_service_cpu_percent": round(100 * (cpu_seconds(chat_pid) - chat_cpu) / wall, 1),
        "loadgen_cpu_percent": round(100 * (gen.cpu_seconds() - gen_cpu) / wall, 1),
        "errors": gen.ask("stats")["errors"],
        "history_refusals": watch.refusals,
    }
    log(f"    {result['acknowledged']}/{result['sent']} acknowledged ({result['refused']} refused); receipts p50 "
        f"{result['p50_ms']} p99 {result['p99_ms']} ms, every member p99 {result['all_members_p99_ms']} ms; lost "
        f"{result['lost']}, duplicated {result['duplicated']}; stored {result['stored']} "
        f"({result['stored_per_s']}/s, lag p99 {result['storage_lag_p99_ms']} ms), not stored {result['not_stored']}"
        + (f"; the history refused the bench: {watch.refusals}" if watch.refusals else ""))
    gen.ask("close")
    return result


def versus_node(ours, node):
    """Ours over Node's (issue 15): the ceiling (max deliveries/s at p99 <= 100 ms, all delivered),
    and server CPU per delivery at the highest event rate both passed: the same load, as near
    saturation as both went. (Summed over every step both passed, as this was until 2026-12-03,
    the low-rate steps weigh most: there a server's CPU is mostly its fixed background work,
    a few percent of a core over 10-30 s, and the ratio moved 33 % between three runs whose
    ratio at the highest common step moved 7 %; that sum is kept as ``cpu_per_delivery_all_steps``.)"""
    ratios = {}
    if ours.get("max_deliveries_per_s") and node.get("max_deliveries_per_s"):
        ratios["max_deliveries"] = round(ours["max_deliveries_per_s"] / node["max_deliveries_per_s"], 3)
    def passed(step):  # a passing trial of a step its trials passed (a step of one trial: itself)
        return step.get("passed") and step.get("step_passed", True)

    theirs = {s["rate"]: s for s in node.get("steps", []) if passed(s)}
    pairs = [(s["rate"], per_delivery_us(s), per_delivery_us(theirs[s["rate"]]))
             for s in ours.get("steps", []) if passed(s) and s["rate"] in theirs]
    pairs = [(rate, a, b) for rate, a, b in pairs if a and b]
    if pairs:
        rate, a, b = max(pairs)
        ratios["cpu_per_delivery"] = round(a / b, 3)
        ratios["cpu_rate"] = rate
        ratios["cpu_per_delivery_all_steps"] = round(sum(a for _, a, _ in pairs) / sum(b for _, _, b in pairs), 3)
        ratios["cpu_steps"] = len(pairs)
    return ratios


# -- Node baseline -----------------------------------------------------------------------

@contextmanager
def node_baseline(amqp_base, public_key, signer, course_id, instructor_id, p, log):
    """The Node baseline up beside our door: ``node server.mjs`` on the server core, in a RabbitMQ
    vhost of its own (our dispatcher's events must not reach it, nor its ours), with its own load
    generator and dispatcher, its fan-out clients connected and joined, and its 1,000 x 10/s
    window measured. Yields ``(result, server)``: the ``node_baseline`` result so far (the
    ceiling is added to it by the caller, run in turn with ours: :func:`fanout_ceilings`) and
    the :class:`Server` to climb with. Stopped after."""
    if not shutil.which("node"):
        yield {"skipped": "node is not installed"}, None
        return
    if not (NODE_DIR / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True)
    with ExitStack() as node_of:
        amqp_uri = node_of.enter_context(own_vhost(amqp_base, prefix="bench-node"))
        port = free_ports()
        server = subprocess.Popen(pinned_command(["node", "server.mjs"], SERVER_CORE), cwd=NODE_DIR,
                                  stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PORT": str(port), "AMQP_URI": amqp_uri,
                                       "JWT_PUBLIC_KEY_FILE": str(public_key)})

        def stop():
            server.terminate()
            server.wait(10)

        node_of.callback(stop)
        line = server.stdout.readline()
        assert "listening" in line, line
        gen = LoadGen()
        node_of.callback(gen.close)
        gen.ask("init", url=f"http://127.0.0.1:{port}")
        dispatcher = Dispatcher(amqp_uri, course_id, instructor_id)
        tokens = [mint(signer) for _ in range(p["fanout_clients"][-1])]
        connected = gen.ask("connect", tokens=tokens, record="fanout", concurrency=100)
        assert connected["failed"] == 0, connected
        joins = gen.ask("join", event="join_course", data={"course_id": course_id}, count=len(tokens))
        assert joins["failed"] == 0, joins
        time.sleep(1.0)
        fanout = fanout_window(gen, dispatcher, len(tokens), p["fanout_rate"], p["fanout_seconds"],
                               server_pids=[server.pid])
        fanout["deflate_accepted"] = connected["deflate_accepted"]
        log(f"    node fanout: p50 {fanout['p50_ms']} p99 {fanout['p99_ms']} ms, delivered {fanout['delivered_ratio']}")
        result = {"p50_ms": fanout["p50_ms"], "p99_ms": fanout["p99_ms"], "fanout": fanout,
                  "versions": json.loads((NODE_DIR / "package.json").read_text())["dependencies"],
                  "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}
        yield result, Server("node", gen, dispatcher, len(tokens), [server.pid])


# -- the machine -------------------------------------------------------------------------

def machine_speed_us():
    """The machine's speed now: microseconds for ``sum(range(1000))``, best of five (~0.2 s).

    This machine is a VM whose speed moves with its neighbours (10.3 to 19.2 us over the
    afternoon of 2026-12-04, 12.05 to 17.01 within one connections scenario): a figure taken
    minutes apart from another may differ by that much with no change in the code. Recorded at
    each run's start and before and after the connections and the ceilings."""
    import timeit

    return round(min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6, 2)


# a quiet machine (issue 15) for each ceiling trial: its speed (:func:`machine_speed_us`, on the
# server's core) within QUIET_TOLERANCE of the fastest seen in this ``make bench``. Before a
# trial the bench waits for it (every QUIET_PROBE_S, at most QUIET_WAIT_S a trial and
# QUIET_BUDGET_S a search, so that a machine slow for an hour still gets measured, its trials
# marked); a trial the machine slowed down during is run again, QUIET_RETRIES times at most
QUIET_TOLERANCE = 0.10
QUIET_PROBE_S = 2.0
QUIET_WAIT_S = 20.0
QUIET_BUDGET_S = 240.0
QUIET_RETRIES = 1


class QuietMachine:
    """Waits for the machine to be quiet: as fast as the fastest it has been seen, within
    ``tolerance``. ``probe`` gives the speed in microseconds (lower is faster); ``sleep`` and
    ``clock`` are time's (both given in the unit tests)."""

    def __init__(self, probe=None, tolerance=QUIET_TOLERANCE, probe_every_s=QUIET_PROBE_S,
                 wait_s=QUIET_WAIT_S, budget_s=QUIET_BUDGET_S, sleep=time.sleep, clock=time.monotonic):
        self.probe = probe or self._server_core_speed
        self.tolerance, self.probe_every_s, self.wait_s = tolerance, probe_every_s, wait_s
        self.budget_s, self.sleep, self.clock = budget_s, sleep, clock
        self.fastest = None
        self.waited_s = 0.0

    @staticmethod
    def _server_core_speed():
        with on_core(SERVER_CORE):
            return machine_speed_us()

    def speed(self):
        """The speed now, remembered if it is the fastest yet."""
        now = self.probe()
        self.fastest = now if self.fastest is None else min(self.fastest, now)
        return now

    def is_quiet(self, speed):
        return speed <= self.fastest * (1 + self.tolerance)

    def new_search(self):
        """A new waiting budget (the fastest speed seen is kept: it is the machine's)."""
        self.waited_s = 0.0

    def settle(self):
        """Wait until the machine is quiet, or this trial's or the search's wait is spent:
        ``{"speed_us": ..., "waited_s": ..., "quiet": ...}``."""
        started = self.clock()
        while True:
            now = self.speed()
            waited = self.clock() - started
            if (self.is_quiet(now) or waited >= self.wait_s
                    or self.waited_s + waited >= self.budget_s):
                self.waited_s += waited
                return {"speed_us": now, "waited_s": round(waited, 1), "quiet": self.is_quiet(now)}
            self.sleep(self.probe_every_s)


def machine():
    from importlib.metadata import version

    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(), "memory_gb": round(int(meminfo[1]) / 1024 / 1024, 1),
        "cpu": next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                     if l.startswith("model name")), platform.processor()),
        "kernel": platform.release(), "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
        "speed_us_at_start": machine_speed_us(),
        "libraries": {name: version(name) for name in (
            "nameko", "eventlet", "python-socketio", "python-engineio", "kombu", "sqlalchemy")},
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def run_once(quiet=None):
    """One full run; ``quiet``: the :class:`QuietMachine` its ceiling trials wait for (one for
    every run of a ``BENCH_REPEAT``, so that all are measured against the same fastest speed)."""
    p = plan()
    started = datetime.datetime.now(datetime.timezone.utc)
    raise_fd_limit()
    log = lambda text: print(text, flush=True)  # noqa: E731
    amqp_base = os.environ.get("BENCH_AMQP_URI", DEFAULT_AMQP_URI).rstrip("/")
    problem = broker_problem(amqp_base + "/")
    if problem:
        print(problem, file=sys.stderr)
        return None
    results = {"started_at": started.isoformat(timespec="seconds"), "quick": QUICK, "plan": p,
               "machine": machine()}
    log(f"bench ({'quick' if QUICK else 'full'}) on {results['machine']['cores']} cores, "
        f"load {results['machine']['load_average_at_start']}")
    with ExitStack() as stack_of:
        var_dir = Path(stack_of.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        keys = ensure_dev_keys(var_dir / "keys")
        signer = Signer(keys[0].read_bytes())
        amqp_uri = stack_of.enter_context(own_vhost(amqp_base, prefix="bench"))
        progress_db, drop_db = fresh_database("progress")
        stack_of.callback(drop_db)
        results["progress_database"] = "postgresql" if progress_db else "sqlite"
        chat_db, drop_chat_db = fresh_database("chat")
        stack_of.callback(drop_chat_db)
        results["chat_database"] = "postgresql" if chat_db else "sqlite"
        stack = stack_of.enter_context(running_stack(amqp_uri, keys, var_dir, ready_timeout=120,
                                                     settings=stack_settings(progress_db, chat_db)))
        log(f"platform up at {stack.url}")
        pin(stack.processes["realtime"].pid, SERVER_CORE)
        results["pinning"] = ({"server_core": SERVER_CORE, "loadgen_core": LOADGEN_CORE, "tool": "taskset",
                               "not_pinned": "RabbitMQ, PostgreSQL, the other services, second doors"}
                              if PIN else None)
        campus = Campus(Api(stack.url, timeout=30))
        course, instructor = campus.course(title="Bench course")
        video = course["videos"][0]
        # the instructor's own access token (from the login) lasts ACCESS_TOKEN_TTL_SECONDS, 15
        # minutes: less than a run whose ceilings wait for a quiet machine (the chat scenario of
        # 2026-12-04 17:51 read the history with it 17 minutes in, was refused, and counted every
        # message as not stored). The scenarios after the ceilings use one for the whole run.
        instructor_token = signer.token(instructor["user"]["id"], role="instructor", ttl=TOKEN_TTL_SECONDS,
                                        email=instructor["user"]["email"])
        students = p["fanout_clients"][-1]
        student_tokens = [mint(signer) for _ in range(students)]
        t = time.monotonic()
        campus.enroll_all(course, student_tokens)
        log(f"{students} students enrolled through the API in {time.monotonic() - t:.1f}s")

        gen = LoadGen()
        stack_of.callback(gen.close)
        gen.ask("init", url=stack.url)
        gen_cpu_start = gen.cpu_seconds()

        only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))  # for iterating on one scenario
        wanted = lambda name: not only or name in only  # noqa: E731
        if wanted("connections"):
            # on a door of its own, stopped after: a door that has just held 10,000 clients spent
            # 15-20 % more per fan-out delivery than a fresh one (docs/benchmarks.md, 2026-12-04
            # morning), and the fan-out is compared with a fresh Node process
            log("connections: ramp on a realtime process of its own")
            door = Stack(stack.env, var_dir / "connections-door", port=free_ports(), echo=False)
            try:
                door.start(services=("realtime",))
                door.wait_ready(timeout=120)
                pin(door.processes["realtime"].pid, SERVER_CORE)
                speed_before = machine_speed_us()
                with profiled(door.processes["realtime"].pid, "connections"):
                    results["connections"] = scenario_connections(door, gen, signer, p, log)
                results["connections"]["machine_speed_us"] = [speed_before, machine_speed_us()]
            finally:
                door.stop()

        dispatcher = Dispatcher(amqp_uri, course["id"], instructor["user"]["id"])
        # more door replicas (rooms shared over RabbitMQ): each its own Stack of just
        # "realtime", on its own port; the clients of a scenario are spread over them
        replicas = []

        def doors(count):
            while len(replicas) < count - 1:
                replica = Stack(stack.env, var_dir / f"replica-{len(replicas) + 2}", port=free_ports(), echo=False)
                stack_of.callback(replica.stop)
                replica.start(services=("realtime",))
                replica.wait_ready(timeout=120)
                replicas.append(replica)
            # the first ``count`` doors (a scenario that wants one door gets one, even after
            # another scenario started more)
            chosen = replicas[:count - 1]
            return ([stack.port] + [r.port for r in chosen],
                    [stack.processes["realtime"].pid] + [r.processes["realtime"].pid for r in chosen])

        ports, door_pids = doors(int(os.environ.get("BENCH_FANOUT_REPLICAS", p["fanout_replicas"])))
        results["fanout_replicas"] = len(ports)
        with ExitStack() as node_of:
            if p["node"] and os.environ.get("BENCH_NODE", "1") != "0" and wanted("node"):
                log("node_baseline: socket.io 4 + amqplib on the same events, up beside our door")
                results["node_baseline"], node = node_of.enter_context(node_baseline(
                    amqp_base, keys[1], signer, course["id"], instructor["user"]["id"], p, log))
            else:
                node = None
            if wanted("fanout"):
                log("fanout: course_updated through RabbitMQ to one course room")
                results["fanout"] = scenario_fanout(None, gen, dispatcher, student_tokens, course["id"], p, log,
                                                    door_pids, ports=ports)
            if wanted("fanout") or node:
                ours = Server("ours", gen, dispatcher, students, door_pids) if wanted("fanout") else None
                servers = [s for s in (ours, node) if s]
                log(f"fanout_max: raising the event rate ({', then '.join(s.name for s in servers)}, a trial each "
                    "in turn)")
                speed_before = machine_speed_us()
                with profiled(stack.processes["realtime"].pid, "fanout_max"):
                    ceilings = dict(zip((s.name for s in servers),
                                        fanout_ceilings(servers, p["max_rates"], p["max_step_seconds"], log,
                                                        quiet=quiet)))
                results["fanout_max_machine_speed_us"] = [speed_before, machine_speed_us()]
                if "ours" in ceilings:
                    results["fanout_max"] = ceilings["ours"]
                if "node" in ceilings:
                    results["node_baseline"].update(fanout_max=ceilings["node"],
                                                    max_deliveries_per_s=ceilings["node"]["max_deliveries_per_s"])
                results["loadgen_errors"] = gen.ask("stats")["errors"]

        if wanted("two_doors") and "fanout_max" in results:
            log("two_doors: the same fan-out steps, clients spread over two door processes on the server core")
            results["two_doors"] = scenario_two_doors(gen, dispatcher, student_tokens, course["id"], p, log,
                                                      doors, results["fanout_max"], quiet=quiet)

        if wanted("progress"):
            ports, door_pids = doors(int(os.environ.get("BENCH_PROGRESS_REPLICAS", p["progress_replicas"])))
            results["progress_replicas"] = len(ports)
            log(f"progress: students reporting video_progress to {len(ports)} door process(es)")
            with profiled(stack.processes["realtime"].pid, "progress"), \
                    profiled(stack.processes["progress"].pid, "progress-service"), \
                    profiled(stack.processes["courses"].pid, "courses-service"):
                results["progress"] = scenario_progress(stack, gen, instructor_token, student_tokens,
                                                        course, video, p, log, door_pids, ports=ports)
        if wanted("recovery"):
            log(f"recovery: {p['recovery_clients']} recovering clients on door A, A killed with SIGKILL, "
                "all recovered on door B")
            results["recovery"] = scenario_recovery(stack, gen, dispatcher, campus, signer, student_tokens,
                                                    course, p, log)
        if wanted("chat"):
            ports, door_pids = doors(int(os.environ.get("BENCH_CHAT_REPLICAS", p["chat_replicas"])))
            log(f"chat: {p['chat_users']} students in one video room on {len(ports)} door process(es), "
                f"{p['chat_rate']} messages/s in all")
            with profiled(stack.processes["realtime"].pid, "chat"), \
                    profiled(stack.processes["chat"].pid, "chat-service"):
                results["chat"] = scenario_chat(stack, gen, campus, signer, student_tokens, course, video,
                                                instructor_token, p, log, door_pids, ports=ports)
        results["loadgen_cpu_s_total"] = round(gen.cpu_seconds() - gen_cpu_start, 2)
        gen.close()
        for replica in replicas:
            replica.stop()
        stack.stop()
    node = results.get("node_baseline", {})
    if "fanout_max" in results and "fanout_max" in node:
        ratios = versus_node(results["fanout_max"], node["fanout_max"])
        results["ratio_vs_node"] = ratios.get("max_deliveries")
        # ours not limited by itself (the load generator's core full, or the ladder's top): the
        # ratio is a lower bound
        results["ratio_vs_node_limited_by"] = results["fanout_max"].get("limited_by")
        results["cpu_ratio_vs_node"] = ratios.get("cpu_per_delivery")
        results["cpu_ratio_vs_node_rate"] = ratios.get("cpu_rate")
        results["cpu_ratio_vs_node_all_steps"] = ratios.get("cpu_per_delivery_all_steps")
    results["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def spread(values):
    """(max - min) / min of the figures that exist (numbers); None with fewer than two."""
    values = [v for v in values if isinstance(v, (int, float)) and v]
    return round((max(values) - min(values)) / min(values), 3) if len(values) > 1 else None


def agreement(runs):
    """Do consecutive runs agree (within ``AGREEMENT``) on the figures the comparison rests on?"""
    figures = {
        "ratio_vs_node": lambda r: r.get("ratio_vs_node"),
        "cpu_ratio_vs_node": lambda r: r.get("cpu_ratio_vs_node"),
        "cpu_ratio_vs_node_all_steps": lambda r: r.get("cpu_ratio_vs_node_all_steps"),
        "max_deliveries_per_s": lambda r: r.get("fanout_max", {}).get("max_deliveries_per_s"),
        "max_deliveries_limited_by": lambda r: r.get("fanout_max", {}).get("limited_by"),
        "node_max_deliveries_per_s": lambda r: r.get("node_baseline", {}).get("max_deliveries_per_s"),
        "fanout_p99_ms": lambda r: r.get("fanout", {}).get("p99_ms"),
        "connects_per_s": lambda r: r.get("connections", {}).get("connects_per_s"),
        # not a result: the machine's own speed (machine_speed_us), what the others move with
        "machine_speed_us_at_start": lambda r: r.get("machine", {}).get("speed_us_at_start"),
    }
    table = {name: {"values": [get(r) for r in runs], "spread": spread([get(r) for r in runs])}
             for name, get in figures.items()}
    ratios = [table[k]["spread"] for k in ("ratio_vs_node", "cpu_ratio_vs_node")]
    return {"runs": [r["started_at"] for r in runs], "limit": AGREEMENT, "figures": table,
            "ratios_agree": all(x is not None and x <= AGREEMENT for x in ratios)}


def main():
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "1")))
    runs = []
    quiet = QuietMachine() if os.environ.get("BENCH_QUIET", "1") != "0" else None
    for n in range(repeat):
        if repeat > 1:
            print(f"== run {n + 1} of {repeat}", flush=True)
        results = run_once(quiet)
        if results is None:
            return 1
        runs.append(results)
        if n + 1 < repeat:
            write(results)
    if repeat > 1:
        results["repeat"] = agreement(runs)
        for name, figure in results["repeat"]["figures"].items():
            print(f"  {name}: {figure['values']} spread {figure['spread']}")
        print(f"  the two ratios agree within {AGREEMENT:.0%}: {results['repeat']['ratios_agree']}")
    write(results)
    return 0


def write(results):
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    stamp = results["started_at"].replace(":", "").replace("+0000", "Z")
    # only a full run of every scenario is the record (latest.json, the page); a smoke run, a
    # partial one (BENCH_ONLY) or another plan's sizes are kept apart, never over it
    partial = bool(os.environ.get("BENCH_ONLY")) or os.environ.get("BENCH_PLAN") in ("dev", "smoke")
    kind = "quick" if results["quick"] else "partial" if partial else None
    name = f"latest-{kind}.json" if kind else "latest.json"
    (RESULTS / name).write_text(text + "\n")
    (RESULTS / f"{kind + '-' if kind else ''}{stamp}.json").write_text(text + "\n")
    if kind is None:
        from bench import report
        report.write(results)
        print(f"wrote {RESULTS / name} and docs/benchmarks.md (+ benchmarks.png)")
    else:
        from bench import report
        report.write(dict(results, quick=True))  # its table on stdout only
        print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    sys.exit(main())
