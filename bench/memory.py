"""What an idle authenticated websocket connection holds on the door.

    .venv/bin/python -m bench.memory          # 500 connections
    .venv/bin/python -m bench.memory 1000

Starts its own platform (``tests/support``: ``running_stack`` in a vhost of its own) with
``bench/memhook`` on the door's ``PYTHONPATH``: the door traces its allocations with
``tracemalloc`` from its first import and, on SIGUSR2, writes a probe (tracemalloc
snapshot, objects by type after a full collection, RSS). The probe is taken with the
door idle, after N authenticated clients connected (``bench/loadgen.py``, no room
joined: the ``connections`` scenario's idle socket), and after they closed; per
connection = (after - before) / N. Prints the breakdown and writes
``bench/results/memory.json``. Tracing makes the door slower and its heap a little
larger (the traces themselves are not counted by tracemalloc, but are in RSS); the
shares, not the RSS, are what this is for: ``make bench``'s ``connections`` measures
the RSS without it.
"""
import collections
import datetime
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.run import RESULTS, LoadGen, mint, raise_fd_limit, stack_settings
from services.stack import ensure_dev_keys
from tests.support.forge import Signer
from tests.support.stack import own_vhost, running_stack

ROOT = Path(__file__).resolve().parent.parent
HOOK = ROOT / "bench" / "memhook"


def probe(pid, directory, number, timeout=60):
    os.kill(pid, signal.SIGUSR2)
    done = directory / f"probe-{number}.json"
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the door wrote no probe {number} in {timeout} s")
        time.sleep(0.2)
    data = json.loads(done.read_text())
    data["snapshot"] = tracemalloc.Snapshot.load(str(directory / f"probe-{number}.snapshot"))
    return data


def where(frame):
    """``package/module.py:line`` from a traceback frame, with the environment's prefix cut."""
    name = frame.filename
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in name:
            name = name.split(marker, 1)[1]
            break
    return f"{name}:{frame.lineno}"


def owner(traceback):
    """The innermost frame of ours or of a named library: who asked for the memory."""
    for frame in reversed(traceback):  # tracemalloc lists the most recent call last
        name = frame.filename
        if "/services/" in name or any(lib in name for lib in ("/engineio/", "/socketio/", "/eventlet/")):
            return where(frame)
    return where(traceback[-1])


def caller(traceback):
    """The innermost frame of ours or of engineio/socketio, past eventlet and the standard
    library: whose work a green thread, a buffer or a stack copy is."""
    for frame in reversed(traceback):
        name = frame.filename
        if "/services/" in name or "/engineio/" in name or "/socketio/" in name:
            return where(frame)
    return "(eventlet or the standard library only): " + where(traceback[-1])


def library(filename):
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            return rest.split("/", 1)[0] if not rest.startswith("services/") else "/".join(rest.split("/")[:3])
    return "python (stdlib, interpreter)"


def compare(before, after, count, top=25):
    diff = after["snapshot"].compare_to(before["snapshot"], "traceback")
    grown = [d for d in diff if d.size_diff > 0]
    by_line, by_owner, by_library = collections.Counter(), collections.Counter(), collections.Counter()
    by_caller = collections.Counter()
    for stat in grown:
        by_line[where(stat.traceback[-1])] += stat.size_diff
        by_owner[owner(stat.traceback)] += stat.size_diff
        by_caller[caller(stat.traceback)] += stat.size_diff
        by_library[library(stat.traceback[-1].filename)] += stat.size_diff
    types = []
    for name in set(after["counts"]) | set(before["counts"]):
        n = after["counts"].get(name, 0) - before["counts"].get(name, 0)
        size = after["sizes"].get(name, 0) - before["sizes"].get(name, 0)
        if n > 0:
            types.append({"type": name, "per_connection": round(n / count, 2),
                          "bytes_per_connection": round(size / count)})
    types.sort(key=lambda t: -t["bytes_per_connection"])
    per = lambda b: round(b / count)  # noqa: E731
    return {
        "connections": count,
        "rss_bytes_per_connection": per((after["rss_kb"] - before["rss_kb"]) * 1024),
        "traced_bytes_per_connection": per(after["traced"] - before["traced"]),
        "by_library": [{"where": k, "bytes_per_connection": per(v)} for k, v in by_library.most_common(top)],
        "by_owner": [{"where": k, "bytes_per_connection": per(v)} for k, v in by_owner.most_common(top)],
        "by_line": [{"where": k, "bytes_per_connection": per(v)} for k, v in by_line.most_common(top)],
        "by_caller": [{"where": k, "bytes_per_connection": per(v)} for k, v in by_caller.most_common(top)],
        "types": types[:top * 2],
    }


def show(title, result):
    print(f"\n== {title}: {result['connections']} connections: RSS {result['rss_bytes_per_connection']} B, "
          f"traced by tracemalloc {result['traced_bytes_per_connection']} B per connection")
    for key in ("by_library", "by_owner", "by_caller", "by_line"):
        print(f"-- {key} (bytes per connection)")
        for row in result[key][:20]:
            print(f"  {row['bytes_per_connection']:>7}  {row['where']}")
    print("-- objects by type (count and shallow bytes per connection)")
    for row in result["types"][:40]:
        print(f"  {row['per_connection']:>6}  {row['bytes_per_connection']:>6} B  {row['type']}")


def main(count=500):
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as var_dir, own_vhost(prefix="bench") as amqp_uri:
        var_dir = Path(var_dir)
        probes = var_dir / "probes"
        probes.mkdir()
        keys = ensure_dev_keys(var_dir / "keys")
        signer = Signer(keys[0].read_bytes())
        settings = {**stack_settings(), "BENCH_MEMORY_PROBE": str(probes),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH")]))}
        with running_stack(amqp_uri, keys, var_dir / "stack", ready_timeout=120, settings=settings) as stack:
            pid = stack.processes["realtime"].pid
            gen = LoadGen()
            try:
                gen.ask("init", url=stack.url)
                # a first round so that lazy imports, caches and pools exist before the baseline
                warm = gen.ask("connect", tokens=[mint(signer) for _ in range(50)], concurrency=50)
                assert warm["failed"] == 0, warm
                gen.ask("close")
                time.sleep(3)
                before = probe(pid, probes, 1)
                answer = gen.ask("connect", tokens=[mint(signer) for _ in range(count)], concurrency=100)
                assert answer["failed"] == 0, answer
                time.sleep(3)
                held = probe(pid, probes, 2)
                gen.ask("close")
                time.sleep(5)
                after = probe(pid, probes, 3)
            finally:
                gen.close()
    held_result = compare(before, held, count)
    left_result = compare(before, after, count)
    show("held", held_result)
    show("left after they closed", left_result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    (RESULTS / "memory.json").write_text(json.dumps({"at": stamp, "held": held_result,
                                                     "left_after_close": left_result}, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'memory.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
