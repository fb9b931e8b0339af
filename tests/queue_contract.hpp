// SPDX-License-Identifier: BSL-1.0
// tests/queue_contract.hpp — the behaviour lfkit's bounded queues share (the API of
// lfkit/detail/queue_api.hpp: try_push/try_emplace/try_pop, bulk, push/pop, timed, close,
// size_approx, capacity), written once as test bodies templated over an implementation tag `Impl`
// (`Impl::template queue<T>`) or a queue type `Q`. test_mpmc_queue.cpp and test_lockfree_queue.cpp
// declare the test cases (names and tags stay theirs) and call these bodies; what sets one queue
// apart (busy slots, strict lock-freedom, memory footprint) stays in its own file.
// Catch2 v2 assertions are not thread-safe: worker threads record, the main thread asserts.
#ifndef LFKIT_TESTS_QUEUE_CONTRACT_HPP
#define LFKIT_TESTS_QUEUE_CONTRACT_HPP

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include <pthread.h>
#include <time.h>

#include "support.hpp"

namespace queue_contract {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using lfkit_test::eventually;
using lfkit_test::tracked;

// =============================================================================================
// Element types and helpers
// =============================================================================================

/// Constructor from int throws for negative values; copy throws when `throw_on_copy` is set.
struct throwing {
  static inline std::atomic<long> live{0};
  static inline bool throw_on_copy = false;
  int value = 0;
  explicit throwing(int v) : value(v) {
    if (v < 0) throw std::runtime_error("negative");
    live.fetch_add(1);
  }
  throwing() { live.fetch_add(1); }
  throwing(const throwing& o) : value(o.value) {
    if (throw_on_copy) throw std::runtime_error("copy");
    live.fetch_add(1);
  }
  throwing(throwing&& o) noexcept : value(o.value) { live.fetch_add(1); }
  throwing& operator=(const throwing&) = default;
  throwing& operator=(throwing&&) noexcept = default;
  ~throwing() { live.fetch_sub(1); }
};

/// An over-aligned element that records whether it was ever constructed at a misaligned address.
struct alignas(256) overaligned {
  static inline std::atomic<long> misaligned{0};
  std::uint64_t value = 0;
  overaligned() { note(); }
  explicit overaligned(std::uint64_t v) : value(v) { note(); }
  overaligned(const overaligned& o) : value(o.value) { note(); }
  overaligned(overaligned&& o) noexcept : value(o.value) { note(); }
  overaligned& operator=(const overaligned&) = default;
  overaligned& operator=(overaligned&&) noexcept = default;
  void note() noexcept {
    if (reinterpret_cast<std::uintptr_t>(this) % 256 != 0) misaligned.fetch_add(1);
  }
};

/// CPU time thread `t` has used, in milliseconds (-1 if it cannot be read).
inline double thread_cpu_ms(pthread_t t) {
  clockid_t cid;
  if (pthread_getcpuclockid(t, &cid) != 0) return -1;
  timespec ts{};
  clock_gettime(cid, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// =============================================================================================
// Concurrency: exactly once, per-producer FIFO
// =============================================================================================

enum class mode { try_ops, blocking, bulk, timed };

/// P producers push (producer << 40 | seq); C consumers pop until every item is accounted for.
/// Checks: each item exactly once, and each consumer sees each producer's items in increasing
/// order (per-producer FIFO).
template <class Q>
void run_mpmc(std::size_t capacity, int producers, int consumers, std::uint64_t per_producer,
              mode m) {
  Q q(capacity);
  const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
  std::vector<std::vector<std::uint64_t>> seen(static_cast<std::size_t>(consumers));
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<int> order_errors{0};
  std::atomic<int> push_failures{0};
  std::vector<std::thread> ts;
  for (int p = 0; p < producers; ++p) {
    ts.emplace_back([&, p] {
      const std::uint64_t tag = static_cast<std::uint64_t>(p) << 40;
      std::uint64_t i = 0;
      while (i < per_producer) {
        switch (m) {
          case mode::try_ops:
            if (q.try_push(tag | i)) ++i;
            else std::this_thread::yield();
            break;
          case mode::blocking:
            if (!q.push(tag | i)) push_failures.fetch_add(1);
            ++i;
            break;
          case mode::timed:
            if (q.try_push_for(tag | i, 1ms)) ++i;
            break;
          case mode::bulk: {
            std::uint64_t buf[16];
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(16, per_producer - i));
            for (std::size_t k = 0; k < n; ++k) buf[k] = tag | (i + k);
            const std::size_t done = q.try_push_n(buf, n);
            i += done;
            if (done == 0) std::this_thread::yield();
            break;
          }
        }
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    ts.emplace_back([&, c] {
      std::vector<std::uint64_t>& mine = seen[static_cast<std::size_t>(c)];
      std::vector<std::uint64_t> last(static_cast<std::size_t>(producers), ~std::uint64_t{0});
      auto note = [&](std::uint64_t v) {
        const auto p = static_cast<std::size_t>(v >> 40);
        const std::uint64_t s = v & ((std::uint64_t{1} << 40) - 1);
        if (p >= last.size() || (last[p] != ~std::uint64_t{0} && s <= last[p]))
          order_errors.fetch_add(1);
        if (p < last.size()) last[p] = s;
        mine.push_back(v);
        consumed.fetch_add(1);
      };
      std::uint64_t v;
      for (;;) {
        switch (m) {
          case mode::try_ops:
            if (q.try_pop(v)) note(v);
            else std::this_thread::yield();
            break;
          case mode::blocking:
            if (q.pop(v)) note(v);
            else return;  // closed and drained
            break;
          case mode::timed:
            if (q.try_pop_for(v, 1ms)) note(v);
            break;
          case mode::bulk: {
            std::uint64_t buf[16];
            const std::size_t n = q.try_pop_n(buf, 16);
            for (std::size_t k = 0; k < n; ++k) note(buf[k]);
            if (n == 0) std::this_thread::yield();
            break;
          }
        }
        if (m != mode::blocking && consumed.load() >= total) return;
      }
    });
  }
  for (int p = 0; p < producers; ++p) ts[static_cast<std::size_t>(p)].join();
  if (m == mode::blocking) q.close();
  for (std::size_t i = static_cast<std::size_t>(producers); i < ts.size(); ++i) ts[i].join();

  std::vector<std::uint64_t> all;
  for (auto& s : seen) all.insert(all.end(), s.begin(), s.end());
  std::sort(all.begin(), all.end());
  CHECK(push_failures.load() == 0);
  CHECK(order_errors.load() == 0);
  REQUIRE(all.size() == total);
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());  // no duplicates
  std::size_t k = 0;
  bool all_present = true;
  for (int p = 0; p < producers; ++p) {
    for (std::uint64_t i = 0; i < per_producer; ++i, ++k) {
      if (all[k] != ((static_cast<std::uint64_t>(p) << 40) | i)) all_present = false;
    }
  }
  CHECK(all_present);
  CHECK(q.size_approx() == 0);
}

/// The run_mpmc configurations both queues pass, one SECTION each; `many_threads` adds 16P16C.
template <class Q>
void mpmc_sections(bool many_threads) {
  SECTION("try ops, 4P4C, capacity 64") { run_mpmc<Q>(64, 4, 4, 50000, mode::try_ops); }
  SECTION("try ops, 2P2C, capacity 1") { run_mpmc<Q>(1, 2, 2, 20000, mode::try_ops); }
  SECTION("blocking, 3P2C, capacity 7") { run_mpmc<Q>(7, 3, 2, 50000, mode::blocking); }
  SECTION("blocking, 1P4C, capacity 2") { run_mpmc<Q>(2, 1, 4, 30000, mode::blocking); }
  SECTION("blocking, 8P8C, capacity 16 (oversubscribed)") {
    run_mpmc<Q>(16, 8, 8, 20000, mode::blocking);
  }
  if (many_threads) {
    SECTION("blocking, 16P16C, capacity 3 (many threads)") {
      run_mpmc<Q>(3, 16, 16, 3000, mode::blocking);
    }
  }
  SECTION("timed, 2P3C, capacity 5") { run_mpmc<Q>(5, 2, 3, 20000, mode::timed); }
  SECTION("bulk, 3P3C, capacity 33") { run_mpmc<Q>(33, 3, 3, 50000, mode::bulk); }
}

}  // namespace queue_contract

#endif  // LFKIT_TESTS_QUEUE_CONTRACT_HPP
