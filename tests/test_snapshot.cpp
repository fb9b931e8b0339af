// SPDX-License-Identifier: BSL-1.0
// Tests for lfkit::snapshot and its lock-based baselines (issue 4).
#include <catch2/catch.hpp>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "lfkit/baseline/locked_snapshot.hpp"
#include "lfkit/snapshot.hpp"
#include "perturbed_atomic.hpp"
#include "support.hpp"

namespace {
using lfkit::stress::perturbation_scope;

/// The seed problem: two counters that must stay equal, plus a payload derived from them.
struct pair_value {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::array<std::uint64_t, 2> payload{};
  static pair_value of(std::uint64_t n) { return pair_value{n, n, {n * 3, n * 7}}; }
  bool consistent() const { return a == b && payload[0] == a * 3 && payload[1] == a * 7; }
};

pair_value next_of(const pair_value& p) { return pair_value::of(p.a + 1); }

// ---- a T that records its life -----------------------------------------------------------------
constexpr std::size_t kMaxTracked = 1 << 20;
std::unique_ptr<std::atomic<int>[]> g_destroyed(
    new std::atomic<int>[ kMaxTracked ]);  // zeroed below
std::atomic<std::size_t> g_next_id{0};
std::atomic<std::size_t> g_double_destroy{0};
constexpr std::uint64_t kAlive = 0xA11FE00DA11FE00Dull;
constexpr std::uint64_t kDead = 0xDEADDEADDEADDEADull;

void reset_tracking() {
  for (std::size_t i = 0; i < kMaxTracked; ++i) g_destroyed[i].store(0, std::memory_order_relaxed);
  g_next_id.store(0);
  g_double_destroy.store(0);
}

struct tracked {
  std::size_t id;
  std::uint64_t value;
  std::uint64_t magic = kAlive;
  explicit tracked(std::uint64_t v) : id(g_next_id.fetch_add(1)), value(v) {}
  tracked(const tracked& o) : id(g_next_id.fetch_add(1)), value(o.value) {}
  tracked(tracked&& o) noexcept : id(g_next_id.fetch_add(1)), value(o.value) {}
  tracked& operator=(const tracked&) = delete;
  ~tracked() {
    if (magic != kAlive || g_destroyed[id].fetch_add(1) != 0) g_double_destroy.fetch_add(1);
    magic = kDead;
  }
  bool alive() const { return magic == kAlive && g_destroyed[id].load() == 0; }
};

/// How many of the tracked values made since reset_tracking() were not destroyed exactly once.
std::size_t not_destroyed_once() {
  const std::size_t n = g_next_id.load();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += g_destroyed[i].load() != 1;
  return wrong;
}

/// A test's closing check: every tracked value made since reset_tracking() was destroyed exactly
/// once (none leaked, none destroyed twice).
void check_each_destroyed_once() {
  CHECK(not_destroyed_once() == 0);
  CHECK(g_double_destroy.load() == 0);
}

}  // namespace

using lfkit_snap = lfkit::snapshot<pair_value>;
using shared_mutex_snap = lfkit::baseline::locked_snapshot<pair_value>;
using mutex_snap = lfkit::baseline::mutex_snapshot<pair_value>;

// ================================================================================================
// Semantics shared with the baselines
// ================================================================================================

TEMPLATE_TEST_CASE("snapshot semantics: load, store, exchange, update, emplace, version",
                   "[snapshot]", lfkit_snap, shared_mutex_snap, mutex_snap) {
  TestType s(pair_value::of(5));
  {
    auto g = s.load();
    REQUIRE(g);
    CHECK(g->a == 5);
    CHECK((*g).b == 5);
    CHECK(g.get() == &*g);
    CHECK(g.version() == 0);
  }
  CHECK(s.version() == 0);

  s.store(pair_value::of(6));
  CHECK(s.version() == 1);
  CHECK(s.load()->a == 6);
  CHECK(s.load().version() == 1);

  auto old = s.exchange(pair_value::of(7));
  REQUIRE(old);
  CHECK(old->a == 6);
  CHECK(old.version() == 1);
  CHECK(s.load()->a == 7);
  CHECK(s.version() == 2);

  const std::uint64_t v = s.update([](const pair_value& p) { return pair_value::of(p.a * 10); });
  CHECK(v == 3);
  CHECK(s.version() == 3);
  CHECK(s.load()->a == 70);
  CHECK(s.load()->consistent());

  s.emplace(pair_value::of(8));
  CHECK(s.load()->a == 8);
  CHECK(s.version() == 4);
  CHECK(old->a == 6);  // the exchanged-out version is still intact

  auto g = s.load();
  auto moved = std::move(g);
  CHECK_FALSE(g);  // NOLINT: testing moved-from state
  CHECK(g.get() == nullptr);
  REQUIRE(moved);
  moved.reset();
  CHECK_FALSE(moved);
}

TEMPLATE_TEST_CASE("guards outlive many updates unchanged", "[snapshot]", lfkit_snap,
                   shared_mutex_snap, mutex_snap) {
  TestType s(pair_value::of(0));
  std::vector<typename TestType::guard> held;
  for (std::uint64_t i = 1; i <= 200; ++i) {
    if (i % 40 == 0) held.push_back(s.load());  // keep a few versions alive
    s.store(pair_value::of(i));
  }
  auto g0 = s.load();
  for (int i = 0; i < 1000; ++i) s.update(next_of);
  REQUIRE(held.size() == 5);
  for (std::size_t k = 0; k < held.size(); ++k) {
    CHECK(held[k]->a == 40 * (k + 1) - 1);
    CHECK(held[k]->consistent());
  }
  CHECK(g0->a == 200);
  CHECK(s.load()->a == 1200);
  CHECK(s.version() == 1200);
}

