// SPDX-License-Identifier: BSL-1.0
// Unit tests for lfkit::event and its baseline lfkit::baseline::condvar_event.
//
// Shared behaviour is tested once with TEMPLATE_TEST_CASE over lfkit's event on std::atomic, the
// same event on the stress program's schedule-perturbing policy (perturbation switched on for the
// test's scope), and the mutex+condvar baseline. Signal-handler tests run on lfkit's event only
// (the baseline's set() is not async-signal-safe). Catch2 v2 assertions are not thread-safe:
// threads record, the main thread asserts.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include <cerrno>
#include <cstdio>
#include <string>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lfkit/baseline/condvar_event.hpp"
#include "lfkit/event.hpp"
#include "perturbed_atomic.hpp"
#include "support.hpp"

using lfkit_test::scoped_handler;

#if defined(LFKIT_PORTABLE_WAIT)
static_assert(!lfkit::event::set_is_signal_safe,
              "this build tests the portable sleep path: set() must not claim signal-safety");
#elif defined(__linux__)
static_assert(lfkit::event::set_is_signal_safe, "the futex path's set() is async-signal-safe");
#endif
static_assert(!lfkit::baseline::condvar_event::set_is_signal_safe);

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

struct lfkit_impl {
  using type = lfkit::event;
  static constexpr bool perturbed = false;
};
struct perturbed_impl {
  using type = lfkit::basic_event<lfkit::stress::perturbed_atomic>;
  static constexpr bool perturbed = true;
};
struct condvar_impl {
  using type = lfkit::baseline::condvar_event;
  static constexpr bool perturbed = false;
};

/// Yields and spins around every atomic step of perturbed_atomic for the test's scope.
template <class Impl>
std::unique_ptr<lfkit::stress::perturbation_scope> perturb_if() {
  if (!Impl::perturbed) return nullptr;
  return std::make_unique<lfkit::stress::perturbation_scope>(3000u, 6000u);
}

/// Whether thread `tid` of this process is asleep (state S in /proc: blocked in the kernel).
bool asleep(long tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  char buf[512] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string stat(buf, n);
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'S';
}

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

}  // namespace

TEMPLATE_TEST_CASE("event: set, is_set, reset, waits on a set event", "[event]", lfkit_impl,
                   perturbed_impl, condvar_impl) {
  auto p = perturb_if<TestType>();
  typename TestType::type e;
  CHECK_FALSE(e.is_set());
  CHECK_FALSE(e.wait_for(0ms));
  CHECK_FALSE(e.wait_for(-5ms));
  e.set();
  CHECK(e.is_set());
  e.set();  // idempotent
  CHECK(e.is_set());
  e.wait();  // returns at once
  CHECK(e.wait_for(0ms));
  CHECK(e.wait_until(steady::now() - 1h));  // set wins over an expired deadline
  e.reset();
  CHECK_FALSE(e.is_set());
  e.reset();  // idempotent
  CHECK_FALSE(e.is_set());
  CHECK_FALSE(e.wait_for(1ms));

  typename TestType::type ready(true);
  CHECK(ready.is_set());
  CHECK(ready.wait_for(0s));
}

