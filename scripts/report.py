#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Writes summary.md and plots/*.png for a results folder made by scripts/bench.

  /usr/bin/python3 scripts/report.py results/<run>            # (re)generate both
  /usr/bin/python3 scripts/report.py results/<run> --no-plots # summary.md only

Reads every bench_*.json (Google Benchmark JSON, aggregates of repetitions) and machine.json.
Plots need Debian's python3-matplotlib (Agg backend, no display); the summary needs only the stdlib.
"""
import argparse
import json
import math
import re
import os
import statistics
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (KIND_ORDER, config_sort_key, fmt_metric, higher_is_better,  # noqa: E402
                      impl_kind, is_latency_group, load_folder, primary_metrics, secondary_metrics)


def organise(folder):
    """{group: {"binary", "results": [Result], "configs": [config], "impls": [impl]}} in suite order."""
    data = load_folder(folder)
    groups, contexts = {}, {}
    for binary, (ctx, results) in data.items():
        contexts[binary] = ctx
        for r in results:
            g = groups.setdefault(r.group, {"binary": binary, "binaries": [], "results": []})
            if binary not in g["binaries"]:
                g["binaries"].append(binary)
            g["results"].append(r)
    for g in groups.values():
        by_cfg = {}
        for r in g["results"]:
            by_cfg.setdefault(r.config, []).append(r)
        # By thread count (so the core count is one place on a plot's axis), then registration order.
        g["configs"] = sorted(by_cfg, key=lambda c: (max(x.threads for x in by_cfg[c]),
                                                    config_sort_key(by_cfg[c])))
        first = {}
        for r in g["results"]:
            first.setdefault(r.impl, (KIND_ORDER[r.kind], r.order))
        g["impls"] = sorted(first, key=lambda i: first[i])
        g["cell"] = {(r.impl, r.config): r for r in g["results"]}
        g["threads"] = {c: max(x.threads for x in by_cfg[c]) for c in by_cfg}
        metrics = set()
        for r in g["results"]:
            metrics |= r.metrics()
        g["metrics"] = metrics
        g["notes"] = []
        for m in sorted({m for r in g["results"] for m in r.seconds_as_ns}):
            g["notes"].append(f"`{m}` is stored in the JSON in seconds (a kIsRate|kInvert counter); "
                              "shown here converted to ns.")
    return groups, contexts


def oriented_ratio(metric, lf, other):
    """> 1 means lfkit is better."""
    if lf is None or other is None or lf <= 0 or other <= 0:
        return None
    return lf / other if higher_is_better(metric) else other / lf


def best_of(g, cfg, kind, metric):
    """(impl, value) of the best impl of `kind` in this config, or (None, None)."""
    best = (None, None)
    for impl in g["impls"]:
        r = g["cell"].get((impl, cfg))
        if r is None or r.kind != kind or r.error or metric not in r.median:
            continue
        v = r.median[metric]
        if best[1] is None or (v > best[1] if higher_is_better(metric) else v < best[1]):
            best = (impl, v)
    return best


def short(impl):
    for p in ("baseline_", "peer_"):
        if impl.startswith(p):
            return impl[len(p):]
    return impl


def fmt_duration(s):
    if not isinstance(s, (int, float)):
        return "?"
    return f"{int(s) // 60} min {int(s) % 60:02d} s" if s >= 60 else f"{s:.0f} s"


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def fmt_ratio(x):
    if x is None:
        return "—"
    if x < 0.1:
        return f"{x:.2g}×"
    return f"{x:.2f}×" if x < 10 else f"{x:.0f}×"


def metric_title(metric):
    better = "higher is better" if higher_is_better(metric) else "lower is better"
    names = {"items_per_second": "throughput, items/s", "ns_per_op": "ns per operation",
             "p50_ns": "p50 latency", "p99_ns": "p99 latency", "p999_ns": "p99.9 latency",
             "cpu_ns_per_item": "CPU ns per item (all threads)",
             "ctx_switches_per_item": "context switches per item", "real_time_ns": "real time per iteration"}
    return f"{metric} ({names.get(metric, metric)}; {better})"


def table(g, metric, cpus, with_ratios, out):
    cfgs = g["configs"]
    head = [f"{c}†" if cpus and g["threads"].get(c, 0) > cpus else c for c in cfgs]
    out.append("| impl | " + " | ".join(head) + " |")
    out.append("|---|" + "---:|" * len(cfgs))
    for impl in g["impls"]:
        cells = []
        for c in cfgs:
            r = g["cell"].get((impl, c))
            if r is None:
                cells.append("")
            elif r.error:
                cells.append("error")
            elif metric not in r.median:
                cells.append("stalled" if r.stalled_runs else "—")
            else:
                cv = r.cv.get(metric)
                cell = fmt_metric(metric, r.median[metric]) + (f" ±{cv * 100:.0f}%" if cv is not None else "")
                if r.stalled_runs:
                    cell = f"**stalled** {r.stalled_runs}/{r.runs}: {cell}"
                cells.append(cell)
        name = f"**{impl}**" if impl.startswith("lfkit") else impl
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    if not with_ratios:
        return {}
    ratios = {}
    for impl in g["impls"]:
        if not impl.startswith("lfkit"):
            continue
        for kind, label in (("baseline", "best baseline"), ("peer", "best peer")):
            row, vals = [], []
            for c in cfgs:
                r = g["cell"].get((impl, c))
                bi, bv = best_of(g, c, kind, metric)
                x = oriented_ratio(metric, r.median.get(metric) if r and not r.error else None, bv)
                vals.append(x)
                row.append(f"{fmt_ratio(x)} {short(bi)}" if x is not None else "—")
            if any(v is not None for v in vals):
                out.append(f"| *{impl} vs {label}* | " + " | ".join(row) + " |")
                ratios[(impl, kind)] = [v for v in vals if v is not None]
    return ratios


GOAL_GROUPS = ("queue_try", "queue_pairwise", "queue_5050", "queue_burst")


def goal_configs(g, main):
    """The goal's configs of a group: the main P/C configs, or <2P>T for per-thread workloads."""
    want = set(main) | {f"{2 * int(c.split('P')[0])}T" for c in main}
    return [c for c in g["configs"] if c in want]


