// SPDX-License-Identifier: BSL-1.0
// Tests for lfkit::seqlock_cell (issue 4's small-value variant).
#include <catch2/catch.hpp>

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

#include "lfkit/seqlock_cell.hpp"
#include "perturbed_atomic.hpp"

namespace {
using lfkit::stress::perturbation_scope;
struct two_counters {
  std::uint64_t a;
  std::uint64_t b;
};
struct odd_sized {  // not a multiple of the word size: exercises the partial last word
  char tag[3];
  std::uint16_t n;
  bool flag;
};

/// A value whose unary & is deleted: the cell must take its address with std::addressof.
struct no_address_of {
  std::uint32_t v;
  void operator&() const = delete;
};

}  // namespace

TEST_CASE("seqlock_cell: a T with a deleted unary operator& is stored and loaded", "[seqlock]") {
  lfkit::seqlock_cell<no_address_of> c(no_address_of{1});
  CHECK(c.load().v == 1);
  c.store(no_address_of{2});
  CHECK(c.load().v == 2);
  CHECK(c.try_store(no_address_of{3}));
  CHECK(c.update([](no_address_of x) { return no_address_of{x.v + 1}; }).v == 4);
  CHECK(c.load().v == 4);
  CHECK(c.version() == 3);
}

TEST_CASE("seqlock_cell semantics", "[seqlock]") {
  lfkit::seqlock_cell<two_counters> c(two_counters{3, 4});
  CHECK(c.load().a == 3);
  CHECK(c.load().b == 4);
  CHECK(c.version() == 0);
  c.store(two_counters{5, 6});
  CHECK(c.load().a == 5);
  CHECK(c.load().b == 6);
  CHECK(c.version() == 1);
  CHECK(c.try_store(two_counters{7, 7}));
  CHECK(c.version() == 2);
  const two_counters n = c.update([](two_counters p) { return two_counters{p.a + 1, p.b + 2}; });
  CHECK(n.a == 8);
  CHECK(n.b == 9);
  CHECK(c.load().b == 9);
  CHECK(c.version() == 3);

  lfkit::seqlock_cell<odd_sized> o;
  CHECK(o.load().n == 0);
  o.store(odd_sized{{'a', 'b', 'c'}, 513, true});
  const odd_sized r = o.load();
  CHECK(r.tag[2] == 'c');
  CHECK(r.n == 513);
  CHECK(r.flag);

  CHECK_THROWS_AS(c.update([](two_counters) -> two_counters { throw 1; }), int);
  CHECK(c.try_store(two_counters{1, 1}));  // the flag was released by the throwing update
}

TEST_CASE("seqlock_cell: two counters are never torn under concurrent writers", "[seqlock]") {
  lfkit::seqlock_cell<two_counters> c(two_counters{0, 0});
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      std::uint64_t last = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const two_counters v = c.load();
        if (v.a != v.b || v.a < last) torn.fetch_add(1);
        last = v.a;
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  constexpr int W = 2;
  constexpr int M = 50000;
  // Let the readers get going first (the machine may be oversubscribed).
  while (reads.load() < 1000) std::this_thread::yield();
  std::vector<std::thread> writers;
  for (int w = 0; w < W; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < M; ++i) {
        c.update([](two_counters p) { return two_counters{p.a + 1, p.b + 1}; });
        if (i % 4096 == 0) std::this_thread::yield();
      }
    });
  }
  for (auto& t : writers) t.join();
  stop.store(true);
  for (auto& t : readers) t.join();
  CHECK(torn.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(c.load().a == std::uint64_t{W} * M);
  CHECK(c.version() == std::uint64_t{W} * M);
}

namespace {
using pcell = lfkit::seqlock_cell<two_counters, lfkit::stress::perturbed_atomic>;
std::atomic<pcell*> g_cell{nullptr};
std::atomic<std::uint64_t> g_runs{0};
std::atomic<std::uint64_t> g_bad{0};
std::atomic<std::uint64_t> g_try_store_refused{0};
std::atomic<std::uint64_t> g_lo{0};  // the interrupted writer's value before and after its write
std::atomic<std::uint64_t> g_hi{0};

extern "C" void seqlock_signal_handler(int) {
  const int saved = errno;
  if (pcell* c = g_cell.load(std::memory_order_relaxed)) {
    const two_counters v = c->load();  // must not hang even mid-write of this very thread
    if (v.a != v.b) g_bad.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t lo = g_lo.load(std::memory_order_relaxed);
    const std::uint64_t hi = g_hi.load(std::memory_order_relaxed);
    if (v.a < lo || v.a > hi) g_bad.fetch_add(1, std::memory_order_relaxed);
    // Refused while the interrupted writer holds the flag; accepted (rewriting the same value)
    // when the signal came before it took the flag or after it released it.
    if (!c->try_store(v)) g_try_store_refused.fetch_add(1, std::memory_order_relaxed);
  }
  g_runs.fetch_add(1, std::memory_order_relaxed);
  errno = saved;
}
}  // namespace

TEST_CASE("seqlock_cell: a handler interrupting its own thread's writer reads a consistent value",
          "[seqlock][signal][perturbed]") {
  struct sigaction sa{}, old{};
  sa.sa_handler = &seqlock_signal_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, &old);
  pcell c(two_counters{0, 0});
  {
    perturbation_scope knobs(0, 0);
    // Only the writer's own atomic steps raise signals; readers elsewhere are not running.
    for (std::uint64_t i = 1; i <= 3000; ++i) {
      g_lo.store(i - 1);
      g_hi.store(i);
      g_cell.store(&c);
      lfkit::stress::g_perturbation.raise_signal.store(12000);  // ~18% of steps
      c.update([](two_counters p) { return two_counters{p.a + 1, p.b + 1}; });
      lfkit::stress::g_perturbation.raise_signal.store(0);
      g_cell.store(nullptr);
    }
  }
  sigaction(SIGUSR1, &old, nullptr);
  CHECK(g_bad.load() == 0);
  CHECK(g_runs.load() > 1000);
  CHECK(g_try_store_refused.load() > 0);
  CHECK(c.load().a == 3000);
}

TEST_CASE("seqlock_cell with perturbed atomics: readers and writers", "[seqlock][perturbed]") {
  perturbation_scope knobs(2000, 8000);
  pcell c(two_counters{0, 0});
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const two_counters v = c.load();
      if (v.a != v.b) torn.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < 3000; ++i) {
        if (i % 2) {
          c.update([](two_counters p) { return two_counters{p.a + 1, p.b + 1}; });
        } else {
          while (!c.try_store(c.load())) {
          }
          c.update([](two_counters p) { return p; });
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  stop.store(true);
  reader.join();
  CHECK(torn.load() == 0);
  CHECK(c.version() ==
        2 * (1500 + 2 * 1500));  // per writer: 1500 updates + 1500 x (try_store + update)
}
