#!/usr/bin/python3
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
import machine_info  # noqa: E402

USAGE = """\
scripts/bench [options]     run lfkit's benchmark suite and write results/<host>-<date>/

  (default)          7 repetitions, --benchmark_min_time 0.2 s per repetition: ~9 min on 2 cores
  --full             9 repetitions, min_time 0.5 s (about 35 min on 2 cores), and LFKIT_BENCH_FULL=1
                     in the binaries' environment (bench_queue then adds queue_try_cap16's other
                     configs and a capacity-16384 group, queue_try_cap16k)
  --repetitions N    override the number of repetitions (>= 1; medians need >= 3)
  --min-time S       override the per-repetition minimum time in seconds (e.g. 0.05 for a smoke run)
  --filter REGEX     only benchmarks whose full name matches (passed to --benchmark_filter),
                     e.g. --filter counter, --filter 'queue_try/.*/(1P1C|4P4C)'
  --binary NAME      only this binary (bench_counter, bench_queue, ...); repeatable
  --pin              pin every benchmark thread to one CPU (LD_PRELOAD shim scripts/pin_threads.c,
                     built on the fly): no migrations; threads beyond the CPU count share CPUs
                     evenly. Sets LFKIT_BENCH_PIN=1 too.
  --cpus LIST        run under `taskset -c LIST` (restricts the CPUs; with --pin, pins within LIST)
  --out DIR          result folder (default results/<host>-<YYYY-MM-DD>, -HHMM added if it exists)
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
    a.repetitions = a.repetitions or (9 if a.full else 7)
    a.min_time = a.min_time or (0.5 if a.full else 0.2)
    if a.repetitions < 1 or a.min_time <= 0:
        sys.exit("scripts/bench: --repetitions must be >= 1 and --min-time > 0")
    a.timeout = a.timeout or (60 + 40 * a.repetitions * a.min_time)
    return a


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


def result_dir(a):
    if a.out:
        d = os.path.abspath(a.out)
    else:
        host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname().split(".")[0]) or "host"
        now = datetime.datetime.now()
        d = os.path.join(REPO, "results", f"{host}-{now:%Y-%m-%d}")
        if os.path.exists(d):
            d += f"-{now:%H%M}"
        if os.path.exists(d):
            d += f"{now:%S}"
    os.makedirs(d, exist_ok=True)
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
    if a.full:
        env["LFKIT_BENCH_FULL"] = "1"
    if a.cpus:
        if not shutil.which("taskset"):
            sys.exit("scripts/bench: --cpus needs taskset (package util-linux)")
        prefix = ["taskset", "-c", a.cpus]
    if a.pin:
        env["LD_PRELOAD"] = build_pin_shim() + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
        env["LFKIT_BENCH_PIN"] = "1"

    # ---- list ----
    plan = []  # (binary, benchmark name)
    for n in names:
        exe = os.path.join(BUILD_DIR, "bench", n)
        cmd = prefix + [exe, "--benchmark_list_tests=true"]
        if a.filter:
            cmd.append(f"--benchmark_filter={a.filter}")
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"scripts/bench: {n} --benchmark_list_tests failed:\n{r.stderr}")
        plan += [(n, line.strip()) for line in r.stdout.splitlines() if line.strip()]
    if not plan:
        sys.exit(f"scripts/bench: no benchmark matches --filter {a.filter!r}")
    if a.list:
        for b, name in plan:
            print(f"{b}  {name}")
        return 0

    out = result_dir(a)
    raw = os.path.join(out, "raw-tmp")
    os.makedirs(raw, exist_ok=True)
    per_bin = {n: sum(1 for b, _ in plan if b == n) for n in names}
    sets = comparison_sets(plan)
    guess = a.repetitions * (1.3 * a.min_time + 0.05) + 0.05  # seconds per benchmark, before measuring
    log(f"==== {len(plan)} benchmarks in {sum(1 for v in per_bin.values() if v)} binaries "
        f"({', '.join(f'{k}: {v}' for k, v in per_bin.items() if v)}); repetitions {a.repetitions}, "
        f"min_time {a.min_time:g} s{', pinned' if a.pin else ''}{', cpus ' + a.cpus if a.cpus else ''}")
    log(f"     {len(sets)} processes: each runs one group/config for every implementation, "
        f"repetitions randomly interleaved, so a slow phase of the machine hits all of them alike")
    log(f"     results: {show(out)}   first estimate: ~{hms(guess * len(plan))}")

    runlog = open(os.path.join(out, "run.log"), "w")
    runlog.write(f"# {cmdline}\n")
    contexts, entries, failures = {}, {n: [] for n in names}, {n: [] for n in names}
    t_run = time.time()
    width = len(str(len(sets)))
    interrupted = False
    done_benchmarks = 0
    for i, (b, title, members) in enumerate(sets, 1):
        if interrupted:
            break
        exe = os.path.join(BUILD_DIR, "bench", b)
        jf = os.path.join(raw, f"{b}-{i:04d}.json")
        cmd = prefix + [exe, "--benchmark_filter=" + "|".join(gb_regex_exact(m) for m in members),
                        f"--benchmark_repetitions={a.repetitions}",
                        "--benchmark_enable_random_interleaving=true",
                        "--benchmark_report_aggregates_only=true",
                        f"--benchmark_min_time={a.min_time:g}",
                        f"--benchmark_out={jf}", "--benchmark_out_format=json"]
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
        left = (time.time() - t_run) / done_benchmarks * (len(plan) - done_benchmarks)
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
    info["run"] = {
        "command": cmdline,
        "cwd": os.getcwd(),
        "started_utc": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
        "benchmark_duration_s": round(time.time() - t_run, 1),
        "repetitions": a.repetitions,
        "min_time_s": a.min_time,
        "full": a.full,
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
