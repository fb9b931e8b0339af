// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/backoff.hpp — the one back-off every lfkit spin goes through, and a spin limit
// that adapts at run time.
//
// Part of lfkit (header-only, C++20). Standard library and lfkit/detail/atomic_hooks.hpp.
//
//   lfkit::detail::backoff<Atom> b;
//   while (!try_something()) {
//     if (b.completed()) { sleep_somehow(); b.reset(); } else b.snooze();
//   }
//
// backoff (crossbeam's Backoff, in lfkit's hooks): spin() pauses 1, 2, 4, ... up to
// 2^spin_limit hints; snooze() does the same, then yields; completed() says when spinning has
// stopped paying and the caller should sleep. Progress: each call wait-free (a bounded number of
// pause hints, or one yield); async-signal-safe.
//
// yield_until: the few yields (wait_yields) every blocking waiter makes after spinning and before
// it sleeps.
//
// adaptive_spin (the idea of folly's TurnSequencer): a per-structure estimate of how many pause
// hints a waiter should spend before yielding or sleeping. A wait that succeeded while spinning
// pulls the estimate towards what it used (with a margin); a wait that had to fall through to
// yield/sleep pulls it down. So on a machine where the awaited thread is usually running (many
// cores) waiters spin long enough to catch it, and where it is usually descheduled (fewer cores
// than threads) they stop spinning early. Relaxed accesses throughout: the estimate is a hint that
// never guards data; a lost update only delays adaptation.
#ifndef LFKIT_DETAIL_BACKOFF_HPP
#define LFKIT_DETAIL_BACKOFF_HPP

#include <atomic>
#include <cstdint>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/deadline.hpp"

namespace lfkit::detail {

/// `n` pause hints through the policy. Wait-free, async-signal-safe.
template <template <class> class Atom = std::atomic>
inline void pause_n(unsigned n) noexcept {
  for (unsigned i = 0; i < n; ++i) atomic_hooks<Atom>::pause();
}

/// Exponential back-off for one waiting episode (crossbeam's Backoff). Not shared between threads.
template <template <class> class Atom = std::atomic>
class backoff {
 public:
  /// Steps that pause (2^step hints each, so at most 2^spin_limit per step).
  static constexpr unsigned spin_limit = 6;
  /// Steps after which completed() turns true (the later ones yield).
  static constexpr unsigned yield_limit = 10;

  /// Back off in a lock-free retry loop (another thread made progress): pauses only.
  void spin() noexcept {
    pause_n<Atom>(1u << (step_ < spin_limit ? step_ : spin_limit));
    if (step_ <= spin_limit) ++step_;
  }
  /// Back off while waiting for another thread: pauses, then yields.
  void snooze() noexcept {
    if (step_ <= spin_limit) {
      pause_n<Atom>(1u << step_);
    } else {
      atomic_hooks<Atom>::yield();
    }
    if (step_ <= yield_limit) ++step_;
  }
  /// Whether the caller should stop spinning and sleep (or give up).
  [[nodiscard]] bool completed() const noexcept { return step_ > yield_limit; }
  void reset() noexcept { step_ = 0; }
  [[nodiscard]] unsigned step() const noexcept { return step_; }

 private:
  unsigned step_ = 0;
};

/// sched_yield()s a blocking waiter makes between spinning and sleeping, a look after each (the
/// queues' wait_loop, the event's and the semaphore's waits). A yield returns within about a
/// microsecond when the CPU has nothing else to run, and hands the CPU to the awaited thread when
/// it was just woken onto this one: in a ping-pong the two threads then catch each other without
/// a futex sleep and wake each time (~10x the round trips and less CPU per round trip here,
/// bench/README.md, "Waiting: yields before sleeping"). Where threads outnumber cores each yield
/// may give the CPU away for a time slice, so there are few.
inline constexpr unsigned wait_yields = 4;

/// Up to wait_yields yields, each followed by a look at `ready()`: true as soon as it holds,
/// false when they are spent or `dl` has passed (the caller tells which). Progress: bounded by
/// wait_yields system calls; async-signal-safe if `ready` is (sched_yield is a bare system call),
/// but only blocking waits call it.
template <template <class> class Atom = std::atomic, class Ready>
bool yield_until(Ready&& ready, const deadline& dl) noexcept {
  for (unsigned i = 0; i < wait_yields; ++i) {
    atomic_hooks<Atom>::yield();
    if (ready()) return true;
    if (dl.expired()) return false;
  }
  return false;
}

/// A spin limit (in pause hints) learned at run time; see the file comment. One per structure
/// side, alone on its line or in a read-mostly line (it is written only when it changes).
template <template <class> class Atom = std::atomic>
class adaptive_spin {
 public:
  /// `initial` and `max` in pause hints; min is 0 (go straight to yield/sleep).
  constexpr explicit adaptive_spin(std::uint32_t initial = 64, std::uint32_t max = 4096) noexcept
      : limit_(initial), max_(max) {}

  /// The current limit. Wait-free.
  [[nodiscard]] std::uint32_t limit() const noexcept {
    return limit_.load(std::memory_order_relaxed);  // relaxed: a hint, pairs with nothing
  }

  /// Record one waiting episode: `used` pause hints spent, `caught` whether the condition came
  /// true while spinning. Moves the limit 1/8 of the way towards the target: 2 x used when caught
  /// (room for a slower episode), 0 when not. Writes only when the value changes.
  void record(std::uint32_t used, bool caught) noexcept {
    const std::uint32_t cur = limit();
    std::uint64_t target = caught ? std::uint64_t{used} * 2 + 8 : 0;
    if (target > max_) target = max_;
    const std::uint64_t next =
        target > cur ? cur + (target - cur + 7) / 8 : cur - (cur - target + 7) / 8;
    if (next != cur) {
      limit_.store(static_cast<std::uint32_t>(next), std::memory_order_relaxed);  // relaxed: hint
    }
  }

  /// How a spin_until() episode ended.
  enum class spin_result { ready, expired, exhausted };

  /// One spinning episode: `step` pause hints, then a look at `ready()`, until it holds (ready),
  /// `dl` expires (expired), or the learned limit is spent (exhausted: at least one look is
  /// made). Never yields: on a loaded machine a yield gives the core away for a time slice.
  /// Records the episode unless it expired. Progress: bounded by the limit (at most `max` hints
  /// plus `step`); async-signal-safe if `ready` is.
  template <class Ready>
  spin_result spin_until(Ready&& ready, const deadline& dl, std::uint32_t step = 8) noexcept {
    const std::uint32_t lim = limit();
    std::uint32_t used = 0;
    do {
      pause_n<Atom>(step);
      used += step;
      if (ready()) {
        record(used, true);
        return spin_result::ready;
      }
      if (dl.expired()) return spin_result::expired;
    } while (used < lim);
    record(used, false);
    return spin_result::exhausted;
  }

 private:
  Atom<std::uint32_t> limit_;
  std::uint32_t max_;
};

}  // namespace lfkit::detail

#endif  // LFKIT_DETAIL_BACKOFF_HPP
