// SPDX-License-Identifier: BSL-1.0
// Benchmarks for lfkit::mpmc_queue and lfkit::lockfree_queue against their mutex+condvar baseline
// and every packaged bounded queue. The workloads, retry loops, time limit, grid and peer adapters
// are in queue_bench.hpp (its preface lists the groups); this file only names the implementations.
// Both lfkit queues are here, not only in their own binaries: scripts/bench runs one process per
// group and config, and only implementations in the same process share the machine's phase (a
// VM's line transfers changed ~4x in speed between processes of one run; see bench/README.md).
//
//   LFKIT_BENCH_QUEUE_CONFIGS=1P1C,2P2C bench_mpmc_queue --benchmark_filter='queue_try/'
#include "lfkit/lockfree_queue.hpp"
#include "lfkit/mpmc_queue.hpp"
#include "queue_bench.hpp"

int main(int argc, char** argv) {
  qb::add<qb::lfkit_api<lfkit::mpmc_queue<qb::item>>>("lfkit");
  qb::add<qb::lfkit_api<lfkit::lockfree_queue<qb::item>>>("lfkit_lockfree");
  qb::add_baseline_and_peers();
  return qb::run_main(argc, argv);
}
