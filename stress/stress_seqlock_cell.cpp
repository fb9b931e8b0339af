// SPDX-License-Identifier: BSL-1.0
// stress/stress_seqlock_cell.cpp — lfkit::seqlock_cell under injected interrupts: scenario
// snapshot_seqlock (perturbed_atomic when --perturb > 0). Same workload and checks as the snapshot
// scenarios (stress_snapshot.cpp, harness in snapshot_harness.hpp), for a trivially copyable pair:
// every value a reader, writer or handler copies out is consistent, versions are monotonic per
// thread, nothing is lost.
#include "snapshot_harness.hpp"

namespace {

ls::result_row snapshot_seqlock(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_snapshot<lfkit::seqlock_cell<plain_pair, ls::perturbed_atomic>, kind::seqlock>(
        o, "lfkit::seqlock_cell (perturbed)", 1);
  }
  return run_snapshot<lfkit::seqlock_cell<plain_pair>, kind::seqlock>(o, "lfkit::seqlock_cell", 1);
}
LFKIT_STRESS_SCENARIO(
    "snapshot_seqlock",
    "lfkit::seqlock_cell: handler load+check (also mid-write on its own thread); never torn",
    snapshot_seqlock);

}  // namespace
