// SPDX-License-Identifier: BSL-1.0
// Unit tests for lfkit::lockfree_queue (SCQ rings): the important cases of test_mpmc_queue.cpp,
// plus what sets this queue apart: no spurious empty/full under contention, a handler that
// interrupts its own thread at every atomic step of a push or pop can still push and pop, and
// SCQ's threshold running out on each ring (and the reset that follows): the allocated ring's
// while pushes hold tickets there, the free ring's while pops hold tickets to return indices.
// Catch2 v2 assertions are not thread-safe: worker threads record, the main thread asserts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pthread.h>
#include <time.h>

#include "lfkit/lockfree_queue.hpp"
#include "perturbed_atomic.hpp"
#include "queue_contract.hpp"
#include "support.hpp"

#if defined(LFKIT_PORTABLE_WAIT)
static_assert(LFKIT_USE_FUTEX == 0, "this build tests the portable sleep path: no futex(2)");
#endif

namespace {
using lfkit::stress::perturbation_scope;
using lfkit_test::eventually;
using lfkit_impl = queue_contract::impl<lfkit::lockfree_queue>;
using perturbed_impl = queue_contract::impl<lfkit::lockfree_queue, lfkit::stress::perturbed_atomic>;

}  // namespace

// =============================================================================================
// Construction and single-threaded behaviour
// =============================================================================================

static_assert(std::is_same_v<lfkit::lockfree_queue<short>::value_type, short> &&
              std::is_same_v<lfkit::lockfree_queue<short>::size_type, std::size_t>);

TEST_CASE("lockfree_queue: bad capacity throws invalid_argument naming the value", "[lfq]") {
  using Q = lfkit::lockfree_queue<int>;
  queue_contract::rejects_capacity<Q>(0, "capacity 0");
  REQUIRE(Q::max_capacity() > 1000000);
  for (std::size_t bad : {Q::max_capacity() + 1, std::numeric_limits<std::size_t>::max()})
    queue_contract::rejects_capacity<Q>(bad, std::to_string(bad));
}

TEMPLATE_TEST_CASE("lockfree_queue: exact capacity for any size, memory footprint", "[lfq]",
                   lfkit_impl, perturbed_impl) {
  using Q = typename TestType::template queue<int>;
  queue_contract::exact_capacity<Q>(
      {1u, 2u, 3u, 5u, 7u, 8u, 1000u, 1024u}, [](Q& q, std::size_t cap) {
        // Two rings of 2n 8-byte entries, n = bit_ceil(cap), plus cap ints, plus the object.
        const std::size_t n = std::bit_ceil(cap);
        CHECK(q.memory_footprint() == sizeof(Q) + 2 * 2 * n * 8 + cap * sizeof(int));
      });
}

TEMPLATE_TEST_CASE("lockfree_queue: capacity 1 and 2 alternate correctly", "[lfq]", lfkit_impl,
                   perturbed_impl) {
  using Q = typename TestType::template queue<int>;
  for (std::size_t cap : {1u, 2u}) {
    Q q(cap);
    int x = 0;
    for (int i = 0; i < 3000; ++i) {
      for (std::size_t k = 0; k < cap; ++k) REQUIRE(q.try_push(i * 10 + static_cast<int>(k)));
      REQUIRE_FALSE(q.try_push(-1));
      REQUIRE(q.size_approx() == cap);
      for (std::size_t k = 0; k < cap; ++k) {
        REQUIRE(q.try_pop(x));
        REQUIRE(x == i * 10 + static_cast<int>(k));
      }
      REQUIRE_FALSE(q.try_pop(x));
    }
  }
}

TEST_CASE("lockfree_queue: wrap-around many laps keeps FIFO (tickets far past 2n)", "[lfq]") {
  for (std::size_t cap : {3u, 5u, 64u}) {
    lfkit::lockfree_queue<std::uint64_t> q(cap);
    std::uint64_t in = 0, out = 0, x = 0;
    bool ok = true;
    for (int lap = 0; lap < 20000 && ok; ++lap) {
      const std::uint64_t k = 1 + static_cast<std::uint64_t>(lap) % cap;  // fill levels vary
      for (std::uint64_t j = 0; j < k; ++j) ok = ok && q.try_push(in++);
      for (std::uint64_t j = 0; j < k; ++j) ok = ok && q.try_pop(x) && x == out++;
      ok = ok && !q.try_pop(x);  // an empty verdict every lap (tail <= head, exact)
    }
    CHECK(ok);
    CHECK(in == out);
  }
}

TEST_CASE("lockfree_queue: move-only elements, a failed push leaves the object untouched",
          "[lfq]") {
  queue_contract::move_only_elements<lfkit_impl>();
}

TEST_CASE("lockfree_queue: over-aligned elements are stored aligned", "[lfq]") {
  queue_contract::overaligned_elements<lfkit_impl>();
}

TEST_CASE("lockfree_queue: constructions and destructions balance, leftovers destroyed", "[lfq]") {
  queue_contract::lifetimes_balance<lfkit_impl>();
}

TEST_CASE("lockfree_queue: a throwing constructor leaves the queue usable and leaks nothing",
          "[lfq]") {
  queue_contract::throwing_constructor<lfkit_impl>();
}

TEMPLATE_TEST_CASE("lockfree_queue: bulk push and pop", "[lfq]", lfkit_impl, perturbed_impl) {
  queue_contract::bulk<TestType>();
  queue_contract::bulk_move_only<TestType>();
}

// =============================================================================================
// Close, timed and blocking operations
// =============================================================================================

TEMPLATE_TEST_CASE("lockfree_queue: close wakes blocked producers and consumers, drain",
                   "[lfq][close]", lfkit_impl, perturbed_impl) {
  using Q = typename TestType::template queue<int>;
  queue_contract::close_wakes_blocked_producers<Q>();
  queue_contract::close_wakes_blocked_consumers<Q>();
  queue_contract::close_then_drain<Q>();
}

TEMPLATE_TEST_CASE("lockfree_queue: timeouts, NaN and 'never' deadlines", "[lfq][timeout]",
                   lfkit_impl, perturbed_impl) {
  using Q = typename TestType::template queue<int>;
  queue_contract::timeouts_elapse<Q>();
  queue_contract::never_deadlines_wait<Q>();
  queue_contract::nan_deadlines_expire<Q>();
}

TEST_CASE("lockfree_queue: an idle blocked consumer and producer cost ~no CPU", "[lfq][blocking]") {
  queue_contract::idle_waiters_cost_no_cpu<lfkit::lockfree_queue<int>>();
}

// =============================================================================================
// Concurrency: exactly once, per-producer FIFO
// =============================================================================================

