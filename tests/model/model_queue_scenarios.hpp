// SPDX-License-Identifier: BSL-1.0
// tests/model/model_queue_scenarios.hpp — the Relacy scenarios lfkit's bounded queues share
// (model_mpmc_queue.cpp, model_lockfree_queue.cpp), written once and templated over the queue type
// `Q` (a queue of `item`); each file instantiates them on its own queue and names them in its
// main(). Include after model_epilogue.hpp.
//
// Elements carry their payload (producer << 8 | sequence, from 1) in a relaxed atomic, so a pop
// not ordered after the push that published the element sees a stale payload, and mark their
// storage in race-checked rl::vars (occupancy), so a slot reused before its consumer finished with
// it is a Relacy DATA RACE. Scenarios:
//   p2c1<Q, Cap>, p1c2<Q, Cap>     2 producers / 1 consumer, 1 producer / 2 consumers (try_ ops):
//                                  every element popped was pushed, exactly once, in each
//                                  producer's order, and what is left drains (ledger);
//   blocking_close<Q, Delay>       blocking push/pop against close(): ends only if no wake-up is
//                                  lost, elements in order, then the close;
//   close_wakes_poppers<Q, Delay>  two consumers asleep in pop(), a third thread close()s;
//   pop_sleeps_until_push<Q, Delay> a consumer asleep in pop() until a delayed push;
//   closed_publishes<Q>            is_closed() synchronises with close().
// `Delay`: the waking thread first waits 0..Delay yields (model_blocking.hpp's delay), so that the
// sleeper spins out and sleeps first at every offset; 0: no delay.
#ifndef LFKIT_TESTS_MODEL_QUEUE_SCENARIOS_HPP
#define LFKIT_TESTS_MODEL_QUEUE_SCENARIOS_HPP

#include <cstddef>
#include <cstdint>
#include <string>

#include "model_blocking.hpp"
#include "relacy_adapter.hpp"

namespace queue_scenarios {

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
inline occupancy* g_occupancy = nullptr;  // the running test's table (set by its constructor)

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
  template <class Q>
  void close_books(Q& q) {
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

/// P producers (Pushes try_push each, threads 0 .. P-1) and C consumers (Pops try_pop each) on
/// capacity Cap.
template <class Q, std::size_t Cap, unsigned P, unsigned Pushes, unsigned C, unsigned Pops>
struct try_round : with_occupancy, rl::test_suite<try_round<Q, Cap, P, Pushes, C, Pops>, P + C> {
  Q q{Cap};
  ledger<P, Pushes> book;
  void thread(unsigned i) {
    if (i < P) {
      unsigned s = 1;
      for (unsigned k = 0; k < Pushes; ++k)
        if (q.try_push(item(val(i, s)))) book.pushed[i][s++] = true;
    } else {
      std::uint64_t got[Pops];
      unsigned n = 0;
      item x;
      for (unsigned k = 0; k < Pops; ++k)
        if (q.try_pop(x)) got[n++] = x.get();
      book.seen(got, n);
    }
  }
  void after() { book.close_books(q); }
};

/// 2 producers (2 try_push each) and 1 consumer (3 try_pop) on capacity Cap.
template <class Q, std::size_t Cap>
using p2c1 = try_round<Q, Cap, 2, 2, 1, 3>;

/// 1 producer (3 try_push) and 2 consumers (2 try_pop each) on capacity Cap.
template <class Q, std::size_t Cap>
using p1c2 = try_round<Q, Cap, 1, 3, 2, 2>;

/// The four try rounds a queue must pass, 2P1C and 1P2C at capacities 1 and 2, each named
/// "<name> 2P1C capacity 1" and so on.
template <class Q>
void pass_try_rounds(lfkit::model::suite& s, const std::string& name,
                     const lfkit::model::search& how) {
  s.pass<p2c1<Q, 1>>((name + " 2P1C capacity 1").c_str(), how);
  s.pass<p2c1<Q, 2>>((name + " 2P1C capacity 2").c_str(), how);
  s.pass<p1c2<Q, 1>>((name + " 1P2C capacity 1").c_str(), how);
  s.pass<p1c2<Q, 2>>((name + " 1P2C capacity 2").c_str(), how);
}

/// Blocking: a producer push()es 2 into capacity 1 (the second waits for room; Delay before it),
/// then close()s; a consumer pop()s until it returns false. Ends only if no wake-up is lost.
template <class Q, unsigned Delay>
struct blocking_close : with_occupancy, rl::test_suite<blocking_close<Q, Delay>, 2> {
  Q q{1};
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(q.push(item(val(0, 1))));
      if constexpr (Delay > 0) lfkit::model::delay(Delay);
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

/// Two consumers asleep in pop() on an empty queue; a third thread close()s (after Delay): both
/// return false.
template <class Q, unsigned Delay>
struct close_wakes_poppers : with_occupancy, rl::test_suite<close_wakes_poppers<Q, Delay>, 3> {
  Q q{1};
  void thread(unsigned i) {
    if (i < 2) {
      item x;
      RL_ASSERT(!q.pop(x));
    } else {
      if constexpr (Delay > 0) lfkit::model::delay(Delay);
      q.close();
    }
  }
};

/// A consumer asleep in pop() on an empty queue until a producer's push after a random delay of up
/// to Delay steps (long enough that the consumer goes to sleep first): no lost wake-up, payload
/// visible.
template <class Q, unsigned Delay>
struct pop_sleeps_until_push : with_occupancy, rl::test_suite<pop_sleeps_until_push<Q, Delay>, 2> {
  Q q{1};
  void thread(unsigned i) {
    if (i == 0) {
      lfkit::model::delay(Delay);
      RL_ASSERT(q.push(item(val(0, 1))));
    } else {
      item x;
      RL_ASSERT(q.pop(x));
      RL_ASSERT(x.get() == val(0, 1));
    }
  }
};

/// is_closed() synchronises with close(): what preceded close() is visible to a thread that saw it.
template <class Q>
struct closed_publishes : with_occupancy, rl::test_suite<closed_publishes<Q>, 2> {
  Q q{1};
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

}  // namespace queue_scenarios

#endif  // LFKIT_TESTS_MODEL_QUEUE_SCENARIOS_HPP
