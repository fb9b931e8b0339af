// SPDX-License-Identifier: BSL-1.0
// lfkit/semaphore.hpp — a counting semaphore with a maximum count whose release() a signal
// handler may call.
//
// Part of lfkit (header-only, C++20). Standard library and the lfkit/detail waiting layer; on Linux
// the futex(2) system call (through lfkit::atomic_hooks<Atom>). Elsewhere, or with
// LFKIT_PORTABLE_WAIT defined, waits use std::atomic::wait/notify (see below for what that costs
// release()).
//
//   lfkit::semaphore slots(0, 16);                    // count 0, at most 16
//   extern "C" void on_sigchld(int) { (void)slots.release(); }   // async-signal-safe
//   slots.acquire();                                  // sleeps until the count is positive
//   if (slots.try_acquire()) { /* took one */ }
//   slots.try_acquire_for(std::chrono::milliseconds(5));
//   if (slots.release(20) == lfkit::release_status::would_exceed_max) { /* count unchanged */ }
//
// ---------------------------------------------------------------------------------------------
// Semantics
// ---------------------------------------------------------------------------------------------
// * A count between 0 and max_count(). release(n) adds n, acquire() waits until the count is
//   positive and takes one; every unit released is taken by exactly one acquire (each change is
//   one atomic RMW of the count: linearizable).
// * release(n) that would take the count beyond max_count() (or n < 0) changes nothing and says so
//   in its result, without throwing (it may run in a signal handler). n == 0 does nothing.
// * Ordering: everything before a release() happens-before whatever follows the acquire (or
//   successful try_acquire*) that takes one of its units (release (2) / acquire (2) below; the
//   count's RMWs form one release sequence).
// * Waking: release(1) wakes one sleeper, release(n > 1) all of them (they compete; losers sleep
//   again), and only when a thread announced itself as a sleeper (sleepers_ > 0). A woken thread
//   always tries to take a unit before it leaves, even at its deadline, so a wake is never
//   swallowed by a waiter that times out.
//
// ---------------------------------------------------------------------------------------------
// Guarantees per operation
// ---------------------------------------------------------------------------------------------
//   operation                          progress                              async-signal-safe
//   release(n = 1)                     lock-free: a CAS loop that fails only yes (*)
//                                      when another thread changed the
//                                      count; then one load and, only if a
//                                      thread sleeps, one futex wake. No
//                                      lock, no allocation
//   try_acquire()                      lock-free (as release); never fails   yes
//                                      while the count is positive
//   acquire()                          blocking: a short adaptive spin       no
//                                      (pause hints), a few yields, then
//                                      sleeps in the kernel until a unit is
//                                      free
//   try_acquire_for/_until (any clock) blocking until a unit or the deadline no
//   available(), max_count()           wait-free                             yes
//   constructor                        throws std::invalid_argument on bad   no
//                                      counts; otherwise trivial
// (*) futex(2) is not on POSIX's list of async-signal-safe functions, but the raw system call
//     takes no lock and allocates nothing, and the layer preserves errno. On the portable path
//     (LFKIT_PORTABLE_WAIT, or not Linux) the wake is std::atomic::notify_one/notify_all, which
//     may take a library-internal lock: there release() is NOT async-signal-safe when a thread
//     may be asleep. `basic_semaphore<Atom>::release_is_signal_safe` says which applies.
//
// ---------------------------------------------------------------------------------------------
// How it works
// ---------------------------------------------------------------------------------------------
// Two 32-bit words on one cache line: count_ (the futex word) and sleepers_ (threads between
// announcing a sleep and leaving it). A waiter that found the count zero, spun briefly
// (detail::adaptive_spin) and yielded a few times (detail::yield_until) increments sleepers_,
// re-reads the count and sleeps on count_ only if it is still 0; release() changes the count,
// then reads sleepers_ and wakes only if it is positive.
// This is Dekker's pattern; all four accesses are seq_cst (3), so either release() sees the
// sleeper or the sleeper's re-read sees the unit — and a release between the re-read and the sleep
// changes the word, so the kernel's compare refuses the sleep.
#ifndef LFKIT_SEMAPHORE_HPP
#define LFKIT_SEMAPHORE_HPP

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/deadline.hpp"
#include "lfkit/detail/platform.hpp"