def per_round_ratios(metric, lf, other):
    """lfkit / other per repetition index both have (oriented: > 1 = lfkit better): with
    --benchmark_enable_random_interleaving, repetition k of every benchmark of one process runs in
    round k, so the two values of a pair were measured close together."""
    if lf is None or other is None or lf.error or other.error:
        return []
    out = []
    for k in sorted(set(lf.per_rep) & set(other.per_rep)):
        x = oriented_ratio(metric, lf.per_rep[k].get(metric), other.per_rep[k].get(metric))
        if x is not None:
            out.append(x)
    return out


def queue_goal(groups, main=None):
    """lfkit mpmc_queue / best packaged peer per workload and main config, and their geometric mean
    (issue 15's goal: geomean >= 1.15x, no cell below 0.9x)."""
    if main is None:
        main = [c for c in ("1P1C", "2P2C", "4P4C")]
        tries = groups.get("queue_try")
        if tries:
            sym = [c for c in tries["configs"] if re.fullmatch(r"(\d+)P\1C", c)]
            main = sym[:3] if sym else main
    rows, ratios = [], []
    for gname in GOAL_GROUPS:
        g = groups.get(gname)
        if not g or ("lfkit" not in g["impls"]):
            continue
        m = primary_metrics(gname, g["metrics"])[0]
        for c in goal_configs(g, main):
            r = g["cell"].get(("lfkit", c))
            bi, bv = best_of(g, c, "peer", m)
            x = oriented_ratio(m, r.median.get(m) if r and not r.error else None, bv)
            if x is None:
                continue
            ratios.append(x)
            flag = " **below 0.9×**" if x < 0.9 else ""
            paired = per_round_ratios(m, r, g["cell"].get((bi, c)))
            rounds = (f"{fmt_ratio(statistics.median(paired))}, {sum(p < 0.9 for p in paired)}/{len(paired)}"
                      if paired else "—")
            rows.append(f"| {gname} | {c} | {fmt_metric(m, r.median[m])} | {short(bi)} {fmt_metric(m, bv)} | "
                        f"{fmt_ratio(x)}{flag} | {rounds} |")
    if not ratios:
        return []
    gm = geomean(ratios)
    return ["", "## Queue goal: lfkit mpmc_queue / best packaged peer", "",
            f"Medians of the repetitions; configs {', '.join(main)} (per-thread workloads: the same "
            "thread counts). Goal (issue 15): geometric mean ≥ 1.15×, no cell below 0.9×. *Per round*: "
            "lfkit and that peer ran in the same round of the random interleaving (seconds apart, so "
            "usually in the same phase of a machine that changes under the run): the median of the "
            "per-round ratios, and in how many rounds lfkit was below 0.9×.", "",
            "| workload | config | lfkit | best peer | lfkit / best | per round: median, rounds below 0.9× |",
            "|---|---|---:|---:|---:|---:|"] + rows + [
            "", f"**Geometric mean {fmt_ratio(gm)}, worst {fmt_ratio(min(ratios))}, best "
            f"{fmt_ratio(max(ratios))} over {len(ratios)} cells.**"]


