"""The fan-out ceiling's search (``bench/run.py``): which rates it tries, how a step near the
line is decided, and that two servers' searches run a trial each in turn. The servers here
are stand-ins whose p99 is a function of the rate (and of the trial): the search is the
subject, not a server; ``make bench`` runs it against the real ones."""
from bench.run import (CLEAR_P99_MS, GENERATOR_BOUND_PERCENT, LOADGEN_CORE, SERVER_CORE, QuietMachine, Server,
                       ceiling_search, cores_busy, fanout_ceilings)

LADDER = [20, 40, 60, 80, 100]


class Modelled(Server):
    """A server whose trials at a rate have the p99s given by ``p99(rate, trial)``; it records
    every trial in ``log`` (shared between servers, to see their order)."""

    def __init__(self, name, p99, log, loadgen_busy=lambda rate: 50.0, during=None):
        super().__init__(name, gen=None, dispatcher=None, clients=1000, pids=[])
        self.p99, self.log, self.trials = p99, log, {}
        self.loadgen_busy, self.during = loadgen_busy, during

    def window(self, rate, seconds, grace=5.0):
        trial = self.trials[rate] = self.trials.get(rate, 0) + 1
        self.log.append((self.name, rate))
        if self.during:
            self.during(rate, trial)
        return {"rate": rate, "p99_ms": self.p99(rate, trial), "p50_ms": 1.0, "delivered_ratio": 1.0,
                "deliveries_per_s": rate * 1000.0, "loadgen_cpu_percent": 0.0,
                "core_busy_percent": {"server": 90.0, "loadgen": self.loadgen_busy(rate)}}


def capacity(limit):
    """Clear under ``limit`` events/s, far over the line above it."""
    return lambda rate, trial: 10.0 if rate <= limit else 500.0


def climb(p99, rates=LADDER, refine=3):
    log = []
    return fanout_ceilings([Modelled("only", p99, log)], rates, 0, lambda text: None, refine=refine)[0], log


def test_the_ladder_stops_at_the_first_failed_step_and_halves_the_gap_three_times():
    result, log = climb(capacity(53))
    # up the ladder; 60 fails twice (a failed trial is retried: the majority of up to three);
    # then 50 (passes clear), 55 (fails twice), 52 (passes clear)
    assert log == [("only", r) for r in (20, 40, 60, 60, 50, 55, 55, 52)]
    assert result["max_rate"] == 52
    assert result["max_deliveries_per_s"] == 52_000.0
    assert [s["stage"] for s in result["steps"]] == ["ladder"] * 4 + ["refine"] * 4
    assert [s["step_passed"] for s in result["steps"]] == [True, True, False, False, True, False, False, True]


def test_a_step_near_the_line_is_the_majority_of_three_trials():
    near = {1: 80.0, 2: 150.0, 3: 90.0}  # passes, fails, passes: above CLEAR_P99_MS each time

    def p99(rate, trial):
        return near[trial] if rate == 40 else capacity(40)(rate, trial)

    result, log = climb(p99, refine=0)
    assert 80.0 > CLEAR_P99_MS
    assert log == [("only", 20), ("only", 40), ("only", 40), ("only", 40), ("only", 60), ("only", 60)]
    assert result["max_rate"] == 40
    chosen = next(s for s in result["steps"] if s["rate"] == 40 and s["p99_ms"] == 80.0)
    assert chosen["trials"] == 3 and chosen["step_passed"]


def test_a_step_whose_majority_failed_stops_the_ladder_even_after_a_passing_trial():
    near = {1: 150.0, 2: 90.0, 3: 180.0}

    def p99(rate, trial):
        return near[trial] if rate == 40 else 10.0

    result, log = climb(p99, refine=0)
    assert log == [("only", 20), ("only", 40), ("only", 40), ("only", 40)]
    assert result["max_rate"] == 20


def test_no_step_passed_is_no_ceiling():
    result, log = climb(capacity(10))
    assert result["max_rate"] is None and result["max_deliveries_per_s"] == 0.0
    assert log == [("only", 20), ("only", 20)]


def test_a_search_that_never_fails_ends_at_the_top_of_the_ladder():
    result, log = climb(capacity(1000))
    assert result["max_rate"] == 100 and [r for _, r in log] == LADDER


def test_two_servers_run_a_trial_each_in_turn_until_each_has_its_ceiling():
    log = []
    ours, node = Modelled("ours", capacity(50), log), Modelled("node", capacity(70), log)
    found = fanout_ceilings([ours, node], LADDER, 0, lambda text: None, refine=1)
    assert [f["max_rate"] for f in found] == [50, 70]
    # in turn while both climb; Node goes on alone once ours has its ceiling
    assert log == [("ours", 20), ("node", 20), ("ours", 40), ("node", 40), ("ours", 60), ("node", 60),
                   ("ours", 60), ("node", 80), ("ours", 50), ("node", 80), ("node", 70)]
    # each server's steps are its own
    assert {s["rate"] for s in found[0]["steps"]} == {20, 40, 60, 50}
    assert {s["rate"] for s in found[1]["steps"]} == {20, 40, 60, 80, 70}