TEST_CASE("lockfree_queue: concurrent MPMC: exactly once, per-producer FIFO", "[lfq][mpmc]") {
  queue_contract::mpmc_sections<lfkit::lockfree_queue<std::uint64_t>>(/*many_threads=*/true);
}

TEST_CASE("lockfree_queue: concurrent MPMC under schedule perturbation", "[lfq][mpmc]") {
  using Q = lfkit::lockfree_queue<std::uint64_t, lfkit::stress::perturbed_atomic>;
  perturbation_scope s(2000, 2000);
  SECTION("try ops, 3P3C, capacity 4") {
    queue_contract::run_mpmc<Q>(4, 3, 3, 5000, queue_contract::mode::try_ops);
  }
  SECTION("blocking, 2P2C, capacity 1") {
    queue_contract::run_mpmc<Q>(1, 2, 2, 5000, queue_contract::mode::blocking);
  }
}

// =============================================================================================
// No spurious failure (crossbeam's test): a pop right after one's own push never sees "empty",
// a push right after one's own pop never sees "full".
// =============================================================================================

namespace {
template <class Q>
void no_spurious(std::size_t capacity, int threads, std::uint64_t tries_each, bool prefill,
                 std::uint64_t& push_fail, std::uint64_t& pop_fail) {
  Q q(capacity);
  if (prefill) {
    // Full: each thread pops one, then pushes it back; a push after one's own pop must find room.
    for (std::size_t i = 0; i < capacity; ++i) REQUIRE(q.try_push(i));
  }
  std::atomic<std::uint64_t> pf{0}, cf{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      std::uint64_t my_pf = 0, my_cf = 0, v = 0;
      for (std::uint64_t i = 0; i < tries_each; ++i) {
        if (prefill) {
          if (!q.try_pop(v)) ++my_cf;
          else if (!q.try_push(v)) ++my_pf;
        } else {
          if (!q.try_push(i)) ++my_pf;
          else if (!q.try_pop(v)) ++my_cf;
        }
      }
      pf.fetch_add(my_pf);
      cf.fetch_add(my_cf);
    });
  }
  for (auto& t : ts) t.join();
  push_fail = pf.load();
  pop_fail = cf.load();
}
}  // namespace

TEST_CASE("lockfree_queue: no spurious empty/full under contention (10^6 tries)",
          "[lfq][spurious]") {
  using Q = lfkit::lockfree_queue<std::uint64_t>;
  const int threads = 4;
  const std::uint64_t each = 250000;  // 10^6 in all
  for (std::size_t cap : {std::size_t{4}, std::size_t{5}, std::size_t{64}}) {
    std::uint64_t pf = 0, cf = 0;
    no_spurious<Q>(cap, threads, each, false, pf, cf);
    INFO("push then pop, capacity " << cap);
    CHECK(pf == 0);  // capacity >= threads: never full
    CHECK(cf == 0);  // our own element is there: never empty
    no_spurious<Q>(cap, threads, each, true, pf, cf);
    INFO("pop then push, capacity " << cap);
    CHECK(cf ==
          0);  // at least capacity - threads elements are always there... and >= 1 ours to take
    CHECK(pf == 0);  // our own pop returned its index: never full
  }
}

TEST_CASE("lockfree_queue: no spurious empty under schedule perturbation", "[lfq][spurious]") {
  using Q = lfkit::lockfree_queue<std::uint64_t, lfkit::stress::perturbed_atomic>;
  perturbation_scope s(3000, 3000);
  std::uint64_t pf = 0, cf = 0;
  no_spurious<Q>(3, 3, 20000, false, pf, cf);
  CHECK(pf == 0);
  CHECK(cf == 0);
  no_spurious<Q>(3, 3, 20000, true, pf, cf);
  CHECK(pf == 0);
  CHECK(cf == 0);
}

// =============================================================================================
// Interrupts at every atomic step: a handler that interrupts its own thread inside a push or pop
// pushes and pops on the same queue, and succeeds whenever the queue is not full / not empty.
// =============================================================================================

namespace {

// perturbed_atomic with no random perturbation, only raise_signal_at_step(k): the signal
// (SIGUSR2 here) arrives between two atomic steps of the operation, at hook k.
using step_queue = lfkit::lockfree_queue<int, lfkit::stress::perturbed_atomic>;
step_queue* g_q = nullptr;
// What the handler should be able to do, decided by the test before the interrupted operation.
bool g_expect_push = false, g_expect_pop = false;
// What it did (handler and main code run on the same thread; lock-free atomics are signal-safe).
std::atomic<int> g_handler_push_ok{-1}, g_handler_pop_ok{-1}, g_handler_popped{-1};

/// SIGUSR2 runs `fn` and is the signal perturbed_atomic raises at a step (raise_signal_at_step);
/// both are restored on scope exit, also when a REQUIRE failed.
class step_signal {
 public:
  explicit step_signal(void (*fn)(int)) noexcept
      : handler_(SIGUSR2, fn, false),
        saved_(lfkit::stress::g_perturbation.signal_number.exchange(SIGUSR2)) {}
  ~step_signal() { lfkit::stress::g_perturbation.signal_number.store(saved_); }
  step_signal(const step_signal&) = delete;
  step_signal& operator=(const step_signal&) = delete;
  [[nodiscard]] bool installed() const noexcept { return handler_.installed(); }

 private:
  lfkit_test::scoped_handler handler_;
  int saved_;
};

void step_handler(int) {
  g_handler_push_ok = g_q->try_push(1000) ? 1 : 0;
  int v = -1;
  g_handler_pop_ok = g_q->try_pop(v) ? 1 : 0;
  g_handler_popped = v;
}

}  // namespace

