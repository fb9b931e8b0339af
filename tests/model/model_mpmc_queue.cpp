// SPDX-License-Identifier: BSL-1.0
// tests/model/model_mpmc_queue.cpp — lfkit::mpmc_queue under the Relacy model checker (portable
// sleep path: Atom::wait/notify_all, modelled as parks on the word; no timed operations, whose
// polling sleeps read the real clock).
//
// Elements carry their payload in a relaxed atomic, so an element read without the slot's
// release/acquire pairing shows a stale payload, and mark their storage in race-checked rl::vars,
// so a slot reused before its consumer finished with it is a data race. Checked: 2 producers / 1 consumer and 1 producer /
// 2 consumers on capacities 1 and 2 at the full/empty boundaries: every element popped was pushed,
// exactly once, in each producer's order, and what is left drains; bulk pushes and pops; blocking
// pop/push against close(): every sleeper returns (a lost wake-up is a Relacy deadlock); full and
// empty verdicts across two queues (store buffering: the seq_cst counter accesses).
// Broken variant that must be caught: the stress suite's ring that publishes a slot before writing
// it (stress/broken_ring.hpp, in miniature).
#define LFKIT_QUEUE_PORTABLE_WAIT 1

#include "model_prelude.hpp"

#include "lfkit/mpmc_queue.hpp"

#include "model_epilogue.hpp"

#include "model_blocking.hpp"