TEMPLATE_TEST_CASE("update composes under contention: N threads x M increments", "[snapshot]",
                   lfkit_snap, shared_mutex_snap, mutex_snap) {
  constexpr int N = 4;
  constexpr int M = 2000;
  TestType s(pair_value::of(0));
  std::atomic<std::uint64_t> calls{0};
  std::atomic<bool> torn{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < N; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < M; ++i) {
        s.update([&](const pair_value& p) {
          calls.fetch_add(1, std::memory_order_relaxed);
          if (!p.consistent()) torn.store(true);
          return next_of(p);
        });
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK_FALSE(torn.load());
  CHECK(s.load()->a == std::uint64_t{N} * M);
  CHECK(s.load()->consistent());
  CHECK(s.version() == std::uint64_t{N} * M);
  CHECK(calls.load() >= std::uint64_t{N} * M);
}

// ================================================================================================
// lfkit::snapshot specifics
// ================================================================================================

TEST_CASE("snapshot constructors and bad options", "[snapshot]") {
  lfkit::snapshot<std::string> s1;
  CHECK(s1.load()->empty());
  lfkit::snapshot<std::string> s2(std::in_place, 3, 'x');
  CHECK(*s2.load() == "xxx");
  lfkit::snapshot s3(pair_value::of(2));  // CTAD
  CHECK(s3.load()->a == 2);
  lfkit::snapshot<pair_value> s4(pair_value::of(1), lfkit::snapshot_options{1});
  CHECK(s4.reclaim_batch() == 1);

  lfkit::snapshot<pair_value> s5(pair_value::of(1));  // 0 = the default: ~64 KiB of versions
  CHECK(s5.reclaim_batch() == lfkit::snapshot_default_batch<pair_value>);
  CHECK(lfkit::snapshot_default_batch<pair_value> == 1024);
  CHECK(lfkit::snapshot_default_batch<std::array<char, 1 << 16>> == 16);
  CHECK_THROWS_AS(lfkit::snapshot<int>(1, lfkit::snapshot_options{(1u << 20) + 1}),
                  std::invalid_argument);
  CHECK_THROWS_WITH(lfkit::snapshot<int>(1, lfkit::snapshot_options{(1u << 20) + 1}),
                    Catch::Contains("reclaim_batch = 1048577"));
  CHECK_NOTHROW(lfkit::snapshot<int>(1, lfkit::snapshot_options{1u << 20}));
}

TEST_CASE("retired versions stay within the documented bound with K live guards", "[snapshot]") {
  for (std::size_t batch : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
    for (std::size_t k : {std::size_t{0}, std::size_t{3}, std::size_t{7}}) {
      lfkit::snapshot<pair_value> s(pair_value::of(0), lfkit::snapshot_options{batch});
      std::vector<lfkit::snapshot<pair_value>::guard> guards;
      for (std::size_t i = 0; i < k; ++i) {
        guards.push_back(s.load());  // k guards on k distinct versions
        s.store(pair_value::of(i + 1));
      }
      std::size_t max_seen = 0;
      for (std::uint64_t i = 0; i < 500; ++i) {
        s.update(next_of);
        const std::size_t r = s.retired_count();
        max_seen = std::max(max_seen, r);
        // Documented: retired_count() <= P + B - 1 (P = versions pinned at the last scan = k).
        REQUIRE(r <= k + batch - 1);
        // And pinned versions can never have been freed.
        REQUIRE(r >= k);
      }
      CHECK(max_seen == k + batch - 1);  // the bound is reached, so it is tight
      for (std::size_t i = 0; i < k; ++i) CHECK(guards[i]->a == i);
      guards.clear();
      CHECK(s.reclaim() == 0);
      CHECK(s.retired_count() == 0);
    }
  }
}

TEST_CASE("retired_count() while a scan is in progress counts by one scan", "[snapshot]") {
  // A reclaim() stopped at its first release store inside scan(), after judging: 3 of the 10
  // retired versions survive it. retired_count() meanwhile must read the state before that scan
  // or after it, never a mix: the new survivors plus all 10 unjudged versions (13) counts
  // versions that do not exist.
  using snap = lfkit::snapshot<pair_value, lfkit_test::gated_atomic>;
  snap s(pair_value::of(0), lfkit::snapshot_options{1024});
  std::vector<snap::guard> pinned;
  for (std::uint64_t i = 1; i <= 10; ++i) {
    if (i <= 3) pinned.push_back(s.load());
    s.store(pair_value::of(i));
  }
  const std::size_t before = s.retired_count();
  std::size_t during = 0;
  {
    lfkit_test::gate g;
    REQUIRE(g.hold([&] { (void)s.reclaim(); }));
    during = s.retired_count();
  }
  const std::size_t after = s.retired_count();
  CHECK(before == 10);
  CHECK(after == 3);
  CHECK(during <= before);
  CHECK(during >= after);
  pinned.clear();
  CHECK(s.reclaim() == 0);
}

TEST_CASE("every version is destroyed exactly once and never while guarded", "[snapshot]") {
  reset_tracking();
  {
    lfkit::snapshot<tracked> s(std::in_place, 0u);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> bad{0};
    std::atomic<std::uint64_t> reads{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          auto g = s.load();
          const std::uint64_t v = g->value;
          for (int spin = 0; spin < 50; ++spin) {
            if (!g->alive() || g->value != v) bad.fetch_add(1);
          }
          reads.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    // Let every reader get going first (the machine may be oversubscribed).
    while (reads.load() < 300) std::this_thread::yield();
    std::vector<lfkit::snapshot<tracked>::guard> held;
    for (std::uint64_t i = 1; i <= 20000; ++i) {
      if (i % 1000 == 0) std::this_thread::yield();
      if (i % 2000 == 0) held.push_back(s.load());
      if (i % 3 == 0) {
        s.update([](const tracked& t) { return tracked(t.value + 1); });
      } else if (i % 3 == 1) {
        s.store(tracked(i));
      } else {
        auto old = s.exchange(tracked(i));
        if (!old->alive()) bad.fetch_add(1);
      }
    }
    for (auto& g : held) CHECK(g->alive());
    stop.store(true);
    for (auto& t : readers) t.join();
    CHECK(bad.load() == 0);
    CHECK(reads.load() > 0);
    held.clear();
    s.reclaim();
    CHECK(s.retired_count() == 0);
  }
  REQUIRE(g_next_id.load() > 20000);
  check_each_destroyed_once();
}

TEST_CASE("a guard moved to another thread and released there keeps its version alive until then",
          "[snapshot]") {
  // A loads (its slot protects v0) and hands the guard to B. W retires v0. B reads v0 and releases
  // the guard on its own thread; A then reuses its slot for a new load; W's scan reads A's new slot
  // value and frees v0. W synchronises only with A, and B tells A it is done through a relaxed
  // flag, so B's reads happen-before the free only through the slot itself: load()'s check that
  // the slot is free must be an acquire pairing with the guard's release. Without it TSan reports
  // a race between B's reads and W's delete (and ASan could see the use after free).
  reset_tracking();
  for (int round = 0; round < 100; ++round) {
    lfkit::snapshot<tracked> s(tracked(1), lfkit::snapshot_options{1});
    lfkit::snapshot<tracked>::guard moved;
    std::atomic<int> step{0};
    std::atomic<int> b_done{0};
    std::atomic<bool> b_ok{false};
    std::thread a([&] {
      moved = s.load();
      step.store(1, std::memory_order_release);
      while (b_done.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
      auto again = s.load();  // reuses the slot B cleared
      step.store(3, std::memory_order_release);
      while (step.load(std::memory_order_acquire) != 4) std::this_thread::yield();
    });
    std::thread b([&] {
      while (step.load(std::memory_order_acquire) < 2) std::this_thread::yield();
      b_ok.store(moved->alive() && moved->value == 1, std::memory_order_relaxed);
      moved.reset();
      b_done.store(1, std::memory_order_relaxed);
    });
    std::thread w([&] {
      while (step.load(std::memory_order_acquire) < 1) std::this_thread::yield();
      s.store(tracked(2));  // retires v0, still protected by the moved guard's slot
      step.store(2, std::memory_order_release);
      while (step.load(std::memory_order_acquire) < 3) std::this_thread::yield();
      s.reclaim();  // frees v0
      step.store(4, std::memory_order_release);
    });
    a.join();
    b.join();
    w.join();
    CHECK(b_ok.load());
  }
  CHECK(g_double_destroy.load() == 0);
}

TEST_CASE("nested loads on one thread, beyond the per-thread slots, released out of order",
          "[snapshot]") {
  lfkit::snapshot<pair_value> s(pair_value::of(0), lfkit::snapshot_options{1});
  constexpr std::size_t depth = lfkit::snapshot_slots_per_thread * 3;
  std::vector<lfkit::snapshot<pair_value>::guard> gs;
  for (std::size_t i = 0; i < depth; ++i) {
    gs.push_back(s.load());  // as a handler would, interrupting a read that holds earlier guards
    s.store(pair_value::of(i + 1));
  }
  std::size_t fallback = 0;
  for (auto& g : gs) fallback += g.uses_fallback();
  CHECK(fallback >= depth - lfkit::snapshot_slots_per_thread);
  for (int i = 0; i < 100; ++i) s.update(next_of);
  // Release every other guard, then churn: the rest must still be intact.
  for (std::size_t i = 0; i < depth; i += 2) gs[i].reset();
  for (int i = 0; i < 100; ++i) s.update(next_of);
  for (std::size_t i = 1; i < depth; i += 2) {
    CHECK(gs[i]->a == i);
    CHECK(gs[i]->consistent());
  }
  CHECK(s.retired_count() == depth / 2);  // batch 1: exactly the pinned versions survive
  // Freed slots are reused: a new load takes a slot again.
  auto g = s.load();
  CHECK_FALSE(g.uses_fallback());
  gs.clear();
  g.reset();
  CHECK(s.reclaim() == 0);
}

TEST_CASE("fallback loads of one unchanging version never saturate the packed count",
          "[snapshot]") {
  lfkit::snapshot<pair_value> s(pair_value::of(1), lfkit::snapshot_options{1});
  std::vector<lfkit::snapshot<pair_value>::guard> fill;
  for (std::size_t i = 0; i < lfkit::snapshot_slots_per_thread; ++i) fill.push_back(s.load());
  // 16 bits of packed count would saturate after 65535 of these if the count were never moved.
  std::size_t fallback = 0;
  lfkit::snapshot<pair_value>::guard kept;
  for (int i = 0; i < 200000; ++i) {
    auto g = s.load();
    fallback += g.uses_fallback();
    if (!g->consistent() || g->a != 1) FAIL("wrong value");
    if (i == 100000) kept = std::move(g);  // one pin survives across flushes
  }
  CHECK(fallback == 200000);
  fill.clear();
  s.store(pair_value::of(2));  // version 0 is retired; `kept` still pins it
  CHECK(s.retired_count() == 1);
  CHECK(kept->a == 1);
  kept.reset();
  // Every pin was released: the count moved between head word and node must balance to zero.
  CHECK(s.reclaim() == 0);
  // Same with the pins left in the head word when the writer takes over.
  for (std::size_t i = 0; i < lfkit::snapshot_slots_per_thread; ++i) fill.push_back(s.load());
  for (int i = 0; i < 20000; ++i) (void)s.load();
  kept = s.load();
  s.store(pair_value::of(3));
  CHECK(s.reclaim() == 1);
  kept.reset();
  fill.clear();
  CHECK(s.reclaim() == 0);
}

TEST_CASE("fallback pins flushed while writers publish stay balanced", "[snapshot]") {
  lfkit::snapshot<pair_value> s(pair_value::of(0), lfkit::snapshot_options{2});
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      std::vector<lfkit::snapshot<pair_value>::guard> fill;
      for (std::size_t i = 0; i < lfkit::snapshot_slots_per_thread; ++i) fill.push_back(s.load());
      ready.fetch_add(1);
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed) || n < 100000) {
        auto g = s.load();  // fallback: every slot of this thread is taken
        if (!g.uses_fallback() || !g->consistent()) bad.fetch_add(1);
        ++n;
      }
    });
  }
  while (ready.load() < 3) std::this_thread::yield();
  for (int i = 0; i < 3000; ++i) {
    s.update(next_of);
    if (i % 64 == 0) std::this_thread::yield();
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  CHECK(bad.load() == 0);
  CHECK(s.load()->a == 3000);
  CHECK(s.reclaim() == 0);  // every fallback pin was accounted for exactly once
}