namespace contention {
using gated_queue = lfkit::lockfree_queue<int, lfkit_test::gated_atomic>;
gated_queue* g_q = nullptr;
int g_loads_left = 0;           // relaxed loads of the outer operation before the nested ones run
bool g_nested_push = true;      // the nested operations: pushes of 100, 101, ..., or pops
int g_nested_count = 0;         // how many
std::vector<int> g_nested_got;  // pops: what they took (capacity reserved: no allocation inside)
int g_nested_failed = 0;
unsigned g_pauses_before = 0;  // the outer operation's pauses when the nested ones started
bool g_nested_ran = false;
void at_relaxed_load() noexcept {  // other operations of the same side at that instant
  if (--g_loads_left > 0) {
    lfkit_test::t_at_relaxed_load = at_relaxed_load;
    return;
  }
  g_nested_ran = true;
  g_pauses_before = lfkit_test::t_pauses;
  for (int j = 0; j < g_nested_count; ++j) {
    int v = -1;
    if (g_nested_push ? !g_q->try_push(100 + j) : !g_q->try_pop(v)) ++g_nested_failed;
    if (!g_nested_push) g_nested_got.push_back(v);
  }
}
struct outcome {
  bool ok;          // the outer operation succeeded
  int popped;       // what the outer pop took
  unsigned pauses;  // pause hints in the whole call, nested operations included
};
/// Runs the outer push of 50 (`push`) or pop on `q` with `count` nested pushes (`nested_push`) or
/// pops at its k-th relaxed load (if it makes that many: see g_nested_ran).
outcome run_outer(gated_queue& q, bool push, bool nested_push, int count, int k) {
  g_q = &q;
  g_nested_push = nested_push;
  g_nested_count = count;
  g_nested_got.clear();
  g_nested_got.reserve(8);
  g_nested_failed = 0;
  g_nested_ran = false;
  g_loads_left = k;
  lfkit_test::t_pauses = 0;
  lfkit_test::t_at_relaxed_load = at_relaxed_load;
  outcome o{false, -1, 0};
  o.ok = push ? q.try_push(50) : q.try_pop(o.popped);
  o.pauses = lfkit_test::t_pauses;
  lfkit_test::t_at_relaxed_load = nullptr;
  g_q = nullptr;
  return o;
}
}  // namespace contention

TEST_CASE("lockfree_queue: a push or pop that a few others of its side interleaved with backs off",
          "[lfq][contention]") {
  // The outer push (pop) runs alone, then with n other pushes (pops) run at its k-th relaxed
  // load, for every k until no load is left: before its ticket (its ticket then comes last and it
  // must not pause), or between its ticket and its second look at that ticket word (the head of
  // the ring it dequeues from), where it must pause exactly contention_backoff hints if n <=
  // alternating_max, and not at all for a crowd. Nothing else in these calls pauses: the rings
  // hold indices and elements to spare.
  using contention::gated_queue;
  constexpr unsigned backoff = gated_queue::contention_backoff;
  constexpr int most = static_cast<int>(gated_queue::alternating_max);
  constexpr int prefill = 6;
  for (const bool push : {true, false}) {
    INFO((push ? "push" : "pop"));
    {
      gated_queue q(12);
      for (int i = 0; i < prefill; ++i) REQUIRE(q.try_push(i));
      lfkit_test::t_pauses = 0;
      int v = -1;
      REQUIRE((push ? q.try_push(50) : q.try_pop(v)));
      CHECK(lfkit_test::t_pauses == 0);  // alone: no back-off
    }
    for (const int n : {1, most, most + 1}) {
      INFO("nested operations: " << n);
      unsigned backed_off = 0, not_backed_off = 0;
      for (int k = 1;; ++k) {
        REQUIRE(k < 64);  // an operation has a bounded number of relaxed loads
        INFO("nested at relaxed load " << k);
        gated_queue q(12);
        for (int i = 0; i < prefill; ++i) REQUIRE(q.try_push(i));
        const contention::outcome o = contention::run_outer(q, push, push, n, k);
        const int v = o.popped;
        const unsigned pauses = o.pauses;
        REQUIRE(o.ok);
        if (!contention::g_nested_ran) {  // past the outer operation's last relaxed load
          CHECK(pauses == 0);
          break;
        }
        REQUIRE(contention::g_nested_failed == 0);
        std::vector<int> rest;
        int x = 0;
        while (q.try_pop(x)) rest.push_back(x);
        bool outer_first = false;  // the outer operation's ticket came before the nested ones'
        std::vector<int> want;     // what the queue holds afterwards, in order
        if (push) {
          REQUIRE(rest.size() == static_cast<std::size_t>(prefill + 1 + n));
          outer_first = rest[prefill] == 50;
          for (int i = 0; i < prefill; ++i) want.push_back(i);
          if (outer_first) want.push_back(50);
          for (int j = 0; j < n; ++j) want.push_back(100 + j);
          if (!outer_first) want.push_back(50);
          CHECK(rest == want);
        } else {
          outer_first = v == 0;
          std::vector<int> nested_want;
          for (int j = 0; j < n; ++j) nested_want.push_back(outer_first ? 1 + j : j);
          CHECK(contention::g_nested_got == nested_want);
          CHECK(v == (outer_first ? 0 : n));
          for (int i = n + 1; i < prefill; ++i) want.push_back(i);
          CHECK(rest == want);
        }
        if (pauses == backoff) {
          ++backed_off;
          CHECK(outer_first);                       // only later tickets are interference
          CHECK(n <= most);                         // a crowd: no back-off
          CHECK(contention::g_pauses_before == 0);  // the pause came after the nested ops
        } else {
          ++not_backed_off;
          CHECK(pauses == 0);
        }
      }
      if (n <= most) CHECK(backed_off >= 1);  // nested between the ticket and the look
      CHECK(not_backed_off >= 1);             // nested before the ticket (or a crowd)
    }
    // An operation of the other side at any of those instants is no interference: no back-off.
    for (int k = 1;; ++k) {
      REQUIRE(k < 64);
      INFO("other side at relaxed load " << k);
      gated_queue q(12);
      for (int i = 0; i < prefill; ++i) REQUIRE(q.try_push(i));
      const contention::outcome o = contention::run_outer(q, push, !push, 1, k);
      REQUIRE(o.ok);
      CHECK(o.pauses == 0);
      if (!contention::g_nested_ran) break;
      CHECK(contention::g_nested_failed == 0);
      std::size_t left = 0;
      int x = 0;
      while (q.try_pop(x)) ++left;
      CHECK(left == static_cast<std::size_t>(prefill));  // one push and one pop in all
    }
  }
}

