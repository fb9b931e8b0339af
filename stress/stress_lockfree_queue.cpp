// SPDX-License-Identifier: BSL-1.0
// stress/stress_lockfree_queue.cpp — lfkit::lockfree_queue (SCQ rings) under injected interrupts,
// freezes and perturbed schedules, and its histories checked for linearizability. The workers and
// checks are the queues' shared ones (queue_scenarios.hpp), as for lfkit::mpmc_queue:
// queue_lockfree: handler try_push/try_pop, close() mid-traffic; no loss/duplication, per-producer
// FIFO, close drains. queue_lockfree_blocking: the same with blocking and timed operations only,
// capacity 1-4 and unbalanced sides. lincheck_queue_lockfree: 3 threads x 8 try_ ops on a
// capacity-3 queue (+ handler ops), each round's history checked against a FIFO model in which a
// failed try_pop is legal only when the queue is empty (strict: this queue has no "busy" failure),
// and a failed try_push only when full or when it overlaps another operation (that operation may
// hold the free index it needed).
#include <string>

#include "lincheck.hpp"
#include "perturbed_atomic.hpp"
#include "queue_scenarios.hpp"
#include "stress.hpp"

#include "lfkit/lockfree_queue.hpp"

namespace ls = lfkit::stress;
namespace lin = lfkit::stress::lin;

namespace {

using ls::queues::item;
using ls::queues::run_queue;

/// Progress after every operation (as this file's scenarios always had it).
constexpr ls::queues::run_config nonblocking{.blocking = false, .progress_each_op = true};
constexpr ls::queues::run_config blocking{.blocking = true, .progress_each_op = true};

ls::result_row queue_lockfree(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::lockfree_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::lockfree_queue (perturbed)", nonblocking);
  }
  return run_queue<lfkit::lockfree_queue<item>>(o, "lfkit::lockfree_queue", nonblocking);
}
LFKIT_STRESS_SCENARIO("queue_lockfree",
                      "lfkit::lockfree_queue: handler try_push/try_pop, close mid-run; no "
                      "loss/dup, FIFO per producer",
                      queue_lockfree);
ls::result_row queue_lockfree_blocking(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::lockfree_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::lockfree_queue blocking (perturbed)", blocking);
  }
  return run_queue<lfkit::lockfree_queue<item>>(o, "lfkit::lockfree_queue blocking ops", blocking);
}
LFKIT_STRESS_SCENARIO("queue_lockfree_blocking",
                      "lfkit::lockfree_queue: only push/pop/timed ops, capacity 1-4, unbalanced "
                      "sides (lost wake-ups)",
                      queue_lockfree_blocking);

// ---- linearizability ---------------------------------------------------------------------------

/// Failed pops strict; a failed push needs full or an overlapping operation.
template <class Q>
using strict_pops = ls::queues::lin_ops<Q, true>;

ls::result_row lincheck_queue_lockfree(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    using Q = lfkit::lockfree_queue<item, ls::perturbed_atomic>;
    return lin::run_rounds<Q, strict_pops<Q>>(o, "lfkit::lockfree_queue (perturbed)", false, true,
                                              false);
  }
  using Q = lfkit::lockfree_queue<item>;
  return lin::run_rounds<Q, strict_pops<Q>>(o, "lfkit::lockfree_queue", false, true, false);
}
LFKIT_STRESS_SCENARIO(
    "lincheck_queue_lockfree",
    "lfkit::lockfree_queue: 3x8-op histories (+ handler ops) vs a FIFO model, failed pops strict",
    lincheck_queue_lockfree);

}  // namespace
