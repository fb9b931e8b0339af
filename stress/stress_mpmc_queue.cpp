// SPDX-License-Identifier: BSL-1.0
// stress/stress_mpmc_queue.cpp — bounded MPMC queues under injected interrupts, with the queues'
// shared workers and checks (queue_scenarios.hpp).
//
// queue_lfkit (lfkit::mpmc_queue; perturbed_atomic when --perturb > 0), queue_lfkit_blocking (the
// same with blocking and timed operations only, capacity 1-4, unbalanced sides: a lost wake-up
// shows as a stretch with no worker operation, see queue_scenarios.hpp), queue_lfkit_word and
// queue_lfkit_word_blocking (the same two with 8-byte items: the queue's word mode),
// queue_mutex_baseline (lfkit::baseline::mutex_queue) and queue_broken_demo
// (stress/broken_ring.hpp, a ring that publishes before writing: it must be caught).
// Baseline handlers skip when they interrupted a thread inside a queue call (h.skip).
// mutex_queue has no try_lock-based operation, so otherwise its handler ops may wait for *another*
// thread's lock.
#include <atomic>
#include <cstdint>
#include <string>

#include "broken_ring.hpp"
#include "perturbed_atomic.hpp"
#include "queue_scenarios.hpp"
#include "stress.hpp"

#include "lfkit/baseline/mutex_queue.hpp"
#include "lfkit/mpmc_queue.hpp"

namespace ls = lfkit::stress;

namespace {

using ls::queues::item;
using ls::queues::run_queue;

ls::result_row queue_lfkit(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::mpmc_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::mpmc_queue (perturbed)", {});
  }
  return run_queue<lfkit::mpmc_queue<item>>(o, "lfkit::mpmc_queue", {});
}
LFKIT_STRESS_SCENARIO(
    "queue_lfkit",
    "lfkit::mpmc_queue: handler try_push/try_pop, close mid-run; no loss/dup, FIFO per producer",
    queue_lfkit);
ls::result_row queue_lfkit_blocking(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::mpmc_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::mpmc_queue blocking (perturbed)", {.blocking = true});
  }
  return run_queue<lfkit::mpmc_queue<item>>(o, "lfkit::mpmc_queue blocking ops",
                                            {.blocking = true});
}
LFKIT_STRESS_SCENARIO("queue_lfkit_blocking",
                      "lfkit::mpmc_queue: only push/pop/timed ops, capacity 1-4, unbalanced sides "
                      "(sleep/wake, lost wake-ups)",
                      queue_lfkit_blocking);

// Word mode (an element of at most 8 bytes: consumers read it before their claim and never
// write the slot), with the same workers and checks through word_adapter.
template <template <class> class Atom>
using word_queue = ls::queues::word_adapter<lfkit::mpmc_queue<ls::queues::word_item, Atom>>;
static_assert(word_queue<std::atomic>::word_mode && !lfkit::mpmc_queue<item>::word_mode);

ls::result_row queue_lfkit_word(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<word_queue<ls::perturbed_atomic>>(o, "lfkit::mpmc_queue word (perturbed)", {});
  }
  return run_queue<word_queue<std::atomic>>(o, "lfkit::mpmc_queue word mode", {});
}
LFKIT_STRESS_SCENARIO("queue_lfkit_word",
                      "lfkit::mpmc_queue of 8-byte items (word mode): as queue_lfkit",
                      queue_lfkit_word);
ls::result_row queue_lfkit_word_blocking(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<word_queue<ls::perturbed_atomic>>(
        o, "lfkit::mpmc_queue word blocking (perturbed)", {.blocking = true});
  }
  return run_queue<word_queue<std::atomic>>(o, "lfkit::mpmc_queue word blocking ops",
                                            {.blocking = true});
}
LFKIT_STRESS_SCENARIO("queue_lfkit_word_blocking",
                      "lfkit::mpmc_queue of 8-byte items (word mode): as queue_lfkit_blocking",
                      queue_lfkit_word_blocking);

ls::result_row queue_mutex(const ls::options& o) {
  return run_queue<lfkit::baseline::mutex_queue<item>>(o, "baseline::mutex_queue",
                                                       {.baseline = true});
}
LFKIT_STRESS_SCENARIO(
    "queue_mutex_baseline",
    "baseline::mutex_queue: same checks; handler ops that would deadlock are skipped", queue_mutex);

/// Turns perturbation on (at least level 2) for the demo and restores the previous settings.
struct forced_perturbation {
  std::uint32_t spin, yield;
  forced_perturbation()
      : spin(ls::g_perturbation.spin.load()), yield(ls::g_perturbation.yield.load()) {
    if (spin < 2048) ls::g_perturbation.spin.store(2048);
    if (yield < 256) ls::g_perturbation.yield.store(256);
  }
  ~forced_perturbation() {
    ls::g_perturbation.spin.store(spin);
    ls::g_perturbation.yield.store(yield);
  }
};

ls::result_row queue_broken(const ls::options& o) {
  forced_perturbation p;
  return run_queue<ls::broken_ring<item, ls::perturbed_atomic>>(
      o, "broken_ring (publishes before writing)", {.broken = true});
}
LFKIT_STRESS_SCENARIO("queue_broken_demo",
                      "DEMO: a ring that publishes a slot before writing it (must be caught)",
                      queue_broken);

}  // namespace