TEMPLATE_TEST_CASE("event: timeouts on several clocks and odd durations", "[event]", lfkit_impl,
                   perturbed_impl, condvar_impl) {
  auto p = perturb_if<TestType>();
  typename TestType::type e;
  auto t0 = steady::now();
  CHECK_FALSE(e.wait_for(30ms));
  CHECK(seconds_since(t0) >= 0.030);
  CHECK(seconds_since(t0) < 5.0);

  t0 = steady::now();
  CHECK_FALSE(e.wait_until(steady::now() + 20ms));
  CHECK(seconds_since(t0) >= 0.020);

  t0 = steady::now();
  CHECK_FALSE(e.wait_until(std::chrono::system_clock::now() + 20ms));
  CHECK(seconds_since(t0) >= 0.015);  // system_clock is converted once: allow its granularity
  CHECK(seconds_since(t0) < 5.0);

  // A coarse time point in the past (minutes) and the epoch of the coarse clock: at once.
  t0 = steady::now();
  CHECK_FALSE(e.wait_until(
      std::chrono::time_point_cast<std::chrono::minutes>(std::chrono::system_clock::now()) - 1min));
  CHECK_FALSE(
      e.wait_until(std::chrono::time_point<std::chrono::system_clock, std::chrono::hours>{}));
  CHECK_FALSE(e.wait_until(steady::time_point::min()));
  CHECK_FALSE(e.wait_for(std::chrono::duration<double>(std::nan(""))));
  CHECK_FALSE(e.wait_for(std::chrono::duration<double>(-std::numeric_limits<double>::infinity())));
  CHECK_FALSE(e.wait_for(std::chrono::nanoseconds::min()));
  CHECK(seconds_since(t0) < 1.0);

  // "For ever" spellings must wait (not overflow into an expired deadline) and return true on set.
  std::atomic<int> ok{0};
  using fn = bool (*)(typename TestType::type&);
  const fn forever[] = {
      [](typename TestType::type& ev) { return ev.wait_for(std::chrono::nanoseconds::max()); },
      [](typename TestType::type& ev) { return ev.wait_for(std::chrono::hours::max()); },
      [](typename TestType::type& ev) { return ev.wait_until(steady::time_point::max()); },
      [](typename TestType::type& ev) {
        return ev.wait_until(std::chrono::system_clock::time_point::max());
      },
      [](typename TestType::type& ev) {
        return ev.wait_until(
            std::chrono::time_point<std::chrono::system_clock, std::chrono::minutes>::max());
      },
      [](typename TestType::type& ev) {
        return ev.wait_for(std::chrono::duration<double>(std::numeric_limits<double>::infinity()));
      },
  };
  std::vector<std::thread> ts;
  for (const fn f : forever) ts.emplace_back([&ok, &e, f] { ok += f(e) ? 1 : 0; });
  std::this_thread::sleep_for(50ms);
  CHECK(ok.load() == 0);  // none returned early
  e.set();
  for (auto& t : ts) t.join();
  CHECK(ok.load() == 6);
}

TEMPLATE_TEST_CASE("event: one set() wakes every waiter", "[event]", lfkit_impl, perturbed_impl,
                   condvar_impl) {
  auto p = perturb_if<TestType>();
  typename TestType::type e;
  constexpr int n = 8;
  std::atomic<int> woke{0}, timed_out{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) {
    ts.emplace_back([&, i] {
      if (i % 2 == 0) {
        e.wait();
        ++woke;
      } else if (e.wait_for(20s)) {
        ++woke;
      } else {
        ++timed_out;
      }
    });
  }
  std::this_thread::sleep_for(50ms);  // let them fall asleep
  CHECK(woke.load() == 0);
  const auto t0 = steady::now();
  e.set();
  for (auto& t : ts) t.join();
  CHECK(woke.load() == n);
  CHECK(timed_out.load() == 0);
  CHECK(seconds_since(t0) < 10.0);
}

TEMPLATE_TEST_CASE("event: a set() then reset() before the waiters run still releases them",
                   "[event]", lfkit_impl, perturbed_impl, condvar_impl) {
  auto p = perturb_if<TestType>();
  typename TestType::type e;
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> woke{0}, started{0};
    std::atomic<long> tids[3] = {0, 0, 0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i) {
      ts.emplace_back([&, i] {
        tids[i].store(static_cast<long>(syscall(SYS_gettid)));
        ++started;
        if (e.wait_for(20s)) ++woke;
      });
    }
    while (started.load() < 3) std::this_thread::yield();
    // Each waiter must be inside its wait (asleep in the kernel: nothing else here blocks), or it
    // would rightly wait for the next set().
    for (auto& tid : tids) {
      for (int k = 0; k < 10000 && !asleep(tid.load()); ++k) std::this_thread::sleep_for(1ms);
    }
    e.set();
    e.reset();
    for (auto& t : ts) t.join();
    CHECK(woke.load() == 3);
    CHECK_FALSE(e.is_set());
    CHECK_FALSE(e.wait_for(0ms));  // a wait that begins after the reset waits for the next set
  }
}

