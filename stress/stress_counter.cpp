// SPDX-License-Identifier: BSL-1.0
// stress/stress_counter.cpp — counters under injected interrupts.
//
// counter_atomic, counter_sharded (and their perturbed_atomic twins when --perturb > 0):
//   every worker adds 1 in a loop, worker 0 also resets every 4096 adds and keeps what reset()
//   returned; every interrupt handler adds 1 to the same counter its thread is adding to. Invariant,
//   exactly: sum(reset results) + final load() == worker adds + handler adds.
// counter_mutex_baseline:
//   the same over lfkit::baseline::mutex_counter; its handler can only try_add() (a blocking add
//   would deadlock if the handler interrupted the lock holder), and counts what it could not do.
// counter_pair_naive_demo (a deliberately broken demo) and counter_pair_packed:
//   the seed problem. Each worker keeps a pair of counters that "should never differ" and bumps
//   both; its handler checks the pair of the thread it interrupted. The naive pair (two separate
//   atomics, two increments) is torn whenever the interrupt lands between the increments; the
//   packed pair (both halves in one 64-bit atomic, one fetch_add) never is.
#include <atomic>
#include <cstdint>
#include <string>

#include "lfkit/baseline/mutex_counter.hpp"
#include "lfkit/counter.hpp"
#include "perturbed_atomic.hpp"
#include "stress.hpp"

namespace ls = lfkit::stress;

namespace {

// ---- counters ---------------------------------------------------------------------------------

template <class Counter>
struct counter_ctx {
  static inline Counter* counter = nullptr;
  static inline std::atomic<std::uint64_t> handler_adds{0};
  static inline std::atomic<std::uint64_t> handler_skips{0};

  // Runs inside the signal handler: only async-signal-safe operations.
  static void handler() {
    if constexpr (requires(Counter& c) { c.try_add(1); }) {
      // The baseline: a blocking add here deadlocks when the handler interrupted the holder.
      if (counter->try_add(1)) {
        handler_adds.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
      } else {
        handler_skips.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
      }
    } else {
      counter->add(1);
      handler_adds.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    }
  }
};

template <class Counter>
ls::result_row run_counter(const ls::options& opts, const char* structure) {
  using ctx = counter_ctx<Counter>;
  Counter counter;
  ctx::counter = &counter;
  ctx::handler_adds.store(0);
  ctx::handler_skips.store(0);
  lfkit::sharded_counter progress;
  std::vector<std::uint64_t> adds(opts.threads, 0);
  std::uint64_t taken_by_resets = 0;
  std::uint64_t resets = 0;

  const ls::run_stats st = ls::run_workers(
      opts, &ctx::handler, progress, [&](unsigned i, const std::atomic<bool>& stop) {
        std::uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a stop flag, publishes nothing
          for (int k = 0; k < 256; ++k) {
            {
              ls::in_op_scope in;
              counter.add(1);
            }
            ++n;
            if (i == 0 && (n & 4095) == 0) {
              ls::in_op_scope in;
              taken_by_resets += counter.reset();
              ++resets;
            }
          }
          progress.add(256);
        }
        adds[i] = n;
      });

  std::uint64_t worker_adds = 0;
  for (auto a : adds) worker_adds += a;
  const std::uint64_t handler_adds = ctx::handler_adds.load();
  const std::uint64_t expected = worker_adds + handler_adds;
  const std::uint64_t seen = taken_by_resets + counter.load();

  ls::result_row row;
  row.structure = structure;
  row.threads = opts.threads;
  row.ops = worker_adds + resets;
  ls::fill_signal_columns(row, st);
  row.handler_ops = handler_adds;
  row.handler_ops_skipped = ctx::handler_skips.load();
  row.checks = 1;
  row.violations = seen == expected ? 0 : 1;
  row.detail = "sum(resets) + load() = " + std::to_string(seen) +
               ", worker adds + handler adds = " + std::to_string(worker_adds) + " + " +
               std::to_string(handler_adds) + " = " + std::to_string(expected) + " (" +
               std::to_string(resets) + " resets)" +
               (row.handler_ops_skipped ? ", " + std::to_string(row.handler_ops_skipped) +
                                              " handler adds impossible (lock held)"
                                        : "");
  return row;
}

// An lfkit counter on std::atomic, or on perturbed_atomic when --perturb is on.
template <template <template <class> class> class Counter>
ls::result_row run_lfkit_counter(const ls::options& o, const std::string& structure) {
  if (o.perturb > 0)
    return run_counter<Counter<ls::perturbed_atomic>>(o, (structure + " (perturbed)").c_str());
  return run_counter<Counter<std::atomic>>(o, structure.c_str());
}

