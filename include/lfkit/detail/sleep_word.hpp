// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/sleep_word.hpp — one side's "someone asleep" word for structures whose blocking
// operations sleep in the kernel while their non-blocking ones make no system call.
//
// Part of lfkit (header-only, C++20). Standard library and lfkit/detail/atomic_hooks.hpp.
//
// The word is `epoch << 1 | someone_asleep`, alone on its cache line. Protocol (Dekker's pattern
// with asymmetric fences):
//   sleeper:  w = announce();      // fetch_or(1) (relaxed) + heavy fence
//             re-try the operation; if it still cannot proceed: wait(w, deadline)
//   notifier: after every successful operation that may unblock this side: notify()
//             // light fence + relaxed load; only if the bit is set: CAS (clear bit, bump epoch)
//             // and wake every sleeper
// Either the sleeper's re-try sees the notifier's effect, or the notifier's load sees the bit
// (the heavy fence orders the sleeper's RMW before its re-try's loads against every light fence).
// The epoch bump makes a futex wait on the announced value fail or wake, so no wake-up is lost.
// A woken thread that still cannot proceed announces again; until someone does, notify() makes no
// system call — so there is no system call per operation while sleepers are occasional, and a
// timed waiter that leaves cannot swallow a wake-up meant for another (everyone is woken).
//
//   lfkit::detail::sleep_word<std::atomic> not_empty;
//   // consumer:  for (;;) { if (try_pop()) break; auto w = not_empty.announce();
//   //                       if (try_pop()) break; not_empty.wait(w, deadline::none()); }
//   // producer:  if (try_push()) not_empty.notify();
//
// Progress: notify() wait-free unless a sleeper announced itself (then a CAS loop that ends when
// the bit is clear, and one wake system call); announce() one RMW + a heavy fence; force_wake()
// lock-free + one wake. Async-signal-safe: notify(), force_wake() when
// atomic_hooks<Atom>::wake_is_signal_safe (futex on Linux; errno kept); wait() is blocking.
#ifndef LFKIT_DETAIL_SLEEP_WORD_HPP
#define LFKIT_DETAIL_SLEEP_WORD_HPP

#include <atomic>
#include <cstdint>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/deadline.hpp"
#include "lfkit/detail/platform.hpp"

namespace lfkit::detail {

/// One side's sleep word, alone on a cache line (read by every operation of the other side,
/// written only when threads of this side go to sleep or are woken).
template <template <class> class Atom = std::atomic>
class alignas(cache_line_size) sleep_word {
  using hooks = atomic_hooks<Atom>;

 public:
  sleep_word() noexcept : word_(0u) {}
  sleep_word(const sleep_word&) = delete;
  sleep_word& operator=(const sleep_word&) = delete;

  /// After a successful operation: wake this side's sleepers if one announced itself.
  void notify() noexcept {
    hooks::light_fence();
    // relaxed (S1): ordered after the caller's successful RMW by the light fence; pairs with the
    // fetch_or + heavy fence (S1) in announce().
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    if (w & 1u) [[unlikely]]
      wake_slow(w);
  }

  /// Bump the epoch (clearing the bit) and wake everyone, whether or not someone announced
  /// itself; for close().
  void force_wake() noexcept {
    // relaxed: only a starting guess for the CAS.
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    // release (S2): an RMW after any announce() in the word's order, so that sleeper's wait on
    // the old value fails or is woken; a later announce() reading this value acquires what
    // preceded (close()'s mark) through its heavy fence. Failure reloads w (relaxed: a retry).
    while (!word_.compare_exchange_weak(w, (w | 1u) + 1u, std::memory_order_release,
                                        std::memory_order_relaxed)) {
    }
    hooks::wake_all(word_);
  }

  /// Announce that a thread of this side is about to sleep; returns the value to wait() on. The
  /// caller must re-try its operation after this and before wait().
  std::uint32_t announce() noexcept {
    // relaxed (S1): the heavy fence below orders it before the re-try's loads (pairs with
    // notify()'s light fence + load) and acquires for it (pairs with the release (S2) CASes).
    const std::uint32_t w = word_.fetch_or(1u, std::memory_order_relaxed) | 1u;
    hooks::heavy_fence();
    return w;
  }

  /// Sleep while the word still holds `announced`, until woken or `dl`. Spurious returns happen;
  /// the caller re-checks. Blocking; not async-signal-safe.
  void wait(std::uint32_t announced, const deadline& dl) noexcept {
    hooks::wait(word_, announced, dl);
  }

  /// The current value (tests and statistics). Wait-free.
  [[nodiscard]] std::uint32_t value() const noexcept {
    return word_.load(std::memory_order_relaxed);  // relaxed: a statistic, pairs with nothing
  }

 private:
  [[gnu::noinline, gnu::cold]] void wake_slow(std::uint32_t w) noexcept {
    // Clear the bit and bump the epoch in one CAS (w odd: w + 1 is the next even epoch); only the
    // thread whose CAS clears the bit makes the system call.
    while (w & 1u) {
      // release (S2): as in force_wake(); failure reloads w (relaxed: just a retry).
      if (word_.compare_exchange_weak(w, w + 1u, std::memory_order_release,
                                      std::memory_order_relaxed)) {
        hooks::wake_all(word_);
        return;
      }
    }
  }

  Atom<std::uint32_t> word_;
};

}  // namespace lfkit::detail

#endif  // LFKIT_DETAIL_SLEEP_WORD_HPP
