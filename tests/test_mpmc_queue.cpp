// SPDX-License-Identifier: BSL-1.0
// Unit tests for lfkit::mpmc_queue and its baseline lfkit::baseline::mutex_queue.
//
// Behaviour both share is tested once with TEMPLATE_TEST_CASE over three "implementations": lfkit's
// queue with std::atomic, the same queue with the schedule-perturbing atomic policy of the stress
// program, and the mutex+condvar baseline. Catch2 v2 assertions are not thread-safe, so worker
// threads record what they saw and the main thread asserts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pthread.h>
#include <time.h>

#include "lfkit/baseline/mutex_queue.hpp"
#include "lfkit/mpmc_queue.hpp"

#if defined(LFKIT_PORTABLE_WAIT)
static_assert(LFKIT_USE_FUTEX == 0,
              "this build tests the portable sleep path: the queue must not use futex(2)");
#endif
#include "perturbed_atomic.hpp"
#include "queue_contract.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {
using lfkit::stress::perturbation_scope;
using lfkit_test::eventually;
using lfkit_test::gate;
using lfkit_test::gated_atomic;
using queue_contract::mode;
using queue_contract::run_mpmc;
using queue_contract::throwing;
/// The capacities either side of the streaming-ring threshold (the waiting rules differ there).
constexpr std::size_t below_streaming = lfkit::detail::queue_tuning::streaming_ring_min - 1;
constexpr std::size_t streaming = lfkit::detail::queue_tuning::streaming_ring_min;
/// The smallest capacity whose busy back-off is the longest (capacity / divisor pauses, clamped).
constexpr std::size_t longest_backoff =
    std::size_t{lfkit::detail::queue_tuning::busy_backoff_divisor} *
    lfkit::detail::queue_tuning::max_busy_backoff;

/// An int that is not trivially copyable, so that mpmc_queue keeps its stamp mode (a pop holds its
/// slot until it has moved the element out).
struct stamped_int {
  int v = 0;
  stamped_int() = default;
  stamped_int(int x) noexcept : v(x) {}  // NOLINT: implicit, so that tests read as with int
  stamped_int(const stamped_int& o) noexcept : v(o.v) {}
  stamped_int& operator=(const stamped_int& o) noexcept {
    v = o.v;
    return *this;
  }
  ~stamped_int() = default;
};
static_assert(!lfkit::mpmc_queue<stamped_int>::word_mode && lfkit::mpmc_queue<int>::word_mode);

using lfkit_impl = queue_contract::impl<lfkit::mpmc_queue>;
using perturbed_impl = queue_contract::impl<lfkit::mpmc_queue, lfkit::stress::perturbed_atomic>;
struct mutex_impl {
  template <class T>
  using queue = lfkit::baseline::mutex_queue<T>;
};

}  // namespace

// =============================================================================================
// Construction
// =============================================================================================

static_assert(std::is_same_v<lfkit::mpmc_queue<short>::value_type, short> &&
              std::is_same_v<lfkit::mpmc_queue<short>::size_type, std::size_t>);

TEMPLATE_TEST_CASE("bad capacity throws invalid_argument naming the value", "[queue]", lfkit_impl,
                   mutex_impl) {
  using Q = typename TestType::template queue<int>;
  queue_contract::rejects_capacity<Q>(0, "capacity 0");
  const std::size_t huge = std::numeric_limits<std::size_t>::max();
  queue_contract::rejects_capacity<Q>(huge, std::to_string(huge));
}

TEST_CASE("lfkit: capacity just above max_capacity() is rejected, max is positive", "[queue]") {
  using Q = lfkit::mpmc_queue<int>;
  REQUIRE(Q::max_capacity() > 1000000);
  const std::size_t bad = Q::max_capacity() + 1;
  queue_contract::rejects_capacity<Q>(bad, std::to_string(bad));
}

// =============================================================================================
// Single-threaded behaviour
// =============================================================================================

TEMPLATE_TEST_CASE("exact capacity for small and non-power-of-two sizes", "[queue]", lfkit_impl,
                   perturbed_impl, mutex_impl) {
  using Q = typename TestType::template queue<int>;
  queue_contract::exact_capacity<Q>({1u, 2u, 3u, 5u, 7u, 8u, 1000u}, [](Q&, std::size_t) {});
}