def lockfree_goal(groups, cpus):
    """lockfree_queue against mpmc_queue (and, oversubscribed, the best peer) in every queue group
    where both ran in one binary (issue 11: >= 0.8x mpmc_queue where threads do not outnumber the
    CPUs; >= 1.0x mpmc_queue and every peer where they do)."""
    rows, n_met = [], 0
    for gname, g in groups.items():
        if not gname.startswith("queue_") or "lfkit_lockfree" not in g["impls"] or "lfkit" not in g["impls"]:
            continue
        m = primary_metrics(gname, g["metrics"])[0]
        for c in g["configs"]:
            lf, mp = g["cell"].get(("lfkit_lockfree", c)), g["cell"].get(("lfkit", c))
            if lf is None or mp is None or lf.binary != mp.binary or lf.error or mp.error:
                continue
            x = oriented_ratio(m, lf.median.get(m), mp.median.get(m))
            if x is None:
                continue
            over = bool(cpus) and g["threads"][c] > cpus
            paired = per_round_ratios(m, lf, mp)
            rounds = f"{fmt_ratio(statistics.median(paired))}" if paired else "—"
            bi, bv = best_of(g, c, "peer", m)
            xp = oriented_ratio(m, lf.median.get(m), bv) if bi else None
            need = 1.0 if over else 0.8
            met = x >= need and (not over or xp is None or xp >= 1.0)
            n_met += met
            rows.append(f"| {gname} | {c}{'†' if over else ''} | {fmt_metric(m, lf.median[m])} | "
                        f"{fmt_metric(m, mp.median[m])} | {fmt_ratio(x)} | {rounds} | "
                        + (f"{fmt_ratio(xp)} {short(bi)}" if xp is not None else "—")
                        + f" | {'yes' if met else '**no**'} |")
    if not rows:
        return []
    return ["", "## lockfree_queue against mpmc_queue", "",
            "Both in the same processes. Goal (issue 11): at least 0.8× `mpmc_queue` where threads do "
            "not outnumber the CPUs; at least 1.0× `mpmc_queue` and every peer where they do (`†`). "
            "*Per round* as in the queue goal above.", "",
            "| workload | config | lockfree_queue | mpmc_queue | lockfree / mpmc | per round | "
            "lockfree / best peer | goal met |", "|---|---|---:|---:|---:|---:|---:|---|"] + rows + [
            "", f"**Goal met in {n_met} of {len(rows)} cells.**"]


