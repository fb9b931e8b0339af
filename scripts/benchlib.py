"""Shared helpers for lfkit's benchmark scripts (scripts/bench, scripts/compare, scripts/report.py).

Only the Python standard library is used here. The naming convention parsed here is the suite's:
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
    order = ["cpu_ns_per_item", "ctx_switches_per_item"]
    rest = [m for m in order if m in metrics and m not in prim]
    rest += sorted(m for m in metrics if m not in prim and m not in rest and m != "real_time_ns"
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
    # Files without aggregates (repetitions=1, or not aggregates-only): compute them here.
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