TEMPLATE_TEST_CASE("capacity 1 and 2 alternate correctly", "[queue]", lfkit_impl, perturbed_impl,
                   mutex_impl) {
  using Q = typename TestType::template queue<int>;
  SECTION("capacity 1") {
    Q q(1);
    int x = 0;
    for (int i = 0; i < 1000; ++i) {
      REQUIRE(q.try_push(i));
      REQUIRE_FALSE(q.try_push(-1));
      REQUIRE(q.size_approx() == 1);
      REQUIRE(q.try_pop(x));
      REQUIRE(x == i);
      REQUIRE_FALSE(q.try_pop(x));
    }
  }
  SECTION("capacity 2") {
    Q q(2);
    int x = 0;
    REQUIRE(q.try_push(0));
    for (int i = 1; i < 1000; ++i) {
      REQUIRE(q.try_push(i));
      REQUIRE_FALSE(q.try_push(-1));
      REQUIRE(q.try_pop(x));
      REQUIRE(x == i - 1);
    }
    REQUIRE(q.try_pop(x));
    REQUIRE(x == 999);
    REQUIRE_FALSE(q.try_pop(x));
  }
}

TEMPLATE_TEST_CASE("wrap-around many times keeps FIFO", "[queue]", lfkit_impl, mutex_impl) {
  using Q = typename TestType::template queue<std::uint64_t>;
  for (std::size_t cap : {3u, 64u, 100u}) {
    Q q(cap);
    std::uint64_t next_in = 0, next_out = 0;
    std::uint64_t rng = 12345;
    for (int round = 0; round < 20000; ++round) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      const std::size_t burst = static_cast<std::size_t>((rng >> 33) % (cap + 2));
      for (std::size_t i = 0; i < burst; ++i) {
        if (q.try_push(next_in)) ++next_in;
      }
      const std::size_t drain = static_cast<std::size_t>((rng >> 17) % (cap + 2));
      std::uint64_t x;
      for (std::size_t i = 0; i < drain; ++i) {
        if (!q.try_pop(x)) break;
        if (x != next_out) FAIL("out of order: got " << x << " expected " << next_out);
        ++next_out;
      }
      if (q.size_approx() != next_in - next_out) FAIL("size_approx wrong");
    }
    CHECK(next_in > 10 * cap * 100);  // the ring really wrapped many times
    std::uint64_t x;
    while (q.try_pop(x)) CHECK(x == next_out++);
    CHECK(next_out == next_in);
  }
}

TEMPLATE_TEST_CASE("move-only elements, a failed push leaves the object untouched", "[queue]",
                   lfkit_impl, perturbed_impl, mutex_impl) {
  queue_contract::move_only_elements<TestType>();
}

TEMPLATE_TEST_CASE("failed push of a string leaves it untouched", "[queue]", lfkit_impl,
                   mutex_impl) {
  using Q = typename TestType::template queue<std::string>;
  Q q(1);
  REQUIRE(q.try_push(std::string("first")));
  std::string s = "a string long enough to live on the heap, not in the SSO buffer";
  const std::string copy = s;
  CHECK_FALSE(q.try_push(std::move(s)));
  CHECK(s == copy);
  CHECK_FALSE(q.try_push(s));
  CHECK(s == copy);
  CHECK_FALSE(q.try_push_until(std::move(s), steady::now() + 5ms));
  CHECK(s == copy);
}

TEMPLATE_TEST_CASE("over-aligned elements are stored aligned", "[queue]", lfkit_impl, mutex_impl) {
  queue_contract::overaligned_elements<TestType>();
}

TEMPLATE_TEST_CASE("constructions and destructions balance, leftovers destroyed", "[queue]",
                   lfkit_impl, perturbed_impl, mutex_impl) {
  queue_contract::lifetimes_balance<TestType>();
}

TEMPLATE_TEST_CASE("a throwing constructor leaves the queue usable and leaks nothing", "[queue]",
                   lfkit_impl, perturbed_impl, mutex_impl) {
  queue_contract::throwing_constructor<TestType>();
}

