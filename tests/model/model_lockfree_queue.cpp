// SPDX-License-Identifier: BSL-1.0
// tests/model/model_lockfree_queue.cpp — lfkit::lockfree_queue (SCQ index rings) under the Relacy
// model checker (sleep words' waits are parks that only a wake ends: a lost wake-up is a Relacy
// deadlock; no timed operations, whose deadlines read the real clock).
//
// Checked (the shared scenarios and their element type: model_queue_scenarios.hpp): 2 producers / 1
// consumer and 1 producer / 2 consumers at capacities 1 and 2: every element popped was pushed,
// exactly once, in each producer's order, and what is left drains; a try_pop() after the same
// thread's successful push never fails (only pushes race with it); blocking push/pop against
// close(): every sleeper returns; a pop that reports closed and drained strands no racing push;
// full and empty verdicts across two queues (store buffering);
// one ring (scq_ring) lapped while a dequeuer is held before its consume (stall_atomic): SCQ's
// safe bit and head <= t test, pair (4) in lockfree_queue.hpp; at capacity 1, the allocated
// ring's threshold run out by 3n failed rounds (a scripted schedule, script_atomic): the
// exhaustion verdict and the fast path are reached and true, and the next push resets it.
// Broken variants that must be caught: the blocking scenarios with
// wakes that wake nobody (lost_wake_atomic): a deadlock; the threshold scenario with the reset
// store dropped: the pushed element is never found.
#include "model_prelude.hpp"

#include "lfkit/lockfree_queue.hpp"

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
template <template <class> class Atom = relacy_atomic>
using basic_queue = lfkit::lockfree_queue<item, Atom>;
using queue = basic_queue<>;

// The shared scenarios (model_queue_scenarios.hpp) on this queue; the blocking ones over the atomic
// policy (lost_wake_atomic: the broken variant), with a delayed waker.
template <std::size_t Cap>
using p2c1 = queue_scenarios::p2c1<queue, Cap>;
template <std::size_t Cap>
using p1c2 = queue_scenarios::p1c2<queue, Cap>;
template <template <class> class Atom>
using blocking_close = queue_scenarios::blocking_close<basic_queue<Atom>, 12>;
template <template <class> class Atom>
using close_wakes_poppers = queue_scenarios::close_wakes_poppers<basic_queue<Atom>, 16>;
template <template <class> class Atom>
using pop_sleeps_until_push = queue_scenarios::pop_sleeps_until_push<basic_queue<Atom>, 16>;
using closed_publishes = queue_scenarios::closed_publishes<queue>;

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

