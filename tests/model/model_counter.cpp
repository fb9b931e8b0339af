// SPDX-License-Identifier: BSL-1.0
// tests/model/model_counter.cpp — lfkit::basic_atomic_counter and basic_sharded_counter under the
// Relacy model checker (C++ memory model, every interleaving / many random ones).
//
// Checked: concurrent adds, loads and resets close exactly (sum of resets + final load == sum of
// adds: no add lost or counted twice); a load includes every add that happened-before it; a load is
// never above what was added. Broken variants that must be caught: a load-then-store add (lost
// update) and a "pair" of two counters read as one (torn).
#include "model_prelude.hpp"

#include "lfkit/counter.hpp"

#include "model_epilogue.hpp"

namespace {

using lfkit::model::relacy_atomic;
using atomic_counter = lfkit::basic_atomic_counter<relacy_atomic>;
using sharded_counter = lfkit::basic_sharded_counter<relacy_atomic>;

/// Adds by two threads, a reset racing with them, a load: sums close exactly.
template <class Counter>
struct adds_reset_load : rl::test_suite<adds_reset_load<Counter>, 3> {
  Counter c = make();
  std::uint64_t got_reset = 0;  // written by thread 2 only, read in after()
  std::uint64_t got_load = 0;   // written by thread 1 only

  static Counter make() {
    if constexpr (std::is_same_v<Counter, sharded_counter>) return Counter(2);
    else return Counter(0);
  }
  void thread(unsigned i) {
    if (i == 0) {
      c.add(1);
      c.add(2);
    } else if (i == 1) {
      c.increment();
      got_load = c.load();
      RL_ASSERT(got_load <= 4);  // never above the total (a reset may have taken our add)
    } else {
      got_reset = c.reset();
      RL_ASSERT(got_reset <= 4);
    }
  }
  void after() { RL_ASSERT(got_reset + c.load() == 4); }
};

// Sharded counters need their constructor argument: the default constructor of the test suite
// builds them in place.
template <>
struct adds_reset_load<sharded_counter> : rl::test_suite<adds_reset_load<sharded_counter>, 3> {
  sharded_counter c{2};
  std::uint64_t got_reset[2] = {};
  void thread(unsigned i) {
    if (i == 0) {
      c.add(1);
      got_reset[0] = c.reset();
      c.add(2);
    } else if (i == 1) {
      c.add(4);
      const std::uint64_t l = c.load();
      RL_ASSERT(l <= 7);
    } else {
      got_reset[1] = c.reset();
    }
  }
  void after() { RL_ASSERT(got_reset[0] + got_reset[1] + c.load() == 7); }
};

/// A load includes every add that happened-before it (here through a release/acquire flag).
template <class Counter, std::size_t... Arg>
struct happens_before : rl::test_suite<happens_before<Counter, Arg...>, 2> {
  Counter c{Arg...};
  relacy_atomic<int> flag{0};
  void thread(unsigned i) {
    if (i == 0) {
      c.add(5);
      flag.store(1, std::memory_order_release);
    } else if (flag.load(std::memory_order_acquire) == 1) {
      RL_ASSERT(c.load() == 5);
    }
  }
};

/// BROKEN: an add made of a load and a store (what a non-RMW "fast path" would do): updates lost.
struct broken_lost_update : rl::test_suite<broken_lost_update, 2> {
  relacy_atomic<std::uint64_t> v{0};
  void thread(unsigned) {
    v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void after() { RL_ASSERT(v.load(std::memory_order_relaxed) == 2); }
};

/// BROKEN: a "pair" kept in two counters and read as one (the stress suite's naive pair demo):
/// a reader sees one half updated and not the other.
struct broken_naive_pair : rl::test_suite<broken_naive_pair, 2> {
  atomic_counter a{0}, b{0};
  void thread(unsigned i) {
    if (i == 0) {
      a.add(1);
      b.add(1);
    } else {
      const std::uint64_t y = b.load();
      const std::uint64_t x = a.load();
      RL_ASSERT(x == y);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  const search full{rl::sched_full};
  const search random{rl::sched_random, 20000};
  s.pass<adds_reset_load<atomic_counter>>("atomic_counter adds/reset/load", full);
  s.pass<adds_reset_load<sharded_counter>>("sharded_counter adds/reset/load", full);
  s.pass<happens_before<atomic_counter, 0>>("atomic_counter load after hb add", full);
  s.pass<happens_before<sharded_counter, 2>>("sharded_counter load after hb add", full);
  s.pass<adds_reset_load<sharded_counter>>("sharded_counter adds/reset/load (random)", random);
  s.caught<broken_lost_update>("BROKEN load+store add (lost update)", full);
  s.caught<broken_naive_pair>("BROKEN naive counter pair (torn)", full);
  return s.finish();
}