TEMPLATE_TEST_CASE("event: set() happens-before a wait that returned true", "[event]", lfkit_impl,
                   perturbed_impl, condvar_impl) {
  auto p = perturb_if<TestType>();
  for (int round = 0; round < 200; ++round) {
    typename TestType::type e;
    long payload = 0;  // plain: a race here is what TSan would report
    std::thread setter([&] {
      payload = 42 + round;
      e.set();
    });
    long seen = -1;
    if (round % 2 == 0) {
      e.wait();
      seen = payload;
    } else if (e.wait_for(20s)) {
      seen = payload;
    }
    setter.join();
    REQUIRE(seen == 42 + round);
  }
}

TEMPLATE_TEST_CASE("event: no lost wake-up in a set/reset/wait ping-pong", "[event]", lfkit_impl,
                   perturbed_impl, condvar_impl) {
  auto p = perturb_if<TestType>();
  typename TestType::type ping, pong;
  const int rounds = TestType::perturbed ? 2000 : 20000;
  std::atomic<int> failures{0};
  std::thread other([&] {
    for (int i = 0; i < rounds; ++i) {
      if (!ping.wait_for(20s)) {  // the watchdog: a lost wake-up sleeps until here
        ++failures;
        return;
      }
      ping.reset();
      pong.set();
    }
  });
  int done = 0;
  for (; done < rounds; ++done) {
    ping.set();
    if (!pong.wait_for(20s)) {
      ++failures;
      break;
    }
    pong.reset();
  }
  if (done < rounds) ping.set();  // let the other side finish after a failure
  other.join();
  CHECK(failures.load() == 0);
  CHECK(done == rounds);
}

// ---- signal handlers (lfkit only: the baseline's set() is not async-signal-safe) -------------

namespace {

template <class Event>
struct handler_ctx {
  static inline Event* target = nullptr;
  static inline std::atomic<int> calls{0};
  static void on_signal(int) {
    target->set();
    calls.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
  }
};

}  // namespace

TEMPLATE_TEST_CASE("event: set() from a handler that interrupted the waiter itself", "[event]",
                   lfkit_impl, perturbed_impl) {
  using Event = typename TestType::type;
  using ctx = handler_ctx<Event>;
  if (!TestType::type::set_is_signal_safe) return;  // portable path: notify may lock
  auto p = perturb_if<TestType>();
  for (const bool restart : {false, true}) {
    for (const bool timed : {false, true}) {
      Event e;
      ctx::target = &e;
      ctx::calls.store(0);
      scoped_handler h(SIGUSR1, &ctx::on_signal, restart);
      REQUIRE(h.installed());
      std::atomic<bool> returned{false}, result{false};
      std::thread waiter([&] {
        if (timed) {
          result.store(e.wait_for(20s));
        } else {
          e.wait();
          result.store(true);
        }
        returned.store(true);
      });
      std::this_thread::sleep_for(30ms);  // the waiter is asleep in the kernel by now
      CHECK_FALSE(returned.load());
      const auto t0 = steady::now();
      REQUIRE(pthread_kill(waiter.native_handle(), SIGUSR1) == 0);
      waiter.join();
      CHECK(result.load());
      CHECK(ctx::calls.load() == 1);
      CHECK(seconds_since(t0) < 10.0);
      ctx::target = nullptr;
    }
  }
}