namespace {
enum class pinned_publish { compare_exchange, exchange };

/// A writer W whose every slot holds a guard on another snapshot protects version 0 of `s` by a
/// fallback pin alone (a count in the head word), publishes over it, and stops right after its
/// publishing CAS, before it moves that count into version 0's pins (16). A reclaim() started
/// then must not destroy version 0: it waits on the scan lock W's publish holds. Checks that
/// version 0 was still alive when W's call returned (W's `expected` / exchange()'s guard).
void check_fallback_publish_keeps_version(pinned_publish op) {
  using snap = lfkit::snapshot<tracked, lfkit_test::gated_atomic>;
  snap s(tracked(1));
  lfkit::snapshot<int, lfkit_test::gated_atomic> other(0);  // same domain: shares W's slots
  lfkit_test::gate g;
  std::atomic<bool> by_pin{false};
  std::atomic<bool> intact{false};
  REQUIRE(g.hold(
      [&] {
        std::vector<decltype(other.load())> fill;
        for (std::size_t i = 0; i < lfkit::snapshot_slots_per_thread; ++i) {
          fill.push_back(other.load());
        }
        if (op == pinned_publish::compare_exchange) {
          auto cur = s.load();
          by_pin = !fill.back().uses_fallback() && cur.uses_fallback();
          const bool ok = s.compare_exchange(cur, tracked(2));  // stops before the transfer
          intact = ok && cur->alive() && cur->value == 1;
        } else {
          // Every slot is in use, so exchange() protects version 0 by a fallback pin. (No other
          // fallback load here: its release would leave version 0's pins at -1, never 0.)
          by_pin = !fill.back().uses_fallback();
          auto old = s.exchange(tracked(2));  // stops before the transfer
          intact = old->alive() && old->value == 1;
        }
      },
      lfkit::stress::atomic_op::rmw));  // the first release RMW: the pin transfer (16)
  const int sleeps = lfkit_test::g_gate_sleeps.load();
  std::atomic<bool> reclaimed{false};
  g.spawn([&] {
    (void)s.reclaim();
    reclaimed = true;
  });
  // The reclaim sleeps on the scan lock W holds; without that lock it runs to the end now.
  REQUIRE(lfkit_test::eventually(
      [&] { return reclaimed.load() || lfkit_test::g_gate_sleeps.load() > sleeps; }));
  g.finish();
  CHECK(by_pin.load());  // the scenario: W's own protection was a fallback pin
  CHECK(intact.load());
  CHECK(s.reclaim() == 0);
}
}  // namespace

