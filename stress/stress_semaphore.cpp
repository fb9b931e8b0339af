// SPDX-License-Identifier: BSL-1.0
// stress/stress_semaphore.cpp — lfkit::semaphore (and baseline::condvar_semaphore) released from
// signal handlers.
//
// semaphore_lfkit (lfkit::semaphore; perturbed_atomic when --perturb > 0) and
// semaphore_condvar_baseline. Max count 1 + seed % 16. Worker 0 releases (1-3 units per call,
// yielding when the maximum refuses it); the other workers take units with a random mix of
// acquire(), try_acquire(), try_acquire_for (0-2 ms) and try_acquire_until (system_clock), and so
// does a sleeper (stress.hpp: not a worker, the injector's signals blocked, so only a wake ends its
// sleep) with try_acquire_for(sleeper_timeout) only. Every interrupt handler calls release(1) on
// whatever worker it interrupted — often a consumer asleep in acquire(); a release beyond the
// maximum is refused by return value (h.fail). Checks, exactly:
//   * every unit released is taken exactly once: units released (worker + handlers) == units
//     taken (workers + sleeper) + the count left at the end;
//   * refused releases changed nothing (part of the equation above);
//   * no lost wake-up (wake_watch): within one of the sleeper's waits, the count is positive for
//     at most wake_limit_ms (250 ms; the longest such stretch is reported). A unit the sleeper
//     could take may go to a consumer woken before it, but every release made while a thread
//     sleeps wakes one (release(n > 1): all), so the sleeper is woken within a few releases. The
//     workers' waits cannot show a lost wake-up: the interrupts themselves end their sleeps, and
//     their own handlers add units;
//   * no consumer asleep while the count is positive (watchdog thread): a consumer inside an
//     untimed acquire() while the count has stayed positive for 1 s is a violation; a consumer
//     that never returns hangs the run, which the framework reports (exit status 3).
// Under TSan futex sleeps are cut into 10 ms slices (atomic_hooks::wait), which end a sleep whose
// wake was lost: there the lost-wake check cannot fail; the release and asan builds have it.
// Without interrupts, lost wake-ups are also caught by the Relacy models' lost_wake_atomic
// variants (tests/model/model_semaphore.cpp) and the unit tests' two-semaphore ping-pong
// (tests/test_semaphore.cpp).
// At the deadline consumers stop; worker 0 keeps releasing until every consumer (the sleeper too)
// has left.
// Baseline handlers skip when their thread is inside a semaphore call (it may hold the mutex:
// deadlock) and count it (h.skip); elsewhere they call release(), which may wait for another
// thread's mutex and is not async-signal-safe — shown, not endorsed.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "perturbed_atomic.hpp"
#include "stress.hpp"

#include "lfkit/baseline/condvar_semaphore.hpp"
#include "lfkit/semaphore.hpp"

namespace ls = lfkit::stress;

namespace {

template <class S>
struct sem_ctx {
  static inline S* s = nullptr;
  static inline bool baseline = false;
  static inline std::atomic<std::uint64_t> released{0}, refused{0}, skips{0};

  // Runs inside the signal handler.
  static void handler() {
    if (baseline && ls::t_in_op.load(std::memory_order_relaxed)) {  // relaxed: own thread's flag
      skips.fetch_add(1, std::memory_order_relaxed);                // relaxed: read after join
      return;
    }
    if (s->release(1) == lfkit::release_status::ok) {
      released.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    } else {
      refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    }
  }
};

template <class F>
auto call(F&& f) {
  ls::in_op_scope scope;
  return f();
}

template <class S>
ls::result_row run_semaphore(const ls::options& opts, const std::string& structure, bool baseline) {
  using ctx = sem_ctx<S>;
  using clock = std::chrono::steady_clock;
  const std::ptrdiff_t max_count = 1 + static_cast<std::ptrdiff_t>(opts.seed % 16);
  S s(0, max_count);
  ctx::s = &s;
  ctx::baseline = baseline;
  ctx::released.store(0);
  ctx::refused.store(0);
  ctx::skips.store(0);
  const unsigned consumers = opts.threads > 1 ? opts.threads - 1 : 0;
  std::atomic<bool> ending{false};
  std::atomic<unsigned> consumers_left{0};
  std::atomic<std::uint64_t> worker_released{0}, worker_refused{0}, taken{0}, timeouts{0};
  // Per consumer: steady-clock ns at which its current untimed acquire() began (0: not in one).
  std::vector<std::atomic<std::int64_t>> in_acquire(opts.threads);
  lfkit::sharded_counter progress;
  const auto now_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
        .count();
  };