namespace lfkit {

/// What release(n) did. Only `ok` changed the count.
enum class release_status {
  ok,                ///< n units added (n == 0: nothing to do)
  would_exceed_max,  ///< count + n > max_count(): count unchanged
  negative,          ///< n < 0: count unchanged
};

/// A counting semaphore with a maximum; see the file comment.
template <template <class> class Atom = std::atomic>
class basic_semaphore {
  using hooks = atomic_hooks<Atom>;
  static_assert(sizeof(Atom<std::uint32_t>) == sizeof(std::uint32_t) || !hooks::futex_compatible,
                "the futex path sleeps on the count itself: it must be exactly 32 bits");

 public:
  /// Whether release() may be called from a signal handler with this policy and platform.
  static constexpr bool release_is_signal_safe = hooks::wake_is_signal_safe;

  /// The largest max_count a semaphore accepts (the count is a 32-bit futex word).
  static constexpr std::ptrdiff_t max() noexcept { return 0xFFFFFFFF; }

  /// A semaphore holding `initial` units, never more than `max_count`. Throws
  /// std::invalid_argument naming the value if max_count is not in [1, max()] or initial not in
  /// [0, max_count].
  ///   lfkit::semaphore s(0);        // empty, max() at most
  ///   lfkit::semaphore one(1, 1);   // a binary semaphore, available
  explicit basic_semaphore(std::ptrdiff_t initial, std::ptrdiff_t max_count = max())
      : count_(checked_initial(initial, max_count)),
        sleepers_(0),
        max_(static_cast<std::uint32_t>(max_count)) {}
  basic_semaphore(const basic_semaphore&) = delete;
  basic_semaphore& operator=(const basic_semaphore&) = delete;

