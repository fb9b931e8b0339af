// SPDX-License-Identifier: BSL-1.0
// Benchmarks for lfkit::lockfree_queue (the strictly lock-free SCQ-class ring): every queue workload
// of queue_bench.hpp (throughput, capacity 16, pairwise, 50/50, bursts, ping-pong, blocking,
// latency) under the impl name lfkit_lockfree, alone: a quick look at this queue. scripts/bench
// does not run this binary when it runs bench_mpmc_queue, which holds lfkit_lockfree too, beside
// mpmc_queue, the baseline and the peers in the same processes (so their ratios share the
// machine's phase).
//
//   LFKIT_BENCH_QUEUE_CONFIGS=1P1C,2P2C bench_lockfree_queue --benchmark_filter='queue_try/'
#include "lfkit/lockfree_queue.hpp"
#include "queue_bench.hpp"

int main(int argc, char** argv) {
  qb::add<qb::lfkit_api<lfkit::lockfree_queue<qb::item>>>("lfkit_lockfree");
  return qb::run_main(argc, argv);
}
