// SPDX-License-Identifier: BSL-1.0
// tests/model/model_mpmc_queue.cpp — lfkit::mpmc_queue under the Relacy model checker (portable
// sleep path: Atom::wait/notify_all, modelled as parks on the word; no timed operations, whose
// polling sleeps read the real clock).
//
// Checked (the shared scenarios and their element type: model_queue_scenarios.hpp): 2 producers / 1
// consumer and 1 producer / 2 consumers on capacities 1 and 2 at the full/empty boundaries: every
// element popped was pushed, exactly once, in each producer's order, and what is left drains; bulk
// pushes and pops; the same in word mode (8-byte elements, read before the claim); blocking
// pop/push against close(): every sleeper returns (a lost wake-up is a Relacy deadlock); a pop
// asleep on an empty queue, a pop asleep on a slot whose producer is still building, a push
// asleep on a slot whose consumer is still moving out: each is woken; full and empty verdicts
// across two queues (store buffering: the seq_cst counter accesses).
// Broken variants that must be caught: the stress suite's ring that publishes a slot before
// writing it (stress/broken_ring.hpp, in miniature); the three sleep scenarios on
// lost_wake_atomic (wakes wake nobody): a deadlock.
#define LFKIT_QUEUE_PORTABLE_WAIT 1

#include "model_prelude.hpp"

#include "lfkit/mpmc_queue.hpp"

#include "model_epilogue.hpp"

#include "model_blocking.hpp"
#include "model_queue_scenarios.hpp"

namespace {

using lfkit::model::delay;
using lfkit::model::relacy_atomic;
using queue_scenarios::item;
using queue_scenarios::ledger;
using queue_scenarios::val;
using queue_scenarios::with_occupancy;
using queue = lfkit::mpmc_queue<item, relacy_atomic>;

// The shared scenarios (model_queue_scenarios.hpp) on this queue, without delays.
template <std::size_t Cap>
using p2c1 = queue_scenarios::p2c1<queue, Cap>;
template <std::size_t Cap>
using p1c2 = queue_scenarios::p1c2<queue, Cap>;
using blocking_close = queue_scenarios::blocking_close<queue, 0>;
using close_wakes_poppers = queue_scenarios::close_wakes_poppers<queue, 0>;
/// Delay 80: see "Scenarios in which a thread must sleep and be woken" below.
template <template <class> class Atom>
using pop_sleeps_until_push =
    queue_scenarios::pop_sleeps_until_push<lfkit::mpmc_queue<item, Atom>, 80>;
using closed_publishes = queue_scenarios::closed_publishes<queue>;

/// Word mode (an element of at most 8 bytes: a pop reads the word before its claim CAS, and a
/// push of the next lap may overwrite it as soon as head_ has passed): the shared scenarios
/// through this adapter, which keeps each payload in the queue as a plain std::uint64_t.
struct word_queue {
  lfkit::mpmc_queue<std::uint64_t, relacy_atomic> q;
  static_assert(decltype(q)::word_mode);
  explicit word_queue(std::size_t cap) : q(cap) {}
  bool try_push(const item& x) { return q.try_push(x.get()); }
  bool try_pop(item& x) {
    std::uint64_t v = 0;
    if (!q.try_pop(v)) return false;
    x = item(v);
    return true;
  }
  std::size_t try_push_n(const item* xs, std::size_t n) {
    std::uint64_t v[4];
    for (std::size_t j = 0; j < n && j < 4; ++j) v[j] = xs[j].get();
    return q.try_push_n(v, n < 4 ? n : 4);
  }
  std::size_t try_pop_n(item* ys, std::size_t n) {
    std::uint64_t v[4];
    const std::size_t k = q.try_pop_n(v, n < 4 ? n : 4);
    for (std::size_t j = 0; j < k; ++j) ys[j] = item(v[j]);
    return k;
  }
};

/// Bulk: a producer pushes 3 with try_push_n into capacity 2, a consumer try_pop_n(2), twice.
template <class Q>
struct bulk : with_occupancy, rl::test_suite<bulk<Q>, 2> {
  Q q{2};
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

// Scenarios in which a thread must sleep and be woken. A blocking op pauses and yields about 50
// steps before it sleeps, so the waker comes after a random delay of up to 80 steps: with less,
// the waker nearly always finishes first and no sleep needs a wake (each runs on the broken
// lost_wake_atomic too, where it must deadlock).

/// An element whose move construction (into a slot) and move assignment (out of one) take up to 80
/// steps while `slow_moves` is set: a holder between claim and publish / release for that long.
inline bool slow_moves = false;
struct slow_item {
  relacy_atomic<std::uint64_t> payload{0};
  slow_item() = default;
  explicit slow_item(std::uint64_t v) : payload(v) {}
  slow_item(slow_item&& o) noexcept : payload(o.get()) {
    if (slow_moves) delay(80);
  }
  slow_item& operator=(slow_item&& o) noexcept {
    if (slow_moves) delay(80);
    // relaxed: the queue's stamps order the element; the payload is one thread's at a time.
    payload.store(o.get(), std::memory_order_relaxed);
    return *this;
  }
  ~slow_item() = default;
  // relaxed: as above.
  std::uint64_t get() const { return payload.load(std::memory_order_relaxed); }
};

/// A consumer asleep in pop() on a busy slot: the producer claimed it and is still building the
/// element; its publish must wake the consumer.
template <template <class> class Atom>
struct pop_sleeps_on_busy_slot : rl::test_suite<pop_sleeps_on_busy_slot<Atom>, 2> {
  lfkit::mpmc_queue<slow_item, Atom> q{2};
  void before() { slow_moves = true; }
  void after() { slow_moves = false; }
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(q.try_push(slow_item(val(0, 1))));
    } else {
      slow_item x;
      RL_ASSERT(q.pop(x));
      RL_ASSERT(x.get() == val(0, 1));
    }
  }
};