def noise_stats(groups):
    cvs = []
    for gname, g in groups.items():
        for r in g["results"]:
            for m in primary_metrics(gname, g["metrics"]):
                if m in r.cv:
                    cvs.append((r.cv[m], r.run_name, m))
    if not cvs:
        return None
    vals = sorted(c for c, _, _ in cvs)
    return {"n": len(vals), "median": statistics.median(vals),
            "p90": vals[min(len(vals) - 1, int(0.9 * len(vals)))], "max": max(cvs)}


def write_summary(folder, groups, contexts, machine):
    run = machine.get("run", {})
    comp = machine.get("compiler", {})
    git = machine.get("lfkit_git", {})
    cpus = machine.get("cpu", {}).get("usable_cpus_for_this_process") or \
        next((c.get("num_cpus") for c in contexts.values() if c.get("num_cpus")), None)
    bt = comp.get("build_type", "")
    flags = (comp.get("CMAKE_CXX_FLAGS", "") + " " + comp.get(f"CMAKE_CXX_FLAGS_{bt.upper()}", "")).strip()
    gbv = machine.get("packages", {}).get("libbenchmark-dev", "?")
    out = [f"# lfkit benchmarks — {os.path.basename(os.path.abspath(folder))}", ""]
    out.append(f"- **Machine:** {machine.get('label', '?')}; kernel {machine.get('kernel', '?').split(' #')[0]}")
    out.append(f"- **Build:** {comp.get('version', '?')}, {bt} `{flags}`; Google Benchmark {gbv}")
    rt = machine.get("cache_line_round_trip") or {}
    trips = rt.get("round_trip_ns") or []
    if trips:
        line = ("- **Cache-line round trip** (scripts/line_probe.c, before the benchmarks): "
                + ", ".join(f"CPU {t['cpus'][0]}↔{t['cpus'][1]} {t['ns']:.0f} ns" for t in trips))
        each = sorted(p["ns"] for p in rt.get("before_each_benchmark") or [])
        if each:
            line += (f"; before each of the {len(each)} benchmark processes (first pair) min "
                     f"{each[0]:.0f}, median {each[len(each) // 2]:.0f}, max {each[-1]:.0f} ns")
        line += (". Shared-state workloads (a ring's counters and slots in queue_pairwise and "
                 "queue_5050) wait for such a transfer on most operations and follow this figure; "
                 "designs with a sub-queue per producer (moodycamel) move fewer lines. A round trip of "
                 "microseconds suggests the two threads rarely ran at the same time (on the reference "
                 "guest it came with shared-state workloads running several times faster).")
        if each and each[-1] > 1.5 * each[0]:
            line += (f" **The machine changed under the run** (the per-process figures are "
                     f"{each[-1] / each[0]:.1f}× apart; on a VM the host moves or time-shares its vCPUs): "
                     "repetitions from different phases disagree (bimodal cells, high CV); the queue "
                     "tables' per-round columns pair repetitions measured seconds apart.")
        out.append(line)

    rev = (git.get("revision") or "?")[:12]
    out.append(f"- **lfkit:** {rev}{' + uncommitted changes' if git.get('dirty') else ''}"
               f" ({git.get('subject', '')})")
    out.append(f"- **Run:** `{run.get('command', '?')}` at {run.get('started_utc', machine.get('date_utc', '?'))}"
               f", {run.get('repetitions', '?')} repetitions × min {run.get('min_time_s', '?')} s, "
               f"{'threads pinned' if run.get('pin') else 'threads not pinned'}"
               f"{', cpus ' + run['cpus'] if run.get('cpus') else ''}, "
               f"took {fmt_duration(run.get('duration_s'))}; 1-min load average "
               + (f"{run['load_avg_at_start'][0]:.2f} before, " if run.get("load_avg_at_start") else "")
               + (f"{run['load_avg_at_end'][0]:.2f} after" if run.get("load_avg_at_end") else "?"))
    ctx_loads = [c["load_avg"][0] for c in contexts.values() if c.get("load_avg")]
    busy = (run.get("load_avg_at_start") or [min(ctx_loads) if ctx_loads else 0])[0]
    if cpus and busy > 0.5 * cpus:
        out.append(f"- **Warning:** the machine was busy when this ran (1-minute load average {busy:.1f} on "
                   f"{cpus} CPUs when it started): other work competed for the CPUs, so treat "
                   "these numbers as rough and rerun on a quiet machine before quoting them.")
    if run.get("grid_env"):
        ge = run["grid_env"]
        out.append(f"- **Grid** (for {run.get('cpus_for_grid', '?')} CPUs): queues "
                   f"{ge.get('LFKIT_BENCH_QUEUE_CONFIGS', '?').replace(',', ', ')} (main: "
                   f"{ge.get('LFKIT_BENCH_QUEUE_MAIN', '?').replace(',', ', ')}); snapshot readers "
                   f"{ge.get('LFKIT_BENCH_READERS', '?').replace(',', ', ')}; iteration time limit "
                   f"{run.get('time_limit_s', '?')} s (a longer iteration is stopped and shown as stalled)")
    if run.get("mode"):
        out.append(f"- **Budget:** `{run['mode']}` plan, estimated {fmt_duration(run.get('estimate_s'))}"
                   + (f" against a budget of {fmt_duration(run['budget_s'])}" if run.get("budget_s") else " (no budget)")
                   + "".join(f"; {n}" for n in run.get("plan_notes", [])) + ".")
    if run.get("interrupted"):
        out.append("- **This run was interrupted (Ctrl-C): only the benchmarks that finished are shown.**")
    out += ["", "## How to read this", ""]
    out.append("- A cell is the **median over the repetitions**; `±N%` is the coefficient of variation "
               "(stddev / mean) of those repetitions, i.e. how much the runs disagreed.")
    out.append("- Throughput (`items_per_second`) — **higher is better**. `ns_per_op`, latency "
               "percentiles (`p50_ns`, `p99_ns`, `p999_ns`), `cpu_ns_per_item`, `ctx_switches_per_item` — "
               "**lower is better**.")
    out.append("- *lfkit_x vs best baseline / best peer*: lfkit's value relative to the best baseline "
               "(mutex / condvar / shared_mutex) or best third-party peer **in that column**, oriented so "
               "that **> 1× means lfkit is better** (more items/s, fewer ns); the winner's name follows.")
    out.append("- Configs: `NT` = N threads, `PpCc` = p producers + c consumers, `RrWw` = r readers + "
               "w writers, `NA` = one thread calling load() while N-1 threads add, `idle` = no other thread. "
               + (f"`†` marks more threads than the {cpus} CPUs (oversubscribed: threads "
                  "time-share, so blocking and spinning designs diverge)." if cpus else ""))
    ns = noise_stats(groups)
    if ns:
        c, name, m = ns["max"]
        out.append(f"- **Noise:** across {ns['n']} measurements the repetitions' CV has median "
                   f"{ns['median'] * 100:.1f}%, 90th percentile {ns['p90'] * 100:.1f}%, max {c * 100:.0f}% "
                   f"(`{name}` {m}). Treat differences smaller than about twice a cell's CV as noise. "
                   "On a shared or virtual machine (vCPUs scheduled by a host, other tenants, here "
                   f"{machine.get('cpu', {}).get('virt', '?')}) oversubscribed and cross-core numbers "
                   "can move by 2–3× between runs; compare runs with `scripts/compare`.")
    out.append("- **stalled k/n**: k of the n repetitions hit the iteration time limit (threads waiting on "
               "each other, typically a ring that commits in order with a preempted thread); the value "
               "shown is still the median, of progress per second where stalled.")
    out.append("- Plots (embedded under each group): throughput vs threads on a log scale, one line per impl, "
               "error bars = stddev of repetitions, a vertical line at the CPU count and oversubscribed "
               "points shaded; latency percentiles and ns/op as grouped bars.")

    # At a glance
    glance = []
    sections = []
    for gname, g in groups.items():
        prim = primary_metrics(gname, g["metrics"])
        sec = [m for m in secondary_metrics(gname, g["metrics"]) if m != "real_time_ns"]
        body = []
        for m in prim:
            body += ["", f"### {gname} — {metric_title(m)}", ""]
            ratios = table(g, m, cpus, True, body)
            if m == prim[0] or m == "p99_ns":
                for (impl, kind), xs in ratios.items():
                    if xs:
                        glance.append((gname, m, impl, kind, geomean(xs), min(xs), max(xs)))
        for m in sec:
            body += ["", f"<details><summary>{gname} — {metric_title(m)}</summary>", ""]
            table(g, m, cpus, False, body)
            body += ["", "</details>"]
        sections.append((gname, g, body))

    if glance:
        out += ["", "## At a glance", "",
                "Geometric mean over the group's configs of lfkit's ratio (> 1× = lfkit better), "
                "with the worst and best config.", "",
                "| group | metric | lfkit impl | vs best baseline | vs best peer |", "|---|---|---|---:|---:|"]
        rows = {}
        for gname, m, impl, kind, gm, lo, hi in glance:
            rows.setdefault((gname, m, impl), {})[kind] = f"{fmt_ratio(gm)} ({fmt_ratio(lo)} – {fmt_ratio(hi)})"
        for (gname, m, impl), d in rows.items():
            out.append(f"| {gname} | {m} | {impl} | {d.get('baseline', '—')} | {d.get('peer', '—')} |")

    out += queue_goal(groups)
    out += lockfree_goal(groups, cpus)

    for gname, g, body in sections:
        out += ["", f"## {gname} ({', '.join(g['binaries'])})"]
        impls = g["impls"]
        kinds = {k: [i for i in impls if g["cell"] and any(r.impl == i and r.kind == k for r in g["results"])]
                 for k in ("lfkit", "baseline", "peer", "other")}
        out += ["", "; ".join(f"{k}: {', '.join(v)}" for k, v in kinds.items() if v)]
        out += [f"\nNote: {n}" for n in g["notes"]]
        out += body
        if os.path.exists(os.path.join(folder, "plots", f"{gname}.png")):
            out += ["", f"![{gname}](plots/{gname}.png)"]

    fails = [(b, f) for b, ctx in contexts.items() for f in ctx.get("lfkit_failures", [])]
    fails += [(b, {"name": "(all)", "status": "not built"}) for b in run.get("not_built", [])]
    if fails:
        out += ["", "## Failed benchmarks", "", "| binary | benchmark | status |", "|---|---|---|"]
        out += [f"| {b} | `{f['name']}` | {f['status']} |" for b, f in fails]
    out += ["", "Raw data: `bench_*.json` (Google Benchmark JSON with its `context` block, aggregates of "
            "the repetitions), `machine.json` (CPU, memory, compiler and flags, kernel, lfkit revision, "
            "command line), `run.log` (console output). See results/README.md.", ""]
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write("\n".join(out))


