// SPDX-License-Identifier: BSL-1.0
// stress/stress_event.cpp — lfkit::event (and baseline::condvar_event) set from signal handlers.
//
// event_lfkit (lfkit::event; perturbed_atomic when --perturb > 0) and event_condvar_baseline.
// Rounds: worker 0 coordinates, the other workers and a sleeper wait. In each round the waiters
// wait on the event with a random mix of wait(), wait_for (0-1 ms) and wait_until (system_clock);
// ONLY the interrupt handlers set it (every handler calls set(), on whatever worker it interrupted
// — often a waiter asleep in that very wait). A waiter whose wait returned true checks that the
// event is set (nobody resets before every waiter acknowledged) and acknowledges the round; the
// coordinator, once every waiter acknowledged, resets the event and starts the next round.
// The sleeper (stress.hpp: not a worker, the injector's signals blocked, so only a wake ends its
// sleep) waits in every round too, with wait_for(sleeper_timeout). Checks:
//   * no false wake: a wait that returned true found the event set;
//   * no lost wake-up (wake_watch): the sleeper is inside one wait while the event is set for at
//     most wake_limit_ms (250 ms; the longest such stretch is reported). The workers' waits cannot
//     show one: the interrupts themselves end their sleeps, and their own handlers set the event;
//   * no waiter asleep while the event is set (watchdog): from the moment the coordinator sees the
//     event set, every waiter must acknowledge within 2 s (max latency reported); a waiter that
//     never returns hangs the run, which the framework reports (exit status 3).
// Under TSan futex sleeps are cut into 10 ms slices (atomic_hooks::wait), which end a sleep whose
// wake was lost: there the lost-wake check cannot fail; the release and asan builds have it.
// Without interrupts, lost wake-ups are also caught by the Relacy models' lost_wake_atomic
// variants (tests/model/model_event.cpp) and the unit tests' set/reset/wait ping-pong
// (tests/test_event.cpp).
// At the deadline the coordinator sets the event itself and leaves it set; once every waiter
// acknowledged that round it says it is done (no round starts after it), and the waiters leave.
// Baseline handlers cannot call the condvar event while their thread is inside one of its calls
// (it may hold the mutex: deadlock); they skip and count it (h.skip). Elsewhere they call set(),
// which may wait for another thread's mutex and is not async-signal-safe — shown, not endorsed.
// Its waiters are nearly always inside a wait, so the baseline's coordinator spends
// baseline_window outside the event between its own waits: the handlers that land there set.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "perturbed_atomic.hpp"
#include "stress.hpp"

#include "lfkit/baseline/condvar_event.hpp"
#include "lfkit/detail/platform.hpp"
#include "lfkit/event.hpp"

namespace ls = lfkit::stress;

namespace {

template <class E>
struct event_ctx {
  static inline E* e = nullptr;
  static inline bool baseline = false;
  static inline std::atomic<std::uint64_t> sets{0};
  static inline std::atomic<std::uint64_t> skips{0};

  // Runs inside the signal handler.
  static void handler() {
    if (baseline && ls::t_in_op.load(std::memory_order_relaxed)) {  // relaxed: own thread's flag
      skips.fetch_add(1, std::memory_order_relaxed);                // relaxed: read after join
      return;
    }
    e->set();
    sets.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
  }
};

template <class F>
auto call(F&& f) {
  ls::in_op_scope scope;
  return f();
}

/// How long the baseline's coordinator stays outside the event between its waits (see there).
constexpr std::chrono::microseconds baseline_window{200};

template <class E>
ls::result_row run_event(const ls::options& opts, const std::string& structure, bool baseline) {
  using ctx = event_ctx<E>;
  using clock = std::chrono::steady_clock;
  E e;
  ctx::e = &e;
  ctx::baseline = baseline;
  ctx::sets.store(0);
  ctx::skips.store(0);
  const unsigned waiters = opts.threads > 1 ? opts.threads - 1 : 0;
  const unsigned parties = waiters + 1;  // the waiting workers and the sleeper
  std::atomic<std::uint64_t> round{1};
  std::atomic<unsigned> acks{0};
  std::atomic<bool> ending{false};
  // Set by the coordinator when it returns: no round starts after it. Waiters (and the sleeper)
  // leave on it, not on `ending`: one that left on `ending` between the coordinator's last look at
  // it and its start of another round never acknowledged that round (the coordinator's 2 s check
  // then failed the run: a rare flake, likelier the slower the coordinator is between the two,
  // as in perturbed runs).
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> false_wakes{0}, late{0}, rounds{0}, timeouts{0};
  std::atomic<std::int64_t> max_latency_ns{0};
  lfkit::sharded_counter progress;

  const auto body = [&](unsigned i, const std::atomic<bool>&) {
    ls::rng r(opts.seed * 0x9E37u + i);
    if (i == 0) {  // the coordinator
      for (;;) {
        bool seen = false;
        clock::time_point first{};
        bool got_own = false;
        // acquire: pairs with the waiters' release increments of acks.
        while (acks.load(std::memory_order_acquire) < parties || (waiters == 0 && !got_own)) {
          const bool got = call([&] { return e.wait_for(std::chrono::microseconds(200)); });
          if (got) {
            got_own = true;
            if (!call([&] { return e.is_set(); })) false_wakes.fetch_add(1);
          }
          if (ending.load())
            call([&] {
              e.set();
              return 0;
            });
          if (baseline) {
            // The baseline's handlers may set only outside the event's calls (event_ctx): give
            // the ones that interrupt the coordinator a window, or its back-to-back waits leave
            // them none (the run then completed about one round, on the deadline's own set).
            const auto until = clock::now() + baseline_window;
            while (clock::now() < until) lfkit::detail::cpu_relax();
          }
          if (call([&] { return e.is_set(); })) {
            const auto now = clock::now();
            if (!seen) {
              seen = true;
              first = now;
            } else if (now - first > std::chrono::seconds(2)) {
              late.fetch_add(1);  // a waiter sleeps while the event is set
              std::fprintf(stderr, "event: %u of %u waiters still not woken 2 s after the set\n",
                           parties - acks.load(), parties);
              done.store(true);  // the others leave; one that never returns hangs the run
              return;
            }
          }
        }
        if (seen) {
          const auto ns =
              std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - first).count();
          if (ns > max_latency_ns.load()) max_latency_ns.store(ns);
        }
        rounds.fetch_add(1);
        progress.add(1);
        if (ending.load()) {  // leave the event set: every waiter ends
          done.store(true);
          return;
        }
        acks.store(0);
        call([&] {
          e.reset();
          return 0;
        });
        round.fetch_add(1, std::memory_order_release);  // release: the reset is done first
      }
    }
    std::uint64_t mine = 0;  // the last round acknowledged
    for (;;) {
      const std::uint64_t cur = round.load(std::memory_order_acquire);  // acquire: pairs above
      if (cur == mine) {
        if (done.load()) return;
        std::this_thread::yield();
        continue;
      }
      bool got = false;
      const std::uint64_t kind = r.next() % 4;
      if (kind == 0) {
        call([&] {
          e.wait();
          return 0;
        });
        got = true;
      } else if (kind == 3) {
        const auto tp =
            std::chrono::system_clock::now() + std::chrono::microseconds(r.next() % 1000);
        got = call([&] { return e.wait_until(tp); });
      } else {
        got = call([&] { return e.wait_for(std::chrono::microseconds(r.next() % 1000)); });
      }
      if (!got) {
        timeouts.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        continue;
      }
      if (!call([&] { return e.is_set(); })) false_wakes.fetch_add(1);
      mine = cur;
      acks.fetch_add(1, std::memory_order_release);  // release: pairs with the coordinator
      progress.add(1);
    }
  };