TEST_CASE("lockfree_queue: a handler interrupting its own push/pop at any atomic step succeeds",
          "[lfq][interrupt]") {
  const step_signal sig(step_handler);
  REQUIRE(sig.installed());
  std::uint64_t interrupted_ops = 0, handler_failures = 0, accounting_errors = 0;
  const std::size_t cap = 4;
  for (int is_push = 0; is_push < 2; ++is_push) {
    for (int m = 0; m <= 3; ++m) {     // elements in the queue before the interrupted operation
      if (is_push && m > 2) continue;  // keep room for the handler's push: m + 1 + 1 <= cap
      if (!is_push && m < 1) continue;
      for (std::uint64_t k = 1;; ++k) {
        step_queue q(cap);
        g_q = &q;
        std::vector<int> expected;  // multiset of what must come out in the end
        for (int i = 0; i < m; ++i) {
          REQUIRE(q.try_push(i));
          expected.push_back(i);
        }
        // Handler push: room unless cap is reached counting the interrupted op's index.
        // (a push holds its own index from its first step; a pop holds one until its last).
        g_expect_push = static_cast<std::size_t>(m) + (is_push ? 1u : 0u) < cap;
        // Handler pop after its own push: something complete is always there (its own element).
        g_expect_pop = true;
        g_handler_push_ok = g_handler_pop_ok = -1;
        g_handler_popped = -1;
        lfkit::stress::raise_signal_at_step(k);
        bool op_ok = false;
        int popped = -1;
        if (is_push) {
          op_ok = q.try_push(500);
        } else {
          op_ok = q.try_pop(popped);
        }
        lfkit::stress::raise_signal_at_step(0);
        if (!lfkit::stress::signal_raised_at_step()) break;  // past the last step: all covered
        ++interrupted_ops;
        if (!op_ok) ++handler_failures;  // the interrupted op itself must still succeed
        if (g_handler_push_ok != (g_expect_push ? 1 : 0)) ++handler_failures;
        if (g_handler_pop_ok != 1) ++handler_failures;
        // Account: everything pushed comes out exactly once.
        if (is_push && op_ok) expected.push_back(500);
        if (g_handler_push_ok == 1) expected.push_back(1000);
        std::vector<int> got;
        if (!is_push && op_ok) got.push_back(popped);
        if (g_handler_pop_ok == 1) got.push_back(g_handler_popped.load());
        int v;
        while (q.try_pop(v)) got.push_back(v);
        std::sort(expected.begin(), expected.end());
        std::sort(got.begin(), got.end());
        if (got != expected) ++accounting_errors;
        REQUIRE(k < 2000);  // an operation has a bounded number of steps
      }
    }
  }
  g_q = nullptr;
  INFO("interrupted operations: " << interrupted_ops);
  CHECK(interrupted_ops > 40);  // every step of pushes and pops at several fill levels
  CHECK(handler_failures == 0);
  CHECK(accounting_errors == 0);
}

TEST_CASE("lockfree_queue: a handler interrupting its own thread mid-push on a full queue",
          "[lfq][interrupt]") {
  // Capacity 2 holding 1: the interrupted push holds the last free index, so the handler's push
  // must report full (that index is the interrupted push's) and its pop must still succeed.
  const step_signal sig(step_handler);
  REQUIRE(sig.installed());
  std::uint64_t bad = 0, n = 0;
  for (std::uint64_t k = 1; k < 1000; ++k) {
    step_queue q(2);
    g_q = &q;
    REQUIRE(q.try_push(7));
    lfkit::stress::raise_signal_at_step(k);
    const bool ok = q.try_push(8);
    lfkit::stress::raise_signal_at_step(0);
    if (!lfkit::stress::signal_raised_at_step()) break;
    ++n;
    // The handler's push may succeed only if it ran before the interrupted push took its index.
    if (!ok && g_handler_push_ok != 1) ++bad;  // one of the two pushes must have got the index
    if (g_handler_pop_ok != 1 || g_handler_popped != 7) ++bad;  // FIFO: 7 is the oldest
  }
  g_q = nullptr;
  CHECK(n > 5);
  CHECK(bad == 0);
}

// =============================================================================================
// Freeze: another thread stopped at any atomic step inside a push or pop holds up no one.
// =============================================================================================