// A publish over a version its writer holds by a fallback pin runs under the scan lock
// (try_publish): without it a scan between the CAS and the pin transfer frees the version.
TEST_CASE("a publish over a fallback-pinned version keeps it from a concurrent scan",
          "[snapshot]") {
  reset_tracking();
  SECTION("compare_exchange whose `expected` is a fallback pin") {
    check_fallback_publish_keeps_version(pinned_publish::compare_exchange);
  }
  SECTION("exchange on a thread whose slots are all in use") {
    check_fallback_publish_keeps_version(pinned_publish::exchange);
  }
  check_each_destroyed_once();
}

namespace {
/// snapshot's pin_flush: "a fallback load that raises [the packed count] to 16384 moves it into
/// the version's own 64-bit counter" (flush_pins).
constexpr std::size_t kPinFlush = 16384;

enum class flush_race { publish, other_flush };

/// The flush tests' snapshots: version 0 of a gated_snap is what the readers pin; a gated_other
/// of the same domain fills their hazard slots, so their loads of the first take fallback pins.
using gated_snap = lfkit::snapshot<tracked, lfkit_test::gated_atomic>;
using gated_other = lfkit::snapshot<int, lfkit_test::gated_atomic>;

/// Guards on `other` in every hazard slot of the calling thread.
std::vector<gated_other::guard> fill_slots(gated_other& other) {
  std::vector<gated_other::guard> fill;
  for (std::size_t i = 0; i < lfkit::snapshot_slots_per_thread; ++i) fill.push_back(other.load());
  return fill;
}

/// kPinFlush fallback pins on `s` (the caller's slots full): the last one raises the head count to
/// pin_flush and flushes it, stopping before flush_pins's CAS (the first release RMW here) when
/// the thread is held.
std::vector<gated_snap::guard> take_flush_pins(gated_snap& s) {
  std::vector<gated_snap::guard> pins;
  pins.reserve(kPinFlush);
  for (std::size_t i = 0; i < kPinFlush; ++i) pins.push_back(s.load());
  return pins;
}

/// How many of `pins` still see version 0's value 1, not destroyed.
std::size_t count_intact(const std::vector<gated_snap::guard>& pins) {
  std::size_t n = 0;
  for (const auto& p : pins) n += p->alive() && p->value == 1;
  return n;
}

/// A reader R whose every slot holds a guard on another snapshot of the same domain takes
/// kPinFlush fallback pins on version 0 of `s` and keeps them all. Its last pin raises the count
/// in the head word to pin_flush, so R's flush_pins adds the count to version 0's pins and stops
/// right before the CAS that would zero the head count. Meanwhile a writer publishes (and moves
/// the count into version 0's pins itself), or another reader's fallback pin raises the count
/// further and flushes it first. R's CAS then fails and R must take back what it added (the
/// undo): its pins would otherwise count twice, and version 0 would never be freed. Checks that
/// R took that path (its held CAS, then one relaxed RMW: the undo, then nothing until it
/// returned), that version 0 outlives each of R's guards (no undo too many), and that once every
/// guard is gone a reclaim leaves nothing retired (no undo missing).
void check_flush_undo(flush_race race) {
  using snap = gated_snap;
  using other_snap = gated_other;
  snap s(tracked(1), lfkit::snapshot_options{1});
  other_snap other(0);        // same domain: its guards fill the slots of R (and of this thread)
  std::atomic<int> phase{0};  // R and this thread take turns; R waits at most 5 s for a turn
  std::atomic<std::size_t> by_pin{0}, intact{0};
  auto turn = [&](int n) { return lfkit_test::eventually([&] { return phase.load() >= n; }); };
  lfkit_test::gate g;  // declared last: its destructor joins R before what R uses goes
  REQUIRE(g.hold(
      [&] {
        auto fill = fill_slots(other);
        auto pins = take_flush_pins(s);  // the last one's flush stops before its CAS
        for (auto& p : pins) by_pin += p.uses_fallback();
        phase = 1;
        if (!turn(2)) return;
        intact += count_intact(pins);  // after a reclaim with every pin held
        pins.resize(1);                // releases all but the first
        phase = 3;
        if (!turn(4)) return;
        intact += count_intact(pins);  // after a reclaim with one pin held
        pins.clear();
        phase = 5;
      },
      lfkit::stress::atomic_op::rmw));
  CHECK(lfkit_test::g_gate_traced.load() == 0);  // R is stopped before its held step
  if (race == flush_race::publish) {
    s.store(tracked(2));  // moves the head count (R's kPinFlush pins) into version 0's pins; scans
    CHECK(s.retired_count() == 1);  // version 0 kept: R's pins
  } else {
    auto fill = fill_slots(other);
    auto extra = s.load();  // one more fallback pin: this load flushes the count and succeeds
    CHECK(extra.uses_fallback());
    extra.reset();
    fill.clear();
    s.store(tracked(2));
    CHECK(s.retired_count() == 1);
  }
  g.open();
  REQUIRE(turn(1));
  // R's path once resumed: its CAS (the held step), then the undo, and nothing else before its
  // load() returned (no retry, no guard released).
  const int traced = lfkit_test::g_gate_traced.load();
  CHECK(traced == 2);
  CHECK(lfkit_test::gate_trace(0) ==
        lfkit_test::gate_step{lfkit::stress::atomic_op::rmw, std::memory_order_release});
  if (traced >= 2) {
    CHECK(lfkit_test::gate_trace(1) ==
          lfkit_test::gate_step{lfkit::stress::atomic_op::rmw, std::memory_order_relaxed});
  }
  CHECK(s.reclaim() == 1);  // R holds kPinFlush pins on version 0
  phase = 2;
  REQUIRE(turn(3));
  CHECK(s.reclaim() == 1);  // R holds one pin
  phase = 4;
  REQUIRE(turn(5));
  CHECK(s.reclaim() == 0);  // every pin released: the count balances to 0
  CHECK(s.retired_count() == 0);
  g.finish();
  CHECK(by_pin.load() == kPinFlush);
  CHECK(intact.load() == kPinFlush + 1);
}
}  // namespace

