#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""scripts/benchlib.py's grid and time budget for pretended machines (ctest: bench_grid).

The grid follows the CPU count n: queues 1P1C, (n/2)P(n/2)C, nPnC, 2nP2nC, 1P(n-1)C, (n-1)P1C;
snapshot readers 1, n/2, n, 2n; on 2 CPUs about the grid the suite always had. The plan fits the
budget (15 min by default, under 3 min with --quick), cutting repetitions, then configs.
"""
import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import benchlib  # noqa: E402


class Grid(unittest.TestCase):
    def test_64_cpus(self):
        qall, qmain = benchlib.queue_grid(64)
        self.assertEqual(qall, ["1P1C", "32P32C", "64P64C", "128P128C", "1P63C", "63P1C"])
        self.assertEqual(qmain, ["1P1C", "32P32C", "64P64C"])
        self.assertEqual(benchlib.symmetric_counts(64), [1, 32, 64, 128])

    def test_2_cpus_keeps_todays_grid(self):
        qall, qmain = benchlib.queue_grid(2)
        self.assertEqual(qall, ["1P1C", "2P2C", "4P4C", "8P8C", "1P3C", "3P1C"])
        self.assertEqual(qmain, ["1P1C", "2P2C", "4P4C"])
        self.assertEqual(benchlib.symmetric_counts(2), [1, 2, 4, 8])

    def test_no_duplicates_any_n(self):
        for n in range(1, 130):
            qall, qmain = benchlib.queue_grid(n)
            self.assertEqual(len(qall), len(set(qall)), n)
            self.assertTrue(set(qmain) <= set(qall), n)
            self.assertIn(f"{2 * n}P{2 * n}C", qall, n)  # oversubscribed config always there
            r = benchlib.symmetric_counts(n)
            self.assertEqual(len(r), len(set(r)), n)
            self.assertIn(n, r)

    def test_env_matches_grid(self):
        env = benchlib.grid_env(benchlib.grid(64))
        self.assertEqual(env["LFKIT_BENCH_CPUS"], "64")
        self.assertEqual(env["LFKIT_BENCH_QUEUE_CONFIGS"], "1P1C,32P32C,64P64C,128P128C,1P63C,63P1C")
        self.assertEqual(env["LFKIT_BENCH_QUEUE_MAIN"], "1P1C,32P32C,64P64C")
        self.assertEqual(env["LFKIT_BENCH_READERS"], "1,32,64,128")

    def test_threads_of_names(self):
        self.assertEqual(benchlib.bench_threads("queue_try/lfkit/128P128C/real_time"), 256)
        self.assertEqual(benchlib.bench_threads("queue_pairwise/lfkit/64T/real_time"), 64)
        self.assertEqual(benchlib.bench_threads("snapshot_read/lfkit/4R1W/real_time/threads:4"), 5)
        self.assertEqual(benchlib.bench_threads("counter_add/x/8T/real_time/threads:8"), 8)


class Budget(unittest.TestCase):
    def check(self, n, mode, limit_s):
        p = benchlib.choose_plan(n, mode)
        self.assertLessEqual(p["estimate_s"], limit_s, (n, mode, p["notes"]))
        self.assertGreaterEqual(p["reps"], 2)
        self.assertEqual(p["estimate_s"], benchlib.estimate_seconds(p["names"], p["reps"], p["min_time"]))
        # the plan's benchmarks use the plan's grid
        cfgs = {benchlib.parse_name(x)[2] for x in p["names"] if x.startswith("queue_try/")}
        self.assertEqual(cfgs, set(p["grid"]["queue_configs"]))
        return p

    def test_default_fits_15_minutes(self):
        for n in (2, 64):
            p = self.check(n, "default", 15 * 60)
            self.assertGreaterEqual(p["reps"], 5)
        self.assertIn("128P128C", self.check(64, "default", 15 * 60)["grid"]["queue_configs"])

    def test_quick_fits_3_minutes(self):
        for n in (2, 64):
            p = self.check(n, "quick", 3 * 60)
            self.assertEqual(p["grid"]["queue_configs"], p["grid"]["queue_main"])
            self.assertTrue(any("--quick" in x for x in p["notes"]))

    def test_more_benchmarks_cost_more(self):
        small = benchlib.estimate_seconds(benchlib.model_benchmarks(benchlib.grid(2)), 7, 0.1)
        big = benchlib.estimate_seconds(benchlib.model_benchmarks(benchlib.grid(64)), 7, 0.1)
        self.assertGreater(big, small)
        self.assertGreater(benchlib.estimate_seconds(["a/b/1T"], 7, 0.1),
                           benchlib.estimate_seconds(["a/b/1T"], 3, 0.1))

    def test_over_budget_samples_configs_and_says_so(self):
        # A budget too small for the full 64-CPU grid: repetitions drop first, then configs.
        full = benchlib.choose_plan(64, "default")
        tight = benchlib.choose_plan(64, "default", budget_s=0.6 * full["estimate_s"])
        self.assertLessEqual(tight["estimate_s"], 0.6 * full["estimate_s"])
        self.assertTrue(tight["notes"])
        self.assertTrue(tight["grid"]["sample"] > 0 or tight["reps"] < full["reps"]
                        or tight["min_time"] < full["min_time"])
        tighter = benchlib.choose_plan(64, "default", budget_s=0.3 * full["estimate_s"])
        self.assertGreater(tighter["grid"]["sample"], 0)
        self.assertNotIn("1P63C", tighter["grid"]["queue_configs"])
        self.assertTrue(any("sampled" in x for x in tighter["notes"]))

    def test_full_has_no_budget(self):
        p = benchlib.choose_plan(64, "full")
        self.assertIsNone(p["budget_s"])
        self.assertEqual((p["reps"], p["min_time"]), (9, 0.5))


class BinariesAgree(unittest.TestCase):
    """A binary run alone (no grid in its environment) derives the same grid as the runner.
    Needs the benchmark build: LFKIT_BENCH_BIN_DIR (set by ctest when benchmarks are built)."""

    def listed(self, binary, cpus, extra_env=None):
        d = os.environ.get("LFKIT_BENCH_BIN_DIR", "")
        exe = os.path.join(d, binary)
        if not d or not os.access(exe, os.X_OK):
            self.skipTest(f"{binary} not built (LFKIT_BENCH_BIN_DIR={d!r})")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LFKIT_BENCH_")}
        env["LFKIT_BENCH_CPUS"] = str(cpus)
        env.update(extra_env or {})
        r = subprocess.run([exe, "--benchmark_list_tests=true"], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    @staticmethod
    def lfkit_configs(names, group):
        """The configs at which `group` lists lfkit, in listing order."""
        return [benchlib.parse_name(x)[2] for x in names if x.startswith(group + "/lfkit/")]

    def test_queue_configs(self):
        for n in (2, 64):
            g = benchlib.grid(n)
            names = self.listed("bench_mpmc_queue", n)
            cfgs = lambda grp: self.lfkit_configs(names, grp)  # noqa: E731
            self.assertEqual(cfgs("queue_try"), g["queue_configs"], n)
            self.assertEqual(cfgs("queue_try_cap16"), g["queue_main"], n)
            self.assertEqual(cfgs("queue_pairwise"), [f"{2 * int(c.split('P')[0])}T" for c in g["queue_main"]])
            # lockfree_queue runs in the same processes as mpmc_queue and the peers (scripts/bench
            # skips bench_lockfree_queue when it runs bench_mpmc_queue): every group, every config.
            lf = sorted(x.replace("/lfkit_lockfree/", "/lfkit/") for x in names if "/lfkit_lockfree/" in x)
            self.assertEqual(lf, sorted(x for x in names if "/lfkit/" in x), n)

    def test_full_sweep_queue_groups(self):
        # LFKIT_BENCH_FULL=1 (scripts/bench --full) adds the capacity sweep: cap16 at every config,
        # 16384 at every config, 64 and 256 at the main configs.
        for n in (2, 64):
            g = benchlib.grid(n)
            names = self.listed("bench_mpmc_queue", n, {"LFKIT_BENCH_FULL": "1"})
            cfgs = lambda grp: self.lfkit_configs(names, grp)  # noqa: E731
            self.assertEqual(cfgs("queue_try_cap16"), g["queue_configs"], n)
            self.assertEqual(cfgs("queue_try_cap16k"), g["queue_configs"], n)
            self.assertEqual(cfgs("queue_try_cap64"), g["queue_main"], n)
            self.assertEqual(cfgs("queue_try_cap256"), g["queue_main"], n)
            self.assertNotIn("queue_try_cap64", " ".join(self.listed("bench_mpmc_queue", n)), n)

    def test_snapshot_readers(self):
        for n in (2, 64):
            names = self.listed("bench_snapshot", n)
            readers = [benchlib.parse_name(x)[2] for x in names
                       if x.startswith("snapshot_read/lfkit/") and "W" not in benchlib.parse_name(x)[2]]
            self.assertEqual(readers, [f"{r}R" for r in benchlib.grid(n)["readers"]], n)


class QueueGoalPerRound(unittest.TestCase):
    """summary.md's queue-goal table pairs lfkit with the best peer round by round."""

    def summary_rows(self, series, prefix):
        """report.py's summary.md rows starting with `prefix` for queue_pairwise/<impl>/2T values."""
        import json
        import tempfile
        entries = []
        for impl, vals in series:
            for k, v in enumerate(vals):
                entries.append({"name": f"queue_pairwise/{impl}/2T/real_time",
                                "run_name": f"queue_pairwise/{impl}/2T/real_time", "run_type": "iteration",
                                "repetitions": 4, "repetition_index": k, "threads": 1, "iterations": 1,
                                "real_time": 1.0, "cpu_time": 1.0, "time_unit": "ms",
                                "items_per_second": v * 1e6})
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "bench_mpmc_queue.json"), "w") as f:
                json.dump({"context": {"num_cpus": 2}, "benchmarks": entries}, f)
            r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                             "scripts", "report.py"), "--no-plots", d],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(d, "summary.md")) as f:
                return [[c.strip() for c in x.strip("|").split("|")] for x in f.read().splitlines()
                        if x.startswith(prefix)]

    def test_per_round_column(self):
        # Round 0 both fast, rounds 1-2 both slow (a machine phase), round 3 lfkit slow only.
        rows = self.summary_rows((("lfkit", [40.0, 10.0, 10.0, 10.0]), ("peer_x", [50.0, 8.0, 8.0, 40.0])),
                                 "| queue_pairwise | 2T |")
        self.assertEqual(len(rows), 1, rows)
        cells = rows[0]
        # Medians: lfkit 10, peer 24 -> 0.42x; per round 0.8, 1.25, 1.25, 0.25 -> median 1.02x, 2 of 4
        # rounds below 0.9x.
        self.assertTrue(cells[4].startswith("0.42×"), cells)
        self.assertEqual(cells[5], "1.02×, 2/4", cells)

    def test_lockfree_table(self):
        rows = self.summary_rows((("lfkit", [40.0, 10.0, 10.0, 10.0]), ("lfkit_lockfree", [20.0, 5.0, 9.0, 5.0]),
                                  ("peer_x", [50.0, 8.0, 8.0, 40.0])), "| queue_pairwise | 2T |")
        # The queue-goal row, then the lockfree row: 7 / 10 = 0.70x of mpmc_queue by medians, per
        # round 0.5, 0.5, 0.9, 0.5 -> 0.50x; 7 / 24 = 0.29x the peer; 2 threads on 2 CPUs: goal 0.8x.
        self.assertEqual(len(rows), 2, rows)
        self.assertEqual(rows[1][2:], ["7 M/s", "10 M/s", "0.70×", "0.50×", "0.29× x", "**no**"], rows[1])