namespace {
std::atomic<bool> g_frozen{false}, g_release{false};
void freeze_handler(int) {
  g_frozen.store(true);
  while (!g_release.load()) {
    timespec ts{0, 100000};
    nanosleep(&ts, nullptr);
  }
}

/// Runs `op` on a thread that the signal raised at its k-th hook (raise_signal_at_step) freezes in
/// freeze_handler, and returns once that thread is frozen or has finished (k was past the last
/// step). release() lets it go on and joins it; so does the destructor, also when a REQUIRE failed.
class frozen_at_step {
 public:
  template <class Op>
  frozen_at_step(std::uint64_t k, Op op) {
    g_frozen.store(false);
    g_release.store(false);
    thread_ = std::thread([this, k, op = std::move(op)]() mutable {
      lfkit::stress::raise_signal_at_step(k);
      op();
      lfkit::stress::raise_signal_at_step(0);
      finished_.store(true);
    });
    while (!g_frozen.load() && !finished_.load()) std::this_thread::yield();
  }
  ~frozen_at_step() { release(); }
  frozen_at_step(const frozen_at_step&) = delete;
  frozen_at_step& operator=(const frozen_at_step&) = delete;
  /// Whether the thread froze at step k (false: it finished without reaching it).
  [[nodiscard]] bool frozen() const noexcept { return g_frozen.load(); }
  /// Lets the frozen thread go on; returns once it has finished.
  void release() {
    g_release.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> finished_{false};
  std::thread thread_;
};
}  // namespace

TEST_CASE("lockfree_queue: a thread frozen at any step of a push/pop does not stop another",
          "[lfq][freeze]") {
  const step_signal sig(freeze_handler);
  REQUIRE(sig.installed());
  std::uint64_t frozen_ops = 0, other_failures = 0, accounting_errors = 0;
  for (int is_push = 0; is_push < 2; ++is_push) {
    for (std::uint64_t k = 1;; ++k) {
      step_queue q(4);
      const int m = is_push ? 1 : 2;  // elements before the frozen operation
      for (int i = 0; i < m; ++i) REQUIRE(q.try_push(i));
      std::atomic<bool> frozen_ok{false};
      std::atomic<int> frozen_popped{-1};
      frozen_at_step a(k, [&] {
        if (is_push) {
          frozen_ok.store(q.try_push(500));
        } else {
          int v = -1;
          frozen_ok.store(q.try_pop(v));
          frozen_popped.store(v);
        }
      });
      if (!a.frozen()) break;  // k is past the operation's last step: every step covered
      ++frozen_ops;
      // The frozen thread holds at most one index; at most 2 + 1 elements are inside: every
      // push then pop of this thread must succeed while the other is stopped.
      std::vector<int> got;
      for (int i = 0; i < 200; ++i) {
        int v = -1;
        if (!q.try_push(1000 + i)) ++other_failures;
        if (!q.try_pop(v)) ++other_failures;
        else got.push_back(v);
      }
      a.release();
      std::vector<int> expected;
      for (int i = 0; i < m; ++i) expected.push_back(i);
      for (int i = 0; i < 200; ++i) expected.push_back(1000 + i);
      if (is_push && frozen_ok.load()) expected.push_back(500);
      if (!is_push && frozen_ok.load()) got.push_back(frozen_popped.load());
      if (!frozen_ok.load()) ++other_failures;  // the frozen operation itself completes after
      int v;
      while (q.try_pop(v)) got.push_back(v);
      std::sort(expected.begin(), expected.end());
      std::sort(got.begin(), got.end());
      if (got != expected) ++accounting_errors;
      REQUIRE(k < 2000);
    }
  }
  INFO("operations frozen at a step: " << frozen_ops);
  CHECK(frozen_ops > 20);
  CHECK(other_failures == 0);
  CHECK(accounting_errors == 0);
}

TEST_CASE("lockfree_queue: close() while a push is frozen at any step strands nothing",
          "[lfq][freeze][close]") {
  // A push frozen at step k, then close() and a blocking pop() on another thread. pop() == false
  // promises "closed and drained": the frozen push must then fail (its element handed back),
  // never land afterwards where no pop will look. Fresh queues (the allocated ring's threshold
  // starts at -1) and warmed ones (threshold reset by a push and pop).
  const step_signal sig(freeze_handler);
  REQUIRE(sig.installed());
  std::uint64_t frozen_ops = 0, stranded = 0, lost = 0, popped_it = 0;
  for (int warm = 0; warm < 2; ++warm) {
    for (std::uint64_t k = 1;; ++k) {
      step_queue q(4);
      if (warm) {
        int v = -1;
        REQUIRE(q.try_push(1));
        REQUIRE(q.try_pop(v));
      }
      std::atomic<bool> pushed{false};
      frozen_at_step a(k, [&] { pushed.store(q.try_push(500)); });
      if (!a.frozen()) break;  // k is past the push's last step: every step covered
      ++frozen_ops;
      q.close();
      int v = -1;
      const bool popped = q.pop(v);  // blocking: false means closed and drained
      a.release();
      int late = -1;
      const bool late_pop = q.try_pop(late);
      if (popped) {
        ++popped_it;
        if (v != 500 || !pushed.load() || late_pop) ++lost;
      } else {
        if (late_pop) ++stranded;                // landed after "drained"
        if (pushed.load() && !late_pop) ++lost;  // reported pushed, found nowhere
      }
      REQUIRE(k < 2000);
    }
  }
  INFO("frozen pushes " << frozen_ops << ", of which popped by the closing pop " << popped_it);
  CHECK(frozen_ops > 20);
  CHECK(popped_it > 0);
  CHECK(stranded == 0);
  CHECK(lost == 0);
}

// =============================================================================================
// Threshold exhaustion: a dequeuer gives up after 3n failed rounds since the last reset, and the
// next successful enqueue resets the threshold.
// =============================================================================================

namespace {

/// A thread the test drives one stop at a time: it stops before each of its seq_cst
/// compare-exchanges on a 64-bit word until the test lets it pass, or turns it loose. In a push:
/// the allocated ring's entry CAS, right after the ticket. In a pop whose allocated-ring round
/// succeeds (no CAS there): the free ring's entry CAS, right after the ticket for returning the
/// index. A retry with a new ticket stops again.
struct puppet {
  std::atomic<int> stops{0};           // stops reached
  std::atomic<int> passes{0};          // stops the test let it pass
  std::atomic<bool> loose{false};      // stops no more
  std::atomic<bool> returned{false};   // its first operation returned
  std::atomic<bool> succeeded{false};  // ... true
  std::atomic<int> value{-1};          // the element its first operation popped (a consumer)
};
thread_local puppet* t_puppet = nullptr;

void puppet_stop() noexcept {
  puppet* const p = t_puppet;
  if (p == nullptr || p->loose.load()) return;
  const int k = p->stops.fetch_add(1) + 1;
  while (p->passes.load() < k && !p->loose.load())
    std::this_thread::sleep_for(std::chrono::microseconds(100));
}

/// One access to a ring's threshold, the only 64-bit signed atomic of lockfree_queue, or one
/// ticket: a fetch_add on a ring's head or tail, the only fetch_adds on its 64-bit unsigned words.
struct threshold_access {
  const void* word;
  char op;             // 's' store, 'l' load, '-' fetch_sub; '+' a ticket's fetch_add
  std::int64_t value;  // stored, read, or (fetch_sub, fetch_add) the value before
};
std::mutex g_threshold_mutex;
std::vector<threshold_access> g_threshold_log;
std::atomic<bool> g_threshold_logging{false};

void log_threshold(const void* word, char op, std::int64_t value) {
  if (!g_threshold_logging.load()) return;
  const std::lock_guard<std::mutex> lock(g_threshold_mutex);
  g_threshold_log.push_back({word, op, value});
}

/// The threshold probe's hook: logs every access to an int64 word (the rings' thresholds) and
/// every fetch_add on a uint64 word (the rings' tickets), and stops a puppet thread before its
/// seq_cst compare-exchanges on uint64 words (ring entries).
struct probe_hook {
  static void before(lfkit::stress::atomic_op, std::memory_order) noexcept {}
  static void after(lfkit::stress::atomic_op, std::memory_order) noexcept {}
  template <lfkit::stress::atomic_fn F, class T>
  static void before_typed(const void*, std::memory_order o) noexcept {
    if constexpr (std::is_same_v<T, std::uint64_t> &&
                  F == lfkit::stress::atomic_fn::compare_exchange) {
      if (o == std::memory_order_seq_cst) puppet_stop();
    }
  }
  template <lfkit::stress::atomic_fn F, class T>
  static void observe(const void* word, std::memory_order, T value) noexcept {
    if constexpr (std::is_same_v<T, std::int64_t>) {
      using fn = lfkit::stress::atomic_fn;
      // The log (and its replay, threshold_log::value) knows these three; any other step on a
      // threshold fails to compile here rather than go unreplayed.
      static_assert(F == fn::load || F == fn::store || F == fn::fetch_sub,
                    "the threshold log has loads, stores and fetch_subs (of 1) only");
      log_threshold(word, F == fn::load ? 'l' : F == fn::store ? 's' : '-', value);
    } else if constexpr (std::is_same_v<T, std::uint64_t> &&
                         F == lfkit::stress::atomic_fn::fetch_add) {
      log_threshold(word, '+', static_cast<std::int64_t>(value));
    }
  }
};

/// std::atomic<T> with probe_hook: the same orders, size and lock-freedom as std::atomic<T>; the
/// hooks are std::atomic's defaults.
template <class T>
class probe_atomic : public lfkit::stress::hooked_atomic<T, probe_hook> {
 public:
  using lfkit::stress::hooked_atomic<T, probe_hook>::hooked_atomic;
};

/// Turns the threshold log (thresholds and tickets) on for a scope (cleared first), off again at
/// its end.
class threshold_log {
 public:
  threshold_log() {
    const std::lock_guard<std::mutex> lock(g_threshold_mutex);
    g_threshold_log.clear();
    g_threshold_logging.store(true);
  }
  ~threshold_log() { g_threshold_logging.store(false); }
  threshold_log(const threshold_log&) = delete;
  threshold_log& operator=(const threshold_log&) = delete;