TEMPLATE_TEST_CASE("bulk push and pop", "[queue]", lfkit_impl, perturbed_impl, mutex_impl) {
  queue_contract::bulk<TestType>();
}

TEMPLATE_TEST_CASE("bulk push of move-only elements moves only what was pushed", "[queue]",
                   lfkit_impl, mutex_impl) {
  queue_contract::bulk_move_only<TestType>();
}

// =============================================================================================
// Close, timeouts, blocking
// =============================================================================================

TEMPLATE_TEST_CASE("close wakes producers blocked on a full queue", "[queue][close]", lfkit_impl,
                   perturbed_impl, mutex_impl) {
  queue_contract::close_wakes_blocked_producers<typename TestType::template queue<int>>();
}

TEMPLATE_TEST_CASE("close wakes consumers blocked on an empty queue", "[queue][close]", lfkit_impl,
                   perturbed_impl, mutex_impl) {
  queue_contract::close_wakes_blocked_consumers<typename TestType::template queue<int>>();
}

TEMPLATE_TEST_CASE("close with items left: blocked-free consumers drain then stop",
                   "[queue][close]", lfkit_impl, perturbed_impl, mutex_impl) {
  queue_contract::close_then_drain<typename TestType::template queue<int>>();
}

TEMPLATE_TEST_CASE("timeouts return false after at least the timeout", "[queue][timeout]",
                   lfkit_impl, perturbed_impl, mutex_impl) {
  queue_contract::timeouts_elapse<typename TestType::template queue<int>>();
}

TEMPLATE_TEST_CASE("a timed waiter is woken by a push before its deadline", "[queue][timeout]",
                   lfkit_impl, perturbed_impl, mutex_impl) {
  using Q = typename TestType::template queue<int>;
  Q q(1);
  std::atomic<bool> got{false};
  std::atomic<int> value{0};
  std::thread c([&] {
    int x = 0;
    got.store(q.try_pop_for(x, 30s));
    value.store(x);
  });
  std::this_thread::sleep_for(50ms);
  const auto t0 = steady::now();
  REQUIRE(q.try_push(42));  // a non-blocking push must wake a sleeping consumer
  c.join();
  CHECK(got.load());
  CHECK(value.load() == 42);
  CHECK(steady::now() - t0 < 20s);  // woken, not timed out (a loose bound: only correctness)
}

TEMPLATE_TEST_CASE("'never' deadlines on any clock wait instead of overflowing", "[queue][timeout]",
                   lfkit_impl, mutex_impl) {
  queue_contract::never_deadlines_wait<typename TestType::template queue<int>>();
}

TEMPLATE_TEST_CASE("a bulk push that throws midway still wakes a sleeping consumer", "[queue]",
                   lfkit_impl, mutex_impl) {
  // An input iterator whose second dereference throws: element 1 is pushed, then the read of
  // element 2 throws out of try_push_n. The consumer, asleep before the call, must be woken for
  // element 1 right away, not find it only when its 5 s deadline expires.
  struct throwing_second {
    const throwing* base;
    int i;
    const throwing& operator*() const {
      if (i == 1) throw std::runtime_error("element 2");
      return *base;
    }
    throwing_second& operator++() {
      ++i;
      return *this;
    }
  };
  typename TestType::template queue<throwing> q(4);
  std::atomic<bool> got{false};
  steady::time_point woke{};
  std::thread c([&] {
    throwing t;
    const bool ok = q.try_pop_for(t, 5s);
    woke = steady::now();
    got.store(ok && t.value == 1);
  });
  std::this_thread::sleep_for(100ms);  // let the consumer fall asleep
  const throwing one(1);
  const auto t0 = steady::now();
  CHECK_THROWS_AS(q.try_push_n(throwing_second{&one, 0}, 2), std::runtime_error);
  c.join();
  CHECK(got.load());
  CHECK(woke - t0 < 3s);  // woken by the push, not by its deadline
}

TEMPLATE_TEST_CASE("try_pop wakes a producer sleeping on a full queue", "[queue]", lfkit_impl,
                   perturbed_impl, mutex_impl) {
  using Q = typename TestType::template queue<int>;
  Q q(1);
  REQUIRE(q.try_push(1));
  std::atomic<bool> done{false};
  std::thread p([&] {
    q.push(2);
    done.store(true);
  });
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(done.load());
  int x;
  REQUIRE(q.try_pop(x));
  CHECK(x == 1);
  CHECK(eventually([&] { return done.load(); }));
  p.join();
  REQUIRE(q.try_pop(x));
  CHECK(x == 2);
}

