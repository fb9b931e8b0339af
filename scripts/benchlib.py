# SPDX-License-Identifier: BSL-1.0
"""Shared helpers for lfkit's benchmark scripts (scripts/bench, scripts/compare, scripts/report.py).

Only the Python standard library is used here. Statistics come from Google Benchmark's own
aggregates (median, mean, stddev, cv) in the JSON, which also keeps every repetition (scripts/bench
passes --benchmark_display_aggregates_only, not report_aggregates_only) for compare.py's U test. The naming convention parsed here is the suite's:
run_name = <group>/<impl>/<config>[/<Google Benchmark suffixes: real_time, threads:N, ...>]
  impl  = lfkit | lfkit_<variant>  (lfkit's structures)
        | baseline_<name>          (mutex / condvar / shared_mutex baselines)
        | peer_<name>              (third-party peers)
  groups whose name ends in "_latency" report p50_ns / p99_ns / p999_ns (lower is better).
"""
import json
import os
import re
import statistics

# Keys of a Google Benchmark JSON entry that are not user counters.
STANDARD_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "aggregate_name", "aggregate_unit", "iterations", "real_time",
    "cpu_time", "time_unit", "label", "error_occurred", "error_message", "big_o", "rms",
    "complexity_n",
}
# Suffixes Google Benchmark appends to a benchmark's name.
_GB_SUFFIX = re.compile(r"^(real_time|process_time|manual_time|threads:\d+|min_time:.*|"
                        r"min_warmup_time:.*|repeats:\d+|iterations:\d+)$")

_TIME_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def parse_name(run_name):
    """Split a run_name into (group, impl, config). Unparseable names keep what they have."""
    parts = run_name.split("/")
    group = parts[0]
    impl = parts[1] if len(parts) > 1 else "?"
    rest = [p for p in parts[2:] if not _GB_SUFFIX.match(p)]
    config = "/".join(rest) if rest else "-"
    return group, impl, config


def config_threads(config):
    """Threads a config names: 4T -> 4, 2P2C -> 4, 1R1W -> 2, 1W2R -> 3, 2A -> 2; else 0.
    (Benchmarks that start their own producer/consumer threads run as one Google Benchmark thread.)"""
    if re.fullmatch(r"(\d+[A-Z])+", config):
        return sum(int(n) for n in re.findall(r"\d+", config))
    return 0


def impl_kind(impl):
    """'lfkit', 'baseline', 'peer' or 'other'."""
    if impl == "lfkit" or impl.startswith("lfkit_"):
        return "lfkit"
    if impl.startswith("baseline_"):
        return "baseline"
    if impl.startswith("peer_"):
        return "peer"
    return "other"


KIND_ORDER = {"lfkit": 0, "baseline": 1, "peer": 2, "other": 3}


def is_latency_group(group):
    return group.endswith("_latency")


def higher_is_better(metric):
    return metric.endswith("_per_second")