# ---------------------------------------------------------------- plots
def style(impl, colors):
    c = colors.get(impl)
    if impl.startswith("lfkit"):
        return dict(linestyle="-", linewidth=2.4, marker="o", color=c)
    if impl.startswith("baseline_"):
        return dict(linestyle="--", linewidth=1.5, marker="s", color=c)
    return dict(linestyle=":", linewidth=1.5, marker="^", color=c)


def yerr_log(ys, es):
    """Symmetric stddev bars, with the lower arm clipped so it stays positive on a log axis."""
    return [[min(e, 0.9 * y) for y, e in zip(ys, es)], es]


def cpu_line(ax, g, cfgs, cpus):
    """A vertical line where the thread count passes the CPU count (configs are sorted by threads):
    on a config with exactly `cpus` threads, else between the last within and the first beyond."""
    if not cpus or not cfgs:
        return
    th = [g["threads"].get(c, 0) for c in cfgs]
    exact = [k for k, t in enumerate(th) if t == cpus]
    if exact:
        x = exact[-1]
    else:
        below = [k for k, t in enumerate(th) if t < cpus]
        if not below or len(below) == len(th):
            return
        x = below[-1] + 0.5
    ax.axvline(x, color="red", linestyle="--", linewidth=1.2, alpha=0.7, label=f"{cpus} CPUs")


