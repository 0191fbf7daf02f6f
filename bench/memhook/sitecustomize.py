"""Loaded by every Python process started with ``bench/memhook`` on ``PYTHONPATH`` (only
``bench/memory.py`` does that), and active only in the door (``services.kernel.runner
realtime``) when ``BENCH_MEMORY_PROBE`` names a directory: traces allocations from the
first import on, and on SIGUSR2 writes what the process holds there (``probe-<n>.*``):
the tracemalloc snapshot, object counts and shallow sizes by type after a full
collection, greenlets, RSS. Nothing of the door is changed; a signal handler runs
between two bytecodes of the main thread, so the heap is read in a consistent state.
"""
import os
import sys

PROBE = os.environ.get("BENCH_MEMORY_PROBE")
argv = getattr(sys, "orig_argv", sys.argv)

if PROBE and "services.kernel.runner" in argv and "realtime" in argv:
    import collections
    import gc
    import json
    import signal
    import tracemalloc

    tracemalloc.start(int(os.environ.get("BENCH_MEMORY_FRAMES", "12")))
    written = [0]

    def _rss_kb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def _probe(signum, frame):
        written[0] += 1
        base = os.path.join(PROBE, f"probe-{written[0]}")
        gc.collect()
        counts, sizes = collections.Counter(), collections.Counter()
        for obj in gc.get_objects():
            kind = type(obj)
            name = f"{kind.__module__}.{kind.__qualname__}"
            counts[name] += 1
            try:
                sizes[name] += sys.getsizeof(obj)
            except TypeError:
                pass
        current, peak = tracemalloc.get_traced_memory()  # before the snapshot, which is traced too
        tracemalloc.take_snapshot().dump(base + ".snapshot")
        with open(base + ".json.part", "w") as out:
            json.dump({"rss_kb": _rss_kb(), "traced": current, "traced_peak": peak,
                       "counts": counts, "sizes": sizes, "frozen": gc.get_freeze_count()}, out)
        os.rename(base + ".json.part", base + ".json")  # the reader waits for this name

    signal.signal(signal.SIGUSR2, _probe)
