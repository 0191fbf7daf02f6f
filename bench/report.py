"""Turn a results dict into docs/benchmarks.md's generated part and the plot (matplotlib)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
BEGIN, END = "<!-- results:begin (bench/report.py writes this part) -->", "<!-- results:end -->"


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = results["fanout"]["by_clients"]
    clients = [r["clients"] for r in rows]
    for key, style in (("p50_ms", "o-"), ("p95_ms", "s-"), ("p99_ms", "^-"), ("max_ms", "x:")):
        left.plot(clients, [r[key] for r in rows], style, label=key.replace("_ms", ""))
    node = results.get("node_baseline", {}).get("fanout")
    if node:
        left.plot([node["clients"]], [node["p99_ms"]], "k*", markersize=12, label="node p99")
    left.axhline(100, color="grey", linewidth=0.8, linestyle="--")
    left.set_xlabel("clients in the room")
    left.set_ylabel("delivery latency (ms)")
    left.set_title(f"fanout: course_updated at {results['plan']['fanout_rate']}/s")
    left.legend()
    samples = results["connections"]["samples"]
    right.plot([s["connections"] for s in samples], [s["rss_mb"] for s in samples], "o-")
    right.set_xlabel("open websocket connections")
    right.set_ylabel("realtime process RSS (MB)")
    right.set_title(f"connections: {results['connections']['kb_per_connection']} KB each")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def door_ms_per_update(pr):
    """The doors' CPU time over the scenario (sending and settling) per update sent, in ms."""
    if pr.get("door_cpu_percent") is None or not pr.get("sent") or not pr.get("wall_seconds"):
        return None
    return round(pr["door_cpu_percent"] / 100 * pr["wall_seconds"] / pr["sent"] * 1000, 3)


def mark(ok):
    return "met" if ok else "**not met**"


def chat_row(ch):
    met = ch["p99_ms"] is not None and ch["p99_ms"] <= 100 and ch["lost"] == 0 and ch["duplicated"] == 0 \
        and ch["not_stored"] == 0 and ch["acknowledged"] == ch["sent"]
    return (f"| chat ({ch['users']} students in one video room on {ch['doors']} door process(es), {ch['rate']} "
            f"messages/s in all for {ch['seconds']} s) | {ch['acknowledged']} of {ch['sent']} acknowledged (p99 "
            f"{ch['ack_p99_ms']} ms); send -> each receipt p50 {ch['p50_ms']} ms, p99 {ch['p99_ms']} ms, max "
            f"{ch['max_ms']} ms; send -> every member had it p99 {ch['all_members_p99_ms']} ms; lost {ch['lost']}, "
            f"duplicated {ch['duplicated']} of {ch['expected']} receipts; stored {ch['stored']} "
            f"({ch['stored_per_s']}/s, first seen stored p99 {ch['storage_lag_p99_ms']} ms after the send), not "
            f"stored {ch['not_stored']}; doors {ch['door_cpu_percent']} %, chat service "
            f"{ch['chat_service_cpu_percent']} % CPU | p99 <= 100, lost 0, every acknowledged message stored | "
            f"{mark(met)} |")


def bound(ceiling):
    """What a ceiling is the limit of, when not the server's own (bench.run.limited_by)."""
    limit = ceiling.get("limited_by", "server")
    if limit == "server":
        return ""
    return (" or more: the load generator's core was full where it failed" if limit == "load generator"
            else " or more: the top of the ladder passed")