TEMPLATE_TEST_CASE("ping-pong through capacity-1 queues loses no wakeup", "[queue][blocking]",
                   lfkit_impl, mutex_impl) {
  // Two threads bounce a token; each side blocks in pop on every round, so a lost wakeup would
  // hang the test — timed pops turn that into a failure instead. Timed and untimed waits mix.
  using Q = typename TestType::template queue<int>;
  Q ping(1), pong(1);
  constexpr int rounds = 20000;
  std::atomic<int> failures{0};
  std::thread other([&] {
    int x;
    for (int i = 0; i < rounds; ++i) {
      const bool ok = (i % 2) ? ping.pop(x) : ping.try_pop_for(x, 10s);
      if (!ok || x != i || !pong.push(x + 1)) failures.fetch_add(1);
    }
  });
  int y;
  for (int i = 0; i < rounds; ++i) {
    if (!ping.push(i)) failures.fetch_add(1);
    if (!pong.try_pop_for(y, 10s) || y != i + 1) failures.fetch_add(1);
    if (failures.load() != 0) break;
  }
  other.join();
  CHECK(failures.load() == 0);
}

TEMPLATE_TEST_CASE("an idle blocked consumer and producer cost ~no CPU", "[queue][blocking]",
                   lfkit_impl, mutex_impl) {
  queue_contract::idle_waiters_cost_no_cpu<typename TestType::template queue<int>>();
}

// =============================================================================================
// Concurrency: exactly once, per-producer FIFO
// =============================================================================================

TEMPLATE_TEST_CASE("concurrent MPMC: exactly once, per-producer FIFO", "[queue][mpmc]", lfkit_impl,
                   mutex_impl) {
  queue_contract::mpmc_sections<typename TestType::template queue<std::uint64_t>>(
      /*many_threads=*/false);
}

TEST_CASE("concurrent MPMC under schedule perturbation (perturbed_atomic)", "[queue][mpmc]") {
  using Q = lfkit::mpmc_queue<std::uint64_t, lfkit::stress::perturbed_atomic>;
  SECTION("yields, try ops, 3P3C, capacity 4") {
    perturbation_scope s(2000, 0);
    run_mpmc<Q>(4, 3, 3, 5000, mode::try_ops);
  }
  SECTION("spins and yields, blocking, 3P3C, capacity 3") {
    perturbation_scope s(1000, 8000);
    run_mpmc<Q>(3, 3, 3, 5000, mode::blocking);
  }
  SECTION("spins and yields, bulk, 2P2C, capacity 9") {
    perturbation_scope s(1000, 8000);
    run_mpmc<Q>(9, 2, 2, 5000, mode::bulk);
  }
  SECTION("yields, timed, 2P2C, capacity 2") {
    perturbation_scope s(2000, 2000);
    run_mpmc<Q>(2, 2, 2, 3000, mode::timed);
  }
  CHECK(lfkit::stress::g_perturbation.steps.load() > 0);  // the hooks really ran
}