  // The sleeper: one wait per round, ended only by a wake (or its timeout).
  std::atomic<std::uint64_t> sleeper_wait{0};  // 0: not in a wait; else the wait's number
  std::atomic<std::uint64_t> sleeper_timeouts{0};
  std::thread sleeper([&] {
    ls::block_injected_signals();
    std::uint64_t mine = 0, n = 0;
    for (;;) {
      // acquire: pairs with the coordinator's release increment (the reset is done first).
      const std::uint64_t cur = round.load(std::memory_order_acquire);
      if (cur == mine) {
        if (done.load()) return;
        std::this_thread::yield();
        continue;
      }
      sleeper_wait.store(++n);
      const bool got = e.wait_for(ls::sleeper_timeout);
      sleeper_wait.store(0);
      if (!got) {
        sleeper_timeouts.fetch_add(1);
        continue;
      }
      if (!e.is_set()) false_wakes.fetch_add(1);
      mine = cur;
      acks.fetch_add(1, std::memory_order_release);  // release: pairs with the coordinator
    }
  });
  ls::wake_watch watch([&] { return ls::wake_watch::sample{sleeper_wait.load(), e.is_set()}; });

  const ls::run_stats st =
      ls::run_workers(opts, &ctx::handler, progress, body, [&] { ending.store(true); });
  sleeper.join();  // it acknowledged the last round before the coordinator returned
  watch.stop();

  ls::result_row row;
  row.structure = structure;
  row.threads = opts.threads;
  row.ops = progress.load();
  ls::fill_signal_columns(row, st);
  row.handler_ops = ctx::sets.load();
  row.handler_ops_skipped = ctx::skips.load();
  row.checks = rounds.load();
  row.violations = false_wakes.load() + late.load() + (watch.late() ? 1 : 0);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%" PRIu64 " rounds x %u waiters + the sleeper woken by handler set()s; %" PRIu64
                " false wakes, %" PRIu64
                " waiters asleep >2 s while set; max set-to-all-woken %.2f ms; %" PRIu64
                " timed waits expired; the sleeper's longest wait with the event set %.1f ms "
                "(limit %u ms%s), %" PRIu64 " of its waits timed out",
                rounds.load(), waiters, false_wakes.load(), late.load(),
                static_cast<double>(max_latency_ns.load()) / 1e6, timeouts.load(),
                static_cast<double>(watch.longest_us()) / 1000.0, ls::wake_limit_ms,
                watch.late() ? ": NOT WOKEN, a lost wake-up?" : "", sleeper_timeouts.load());
  row.detail = buf;
  if (row.handler_ops_skipped) {
    row.detail += "; " + std::to_string(row.handler_ops_skipped) +
                  " handler sets impossible (thread inside the event)";
  }
  return row;
}

ls::result_row event_lfkit(const ls::options& o) {
  if (o.perturb > 0) {
    return run_event<lfkit::basic_event<ls::perturbed_atomic>>(o, "lfkit::event (perturbed)",
                                                               false);
  }
  return run_event<lfkit::event>(o, "lfkit::event", false);
}
ls::result_row event_condvar(const ls::options& o) {
  return run_event<lfkit::baseline::condvar_event>(o, "baseline::condvar_event", true);
}

}  // namespace

LFKIT_STRESS_SCENARIO("event_lfkit",
                      "lfkit::event: handlers set, waiters and a sleeper wait/reset in rounds; no "
                      "false or lost wakes",
                      event_lfkit);
LFKIT_STRESS_SCENARIO(
    "event_condvar_baseline",
    "baseline::condvar_event: same rounds; handler sets that would deadlock are skipped",
    event_condvar);