  [[nodiscard]] std::size_t size() const {
    const std::lock_guard<std::mutex> lock(g_threshold_mutex);
    return g_threshold_log.size();
  }
  /// The word whose first access stored `v` (the constructor's store), or nullptr.
  [[nodiscard]] const void* first_stored(std::int64_t v) const {
    const std::lock_guard<std::mutex> lock(g_threshold_mutex);
    std::vector<const void*> seen;
    for (const auto& a : g_threshold_log) {
      if (std::find(seen.begin(), seen.end(), a.word) != seen.end()) continue;
      seen.push_back(a.word);
      if (a.op == 's' && a.value == v) return a.word;
    }
    return nullptr;
  }
  /// Accesses of kind `op` to `word` from entry `from` of the log on: their values.
  [[nodiscard]] std::vector<std::int64_t> since(std::size_t from, const void* word, char op) const {
    const std::lock_guard<std::mutex> lock(g_threshold_mutex);
    std::vector<std::int64_t> out;
    for (std::size_t i = from; i < g_threshold_log.size(); ++i) {
      if (g_threshold_log[i].word == word && g_threshold_log[i].op == op)
        out.push_back(g_threshold_log[i].value);
    }
    return out;
  }
  /// The words accessed by kind `op` from entry `from` of the log on, in the order of their first
  /// such access.
  [[nodiscard]] std::vector<const void*> words(std::size_t from, char op) const {
    const std::lock_guard<std::mutex> lock(g_threshold_mutex);
    std::vector<const void*> out;
    for (std::size_t i = from; i < g_threshold_log.size(); ++i) {
      const threshold_access& a = g_threshold_log[i];
      if (a.op == op && std::find(out.begin(), out.end(), a.word) == out.end())
        out.push_back(a.word);
    }
    return out;
  }
  /// A threshold's value replayed from the log (valid while every access to it was logged).
  [[nodiscard]] std::int64_t value(const void* word) const {
    const std::lock_guard<std::mutex> lock(g_threshold_mutex);
    std::int64_t v = 0;
    for (const auto& a : g_threshold_log) {
      if (a.word != word) continue;
      if (a.op == 's') v = a.value;
      if (a.op == '-') v = a.value - 1;
    }
    return v;
  }
};

/// The threads of a puppet scenario; the destructor (also after a failed REQUIRE) closes the
/// queue, turns every puppet loose, lets every thread go on and joins.
template <class Q>
class puppet_threads {
 public:
  explicit puppet_threads(Q& q) noexcept : q_(q) {}
  ~puppet_threads() {
    q_.close();  // a blocking push that nobody pops returns false, a blocking pop drains
    for (puppet* p : puppets_) p->loose.store(true);
    go_.store(true);
    for (auto& t : threads_) t.join();
  }
  puppet_threads(const puppet_threads&) = delete;
  puppet_threads& operator=(const puppet_threads&) = delete;

  /// Starts a producer: try_push(first) as puppet `p`, then, once go() was called, push() of
  /// first + 1 .. first + count - 1 (blocking); returns once it reached its first stop.
  bool start_producer(puppet& p, int first, int count) {
    return start(
        p, [this, first] { return q_.try_push(first); },
        [this, first, count] {
          for (int s = 1; s < count; ++s) {
            if (!q_.push(first + s)) return;  // closed: the scenario failed
          }
        });
  }
  /// Starts a consumer: try_pop() as puppet `p` (the element in p.value), then, once go() was
  /// called, pop() (blocking) into `got` until the queue is closed and drained (read `got` once
  /// this object is destroyed); returns once it reached its first stop.
  bool start_consumer(puppet& p, std::vector<int>& got) {
    return start(
        p,
        [this, &p] {
          int v = -1;
          const bool ok = q_.try_pop(v);
          p.value.store(v);
          return ok;
        },
        [this, &got] {
          int v = -1;
          while (q_.pop(v)) got.push_back(v);
        });
  }
  void go() noexcept { go_.store(true); }