  // The watchdog: samples the count and the consumers every millisecond.
  std::atomic<bool> watch_stop{false};
  std::atomic<std::uint64_t> asleep_while_positive{0};
  std::thread watchdog([&] {
    std::int64_t positive_since = 0;  // 0: the count was 0 at the last sample
    std::vector<bool> reported(opts.threads, false);
    while (!watch_stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const std::int64_t now = now_ns();
      if (s.available() > 0) {
        if (positive_since == 0) positive_since = now;
      } else {
        positive_since = 0;
      }
      for (unsigned i = 1; i < opts.threads; ++i) {
        const std::int64_t since = in_acquire[i].load();
        if (since == 0 || positive_since == 0) {
          reported[i] = false;
          continue;
        }
        const std::int64_t from = since > positive_since ? since : positive_since;
        if (now - from > 1000000000 && !reported[i]) {
          reported[i] = true;
          asleep_while_positive.fetch_add(1);
          std::fprintf(stderr,
                       "semaphore: consumer %u in acquire() for 1 s while the count is positive\n",
                       i);
        }
      }
    }
  });

  const auto body = [&](unsigned i, const std::atomic<bool>&) {
    ls::rng r(opts.seed * 0x51ED27u + i);
    if (i == 0) {  // the releaser
      for (;;) {
        if (ending.load() && consumers_left.load() == consumers + 1) return;  // + the sleeper
        const auto n = static_cast<std::ptrdiff_t>(1 + r.next() % 3);
        if (call([&] { return s.release(n); }) == lfkit::release_status::ok) {
          worker_released.fetch_add(static_cast<std::uint64_t>(n),
                                    std::memory_order_relaxed);  // relaxed: read after join
          progress.add(1);
        } else {
          worker_refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
          if (consumers == 0) {
            while (call([&] { return s.try_acquire(); })) taken.fetch_add(1);
          }
          std::this_thread::yield();
        }
      }
    }
    while (!ending.load()) {
      bool got = false;
      switch (r.next() % 4) {
        case 0:
          in_acquire[i].store(now_ns());
          call([&] {
            s.acquire();
            return 0;
          });
          in_acquire[i].store(0);
          got = true;
          break;
        case 1:
          got = call([&] { return s.try_acquire(); });
          if (!got) std::this_thread::yield();
          break;
        case 2:
          got = call([&] { return s.try_acquire_for(std::chrono::microseconds(r.next() % 2000)); });
          break;
        default: {
          const auto tp =
              std::chrono::system_clock::now() + std::chrono::microseconds(r.next() % 2000);
          got = call([&] { return s.try_acquire_until(tp); });
        }
      }
      if (got) {
        taken.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
        progress.add(1);
      } else {
        timeouts.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      }
    }
    consumers_left.fetch_add(1);
  };

