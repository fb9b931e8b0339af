// SPDX-License-Identifier: BSL-1.0
// Unit tests for lfkit/counter.hpp (atomic_counter, sharded_counter) and the mutex baseline.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include "lfkit/baseline/mutex_counter.hpp"
#include "lfkit/counter.hpp"
#include "perturbed_atomic.hpp"

namespace {
using perturbed_atomic_counter = lfkit::basic_atomic_counter<lfkit::stress::perturbed_atomic>;
using perturbed_sharded_counter = lfkit::basic_sharded_counter<lfkit::stress::perturbed_atomic>;

constexpr std::uint64_t max64 = std::numeric_limits<std::uint64_t>::max();
}  // namespace

TEMPLATE_TEST_CASE("counter: add, increment, load, reset", "[counter]", lfkit::atomic_counter,
                   lfkit::sharded_counter, lfkit::baseline::mutex_counter) {
  TestType c;
  CHECK(c.load() == 0);
  c.increment();
  c.add(41);
  CHECK(c.load() == 42);
  CHECK(c.reset() == 42);
  CHECK(c.load() == 0);
  CHECK(c.reset() == 0);
  c.add(7);
  CHECK(c.load() == 7);
}

TEMPLATE_TEST_CASE("counter: wraps modulo 2^64 without undefined behaviour", "[counter][overflow]",
                   lfkit::atomic_counter, lfkit::sharded_counter, lfkit::baseline::mutex_counter) {
  TestType c;
  c.add(max64);
  CHECK(c.load() == max64);
  c.add(2);
  CHECK(c.load() == 1);
  // Adding 2^64 - k subtracts k.
  c.add(10);
  c.add(max64 - 3 + 1);
  CHECK(c.load() == 8);
  CHECK(c.reset() == 8);
}

TEST_CASE("sharded_counter: the sum wraps across cells written by different threads",
          "[counter][overflow]") {
  lfkit::sharded_counter c(4);
  std::thread a([&] { c.add(max64); });
  a.join();
  std::thread b([&] { c.add(2); });
  b.join();
  CHECK(c.load() == 1);
  CHECK(c.reset() == 1);
  CHECK(c.load() == 0);
}

TEMPLATE_TEST_CASE("counter: concurrent adds from several threads sum exactly",
                   "[counter][threads]", lfkit::atomic_counter, lfkit::sharded_counter,
                   lfkit::baseline::mutex_counter, perturbed_atomic_counter,
                   perturbed_sharded_counter) {
  TestType c;
  constexpr int threads = 6;
  constexpr std::uint64_t per_thread = 50000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        if (i % 3 == 0) {
          c.increment();
        } else {
          c.add(static_cast<std::uint64_t>(t) + 1);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  std::uint64_t expected = 0;
  for (int t = 0; t < threads; ++t) {
    const std::uint64_t incs = (per_thread + 2) / 3;
    expected += incs + (per_thread - incs) * (static_cast<std::uint64_t>(t) + 1);
  }
  CHECK(c.load() == expected);
}

TEMPLATE_TEST_CASE("counter: reset under load loses nothing", "[counter][threads]",
                   lfkit::atomic_counter, lfkit::sharded_counter, lfkit::baseline::mutex_counter) {
  TestType c;
  constexpr int adders = 3;
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> adds(adders, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < adders; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t n = 0;
      while (!stop.load()) {
        c.add(3);
        ++n;
      }
      adds[t] = n;
    });
  }
  // Keep resetting until 200 resets have taken something, so resets provably interleave with adds.
  std::uint64_t taken = 0;
  int nonzero_resets = 0;
  while (nonzero_resets < 200) {
    const std::uint64_t v = c.reset();
    taken += v;
    if (v != 0) ++nonzero_resets;
  }
  stop.store(true);
  for (auto& th : pool) th.join();
  std::uint64_t total = 0;
  for (auto a : adds) total += a;
  CHECK(taken + c.load() == 3 * total);
}

TEST_CASE("sharded_counter: stripes are validated and rounded up to a power of two",
          "[counter][bad-input]") {
  CHECK(lfkit::sharded_counter(1).stripes() == 1);
  CHECK(lfkit::sharded_counter(5).stripes() == 8);
  CHECK(lfkit::sharded_counter(64).stripes() == 64);
  const auto d = lfkit::sharded_counter().stripes();
  CHECK(d >= 2);
  CHECK(d <= 256);
  CHECK((d & (d - 1)) == 0);
  CHECK(lfkit::sharded_counter(8).memory_bytes() >= 8 * lfkit::cache_line_size);

  CHECK_THROWS_WITH(lfkit::sharded_counter(0), Catch::Contains("got 0"));
  CHECK_THROWS_AS(lfkit::sharded_counter(0), std::invalid_argument);
  CHECK_THROWS_WITH(lfkit::sharded_counter(5000), Catch::Contains("got 5000"));
  CHECK_THROWS_AS(lfkit::sharded_counter(lfkit::sharded_counter::max_stripes + 1),
                  std::invalid_argument);
  CHECK_NOTHROW(lfkit::sharded_counter(lfkit::sharded_counter::max_stripes));
}