def test_the_search_alone_yields_rates_and_returns_its_steps():
    search = ceiling_search([20, 40], refine=0)
    assert next(search) == (20, "ladder")
    assert search.send({"rate": 20, "p99_ms": 5.0, "delivered_ratio": 1.0}) == (40, "ladder")
    try:
        search.send({"rate": 40, "p99_ms": 5.0, "delivered_ratio": 0.5})  # a lost delivery fails a trial
    except StopIteration:
        raise AssertionError("a failed first trial is tried again")
    try:
        search.send({"rate": 40, "p99_ms": 5.0, "delivered_ratio": 0.9})
    except StopIteration as done:
        steps, best = done.value
    assert best["rate"] == 20 and len(steps) == 3 and not steps[-1]["passed"]


# -- what a ceiling is the limit of ------------------------------------------------------

def test_a_ceiling_where_the_server_failed_with_the_generator_to_spare_is_the_servers():
    result, _ = climb(capacity(53))
    assert result["limited_by"] == "server"


def test_a_ceiling_where_a_failed_trial_had_the_generators_core_full_is_a_lower_bound():
    full = lambda rate: GENERATOR_BOUND_PERCENT + 1.0 if rate >= 60 else 60.0  # noqa: E731
    log = []
    result = fanout_ceilings([Modelled("only", capacity(53), log, loadgen_busy=full)], LADDER, 0,
                             lambda text: None)[0]
    assert result["max_rate"] == 52  # the search is the same; what the ceiling means is not
    assert result["limited_by"] == "load generator"


def test_a_generator_full_while_passing_limits_nothing():
    full = lambda rate: 99.0  # noqa: E731
    result = fanout_ceilings([Modelled("only", capacity(53), [], loadgen_busy=full)], LADDER, 0,
                             lambda text: None)[0]
    # 60 failed with the generator's core full: only failed trials say where the limit is
    assert result["limited_by"] == "load generator"
    result = fanout_ceilings([Modelled("only", capacity(1000), [], loadgen_busy=full)], LADDER, 0,
                             lambda text: None)[0]
    assert result["limited_by"] == "ladder" and result["max_rate"] == 100


def test_cores_busy_is_each_pinned_cores_share_of_its_ticks_and_the_machines_steal():
    before = ({SERVER_CORE: (100, 1000), LOADGEN_CORE: (500, 1000)}, 10)
    after = ({SERVER_CORE: (190, 1100), LOADGEN_CORE: (550, 1100)}, 30)
    busy = cores_busy(before, after)
    assert busy == {"server": 90.0, "loadgen": 50.0, "steal": 10.0}


# -- a quiet machine ---------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def machine(speeds, clock, **kwargs):
    """A QuietMachine whose probe reads ``speeds`` in turn (then the last, on and on)."""
    speeds = list(speeds)
    probe = lambda: speeds.pop(0) if len(speeds) > 1 else speeds[0]  # noqa: E731
    return QuietMachine(probe=probe, sleep=clock.sleep, clock=clock, **kwargs)


def test_a_quiet_machine_is_within_the_tolerance_of_the_fastest_seen():
    clock = Clock()
    quiet = machine([10.0, 10.9, 11.2], clock, tolerance=0.10)
    assert quiet.settle() == {"speed_us": 10.0, "waited_s": 0.0, "quiet": True}
    assert quiet.settle()["quiet"]  # 10.9: 9 % slower
    # 11.2: 12 % slower; waited for as long as a trial may, then measured, marked
    calm = quiet.settle()
    assert calm["quiet"] is False and calm["waited_s"] >= quiet.wait_s


def test_the_bench_waits_for_the_machine_to_come_back():
    clock = Clock()
    quiet = machine([10.0, 14.0, 13.0, 10.5], clock, tolerance=0.10, probe_every_s=2.0)
    quiet.settle()
    calm = quiet.settle()
    assert calm == {"speed_us": 10.5, "waited_s": 4.0, "quiet": True}


def test_a_search_waits_no_longer_than_its_budget():
    clock = Clock()
    quiet = machine([10.0, 20.0], clock, wait_s=20.0, budget_s=30.0, probe_every_s=2.0)
    quiet.settle()
    assert quiet.settle()["waited_s"] == 20.0
    assert quiet.settle()["waited_s"] == 10.0  # what is left of the budget
    assert quiet.settle()["waited_s"] == 0.0
    quiet.new_search()
    assert quiet.settle()["waited_s"] == 20.0


def test_a_trial_the_machine_slowed_down_during_is_run_again_and_kept_apart():
    clock, slow = Clock(), []
    quiet = QuietMachine(probe=lambda: slow.pop() if slow else 10.0, sleep=clock.sleep, clock=clock,
                         tolerance=0.10)

    def during(rate, trial):  # the machine slows down during the first trial at 40, then recovers
        if (rate, trial) == (40, 1):
            slow.append(15.0)

    log = []
    result = fanout_ceilings([Modelled("only", capacity(1000), log, during=during)], [20, 40, 60], 0,
                             lambda text: None, quiet=quiet)[0]
    assert log == [("only", 20), ("only", 40), ("only", 40), ("only", 60)]
    assert [s["rate"] for s in result["steps"]] == [20, 40, 60]
    assert all(s["machine_quiet"] for s in result["steps"])
    assert [(t["rate"], t["machine_speed_us"]) for t in result["not_quiet"]] == [(40, [10.0, 15.0])]
