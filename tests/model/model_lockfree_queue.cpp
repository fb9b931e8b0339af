// SPDX-License-Identifier: BSL-1.0
// tests/model/model_lockfree_queue.cpp — lfkit::lockfree_queue (SCQ index rings) under the Relacy
// model checker (sleep words' waits are parks that only a wake ends: a lost wake-up is a Relacy
// deadlock; no timed operations, whose deadlines read the real clock).
//
// Elements carry their payload in a relaxed atomic (a pop not ordered after the push's entry CAS
// sees a stale payload) and mark their storage in race-checked rl::vars (a data slot reused before
// its pop finished with it is a data race), as in model_mpmc_queue.cpp. Checked: 2 producers / 1
// consumer and 1 producer / 2 consumers at capacities 1 and 2: every element popped was pushed,
// exactly once, in each producer's order, and what is left drains; a try_pop() after the same
// thread's successful push never fails (only pushes race with it); blocking push/pop against
// close(): every sleeper returns; full and empty verdicts across two queues (store buffering);
// one ring (scq_ring) lapped while a dequeuer is held before its consume (stall_atomic): SCQ's
// safe bit and head <= t test, pair (4) in lockfree_queue.hpp.
// Broken variant that must be caught: the blocking scenarios with
// wakes that wake nobody (lost_wake_atomic): a deadlock.
#include "model_prelude.hpp"

#include "lfkit/lockfree_queue.hpp"

#include "model_epilogue.hpp"

#include "model_blocking.hpp"

namespace {

using lfkit::model::delay;
using lfkit::model::relacy_atomic;

/// Occupancy of element storage: one rl::var (plain, race-checked data) per address an element
/// lives at, written when an element is constructed there and when it is destroyed, read when it
/// is moved from. A producer that reuses a slot without happening-after the consumer's move-out
/// and destruction (or a consumer reading before the construction happened-before) is then a
/// Relacy DATA RACE, whatever values it sees.
struct occupancy {
  static constexpr int size = 64;
  const void* key[size] = {};
  rl::var<int> state[size];
  rl::var<int>* find(const void* p) {
    for (int i = 0; i < size; ++i) {
      if (key[i] == p) return &state[i];
      if (key[i] == nullptr) {
        key[i] = p;  // bookkeeping only: fibers never switch inside plain code
        return &state[i];
      }
    }
    return nullptr;
  }
};
occupancy* g_occupancy = nullptr;  // the running test's table (set by its constructor)

inline void occupy(const void* p, int v) {
  if (rl::var<int>* x = g_occupancy ? g_occupancy->find(p) : nullptr) (*x)(RL_INFO) = v;
}
inline void inspect(const void* p) {
  if (rl::var<int>* x = g_occupancy ? g_occupancy->find(p) : nullptr) {
    const int v = (*x)(RL_INFO);
    RL_ASSERT(v == 1);  // moved from a live element only
  }
}

/// An element: payload = producer << 8 | sequence (from 1), held in a relaxed atomic, plus the
/// occupancy marks above.
struct item {
  relacy_atomic<std::uint64_t> payload;
  item() : payload(0) { occupy(this, 1); }
  explicit item(std::uint64_t v) : payload(v) { occupy(this, 1); }
  item(const item& o) noexcept : payload(o.get()) {
    inspect(&o);
    occupy(this, 1);
  }
  item(item&& o) noexcept : payload(o.get()) {
    inspect(&o);
    occupy(this, 1);
  }
  ~item() { occupy(this, 0); }
  item& operator=(const item& o) noexcept {
    inspect(&o);
    payload.store(o.get(), std::memory_order_relaxed);
    return *this;
  }
  item& operator=(item&& o) noexcept { return *this = static_cast<const item&>(o); }
  std::uint64_t get() const { return payload.load(std::memory_order_relaxed); }
};

/// Base of every queue test: installs the occupancy table before the queue is built.
struct with_occupancy {
  occupancy occ;
  with_occupancy() { g_occupancy = &occ; }
  ~with_occupancy() { g_occupancy = nullptr; }
};
template <template <class> class Atom = relacy_atomic>
using basic_queue = lfkit::lockfree_queue<item, Atom>;
using queue = basic_queue<>;

constexpr std::uint64_t val(unsigned producer, unsigned seq) { return (producer << 8) | seq; }

/// What consumers saw, checked against what producers pushed.
template <unsigned Producers, unsigned MaxPerProducer>
struct ledger {
  bool pushed[Producers][MaxPerProducer + 1] = {};
  unsigned popped[Producers][MaxPerProducer + 1] = {};

