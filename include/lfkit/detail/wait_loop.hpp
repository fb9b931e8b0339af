// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/wait_loop.hpp — the blocking loop of lfkit's bounded queues: one pause, a few
// yields, then announce, re-try and sleep.
//
// Part of lfkit (header-only, C++20). Standard library and lfkit/detail/{atomic_hooks,backoff,
// deadline,sleep_word}.hpp.
//
//   detail::wait_loop<Atom> loop;                 // one per queue side (no state of its own)
//   loop.run(not_full, not_empty,                 // sleep on `not_full`, wake `not_empty`
//            [&](detail::wait_kind k) noexcept { return push_attempt(src, k); }, dl);
//
// run() calls `attempt(kind)`, one non-blocking attempt of the queue's own, until it returns ok
// or closed (the queue's verdict; unavailable and busy mean "not yet"):
//   1. one pause hint, then detail::wait_yields sched_yield()s, an attempt after each;
//   2. announce on the sleep word (asleep bit + heavy fence), re-try, then sleep until woken, the
//      word changes or the deadline passes; an attempt, and again from 1.
// No spin beyond that pause: a waiter that polls the other side's lines runs in lock-step with it,
// one element per cache-line transfer, where one that goes away lets it fill or drain a run of
// slots (measurements, and the learned spin this replaced: bench/README.md, "Queue tuning").
// An already expired deadline makes it one attempt of kind try_op, i.e. the queue's try_ op. On
// success it wakes the other side's sleepers (sleep_word::notify: a load, and a wake only if one
// announced itself). Announce + re-try against notify is Dekker's pattern (sleep_word.hpp), so a
// success racing with a sleeper is never missed; a wake wakes the whole side, so a timed waiter
// that leaves cannot swallow a wake-up meant for another.
//
// Progress: blocking (until the deadline); not async-signal-safe (it sleeps).
#ifndef LFKIT_DETAIL_WAIT_LOOP_HPP
#define LFKIT_DETAIL_WAIT_LOOP_HPP

#include <atomic>
#include <cstdint>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/deadline.hpp"
#include "lfkit/detail/sleep_word.hpp"

namespace lfkit::detail {

/// What one attempt of a queue operation found.
enum class queue_status : unsigned char {
  ok,           // done
  unavailable,  // full (push) / empty (pop)
  busy,         // the slot is held by a thread that has not finished (mpmc_queue only)
  closed,       // closed (pop: and drained)
};

/// Whether an attempt belongs to a try_ op (its own bounded busy wait decides) or to run() (which
/// waits itself: the attempt gives up on a slot that is not ready at once).
enum class wait_kind : bool { try_op, blocking };

/// One queue side's blocking loop (see the file comment). It holds no state; the queues keep one
/// per side as the place that names the side's loop (measured: the same loop as a free function
/// template, out of line at one call site, ran blocking 3P1C at about 0.35x, bench/README.md).
template <template <class> class Atom = std::atomic>
class wait_loop {
 public:
  wait_loop() noexcept = default;
  wait_loop(const wait_loop&) = delete;
  wait_loop& operator=(const wait_loop&) = delete;

  /// `attempt(wait_kind) noexcept -> queue_status` until ok or closed, sleeping on `sleepers`;
  /// on ok wakes `other`. True on ok; false if closed or `dl` passed first.
  template <class Attempt>
  bool run(sleep_word<Atom>& sleepers, sleep_word<Atom>& other, Attempt&& attempt,
           const deadline& dl) {
    auto settled = [](queue_status st) {
      return st == queue_status::ok || st == queue_status::closed;
    };
    const bool expired = dl.expired();
    queue_status st = attempt(expired ? wait_kind::try_op : wait_kind::blocking);
    while (!settled(st) && !expired) {
      pause_n<Atom>(1);
      for (unsigned y = 0; !settled(st) && y < wait_yields; ++y) {
        atomic_hooks<Atom>::yield();
        st = attempt(wait_kind::blocking);
      }
      if (settled(st)) break;
      if (dl.expired()) return false;
      const std::uint32_t word = sleepers.announce();  // (S1): then re-try before sleeping
      st = attempt(wait_kind::blocking);
      if (settled(st)) break;
      sleepers.wait(word, dl);  // woken, timed out, or the word changed: again from the pause
      st = attempt(wait_kind::blocking);
    }
    if (st != queue_status::ok) return false;
    other.notify();
    return true;
  }
};

}  // namespace lfkit::detail

#endif  // LFKIT_DETAIL_WAIT_LOOP_HPP
