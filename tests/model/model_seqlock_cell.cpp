// SPDX-License-Identifier: BSL-1.0
// tests/model/model_seqlock_cell.cpp — lfkit::seqlock_cell under the Relacy model checker.
//
// Checked: a load never returns a torn value (both words of a pair from the same store), versions
// a reader sees never go backwards and publish what preceded the write, concurrent update()s lose no increment, try_store fails only
// while another writer holds the flag; the sleeping writer_lock (snapshot's) excludes, orders and
// wakes. Broken variants that must be caught: the latch without the
// reader's acquire fence, and without the writer's release fence (Boehm's two fences).
#include "model_prelude.hpp"

#include "lfkit/seqlock_cell.hpp"

#include "model_epilogue.hpp"

#include "model_blocking.hpp"

namespace {

using lfkit::model::relacy_atomic;

struct pair {
  std::uint64_t a, b;
};
using cell = lfkit::seqlock_cell<pair, relacy_atomic>;

/// One writer stores {1,1} then {2,2}; a reader loads twice: never torn, never backwards.
template <unsigned Readers>
struct writer_readers : rl::test_suite<writer_readers<Readers>, 1 + Readers> {
  cell c{pair{0, 0}};
  void thread(unsigned i) {
    if (i == 0) {
      c.store(pair{1, 1});
      c.store(pair{2, 2});
    } else {
      const pair p = c.load();
      RL_ASSERT(p.a == p.b);
      const std::uint64_t v = c.version();
      const pair q = c.load();
      RL_ASSERT(q.a == q.b);
      RL_ASSERT(q.a >= p.a);  // never backwards
      RL_ASSERT(q.a >= v);    // a load after version() == v sees write v or later
    }
  }
  void after() {
    const pair p = c.load();
    RL_ASSERT(p.a == 2 && p.b == 2 && c.version() == 2);
  }
};

/// Two writers update(+1) concurrently (through the writer flag) while a reader loads.
struct updates : rl::test_suite<updates, 3> {
  cell c{pair{0, 0}};
  void thread(unsigned i) {
    if (i < 2) {
      const pair n = c.update([](pair p) { return pair{p.a + 1, p.b + 1}; });
      RL_ASSERT(n.a == n.b && n.a >= 1);
    } else {
      const pair p = c.load();
      RL_ASSERT(p.a == p.b && p.a <= 2);
    }
  }
  void after() {
    const pair p = c.load();
    RL_ASSERT(p.a == 2 && p.b == 2);
  }
};

/// try_store from two threads: at least one succeeds, and the value is one of theirs.
struct try_stores : rl::test_suite<try_stores, 2> {
  cell c{pair{0, 0}};
  bool ok[2] = {false, false};
  void thread(unsigned i) { ok[i] = c.try_store(pair{i + 1u, i + 1u}); }
  void after() {
    RL_ASSERT(ok[0] || ok[1]);
    const pair p = c.load();
    RL_ASSERT(p.a == p.b && ((ok[0] && p.a == 1) || (ok[1] && p.a == 2)));
  }
};

/// version() synchronises with the write it counts: data written before a store() is visible to a
/// thread that saw that store's version.
struct version_publishes : rl::test_suite<version_publishes, 2> {
  cell c{pair{0, 0}};
  relacy_atomic<int> side{0};
  void thread(unsigned i) {
    if (i == 0) {
      side.store(1, std::memory_order_relaxed);
      c.store(pair{1, 1});
    } else if (c.version() >= 1) {
      RL_ASSERT(side.load(std::memory_order_relaxed) == 1);
    }
  }
};

/// A copy of the latch protocol (one writer) with either fence removable: the broken variants.
template <bool ReaderFence, bool WriterFence>
struct latch {
  relacy_atomic<std::uint64_t> seq{0};
  relacy_atomic<std::uint64_t> data[2][2];
  latch() {
    for (auto& copy : data)
      for (auto& w : copy) w.store(0, std::memory_order_relaxed);
  }
  void store(std::uint64_t v) {
    std::uint64_t s = seq.load(std::memory_order_relaxed);
    for (int half = 0; half < 2; ++half) {
      seq.store(++s, std::memory_order_release);
      if (WriterFence) lfkit::atomic_hooks<relacy_atomic>::thread_fence(std::memory_order_release);
      data[half][0].store(v, std::memory_order_relaxed);
      data[half][1].store(v, std::memory_order_relaxed);
    }
  }
  pair load() {
    for (;;) {
      const std::uint64_t s1 = seq.load(std::memory_order_acquire);
      const auto& src = data[s1 & 1];
      const pair p{src[0].load(std::memory_order_relaxed), src[1].load(std::memory_order_relaxed)};
      if (ReaderFence) lfkit::atomic_hooks<relacy_atomic>::thread_fence(std::memory_order_acquire);
      if (seq.load(std::memory_order_relaxed) == s1) return p;
    }
  }
};

template <bool ReaderFence, bool WriterFence>
struct latch_test : rl::test_suite<latch_test<ReaderFence, WriterFence>, 2> {
  latch<ReaderFence, WriterFence> l;
  void thread(unsigned i) {
    if (i == 0) {
      l.store(1);
      l.store(2);
    } else {
      const pair p = l.load();
      RL_ASSERT(p.a == p.b);
    }
  }
};

/// The sleeping writer_lock (snapshot's scan lock; the cell uses the spinning kind): 2 threads
/// lock(), bump a race-checked counter, unlock(); a holder that dawdles makes the other spin out
/// and sleep. The count closes, unlock() happens-before the next lock() (else a DATA RACE), and
/// every sleeper is woken (else a DEADLOCK).
struct sleeping_lock : rl::test_suite<sleeping_lock, 2> {
  lfkit::detail::writer_lock<relacy_atomic> l;
  rl::var<int> n;
  void before() { n(RL_INFO) = 0; }
  void thread(unsigned) {
    l.lock();
    lfkit::model::delay(1000);
    n(RL_INFO) = n(RL_INFO) + 1;
    l.unlock();
  }
  void after() { RL_ASSERT(n(RL_INFO) == 2); }
};

}  // namespace

int main(int argc, char** argv) {
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  const search full{rl::sched_full};
  const search bound{rl::sched_bound, 0, 2};
  const search random{rl::sched_random, 50000};
  s.pass<writer_readers<1>>("seqlock 1 writer, 1 reader", bound);
  s.pass<writer_readers<2>>("seqlock 1 writer, 2 readers", random);
  s.pass<updates>("seqlock 2 updaters + reader", random);
  s.pass<version_publishes>("seqlock version() publishes the write", bound);
  s.pass<try_stores>("seqlock try_store x2", full);
  s.pass<sleeping_lock>("sleeping writer_lock: 2 lockers", random);
  s.pass<latch_test<true, true>>("latch copy, both fences (sanity)", bound);
  s.caught<latch_test<false, true>>("BROKEN latch without reader fence", bound);
  s.caught<latch_test<true, false>>("BROKEN latch without writer fence", bound);
  return s.finish();
}