// flush_pins adds the head word's pin count to the version's pins, then CASes the count out of
// the head word; when the head word changed in between, it takes the addition back. Stress runs
// reach that undo rarely: here a reader is stopped between the two steps while the conflicting
// operation happens.
TEST_CASE("a pin flush that loses the head word to another step takes its addition back",
          "[snapshot]") {
  reset_tracking();
  SECTION("a writer publishes between the flush's add and its CAS") {
    check_flush_undo(flush_race::publish);
  }
  SECTION("another reader's pin flushes the count first") {
    check_flush_undo(flush_race::other_flush);
  }
  check_each_destroyed_once();
}

namespace {
/// flush_pins's retry: two readers A and B, each with every slot holding a guard on another
/// snapshot of the same domain, take fallback pins on version 0 of `s`. A's kPinFlush-th pin
/// raises the head count to pin_flush, so A adds kPinFlush to version 0's pins and is stopped
/// before its CAS; B's one pin then raises the count to pin_flush + 1, so B adds that count too
/// and is stopped before its CAS. A goes first: its CAS fails on B's pin, it takes its addition
/// back, and since the head word still holds version 0 with at least pin_flush pins it retries
/// with the count it saw: adds pin_flush + 1 and CASes the count out of the head word. Then B
/// goes: its CAS fails on the zeroed count, it takes its addition back and stops (done by
/// another). Checks the two paths step by step (A: CAS, undo, add, CAS; B: CAS, undo), that
/// version 0 outlives every guard but the last (no pin lost), and that a reclaim after the last
/// one leaves nothing retired (no pin counted twice).
void check_flush_retry() {
  using snap = gated_snap;
  using other_snap = gated_other;
  using lfkit::stress::atomic_op;
  snap s(tracked(1), lfkit::snapshot_options{1});
  other_snap other(0);        // same domain: its guards fill the slots of A and B
  std::atomic<int> phase{0};  // A, B and this thread take turns; each waits at most 5 s
  std::atomic<std::size_t> by_pin{0}, intact{0};
  auto turn = [&](int n) { return lfkit_test::eventually([&] { return phase.load() >= n; }); };
  lfkit_test::gate g;  // declared last: its destructor joins A and B before what they use goes
  REQUIRE(g.hold(
      [&] {  // A, held thread 1
        auto fill = fill_slots(other);
        auto pins = take_flush_pins(s);  // the last one's flush stops before its CAS
        for (auto& p : pins) by_pin += p.uses_fallback();
        phase = 1;
        if (!turn(5)) return;
        intact += count_intact(pins);  // after a reclaim with every pin of A held
        pins.resize(1);                // releases all but the first
        phase = 6;
        if (!turn(7)) return;
        intact += count_intact(pins);  // after a reclaim with one pin of A held
        pins.clear();
        phase = 8;
      },
      atomic_op::rmw, 1));
  REQUIRE(g.hold(
      [&] {  // B, held thread 2
        auto fill = fill_slots(other);
        auto mine = s.load();  // pin_flush + 1: flushes, stops before its CAS
        by_pin += mine.uses_fallback();
        phase = 2;
        if (!turn(3)) return;
        intact += mine->alive() && mine->value == 1;  // after a reclaim with every pin held
        mine.reset();
        phase = 4;
      },
      atomic_op::rmw, 2));
  CHECK(lfkit_test::g_gate_traced.load() == 0);  // both stopped before their held step
  CHECK(lfkit_test::g_gate_waiting.load() == 2);
  const lfkit_test::gate_step cas{atomic_op::rmw, std::memory_order_release};
  const lfkit_test::gate_step undo_or_add{atomic_op::rmw, std::memory_order_relaxed};
  auto traced_is = [](int from, std::vector<lfkit_test::gate_step> want) {
    bool same = true;
    for (std::size_t i = 0; i < want.size(); ++i) {
      same = same && lfkit_test::gate_trace(from + static_cast<int>(i)) == want[i];
    }
    return same;
  };
  lfkit_test::gate::let_through(1);  // A only
  REQUIRE(turn(1));
  // A's path once resumed, up to its load()'s return: the failed CAS, the undo, the retry's add
  // and its CAS (which passed the gate too), nothing else.
  int traced = lfkit_test::g_gate_traced.load();
  CHECK(traced == 4);
  if (traced == 4) CHECK(traced_is(0, {cas, undo_or_add, undo_or_add, cas}));
  CHECK(lfkit_test::g_gate_waiting.load() == 1);  // B still held
  lfkit_test::gate::let_through(2);               // B too
  REQUIRE(turn(2));
  // B's path: its CAS fails on the count A moved out, the undo, no retry.
  traced = lfkit_test::g_gate_traced.load();
  CHECK(traced == 6);
  if (traced == 6) CHECK(traced_is(4, {cas, undo_or_add}));
  s.store(tracked(2));            // retires version 0; the head word's count is 0 now
  CHECK(s.retired_count() == 1);  // version 0 kept: pin_flush + 1 pins in its counter
  CHECK(s.reclaim() == 1);
  phase = 3;
  REQUIRE(turn(4));
  CHECK(s.reclaim() == 1);  // A holds pin_flush pins
  phase = 5;
  REQUIRE(turn(6));
  CHECK(s.reclaim() == 1);  // A holds one pin
  phase = 7;
  REQUIRE(turn(8));
  CHECK(s.reclaim() == 0);  // every pin released: the count balances to 0
  CHECK(s.retired_count() == 0);
  g.finish();
  CHECK(by_pin.load() == kPinFlush + 1);
  CHECK(intact.load() == kPinFlush + 2);
}
}  // namespace