  /// A consumer's pops in order: each valid, and per producer increasing (FIFO per producer).
  void seen(const std::uint64_t* v, unsigned n) {
    unsigned last[Producers] = {};
    for (unsigned i = 0; i < n; ++i) {
      const unsigned p = static_cast<unsigned>(v[i] >> 8), s = static_cast<unsigned>(v[i] & 0xff);
      RL_ASSERT(p < Producers && s >= 1 && s <= MaxPerProducer);  // not a stale/empty payload
      if (p >= Producers || s < 1 || s > MaxPerProducer) return;
      RL_ASSERT(s > last[p]);  // FIFO per producer, for this consumer
      last[p] = s;
      ++popped[p][s];
    }
  }
  /// After the threads: drain, then every pushed element popped exactly once, nothing else.
  void close_books(queue& q) {
    std::uint64_t rest[2 * Producers * MaxPerProducer];
    unsigned n = 0;
    item x;
    while (n < 2 * Producers * MaxPerProducer && q.try_pop(x)) rest[n++] = x.get();
    seen(rest, n);
    for (unsigned p = 0; p < Producers; ++p)
      for (unsigned s = 1; s <= MaxPerProducer; ++s)
        RL_ASSERT(popped[p][s] == (pushed[p][s] ? 1u : 0u));
  }
};

/// 2 producers (2 try_push each) and 1 consumer (3 try_pop) on capacity Cap.
template <std::size_t Cap>
struct p2c1 : with_occupancy, rl::test_suite<p2c1<Cap>, 3> {
  queue q{Cap};
  ledger<2, 2> book;
  void thread(unsigned i) {
    if (i < 2) {
      unsigned s = 1;
      for (unsigned k = 0; k < 2; ++k)
        if (q.try_push(item(val(i, s)))) book.pushed[i][s++] = true;
    } else {
      std::uint64_t got[3];
      unsigned n = 0;
      item x;
      for (unsigned k = 0; k < 3; ++k)
        if (q.try_pop(x)) got[n++] = x.get();
      book.seen(got, n);
    }
  }
  void after() { book.close_books(q); }
};

/// 1 producer (3 try_push) and 2 consumers (2 try_pop each) on capacity Cap.
template <std::size_t Cap>
struct p1c2 : with_occupancy, rl::test_suite<p1c2<Cap>, 3> {
  queue q{Cap};
  ledger<1, 3> book;
  void thread(unsigned i) {
    if (i == 0) {
      unsigned s = 1;
      for (unsigned k = 0; k < 3; ++k)
        if (q.try_push(item(val(0, s)))) book.pushed[0][s++] = true;
    } else {
      std::uint64_t got[2];
      unsigned n = 0;
      item x;
      for (unsigned k = 0; k < 2; ++k)
        if (q.try_pop(x)) got[n++] = x.get();
      book.seen(got, n);
    }
  }
  void after() { book.close_books(q); }
};

/// Thread 0 pushes and then try_pop()s: with only pushes racing (threads 1 and 2), the queue holds
/// at least its own element, so the pop must not fail (SCQ's threshold must not cut it short).
template <std::size_t Cap>
struct own_push_then_pop : with_occupancy, rl::test_suite<own_push_then_pop<Cap>, 3> {
  queue q{Cap};
  ledger<3, 2> book;
  void thread(unsigned i) {
    if (i == 0) {
      for (unsigned s = 1; s <= 2; ++s) {
        if (!q.try_push(item(val(0, s)))) continue;
        book.pushed[0][s] = true;
        item x;
        RL_ASSERT(q.try_pop(x));
        const std::uint64_t v = x.get();
        book.seen(&v, 1);
      }
    } else if (q.try_push(item(val(i, 1)))) {
      book.pushed[i][1] = true;
    }
  }
  void after() { book.close_books(q); }
};

/// Blocking: a producer push()es 2 into capacity 1 (the second waits for room), then close()s;
/// a consumer pop()s until it returns false. Ends only if no wake-up is lost.
template <template <class> class Atom>
struct blocking_close : with_occupancy, rl::test_suite<blocking_close<Atom>, 2> {
  basic_queue<Atom> q{1};
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(q.push(item(val(0, 1))));
      delay(12);
      RL_ASSERT(q.push(item(val(0, 2))));
      q.close();
      RL_ASSERT(!q.push(item(val(0, 3))));
    } else {
      unsigned next = 1;
      item x;
      while (q.pop(x)) {
        RL_ASSERT(x.get() == val(0, next));
        ++next;
      }
      RL_ASSERT(next == 3);  // both elements, then the close
    }
  }
};

