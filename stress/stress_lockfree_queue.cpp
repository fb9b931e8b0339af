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
#include <atomic>
#include <barrier>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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

constexpr unsigned lin_threads = 3;
constexpr unsigned ops_per_thread = 8;
constexpr std::size_t lin_capacity = 3;

/// FIFO of capacity `capacity`: a failed pop is legal only when empty; a failed push when full,
/// or when it overlaps another operation (which may hold the free index it needed: a push from
/// its first step, a pop until its last).
struct lockfree_queue_model {
  std::size_t capacity;
  using state = std::vector<std::uint64_t>;
  bool step(state& s, const lin::op& o, bool overlaps, bool& busy) const {
    busy = false;
    if (o.kind == lin::push) {
      if (o.ok) {
        if (s.size() >= capacity) return false;
        s.push_back(o.arg);
        return true;
      }
      if (s.size() >= capacity) return true;
      busy = overlaps;
      return busy;
    }
    if (o.kind == lin::pop) {
      if (o.ok) {
        if (s.empty() || s.front() != o.ret) return false;
        s.erase(s.begin());
        return true;
      }
      return s.empty();
    }
    return false;
  }
  static state initial() { return {}; }
};

template <class Q>
struct lin_ctx {
  static inline std::atomic<Q*> queue{nullptr};
  static inline lin::recorder rec;
  static inline std::atomic<bool> active{false};
  static inline std::atomic<int> inflight{0};
  static inline std::atomic<std::uint64_t> h_ops{0}, torn{0};
  static inline constinit thread_local std::atomic<std::uint64_t> t_count{0};

  static void op(Q& q, std::uint32_t proc, std::uint64_t value, std::uint64_t r) {
    if (r & 1) {
      const int i = rec.begin(proc, lin::push, value);
      if (i < 0) return;
      const bool ok = q.try_push(item{value, ls::mix64(value)});
      rec.end(i, ok, 0);
    } else {
      const int i = rec.begin(proc, lin::pop, 0);
      if (i < 0) return;
      item it;
      const bool ok = q.try_pop(it);
      if (ok && it.check != ls::mix64(it.tag)) torn.fetch_add(1);
      rec.end(i, ok, ok ? it.tag : 0);
    }
  }
  /// Handler op, gated: runs only while the round is active (seq_cst Dekker with end_round()).
  static void handler() {
    const int w =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (w < 0) return;
    const std::uint64_t n = t_count.load(std::memory_order_relaxed);  // relaxed: this thread only
    t_count.store(n + 1, std::memory_order_relaxed);                  // relaxed: as above
    if (!active.load()) return;
    inflight.fetch_add(1);
    if (active.load()) {
      op(*queue.load(), 100 + static_cast<std::uint32_t>(w),
         (100 + static_cast<std::uint64_t>(w)) << 32 | n, ls::mix64(n ^ 0x77));
      h_ops.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    }
    inflight.fetch_sub(1);
  }
  static void end_round() {
    active.store(false);
    while (inflight.load() != 0) std::this_thread::yield();
  }
};

template <class Q>
ls::result_row run_lincheck(const ls::options& opts_in, std::string structure) {
  using ctx = lin_ctx<Q>;
  ls::options opts = opts_in;
  opts.threads = lin_threads;
  ctx::h_ops.store(0);
  ctx::torn.store(0);
  std::unique_ptr<Q> current = std::make_unique<Q>(lin_capacity);
  ctx::queue.store(current.get());
  ctx::rec.clear();
  ctx::active.store(true);
  std::barrier sync(lin_threads);
  bool finish = false;  // written by worker 0 before the start barrier, read after it
  std::uint64_t histories = 0, bad = 0, busy = 0, total_ops = 0;
  std::string first_bad;
  lin::checker<lockfree_queue_model> checker({lin_capacity});
  lfkit::sharded_counter progress;

  auto body = [&](unsigned i, const std::atomic<bool>& stop) {
    ls::rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
    for (std::uint64_t round = 0;; ++round) {
      sync.arrive_and_wait();  // start
      if (finish) break;
      Q& q = *current;
      for (unsigned k = 0; k < ops_per_thread; ++k) {
        const std::uint64_t x = r.next();
        for (std::uint64_t spin = x >> 60; spin > 0; --spin)
          std::atomic_signal_fence(std::memory_order_seq_cst);
        if ((x >> 56 & 15) == 0) std::this_thread::yield();
        ctx::op(q, i, (static_cast<std::uint64_t>(i) + 1) << 32 | (round << 8) | k, x);
      }
      sync.arrive_and_wait();  // end
      if (i == 0) {
        ctx::end_round();
        const std::vector<lin::op> h = ctx::rec.take();
        total_ops += h.size();
        const lin::verdict v = checker.check(h);
        ++histories;
        if (!v.linearizable) {
          if (bad++ == 0) first_bad = lin::describe(h);
        } else if (v.used_busy) {
          ++busy;
        }
        progress.add(h.size());
        ctx::queue.store(nullptr);
        current = std::make_unique<Q>(lin_capacity);
        ctx::queue.store(current.get());
        ctx::rec.clear();
        ctx::active.store(true);
        finish = stop.load();
      }
    }
  };
  const ls::run_stats st = ls::run_workers(opts, &ctx::handler, progress, body);
  ctx::end_round();

  ls::result_row row;
  row.structure = std::move(structure);
  row.threads = lin_threads;
  row.ops = total_ops;
  ls::fill_signal_columns(row, st);
  row.freeze = ls::freeze_stats{};  // rounds are barrier-synchronised: a freeze stops every round
  row.handler_ops = ctx::h_ops.load();
  row.checks = histories;
  row.violations = bad + ctx::torn.load();
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%" PRIu64 " histories of %u threads x %u ops (+ handler ops), %" PRIu64
                " not linearizable, %" PRIu64 " torn values; failed pops strict, %" PRIu64
                " histories needed an overlapping failed push",
                histories, lin_threads, ops_per_thread, bad, ctx::torn.load(), busy);
  row.detail = buf;
  if (bad > 0) {
    std::fprintf(stderr,
                 "  first non-linearizable history (%s, [inv,res] from one global clock):\n%s",
                 row.structure.c_str(), first_bad.c_str());
  }
  return row;
}

ls::result_row lincheck_queue_lockfree(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_lincheck<lfkit::lockfree_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::lockfree_queue (perturbed)");
  }
  return run_lincheck<lfkit::lockfree_queue<item>>(o, "lfkit::lockfree_queue");
}
LFKIT_STRESS_SCENARIO(
    "lincheck_queue_lockfree",
    "lfkit::lockfree_queue: 3x8-op histories (+ handler ops) vs a FIFO model, failed pops strict",
    lincheck_queue_lockfree);

}  // namespace