TEST_CASE("concurrent close while producers and consumers run", "[queue][close]") {
  // Producers push until close; consumers pop until closed and drained. Every successful push is
  // popped exactly once.
  lfkit::mpmc_queue<std::uint64_t> q(8);
  std::atomic<std::uint64_t> pushed_sum{0}, popped_sum{0}, pushed_n{0}, popped_n{0};
  std::vector<std::thread> ts;
  for (int p = 0; p < 3; ++p) {
    ts.emplace_back([&, p] {
      for (std::uint64_t i = 1;; ++i) {
        const std::uint64_t v = i * 4 + static_cast<std::uint64_t>(p);
        if (!q.push(v)) return;
        pushed_sum.fetch_add(v);
        pushed_n.fetch_add(1);
      }
    });
  }
  for (int c = 0; c < 3; ++c) {
    ts.emplace_back([&] {
      std::uint64_t v = 0;  // GCC 12 -O3 warns maybe-uninitialized when pop's attempt is a call
      while (q.pop(v)) {
        popped_sum.fetch_add(v);
        popped_n.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(100ms);
  q.close();
  for (auto& t : ts) t.join();
  CHECK(pushed_n.load() > 0);
  CHECK(popped_n.load() == pushed_n.load());
  CHECK(popped_sum.load() == pushed_sum.load());
}

// =============================================================================================
// A thread stopped mid-operation: try_ ops give up in bounded time, blocking ops wait for it
// =============================================================================================

TEST_CASE("lfkit: a producer stopped between claim and publish makes try_pop fail, not hang",
          "[queue][busy]") {
  // Both waiting regimes: a small ring (looks) and a streaming one (looks for a lone producer,
  // then back-offs), and a ring large enough for the longest back-off.
  const std::size_t capacity = GENERATE(below_streaming, streaming, longest_backoff);
  CAPTURE(capacity);
  lfkit::mpmc_queue<int, gated_atomic> q(capacity);
  gate g;
  REQUIRE(g.hold([&] { (void)q.try_push(7); }));  // claims position 0, stops before publishing
  CHECK(q.size_approx() == 1);                    // claimed: counted, not yet poppable
  int x = 0;
  const auto t0 = steady::now();
  lfkit_test::t_pauses = lfkit_test::t_yields = 0;
  CHECK_FALSE(q.try_pop(x));       // the documented busy-slot failure: bounded wait, then false
  CHECK(steady::now() - t0 < 1s);  // loose: only "did not wait for the stalled thread"
  // The preface's bound, counted: at most max_failing_pauses pause hints and busy_yields yields
  // (all of them, before it fails); with the longest back-off, exactly that many pauses.
  CHECK(lfkit_test::t_pauses <= lfkit::detail::queue_tuning::max_failing_pauses);
  CHECK(lfkit_test::t_yields == lfkit::detail::queue_tuning::busy_yields);
  if (capacity >= longest_backoff) {
    CHECK(lfkit_test::t_pauses == lfkit::detail::queue_tuning::max_failing_pauses);
  }
  std::atomic<bool> popped{false};
  g.spawn([&] { popped.store(q.pop(x)); });  // a blocking pop waits for it instead
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(popped.load());
  g.finish();
  CHECK(popped.load());
  CHECK(x == 7);
}

lfkit::mpmc_queue<int, gated_atomic>* g_handoff_queue = nullptr;
std::atomic<bool> g_handoff_pushed{false};

TEST_CASE("lfkit: try_pop takes the element of a lone producer that publishes while it looks",
          "[queue][busy]") {
  // The handoff case: a consumer reaches the producer's position between the claim and the
  // publish, and that push is the only one in flight. The try_pop must neither fail nor go
  // through a back-off: it looks at the slot again and takes the element. A small ring looks
  // before the verdict, a streaming one after finding the producer alone. With `moved_on`, a
  // second push lands at that same instant (the producers moved on): the streaming ring then
  // backs off first, but must still take the element rather than fail.
  const std::size_t capacity = GENERATE(below_streaming, streaming);
  const bool moved_on = GENERATE(false, true);
  CAPTURE(capacity, moved_on);
  lfkit::mpmc_queue<int, gated_atomic> q(capacity);
  g_handoff_queue = &q;
  g_handoff_pushed.store(false);
  gate g;
  REQUIRE(g.hold([&] { (void)q.try_push(7); }));  // claims position 0, stops before publishing
  int x = 0;
  // The looks are the only relaxed stamp loads of a pop: the producer publishes just before the
  // first one. Without the looks nothing opens the gate: the call goes busy, backs off, yields
  // and fails (the held producer never publishes), so `got` is false.
  gate::open_at_load(std::memory_order_relaxed, 1,
                     moved_on ? +[] { g_handoff_pushed.store(g_handoff_queue->try_push(8)); }
                              : nullptr);
  const bool got = q.try_pop(x);
  const int loads = gate::disarm();
  CHECK(got);
  CHECK(x == 7);
  CHECK(loads >= 1);  // taken from a look
  if (moved_on) {
    REQUIRE(g_handoff_pushed.load());
    REQUIRE(q.try_pop(x));
    CHECK(x == 8);
  }
  CHECK(q.size_approx() == 0);
}

TEST_CASE("lfkit: a consumer stopped between claim and release makes try_push fail, not hang",
          "[queue][busy]") {
  // A full ring whose oldest element's consumer stops mid-pop: capacity 1, and either side of the
  // streaming threshold (looks / back-offs). Stamp mode only: in word mode a pop holds no slot.
  const std::size_t capacity = GENERATE(std::size_t{1}, below_streaming, streaming);
  CAPTURE(capacity);
  lfkit::mpmc_queue<stamped_int, gated_atomic> q(capacity);
  for (int i = 1; i <= static_cast<int>(capacity); ++i) REQUIRE(q.try_push(i));
  gate g;
  REQUIRE(g.hold([&] {
    stamped_int y;
    (void)q.try_pop(y);  // claims the oldest element, stops before releasing the slot
  }));
  CHECK(q.size_approx() == capacity - 1);  // not full...
  const auto t0 = steady::now();
  lfkit_test::t_pauses = lfkit_test::t_yields = 0;
  CHECK_FALSE(q.try_push(2));  // ...but the slot at the tail is busy: bounded wait, then false
  CHECK(steady::now() - t0 < 1s);
  CHECK(lfkit_test::t_pauses <= lfkit::detail::queue_tuning::max_failing_pauses);
  CHECK(lfkit_test::t_yields == lfkit::detail::queue_tuning::busy_yields);
  CHECK_FALSE(q.try_push_for(3, 20ms));  // timed: gives up at the deadline
  std::atomic<bool> pushed{false};
  g.spawn([&] { pushed.store(q.push(4)); });
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(pushed.load());
  g.finish();
  CHECK(pushed.load());
  stamped_int x;
  int last = 0;
  std::size_t n = 0;
  while (q.try_pop(x)) {
    ++n;
    last = x.v;
  }
  CHECK(n == capacity);  // elements 2..capacity, then the blocked push's 4
  CHECK(last == 4);
}

// =============================================================================================
// Word mode (elements of at most 8 bytes): pops read before they claim, write no tag or word
// =============================================================================================

lfkit::mpmc_queue<int, gated_atomic>* g_word_queue = nullptr;
int g_word_taken = 0;
bool g_word_pushed = false;

TEST_CASE(
    "lfkit: word mode: a pop interrupted between its read and its claim takes the new element",
    "[queue][word]") {
  // A word-mode pop reads the element, then claims it with its CAS. At that instant (its first
  // relaxed load), as a signal handler could, another pop takes the element and a push reuses the
  // slot (the ring was full, so the push needs exactly that slot, and must not find it busy).
  // The interrupted pop's CAS must fail, and it must return the next element, not the word it
  // read: a pop that kept it would return 1 twice.
  const std::size_t capacity = GENERATE(std::size_t{1}, std::size_t{2}, streaming);
  CAPTURE(capacity);
  lfkit::mpmc_queue<int, gated_atomic> q(capacity);
  g_word_queue = &q;
  for (int i = 1; i <= static_cast<int>(capacity); ++i) REQUIRE(q.try_push(i));
  g_word_taken = 0;
  g_word_pushed = false;
  lfkit_test::t_at_relaxed_load = +[]() noexcept {
    g_word_pushed = g_word_queue->try_pop(g_word_taken) && g_word_queue->try_push(100);
  };
  int x = 0;
  REQUIRE(q.try_pop(x));
  CHECK(lfkit_test::t_at_relaxed_load == nullptr);  // the interruption ran
  lfkit_test::t_at_relaxed_load = nullptr;
  CHECK(g_word_taken == 1);
  CHECK(g_word_pushed);
  std::vector<int> rest{x};
  while (q.try_pop(x)) rest.push_back(x);
  std::vector<int> want;
  for (int i = 2; i <= static_cast<int>(capacity); ++i) want.push_back(i);
  want.push_back(100);
  CHECK(rest == want);
}

int g_claim_losses = 0;  // interruptions left to run in the test below
std::vector<int> g_claim_taken;
void claim_interrupt() noexcept {  // another pop at that instant; re-arms while losses are left
  int v = 0;
  if (g_word_queue->try_pop(v)) g_claim_taken.push_back(v);
  if (--g_claim_losses > 0) lfkit_test::t_at_relaxed_load = claim_interrupt;
}

TEST_CASE("lfkit: a pop that loses its claim backs off, twice as long at each loss in the call",
          "[queue][claim]") {
  // A word-mode pop reads the element, then claims it. At that instant (its relaxed load of the
  // word), twice, another pop takes the element first, so the interrupted pop's CAS fails twice:
  // it pauses claim_backoff_min hints after the first loss and twice that after the second
  // (queue_tuning), and then takes the third element. Nothing else in these calls pauses.
  lfkit::mpmc_queue<int, gated_atomic> q(streaming);
  g_word_queue = &q;
  for (int i = 1; i <= 4; ++i) REQUIRE(q.try_push(i));
  g_claim_losses = 2;
  g_claim_taken.clear();
  g_claim_taken.reserve(2);  // no allocation inside the interrupted load
  lfkit_test::t_at_relaxed_load = claim_interrupt;
  lfkit_test::t_pauses = 0;
  int x = 0;
  REQUIRE(q.try_pop(x));
  const unsigned pauses = lfkit_test::t_pauses;
  lfkit_test::t_at_relaxed_load = nullptr;
  CHECK(g_claim_losses == 0);  // both interruptions ran
  CHECK(g_claim_taken == std::vector<int>{1, 2});
  CHECK(x == 3);
  constexpr unsigned first = lfkit::detail::queue_tuning::claim_backoff_min;
  static_assert(2 * first <= lfkit::detail::queue_tuning::claim_backoff_max);
  CHECK(pauses == first + 2 * first);
  REQUIRE(q.try_pop(x));
  CHECK(x == 4);
}

TEST_CASE("lfkit: word mode: small trivially copyable types round-trip, bulk runs of any length",
          "[queue][word]") {
  struct three {
    char c[3];
  };
  struct sixteen {
    std::uint64_t a, b;
  };
  static_assert(lfkit::mpmc_queue<char>::word_mode && lfkit::mpmc_queue<three>::word_mode &&
                lfkit::mpmc_queue<double>::word_mode && lfkit::mpmc_queue<int*>::word_mode);
  static_assert(!lfkit::mpmc_queue<sixteen>::word_mode &&
                !lfkit::mpmc_queue<std::string>::word_mode);
  lfkit::mpmc_queue<three> t(3);
  REQUIRE(t.try_push(three{{'a', 'b', 'c'}}));
  three got{};
  REQUIRE(t.try_pop(got));
  CHECK((got.c[0] == 'a' && got.c[1] == 'b' && got.c[2] == 'c'));
  lfkit::mpmc_queue<double> d(2);
  REQUIRE(d.try_push(-0.5));
  double dv = 0;
  REQUIRE(d.try_pop(dv));
  CHECK(dv == -0.5);
  // Bulk: a word-mode pop claims at most word_run_max elements per CAS (it reads them first);
  // longer requests, and runs that wrap the ring, lose and reorder nothing.
  const std::size_t capacity = GENERATE(std::size_t{5}, std::size_t{100});
  CAPTURE(capacity);
  lfkit::mpmc_queue<std::uint64_t> q(capacity);
  std::vector<std::uint64_t> in(3 * capacity), out(3 * capacity);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = i * 7 + 1;
  std::size_t pushed = 0, popped = 0;
  while (popped < in.size()) {
    pushed += q.try_push_n(in.begin() + static_cast<std::ptrdiff_t>(pushed), in.size() - pushed);
    CHECK(q.size_approx() == pushed - popped);
    popped += q.try_pop_n(out.begin() + static_cast<std::ptrdiff_t>(popped), in.size() - popped);
  }
  CHECK(out == in);
}

TEST_CASE("lfkit: word mode: many laps at ring sizes around the touch distance lose nothing",
          "[queue][word]") {
  // A pop that finishes a cache line (4 slots of 16 bytes) stores to a slot touch_lines lines
  // behind, wrapping to the ring's end, on streaming rings only; capacities around that bound and
  // the touch distance, with the ring part full, walk the wrap for many laps (ASan checks the
  // index), and every lap moves the tags (lap + 1).
  using Q = lfkit::mpmc_queue<std::uint64_t>;
  static constexpr std::size_t per_line = 4;
  static constexpr std::size_t d = lfkit::detail::queue_tuning::touch_lines * per_line;
  static constexpr std::size_t s = lfkit::detail::queue_tuning::streaming_ring_min;
  const std::size_t capacity =
      GENERATE(std::size_t{1}, d - 1, d, d + per_line + 1, s - 1, s, s + 1, s + per_line - 1,
               s + per_line, s + d - 1, s + d, s + d + 1, 3 * s + 1);
  const std::size_t lag = GENERATE(std::size_t{0}, std::size_t{3});
  CAPTURE(capacity, lag);
  if (lag >= capacity) return;
  Q q(capacity);
  std::uint64_t next_in = 0, next_out = 0;
  for (; next_in < lag; ++next_in) REQUIRE(q.try_push(next_in));
  bool in_order = true, never_failed = true;
  for (std::size_t i = 0; i < 40 * capacity + 100; ++i) {
    never_failed = never_failed && q.try_push(next_in++);
    std::uint64_t x = 0;
    never_failed = never_failed && q.try_pop(x);
    in_order = in_order && x == next_out++;
  }
  // The same through bulk runs: a run's pops touch too.
  std::vector<std::uint64_t> in(capacity), out(capacity);
  for (int round = 0; round < 20; ++round) {
    for (auto& v : in) v = next_in++;
    const std::size_t n = q.try_push_n(in.begin(), capacity - lag);
    never_failed = never_failed && n == capacity - lag;
    const std::size_t m = q.try_pop_n(out.begin(), n);
    never_failed = never_failed && m == n;
    for (std::size_t k = 0; k < m; ++k) in_order = in_order && out[k] == next_out++;
    next_in -= capacity - n;  // values not pushed are offered again
  }
  CHECK(never_failed);
  CHECK(in_order);
  CHECK(q.size_approx() == lag);
}

TEST_CASE("lfkit: drained() is exact while a push that claimed before close() is unpublished",
          "[queue][close]") {
  // The trap: after close(), try_pop() == false && is_closed() while a producer that claimed its
  // slot before the close has not yet published. drained() must stay false until that element
  // has been popped.
  const std::size_t capacity = GENERATE(below_streaming, streaming);
  CAPTURE(capacity);
  lfkit::mpmc_queue<int, gated_atomic> q(capacity);
  CHECK_FALSE(q.drained());  // open: never drained
  REQUIRE(q.try_push(1));
  gate g;
  REQUIRE(g.hold([&] { (void)q.try_push(2); }));  // claims position 1, stops before publishing
  q.close();
  CHECK(q.is_closed());
  CHECK_FALSE(q.drained());
  int x = 0;
  REQUIRE(q.try_pop(x));
  CHECK(x == 1);
  CHECK_FALSE(q.try_pop(x));  // busy: false, and closed...
  CHECK(q.is_closed());
  CHECK_FALSE(q.drained());  // ...but not drained: element 2 is on its way
  CHECK_FALSE(q.try_push(3));
  g.finish();  // the held push publishes: it claimed before the close
  CHECK_FALSE(q.drained());
  REQUIRE(q.try_pop(x));
  CHECK(x == 2);
  CHECK(q.drained());
  CHECK_FALSE(q.try_pop(x));
  CHECK_FALSE(q.pop(x));  // blocking pop: closed and drained
}

TEST_CASE("lfkit: drained() is true only when closed and empty", "[queue][close]") {
  lfkit::mpmc_queue<int> q(4);
  CHECK_FALSE(q.drained());
  REQUIRE(q.try_push(1));
  q.close();
  CHECK_FALSE(q.drained());
  int x = 0;
  REQUIRE(q.pop(x));
  CHECK(q.drained());
  lfkit::mpmc_queue<int> empty(4);
  empty.close();
  CHECK(empty.drained());
}

TEMPLATE_TEST_CASE("NaN durations and time points time out at once", "[queue][timeout]", lfkit_impl,
                   perturbed_impl, mutex_impl) {
  queue_contract::nan_deadlines_expire<typename TestType::template queue<int>>();
}