/// A consumer asleep in pop() on an empty queue until a delayed producer's push: no lost wake-up,
/// payload visible.
template <template <class> class Atom>
struct pop_sleeps_until_push : with_occupancy, rl::test_suite<pop_sleeps_until_push<Atom>, 2> {
  basic_queue<Atom> q{1};
  void thread(unsigned i) {
    if (i == 0) {
      delay(16);
      RL_ASSERT(q.push(item(val(0, 1))));
    } else {
      item x;
      RL_ASSERT(q.pop(x));
      RL_ASSERT(x.get() == val(0, 1));
    }
  }
};

/// Two consumers asleep in pop() on an empty queue; a third thread close()s: both return false.
template <template <class> class Atom>
struct close_wakes_poppers : with_occupancy, rl::test_suite<close_wakes_poppers<Atom>, 3> {
  basic_queue<Atom> q{1};
  void thread(unsigned i) {
    if (i < 2) {
      item x;
      RL_ASSERT(!q.pop(x));
    } else {
      delay(16);
      q.close();
    }
  }
};

/// A producer asleep in push() on a full queue; close() wakes it (it fails: closed, and keeps its
/// element) or a pop made room first (it succeeds); the element count closes either way.
struct close_wakes_pusher : with_occupancy, rl::test_suite<close_wakes_pusher, 2> {
  queue q{1};
  bool first = false, second = false, popped = false;
  void thread(unsigned i) {
    if (i == 0) {
      first = q.push(item(val(0, 1)));
      item y(val(0, 2));
      second = q.push(std::move(y));
      RL_ASSERT(first || !second);                   // once closed, closed
      if (!second) RL_ASSERT(y.get() == val(0, 2));  // a failed push gives the element back
    } else {
      delay(16);
      item x;
      if (q.try_pop(x)) {
        RL_ASSERT(x.get() == val(0, 1));
        popped = true;
      }
      q.close();
    }
  }
  void after() {
    unsigned left = 0;
    item x;
    while (q.try_pop(x)) ++left;
    RL_ASSERT((first ? 1u : 0u) + (second ? 1u : 0u) == (popped ? 1u : 0u) + left);
  }
};

/// is_closed() synchronises with close().
struct closed_publishes : with_occupancy, rl::test_suite<closed_publishes, 2> {
  queue q{1};
  relacy_atomic<int> side{0};
  void thread(unsigned i) {
    if (i == 0) {
      side.store(1, std::memory_order_relaxed);
      q.close();
    } else if (q.is_closed()) {
      RL_ASSERT(side.load(std::memory_order_relaxed) == 1);
    }
  }
};

