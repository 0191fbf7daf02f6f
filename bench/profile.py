"""py-spy around a scenario: ``BENCH_PROFILE=1 make bench`` samples the realtime process.

Each profiled scenario leaves ``bench/results/profiles/<name>.txt``: the functions where
the door spent its samples, by own time and by inclusive time (py-spy's raw collapsed
stacks, aggregated here), and ``<name>.svg``-ready raw stacks (``<name>.folded``).
"""
import collections
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "results" / "profiles"
ENABLED = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
RATE = int(os.environ.get("BENCH_PROFILE_RATE", "200"))  # samples/s: more for short scenarios


def py_spy():
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@contextmanager
def profiled(pid, name, seconds=None):
    if not ENABLED or not py_spy():
        yield
        return
    PROFILES.mkdir(parents=True, exist_ok=True)
    folded = PROFILES / f"{name}.folded"
    command = [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking", "--format", "raw",
               "--output", str(folded)]
    if seconds:
        command += ["--duration", str(int(seconds))]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        if spy.poll() is None:
            spy.send_signal(2)  # SIGINT: py-spy writes what it has
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
        if folded.exists():
            (PROFILES / f"{name}.txt").write_text(summarise(folded.read_text()))


def summarise(folded, top=35):
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        count = int(count)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    out = [f"{total} samples", "", "own time:"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    out += ["", "inclusive time:"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]).read_text()))