  /// Adds `n` units and wakes sleepers if any. Beyond max_count() or n < 0: nothing changes and
  /// the result says why. Progress: lock-free; async-signal-safe when release_is_signal_safe
  /// (Linux futex path), errno preserved.
  ///   if (s.release() != lfkit::release_status::ok) note_overflow();
  release_status release(std::ptrdiff_t n = 1) noexcept {
    if (n < 0) return release_status::negative;
    if (n == 0) return release_status::ok;
    if (n > static_cast<std::ptrdiff_t>(max_)) return release_status::would_exceed_max;
    const auto add = static_cast<std::uint32_t>(n);
    std::uint32_t cur = count_.load(std::memory_order_relaxed);  // relaxed: the CAS decides
    do {
      if (add > max_ - cur) return release_status::would_exceed_max;
      // seq_cst (3), which includes release (2): pairs with the acquire (2) of the taker, and
      // with the sleeper's increment and re-read (3).
    } while (!count_.compare_exchange_weak(cur, cur + add, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    if (sleepers_.load(std::memory_order_seq_cst) != 0) {  // seq_cst (3): Dekker, see above
      if (add == 1) {
        hooks::wake_one(count_);
      } else {
        hooks::wake_all(count_);
      }
    }
    return release_status::ok;
  }

  /// Takes a unit if the count is positive. Never fails while it is (re-tries a lost CAS).
  /// Progress: lock-free; async-signal-safe.
  ///   while (s.try_acquire()) ++drained;
  [[nodiscard]] bool try_acquire() noexcept {
    std::uint32_t cur = count_.load(std::memory_order_relaxed);  // relaxed: the CAS decides
    while (cur != 0) {
      // acquire (2): pairs with the release (2) of the unit's release().
      if (count_.compare_exchange_weak(cur, cur - 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  /// Waits until a unit is free and takes it. Progress: blocking; not for signal handlers.
  ///   std::thread worker([&] { for (;;) { s.acquire(); do_one(); } });
  void acquire() noexcept { (void)acquire_impl(detail::deadline::none()); }

  /// acquire() with a timeout: true if a unit was taken, false if `timeout` passed first. Zero,
  /// negative and NaN timeouts try once; duration::max() and +inf wait for ever.
  /// Progress: blocking; not for signal handlers.
  ///   if (!s.try_acquire_for(std::chrono::milliseconds(10))) return busy;
  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return acquire_impl(detail::deadline_after(timeout));
  }

  /// acquire() until a time point of any clock (converted once to the steady clock).
  /// Progress: blocking; not for signal handlers.
  ///   s.try_acquire_until(std::chrono::system_clock::now() + std::chrono::seconds(1));
  template <class Clock, class Duration>
  [[nodiscard]] bool try_acquire_until(
      const std::chrono::time_point<Clock, Duration>& deadline) noexcept {
    return acquire_impl(detail::deadline_at(deadline));
  }

  /// The count now (may change at once). Progress: wait-free; async-signal-safe.
  [[nodiscard]] std::ptrdiff_t available() const noexcept {
    return static_cast<std::ptrdiff_t>(count_.load(std::memory_order_relaxed));  // relaxed: a hint
  }
  /// The maximum given at construction. Progress: wait-free; async-signal-safe.
  [[nodiscard]] std::ptrdiff_t max_count() const noexcept {
    return static_cast<std::ptrdiff_t>(max_);
  }

 private:
  static std::uint32_t checked_initial(std::ptrdiff_t initial, std::ptrdiff_t max_count) {
    if (max_count < 1 || max_count > max()) {
      throw std::invalid_argument("lfkit::semaphore: max_count " + std::to_string(max_count) +
                                  " is not in [1, " + std::to_string(max()) + "]");
    }
    if (initial < 0 || initial > max_count) {
      throw std::invalid_argument("lfkit::semaphore: initial count " + std::to_string(initial) +
                                  " is not in [0, max_count = " + std::to_string(max_count) + "]");
    }
    return static_cast<std::uint32_t>(initial);
  }

  bool acquire_impl(const detail::deadline& dl) noexcept {
    if (try_acquire()) return true;
    if (dl.expired()) return false;
    // Spin while spinning has recently paid (detail::adaptive_spin), then a few yields
    // (detail::yield_until; see event.hpp), then sleep.
    const auto take = [this]() noexcept { return try_acquire(); };
    const auto spun = spin_.spin_until(take, dl, spin_step);
    if (spun == spin_result::ready) return true;
    if (spun == spin_result::expired) return false;
    if (detail::yield_until<Atom>(take, dl)) return true;
    if (dl.expired()) return false;
    for (;;) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);  // seq_cst (3): Dekker with release()
      if (count_.load(std::memory_order_seq_cst) == 0) {  // seq_cst (3): as above
        hooks::wait(count_, 0, dl);  // returns at once if the count is no longer 0
      }
      // relaxed: a release() that still sees us only makes one wake that finds nobody.
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      if (try_acquire()) return true;  // also at the deadline: a wake is never swallowed
      if (dl.expired()) return false;
    }
  }

  // Both words on one line: an uncontended release() touches both.
  alignas(cache_line_size) Atom<std::uint32_t> count_;
  Atom<std::uint32_t> sleepers_;
  std::uint32_t max_;
  detail::adaptive_spin<Atom> spin_{64, 1024};  // acquirers' spin limit; release() never touches it

  static constexpr std::uint32_t spin_step = 8;  // pause hints between tries while spinning
  using spin_result = typename detail::adaptive_spin<Atom>::spin_result;
};

/// The semaphore on std::atomic: what applications use.
using semaphore = basic_semaphore<std::atomic>;

}  // namespace lfkit

#endif  // LFKIT_SEMAPHORE_HPP