/// close() races a push: a blocking pop() that returns false (closed and drained) leaves nothing
/// behind, also when the push took its ticket before the close and lands after that pop looked
/// (on a fresh queue the allocated ring's threshold is -1, the empty fast path; Warm: reset).
template <bool Warm>
struct close_drains_racing_push : with_occupancy,
                                  rl::test_suite<close_drains_racing_push<Warm>, 2> {
  queue q{2};
  bool pushed = false, popped = false;
  void before() {
    if (Warm) {
      item x;
      RL_ASSERT(q.try_push(item(val(1, 0))));
      RL_ASSERT(q.try_pop(x));
    }
  }
  void thread(unsigned i) {
    if (i == 0) {
      pushed = q.try_push(item(val(0, 1)));
    } else {
      delay(16);  // random: close before, during or after the push
      q.close();
      item x;
      popped = q.pop(x);
      if (popped) RL_ASSERT(x.get() == val(0, 1));
    }
  }
  void after() {
    unsigned left = 0;
    item x;
    while (left < 3 && q.try_pop(x)) ++left;
    RL_ASSERT(popped || left == 0);  // "drained" was true
    RL_ASSERT((pushed ? 1u : 0u) == (popped ? 1u : 0u) + left);
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

/// The script of threshold_exhaustion: where its threads stop (script_atomic), and what they did
/// to the rings (per Relacy thread: fibers share thread_local data).
struct script {
  bool armed = false;       // set after before(): the stops and the log apply from then on
  bool lose_reset = false;  // the BROKEN variant: an enqueue's threshold reset is dropped
  // Thread 0 stops before each of its seq_cst compare-exchanges on a 64-bit word (a push: the
  // allocated ring's entry CAS, right after its ticket) until p_passes allows it.
  relacy_atomic<int> p_stops{0}, p_passes{0}, p_done{0};
  // Thread 2 stops before its next ticket (fetch_add) while d_hold, until d_go.
  bool d_hold = false;
  relacy_atomic<int> d_start{0}, d_at_ticket{0}, d_go{0}, d_done{0};
  // Thread 1 stops right after its next ticket while c_hold, until d_done.
  bool c_hold = false;
  // Per thread: its last ticket (seq_cst fetch_add on a 64-bit word), its last seq_cst 64-bit load
  // (in a dequeue's failed round, the tail load right before the threshold's decrement), how many
  // tickets it took, how many negative thresholds it read, and its exhaustion verdicts: a
  // decrement that found the threshold at most 0 after a tail load past ticket + 1 (dequeue's
  // `fetch_sub(1) <= 0` test; the other decrement follows a tail at most ticket + 1).
  std::uint64_t last_ticket[3] = {}, last_load[3] = {};
  unsigned tickets[3] = {}, negative_reads[3] = {}, exhausted[3] = {};
};
script* g_script = nullptr;

/// relacy_atomic<T> that follows g_script (above): stops and records, nothing else.
template <class T>
class script_atomic : public relacy_atomic<T> {
  using base = relacy_atomic<T>;
  static constexpr bool word64 = std::is_same_v<T, std::uint64_t>;
  static constexpr bool threshold = std::is_same_v<T, std::int64_t>;  // only the rings' thresholds
  static script* armed() noexcept {
    return g_script != nullptr && g_script->armed ? g_script : nullptr;
  }

 public:
  using base::base;
  using base::compare_exchange_weak;

  T load(std::memory_order o = std::memory_order_seq_cst,
         lfkit::model::where w = lfkit::model::where::current()) const {
    const T v = base::load(o, w);
    if (script* g = armed(); g != nullptr) {
      if constexpr (word64) {
        if (o == std::memory_order_seq_cst) g->last_load[rl::thread_index()] = v;
      }
      if constexpr (threshold) g->negative_reads[rl::thread_index()] += v < 0 ? 1 : 0;
    }
    return v;
  }
  void store(T v, std::memory_order o = std::memory_order_seq_cst,
             lfkit::model::where w = lfkit::model::where::current()) {
    if constexpr (threshold) {
      if (script* g = armed(); g != nullptr && g->lose_reset) return;  // THE BUG (BROKEN only)
    }
    base::store(v, o, w);
  }
  bool compare_exchange_weak(T& e, T d, std::memory_order s, std::memory_order f,
                             lfkit::model::where w = lfkit::model::where::current()) {
    if constexpr (word64) {
      script* g = armed();
      if (g != nullptr && rl::thread_index() == 0 && s == std::memory_order_seq_cst) {
        const int k = g->p_stops.load() + 1;
        g->p_stops.store(k);
        while (g->p_passes.load() < k) rl::yield(1, lfkit::model::info(w));
      }
    }
    return base::compare_exchange_weak(e, d, s, f, w);
  }
  template <class D>
  T fetch_add(D d, std::memory_order o = std::memory_order_seq_cst,
              lfkit::model::where w = lfkit::model::where::current())
    requires std::is_integral_v<T>
  {
    script* g = word64 ? armed() : nullptr;
    const unsigned me = rl::thread_index();
    if (g != nullptr && me == 2 && g->d_hold) {
      g->d_hold = false;
      g->d_at_ticket.store(1);
      while (g->d_go.load() == 0) rl::yield(1, lfkit::model::info(w));
    }
    const T v = base::fetch_add(d, o, w);
    if (g != nullptr && o == std::memory_order_seq_cst) {
      g->last_ticket[me] = static_cast<std::uint64_t>(v);
      ++g->tickets[me];
    }
    if (g != nullptr && me == 1 && g->c_hold) {
      g->c_hold = false;
      g->d_go.store(1);
      while (g->d_done.load() == 0) rl::yield(1, lfkit::model::info(w));
    }
    return v;
  }
  template <class D>
  T fetch_sub(D d, std::memory_order o = std::memory_order_seq_cst,
              lfkit::model::where w = lfkit::model::where::current())
    requires std::is_integral_v<T>
  {
    const T before = base::fetch_sub(d, o, w);
    if constexpr (threshold) {
      if (script* g = armed(); g != nullptr) {
        const unsigned me = rl::thread_index();
        constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
        if (before <= 0 && (g->last_load[me] & ~closed_bit) > g->last_ticket[me] + 1)
          ++g->exhausted[me];
      }
    }
    return before;
  }
};

}  // namespace

/// As atomic_hooks<relacy_atomic>.
template <>
struct lfkit::atomic_hooks<script_atomic> : lfkit::atomic_hooks<lfkit::model::relacy_atomic> {};

namespace {

/// SCQ's threshold running out, at capacity 1 (n = 1: 2 entries per ring, tickets from 2, the
/// threshold reset to 3n - 1 = 2 by the push and pop of before(); head = tail = 3 after them).
/// One push in flight holds at most one allocated-ring ticket, so the exhaustion test (a failed
/// round with tail > h + 1) needs a second dequeuer whose ticket lies past the tail: it catches
/// the tail up past the first one's. Thread 0 (P) pushes, stopped before each entry CAS; thread 1
/// (C) directs:
///   C's try_pop takes ticket 3 (P's, entry empty: invalidated), tail <= h + 1: empty, 2 -> 1;
///   P's CAS fails, it takes ticket 4; thread 2 (D) reads tail 5 > head 4 and stops before its
///   ticket; C takes ticket 4 and stops; D takes ticket 5, invalidates, catches the tail up to 6:
///   empty, 1 -> 0; C invalidates P's entry 4, reads tail 6 > 5 and the threshold at 0: the
///   exhaustion verdict, the 3n-th failed round since the reset (and C takes no other ticket);
///   P's CAS fails, it takes ticket 6; C's next try_pop takes the threshold < 0 fast path and
///   leaves that ticket alone;
/// then P runs free (ticket 6 lands and resets the threshold) while D try_pops twice, racing it;
/// once P's push returned, C's try_pop finds the element unless D took it.
/// No push completed before C's verdicts, so they were true; afterwards the element comes out
/// exactly once. LoseReset (BROKEN): the reset store is dropped, the threshold stays negative
/// and the pushed element is never found: must fail.
template <bool LoseReset>
struct threshold_exhaustion : with_occupancy, rl::test_suite<threshold_exhaustion<LoseReset>, 3> {
  script s;
  basic_queue<script_atomic> q{1};
  bool pushed = false;
  unsigned got_c = 0, got_d = 0;
  threshold_exhaustion() { g_script = &s; }
  ~threshold_exhaustion() { g_script = nullptr; }
  static void await(relacy_atomic<int>& a, int v) {
    while (a.load() < v) rl::yield(1, RL_INFO);
  }
  void before() {
    item x;
    RL_ASSERT(q.try_push(item(val(1, 1))));  // resets the allocated ring's threshold to 2
    RL_ASSERT(q.try_pop(x));
    s.lose_reset = LoseReset;
    s.armed = true;
  }
  void thread(unsigned i) {
    item x;
    if (i == 0) {
      pushed = q.try_push(item(val(0, 1)));
      s.p_done.store(1);
    } else if (i == 1) {
      await(s.p_stops, 1);       // P holds ticket 3
      RL_ASSERT(!q.try_pop(x));  // 2 -> 1
      s.p_passes.store(1);
      await(s.p_stops, 2);  // P holds ticket 4
      s.d_hold = true;
      s.d_start.store(1);
      await(s.d_at_ticket, 1);  // D saw tail > head
      s.c_hold = true;
      unsigned tickets = s.tickets[1];
      RL_ASSERT(!q.try_pop(x));  // D: 1 -> 0; C: 0, the exhaustion verdict
      RL_ASSERT(s.exhausted[1] == 1 && s.exhausted[2] == 0);
      RL_ASSERT(s.tickets[1] == tickets + 1);  // and C stopped there: no other ticket
      s.p_passes.store(2);
      await(s.p_stops, 3);  // P holds ticket 6: tail 7 > head 6
      tickets = s.tickets[1];
      const unsigned negative = s.negative_reads[1];
      RL_ASSERT(!q.try_pop(x));  // the fast path: a negative threshold, no ticket
      RL_ASSERT(s.tickets[1] == tickets && s.negative_reads[1] == negative + 1);
      RL_ASSERT(s.p_done.load() == 0);  // every verdict so far was true: nothing was pushed
      s.p_passes.store(1000);           // P runs free
      await(s.p_done, 1);
      if (q.try_pop(x)) {
        RL_ASSERT(x.get() == val(0, 1));
        ++got_c;
      }
    } else {
      await(s.d_start, 1);
      RL_ASSERT(!q.try_pop(x));
      s.d_done.store(1);
      await(s.p_passes, 1000);
      for (unsigned k = 0; k < 2 && got_d == 0; ++k) {
        if (q.try_pop(x)) {
          RL_ASSERT(x.get() == val(0, 1));
          ++got_d;
        }
      }
    }
  }
  void after() {
    RL_ASSERT(pushed);
    item x;
    RL_ASSERT(!q.try_pop(x));
    RL_ASSERT(got_c + got_d == 1);  // the element, exactly once: C's late pop did not fail
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
  queue_scenarios::pass_try_rounds<queue>(s, "lfqueue", random);
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
  s.pass<close_drains_racing_push<false>>("lfqueue close vs push: drained pop strands nothing",
                                          random);
  s.pass<close_drains_racing_push<true>>("lfqueue close vs push: drained pop strands nothing, warm",
                                         random);
  s.pass<closed_publishes>("lfqueue is_closed() publishes what preceded close()", bound);
  s.pass<safe_bit_lap>("lfqueue ring: safe bit, enqueue vs dequeue after a lap", random);
  s.pass<threshold_exhaustion<false>>("lfqueue threshold runs out, then reset (capacity 1)",
                                      random);
  s.caught<blocking_close<lost_wake_atomic>>("BROKEN lfqueue: lost wake, blocking + close", random,
                                             rl::test_result_deadlock);
  s.caught<pop_sleeps_until_push<lost_wake_atomic>>("BROKEN lfqueue: lost wake, pop vs push",
                                                    random, rl::test_result_deadlock);
  s.caught<close_wakes_poppers<lost_wake_atomic>>("BROKEN lfqueue: lost wake, close", random,
                                                  rl::test_result_deadlock);
  s.caught<threshold_exhaustion<true>>("BROKEN lfqueue: threshold reset lost", random,
                                       rl::test_result_user_assert_failed);
  return s.finish();
}