 private:
  /// Runs first() as puppet `p` (its result in p.succeeded), then rest() once go() was called;
  /// returns once `p` reached its first stop.
  template <class First, class Rest>
  bool start(puppet& p, First first, Rest rest) {
    puppets_.push_back(&p);
    threads_.emplace_back([this, &p, first, rest] {
      t_puppet = &p;
      p.succeeded.store(first());
      p.returned.store(true);
      t_puppet = nullptr;
      while (!go_.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
      rest();
    });
    return eventually([&] { return p.stops.load() == 1; });
  }

  Q& q_;
  std::vector<puppet*> puppets_;
  std::vector<std::thread> threads_;
  std::atomic<bool> go_{false};
};

/// Lets `p` pass its current stop; true once it reached the next one.
bool pass_one_stop(puppet& p) {
  const int k = p.stops.load();
  p.passes.store(k);
  return eventually([&] { return p.stops.load() == k + 1; });
}

}  // namespace

TEST_CASE("lockfree_queue: 3n failed rounds exhaust the threshold, the next push resets it",
          "[lfq][threshold]") {
  // Capacity 2: n = 2, the threshold resets to 3n - 1 = 5. Both indices are held by pushes P1
  // and P2, stopped each time right after taking an allocated-ring ticket. A try_pop meeting
  // such a ticket (empty entry, tail past it) invalidates the entry and counts a failed round;
  // a push let past its stop finds its entry invalidated and takes a new ticket. The sixth failed
  // round since the reset meets the threshold at 0 with P1's ticket still ahead (tail > h + 1):
  // the exhaustion verdict, which leaves that ticket to no dequeuer. No push has completed, so
  // every empty verdict is true. Then the next try_pop takes the threshold < 0 fast path; P1
  // lands, its entry CAS resets the threshold, and every element comes out exactly once, in each
  // producer's order.
  using Q = lfkit::lockfree_queue<int, probe_atomic>;
  const threshold_log log;
  Q q(2);
  const void* const alloc_threshold = log.first_stored(-1);  // an empty ring starts at -1
  REQUIRE(alloc_threshold != nullptr);
  int x = -1;
  REQUIRE(q.try_push(0));  // the allocated ring's threshold: reset to 3n - 1
  REQUIRE(q.try_pop(x));
  REQUIRE(x == 0);
  REQUIRE(log.value(alloc_threshold) == 5);

  // One try_pop: whether it popped, the threshold values its failed rounds decremented (in
  // order), whether it read a negative threshold, and tail - head after it. An empty verdict
  // that leaves tail > head was cut short by the threshold (every other one passes the tail):
  // after a failed round that found it at most 0, the exhaustion verdict; after no round, the
  // fast path.
  struct attempt {
    bool popped = false;
    std::vector<std::int64_t> rounds;
    bool saw_negative = false;
    std::size_t left = 0;
  };
  int exhaustion_verdicts = 0, fast_path_verdicts = 0;
  const auto try_pop = [&] {
    attempt a;
    const std::size_t from = log.size();
    a.popped = q.try_pop(x);
    a.rounds = log.since(from, alloc_threshold, '-');
    for (std::int64_t v : log.since(from, alloc_threshold, 'l')) a.saw_negative |= v < 0;
    a.left = q.size_approx();
    if (!a.popped && a.left > 0) {
      if (!a.rounds.empty() && a.rounds.back() <= 0) ++exhaustion_verdicts;
      if (a.rounds.empty() && a.saw_negative) ++fast_path_verdicts;
    }
    return a;
  };
  using rounds = std::vector<std::int64_t>;

  constexpr int per_producer = 200;
  puppet p1, p2;
  puppet_threads<Q> producers(q);
  REQUIRE(producers.start_producer(p1, 1000, per_producer));  // ticket t
  REQUIRE(producers.start_producer(p2, 2000, per_producer));  // ticket t + 1
  REQUIRE(q.size_approx() == 2);                              // two tickets, neither entry written

  attempt a = try_pop();  // invalidates t (tail > t + 1: next ticket), then t + 1 (tail <= h + 1)
  CHECK(a.rounds == rounds{5, 4});
  CHECK(a.left == 0);
  REQUIRE(pass_one_stop(p1));  // t + 2
  REQUIRE(pass_one_stop(p2));  // t + 3
  a = try_pop();
  CHECK(a.rounds == rounds{3, 2});
  CHECK(a.left == 0);
  REQUIRE(pass_one_stop(p1));  // t + 4
  a = try_pop();
  CHECK(a.rounds == rounds{1});
  CHECK(a.left == 0);
  REQUIRE(pass_one_stop(p2));  // t + 5
  REQUIRE(pass_one_stop(p1));  // t + 6
  REQUIRE(q.size_approx() == 2);
  // The sixth failed round (3n since the reset): ticket t + 5 invalidated, threshold 0, tail
  // t + 7 > t + 6: "empty" with P1's ticket t + 6 not handed to any dequeuer.
  a = try_pop();
  CHECK_FALSE(a.popped);
  CHECK(a.rounds == rounds{0});
  CHECK(a.left == 1);
  CHECK(log.value(alloc_threshold) == -1);
  // Threshold < 0: "empty" without a ticket.
  a = try_pop();
  CHECK_FALSE(a.popped);
  CHECK(a.rounds.empty());
  CHECK(a.saw_negative);
  CHECK(a.left == 1);
  REQUIRE(exhaustion_verdicts == 1);
  REQUIRE(fast_path_verdicts == 1);
  // Every verdict so far was true: the only completed push (0) was popped; P1 and P2 are inside.
  CHECK_FALSE(p1.returned.load());
  CHECK_FALSE(p2.returned.load());

  // P1's ticket t + 6 was never passed: it lands there and resets the threshold.
  p1.loose.store(true);
  REQUIRE(eventually([&] { return p1.returned.load(); }));
  CHECK(p1.succeeded.load());
  CHECK(p1.stops.load() == 4);
  CHECK(log.value(alloc_threshold) == 5);
  a = try_pop();
  CHECK(a.popped);
  CHECK(x == 1000);
  CHECK(a.rounds.empty());
  // P2's ticket t + 5 was invalidated: it takes t + 7 and lands.
  p2.loose.store(true);
  REQUIRE(eventually([&] { return p2.returned.load(); }));
  CHECK(p2.succeeded.load());
  CHECK(p2.stops.load() == 3);
  a = try_pop();
  CHECK(a.popped);
  CHECK(x == 2000);
  CHECK(a.rounds.empty());
  a = try_pop();
  CHECK_FALSE(a.popped);  // tail <= head: exact
  CHECK(a.rounds.empty());
  CHECK_FALSE(a.saw_negative);

  // Working normally again: both producers push the rest while this thread pops.
  producers.go();
  int next[2] = {1, 1};
  bool in_order = true;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (next[0] + next[1] < 2 * per_producer && std::chrono::steady_clock::now() < end) {
    if (!q.try_pop(x)) {
      std::this_thread::yield();
      continue;
    }
    const int who = x / 1000 - 1;
    if (who < 0 || who > 1 || x % 1000 != next[who]) {
      in_order = false;
      break;
    }
    ++next[who];
  }
  CHECK(in_order);
  CHECK(next[0] == per_producer);
  CHECK(next[1] == per_producer);
  CHECK_FALSE(q.try_pop(x));
  CHECK(exhaustion_verdicts == 1);
  CHECK(fast_path_verdicts == 1);
}

TEST_CASE("lockfree_queue: free ring: 3n failed push rounds exhaust the threshold, a pop resets it",
          "[lfq][threshold]") {
  // The free ring's threshold: its dequeuers are pushes (taking a free index), its enqueuers pops
  // (returning the index once the element is moved out). Capacity 2: n = 2, 2n = 4 entries, the
  // ring seeded with indices 0 and 1 (head 4, tail 6) and its threshold at 3n - 1 = 5. The queue
  // is filled; pops C1 and C2 take both elements and are stopped each time right after taking a
  // free-ring ticket, before their entry CAS. A try_push meeting such a ticket (empty entry, tail
  // past it) invalidates the entry and counts a failed round; a pop let past its stop finds its
  // entry invalidated and takes a new ticket. The sixth failed round since the reset meets the
  // threshold at 0 with C1's ticket still ahead (tail > h + 1): "full", that ticket left to no
  // dequeuer. The next try_push takes the threshold < 0 fast path, without a ticket. Every "full"
  // is within try_push's contract: the queue holds no element, but both indices are held by pops
  // in progress. Then C1 lands, its entry CAS resets the threshold to 5, pushes succeed again and
  // every element comes out exactly once, in order.
  using Q = lfkit::lockfree_queue<int, probe_atomic>;
  using values = std::vector<std::int64_t>;
  const threshold_log log;
  Q q(2);
  // The first push: its tickets are the free ring's head (ticket 2n: index 0), then the
  // allocated ring's tail; the first threshold it reads is the free ring's (its dequeue's check).
  int next = 1;  // the next value pushed
  std::size_t from = log.size();
  REQUIRE(q.try_push(next++));
  const std::vector<const void*> push_tickets = log.words(from, '+');
  REQUIRE(push_tickets.size() == 2);
  const void* const free_head = push_tickets[0];
  const std::vector<const void*> thresholds_read = log.words(from, 'l');
  REQUIRE_FALSE(thresholds_read.empty());
  const void* const free_threshold = thresholds_read[0];
  CHECK(log.value(free_threshold) == 5);  // seeded with indices: 3n - 1
  CHECK(log.since(from, free_head, '+') == values{4});

  // One try_push: whether it pushed, the free-ring tickets it took, the threshold values its
  // failed rounds decremented (in order), whether it read a negative threshold.
  struct attempt {
    bool pushed = false;
    values tickets;
    values rounds;
    bool saw_negative = false;
  };
  const auto try_push = [&] {
    attempt a;
    const std::size_t start = log.size();
    a.pushed = q.try_push(next);
    if (a.pushed) ++next;
    a.tickets = log.since(start, free_head, '+');
    a.rounds = log.since(start, free_threshold, '-');
    for (std::int64_t v : log.since(start, free_threshold, 'l')) a.saw_negative |= v < 0;
    return a;
  };

  attempt a = try_push();
  CHECK(a.pushed);
  CHECK(a.tickets == values{5});
  a = try_push();  // full: tail <= head, exact, without a ticket
  CHECK_FALSE(a.pushed);
  CHECK(a.tickets.empty());
  CHECK(a.rounds.empty());
  CHECK_FALSE(a.saw_negative);
  REQUIRE(q.size_approx() == 2);

  constexpr int total = 400;  // values pushed in all
  puppet c1, c2;
  std::vector<int> got1, got2;  // what C1 and C2 pop after their first (held) pop
  {
    puppet_threads<Q> consumers(q);
    // A pop's tickets: the allocated ring's head, then the free ring's tail (2n + capacity).
    from = log.size();
    REQUIRE(consumers.start_consumer(c1, got1));
    const std::vector<const void*> pop_tickets = log.words(from, '+');
    REQUIRE(pop_tickets.size() == 2);
    const void* const free_tail = pop_tickets[1];
    CHECK(log.since(from, free_tail, '+') == values{6});
    from = log.size();
    REQUIRE(consumers.start_consumer(c2, got2));
    CHECK(log.since(from, free_tail, '+') == values{7});
    REQUIRE(q.size_approx() == 0);  // no element left, both indices held by C1 and C2

    // Lets `c` pass its stop: the free-ring ticket it took next.
    const auto pass = [&](puppet& c) {
      const std::size_t start = log.size();
      REQUIRE(pass_one_stop(c));
      return log.since(start, free_tail, '+');
    };
    // Free-ring tickets no dequeuer has had yet: tail - head, from the tickets (nothing else
    // moves them here: every failed round finds tail >= h + 1, so no catch-up).
    const auto unclaimed = [&] {
      return log.since(0, free_tail, '+').back() - log.since(0, free_head, '+').back();
    };

    a = try_push();  // invalidates 6 (tail 8 > 6 + 1: next ticket), then 7 (tail <= h + 1)
    CHECK_FALSE(a.pushed);
    CHECK(a.tickets == values{6, 7});
    CHECK(a.rounds == values{5, 4});
    CHECK(unclaimed() == 0);
    CHECK(pass(c1) == values{8});
    CHECK(pass(c2) == values{9});
    a = try_push();
    CHECK_FALSE(a.pushed);
    CHECK(a.tickets == values{8, 9});
    CHECK(a.rounds == values{3, 2});
    CHECK(pass(c1) == values{10});
    a = try_push();
    CHECK_FALSE(a.pushed);
    CHECK(a.tickets == values{10});
    CHECK(a.rounds == values{1});
    CHECK(pass(c2) == values{11});
    CHECK(pass(c1) == values{12});
    REQUIRE(unclaimed() == 2);
    // The sixth failed round (3n since the reset): ticket 11 invalidated, threshold 0, tail 13 >
    // 12: "full" with C1's ticket 12 not handed to any dequeuer.
    a = try_push();
    CHECK_FALSE(a.pushed);
    CHECK(a.tickets == values{11});
    CHECK(a.rounds == values{0});
    CHECK(unclaimed() == 1);
    REQUIRE(log.value(free_threshold) == -1);
    // Threshold < 0: "full" without a ticket.
    a = try_push();
    CHECK_FALSE(a.pushed);
    CHECK(a.tickets.empty());
    CHECK(a.rounds.empty());
    CHECK(a.saw_negative);
    CHECK(unclaimed() == 1);
    CHECK(q.size_approx() == 0);
    CHECK_FALSE(c1.returned.load());
    CHECK_FALSE(c2.returned.load());

    // C1's ticket 12 was never passed: its entry CAS lands there and resets the threshold.
    from = log.size();
    c1.loose.store(true);
    REQUIRE(eventually([&] { return c1.returned.load(); }));
    CHECK(c1.succeeded.load());
    CHECK(c1.value.load() == 1);
    CHECK(c1.stops.load() == 4);
    CHECK(log.since(from, free_threshold, 's') == values{5});
    REQUIRE(log.value(free_threshold) == 5);
    a = try_push();  // index 0, at ticket 12
    CHECK(a.pushed);
    CHECK(a.tickets == values{12});
    CHECK(a.rounds.empty());
    // C2's ticket 11 was invalidated: it takes 13 and lands (the threshold is 5: no store).
    from = log.size();
    c2.loose.store(true);
    REQUIRE(eventually([&] { return c2.returned.load(); }));
    CHECK(c2.succeeded.load());
    CHECK(c2.value.load() == 2);
    CHECK(c2.stops.load() == 3);
    CHECK(log.since(from, free_tail, '+') == values{13});
    CHECK(log.since(from, free_threshold, 's').empty());
    a = try_push();  // index 1, at ticket 13
    CHECK(a.pushed);
    CHECK(a.tickets == values{13});
    CHECK(a.rounds.empty());
    a = try_push();  // full again: tail <= head, exact
    CHECK_FALSE(a.pushed);
    CHECK(a.tickets.empty());
    CHECK(a.rounds.empty());
    CHECK_FALSE(a.saw_negative);
    REQUIRE(q.size_approx() == 2);
    REQUIRE(next == 5);

    // Working normally again: both consumers pop (blocking) while this thread pushes the rest.
    consumers.go();
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (next <= total && std::chrono::steady_clock::now() < end) {
      if (q.try_push(next)) {
        ++next;
      } else {
        std::this_thread::yield();
      }
    }
    CHECK(next == total + 1);
  }  // closed and joined: the consumers drained the queue

  // Exactly once, and each consumer in push order (one producer).
  CHECK(std::is_sorted(got1.begin(), got1.end()));
  CHECK(std::is_sorted(got2.begin(), got2.end()));
  std::vector<int> all{c1.value.load(), c2.value.load()};
  all.insert(all.end(), got1.begin(), got1.end());
  all.insert(all.end(), got2.begin(), got2.end());
  std::sort(all.begin(), all.end());
  std::vector<int> want(total);
  for (int i = 0; i < total; ++i) want[static_cast<std::size_t>(i)] = i + 1;
  CHECK(all == want);
}