/// try_pop() fails only if the queue was empty at an instant of the call, try_push() only if it
/// was full, across queues too (store buffering): thread i pushes into its own queue, then
/// try_pops the other's; both failing would order each pop before the other's push, a cycle. Full
/// is the mirror (both start full; pop own, try_push the other's). With a light fence that is a
/// compiler barrier only (signal_fence_atomic), as with membarrier: a seq_cst fence in every
/// notify() would order the two threads by itself.
template <bool Full, bool Warm = false>
struct sb_verdicts : with_occupancy, rl::test_suite<sb_verdicts<Full, Warm>, 2> {
  basic_queue<lfkit::model::signal_fence_atomic> q0{1}, q1{1};
  bool ok[2] = {};
  void before() {
    item x;
    if (Full || Warm) {
      RL_ASSERT(q0.try_push(item(val(0, 1))));
      RL_ASSERT(q1.try_push(item(val(1, 1))));
    }
    if (Warm && !Full) {  // empty again, with the ring's threshold set: no empty fast path
      RL_ASSERT(q0.try_pop(x));
      RL_ASSERT(q1.try_pop(x));
    }
  }
  void thread(unsigned i) {
    auto& mine = i == 0 ? q0 : q1;
    auto& other = i == 0 ? q1 : q0;
    item x;
    if (Full) {
      RL_ASSERT(mine.try_pop(x));
      ok[i] = other.try_push(item(val(i, 2)));
    } else {
      RL_ASSERT(mine.try_push(item(val(i, 1))));
      ok[i] = other.try_pop(x);
    }
  }
  void after() { RL_ASSERT(ok[0] || ok[1]); }
};

/// The stall point of stall_atomic: thread `who` stops at its first fetch_or (a dequeuer about to
/// consume an entry) until `open` is set, and sets `reached` on arrival.
struct stall_gate {
  relacy_atomic<int> reached{0}, open{0};
  unsigned who = 0;
  bool passed = false;  // bookkeeping of the stalled fiber only
};
stall_gate* g_stall = nullptr;

/// relacy_atomic<T> whose fetch_or stops at the stall point above: a thread held between taking
/// its ticket and consuming its entry for as long as a scenario needs (a random or bounded search
/// rarely keeps a thread still while another laps a ring).
template <class T>
class stall_atomic : public relacy_atomic<T> {
 public:
  using relacy_atomic<T>::relacy_atomic;
  T fetch_or(T d, std::memory_order o = std::memory_order_seq_cst,
             lfkit::model::where w = lfkit::model::where::current())
    requires std::is_integral_v<T>
  {
    stall_gate* g = g_stall;
    if (g != nullptr && !g->passed && rl::thread_index() == g->who) {
      g->reached.store(1, std::memory_order_release);
      while (g->open.load(std::memory_order_acquire) == 0) rl::yield(1, lfkit::model::info(w));
      g->passed = true;
    }
    return relacy_atomic<T>::fetch_or(d, o, w);
  }
};

}  // namespace

/// As atomic_hooks<relacy_atomic> (the rings use only pause()).
template <>
struct lfkit::atomic_hooks<stall_atomic> : lfkit::atomic_hooks<lfkit::model::relacy_atomic> {};

