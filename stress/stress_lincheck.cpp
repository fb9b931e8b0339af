// SPDX-License-Identifier: BSL-1.0
// stress/stress_lincheck.cpp — small runs with recorded histories, checked for linearizability.
//
// lincheck_queue_lfkit, lincheck_queue_mutex_baseline, lincheck_queue_broken_demo,
// lincheck_snapshot_lfkit, lincheck_snapshot_seqlock, lincheck_snapshot_shared_mutex_baseline:
// rounds of 3 threads x 8 operations on a fresh structure (a queue of capacity 3; a snapshot cell
// holding {0, 0}), repeated for the scenario's time, with interrupts (and freezes) injected as
// everywhere else. Interrupt handlers of the lfkit scenarios run an operation too (queue: try_push
// or try_pop; snapshot: load) and record it in the same history, as one more process nested inside
// the operation it interrupted. Each round's history (invocation/response from one global counter)
// is checked against a sequential model (lincheck.hpp): FIFO queue of capacity 3, or a register
// of (value, version). lfkit::mpmc_queue's documented "busy slot" failure of a try_ operation is
// allowed only when that operation overlaps another one (someone must be mid-operation); the
// mutex baseline is checked strictly. The first non-linearizable history is printed.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "broken_ring.hpp"
#include "lincheck.hpp"
#include "perturbed_atomic.hpp"
#include "stress.hpp"

#include "lfkit/baseline/locked_snapshot.hpp"
#include "lfkit/baseline/mutex_queue.hpp"
#include "lfkit/mpmc_queue.hpp"
#include "lfkit/seqlock_cell.hpp"
#include "lfkit/snapshot.hpp"

namespace ls = lfkit::stress;
namespace lin = lfkit::stress::lin;

namespace {

constexpr unsigned lin_threads = 3;
constexpr unsigned ops_per_thread = 8;
constexpr std::size_t queue_capacity = 3;

struct qitem {
  std::uint64_t tag = 0;
  std::uint64_t check = 0;
};

struct pair2 {
  std::uint64_t a = 0, b = 0;
};

/// Shared state of the current round, visible to handlers through atomics.
template <class S>
struct round_ctx {
  static inline std::atomic<S*> structure{nullptr};
  static inline lin::recorder rec;
  static inline std::atomic<bool> active{false};
  static inline std::atomic<int> inflight{0};
  static inline bool handler_ops = true;
  static inline std::atomic<std::uint64_t> h_ops{0}, h_failed{0}, torn{0};
  static inline constinit thread_local std::atomic<std::uint64_t> t_count{0};