/// A producer asleep in push() on a full ring whose only slot a consumer has claimed and is still
/// moving out of; its release must wake the producer.
template <template <class> class Atom>
struct push_sleeps_on_busy_slot : rl::test_suite<push_sleeps_on_busy_slot<Atom>, 2> {
  lfkit::mpmc_queue<slow_item, Atom> q{1};
  void before() {
    RL_ASSERT(q.try_push(slow_item(val(0, 1))));
    slow_moves = true;
  }
  void after() {
    slow_moves = false;
    slow_item x;
    RL_ASSERT(q.try_pop(x));
    RL_ASSERT(x.get() == val(0, 2));
  }
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(q.push(slow_item(val(0, 2))));
    } else {
      slow_item x;
      RL_ASSERT(q.try_pop(x));
      RL_ASSERT(x.get() == val(0, 1));
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
  using lfkit::model::lost_wake_atomic;
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  const search bound{rl::sched_bound, 0, 1};
  const search random{rl::sched_random, 20000};
  queue_scenarios::pass_try_rounds<queue>(s, "queue", random);
  s.pass<bulk<queue>>("queue bulk push_n/pop_n capacity 2", random);
  queue_scenarios::pass_try_rounds<word_queue>(s, "queue word mode", random);
  s.pass<queue_scenarios::p1c2<word_queue, 1>>("queue word mode 1P2C capacity 1 (context bound 1)",
                                               bound);
  s.pass<bulk<word_queue>>("queue word mode bulk push_n/pop_n capacity 2", random);
  s.pass<blocking_close>("queue blocking push/pop + close", random);
  s.pass<close_wakes_poppers>("queue close wakes 2 sleeping poppers", random);
  s.pass<close_wakes_pusher>("queue close wakes a sleeping pusher", random);
  s.pass<pop_sleeps_until_push<relacy_atomic>>("queue pop sleeps until a delayed push", random);
  s.pass<pop_sleeps_on_busy_slot<relacy_atomic>>("queue pop sleeps on a busy slot", random);
  s.pass<push_sleeps_on_busy_slot<relacy_atomic>>("queue push sleeps on a busy slot", random);
  s.pass<p2c1<2>>("queue 2P1C capacity 2 (context bound 1)", bound);
  s.pass<closed_publishes>("queue is_closed() publishes what preceded close()", bound);
  s.pass<sb_verdicts<false, 64>>("queue empty verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<true, 64>>("queue full verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<false, 64, true>>("queue bulk empty verdicts across 2 queues (SB)", random);
  s.pass<sb_verdicts<true, 64, true>>("queue bulk full verdicts across 2 queues (SB)", random);
  s.pass<flag_wait<true>>("hooks wait/wake_all (sanity)", bound);
  s.caught<flag_wait<false>>("BROKEN wait without wake (lost wake-up)", bound,
                             rl::test_result_deadlock);
  s.caught<pop_sleeps_until_push<lost_wake_atomic>>("BROKEN queue: lost wake, pop vs push", random,
                                                    rl::test_result_deadlock);
  s.caught<pop_sleeps_on_busy_slot<lost_wake_atomic>>("BROKEN queue: lost wake, busy slot pop",
                                                      random, rl::test_result_deadlock);
  // Found at iteration ~15500 of this search: allow more, the search stops at the first find.
  s.caught<push_sleeps_on_busy_slot<lost_wake_atomic>>("BROKEN queue: lost wake, busy slot push",
                                                       search{rl::sched_random, 100000},
                                                       rl::test_result_deadlock);
  s.pass<ring_test<false>>("mini ring, correct (sanity)", bound);
  s.caught<ring_test<true>>("BROKEN ring: publish before write", bound);
  return s.finish();
}