#if LFKIT_USE_FUTEX
// README: set() keeps errno. A set() that wakes a sleeper, in ordinary code and in a signal
// handler; then, since a successful futex call leaves errno alone anyway, one whose wake system
// call fails (a seccomp filter), which would clobber errno if it were not saved and restored.
TEST_CASE("event: set() keeps errno on its futex wake path", "[event][errno]") {
  using lfkit_test::errno_sentinel;
  for (const bool in_handler : {false, true}) {
    lfkit::event e;
    const auto r = lfkit_test::errno_after_waking([&] { e.wait(); }, [&] { e.set(); }, in_handler);
    CHECK(r.slept);
    CHECK(r.errno_after == errno_sentinel);
  }
#if !LFKIT_TSAN
  lfkit::event e;
  const auto verdict = lfkit_test::errno_kept_by_failing_wake([&] { e.wait(); }, [&] { e.set(); });
  if (verdict == lfkit_test::errno_verdict::no_seccomp) {
    WARN("skipped the failing-wake part: seccomp filters are not permitted here");
    return;
  }
  CHECK(verdict == lfkit_test::errno_verdict::kept);
#endif
}
#endif

TEMPLATE_TEST_CASE("event: handler sets land at random points of a waiting loop", "[event]",
                   lfkit_impl, perturbed_impl) {
  // The waiter resets and waits in a loop; a storm of signals at its own thread sets the event at
  // arbitrary instructions of reset()/wait(). Every wait must end (true) well before its timeout.
  using Event = typename TestType::type;
  using ctx = handler_ctx<Event>;
  if (!TestType::type::set_is_signal_safe) return;  // portable path: notify may lock
  auto p = perturb_if<TestType>();
  Event e;
  ctx::target = &e;
  ctx::calls.store(0);
  scoped_handler h(SIGUSR1, &ctx::on_signal, true);
  REQUIRE(h.installed());
  const int rounds = TestType::perturbed ? 300 : 3000;
  std::atomic<int> done{0}, timeouts{0};
  std::atomic<bool> stop{false};
  std::thread waiter([&] {
    for (int i = 0; i < rounds; ++i) {
      e.reset();
      if (!e.wait_for(20s)) ++timeouts;
      done.fetch_add(1);
    }
    stop.store(true);
  });
  const pthread_t w = waiter.native_handle();
  while (!stop.load()) {
    pthread_kill(w, SIGUSR1);
    std::this_thread::sleep_for(20us);
  }
  waiter.join();
  CHECK(done.load() == rounds);
  CHECK(timeouts.load() == 0);
  CHECK(ctx::calls.load() >= rounds);
  ctx::target = nullptr;
}

namespace {
lfkit::basic_event<lfkit_test::gated_atomic>* g_yield_target = nullptr;
}  // namespace

TEST_CASE("event: a wait spins, yields wait_yields times, then sleeps", "[event][waiting]") {
  // The blocking wait's phases (event.hpp, "How it works"), counted by the gated policy's hooks.
  lfkit::basic_event<lfkit_test::gated_atomic> e;
  lfkit_test::t_yields = 0;
  const int sleeps = lfkit_test::g_gate_sleeps.load();
  SECTION("nobody sets it: every yield, then a sleep until the deadline") {
    CHECK_FALSE(e.wait_for(20ms));
    CHECK(lfkit_test::t_yields == lfkit::detail::wait_yields);
    CHECK(lfkit_test::g_gate_sleeps.load() > sleeps);
  }
  SECTION("set during the second yield: the look after it returns, no sleep") {
    g_yield_target = &e;
    lfkit_test::t_on_yield = [] { lfkit_test::t_on_yield = [] { g_yield_target->set(); }; };
    CHECK(e.wait_for(10s));
    CHECK(lfkit_test::t_yields == 2);
    CHECK(lfkit_test::g_gate_sleeps.load() == sleeps);
    CHECK(e.is_set());
  }
  lfkit_test::t_on_yield = nullptr;
}