def table(results):
    f, m, c, pr = results["fanout"], results["fanout_max"], results["connections"], results["progress"]
    node = results.get("node_baseline", {})
    ratio = results.get("ratio_vs_node")
    mc = results["machine"]
    lines = [
        f"Run {results['started_at']} .. {results['finished_at']} ({'quick' if results['quick'] else 'full'}), "
        f"{mc['cores']} cores ({mc['cpu']}), {mc['memory_gb']} GB, Python {mc['python']}, "
        + ", ".join(f"{k} {v}" for k, v in mc["libraries"].items())
        + f"; load average {mc['load_average_at_start']} at start, {mc['load_average_at_end']} at end; "
        f"machine speed {mc.get('speed_us_at_start')} us per sum(range(1000)) at start; "
        f"progress database: {results['progress_database']}, chat database: {results.get('chat_database')}.",
        "",
        "| scenario | measured | target | |",
        "|---|---|---|---|",
        f"| fanout ({f['clients']} clients, {f['rate']}/s, {f['events']} events, "
        f"{results.get('fanout_replicas', 1)} door process) | p50 {f['p50_ms']} ms, "
        f"p95 {f['p95_ms']} ms, p99 {f['p99_ms']} ms, max {f['max_ms']} ms; delivered {f['delivered_ratio']}; "
        f"{f['deliveries_per_s']} deliveries/s | p50 <= 20, p99 <= 100, delivered 1.0 | "
        f"{mark(f['p50_ms'] <= 20 and f['p99_ms'] <= 100 and f['delivered_ratio'] >= 1.0)} |",
        f"| fanout_max ({m['clients']} clients) | {m['max_deliveries_per_s']} deliveries/s "
        f"(at {m['max_rate']} events/s){bound(m)} | | |",
        f"| node_baseline | p50 {node.get('p50_ms')} ms, p99 {node.get('p99_ms')} ms, "
        f"{node.get('max_deliveries_per_s')} deliveries/s | | |",
        f"| ratio_vs_node (max deliveries/s, ours / Node's) | {ratio}"
        f"{' or more' if bound(m) else ''} | >= 1.0 | "
        f"{mark(ratio is not None and ratio >= 1.0)} |",
        f"| cpu_ratio_vs_node (server CPU per delivery, ours / Node's, at {results.get('cpu_ratio_vs_node_rate')} "
        f"events/s, the highest rate both passed) | {results.get('cpu_ratio_vs_node')} | "
        f"<= 1.0 | {mark(results.get('cpu_ratio_vs_node') is not None and results['cpu_ratio_vs_node'] <= 1.0)} |",
        f"| connections (one door process) | {c['reached']} of {c['target']}, {c['connects_per_s']} connects/s, "
        f"{c.get('door_cpu_s')} s of door CPU (machine speed {c.get('machine_speed_us')} us before, after); "
        f"RSS {c['rss_idle_mb']} -> {c['rss_mb']} MB ({c['kb_per_connection']} KB per connection); 10,000 "
        f"disconnects handled in {c.get('disconnect_seconds')} s | 10,000, <= 32 KB, >= 1,500/s | "
        f"{mark(c['reached'] >= 10000 and c['kb_per_connection'] <= 32 and c['connects_per_s'] >= 1500)} |",
        f"| progress ({pr['students']} students x {pr['rate_per_student']}/s) | sent {pr['sent_per_s']}/s, "
        f"stored {pr['stored_per_s']} rows/s, lag p99 {pr['lag_p99_ms']} ms, final values lost "
        f"{pr['final_values_lost']}, {pr['db_transactions']} DB transactions for {pr['sent']} updates; "
        f"{results.get('progress_replicas', 1)} door process(es) at {pr.get('door_cpu_percent')} % CPU in all, "
        f"{door_ms_per_update(pr)} ms of door CPU per update | "
        f"one door, >= 2000/s, lag p99 <= 1000, lost 0, transactions << updates, <= 0.15 ms per update | "
        f"{mark(results.get('progress_replicas', 1) == 1 and pr['sent_per_s'] >= 2000 and (pr['lag_p99_ms'] or 1e9) <= 1000 and pr['final_values_lost'] == 0 and pr['db_transactions'] * 10 < pr['sent'] and (door_ms_per_update(pr) or 1e9) <= 0.15)} |",
    ]
    rc = results.get("recovery")
    if rc:
        lines.append(
            f"| recovery ({rc['clients']} recovering clients on door A, course_updated at {rc['rate']}/s, A killed "
            f"with SIGKILL after {rc['killed_after_s']} s) | {rc['recovered']} of {rc['clients']} recovered on door B, "
            f"all after {rc['all_recovered_s']} s (p50 {rc['recovered_p50_s']} s), caught up after "
            f"{rc['caught_up_max_s']} s; {rc['fresh_sessions']} fresh sessions; events lost {rc['lost']}, "
            f"duplicated {rc['duplicated']}, out of order {rc['out_of_order']} of {rc['expected']} | "
            f"all recovered <= 10 s, lost 0, duplicated 0 | "
            f"{mark(rc['all_recovered_s'] is not None and rc['all_recovered_s'] <= 10 and rc['lost'] == 0 and rc['duplicated'] == 0 and rc['out_of_order'] == 0)} |")
    if results.get("chat"):
        lines.append(chat_row(results["chat"]))
    lines += [
        "",
        "Latency by clients in the room (fanout at "
        f"{results['plan']['fanout_rate']} events/s):",
        "",
        "| clients | p50 ms | p95 ms | p99 ms | max ms | delivered | door CPU % | load generator CPU % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in f["by_clients"]:
        lines.append(f"| {r['clients']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                     f"{r['delivered_ratio']} | {r.get('door_cpu_percent')} | {r.get('loadgen_cpu_percent')} |")
    lines += [""] + comparison(results)
    lines += ["", f"Load generator CPU over the whole run: {results['loadgen_cpu_s_total']} s.", "",
              "![latency by clients, memory by connections](benchmarks.png)"]
    return "\n".join(lines)


def comparison(results):
    """The fan-out steps of ours, the two-door run and Node, and how consecutive runs agree."""
    m, node = results.get("fanout_max", {}), results.get("node_baseline", {})
    pinning = results.get("pinning")
    lines = [f"fanout_max steps, {m.get('clients')} clients (ours, ours on two doors, then Node). "
             + (f"Server on core {pinning['server_core']}, load generator and dispatcher on core "
                f"{pinning['loadgen_core']} (taskset); not pinned: {pinning['not_pinned']}. "
                if pinning else "Nothing pinned. ")
             + "CPU in % of one core over the step; CPU per delivery = server CPU time / deliveries; "
             "RabbitMQ = the broker's Erlang VM (shared, not pinned):", "",
             "| server | events/s | p50 ms | p99 ms | delivered | deliveries/s | server CPU % | "
             "server CPU us per delivery | RabbitMQ CPU % | load generator CPU % | cores busy % "
             "(server / load generator) | machine us (before, after) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    two = results.get("two_doors", {})
    for name, steps in (("realtime", m.get("steps", [])),
                        ("realtime x2", two.get("steps", [])),
                        ("node", node.get("fanout_max", {}).get("steps", []))):
        for s in steps:
            cpu = s.get("server_cpu_percent")
            if s.get("server_cpu_percent_by_process"):
                cpu = f"{cpu} ({' + '.join(str(c) for c in s['server_cpu_percent_by_process'])})"
            per = s.get("server_cpu_us_per_delivery")
            busy = s.get("core_busy_percent", {})
            lines.append(f"| {name} | {s['rate']} | {s['p50_ms']} | {s['p99_ms']} | {s['delivered_ratio']} | "
                         f"{s['deliveries_per_s']} | {cpu} | {per} | {s.get('broker_cpu_percent')} | "
                         f"{s.get('loadgen_cpu_percent')} | {busy.get('server')} / {busy.get('loadgen')} | "
                         f"{s.get('machine_speed_us')} |")
    not_quiet = [(name, t) for name, c in (("realtime", m), ("node", node.get("fanout_max", {})))
                 for t in c.get("not_quiet", [])]
    if not_quiet:
        tolerance = m.get("quiet_tolerance") or 0
        lines += ["", "Trials run again, the machine not quiet (slower than the fastest seen by over "
                  f"{tolerance:.0%}): " + "; ".join(f"{name} {t['rate']}/s (p99 {t['p99_ms']} ms, machine "
                                        f"{t['machine_speed_us']} us)" for name, t in not_quiet) + "."]
    lines += ["", f"Ours over Node's: max deliveries/s {results.get('ratio_vs_node')}"
              f"{bound(m)}, server CPU per delivery "
              f"{results.get('cpu_ratio_vs_node')} at {results.get('cpu_ratio_vs_node_rate')} events/s, the highest "
              f"rate both passed ({results.get('cpu_ratio_vs_node_all_steps')} summed over every step both passed)."]
    extra = [s["extra_door_us_per_event"] for s in two.get("steps", []) if "extra_door_us_per_event" in s]
    if extra:
        lines.append(f"Two doors: the second door uses {two.get('second_door_idle_cpu_percent')} % of a core idle; "
                     f"its extra CPU per room-log event beyond that: {extra} us "
                     f"(at {[s['rate'] for s in two['steps'] if 'extra_door_us_per_event' in s]} events/s).")
    rep = results.get("repeat")
    if rep:
        lines += ["", f"{len(rep['runs'])} consecutive runs ({', '.join(rep['runs'])}); spread = (max - min) / min, "
                  f"limit {rep['limit']:.0%}:", "", "| figure | values | spread |", "|---|---|---|"]
        for name, figure in rep["figures"].items():
            lines.append(f"| {name} | {figure['values']} | {figure['spread']} |")
        lines += ["", f"The two ratios agree within {rep['limit']:.0%}: "
                  f"{'yes' if rep['ratios_agree'] else '**no**: not yet a measurement'}."]
    return lines


def write(results):
    if results["quick"] or not {"fanout", "fanout_max", "connections", "progress"} <= set(results):
        try:
            print(table(results))
        except KeyError as missing:  # a partial run (BENCH_ONLY)
            print(f"(partial run: no {missing})")
            print("\n".join(comparison(results)))
            if results.get("chat"):
                print(chat_row(results["chat"]))
        return
    plot(results, PLOT)
    generated = f"{BEGIN}\n{table(results)}\n{END}"
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(head + generated + tail)