// The retry branch of flush_pins: its CAS failed because a further pin on the same version
// raised the count, which is still at least pin_flush, so it moves the larger count instead.
// Here that further pin's reader is itself stopped mid-flush, and the two are let go in turn.
TEST_CASE("a pin flush that loses the head word to a further pin retries with the larger count",
          "[snapshot]") {
  reset_tracking();
  check_flush_retry();
  check_each_destroyed_once();
}

TEST_CASE("more reading threads than hazard records: the fallback is correct", "[snapshot]") {
  auto& domain = lfkit::detail::snapshot_local_domain<std::atomic>;
  lfkit::snapshot<pair_value> s(pair_value::of(0), lfkit::snapshot_options{2});
  (void)s.load();  // bind the main thread
  const std::size_t before = domain.records_in_use();
  const std::size_t n = lfkit::snapshot_max_threads + 8;
  std::barrier sync(static_cast<std::ptrdiff_t>(n + 1));
  std::atomic<std::size_t> fallbacks{0};
  std::atomic<std::size_t> bad{0};
  std::vector<std::thread> ts;
  for (std::size_t t = 0; t < n; ++t) {
    ts.emplace_back([&] {
      auto g = s.load();
      const pair_value seen = *g;
      if (g.uses_fallback()) fallbacks.fetch_add(1);
      sync.arrive_and_wait();  // everyone holds a guard now
      sync.arrive_and_wait();  // the writer has churned
      for (int i = 0; i < 20; ++i) {
        auto g2 = s.load();  // nested, some on the fallback path
        if (!g2->consistent()) bad.fetch_add(1);
      }
      if (!g->consistent() || g->a != seen.a) bad.fetch_add(1);
    });
  }
  sync.arrive_and_wait();
  for (int i = 0; i < 300; ++i) s.update(next_of);
  CHECK(s.retired_count() <= n + 2);
  sync.arrive_and_wait();
  for (auto& t : ts) t.join();
  CHECK(bad.load() == 0);
  CHECK(fallbacks.load() >= n - (lfkit::snapshot_max_threads - before));
  CHECK(fallbacks.load() >= 8);
  CHECK(s.load()->a == 300);
  CHECK(s.reclaim() == 0);
  // Records were handed back at thread exit.
  CHECK(domain.records_in_use() == before);
  // ... so a new thread reads on the fast path again.
  bool fast = false;
  std::thread([&] { fast = !s.load().uses_fallback(); }).join();
  CHECK(fast);
}

// ---- loads from a real signal handler ----------------------------------------------------------

namespace {
std::atomic<lfkit::snapshot<pair_value>*> g_sig_snap{nullptr};
std::atomic<lfkit::snapshot<pair_value, lfkit::stress::perturbed_atomic>*> g_sig_psnap{nullptr};
std::atomic<std::uint64_t> g_sig_runs{0};
std::atomic<std::uint64_t> g_sig_bad{0};
std::atomic<std::uint64_t> g_sig_last_a{0};
std::atomic<std::uint64_t> g_sig_fallback{0};

extern "C" void snapshot_signal_handler(int) {
  const int saved = errno;
  if (auto* s = g_sig_snap.load(std::memory_order_relaxed)) {
    auto g = s->load();
    if (!g->consistent()) g_sig_bad.fetch_add(1, std::memory_order_relaxed);
    g_sig_last_a.store(g->a, std::memory_order_relaxed);
    if (g.uses_fallback()) g_sig_fallback.fetch_add(1, std::memory_order_relaxed);
  }
  if (auto* s = g_sig_psnap.load(std::memory_order_relaxed)) {
    auto g = s->load();
    if (!g->consistent()) g_sig_bad.fetch_add(1, std::memory_order_relaxed);
    auto g2 = s->load();  // nested inside the handler too
    if (!g2->consistent() || g2->a < g->a) g_sig_bad.fetch_add(1, std::memory_order_relaxed);
  }
  g_sig_runs.fetch_add(1, std::memory_order_relaxed);
  errno = saved;
}

struct signal_scope {
  struct sigaction old{};
  signal_scope() {
    struct sigaction sa{};
    sa.sa_handler = &snapshot_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, &old);
    g_sig_runs = 0;
    g_sig_bad = 0;
    g_sig_fallback = 0;
  }
  ~signal_scope() {
    g_sig_snap = nullptr;
    g_sig_psnap = nullptr;
    sigaction(SIGUSR1, &old, nullptr);
  }
};
}  // namespace

TEST_CASE("a signal handler loads while its thread holds guards", "[snapshot][signal]") {
  signal_scope scope;
  lfkit::snapshot<pair_value> s(pair_value::of(1));
  g_sig_snap = &s;
  std::vector<lfkit::snapshot<pair_value>::guard> held;
  for (std::uint64_t i = 0; i < lfkit::snapshot_slots_per_thread + 2; ++i) {
    held.push_back(s.load());  // the handler finds fewer and then no free slots
    s.store(pair_value::of(i + 2));
    pthread_kill(pthread_self(), SIGUSR1);
    CHECK(g_sig_last_a.load() == i + 2);  // the handler saw the current version
  }
  CHECK(g_sig_runs.load() == lfkit::snapshot_slots_per_thread + 2);
  CHECK(g_sig_bad.load() == 0);
  CHECK(g_sig_fallback.load() >= 2);  // the last ones had to use the fallback
  for (std::size_t i = 0; i < held.size(); ++i) CHECK(held[i]->a == i + 1);
  held.clear();
  CHECK(s.reclaim() == 0);
}