ls::result_row counter_atomic(const ls::options& o) {
  return run_lfkit_counter<lfkit::basic_atomic_counter>(o, "lfkit::atomic_counter");
}
ls::result_row counter_sharded(const ls::options& o) {
  return run_lfkit_counter<lfkit::basic_sharded_counter>(o, "lfkit::sharded_counter");
}
ls::result_row counter_mutex(const ls::options& o) {
  return run_counter<lfkit::baseline::mutex_counter>(o, "baseline::mutex_counter");
}

// ---- the seed's pair of counters --------------------------------------------------------------

struct alignas(lfkit::cache_line_size) naive_pair {
  std::atomic<std::uint64_t> first{0};
  std::atomic<std::uint64_t> second{0};
  void bump() {
    first.fetch_add(1, std::memory_order_relaxed);   // relaxed: only this thread and its handler
    second.fetch_add(1, std::memory_order_relaxed);  // relaxed: touch the pair
  }
  bool consistent() const {
    return first.load(std::memory_order_relaxed) ==
           second.load(std::memory_order_relaxed);  // relaxed: as above
  }
  std::uint64_t count() const { return first.load(); }
};

struct alignas(lfkit::cache_line_size) packed_pair {
  std::atomic<std::uint64_t> both{0};  // high half: first, low half: second
  void bump() {
    both.fetch_add((1ull << 32) | 1ull, std::memory_order_relaxed);
  }  // relaxed: as above
  bool consistent() const {
    const std::uint64_t v = both.load(std::memory_order_relaxed);  // relaxed: as above
    return (v >> 32) == (v & 0xFFFFFFFFull);
  }
  std::uint64_t count() const { return both.load() & 0xFFFFFFFFull; }
};

template <class Pair>
struct pair_ctx {
  static inline Pair* pairs = nullptr;
  static inline std::atomic<std::uint64_t> torn{0};
  static inline std::atomic<std::uint64_t> handler_bumps{0};
  static void handler() {
    const int w =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (w < 0) return;
    Pair& p = pairs[w];
    if (!p.consistent()) torn.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    p.bump();
    handler_bumps.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
  }
};

template <class Pair>
ls::result_row run_pair(const ls::options& opts, const char* structure, bool broken) {
  using ctx = pair_ctx<Pair>;
  std::vector<Pair> pairs(opts.threads);
  ctx::pairs = pairs.data();
  ctx::torn.store(0);
  ctx::handler_bumps.store(0);
  lfkit::sharded_counter progress;
  std::vector<std::uint64_t> bumps(opts.threads, 0);
  const ls::run_stats st = ls::run_workers(
      opts, &ctx::handler, progress, [&](unsigned i, const std::atomic<bool>& stop) {
        std::uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a stop flag
          for (int k = 0; k < 256; ++k) {
            ls::in_op_scope in;
            pairs[i].bump();
          }
          n += 256;
          progress.add(256);
        }
        bumps[i] = n;
      });
  std::uint64_t total = 0, final_inconsistent = 0, counted = 0;
  for (unsigned i = 0; i < opts.threads; ++i) {
    total += bumps[i];
    counted += pairs[i].count();
    if (!pairs[i].consistent()) ++final_inconsistent;
  }
  ls::result_row row;
  row.structure = structure;
  row.threads = opts.threads;
  row.ops = total;
  ls::fill_signal_columns(row, st);
  row.handler_ops = ctx::handler_bumps.load();
  row.checks = row.handler_ops;
  const bool count_ok = counted == total + row.handler_ops;
  row.violations = ctx::torn.load() + final_inconsistent + (count_ok ? 0 : 1);
  row.expect_violations = broken;
  row.detail = std::to_string(ctx::torn.load()) + " torn pairs seen by handlers" +
               (broken ? " (expected: two separate increments)" : "") + "; counts " +
               (count_ok ? "exact" : "WRONG");
  return row;
}

ls::result_row pair_naive(const ls::options& o) {
  return run_pair<naive_pair>(o, "two separate atomics (broken demo)", true);
}
ls::result_row pair_packed(const ls::options& o) {
  return run_pair<packed_pair>(o, "both halves in one atomic word", false);
}

}  // namespace

LFKIT_STRESS_SCENARIO("counter_atomic",
                      "lfkit::atomic_counter: adds, resets, handler adds; exact total",
                      counter_atomic);
LFKIT_STRESS_SCENARIO("counter_sharded",
                      "lfkit::sharded_counter: adds, resets, handler adds; exact total",
                      counter_sharded);
LFKIT_STRESS_SCENARIO("counter_mutex_baseline",
                      "baseline::mutex_counter: handler try_add; exact total, skipped adds counted",
                      counter_mutex);
LFKIT_STRESS_SCENARIO("counter_pair_naive_demo",
                      "DEMO: a pair of separate counters is torn by interrupts (must be caught)",
                      pair_naive);
LFKIT_STRESS_SCENARIO("counter_pair_packed", "the same pair in one atomic word: never torn",
                      pair_packed);