  /// The handler gate: a handler runs its operation only while the round is active; the thread
  /// that ends the round clears `active` and waits for `inflight` to drain (seq_cst Dekker: either
  /// the handler sees the round over, or the ender sees the handler in flight).
  template <class F>
  static void gated(F f) {
    if (!handler_ops || !active.load()) return;
    inflight.fetch_add(1);
    if (active.load()) f(*structure.load());
    inflight.fetch_sub(1);
  }
  static void end_round() {
    active.store(false);
    while (inflight.load() != 0) std::this_thread::yield();
  }
};

// ---- per-structure operations ----------------------------------------------------------------------

template <class Q>
struct queue_ops {
  using ctx = round_ctx<Q>;
  static std::unique_ptr<Q> make() { return std::make_unique<Q>(queue_capacity); }
  static lin::checker<lin::queue_model> checker(bool strict) {
    return lin::checker<lin::queue_model>({queue_capacity, !strict});
  }
  static void op(Q& q, std::uint32_t proc, std::uint64_t value, std::uint64_t r) {
    if (r & 1) {
      const int i = ctx::rec.begin(proc, lin::push, value);
      if (i < 0) return;
      const bool ok = q.try_push(qitem{value, ls::mix64(value)});
      ctx::rec.end(i, ok, 0);
    } else {
      const int i = ctx::rec.begin(proc, lin::pop, 0);
      if (i < 0) return;
      qitem it;
      const bool ok = q.try_pop(it);
      if (ok && it.check != ls::mix64(it.tag)) ctx::torn.fetch_add(1);
      ctx::rec.end(i, ok, ok ? it.tag : 0);
    }
  }
  static void handler() {
    const int w =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (w < 0) return;
    const std::uint64_t n =
        ctx::t_count.load(std::memory_order_relaxed);      // relaxed: this thread only
    ctx::t_count.store(n + 1, std::memory_order_relaxed);  // relaxed: as above
    ctx::gated([&](Q& q) {
      op(q, 100 + static_cast<std::uint32_t>(w), (100 + static_cast<std::uint64_t>(w)) << 32 | n,
         ls::mix64(n ^ 0x77));
      ctx::h_ops.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    });
  }
};

/// Snapshot-like cells: lfkit::snapshot, locked baselines (guards with versions) and seqlock_cell.
template <class C, bool Versions>
struct cell_ops {
  using ctx = round_ctx<C>;
  static std::unique_ptr<C> make() { return std::make_unique<C>(pair2{0, 0}); }
  static lin::checker<lin::register_model> checker(bool) {
    return lin::checker<lin::register_model>({Versions});
  }
  static void do_load(C& c, std::uint32_t proc) {
    const int i = ctx::rec.begin(proc, lin::load, 0);
    if (i < 0) return;
    if constexpr (Versions) {
      auto g = c.load();
      if (g->a != g->b) ctx::torn.fetch_add(1);
      ctx::rec.end(i, true, g->a, g.version());
    } else {
      const pair2 v = c.load();
      if (v.a != v.b) ctx::torn.fetch_add(1);
      ctx::rec.end(i, true, v.a);
    }
  }
  static void op(C& c, std::uint32_t proc, std::uint64_t value, std::uint64_t r) {
    switch (r % 8) {
      case 0:
      case 1: {
        const int i = ctx::rec.begin(proc, lin::store, value);
        if (i < 0) return;
        c.store(pair2{value, value});
        ctx::rec.end(i, true, 0);
        return;
      }
      case 2:
      case 3: {
        const int i = ctx::rec.begin(proc, lin::update, 0);
        if (i < 0) return;
        if constexpr (Versions) {
          const std::uint64_t v = c.update([](const pair2& p) { return pair2{p.a + 1, p.b + 1}; });
          ctx::rec.end(i, true, v);
        } else {
          const pair2 v = c.update([](const pair2& p) { return pair2{p.a + 1, p.b + 1}; });
          ctx::rec.end(i, true, v.a);
        }
        return;
      }
      case 4:
        if constexpr (Versions) {
          const int i = ctx::rec.begin(proc, lin::exchange, value);
          if (i < 0) return;
          auto g = c.exchange(pair2{value, value});
          if (g->a != g->b) ctx::torn.fetch_add(1);
          ctx::rec.end(i, true, g->a, g.version());
          return;
        }
        [[fallthrough]];
      default: do_load(c, proc);
    }
  }
  static void handler() {
    const int w =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (w < 0) return;
    ctx::gated([&](C& c) {
      do_load(c, 100 + static_cast<std::uint32_t>(w));
      ctx::h_ops.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    });
  }
};

template <class S, class Ops>
ls::result_row run_lincheck(const ls::options& opts_in, std::string structure, bool strict,
                            bool handler_ops, bool broken) {
  using ctx = round_ctx<S>;
  ls::options opts = opts_in;
  opts.threads = lin_threads;
  ctx::handler_ops = handler_ops;
  ctx::h_ops.store(0);
  ctx::h_failed.store(0);
  ctx::torn.store(0);
  ctx::active.store(false);
  std::unique_ptr<S> current = Ops::make();
  ctx::structure.store(current.get());
  ctx::rec.clear();
  ctx::active.store(true);

  std::barrier sync(lin_threads);
  bool finish = false;  // written by worker 0 before the start barrier, read after it
  std::uint64_t histories = 0, bad = 0, busy = 0, total_ops = 0;
  std::string first_bad;
  auto checker = Ops::checker(strict);
  lfkit::sharded_counter progress;

  auto body = [&](unsigned i, const std::atomic<bool>& stop) {
    ls::rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
    for (std::uint64_t round = 0;; ++round) {
      sync.arrive_and_wait();  // start
      if (finish) break;
      S& s = *current;
      for (unsigned k = 0; k < ops_per_thread; ++k) {
        const std::uint64_t x = r.next();
        for (std::uint64_t spin = x >> 60; spin > 0; --spin)
          std::atomic_signal_fence(std::memory_order_seq_cst);
        if ((x >> 56 & 15) == 0) std::this_thread::yield();
        Ops::op(s, i, (static_cast<std::uint64_t>(i) + 1) << 32 | (round << 8) | k, x);
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
        ctx::structure.store(nullptr);
        current = Ops::make();
        ctx::structure.store(current.get());
        ctx::rec.clear();
        ctx::active.store(true);
        finish = stop.load();
      }
    }
  };
  const ls::run_stats st = ls::run_workers(opts, &Ops::handler, progress, body);
  ctx::end_round();

  ls::result_row row;
  row.structure = std::move(structure);
  row.threads = lin_threads;
  row.ops = total_ops;
  ls::fill_signal_columns(row, st);
  // Rounds are barrier-synchronised: a frozen thread stops every round whatever the structure, so
  // the others' progress during a freeze says nothing about it here (freezes still shake histories).
  row.freeze = ls::freeze_stats{};
  row.handler_ops = ctx::h_ops.load();
  row.checks = histories;
  row.expect_violations = broken;
  row.violations = bad + ctx::torn.load();
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%" PRIu64 " histories of %u threads x %u ops (+ handler ops), %" PRIu64
                " not linearizable, %" PRIu64 " torn values; %s",
                histories, lin_threads, ops_per_thread, bad, ctx::torn.load(),
                strict ? "strict model" : "busy-slot failures allowed when overlapping");
  row.detail = buf;
  if (!strict) row.detail += " (" + std::to_string(busy) + " histories needed that allowance)";
  if (bad > 0 && (!broken || opts_in.strict_demos)) {
    std::fprintf(stderr,
                 "  first non-linearizable history (%s, [inv,res] from one global clock):\n%s",
                 row.structure.c_str(), first_bad.c_str());
  }
  return row;
}