TEST_CASE("signal handlers interrupt loads and updates at every atomic step (perturbed atomics)",
          "[snapshot][signal][perturbed]") {
  signal_scope scope;
  perturbation_scope knobs(/*yield=*/200, /*spin=*/2000);
  lfkit::snapshot<pair_value, lfkit::stress::perturbed_atomic> s(pair_value::of(0),
                                                                 lfkit::snapshot_options{2});
  g_sig_psnap = &s;
  lfkit::stress::g_perturbation.raise_signal.store(3000);  // ~5% of atomic steps raise SIGUSR1
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0};
  // Workers wait here before exiting, so that signal injection is off while they exit: the record
  // hand-back at thread exit uses perturbed atomics too, and TSan cannot take a signal on a thread
  // it has already detached.
  std::barrier done(5);
  std::vector<std::thread> ts;
  for (int r = 0; r < 2; ++r) {
    ts.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto g = s.load();
        auto g2 = s.load();
        if (!g->consistent() || !g2->consistent() || g2->a < g->a) bad.fetch_add(1);
      }
      done.arrive_and_wait();
      done.arrive_and_wait();
    });
  }
  std::vector<std::thread> writers;
  std::atomic<int> writers_left{2};
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < 1500; ++i) s.update(next_of);
      if (writers_left.fetch_sub(1) == 1) stop.store(true);
      done.arrive_and_wait();
      done.arrive_and_wait();
    });
  }
  done.arrive_and_wait();  // every worker finished its loop
  lfkit::stress::g_perturbation.raise_signal.store(0);
  done.arrive_and_wait();  // now they may exit
  for (auto& t : writers) t.join();
  for (auto& t : ts) t.join();
  CHECK(bad.load() == 0);
  CHECK(g_sig_bad.load() == 0);
  CHECK(g_sig_runs.load() > 100);
  CHECK(s.load()->a == 3000);
  CHECK(s.reclaim() == 0);
}

TEST_CASE("concurrent readers and writers with perturbed atomics", "[snapshot][perturbed]") {
  perturbation_scope knobs(/*yield=*/1500, /*spin=*/6000);
  lfkit::snapshot<pair_value, lfkit::stress::perturbed_atomic> s(pair_value::of(0),
                                                                 lfkit::snapshot_options{3});
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0};
  std::atomic<std::uint64_t> over_bound{0};
  std::vector<std::thread> ts;
  for (int r = 0; r < 3; ++r) {
    ts.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto g = s.load();
        if (!g->consistent()) bad.fetch_add(1);
        // pinned <= 3 readers x 2 (g and retired_count()'s own load) + the exchanged-out guard
        // + 2 writers' guards; batch 3; while writers run, each may add one before its scan.
        if (s.retired_count() > (3 * 2 + 1 + 2) + 3 - 1 + 2) over_bound.fetch_add(1);
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 2000; ++i) {
        if (w == 0) {
          s.update(next_of);
        } else {
          auto old = s.exchange(pair_value::of(1000000 + static_cast<std::uint64_t>(i)));
          s.update([&](const pair_value&) { return next_of(*old); });  // old stays pinned meanwhile
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  stop.store(true);
  for (auto& t : ts) t.join();
  CHECK(bad.load() == 0);         // every version seen was consistent
  CHECK(over_bound.load() == 0);  // the retired bound held
  CHECK(s.load()->consistent());
  CHECK(s.reclaim() == 0);
}

// ---- review defects (issue 14) -------------------------------------------------------------------

namespace {
/// A T whose unary & is deleted: the guard must use std::addressof.
struct no_address_of {
  int v = 0;
  void operator&() const = delete;
};
}  // namespace

TEST_CASE("guards work for a T with a deleted unary &", "[snapshot]") {
  lfkit::snapshot<no_address_of> s(no_address_of{7});
  auto g = s.load();
  CHECK(g->v == 7);
  CHECK(g.get() == std::addressof(*g));
  s.store(no_address_of{8});
  CHECK(s.load()->v == 8);
}

namespace {
std::atomic<lfkit::snapshot<pair_value>*> g_exit_snap{nullptr};
std::atomic<std::uint64_t> g_exit_handler_loads{0};
std::atomic<std::uint64_t> g_exit_handler_bad{0};
pthread_key_t g_exit_key;

extern "C" void exit_window_handler(int) {
  const int saved = errno;
  if (auto* s = g_exit_snap.load(std::memory_order_relaxed)) {
    auto g = s->load();
    if (!g->consistent()) g_exit_handler_bad.fetch_add(1, std::memory_order_relaxed);
    g_exit_handler_loads.fetch_add(1, std::memory_order_relaxed);
  }
  errno = saved;
}

/// A key created after lfkit's, so glibc runs this destructor after lfkit's in each round. It
/// re-arms itself every round (up to PTHREAD_DESTRUCTOR_ITERATIONS) and raises a signal whose
/// handler loads: the load in the last round comes after lfkit's last destructor call, the window
/// in which a record bound would never be handed back.
extern "C" void exit_window_destructor(void* p) {
  auto rounds = reinterpret_cast<std::uintptr_t>(p);
  raise(SIGUSR2);
  if (rounds < PTHREAD_DESTRUCTOR_ITERATIONS + 2) {
    pthread_setspecific(g_exit_key, reinterpret_cast<void*>(rounds + 1));
  }
}
}  // namespace

TEST_CASE("a signal handler loading during thread exit never leaks a hazard record",
          "[snapshot][signal]") {
#if LFKIT_TSAN
  WARN("skipped under TSan: it cannot deliver a signal to a thread it has already detached");
  return;
#endif
  lfkit::snapshot<pair_value> s(pair_value::of(3));  // creates lfkit's key first
  REQUIRE(pthread_key_create(&g_exit_key, &exit_window_destructor) == 0);
  struct sigaction sa{}, old{};
  sa.sa_handler = &exit_window_handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, &old);
  g_exit_snap = &s;
  auto& domain = lfkit::detail::snapshot_local_domain<std::atomic>;
  const std::size_t before = domain.records_in_use();
  g_exit_handler_loads = 0;
  for (int round = 0; round < 64; ++round) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&] {
        pthread_setspecific(g_exit_key, reinterpret_cast<void*>(std::uintptr_t{1}));
        auto g = s.load();  // binds this thread's record
        if (!g->consistent()) g_exit_handler_bad.fetch_add(1);
      });
    }
    for (auto& t : ts) t.join();
    s.update(next_of);
  }
  g_exit_snap = nullptr;
  sigaction(SIGUSR2, &old, nullptr);
  pthread_key_delete(g_exit_key);
  CHECK(g_exit_handler_loads.load() >= 64 * 4);  // the handler really loaded in the exit window
  CHECK(g_exit_handler_bad.load() == 0);
  CHECK(domain.records_in_use() == before);  // every record came back
  CHECK(s.reclaim() == 0);
}