def primary_metrics(group, metrics):
    """The metrics a group is judged by, in display order."""
    if is_latency_group(group):
        pct = [m for m in ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns") if m in metrics]
        pct += sorted(m for m in metrics if re.fullmatch(r"p\d+_ns", m) and m not in pct)
        if pct:
            return pct
    if "ns_per_op" in metrics:
        return ["ns_per_op"]
    if "items_per_second" in metrics:
        return ["items_per_second"]
    if "bytes_per_second" in metrics:
        return ["bytes_per_second"]
    return ["real_time_ns"]


def secondary_metrics(group, metrics):
    prim = primary_metrics(group, metrics)
    order = ["fill_items_per_second", "drain_items_per_second", "cpu_ns_per_item", "ctx_switches_per_item"]
    rest = [m for m in order if m in metrics and m not in prim]
    rest += sorted(m for m in metrics if m not in prim and m not in rest and m != "real_time_ns"
                   and m not in ("stalled", "items_done")
                   and not (m == "items_per_second" and "ns_per_op" in prim))
    return rest


class Result:
    """One benchmark instance (all its repetitions) of one binary."""

    def __init__(self, binary, run_name):
        self.binary = binary
        self.run_name = run_name
        self.group, self.impl, self.config = parse_name(run_name)
        self.kind = impl_kind(self.impl)
        self.threads = 1
        self.repetitions = 0
        self.median = {}   # metric -> median over repetitions
        self.mean = {}
        self.stddev = {}
        self.cv = {}       # metric -> coefficient of variation (fraction)
        self.min = {}
        self.max = {}
        self.error = None
        self.runs = 0           # repetitions found in the JSON (iteration entries)
        self.stalled_runs = 0   # of those, how many hit the time limit (counter stalled = 1)
        self.per_rep = {}       # repetition_index -> metrics of that repetition
        self.order = 0     # position in the binary's output (registration order)
        self.seconds_as_ns = set()  # metrics converted from seconds (see fix_seconds_counters)

    def metrics(self):
        return set(self.median)


def _entry_metrics(e):
    out = {}
    scale = _TIME_TO_NS.get(e.get("time_unit", "ns"), 1.0)
    if isinstance(e.get("real_time"), (int, float)):
        out["real_time_ns"] = e["real_time"] * scale
    for k, v in e.items():
        if k in STANDARD_KEYS or not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        out[k] = float(v)
    return out


def load_json(path):
    """Return (context, [Result]) from one Google Benchmark JSON file."""
    with open(path) as f:
        data = json.load(f)
    binary = os.path.splitext(os.path.basename(path))[0]
    results = {}
    iters = {}
    for idx, e in enumerate(data.get("benchmarks", [])):
        rn = e.get("run_name") or e.get("name", "?")
        r = results.get(rn)
        if r is None:
            r = results[rn] = Result(binary, rn)
            r.order = idx
        r.threads = max(e.get("threads", 1), config_threads(r.config))
        r.repetitions = max(r.repetitions, e.get("repetitions", 1))
        if e.get("error_occurred"):
            r.error = e.get("error_message", "error")
            continue
        m = _entry_metrics(e)
        if e.get("run_type") == "aggregate":
            agg = e.get("aggregate_name")
            if agg == "cv":
                # real_time's cv is already a fraction; so are counters' cv values.
                m["real_time_ns"] = e.get("real_time", 0.0)
            target = {"median": r.median, "mean": r.mean, "stddev": r.stddev, "cv": r.cv}.get(agg)
            if target is not None:
                target.update(m)
        else:
            iters.setdefault(rn, []).append(m)
            r.per_rep[e.get("repetition_index", len(r.per_rep))] = m
            r.runs += 1
            if m.get("stalled"):
                r.stalled_runs += 1
    # Google Benchmark writes mean/median/stddev/cv aggregates when repetitions > 1 and they are
    # used as they are; min/max come from the repetitions, and a single repetition is its own median.
    for rn, runs in iters.items():
        r = results[rn]
        keys = set().union(*runs)
        for k in keys:
            vals = [x[k] for x in runs if k in x]
            r.min[k], r.max[k] = min(vals), max(vals)
            if k not in r.median:
                r.median[k] = statistics.median(vals)
                r.mean[k] = statistics.fmean(vals)
                if len(vals) > 1:
                    r.stddev[k] = statistics.stdev(vals)
                    r.cv[k] = r.stddev[k] / r.mean[k] if r.mean[k] else 0.0
    out = sorted(results.values(), key=lambda r: r.order)
    fix_seconds_counters(out)
    return data.get("context", {}), out


def fix_seconds_counters(results):
    """A counter named *_ns / ns_per_* made with kIsRate|kInvert holds SECONDS per item, not ns.
    No operation takes under a picosecond, so when every value of such a metric in a group is
    below 1e-3 it is seconds: convert it to ns (and remember, for a note in the summary)."""
    groups = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    for rs in groups.values():
        for m in {m for r in rs for m in r.median}:
            if "ns" not in m.split("_") or m == "real_time_ns":
                continue
            vals = [r.median[m] for r in rs if m in r.median]
            if vals and max(abs(v) for v in vals) < 1e-3:
                for r in rs:
                    for d in (r.median, r.mean, r.stddev, r.min, r.max):
                        if m in d:
                            d[m] *= 1e9
                    if m in r.median:
                        r.seconds_as_ns.add(m)


def load_folder(folder):
    """Return {binary: (context, [Result])} for every bench_*.json in a results folder."""
    out = {}
    for fn in sorted(os.listdir(folder)):
        if fn.startswith("bench_") and fn.endswith(".json"):
            out[fn[:-5]] = load_json(os.path.join(folder, fn))
    return out


def si(v, digits=3):
    """Human-readable number: 1.23 G, 456 M, 7.8 k, 0.0123."""
    if v is None:
        return "—"
    a = abs(v)
    for div, suf in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if a >= div:
            return f"{v / div:.{digits}g}{suf}"
    if a == 0:
        return "0"
    return f"{v:.{digits}g}"


def fmt_metric(metric, v):
    if v is None:
        return "—"
    if metric.endswith("_per_second"):
        return si(v) + "/s"
    if metric.endswith("_ns") or metric.startswith("ns_") or metric.endswith("_ns_per_item") \
            or metric.startswith("cpu_ns"):
        if v >= 1e6:
            return f"{v / 1e6:.3g} ms"
        if v >= 1e3:
            return f"{v / 1e3:.3g} µs"
        return f"{v:.3g} ns"
    return si(v)


def config_sort_key(results_for_config):
    """Order configs as the binary registered them (its first impl's sweep order)."""
    return min(x.order for x in results_for_config)


# ---------------------------------------------------------------- the grid and the time budget
# scripts/bench derives the configs from the CPU count n and passes them to the binaries through
# the environment (LFKIT_BENCH_QUEUE_CONFIGS, LFKIT_BENCH_QUEUE_MAIN, LFKIT_BENCH_READERS,
# LFKIT_BENCH_CPUS); bench/queue_bench.hpp and bench/snapshot_bench.hpp apply the same rule when a
# binary runs alone.

# The estimate must fit the budget less a reserve for stalled repetitions (each costs up to the
# time limit): 15 min - 2 by default, 3 min - 30 s with --quick.
BUDGET_S = {"default": 13 * 60, "quick": 150, "full": None}
# (repetitions, min_time s) tried in turn until the estimate fits the budget.
LADDER = {"default": [(7, 0.1), (5, 0.1), (5, 0.05), (3, 0.05)],
          "quick": [(3, 0.02), (2, 0.02)],
          "full": [(9, 0.5)]}
# A benchmark's iteration limit (LFKIT_BENCH_TIME_LIMIT_S: past it a run is reported as stalled).
# Generous: on a loaded machine a queue that is merely descheduled must not be called stalled.
TIME_LIMIT_S = {"default": 3.0, "quick": 1.0, "full": 5.0}
# --quick is a first look: the main configs only (grid sample 2) whatever the machine.
FIRST_SAMPLE = {"default": 0, "quick": 2, "full": 0}


def _dedupe(xs):
    out = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


def symmetric_counts(n):
    """1, n/2, n, 2n (deduplicated), plus 4n while that leaves fewer than four: the thread counts
    of the queues' symmetric configs and the snapshot readers. n=2: 1 2 4 8; n=64: 1 32 64 128."""
    n = max(1, int(n))
    xs = _dedupe([1, max(1, n // 2), n, 2 * n])
    if len(xs) < 4:
        xs.append(4 * n)
    return xs


def queue_grid(n):
    """(all, main) producer/consumer configs for n CPUs, as "<P>P<C>C" strings. all: symmetric
    1, n/2, n, 2n (oversubscribed) and the asymmetric 1P(m)C, (m)P1C with m = max(n-1, 3); main:
    the first three symmetric ones (the goal's 1P1C/2P2C/4P4C on 2 CPUs)."""
    sym = symmetric_counts(n)
    m = max(int(n) - 1, 3)
    pairs = _dedupe([(p, p) for p in sym] + [(1, m), (m, 1)])
    name = lambda pc: f"{pc[0]}P{pc[1]}C"  # noqa: E731
    return [name(x) for x in pairs], [name((p, p)) for p in sym[:3]]


def grid(n, sample=0):
    """The grid for n CPUs; sample > 0 drops configs to fit a budget (1: the asymmetric queue
    configs; 2: also every config not in main and the largest reader count)."""
    qall, qmain = queue_grid(n)
    readers = symmetric_counts(n)
    if sample >= 1:
        qall = [c for c in qall if c.split("P")[0] == c.split("P")[1][:-1]]
    if sample >= 2:
        qall = list(qmain)
        readers = readers[:3]
    return {"cpus": int(n), "queue_configs": qall, "queue_main": qmain, "readers": readers,
            "sample": sample}


def grid_env(g):
    return {"LFKIT_BENCH_CPUS": str(g["cpus"]),
            "LFKIT_BENCH_QUEUE_CONFIGS": ",".join(g["queue_configs"]),
            "LFKIT_BENCH_QUEUE_MAIN": ",".join(g["queue_main"]),
            "LFKIT_BENCH_READERS": ",".join(str(r) for r in g["readers"])}


def bench_threads(name):
    """Threads one benchmark runs: its config's count, or Google Benchmark's threads:N suffix."""
    m = re.search(r"/threads:(\d+)", name)
    t = int(m.group(1)) if m else 1
    return max(t, config_threads(parse_name(name)[2]))


# Cost model, seconds, fitted to runs on the 2-CPU guest: per repetition ~2 x min_time (Google
# Benchmark grows the iteration count until min_time is reached) + a fixed part growing with the
# threads started; per process (one group/config with all its implementations) the start-up.
# Stalled repetitions (each up to the time limit) come on top.
def estimate_seconds(names, reps, min_time, sets=None):
    per_rep = sum(2 * min_time + 0.1 + 0.0003 * bench_threads(n) for n in names)
    if sets is None:
        sets = len({(parse_name(n)[0], parse_name(n)[2]) for n in names})
    return reps * per_rep + 0.5 * sets


def model_benchmarks(g):
    """The benchmark names the suite registers for grid g (the test's stand-in for listing the
    binaries): bench_mpmc_queue's 8 implementations (3 blocking), bench_snapshot + bench_seqlock_cell's
    8, bench_counter's 4 at 1..4n threads."""
    q = ["lfkit", "baseline_mutex", "peer_libcds_vyukov", "peer_xenium_vyukov", "peer_ck_ring",
         "peer_boost_lockfree", "peer_tbb_bounded", "peer_moodycamel"]
    names = []
    for i in q:
        names += [f"queue_try/{i}/{c}" for c in g["queue_configs"]]
        names += [f"queue_try_cap16/{i}/{c}" for c in g["queue_main"]]
        names += [f"queue_pairwise/{i}/{2 * int(c.split('P')[0])}T" for c in g["queue_main"]]
        names += [f"queue_5050/{i}/{2 * int(c.split('P')[0])}T" for c in g["queue_main"]]
        if i != "peer_moodycamel":  # cannot hold a 16384-item burst through try_enqueue
            names += [f"queue_burst/{i}/{c}" for c in g["queue_configs"]]
        names += [f"queue_pingpong/{i}/2T", f"queue_latency/{i}/1P1C"]
    for i in q[:2] + ["peer_tbb_bounded"]:
        names += [f"queue_blocking/{i}/{c}" for c in g["queue_configs"]]
    r = g["readers"]
    for i in range(8):
        names += [f"snapshot_read/s{i}/{x}R/threads:{x}" for x in r]
        names += [f"snapshot_read/s{i}/{x}R1W/threads:{x}" for x in (r[:-1] or r)]
        names += [f"snapshot_update/s{i}/1W", f"snapshot_update/s{i}/2W/threads:2", f"snapshot_update/s{i}/1W2R"]
    t = 1
    while t <= 4 * g["cpus"]:
        names += [f"counter_add/c{i}/{t}T/threads:{t}" for i in range(4)]
        t *= 2
    names += [f"counter_load/c{i}/{x}" for i in range(4) for x in ("idle", f"{g['cpus']}A")]
    return names


def choose_plan(n, mode="default", list_names=model_benchmarks, budget_s=None):
    """Pick grid sampling, repetitions and min_time so that the estimate fits the mode's budget.
    list_names(grid) -> benchmark names. Returns a dict with grid, reps, min_time, time_limit_s,
    estimate_s, budget_s, names and notes (what was cut, for summary.md)."""
    budget = BUDGET_S[mode] if budget_s is None else budget_s
    notes = []
    for sample in range(FIRST_SAMPLE[mode], 3):
        g = grid(n, sample)
        names = list_names(g)
        for reps, mt in LADDER[mode]:
            est = estimate_seconds(names, reps, mt)
            if budget is None or est <= budget:
                if sample and mode == "quick":
                    notes.append("--quick: main configs only (queues "
                                 f"{', '.join(g['queue_main'])}; readers {g['readers']})")
                elif sample:
                    notes.append("configs sampled to fit the time budget: "
                                 + ("asymmetric queue configs dropped" if sample == 1 else
                                    "queue configs limited to the main ones "
                                    f"({', '.join(g['queue_main'])}), readers to {g['readers']}"))
                if (reps, mt) != LADDER[mode][0]:
                    notes.append(f"repetitions/min_time reduced to {reps} x {mt:g} s to fit the budget")
                return {"grid": g, "reps": reps, "min_time": mt, "time_limit_s": TIME_LIMIT_S[mode],
                        "estimate_s": est, "budget_s": budget, "names": names, "notes": notes}
    reps, mt = LADDER[mode][-1]
    notes.append(f"configs sampled to fit the time budget: queue configs limited to the main ones "
                 f"({', '.join(g['queue_main'])}), readers to {g['readers']}; repetitions/min_time "
                 f"{reps} x {mt:g} s; still estimated at {est:.0f} s, over the {budget:.0f} s budget")
    return {"grid": g, "reps": reps, "min_time": mt, "time_limit_s": TIME_LIMIT_S[mode],
            "estimate_s": est, "budget_s": budget, "names": names, "notes": notes}
