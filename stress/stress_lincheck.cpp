// SPDX-License-Identifier: BSL-1.0
// stress/stress_lincheck.cpp — small runs with recorded histories, checked for linearizability.
//
// lincheck_queue_lfkit, lincheck_queue_lfkit_word (8-byte items: the word mode),
// lincheck_queue_mutex_baseline, lincheck_queue_broken_demo,
// lincheck_snapshot_lfkit, lincheck_snapshot_seqlock, lincheck_snapshot_shared_mutex_baseline:
// rounds of 3 threads x 8 operations on a fresh structure (a queue of capacity 3; a snapshot cell
// holding {0, 0}), repeated for the scenario's time, with interrupts (and freezes) injected as
// everywhere else. Interrupt handlers of the lfkit scenarios run an operation too (queue: try_push
// or try_pop; snapshot: load) and record it in the same history, as one more process nested inside
// the operation it interrupted. Each round's history (invocation/response from one global counter)
// is checked against a sequential model (lincheck.hpp): FIFO queue of capacity 3, or a register
// of (value, version). lfkit::mpmc_queue's documented "busy slot" failure of a try_ operation is
// allowed only when that operation overlaps another one (someone must be mid-operation); the
// mutex baseline is checked strictly. The first non-linearizable history is printed. The rounds
// are lincheck.hpp's run_rounds; the queues' operations are queue_scenarios.hpp's lin_ops.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "broken_ring.hpp"
#include "lincheck.hpp"
#include "perturbed_atomic.hpp"
#include "queue_scenarios.hpp"
#include "stress.hpp"

#include "lfkit/baseline/locked_snapshot.hpp"
#include "lfkit/baseline/mutex_queue.hpp"
#include "lfkit/mpmc_queue.hpp"
#include "lfkit/seqlock_cell.hpp"
#include "lfkit/snapshot.hpp"

namespace ls = lfkit::stress;
namespace lin = lfkit::stress::lin;

namespace {

using lin::run_rounds;
using ls::queues::item;
using ls::queues::lin_ops;

struct pair2 {
  std::uint64_t a = 0, b = 0;
};

// ---- per-structure operations ----------------------------------------------------------------------

/// Snapshot-like cells: lfkit::snapshot, locked baselines (guards with versions) and seqlock_cell.
template <class C, bool Versions>
struct cell_ops {
  using ctx = lin::round_ctx<C>;
  static std::unique_ptr<C> make() { return std::make_unique<C>(pair2{0, 0}); }
  static lin::checker<lin::register_model> checker(bool) {
    return lin::checker<lin::register_model>({Versions});
  }
  static std::string model_note(bool strict, std::uint64_t busy) {
    return lin::allowance_note(strict, busy);
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

ls::result_row lincheck_queue_lfkit(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    using Q = lfkit::mpmc_queue<item, ls::perturbed_atomic>;
    return run_rounds<Q, lin_ops<Q>>(o, "lfkit::mpmc_queue (perturbed)", false, true, false);
  }
  using Q = lfkit::mpmc_queue<item>;
  return run_rounds<Q, lin_ops<Q>>(o, "lfkit::mpmc_queue", false, true, false);
}
LFKIT_STRESS_SCENARIO(
    "lincheck_queue_lfkit",
    "lfkit::mpmc_queue: 3x8-op histories (+ handler ops) checked against a FIFO model",
    lincheck_queue_lfkit);
ls::result_row lincheck_queue_lfkit_word(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    using Q =
        ls::queues::word_adapter<lfkit::mpmc_queue<ls::queues::word_item, ls::perturbed_atomic>>;
    return run_rounds<Q, lin_ops<Q>>(o, "lfkit::mpmc_queue word (perturbed)", false, true, false);
  }
  using Q = ls::queues::word_adapter<lfkit::mpmc_queue<ls::queues::word_item>>;
  return run_rounds<Q, lin_ops<Q>>(o, "lfkit::mpmc_queue word mode", false, true, false);
}
LFKIT_STRESS_SCENARIO("lincheck_queue_lfkit_word",
                      "lfkit::mpmc_queue of 8-byte items (word mode): as lincheck_queue_lfkit",
                      lincheck_queue_lfkit_word);
ls::result_row lincheck_queue_mutex(const ls::options& o) {
  using Q = lfkit::baseline::mutex_queue<item>;
  return run_rounds<Q, lin_ops<Q>>(o, "baseline::mutex_queue", true, false, false);
}
LFKIT_STRESS_SCENARIO("lincheck_queue_mutex_baseline",
                      "baseline::mutex_queue: 3x8-op histories checked against a strict FIFO model",
                      lincheck_queue_mutex);

ls::result_row lincheck_queue_broken(const ls::options& o) {
  const std::uint32_t spin = ls::g_perturbation.spin.load(),
                      yield = ls::g_perturbation.yield.load();
  ls::g_perturbation.spin.store(std::max<std::uint32_t>(spin, 2048));
  ls::g_perturbation.yield.store(std::max<std::uint32_t>(yield, 2048));
  using Q = ls::broken_ring<item, ls::perturbed_atomic>;
  auto row =
      run_rounds<Q, lin_ops<Q>>(o, "broken_ring (publishes before writing)", false, true, true);
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
    return run_rounds<C, cell_ops<C, true>>(o, "lfkit::snapshot (perturbed)", true, true, false);
  }
  using C = lfkit::snapshot<pair2>;
  return run_rounds<C, cell_ops<C, true>>(o, "lfkit::snapshot", true, true, false);
}
LFKIT_STRESS_SCENARIO(
    "lincheck_snapshot_lfkit",
    "lfkit::snapshot: load/store/update/exchange histories (+ handler loads) vs a register",
    lincheck_snapshot_lfkit);
ls::result_row lincheck_snapshot_seqlock(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    using C = lfkit::seqlock_cell<pair2, ls::perturbed_atomic>;
    return run_rounds<C, cell_ops<C, false>>(o, "lfkit::seqlock_cell (perturbed)", true, true,
                                             false);
  }
  using C = lfkit::seqlock_cell<pair2>;
  return run_rounds<C, cell_ops<C, false>>(o, "lfkit::seqlock_cell", true, true, false);
}
LFKIT_STRESS_SCENARIO(
    "lincheck_snapshot_seqlock",
    "lfkit::seqlock_cell: load/store/update histories (+ handler loads) vs a register",
    lincheck_snapshot_seqlock);
ls::result_row lincheck_snapshot_locked(const ls::options& o) {
  using C = lfkit::baseline::locked_snapshot<pair2, std::shared_mutex>;
  return run_rounds<C, cell_ops<C, true>>(o, "baseline::locked_snapshot<shared_mutex>", true, false,
                                          false);
}
LFKIT_STRESS_SCENARIO("lincheck_snapshot_shared_mutex_baseline",
                      "baseline::locked_snapshot: histories vs a register (no handler ops)",
                      lincheck_snapshot_locked);

}  // namespace