TEST_CASE("the membarrier verdict is decided once and never downgraded", "[snapshot][platform]") {
  using lfkit::detail::membarrier_state;
  auto& word = lfkit::detail::g_membarrier_state.value;
  const int saved = word.load();
  // Two racing first constructions: one registered, the other failed transiently after it.
  word.store(static_cast<int>(membarrier_state::unknown));
  CHECK(lfkit::detail::membarrier_record_verdict(membarrier_state::available) ==
        membarrier_state::available);
  CHECK(lfkit::detail::membarrier_record_verdict(membarrier_state::unavailable) ==
        membarrier_state::available);
  CHECK(word.load() == static_cast<int>(membarrier_state::available));
  // The other order: the full-fence verdict stays (always correct, light sides fence fully).
  word.store(static_cast<int>(membarrier_state::unknown));
  CHECK(lfkit::detail::membarrier_record_verdict(membarrier_state::unavailable) ==
        membarrier_state::unavailable);
  CHECK(lfkit::detail::membarrier_record_verdict(membarrier_state::available) ==
        membarrier_state::unavailable);
  // Racing threads: whoever wins, every caller is told the one verdict in force.
  for (int round = 0; round < 200; ++round) {
    word.store(static_cast<int>(membarrier_state::unknown));
    std::atomic<int> seen_a{0}, seen_b{0};
    std::thread a([&] {
      seen_a =
          static_cast<int>(lfkit::detail::membarrier_record_verdict(membarrier_state::available));
    });
    std::thread b([&] {
      seen_b =
          static_cast<int>(lfkit::detail::membarrier_record_verdict(membarrier_state::unavailable));
    });
    a.join();
    b.join();
    REQUIRE(seen_a.load() == seen_b.load());
    REQUIRE(word.load() == seen_a.load());
  }
  word.store(saved);
}

TEMPLATE_TEST_CASE("compare_exchange publishes only over the expected version", "[snapshot]",
                   lfkit_snap, shared_mutex_snap, mutex_snap) {
  TestType s(pair_value::of(1));
  auto cur = s.load();
  CHECK(s.compare_exchange(cur, pair_value::of(2)));
  CHECK(cur->a == 1);  // on success `expected` keeps the replaced version
  CHECK(s.load()->a == 2);
  CHECK(s.version() == 1);
  CHECK_FALSE(s.compare_exchange(cur, pair_value::of(3)));  // stale: someone published since
  REQUIRE(cur);
  CHECK(cur->a == 2);  // re-pointed at the current version
  CHECK(cur.version() == 1);
  CHECK(s.load()->a == 2);
  CHECK(s.compare_exchange(cur, pair_value::of(4)));
  CHECK(s.version() == 2);
  // A CAS loop composes like update(): N threads x M increments.
  constexpr int N = 4;
  constexpr int M = 1000;
  std::vector<std::thread> ts;
  for (int t = 0; t < N; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < M; ++i) {
        auto g = s.load();
        while (!s.compare_exchange(g, next_of(*g))) {
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(s.load()->a == 4 + std::uint64_t{N} * M);
  CHECK(s.load()->consistent());
  CHECK(s.version() == 2 + std::uint64_t{N} * M);
}

TEST_CASE("versions reuse a bounded set of nodes: P + 2B nodes at most", "[snapshot]") {
  for (std::size_t batch : {std::size_t{1}, std::size_t{4}, std::size_t{32}}) {
    lfkit::snapshot<pair_value> s(pair_value::of(0), lfkit::snapshot_options{batch});
    auto pinned = s.load();  // P = 1
    std::vector<const pair_value*> seen;
    for (int i = 0; i < 5000; ++i) {
      if (i % 2 == 0) {
        s.update(next_of);
      } else {
        const std::uint64_t next = s.load()->a + 1;  // no guard alive during the store
        s.store(pair_value::of(next));
      }
      seen.push_back(s.load().get());
    }
    std::sort(seen.begin(), seen.end());
    const auto distinct =
        static_cast<std::size_t>(std::unique(seen.begin(), seen.end()) - seen.begin());
    // Documented: at most P + 2B nodes when no writer runs (current + retired + pool).
    CHECK(distinct <= 1 + 2 * batch);
    CHECK(pinned->a == 0);
    CHECK(s.load()->a == 5000);
  }
}

// Free nodes move in segments between scans, the pool and per-thread caches (issue 14, cheap
// writes): batches that are not multiples of the segment size, a pool too small for a scan's
// segments, and segments built by one writer's scan and used by another.
TEST_CASE("two writers and a reader: every version destroyed once, for any batch", "[snapshot]") {
  for (std::size_t batch :
       {std::size_t{1}, std::size_t{5}, std::size_t{16}, std::size_t{17}, std::size_t{100}}) {
    reset_tracking();
    constexpr std::uint64_t kUpdates = 3000;  // per writer, plus as many other writes
    {
      lfkit::snapshot<tracked> s(std::in_place, lfkit::snapshot_options{batch}, 0u);
      std::atomic<bool> stop{false};
      std::atomic<std::uint64_t> bad{0};
      std::atomic<std::uint64_t> reads{0};
      std::thread reader([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          auto g = s.load();
          const std::uint64_t v = g->value;
          if (!g->alive() || g->value != v) bad.fetch_add(1);
          reads.fetch_add(1, std::memory_order_relaxed);
        }
      });
      // Every write adds 1 to the value (stores and compare_exchanges only over what they read),
      // so the final value counts the writes that took effect.
      std::atomic<std::uint64_t> effective{0};
      auto writer = [&](std::uint64_t seed) {
        for (std::uint64_t i = 0; i < 2 * kUpdates; ++i) {
          if ((i + seed) % 2 == 0) {
            s.update([](const tracked& t) { return tracked(t.value + 1); });
            effective.fetch_add(1, std::memory_order_relaxed);
          } else {
            auto cur = s.load();
            if (!cur->alive()) bad.fetch_add(1);
            if (s.compare_exchange(cur, tracked(cur->value + 1))) {
              effective.fetch_add(1, std::memory_order_relaxed);
            } else if (!cur->alive()) {  // re-pointed at the current version
              bad.fetch_add(1);
            }
          }
        }
      };
      std::thread w1(writer, 0);
      std::thread w2(writer, 1);
      w1.join();
      w2.join();
      stop.store(true);
      reader.join();
      CHECK(bad.load() == 0);
      CHECK(s.load()->value == effective.load());
      CHECK(effective.load() >= 2 * kUpdates);  // every update took effect
      // P + B - 1, P <= 4 at the last scan: the reader's guard, the other writer's two (a failed
      // compare_exchange re-loads before it releases), the scanning writer's `expected`.
      CHECK(s.retired_count() <= batch + 3);
      CHECK(s.reclaim() == 0);
    }
    check_each_destroyed_once();
  }
}