TEST_CASE("sharded_counter: threads pinned to different CPUs pick different cells", "[counter]") {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (!lfkit::detail::cpu_hint_available() || cpus < 2) {
    WARN("skipped: no rseq CPU number here, or one CPU (the fallback is tested below)");
    return;
  }
  constexpr int rounds = 1000;
  std::vector<std::uint32_t> seen(2, 0);
  std::vector<int> mismatches(2, 0);
  std::vector<std::thread> pool;
  for (int cpu = 0; cpu < 2; ++cpu) {
    pool.emplace_back([&, cpu] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) return;
      for (int i = 0; i < rounds; ++i) {
        const std::uint32_t hint = lfkit::detail::counter_stripe_hint();
        if (hint != static_cast<std::uint32_t>(sched_getcpu())) ++mismatches[cpu];
        seen[cpu] = hint;
      }
    });
  }
  for (auto& t : pool) t.join();
  // Pinned threads cannot migrate between the two reads, so the hint is exactly the CPU number.
  CHECK(mismatches[0] == 0);
  CHECK(mismatches[1] == 0);
  CHECK(seen[0] == 0);
  CHECK(seen[1] == 1);
  lfkit::sharded_counter c;
  CHECK(c.stripes() >= static_cast<std::size_t>(cpus));
}

TEST_CASE(
    "sharded_counter fallback: each thread keeps one number, and threads get distinct numbers",
    "[counter]") {
  constexpr int threads = 8;
  std::vector<std::uint32_t> first(threads), second(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      first[t] = lfkit::detail::this_thread_counter_stripe();
      second[t] = lfkit::detail::this_thread_counter_stripe();
    });
  }
  for (auto& th : pool) th.join();
  CHECK(first == second);
  CHECK(std::set<std::uint32_t>(first.begin(), first.end()).size() == threads);
}

TEST_CASE("counter: layout", "[counter]") {
  STATIC_REQUIRE(sizeof(lfkit::atomic_counter) == lfkit::cache_line_size);
  STATIC_REQUIRE(alignof(lfkit::atomic_counter) == lfkit::cache_line_size);
  STATIC_REQUIRE(lfkit::atomic_counter::memory_bytes() == lfkit::cache_line_size);
  lfkit::atomic_counter two[2];
  const auto gap = reinterpret_cast<const char*>(&two[1]) - reinterpret_cast<const char*>(&two[0]);
  CHECK(gap == static_cast<std::ptrdiff_t>(lfkit::cache_line_size));
}

// ---- signal handlers add to the counter their own thread is adding to -------------------------

namespace {
lfkit::atomic_counter* g_sig_atomic = nullptr;
lfkit::sharded_counter* g_sig_sharded = nullptr;
volatile std::sig_atomic_t g_handler_adds = 0;  // only this thread's handler writes it

extern "C" void add_from_handler(int) {
  g_sig_atomic->add(1000);
  g_sig_sharded->add(1000);
  g_handler_adds = g_handler_adds + 1;
}
}  // namespace

TEST_CASE("counter: adds made from a signal handler count exactly once", "[counter][signal]") {
  lfkit::atomic_counter a;
  lfkit::sharded_counter s;
  g_sig_atomic = &a;
  g_sig_sharded = &s;
  g_handler_adds = 0;
  struct sigaction sa{};
  struct sigaction old{};
  sa.sa_handler = add_from_handler;
  sigemptyset(&sa.sa_mask);
  REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);

  // A second thread signals this one while it adds, so handlers land mid-loop at arbitrary points.
  const pthread_t self = pthread_self();
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread injector([&] {
    while (!stop.load()) {
      pthread_kill(self, SIGUSR1);
      sent.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  constexpr std::uint64_t adds = 3000000;
  for (std::uint64_t i = 0; i < adds; ++i) {
    a.increment();
    s.increment();
  }
  stop.store(true);
  injector.join();
  // Flush any signal still pending for this thread, then restore the old disposition.
  sigset_t pending;
  for (int spin = 0; spin < 1000; ++spin) {
    sigpending(&pending);
    if (!sigismember(&pending, SIGUSR1)) break;
    std::this_thread::yield();
  }
  REQUIRE(sigaction(SIGUSR1, &old, nullptr) == 0);

  const std::uint64_t handled = static_cast<std::uint64_t>(g_handler_adds);
  INFO("signals sent " << sent.load() << ", handled " << handled);
  CHECK(handled > 0);
  CHECK(a.load() == adds + 1000 * handled);
  CHECK(s.load() == adds + 1000 * handled);
}
