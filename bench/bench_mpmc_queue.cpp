// SPDX-License-Identifier: BSL-1.0
// Benchmarks for lfkit::mpmc_queue against its mutex+condvar baseline and every packaged bounded
// queue. The workloads, retry loops, time limit, grid and peer adapters are in queue_bench.hpp
// (its preface lists the groups); this file only names the implementations.
//
//   LFKIT_BENCH_QUEUE_CONFIGS=1P1C,2P2C bench_mpmc_queue --benchmark_filter='queue_try/'
#include "lfkit/mpmc_queue.hpp"
#include "queue_bench.hpp"

int main(int argc, char** argv) {
  qb::add<qb::lfkit_api<lfkit::mpmc_queue<qb::item>>>("lfkit");
  qb::add_baseline_and_peers();
  return qb::run_main(argc, argv);
}