def make_plots(folder, groups, cpus, label):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pdir = os.path.join(folder, "plots")
    os.makedirs(pdir, exist_ok=True)
    made = []
    # One colour per impl across every plot of the run (lfkit first, then baselines, then peers).
    allimpls = []
    for g in groups.values():
        allimpls += [i for i in g["impls"] if i not in allimpls]
    first = {i: k for k, i in enumerate(allimpls)}
    allimpls = sorted(allimpls, key=lambda i: (KIND_ORDER[impl_kind(i)], first[i]))
    palette = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
    colors = {i: palette[k % len(palette)] for k, i in enumerate(allimpls)}
    for gname, g in groups.items():
        prim = primary_metrics(gname, g["metrics"])
        cfgs = g["configs"]
        path = os.path.join(pdir, f"{gname}.png")
        if is_latency_group(gname) and prim[0].endswith("_ns"):
            n = len(cfgs)
            cols = min(n, 3)
            rows = math.ceil(n / cols)
            fig, axes = plt.subplots(rows, cols, figsize=(max(7.5, 5.2 * cols), 4.4 * rows), squeeze=False)
            for k, c in enumerate(cfgs):
                ax = axes[k // cols][k % cols]
                impls = [i for i in g["impls"] if (i, c) in g["cell"] and not g["cell"][(i, c)].error]
                w = 0.8 / max(1, len(prim))
                for j, m in enumerate(prim):
                    xs = [x + (j - (len(prim) - 1) / 2) * w for x in range(len(impls))]
                    ys = [g["cell"][(i, c)].median.get(m, float("nan")) for i in impls]
                    ax.bar(xs, ys, w, label=m.replace("_ns", ""))
                ax.set_yscale("log")
                ax.set_xticks(range(len(impls)))
                ax.set_xticklabels(impls, rotation=30, ha="right", fontsize=8)
                ax.set_title(f"{c}" + (" (oversubscribed)" if cpus and g["threads"][c] > cpus else ""))
                ax.set_ylabel("ns (lower is better)")
                ax.grid(axis="y", which="both", alpha=0.3)
                if k == n - 1:
                    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
            for k in range(n, rows * cols):
                axes[k // cols][k % cols].axis("off")
            fig.suptitle(f"{gname}: latency percentiles per impl (median of repetitions)\n{label}", fontsize=10)
        elif prim[0] == "ns_per_op" or not higher_is_better(prim[0]):
            m = prim[0]
            impls = g["impls"]
            fig, ax = plt.subplots(figsize=(min(16, max(9.5, 0.3 * len(cfgs) * len(impls) + 3)), 5))
            w = 0.8 / max(1, len(impls))
            for j, i in enumerate(impls):
                xs, ys, es = [], [], []
                for k, c in enumerate(cfgs):
                    r = g["cell"].get((i, c))
                    if r and not r.error and m in r.median:
                        xs.append(k + (j - (len(impls) - 1) / 2) * w)
                        ys.append(r.median[m])
                        es.append(r.stddev.get(m, 0))
                ax.bar(xs, ys, w, yerr=yerr_log(ys, es), label=i, capsize=2, color=colors.get(i),
                       hatch="" if i.startswith("lfkit") else ("//" if i.startswith("baseline_") else ".."))
            cpu_line(ax, g, cfgs, cpus)
            ax.set_xticks(range(len(cfgs)))
            ax.set_xticklabels([c + ("†" if cpus and g["threads"][c] > cpus else "") for c in cfgs])
            ax.set_yscale("log")
            ax.set_ylabel(f"{m} (lower is better)")
            ax.grid(axis="y", which="both", alpha=0.3)
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
            ax.set_title(f"{gname}: {m} (median of repetitions)\n{label}", fontsize=10)
        else:
            m = prim[0]
            fig, ax = plt.subplots(figsize=(9.5, 5))
            stalled_pts = []
            for i in g["impls"]:
                xs, ys, es = [], [], []
                for k, c in enumerate(cfgs):
                    r = g["cell"].get((i, c))
                    if r and not r.error and m in r.median:
                        xs.append(k)
                        ys.append(r.median[m])
                        es.append(r.stddev.get(m, 0))
                if xs:
                    ax.errorbar(xs, ys, yerr=yerr_log(ys, es), label=i, capsize=3, **style(i, colors))
                for k, c in enumerate(cfgs):
                    r = g["cell"].get((i, c))
                    if r and not r.error and m in r.median and r.stalled_runs:
                        stalled_pts.append((k, r.median[m]))
            if stalled_pts:
                ax.scatter([p[0] for p in stalled_pts], [p[1] for p in stalled_pts], marker="x", s=90,
                           color="black", zorder=5, label="stalled in some repetitions")
            over = [k for k, c in enumerate(cfgs) if cpus and g["threads"][c] > cpus]
            for n, k in enumerate(over):
                ax.axvspan(k - 0.5, k + 0.5, color="grey", alpha=0.12, linewidth=0,
                           label=f"> {cpus} CPUs (oversubscribed)" if n == 0 else None)
            cpu_line(ax, g, cfgs, cpus)
            ax.set_xticks(range(len(cfgs)))
            ax.set_xticklabels([f"{c}\n{g['threads'][c]} thr" for c in cfgs], fontsize=8)
            ax.set_xlim(-0.5, len(cfgs) - 0.5)
            ax.set_yscale("log")
            ax.set_ylabel(f"{m} (higher is better)")
            ax.grid(which="both", alpha=0.3)
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
            ax.set_title(f"{gname}: throughput vs threads (median of repetitions, bars = stddev)\n{label}",
                         fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    return made


def main():
    ap = argparse.ArgumentParser(description="summary.md and plots for a scripts/bench results folder")
    ap.add_argument("folder")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args()
    groups, contexts = organise(a.folder)
    if not groups:
        sys.exit(f"report.py: no bench_*.json results in {a.folder}")
    mpath = os.path.join(a.folder, "machine.json")
    machine = json.load(open(mpath)) if os.path.exists(mpath) else {}
    cpus = machine.get("cpu", {}).get("usable_cpus_for_this_process") or \
        next((c.get("num_cpus") for c in contexts.values() if c.get("num_cpus")), None)
    rc = 0
    if not a.no_plots:
        try:
            label = machine.get("label", "").split(",")[0:2]
            made = make_plots(a.folder, groups, cpus, ",".join(label).strip())
            print(f"report.py: {len(made)} plots in {os.path.join(a.folder, 'plots')}")
        except ImportError as e:
            print(f"report.py: no plots ({e}); install python3-matplotlib and run with /usr/bin/python3",
                  file=sys.stderr)
            rc = 1
        except Exception:  # a plotting bug must not cost the summary
            import traceback
            traceback.print_exc()
            print("report.py: plotting failed; writing summary.md anyway", file=sys.stderr)
            rc = 1
    write_summary(a.folder, groups, contexts, machine)
    print(f"report.py: wrote {os.path.join(a.folder, 'summary.md')}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
