#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""The body of scripts/bench (which installs the dependencies first, then runs this).

Builds the Release preset's benchmark targets, lists every benchmark of every bench/bench_*
binary, runs them one comparison set at a time (one process per group/config with every
implementation in it, repetitions randomly interleaved) with progress lines, merges each binary's
results into one Google Benchmark JSON, then writes machine.json, summary.md and plots.
Options: see scripts/bench --help.
"""
import argparse
import datetime
import glob
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import machine_info  # noqa: E402

USAGE = """\
scripts/bench [options]     run lfkit's benchmark suite and write results/<host>-<date>-<commit>/

  (default)          a plan that fits ~15 minutes whatever the core count: 7 repetitions x
                     --benchmark_min_time 0.1 s, fewer (or a sample of the configs) when the
                     estimate for this machine's grid is over budget; summary.md says what was cut
  --quick            a first look in under 3 minutes: main configs only, 3 repetitions x 0.02 s
                     (fewer if needed), 1 s iteration limit
  --full             9 repetitions, min_time 0.5 s, no budget, and LFKIT_BENCH_FULL=1 in the
                     binaries' environment (bench_mpmc_queue then adds queue_try_cap16's other
                     configs, a capacity-16384 group, queue_try_cap16k, and the mid-size rings
                     queue_try_cap64 and queue_try_cap256 at the main configs)
  --repetitions N    override the number of repetitions (>= 1; compare.py's U test needs >= 2,
                     and >= 9 for a reliable p-value)
  --min-time S       override the per-repetition minimum time in seconds (e.g. 0.05 for a smoke run)
  --time-limit S     an iteration running longer is stopped and reported as stalled (default 3 s,
                     1 s with --quick, 5 s with --full; LFKIT_BENCH_TIME_LIMIT_S in the binaries)
  --ncpus N          derive the grid for N CPUs instead of this process's CPU count (also from
                     the environment: LFKIT_BENCH_CPUS=N); grids: queues 1P1C, (N/2)P(N/2)C,
                     NPNC, 2NP2NC, 1P(N-1)C, (N-1)P1C; snapshot readers 1, N/2, N, 2N
  --filter REGEX     only benchmarks whose full name matches (passed to --benchmark_filter),
                     e.g. --filter counter, --filter 'queue_try/.*/(1P1C|4P4C)'
  --binary NAME      only this binary (bench_counter, bench_mpmc_queue, ...); repeatable
  --pin              pin every benchmark thread to one CPU (LD_PRELOAD shim scripts/pin_threads.c,
                     built on the fly): no migrations; threads beyond the CPU count share CPUs
                     evenly. Sets LFKIT_BENCH_PIN=1 too.
  --cpus LIST        run under `taskset -c LIST` (restricts the CPUs; with --pin, pins within LIST)
  --out DIR          result folder (default results/<host>-<YYYY-MM-DD>-<commit>[-dirty]); an
                     existing folder is never written into: the run refuses to start
  --label TEXT       machine label for summary.md (default: CPU model, CPUs, VM, memory, distro)
  --timeout S        kill a process after S seconds per benchmark in it (default: 60 + 40 x reps x min_time)
  --no-build         use the existing build/release binaries
  --no-deps          skip scripts/install-deps bench
  --jobs N           build parallelism (default: nproc)
  --list             print the benchmarks that would run, and exit
  -h, --help         this text
"""


def parse_args(argv):
    ap = argparse.ArgumentParser(add_help=False, usage=USAGE)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--time-limit", type=float)
    ap.add_argument("--ncpus", type=int)
    ap.add_argument("--repetitions", type=int)
    ap.add_argument("--min-time", type=float)
    ap.add_argument("--filter")
    ap.add_argument("--binary", action="append", default=[])
    ap.add_argument("--pin", action="store_true")
    ap.add_argument("--cpus")
    ap.add_argument("--out")
    ap.add_argument("--label")
    ap.add_argument("--timeout", type=float)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-deps", action="store_true")  # handled by scripts/bench
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-h", "--help", action="store_true")
    a, extra = ap.parse_known_args(argv)
    if a.help:
        print(USAGE, end="")
        sys.exit(0)
    if extra:
        print(f"scripts/bench: unknown option(s) {' '.join(extra)}\n\n{USAGE}", file=sys.stderr, end="")
        sys.exit(2)
    if a.full and a.quick:
        sys.exit("scripts/bench: --full and --quick exclude each other")
    a.mode = "full" if a.full else "quick" if a.quick else "default"
    if (a.repetitions is not None and a.repetitions < 1) or (a.min_time is not None and a.min_time <= 0) \
            or (a.time_limit is not None and a.time_limit <= 0) or (a.ncpus is not None and a.ncpus < 1):
        sys.exit("scripts/bench: --repetitions and --ncpus must be >= 1, --min-time and --time-limit > 0")
    return a


def cpu_count(a):
    """n for the grid: --ncpus, LFKIT_BENCH_CPUS, the CPUs of --cpus LIST, or this process's."""
    if a.ncpus:
        return a.ncpus
    if os.environ.get("LFKIT_BENCH_CPUS"):
        return max(1, int(os.environ["LFKIT_BENCH_CPUS"]))
    if a.cpus:
        n = 0
        for part in a.cpus.split(","):
            lo, _, hi = part.partition("-")
            n += int(hi) - int(lo) + 1 if hi else 1
        return n
    return len(os.sched_getaffinity(0))