class LineProbe(unittest.TestCase):
    """scripts/line_probe.c (machine.json's cache_line_round_trip): builds, pins, measures."""

    def run_probe(self, prefix=(), extra=("500",), status=0):
        import json
        import shutil
        import tempfile
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            self.skipTest("no C compiler")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "line_probe.c")
        with tempfile.TemporaryDirectory() as d:
            exe = os.path.join(d, "line_probe")
            r = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", src, "-o", exe],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([*prefix, exe, *extra], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, status, r.stdout + r.stderr)
            return json.loads(r.stdout)

    def test_pairs_of_allowed_cpus(self):
        allowed = sorted(os.sched_getaffinity(0))
        out = self.run_probe()
        pairs = [t["cpus"] for t in out["round_trip_ns"]]
        if len(allowed) < 2:
            self.assertEqual(pairs, [])
            return
        self.assertEqual(pairs[0], [allowed[0], allowed[1]])
        self.assertEqual(len(pairs), len({tuple(p) for p in pairs}))  # no pair twice
        for a, b in pairs:
            self.assertEqual(a, allowed[0])
            self.assertIn(b, allowed[1:])
        for t in out["round_trip_ns"]:
            # Two handoffs through another CPU's cache: more than a few ns; less than 0.1 s even
            # on a loaded machine (a waiting thread yields).
            self.assertGreater(t["ns"], 5, t)
            self.assertLess(t["ns"], 1e8, t)
        self.assertEqual(out["round_trips"], 500)

    def test_bad_argument(self):
        out = self.run_probe(extra=("0",), status=2)
        self.assertIn("'0'", out["error"])

    def test_one_cpu_gives_no_pair(self):
        import shutil
        if not shutil.which("taskset"):
            self.skipTest("no taskset")
        cpu = str(sorted(os.sched_getaffinity(0))[0])
        self.assertEqual(self.run_probe(("taskset", "-c", cpu))["round_trip_ns"], [])


if __name__ == "__main__":
    unittest.main()
