// SPDX-License-Identifier: BSL-1.0
// stress/stress_snapshot.cpp — snapshot cells under injected interrupts.
//
// snapshot_lfkit (lfkit::snapshot; perturbed_atomic when --perturb > 0), snapshot_shared_mutex_baseline
// and snapshot_mutex_baseline
// (lfkit::baseline::locked_snapshot over std::shared_mutex / std::mutex).
//
// The value is the seed's pair of counters that must never differ, {a, b}, with a == b == the
// number of updates that produced it. Writers (a quarter of the workers, at least one) only
// update(f) with f(v) = {v.a + 1, v.b + 1}; readers load, check, and hold up to three guards at
// once, re-checking each when they release it; every interrupt handler loads and checks too.
// Checks, exactly:
//   * every value seen (by a reader, a writer or a handler) is consistent: a == b, and for the
//     guard-based cells a == the guard's version();
//   * versions are monotonic per thread (handlers included), and a load that starts after
//     version() returned v sees a version >= v;
//   * nothing lost: the final value equals the number of successful updates;
//   * (guard-based cells) the value type is instrumented: every construction gets a fresh id and
//     a "live" mark, every destruction checks the mark (destroyed twice?) and clears it; a guard's
//     value must still be live, with the same id and contents, when the guard is released (never
//     destroyed while guarded); at the end constructions == destructions (each version destroyed
//     exactly once, nothing leaked);
//   * (lfkit::snapshot) retired_count() stays within its documented bound, P + reclaim_batch - 1,
//     with P <= (guards held + 2) per thread here, plus one per writer in flight; readers hold 3 guards, or 11 (beyond the 8
//     hazard slots of a thread: the fallback path) on odd seeds.
// Baselines: a handler that interrupted a thread inside a baseline call (it may hold the lock)
// skips and counts it (h.skip); otherwise it loads (the lock may make it wait for *another*
// thread), and since releasing a baseline guard may run ~T and free() — not async-signal-safe — it
// parks the guard in a per-thread slot that its thread releases after the handler returns.
#include "snapshot_harness.hpp"

namespace {

constexpr std::size_t batches[] = {1, 2, 8, 32};

ls::result_row snapshot_lfkit(const ls::options& o) {
  const std::size_t b = batches[(o.seed / 4) % 4];
  if (ls::perturb_level(o) > 0) {
    return run_snapshot<lfkit::snapshot<tracked, ls::perturbed_atomic>, kind::hazard>(
        o, "lfkit::snapshot (perturbed)", b);
  }
  return run_snapshot<lfkit::snapshot<tracked>, kind::hazard>(o, "lfkit::snapshot", b);
}
LFKIT_STRESS_SCENARIO("snapshot_lfkit",
                      "lfkit::snapshot: handler load+check; pair consistent, versions destroyed "
                      "once, none while guarded",
                      snapshot_lfkit);

ls::result_row snapshot_broken(const ls::options& o) {
  return run_snapshot<broken_snapshot, kind::hazard>(o, "broken_snapshot (reuses guarded nodes)", 1,
                                                     true);
}
LFKIT_STRESS_SCENARIO("snapshot_broken_demo",
                      "DEMO: a cell that recycles versions readers still guard (must be caught)",
                      snapshot_broken);

ls::result_row snapshot_shared_mutex(const ls::options& o) {
  return run_snapshot<lfkit::baseline::locked_snapshot<tracked, std::shared_mutex>, kind::locked>(
      o, "baseline::locked_snapshot<shared_mutex>", 1);
}
ls::result_row snapshot_mutex(const ls::options& o) {
  return run_snapshot<lfkit::baseline::locked_snapshot<tracked, std::mutex>, kind::locked>(
      o, "baseline::mutex_snapshot", 1);
}
LFKIT_STRESS_SCENARIO("snapshot_shared_mutex_baseline",
                      "baseline::locked_snapshot<shared_mutex>: same checks; handler loads that "
                      "would deadlock skipped",
                      snapshot_shared_mutex);
LFKIT_STRESS_SCENARIO(
    "snapshot_mutex_baseline",
    "baseline::mutex_snapshot: same checks; handler loads that would deadlock skipped",
    snapshot_mutex);

}  // namespace