  // The sleeper: takes units with try_acquire_for(sleeper_timeout) only; only a wake (or its
  // timeout) ends its sleeps.
  std::atomic<std::uint64_t> sleeper_wait{0};  // 0: not in a wait; else the wait's number
  std::atomic<std::uint64_t> sleeper_taken{0}, sleeper_timeouts{0};
  std::thread sleeper([&] {
    ls::block_injected_signals();
    std::uint64_t n = 0;
    while (!ending.load()) {
      sleeper_wait.store(++n);
      const bool got = s.try_acquire_for(ls::sleeper_timeout);
      sleeper_wait.store(0);
      if (got) {
        taken.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
        sleeper_taken.fetch_add(1);
      } else {
        sleeper_timeouts.fetch_add(1);
      }
    }
    consumers_left.fetch_add(1);
  });
  ls::wake_watch watch(
      [&] { return ls::wake_watch::sample{sleeper_wait.load(), s.available() > 0}; });

  const ls::run_stats st =
      ls::run_workers(opts, &ctx::handler, progress, body, [&] { ending.store(true); });
  sleeper.join();  // it left before worker 0 did
  watch.stop();
  watch_stop.store(true);
  watchdog.join();

  // Whatever is left is taken here (no thread or handler uses the semaphore any more).
  std::uint64_t left = 0;
  while (s.try_acquire()) ++left;
  const std::uint64_t in = worker_released.load() + ctx::released.load();
  const std::uint64_t out = taken.load() + left;

  ls::result_row row;
  row.structure = structure;
  row.threads = opts.threads;
  row.ops = progress.load();
  ls::fill_signal_columns(row, st);
  row.handler_ops = ctx::released.load();
  row.handler_ops_failed = ctx::refused.load();
  row.handler_ops_skipped = ctx::skips.load();
  row.checks = in;
  const std::uint64_t unbalanced = in == out ? 0 : 1;
  row.violations = unbalanced + asleep_while_positive.load() + (watch.late() ? 1 : 0);
  char buf[640];
  std::snprintf(buf, sizeof buf,
                "released %" PRIu64 " (workers %" PRIu64 " + handlers %" PRIu64 "), taken %" PRIu64
                " (sleeper: %" PRIu64 ") + %" PRIu64 " left = %" PRIu64 " (%s); max %td, %" PRIu64
                " releases refused at the max; %" PRIu64
                " consumers asleep while positive; the sleeper's longest wait with a unit free "
                "%.1f ms (limit %u ms%s), %" PRIu64 " of its waits timed out",
                in, worker_released.load(), ctx::released.load(), taken.load(),
                sleeper_taken.load(), left, out, unbalanced ? "LOST OR DUPLICATED" : "exact",
                max_count, worker_refused.load() + ctx::refused.load(),
                asleep_while_positive.load(), static_cast<double>(watch.longest_us()) / 1000.0,
                ls::wake_limit_ms, watch.late() ? ": NOT WOKEN, a lost wake-up?" : "",
                sleeper_timeouts.load());
  row.detail = buf;
  if (row.handler_ops_skipped) {
    row.detail += "; " + std::to_string(row.handler_ops_skipped) +
                  " handler releases impossible (thread inside the semaphore)";
  }
  return row;
}

ls::result_row semaphore_lfkit(const ls::options& o) {
  if (o.perturb > 0) {
    return run_semaphore<lfkit::basic_semaphore<ls::perturbed_atomic>>(
        o, "lfkit::semaphore (perturbed)", false);
  }
  return run_semaphore<lfkit::semaphore>(o, "lfkit::semaphore", false);
}
ls::result_row semaphore_condvar(const ls::options& o) {
  return run_semaphore<lfkit::baseline::condvar_semaphore>(o, "baseline::condvar_semaphore", true);
}

}  // namespace

LFKIT_STRESS_SCENARIO(
    "semaphore_lfkit",
    "lfkit::semaphore: handlers release, workers and a sleeper acquire; every unit "
    "taken once, no lost wake",
    semaphore_lfkit);
LFKIT_STRESS_SCENARIO(
    "semaphore_condvar_baseline",
    "baseline::condvar_semaphore: same checks; handler releases that would deadlock are skipped",
    semaphore_condvar);
