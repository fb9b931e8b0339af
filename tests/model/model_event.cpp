// SPDX-License-Identifier: BSL-1.0
// tests/model/model_event.cpp — lfkit::basic_event under the Relacy model checker (sleeps are
// parks that only a wake ends: a lost wake-up is a Relacy deadlock; no timed waits, whose deadlines
// read the real clock).
//
// Checked: set() against wait() in another thread (the waiter returns: no lost wake-up); what
// preceded set() (a relaxed payload) is visible after a wait() or an is_set() that returned true;
// set()/reset() from two threads racing with a waiter; one set() waking two waiters. Broken
// variant that must be caught: the same event with wakes that wake nobody (lost_wake_atomic), as
// a set() that skipped the wake of an announced waiter would be: a deadlock.
#include "model_prelude.hpp"

#include "lfkit/event.hpp"

#include "model_epilogue.hpp"

#include "model_blocking.hpp"

namespace {

using lfkit::model::delay;
using lfkit::model::relacy_atomic;

/// Yields a waker may spend before acting: more than a waiter's initial spin (64 pause hints in
/// 8 looks), so the waiter may sleep first.
constexpr unsigned max_delay = 80;

/// set() with a payload before it, against a wait() that must return and see the payload.
template <template <class> class Atom>
struct set_vs_wait : rl::test_suite<set_vs_wait<Atom>, 2> {
  lfkit::basic_event<Atom> ev;
  relacy_atomic<int> payload{0};
  void thread(unsigned i) {
    if (i == 0) {
      payload.store(42, std::memory_order_relaxed);
      delay(max_delay);
      ev.set();
    } else {
      ev.wait();
      RL_ASSERT(payload.load(std::memory_order_relaxed) == 42);  // set() happens-before
      RL_ASSERT(ev.is_set());
    }
  }
};

/// is_set() == true synchronises with set().
struct is_set_publishes : rl::test_suite<is_set_publishes, 2> {
  lfkit::basic_event<relacy_atomic> ev;
  relacy_atomic<int> payload{0};
  void thread(unsigned i) {
    if (i == 0) {
      payload.store(7, std::memory_order_relaxed);
      ev.set();
    } else if (ev.is_set()) {
      RL_ASSERT(payload.load(std::memory_order_relaxed) == 7);
    }
  }
};

/// One set() wakes both waiters; both see the payload.
template <template <class> class Atom>
struct set_wakes_all : rl::test_suite<set_wakes_all<Atom>, 3> {
  lfkit::basic_event<Atom> ev;
  relacy_atomic<int> payload{0};
  void thread(unsigned i) {
    if (i == 0) {
      payload.store(1, std::memory_order_relaxed);
      delay(max_delay);
      ev.set();
    } else {
      ev.wait();
      RL_ASSERT(payload.load(std::memory_order_relaxed) == 1);
    }
  }
};

/// set() in one thread, reset(); set() in another, a waiter in a third. Whatever the order, the
/// last operation is a set(), so the waiter returns and the event ends set; a waiter that returned
/// saw a set() (the payload written before the first set() or the second thread's own write).
struct set_reset_race : rl::test_suite<set_reset_race, 3> {
  lfkit::basic_event<relacy_atomic> ev;
  relacy_atomic<int> a{0}, b{0};
  void thread(unsigned i) {
    if (i == 0) {
      a.store(1, std::memory_order_relaxed);
      delay(max_delay);
      ev.set();
    } else if (i == 1) {
      delay(max_delay);
      ev.reset();
      b.store(1, std::memory_order_relaxed);
      ev.set();
    } else {
      ev.wait();
      // The wait returned because of one of the two set()s: that one's payload is visible.
      RL_ASSERT(a.load(std::memory_order_relaxed) == 1 || b.load(std::memory_order_relaxed) == 1);
    }
  }
  void after() { RL_ASSERT(ev.is_set()); }
};

/// A set(); reset(); set() sequence against two waiters: both return (a waiter there at the first
/// set() returns even if the reset follows; one that arrives later is released by the second).
struct set_reset_set : rl::test_suite<set_reset_set, 3> {
  lfkit::basic_event<relacy_atomic> ev;
  void thread(unsigned i) {
    if (i == 0) {
      delay(max_delay);
      ev.set();
      ev.reset();
      RL_ASSERT(!ev.is_set());  // only this thread sets, and waiters never change the state
      ev.set();
    } else {
      ev.wait();
    }
  }
  void after() { RL_ASSERT(ev.is_set()); }
};

}  // namespace

int main(int argc, char** argv) {
  using lfkit::model::lost_wake_atomic;
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  // Random search: the scenarios' delay() choices multiply a tree search's schedules (a context
  // bound of 2 already passes 300000 for set vs wait); is_set() has no delay.
  const search bound2{rl::sched_bound, 0, 2};
  const search random{rl::sched_random, 20000};
  s.pass<set_vs_wait<relacy_atomic>>("event set vs wait (payload, no lost wake-up)", random);
  s.pass<is_set_publishes>("event is_set() publishes what preceded set()", bound2);
  s.pass<set_wakes_all<relacy_atomic>>("event one set wakes 2 waiters", random);
  s.pass<set_reset_race>("event set vs reset+set, with a waiter", random);
  s.pass<set_reset_set>("event set/reset/set vs 2 waiters", random);
  s.caught<set_vs_wait<lost_wake_atomic>>("BROKEN event: set without wake (lost wake-up)", random,
                                          rl::test_result_deadlock);
  s.caught<set_wakes_all<lost_wake_atomic>>("BROKEN event: set without wake, 2 waiters", random,
                                            rl::test_result_deadlock);
  return s.finish();
}
