// SPDX-License-Identifier: BSL-1.0
// tests/model/model_semaphore.cpp — lfkit::basic_semaphore under the Relacy model checker (sleeps
// are parks that only a wake ends: a lost wake-up is a Relacy deadlock; no timed acquires, whose
// deadlines read the real clock).
//
// Checked: two releasers against two acquirers, non-blocking and blocking, with the count close to
// its maximum: every unit taken exactly once, what preceded a release() visible after the acquire
// that took its unit, every blocked acquire() woken (release(1) wakes one, release(2) all);
// release() beyond max_count() returns would_exceed_max and changes nothing; try_acquire() never
// fails while the count is positive (only releasers race with it). Broken variant that must be
// caught: the blocking scenarios with wakes that wake nobody (lost_wake_atomic): a deadlock.
#include "model_prelude.hpp"

#include "lfkit/semaphore.hpp"

#include "model_epilogue.hpp"

#include "model_blocking.hpp"

namespace {

using lfkit::release_status;
using lfkit::model::delay;
using lfkit::model::relacy_atomic;

/// Yields a releaser may spend first: more than an acquirer's initial spin (64 pause hints).
constexpr unsigned max_delay = 80;

/// 2 releasers (a payload each, then release()) and 2 try_acquire()rs on a semaphore of at most 2
/// units: the count closes (taken + left == 2), and a taker sees at least one payload.
struct try_exactly_once : rl::test_suite<try_exactly_once, 4> {
  lfkit::basic_semaphore<relacy_atomic> sem{0, 2};
  relacy_atomic<int> payload[2];
  bool took[2] = {};
  void thread(unsigned i) {
    if (i < 2) {
      payload[i].store(1, std::memory_order_relaxed);
      RL_ASSERT(sem.release() == release_status::ok);  // never beyond 2
    } else if (sem.try_acquire()) {
      took[i - 2] = true;
      // The unit taken was released by one of the two, after its payload.
      RL_ASSERT(payload[0].load(std::memory_order_relaxed) == 1 ||
                payload[1].load(std::memory_order_relaxed) == 1);
    }
  }
  void after() {
    const int taken = (took[0] ? 1 : 0) + (took[1] ? 1 : 0);
    RL_ASSERT(taken + sem.available() == 2);
  }
};

/// 2 (delayed) releasers and 2 blocking acquire()rs: both acquirers return (no lost wake-up), each
/// unit taken once (the count ends at 0), and a taker sees the payload of a release.
template <template <class> class Atom>
struct blocking_exactly_once : rl::test_suite<blocking_exactly_once<Atom>, 4> {
  lfkit::basic_semaphore<Atom> sem{0, 2};
  relacy_atomic<int> payload[2];
  void thread(unsigned i) {
    if (i < 2) {
      payload[i].store(1, std::memory_order_relaxed);
      delay(max_delay);
      RL_ASSERT(sem.release() == release_status::ok);
    } else {
      sem.acquire();
      RL_ASSERT(payload[0].load(std::memory_order_relaxed) == 1 ||
                payload[1].load(std::memory_order_relaxed) == 1);
    }
  }
  void after() { RL_ASSERT(sem.available() == 0); }
};

/// 1 thread acquire()s twice in a row, 1 releases 2 units one by one: the payload written before
/// each release is visible after the acquire that took it (single acquirer: units in order).
template <template <class> class Atom>
struct acquire_sees_payload : rl::test_suite<acquire_sees_payload<Atom>, 2> {
  lfkit::basic_semaphore<Atom> sem{0, 2};
  relacy_atomic<int> payload{0};
  void thread(unsigned i) {
    if (i == 0) {
      payload.store(1, std::memory_order_relaxed);
      delay(max_delay);
      RL_ASSERT(sem.release() == release_status::ok);
      payload.store(2, std::memory_order_relaxed);
      RL_ASSERT(sem.release() == release_status::ok);
    } else {
      sem.acquire();
      RL_ASSERT(payload.load(std::memory_order_relaxed) >= 1);
      sem.acquire();
      RL_ASSERT(payload.load(std::memory_order_relaxed) == 2);
    }
  }
  void after() { RL_ASSERT(sem.available() == 0); }
};

/// release(2) wakes both blocked acquirers.
template <template <class> class Atom>
struct release_n_wakes_all : rl::test_suite<release_n_wakes_all<Atom>, 3> {
  lfkit::basic_semaphore<Atom> sem{0, 2};
  void thread(unsigned i) {
    if (i == 0) {
      delay(max_delay);
      RL_ASSERT(sem.release(2) == release_status::ok);
    } else {
      sem.acquire();
    }
  }
  void after() { RL_ASSERT(sem.available() == 0); }
};

/// At the maximum: one unit in a semaphore of at most 2; release(2) races with try_acquire(). It
/// succeeds only if the take came first (count 0); otherwise would_exceed_max and the count is
/// unchanged. release(3) and release(-1) never change anything.
struct beyond_max : rl::test_suite<beyond_max, 2> {
  lfkit::basic_semaphore<relacy_atomic> sem{1, 2};
  release_status r = release_status::ok;
  bool took = false;
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(sem.release(3) == release_status::would_exceed_max);
      RL_ASSERT(sem.release(-1) == release_status::negative);
      r = sem.release(2);
      RL_ASSERT(r == release_status::ok || r == release_status::would_exceed_max);
    } else {
      took = sem.try_acquire();
      RL_ASSERT(took);  // the count was 1 and nothing else takes
    }
  }
  void after() {
    RL_ASSERT(sem.available() == (r == release_status::ok ? 2 : 0));
    RL_ASSERT(sem.available() <= sem.max_count());
  }
};

/// try_acquire() never fails while the count is positive: thread 0 releases one unit and then
/// takes one while thread 1 releases two (its CAS may lose to those releases and must retry).
struct try_never_fails_while_positive : rl::test_suite<try_never_fails_while_positive, 2> {
  lfkit::basic_semaphore<relacy_atomic> sem{0, 3};
  void thread(unsigned i) {
    if (i == 0) {
      RL_ASSERT(sem.release() == release_status::ok);
      RL_ASSERT(sem.try_acquire());  // count >= 1 and only releases race
    } else {
      RL_ASSERT(sem.release() == release_status::ok);
      RL_ASSERT(sem.release() == release_status::ok);
    }
  }
  void after() { RL_ASSERT(sem.available() == 2); }
};

}  // namespace

int main(int argc, char** argv) {
  using lfkit::model::lost_wake_atomic;
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  const search full{rl::sched_full, 0};
  const search random{rl::sched_random, 20000};
  s.pass<try_exactly_once>("semaphore 2 release vs 2 try_acquire", random);
  s.pass<blocking_exactly_once<relacy_atomic>>("semaphore 2 release vs 2 blocking acquire", random);
  s.pass<acquire_sees_payload<relacy_atomic>>("semaphore acquire sees the release's payload",
                                              random);
  s.pass<release_n_wakes_all<relacy_atomic>>("semaphore release(2) wakes 2 acquirers", random);
  s.pass<beyond_max>("semaphore release beyond max changes nothing", full);
  s.pass<try_never_fails_while_positive>("semaphore try_acquire never fails while positive", full);
  s.caught<blocking_exactly_once<lost_wake_atomic>>("BROKEN semaphore: lost wake, 2 vs 2", random,
                                                    rl::test_result_deadlock);
  s.caught<release_n_wakes_all<lost_wake_atomic>>("BROKEN semaphore: lost wake, release(2)", random,
                                                  rl::test_result_deadlock);
  return s.finish();
}