namespace {

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
using queue = lfkit::mpmc_queue<item, relacy_atomic>;

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

/// Bulk: a producer pushes 3 with try_push_n into capacity 2, a consumer try_pop_n(2), twice.
struct bulk : with_occupancy, rl::test_suite<bulk, 2> {
  queue q{2};
  ledger<1, 3> book;
  void thread(unsigned i) {
    if (i == 0) {
      item xs[3] = {item(val(0, 1)), item(val(0, 2)), item(val(0, 3))};
      const std::size_t k = q.try_push_n(xs, 3);
      RL_ASSERT(k <= 3);
      for (std::size_t j = 0; j < k; ++j) book.pushed[0][j + 1] = true;
      if (k < 3 && q.try_push(item(val(0, static_cast<unsigned>(k) + 1))))
        book.pushed[0][k + 1] = true;
    } else {
      std::uint64_t got[4];
      unsigned n = 0;
      for (int round = 0; round < 2; ++round) {
        item ys[2];
        const std::size_t k = q.try_pop_n(ys, 2);
        for (std::size_t j = 0; j < k; ++j) got[n++] = ys[j].get();
      }
      book.seen(got, n);
    }
  }
  void after() { book.close_books(q); }
};

/// Blocking: a producer push()es 2 into capacity 1 (the second waits for room), then close()s;
/// a consumer pop()s until it returns false. Ends only if no wake-up is lost.
struct blocking_close : with_occupancy, rl::test_suite<blocking_close, 2> {
  queue q{1};
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(q.push(item(val(0, 1))));
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

/// Two consumers asleep in pop() on an empty queue; a third thread close()s: both return false.
struct close_wakes_poppers : with_occupancy, rl::test_suite<close_wakes_poppers, 3> {
  queue q{1};
  void thread(unsigned i) {
    if (i < 2) {
      item x;
      RL_ASSERT(!q.pop(x));
    } else {
      q.close();
    }
  }
};

/// A producer asleep in push() on a full queue; close() wakes it (it fails: closed) or a pop
/// made room first (it succeeds); the element count closes either way.
struct close_wakes_pusher : with_occupancy, rl::test_suite<close_wakes_pusher, 2> {
  queue q{1};
  bool second = false;
  void thread(unsigned i) {
    if (i == 0) {
      const bool first = q.push(item(val(0, 1)));
      second = q.push(item(val(0, 2)));
      RL_ASSERT(first || !second);  // once closed, closed
    } else {
      item x;
      if (q.try_pop(x)) RL_ASSERT(x.get() == val(0, 1));
      q.close();
    }
  }
};

/// is_closed() synchronises with close(): what preceded close() is visible to a thread that saw it.
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

/// Full/empty verdicts are linearizable across queues (store buffering): thread i pushes into
/// its own queue, then try_pops the other's; both failing would order each pop before the other's
/// push, a cycle. Full is the mirror (both start full; pop own, try_push the other's). Capacity 64
/// (streaming try_ ops: no looks, whose yields would make Relacy show the latest values). With a
/// light fence that is a compiler barrier only (signal_fence_atomic), as with membarrier: a
/// seq_cst fence in every notify() would order the two threads by itself.
template <bool Full, std::size_t Cap, bool Bulk = false>
struct sb_verdicts : with_occupancy, rl::test_suite<sb_verdicts<Full, Cap, Bulk>, 2> {
  using light_queue = lfkit::mpmc_queue<item, lfkit::model::signal_fence_atomic>;
  light_queue q0{Cap}, q1{Cap};
  bool ok[2] = {};
  void before() {
    for (std::size_t k = 0; Full && k < Cap; ++k) {
      RL_ASSERT(q0.try_push(item(val(0, 1))));
      RL_ASSERT(q1.try_push(item(val(1, 1))));
    }
  }
  void thread(unsigned i) {
    light_queue& mine = i == 0 ? q0 : q1;
    light_queue& other = i == 0 ? q1 : q0;
    item x[1], y[1] = {item(val(i, 2))};
    if (Full) {
      RL_ASSERT(Bulk ? mine.try_pop_n(x, 1) == 1 : mine.try_pop(x[0]));
      ok[i] = Bulk ? other.try_push_n(y, 1) == 1 : other.try_push(y[0]);
    } else {
      RL_ASSERT(Bulk ? mine.try_push_n(y, 1) == 1 : mine.try_push(y[0]));
      ok[i] = Bulk ? other.try_pop_n(x, 1) == 1 : other.try_pop(x[0]);
    }
  }
  void after() { RL_ASSERT(ok[0] || ok[1]); }
};

/// The stress suite's broken ring (stress/broken_ring.hpp) in miniature: a Vyukov ring of two
/// slots whose producer, with PublishEarly, publishes the slot (seq = pos + 1, release) BEFORE
/// writing the element. (A local copy: Relacy's replacement operator new[] mishandles the array
/// cookie of the original's unique_ptr<slot[]>.)
template <bool PublishEarly>
struct mini_ring {
  struct slot {
    relacy_atomic<std::uint64_t> seq, w0, w1;
  };
  slot slots[2];
  relacy_atomic<std::uint64_t> head{0}, tail{0};
  mini_ring() {
    for (std::uint64_t i = 0; i < 2; ++i) slots[i].seq.store(i, std::memory_order_relaxed);
  }
  bool try_push(std::uint64_t a, std::uint64_t b) {
    std::uint64_t pos = tail.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots[pos & 1];
      const auto diff = static_cast<std::int64_t>(s.seq.load(std::memory_order_acquire) - pos);
      if (diff == 0) {
        if (tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          if (PublishEarly) s.seq.store(pos + 1, std::memory_order_release);  // THE BUG
          s.w0.store(a, std::memory_order_relaxed);
          s.w1.store(b, std::memory_order_relaxed);
          if (!PublishEarly) s.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        pos = tail.load(std::memory_order_relaxed);
      }
    }
  }
  bool try_pop(std::uint64_t& a, std::uint64_t& b) {
    std::uint64_t pos = head.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots[pos & 1];
      const auto diff =
          static_cast<std::int64_t>(s.seq.load(std::memory_order_acquire) - (pos + 1));
      if (diff == 0) {
        if (head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          a = s.w0.load(std::memory_order_relaxed);
          b = s.w1.load(std::memory_order_relaxed);
          s.seq.store(pos + 2, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        pos = head.load(std::memory_order_relaxed);
      }
    }
  }
};

template <bool PublishEarly>
struct ring_test : rl::test_suite<ring_test<PublishEarly>, 2> {
  mini_ring<PublishEarly> q;
  void thread(unsigned i) {
    if (i == 0) {
      (void)q.try_push(1, ~std::uint64_t{1});
    } else {
      std::uint64_t a = 0, b = 0;
      if (q.try_pop(a, b)) RL_ASSERT(a == 1 && b == ~std::uint64_t{1});
    }
  }
};

/// The waiting layer itself: a flag set, then (with Wake) a wake_all, against a waiter sleeping in
/// atomic_hooks::wait. Without the wake the model must report the lost wake-up as a deadlock.
template <bool Wake>
struct flag_wait : rl::test_suite<flag_wait<Wake>, 2> {
  relacy_atomic<std::uint32_t> word{0};
  void thread(unsigned i) {
    using hooks = lfkit::atomic_hooks<relacy_atomic>;
    if (i == 0) {
      word.store(1, std::memory_order_release);
      if (Wake) hooks::wake_all(word);
    } else {
      while (word.load(std::memory_order_acquire) == 0)
        hooks::wait(word, 0, lfkit::detail::deadline::none());
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  const search bound{rl::sched_bound, 0, 1};
  const search random{rl::sched_random, 20000};
  s.pass<p2c1<1>>("queue 2P1C capacity 1", random);
  s.pass<p2c1<2>>("queue 2P1C capacity 2", random);
  s.pass<p1c2<1>>("queue 1P2C capacity 1", random);
  s.pass<p1c2<2>>("queue 1P2C capacity 2", random);
  s.pass<bulk>("queue bulk push_n/pop_n capacity 2", random);
  s.pass<blocking_close>("queue blocking push/pop + close", random);
  s.pass<close_wakes_poppers>("queue close wakes 2 sleeping poppers", random);
  s.pass<close_wakes_pusher>("queue close wakes a sleeping pusher", random);
  s.pass<p2c1<2>>("queue 2P1C capacity 2 (context bound 1)", bound);
  s.pass<closed_publishes>("queue is_closed() publishes what preceded close()", bound);
  s.pass<sb_verdicts<false, 64>>("queue empty verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<true, 64>>("queue full verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<false, 64, true>>("queue bulk empty verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<true, 64, true>>("queue bulk full verdicts across 2 queues (SB)", random);
  s.pass<flag_wait<true>>("hooks wait/wake_all (sanity)", bound);
  s.caught<flag_wait<false>>("BROKEN wait without wake (lost wake-up)", bound,
                             rl::test_result_deadlock);
  s.pass<ring_test<false>>("mini ring, correct (sanity)", bound);
  s.caught<ring_test<true>>("BROKEN ring: publish before write", bound);
  return s.finish();
}
