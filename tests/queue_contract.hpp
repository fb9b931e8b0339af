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
#include <string>
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

/// An implementation tag for TEMPLATE_TEST_CASE: impl<lfkit::mpmc_queue>::queue<T> is
/// lfkit::mpmc_queue<T>; with Atom = lfkit::stress::perturbed_atomic, the schedule-perturbed queue.
template <template <class, template <class> class> class Queue,
          template <class> class Atom = std::atomic>
struct impl {
  template <class T>
  using queue = Queue<T, Atom>;
};

/// Constructing Q with `capacity` throws std::invalid_argument whose message contains `names`.
template <class Q>
void rejects_capacity(std::size_t capacity, const std::string& names) {
  try {
    Q q(capacity);
    FAIL("capacity " << capacity << " accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find(names) != std::string::npos);
  }
}

/// CPU time thread `t` has used, in milliseconds (-1 if it cannot be read).
inline double thread_cpu_ms(pthread_t t) {
  clockid_t cid;
  if (pthread_getcpuclockid(t, &cid) != 0) return -1;
  timespec ts{};
  clock_gettime(cid, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// =============================================================================================
// Single-threaded behaviour and element types
// =============================================================================================

/// For each capacity: capacity() is exact, exactly that many try_push succeed, FIFO out, then
/// empty. `extra(q, cap)` adds a structure's own checks on the drained queue.
template <class Q, class Extra>
void exact_capacity(std::initializer_list<std::size_t> capacities, Extra extra) {
  for (std::size_t cap : capacities) {
    Q q(cap);
    CHECK(q.capacity() == cap);
    std::size_t pushed = 0;
    while (q.try_push(static_cast<int>(pushed))) ++pushed;
    CHECK(pushed == cap);
    CHECK(q.size_approx() == cap);
    int x = -1;
    for (std::size_t i = 0; i < cap; ++i) {
      REQUIRE(q.try_pop(x));
      CHECK(x == static_cast<int>(i));
    }
    CHECK_FALSE(q.try_pop(x));
    CHECK(q.empty_approx());
    extra(q, cap);
  }
}

/// Move-only elements; a push that fails (full, timed out, closed) leaves the object untouched.
template <class Impl>
void move_only_elements() {
  using Q = typename Impl::template queue<std::unique_ptr<int>>;
  Q q(2);
  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  auto c = std::make_unique<int>(3);
  REQUIRE(q.try_push(std::move(a)));
  CHECK(a == nullptr);
  REQUIRE(q.push(std::move(b)));
  CHECK(b == nullptr);
  CHECK_FALSE(q.try_push(std::move(c)));  // full
  REQUIRE(c != nullptr);
  CHECK(*c == 3);
  CHECK_FALSE(q.try_push_for(std::move(c), 10ms));  // full, timed
  REQUIRE(c != nullptr);
  CHECK_FALSE(q.try_emplace(std::move(c)));  // full: a noexcept build never began
  REQUIRE(c != nullptr);
  std::unique_ptr<int> out;
  REQUIRE(q.try_pop(out));
  CHECK(*out == 1);
  REQUIRE(q.try_push(std::make_unique<int>(4)));
  auto second = q.try_pop();  // the optional-returning form
  REQUIRE(second.has_value());
  CHECK(**second == 2);
  q.close();
  CHECK_FALSE(q.try_push(std::move(c)));  // closed
  CHECK_FALSE(q.push(std::move(c)));      // closed, blocking
  CHECK_FALSE(q.try_emplace(std::make_unique<int>(5)));
  REQUIRE(c != nullptr);
  CHECK(*c == 3);
  REQUIRE(q.pop(out));  // drains
  CHECK(*out == 4);
  CHECK_FALSE(q.pop(out));  // closed and drained
}

/// Over-aligned elements are constructed at aligned addresses only (both pop forms).
template <class Impl>
void overaligned_elements() {
  using Q = typename Impl::template queue<overaligned>;
  overaligned::misaligned.store(0);
  {
    Q q(5);
    for (std::uint64_t round = 0; round < 10; ++round) {
      for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(q.try_emplace(i + 100 * round));
      overaligned o;
      for (std::uint64_t i = 0; i < 5; ++i) {
        if (round % 2 == 0) {
          REQUIRE(q.try_pop(o));
        } else {
          auto v = q.try_pop();
          REQUIRE(v);
          o = *v;
        }
        CHECK(o.value == i + 100 * round);
      }
    }
    REQUIRE(q.try_push(overaligned(7)));  // a leftover for the destructor
  }
  CHECK(overaligned::misaligned.load() == 0);
}

/// Constructions and destructions balance through every push and pop form; the queue's destructor
/// destroys what is left inside.
template <class Impl>
void lifetimes_balance() {
  using Q = typename Impl::template queue<tracked>;
  tracked::live.store(0);
  tracked::errors.store(0);
  {
    Q q(4);
    tracked t(1);
    REQUIRE(q.try_push(t));           // copy
    REQUIRE(q.try_push(tracked(2)));  // move
    REQUIRE(q.try_emplace(3));        // in place
    REQUIRE(q.push(tracked(4)));
    CHECK_FALSE(q.try_push(tracked(5)));  // full: the temporary is destroyed by the caller
    CHECK(tracked::live.load() == 5);     // t + 4 inside
    tracked out;
    REQUIRE(q.try_pop(out));
    CHECK(out.value == 1);
    auto opt = q.try_pop();
    REQUIRE(opt.has_value());
    CHECK(opt->value == 2);
    CHECK(tracked::live.load() == 5);  // t, out, opt + 2 inside
    // Two left inside: the destructor must destroy them.
  }
  CHECK(tracked::live.load() == 0);
  CHECK(tracked::errors.load() == 0);
  {
    Q q(7);
    for (int i = 0; i < 7; ++i) REQUIRE(q.try_emplace(i));
    CHECK_FALSE(q.try_emplace(99));
    tracked t(5);
    CHECK_FALSE(q.try_push(t));
    tracked out;
    for (int i = 0; i < 3; ++i) REQUIRE(q.try_pop(out));
    CHECK(out.value == 2);
    std::vector<tracked> v(2);
    CHECK(q.try_pop_n(v.begin(), 2) == 2);
    CHECK(v[1].value == 4);
    // 2 left inside + t + out + v[0..1]
    CHECK(tracked::live.load() == 2 + 1 + 1 + 2);
  }
  CHECK(tracked::live.load() == 0);
  CHECK(tracked::errors.load() == 0);
}

/// A constructor or copy that throws (single, blocking or bulk push) takes no slot and leaks
/// nothing; the queue stays fully usable.
template <class Impl>
void throwing_constructor() {
  using Q = typename Impl::template queue<throwing>;
  throwing::live.store(0);
  {
    Q q(2);
    CHECK_THROWS_AS(q.try_emplace(-1), std::runtime_error);
    CHECK(q.size_approx() == 0);
    REQUIRE(q.try_emplace(1));
    throwing::throw_on_copy = true;
    throwing src(2);
    CHECK_THROWS_AS(q.try_push(src), std::runtime_error);
    CHECK_THROWS_AS(q.push(src), std::runtime_error);
    throwing arr[2] = {throwing(8), throwing(9)};
    CHECK_THROWS_AS(q.try_push_n(arr, 2), std::runtime_error);
    throwing::throw_on_copy = false;
    CHECK(q.size_approx() == 1);
    // Nothing was taken by the throws: the remaining slot is free.
    REQUIRE(q.try_push(src));
    CHECK_FALSE(q.try_push(src));  // full
    CHECK_FALSE(q.try_emplace(3));
    auto first = q.try_pop();
    REQUIRE(first);
    CHECK(first->value == 1);
    throwing out(0);
    REQUIRE(q.try_pop(out));
    CHECK(out.value == 2);
    CHECK_FALSE(q.try_pop(out));
    CHECK_FALSE(q.try_pop());
    // Still fully usable after the throws: a full cycle through both slots.
    for (int i = 10; i < 20; ++i) {
      REQUIRE(q.try_emplace(i));
      REQUIRE(q.try_pop(out));
      CHECK(out.value == i);
    }
    REQUIRE(q.try_emplace(99));  // a leftover for the destructor
  }
  CHECK(throwing::live.load() == 0);
}

/// try_push_n / try_pop_n: exact capacity, wrap-around, the one-at-a-time output-iterator path, and
/// many rounds with batch sizes around the capacity.
template <class Impl>
void bulk() {
  using Q = typename Impl::template queue<int>;
  Q q(5);
  int in[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  CHECK(q.try_push_n(in, 8) == 5);  // capacity is exact
  CHECK(q.try_push_n(in, 1) == 0);
  int out[8] = {};
  CHECK(q.try_pop_n(out, 3) == 3);
  CHECK(out[0] == 0);
  CHECK(out[1] == 1);
  CHECK(out[2] == 2);
  CHECK(q.try_push_n(in + 5, 3) == 3);  // wraps around the end of the ring
  CHECK(q.try_pop_n(out, 8) == 5);
  CHECK(out[0] == 3);
  CHECK(out[4] == 7);
  CHECK(q.try_pop_n(out, 8) == 0);
  CHECK(q.try_push_n(in + 3, 5) == 5);
  std::vector<int> v;
  CHECK(q.try_pop_n(std::back_inserter(v), 100) == 5);  // the one-at-a-time path
  CHECK(v == std::vector<int>{3, 4, 5, 6, 7});
  CHECK(q.try_pop_n(out, 8) == 0);

  // Many rounds with batch sizes around the capacity.
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<int> batch(static_cast<std::size_t>(round % 7));
    std::iota(batch.begin(), batch.end(), next_in);
    next_in += static_cast<int>(q.try_push_n(batch.begin(), batch.size()));
    int buf[7];
    const std::size_t k = q.try_pop_n(buf, static_cast<std::size_t>((round * 3) % 7));
    for (std::size_t i = 0; i < k; ++i) {
      if (buf[i] != next_out) FAIL("bulk out of order");
      ++next_out;
    }
  }
  CHECK(next_in > 1000);
  CHECK(static_cast<int>(q.size_approx()) == next_in - next_out);
}

/// A bulk push through move iterators moves only the elements it pushed.
template <class Impl>
void bulk_move_only() {
  using Q = typename Impl::template queue<std::unique_ptr<int>>;
  Q q(3);
  std::vector<std::unique_ptr<int>> v;
  for (int i = 0; i < 5; ++i) v.push_back(std::make_unique<int>(i));
  CHECK(q.try_push_n(std::make_move_iterator(v.begin()), v.size()) == 3);
  CHECK(v[0] == nullptr);
  CHECK(v[2] == nullptr);
  REQUIRE(v[3] != nullptr);
  REQUIRE(v[4] != nullptr);
  CHECK(*v[3] == 3);
  std::unique_ptr<int> out[3];
  CHECK(q.try_pop_n(out, 3) == 3);
  CHECK(*out[2] == 2);
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

// =============================================================================================
// Close, timeouts, blocking
// =============================================================================================

/// Two producers blocked in push and one in try_push_for on a full queue all return false at
/// close(); the elements inside still drain.
template <class Q>
void close_wakes_blocked_producers() {
  Q q(2);
  REQUIRE(q.try_push(1));
  REQUIRE(q.try_push(2));
  std::atomic<int> returned{0}, returned_true{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&, i] {
      const bool r = (i == 2) ? q.try_push_for(10, 60s) : q.push(10 + i);
      returned.fetch_add(1);
      if (r) returned_true.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(100ms);
  CHECK(returned.load() == 0);  // really blocked
  q.close();
  CHECK(eventually([&] { return returned.load() == 3; }));
  for (auto& t : ts) t.join();
  CHECK(returned_true.load() == 0);
  CHECK(q.is_closed());
  int x;
  REQUIRE(q.pop(x));  // pops drain after close
  CHECK(x == 1);
  REQUIRE(q.try_pop(x));
  CHECK(x == 2);
  CHECK_FALSE(q.pop(x));
  CHECK_FALSE(q.try_pop_for(x, 1s));  // closed: immediately false
}

/// Two consumers blocked in pop and one in try_pop_for on an empty queue all return false at
/// close(); pushes then fail.
template <class Q>
void close_wakes_blocked_consumers() {
  Q q(4);
  std::atomic<int> returned{0}, returned_true{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&, i] {
      int x;
      const bool r = (i == 2) ? q.try_pop_for(x, 60s) : q.pop(x);
      returned.fetch_add(1);
      if (r) returned_true.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(100ms);
  CHECK(returned.load() == 0);
  q.close();
  CHECK(eventually([&] { return returned.load() == 3; }));
  for (auto& t : ts) t.join();
  CHECK(returned_true.load() == 0);
  CHECK_FALSE(q.try_push(5));
  CHECK(q.is_closed());
}

/// Closed with 100 elements inside: three consumers pop them all exactly once, then stop.
template <class Q>
void close_then_drain() {
  Q q(100);
  for (int i = 0; i < 100; ++i) REQUIRE(q.try_push(i));
  q.close();
  std::atomic<long> sum{0};
  std::atomic<int> count{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < 3; ++c) {
    ts.emplace_back([&] {
      int x;
      while (q.pop(x)) {
        sum.fetch_add(x);
        count.fetch_add(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(count.load() == 100);
  CHECK(sum.load() == 99 * 100 / 2);
}

/// Timed operations return false after at least their timeout, on either clock; zero and
/// negative timeouts are one attempt; timed operations succeed when they can.
template <class Q>
void timeouts_elapse() {
  Q q(1);
  int x;
  auto t0 = steady::now();
  CHECK_FALSE(q.try_pop_for(x, 50ms));
  CHECK(steady::now() - t0 >= 50ms);

  t0 = steady::now();
  CHECK_FALSE(q.try_pop_until(x, std::chrono::system_clock::now() + 30ms));
  CHECK(steady::now() - t0 >= 25ms);  // another clock: converted once, allow its rounding

  t0 = steady::now();
  CHECK_FALSE(q.try_pop_until(x, t0 + 40ms));
  CHECK(steady::now() - t0 >= 40ms);

  REQUIRE(q.try_push(1));
  t0 = steady::now();
  CHECK_FALSE(q.try_push_for(2, 50ms));
  CHECK(steady::now() - t0 >= 50ms);
  t0 = steady::now();
  CHECK_FALSE(q.try_push_until(3, t0 + 20ms));
  CHECK(steady::now() - t0 >= 20ms);

  // Zero and negative timeouts are an attempt, not a wait.
  CHECK_FALSE(q.try_push_for(4, 0ms));
  CHECK(q.try_pop_for(x, -5ms));
  CHECK(x == 1);
  CHECK_FALSE(q.try_pop_for(x, 0ms));
  // Timed ops succeed when possible.
  CHECK(q.try_push_for(5, 10ms));
  CHECK(q.try_pop_until(x, steady::now() + 10ms));
  CHECK(x == 5);
}

/// time_point::max() of a coarse duration, duration::max() and huge or infinite double durations
/// overflow a naive conversion to steady_clock nanoseconds (and used to make the call return false
/// at once). Each wait below must last until the (non-blocking) push 100 ms later and succeed.
template <class Q>
void never_deadlines_wait() {
  using minutes_tp = std::chrono::time_point<std::chrono::system_clock, std::chrono::minutes>;
  using seconds_tp = std::chrono::time_point<steady, std::chrono::seconds>;
  for (int which = 0; which < 5; ++which) {
    Q q(1);
    std::atomic<bool> got{false};
    std::thread c([&] {
      int x = 0;
      bool ok = false;
      switch (which) {
        case 0: ok = q.try_pop_until(x, minutes_tp::max()); break;
        case 1: ok = q.try_pop_until(x, seconds_tp::max()); break;
        case 2: ok = q.try_pop_for(x, std::chrono::hours::max()); break;
        case 3: ok = q.try_pop_for(x, std::chrono::duration<double>(1e300)); break;
        default:
          ok = q.try_pop_for(
              x, std::chrono::duration<double>(std::numeric_limits<double>::infinity()));
          break;
      }
      got.store(ok && x == 7);
    });
    std::this_thread::sleep_for(100ms);
    REQUIRE(q.try_push(7));  // a non-blocking push wakes a sleeping consumer
    c.join();
    INFO("deadline kind " << which);
    CHECK(got.load());
  }
  // And a deadline far in the past, or a NaN duration, is simply expired.
  Q q(1);
  int x = 0;
  CHECK_FALSE(q.try_pop_until(x, minutes_tp::min()));
  CHECK_FALSE(
      q.try_pop_for(x, std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())));
  REQUIRE(q.try_push(1));
  CHECK_FALSE(q.try_push_until(2, minutes_tp::min()));
}

/// A NaN reaching an integer conversion is UB; the deadline layer treats NaN as "already expired":
/// one attempt, then false. The UBSan build checks there is no UB.
template <class Q>
void nan_deadlines_expire() {
  Q q(1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::chrono::duration<double> nan_seconds(nan);
  const std::chrono::duration<double, std::milli> nan_ms(nan);
  using double_steady = std::chrono::time_point<steady, std::chrono::duration<double>>;
  using double_system =
      std::chrono::time_point<std::chrono::system_clock, std::chrono::duration<double>>;
  int x = 0;
  const auto t0 = steady::now();
  CHECK_FALSE(q.try_pop_for(x, nan_seconds));
  CHECK_FALSE(q.try_pop_for(x, nan_ms));
  CHECK_FALSE(q.try_pop_until(x, double_steady(nan_seconds)));
  CHECK_FALSE(q.try_pop_until(x, double_system(nan_seconds)));
  REQUIRE(q.try_push(1));
  CHECK_FALSE(q.try_push_for(2, nan_seconds));
  CHECK_FALSE(q.try_push_until(3, double_steady(nan_seconds)));
  CHECK_FALSE(q.try_push_until(4, double_system(nan_seconds)));
  CHECK(steady::now() - t0 < 1s);  // at once: no call waited
  // A NaN deadline is still one attempt: it succeeds when possible.
  CHECK(q.try_pop_for(x, nan_seconds));
  CHECK(x == 1);
  CHECK(q.try_push_until(5, double_system(nan_seconds)));
  CHECK(q.try_pop_until(x, double_steady(nan_seconds)));
  CHECK(x == 5);
}

/// A consumer blocked on an empty queue and a producer blocked on a full one sleep: they use
/// under 20 ms of CPU in 200 ms.
template <class Q>
void idle_waiters_cost_no_cpu() {
  Q q(1);
  std::atomic<bool> popped{false};
  std::thread c([&] {
    int x;
    popped.store(q.pop(x));
  });
  std::this_thread::sleep_for(20ms);  // past its spin phase
  const double before = thread_cpu_ms(c.native_handle());
  std::this_thread::sleep_for(200ms);
  const double after = thread_cpu_ms(c.native_handle());
  REQUIRE(before >= 0);
  CHECK(after - before < 20.0);
  CHECK_FALSE(popped.load());
  REQUIRE(q.try_push(1));
  c.join();
  CHECK(popped.load());

  REQUIRE(q.try_push(2));  // now full: a producer blocks
  std::atomic<bool> pushed{false};
  std::thread p([&] { pushed.store(q.push(3)); });
  std::this_thread::sleep_for(20ms);
  const double pb = thread_cpu_ms(p.native_handle());
  std::this_thread::sleep_for(200ms);
  const double pa = thread_cpu_ms(p.native_handle());
  CHECK(pa - pb < 20.0);
  CHECK_FALSE(pushed.load());
  q.close();
  p.join();
  CHECK_FALSE(pushed.load());
}

}  // namespace queue_contract

#endif  // LFKIT_TESTS_QUEUE_CONTRACT_HPP