namespace {

/// SCQ's safe bit (n = 2: 4 entries, tickets from 4; the ring holds index 0 at entry 0). Thread 0
/// dequeues and stalls before consuming entry 0 (ticket 4, cycle 1). Thread 1 laps the ring with
/// enqueue/dequeue pairs of index 1: at ticket 8 (cycle 2) its enqueuer skips the occupied entry 0
/// and its dequeuer clears entry 0's safe bit. Then thread 0 consumes entry 0 ({1, unsafe, ⊥}),
/// thread 2 enqueues with ticket 12 (entry 0, cycle 3) and thread 1 dequeues again: the enqueuer
/// may use the unsafe entry only while head <= 12, so either the dequeuer with ticket 12 sees its
/// index, or the enqueuer sees head past 12 and moves on. Both missing each other strands index
/// 1: a dequeuer reading entry 0 as still occupied (it must read it in the single total order
/// after the consume: (4) in scq_ring::dequeue), or an enqueuer reading head as 12 after the
/// dequeuer's ticket (the head <= t test, (4) in scq_ring::enqueue).
struct safe_bit_lap : rl::test_suite<safe_bit_lap, 3> {
  using ring_t = lfkit::detail::scq_ring<stall_atomic>;
  stall_gate gate;
  lfkit::detail::scq_side<stall_atomic> deq, enq;
  ring_t r{1, 1, deq, enq.tail};
  unsigned got = 0;
  safe_bit_lap() {
    gate.who = 0;
    g_stall = &gate;
  }
  ~safe_bit_lap() { g_stall = nullptr; }
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(r.dequeue() == 0);
    } else if (i == 1) {
      while (gate.reached.load(std::memory_order_acquire) == 0) rl::yield(1, RL_INFO);
      for (unsigned k = 0; k < 6; ++k) {  // tickets 5 .. 11 (8 skipped by the enqueuer)
        RL_ASSERT(r.enqueue(1, false) == ring_t::put_result::ok);
        RL_ASSERT(r.dequeue() == 1);
      }
      gate.open.store(1, std::memory_order_release);
      // No yield from here: a yield would let Relacy show this thread only the newest values.
      for (unsigned k = 0; k < 12 && got == 0; ++k)
        if (r.dequeue() != ring_t::none) ++got;
    } else {
      while (gate.open.load(std::memory_order_acquire) == 0) rl::yield(1, RL_INFO);
      RL_ASSERT(r.enqueue(1, false) == ring_t::put_result::ok);
    }
  }
  void after() {
    unsigned left = 0;
    while (left < 4 && r.dequeue() != ring_t::none) ++left;
    RL_ASSERT(got + left == 1);  // thread 2's index is found exactly once
  }
};
}  // namespace

int main(int argc, char** argv) {
  using lfkit::model::lost_wake_atomic;
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  const search bound{rl::sched_bound, 0, 1};
  const search random{rl::sched_random, 50000};
  // A context bound of 1 explores 2P1C at capacity 2 in ~860000 schedules (~10 s): 1P2C only.
  s.pass<p2c1<1>>("lfqueue 2P1C capacity 1", random);
  s.pass<p2c1<2>>("lfqueue 2P1C capacity 2", random);
  s.pass<p1c2<1>>("lfqueue 1P2C capacity 1", random);
  s.pass<p1c2<2>>("lfqueue 1P2C capacity 2", random);
  s.pass<p1c2<2>>("lfqueue 1P2C capacity 2 (context bound 1)", bound);
  s.pass<own_push_then_pop<1>>("lfqueue try_pop after own push, capacity 1", random);
  s.pass<own_push_then_pop<2>>("lfqueue try_pop after own push, capacity 2", random);
  s.pass<sb_verdicts<false>>("lfqueue empty verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<true>>("lfqueue full verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<false, true>>("lfqueue empty verdicts, after a push and pop (SB)", random);
  s.pass<blocking_close<relacy_atomic>>("lfqueue blocking push/pop + close", random);
  s.pass<pop_sleeps_until_push<relacy_atomic>>("lfqueue pop sleeps until a push", random);
  s.pass<close_wakes_poppers<relacy_atomic>>("lfqueue close wakes 2 sleeping poppers", random);
  s.pass<close_wakes_pusher>("lfqueue close wakes a sleeping pusher", random);
  s.pass<closed_publishes>("lfqueue is_closed() publishes what preceded close()", bound);
  s.pass<safe_bit_lap>("lfqueue ring: safe bit, enqueue vs dequeue after a lap", random);
  s.caught<blocking_close<lost_wake_atomic>>("BROKEN lfqueue: lost wake, blocking + close", random,
                                             rl::test_result_deadlock);
  s.caught<pop_sleeps_until_push<lost_wake_atomic>>("BROKEN lfqueue: lost wake, pop vs push",
                                                    random, rl::test_result_deadlock);
  s.caught<close_wakes_poppers<lost_wake_atomic>>("BROKEN lfqueue: lost wake, close", random,
                                                  rl::test_result_deadlock);
  return s.finish();
}