ls::result_row lincheck_queue_lfkit(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    using Q = lfkit::mpmc_queue<qitem, ls::perturbed_atomic>;
    return run_lincheck<Q, queue_ops<Q>>(o, "lfkit::mpmc_queue (perturbed)", false, true, false);
  }
  using Q = lfkit::mpmc_queue<qitem>;
  return run_lincheck<Q, queue_ops<Q>>(o, "lfkit::mpmc_queue", false, true, false);
}
LFKIT_STRESS_SCENARIO(
    "lincheck_queue_lfkit",
    "lfkit::mpmc_queue: 3x8-op histories (+ handler ops) checked against a FIFO model",
    lincheck_queue_lfkit);
ls::result_row lincheck_queue_mutex(const ls::options& o) {
  using Q = lfkit::baseline::mutex_queue<qitem>;
  return run_lincheck<Q, queue_ops<Q>>(o, "baseline::mutex_queue", true, false, false);
}
LFKIT_STRESS_SCENARIO("lincheck_queue_mutex_baseline",
                      "baseline::mutex_queue: 3x8-op histories checked against a strict FIFO model",
                      lincheck_queue_mutex);

ls::result_row lincheck_queue_broken(const ls::options& o) {
  const std::uint32_t spin = ls::g_perturbation.spin.load(),
                      yield = ls::g_perturbation.yield.load();
  ls::g_perturbation.spin.store(std::max<std::uint32_t>(spin, 2048));
  ls::g_perturbation.yield.store(std::max<std::uint32_t>(yield, 2048));
  using Q = ls::broken_ring<qitem, ls::perturbed_atomic>;
  auto row =
      run_lincheck<Q, queue_ops<Q>>(o, "broken_ring (publishes before writing)", false, true, true);
  ls::g_perturbation.spin.store(spin);
  ls::g_perturbation.yield.store(yield);
  return row;
}
LFKIT_STRESS_SCENARIO("lincheck_queue_broken_demo",
                      "DEMO: the broken ring's histories are not linearizable (must be caught)",
                      lincheck_queue_broken);

ls::result_row lincheck_snapshot_lfkit(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    using C = lfkit::snapshot<pair2, ls::perturbed_atomic>;
    return run_lincheck<C, cell_ops<C, true>>(o, "lfkit::snapshot (perturbed)", true, true, false);
  }
  using C = lfkit::snapshot<pair2>;
  return run_lincheck<C, cell_ops<C, true>>(o, "lfkit::snapshot", true, true, false);
}
LFKIT_STRESS_SCENARIO(
    "lincheck_snapshot_lfkit",
    "lfkit::snapshot: load/store/update/exchange histories (+ handler loads) vs a register",
    lincheck_snapshot_lfkit);
ls::result_row lincheck_snapshot_seqlock(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    using C = lfkit::seqlock_cell<pair2, ls::perturbed_atomic>;
    return run_lincheck<C, cell_ops<C, false>>(o, "lfkit::seqlock_cell (perturbed)", true, true,
                                               false);
  }
  using C = lfkit::seqlock_cell<pair2>;
  return run_lincheck<C, cell_ops<C, false>>(o, "lfkit::seqlock_cell", true, true, false);
}
LFKIT_STRESS_SCENARIO(
    "lincheck_snapshot_seqlock",
    "lfkit::seqlock_cell: load/store/update histories (+ handler loads) vs a register",
    lincheck_snapshot_seqlock);
ls::result_row lincheck_snapshot_locked(const ls::options& o) {
  using C = lfkit::baseline::locked_snapshot<pair2, std::shared_mutex>;
  return run_lincheck<C, cell_ops<C, true>>(o, "baseline::locked_snapshot<shared_mutex>", true,
                                            false, false);
}
LFKIT_STRESS_SCENARIO("lincheck_snapshot_shared_mutex_baseline",
                      "baseline::locked_snapshot: histories vs a register (no handler ops)",
                      lincheck_snapshot_locked);

}  // namespace