def hms(s):
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def show(path):
    """A path as the user can use it: relative when under the current directory, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def log(msg=""):
    print(msg, flush=True)


BUILD_DIR = os.path.join(REPO, "build", "release")


# Binaries whose implementations another binary also registers (in the same processes as the
# baselines and peers they are compared with): the suite runs only the latter.
SUBSUMED = {"bench_lockfree_queue": "bench_mpmc_queue"}


def bench_sources():
    return sorted(os.path.splitext(os.path.basename(p))[0]
                  for p in glob.glob(os.path.join(REPO, "bench", "bench_*.cpp")))


def build(a, names):
    """Configure + build the benchmark targets; returns the names that failed to build."""
    os.makedirs(BUILD_DIR, exist_ok=True)
    logf = os.path.join(BUILD_DIR, "scripts-bench-build.log")
    log(f"==== build: cmake --preset release; cmake --build --preset release -j{a.jobs} "
        f"--target {' '.join(names)}  (log: {show(logf)})")
    t0 = time.time()

    def step(cmd, lf):
        lf.write(f"$ {' '.join(cmd)}\n")
        lf.flush()
        return subprocess.run(cmd, cwd=REPO, stdout=lf, stderr=subprocess.STDOUT).returncode == 0

    def tail():
        with open(logf) as f:
            sys.stdout.write("".join(f.readlines()[-40:]))

    with open(logf, "w") as lf:
        if not step(["cmake", "--preset", "release"], lf):
            lf.close()
            tail()
            sys.exit(f"scripts/bench: configuring failed (full log: {logf})")
        if step(["cmake", "--build", "--preset", "release", f"-j{a.jobs}", "--target", *names], lf):
            log(f"     built in {hms(time.time() - t0)}")
            return []
        # Build what can be built: one target at a time, so one broken benchmark does not stop the rest.
        failed = [n for n in names
                  if not step(["cmake", "--build", "--preset", "release", f"-j{a.jobs}", "--target", n], lf)]
    tail()
    if len(failed) == len(names):
        sys.exit(f"scripts/bench: build failed (full log: {logf})")
    log(f"!! build FAILED for {', '.join(failed)} (log: {logf}); running the others")
    return failed


def build_pin_shim():
    so = os.path.join(BUILD_DIR, "lfkit_pin_threads.so")
    src = os.path.join(HERE, "pin_threads.c")
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            sys.exit("scripts/bench: --pin needs a C compiler (cc/gcc)")
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", src, "-o", so, "-ldl", "-pthread"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"scripts/bench: building the pinning shim failed:\n{r.stderr}")
    return so


def line_round_trip(prefix, trips=None):
    """Runs scripts/line_probe.c (built here with cc, like the pinning shim): how long a cache line
    takes between CPUs of this machine and back (`trips` round trips per sample, default the
    probe's). Returns its JSON, or {"error": ...}; never fails the run."""
    exe = os.path.join(BUILD_DIR, "lfkit_line_probe")
    src = os.path.join(HERE, "line_probe.c")
    try:
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
            cc = shutil.which("cc") or shutil.which("gcc")
            if not cc:
                return {"error": "no C compiler (cc/gcc) to build scripts/line_probe.c"}
            os.makedirs(BUILD_DIR, exist_ok=True)
            r = subprocess.run([cc, "-O2", "-pthread", src, "-o", exe], capture_output=True, text=True)
            if r.returncode != 0:
                return {"error": f"building scripts/line_probe.c failed: {r.stderr.strip()[:300]}"}
        r = subprocess.run(prefix + [exe] + ([str(trips)] if trips else []), capture_output=True,
                           text=True, timeout=60)
        return json.loads(r.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return {"error": f"scripts/line_probe.c: {e}"}


def default_folder_name():
    """<host>-<YYYY-MM-DD>-<commit 12>[-dirty]: one folder per run of one revision."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname().split(".")[0]) or "host"
    git = machine_info.git_info()
    rev = (git.get("revision") or "nogit")[:12]
    return f"{host}-{datetime.datetime.now():%Y-%m-%d}-{rev}{'-dirty' if git.get('dirty') else ''}"


def result_dir(a):
    d = os.path.abspath(a.out) if a.out else os.path.join(REPO, "results", default_folder_name())
    if os.path.exists(d):
        sys.exit(f"scripts/bench: {show(d)} exists; a run is never written over (results are kept "
                 "as committed). Remove it if it is yours and uncommitted, or pass --out NEW_DIR.")
    os.makedirs(d)
    return d


def comparison_sets(plan):
    """Groups the plan into one process per binary + group + config: benchmark names are
    `<group>/<impl>/<config>`, and every implementation of one group/config runs in the same
    process with its repetitions randomly interleaved (Google Benchmark's
    --benchmark_enable_random_interleaving). On a shared machine whose speed drifts over seconds,
    this is what keeps a ratio (lfkit vs baseline vs peer) from depending on which implementation
    happened to run during a slow phase. Order of first appearance is kept."""
    sets, index = [], {}
    for b, name in plan:
        parts = name.split("/")
        key = (b, parts[0], "/".join(parts[2:])) if len(parts) >= 3 else (b, name, "")
        if key not in index:
            index[key] = len(sets)
            title = f"{parts[0]}/*/{key[2]}" if len(parts) >= 3 else name
            sets.append((b, title, []))
        sets[index[key]][2].append(name)
    return sets


def gb_regex_exact(name):
    return "^" + re.sub(r"([.^$|()\[\]{}*+?\\-])", r"\\\1", name) + "$"


def main(argv):
    a = parse_args(argv)
    started = time.time()
    load_start = list(os.getloadavg())
    cmdline = " ".join(["scripts/bench"] + [shlex.quote(x) for x in argv])
    names = bench_sources()
    if a.binary:
        unknown = [b for b in a.binary if b not in names]
        if unknown:
            sys.exit(f"scripts/bench: no bench/{unknown[0]}.cpp (have: {', '.join(names)})")
        names = [n for n in names if n in a.binary]
    if not names:
        sys.exit("scripts/bench: no bench/bench_*.cpp sources")
    for alone, within in SUBSUMED.items():
        if alone in names and within in names:
            names.remove(alone)
            log(f"     {alone} not run: its implementation runs inside {within}, in the same "
                "processes as the others it is compared with")
    build_failed = [] if a.no_build else build(a, names)
    names = [n for n in names if n not in build_failed]
    missing = [n for n in names if not os.access(os.path.join(BUILD_DIR, "bench", n), os.X_OK)]
    if missing:
        log(f"!! not built in {BUILD_DIR}/bench, skipped: {', '.join(missing)}")
        names = [n for n in names if n not in missing]
    build_failed += missing
    if not names:
        sys.exit("scripts/bench: no benchmark binary to run")

    env = dict(os.environ)
    prefix = []
    ncpus = cpu_count(a)
    if a.full:
        env["LFKIT_BENCH_FULL"] = "1"
    if a.cpus:
        if not shutil.which("taskset"):
            sys.exit("scripts/bench: --cpus needs taskset (package util-linux)")
        prefix = ["taskset", "-c", a.cpus]
    if a.pin:
        env["LD_PRELOAD"] = build_pin_shim() + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
        env["LFKIT_BENCH_PIN"] = "1"

    # ---- grid and budget: list the binaries for a grid, estimate, cut until it fits ----
    listed = {}

    def list_plan(g):
        key = tuple(sorted(benchlib.grid_env(g).items()))
        if key not in listed:
            lenv = dict(env, **benchlib.grid_env(g))
            out = []
            for n in names:
                exe = os.path.join(BUILD_DIR, "bench", n)
                cmd = prefix + [exe, "--benchmark_list_tests=true"]
                if a.filter:
                    cmd.append(f"--benchmark_filter={a.filter}")
                r = subprocess.run(cmd, env=lenv, capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"scripts/bench: {n} --benchmark_list_tests failed:\n{r.stderr}")
                out += [(n, line.strip()) for line in r.stdout.splitlines() if line.strip()]
            listed[key] = out
        return listed[key]

    budget = benchlib.choose_plan(ncpus, a.mode, lambda g: [nm for _, nm in list_plan(g)])
    plan = list_plan(budget["grid"])  # (binary, benchmark name)
    if a.repetitions or a.min_time:  # the user's choice replaces the plan's reduction
        budget["notes"] = [n for n in budget["notes"] if not n.startswith("repetitions/min_time")]
        budget["notes"].append("repetitions/min_time set on the command line")
    a.repetitions = a.repetitions or budget["reps"]
    a.min_time = a.min_time or budget["min_time"]
    a.time_limit = a.time_limit or budget["time_limit_s"]
    a.timeout = a.timeout or (60 + a.repetitions * (4 * a.min_time + 1.5 * a.time_limit))
    env.update(benchlib.grid_env(budget["grid"]))
    env["LFKIT_BENCH_TIME_LIMIT_S"] = f"{a.time_limit:g}"
    estimate = benchlib.estimate_seconds([nm for _, nm in plan], a.repetitions, a.min_time)
    if not plan:
        sys.exit(f"scripts/bench: no benchmark matches --filter {a.filter!r}")
    if a.list:
        for b, name in plan:
            print(f"{b}  {name}")
        print(f"# grid for {ncpus} CPUs: {benchlib.grid_env(budget['grid'])}; {a.repetitions} reps x "
              f"{a.min_time:g} s, estimate {hms(estimate)}" + "".join(f"; {x}" for x in budget["notes"]))
        return 0

    out = result_dir(a)
    raw = os.path.join(out, "raw-tmp")
    os.makedirs(raw, exist_ok=True)
    per_bin = {n: sum(1 for b, _ in plan if b == n) for n in names}
    sets = comparison_sets(plan)
    log(f"==== {len(plan)} benchmarks in {sum(1 for v in per_bin.values() if v)} binaries "
        f"({', '.join(f'{k}: {v}' for k, v in per_bin.items() if v)}); repetitions {a.repetitions}, "
        f"min_time {a.min_time:g} s{', pinned' if a.pin else ''}{', cpus ' + a.cpus if a.cpus else ''}")
    log(f"     {len(sets)} processes: each runs one group/config for every implementation, "
        f"repetitions randomly interleaved, so a slow phase of the machine hits all of them alike")
    log(f"     grid for {ncpus} CPUs: queues {','.join(budget['grid']['queue_configs'])}; readers "
        f"{','.join(map(str, budget['grid']['readers']))}; iteration limit {a.time_limit:g} s")
    for note in budget["notes"]:
        log(f"     {note}")
    log(f"     results: {show(out)}   first estimate: ~{hms(estimate)}"
        + (f" (budget {hms(budget['budget_s'])})" if budget["budget_s"] else ""))

    # Before the benchmarks, on the same CPUs (--cpus), while nothing else of ours runs.
    round_trip = line_round_trip(prefix)
    if round_trip.get("round_trip_ns"):
        log("     cache-line round trip: " + ", ".join(
            f"CPU {p['cpus'][0]}-{p['cpus'][1]} {p['ns']:.0f} ns" for p in round_trip["round_trip_ns"]))
    elif round_trip.get("error"):
        log(f"!! {round_trip['error']}")
    # Again, shorter, before every benchmark process: a VM's host may move its vCPUs during the
    # run (on the reference guest line transfers then change speed ~4x, and every shared-state
    # workload with them); the spread of these figures shows whether that happened.
    probes = []
    runlog = open(os.path.join(out, "run.log"), "w")
    runlog.write(f"# {cmdline}\n")
    contexts, entries, failures = {}, {n: [] for n in names}, {n: [] for n in names}
    t_run = time.time()
    width = len(str(len(sets)))
    interrupted = False
    done_benchmarks = 0
    done_estimate = 0.0
    for i, (b, title, members) in enumerate(sets, 1):
        if interrupted:
            break
        exe = os.path.join(BUILD_DIR, "bench", b)
        jf = os.path.join(raw, f"{b}-{i:04d}.json")
        cmd = prefix + [exe, "--benchmark_filter=" + "|".join(gb_regex_exact(m) for m in members),
                        f"--benchmark_repetitions={a.repetitions}",
                        "--benchmark_enable_random_interleaving=true",
                        "--benchmark_display_aggregates_only=true",
                        f"--benchmark_min_time={a.min_time:g}",
                        f"--benchmark_out={jf}", "--benchmark_out_format=json"]
        probe = line_round_trip(prefix, 20000)
        if probe.get("round_trip_ns"):
            probes.append({"set": f"{b} {title}", "ns": probe["round_trip_ns"][0]["ns"]})
        sys.stdout.write(f"[{i:>{width}}/{len(sets)}] {b} {title} ({len(members)}) ")
        sys.stdout.flush()
        runlog.write(f"\n$ {' '.join(shlex.quote(c) for c in cmd)}\n")
        runlog.flush()
        t0 = time.time()
        status = "ok"
        try:
            r = subprocess.run(cmd, env=env, stdout=runlog, stderr=subprocess.STDOUT,
                               timeout=a.timeout * len(members))
            if r.returncode != 0:
                status = f"exit status {r.returncode}"
        except subprocess.TimeoutExpired:
            status = f"timed out after {a.timeout * len(members):g} s"
        except KeyboardInterrupt:
            interrupted = True
            log("\n!! interrupted: writing the results gathered so far")
            break
        dt = time.time() - t0
        got = []
        if status == "ok":
            try:
                with open(jf) as f:
                    data = json.load(f)
                contexts.setdefault(b, data.get("context", {}))
                got = data.get("benchmarks", [])
                errs = [e.get("error_message", "error") for e in got if e.get("error_occurred")]
                if errs:
                    status = "error: " + errs[0]
                if not got:
                    status = "no result"
            except (OSError, ValueError) as e:
                status = f"unreadable JSON ({e})"
        entries[b] += got
        if status != "ok":
            failures[b].append({"name": title, "status": status})
        done_benchmarks += len(members)
        done_estimate += benchlib.estimate_seconds(members, a.repetitions, a.min_time, sets=1)
        left = (time.time() - t_run) / max(done_estimate, 1e-9) * max(estimate - done_estimate, 0)
        stalls = sum(1 for e in got if e.get("run_type") == "iteration" and e.get("stalled"))
        if stalls:
            status_note = f"{stalls} stalled repetition(s) "
            sys.stdout.write(status_note)
        log(f"{'' if status == 'ok' else '!! ' + status + ' '}{dt:.1f}s | elapsed {hms(time.time() - t_run)}"
            f" | ~{hms(left)} left")
    runlog.close()

    # ---- merge: one Google Benchmark JSON per binary (context of its first run) ----
    written = []
    for b in names:
        if not entries[b] and not failures[b]:
            continue
        ctx = dict(contexts.get(b, {}))
        ctx["executable"] = os.path.join(BUILD_DIR, "bench", b)
        if failures[b]:
            ctx["lfkit_failures"] = failures[b]
        with open(os.path.join(out, f"{b}.json"), "w") as f:
            json.dump({"context": ctx, "benchmarks": entries[b]}, f, indent=2)
        written.append(f"{b}.json")
    shutil.rmtree(raw, ignore_errors=True)

    # ---- machine.json ----
    info = machine_info.collect(BUILD_DIR)
    info["label"] = a.label or machine_info.label(info)
    info["cache_line_round_trip"] = dict(round_trip, before_each_benchmark=probes)
    info["run"] = {
        "command": cmdline,
        "cwd": os.getcwd(),
        "started_utc": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
        "benchmark_duration_s": round(time.time() - t_run, 1),
        "repetitions": a.repetitions,
        "min_time_s": a.min_time,
        "full": a.full,
        "mode": a.mode,
        "cpus_for_grid": ncpus,
        "grid": budget["grid"],
        "grid_env": benchlib.grid_env(budget["grid"]),
        "time_limit_s": a.time_limit,
        "budget_s": budget["budget_s"],
        "estimate_s": round(estimate, 1),
        "plan_notes": budget["notes"],
        "filter": a.filter,
        "binaries": [b for b in names if per_bin[b]],
        "benchmarks": len(plan),
        "failures": sum(len(v) for v in failures.values()),
        "not_built": build_failed,
        "pin": a.pin,
        "cpus": a.cpus,
        "one_process_per_benchmark": True,
        "interrupted": interrupted,
        "load_avg_at_start": load_start,
        "load_avg_at_end": list(os.getloadavg()),
    }
    with open(os.path.join(out, "machine.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")

    # ---- summary.md and plots ----
    r = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), out])
    nfail = info["run"]["failures"] + len(build_failed) + (1 if interrupted else 0)
    log(f"==== done in {hms(time.time() - started)}: {show(out)}/ "
        f"({', '.join(written)}, machine.json, summary.md, plots/)"
        + ("; INTERRUPTED" if interrupted else "")
        + (f"; not built: {', '.join(build_failed)}" if build_failed else "")
        + (f"; {info['run']['failures']} benchmark(s) FAILED, see summary.md and run.log"
           if info["run"]["failures"] else ""))
    return 1 if (nfail or r.returncode) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
