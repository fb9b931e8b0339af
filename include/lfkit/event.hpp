// SPDX-License-Identifier: BSL-1.0
// lfkit/event.hpp — a manual-reset event (Python's threading.Event) that a signal handler may set.
//
// Part of lfkit (header-only, C++20). Standard library and the lfkit/detail waiting layer; on Linux
// the futex(2) system call (through lfkit::atomic_hooks<Atom>). Elsewhere, or with
// LFKIT_PORTABLE_WAIT defined, waits use std::atomic::wait/notify_all (see below for what that
// costs set()).
//
//   lfkit::event stop;
//   std::thread t([&] { stop.wait(); cleanup(); });     // sleeps until set
//   extern "C" void on_sigterm(int) { stop.set(); }     // async-signal-safe
//   stop.wait_for(std::chrono::seconds(1));             // true: set within the second
//   stop.reset();                                       // unset again
//
// ---------------------------------------------------------------------------------------------
// Semantics
// ---------------------------------------------------------------------------------------------
// * The event is set or unset (initially unset unless constructed with true). set() makes it set
//   and wakes every waiter; reset() makes it unset; is_set() reads it.
// * wait() returns once the event has been set at some instant since the wait began (at once if
//   it is set). wait_for/wait_until return true in that case, false if the deadline passed first.
//   So a waiter that was waiting when set() took effect returns true even if reset() follows
//   immediately, before it runs (as Python's Event.wait returns True once notified): a set() is
//   never lost on a waiter that was there to see it.
// * set() racing with reset(): each is one atomic read-modify-write of the same word, so they are
//   linearizable — the state afterwards is that of whichever took effect last. A set() that comes
//   first still releases every wait that had begun before it (previous point); a wait that begins
//   after the reset waits for the next set().
// * Ordering: everything a thread (or handler) did before set() happens-before whatever a waiter
//   does after a wait that returned true, and after an is_set() that returned true (release (1)
//   in set(), acquire (1) in the waits and is_set()). reset() orders nothing.
//
// ---------------------------------------------------------------------------------------------
// Guarantees per operation
// ---------------------------------------------------------------------------------------------
//   operation                        progress                            async-signal-safe
//   set()                            wait-free: one fetch_or, then one   yes (*)
//                                    futex wake only if a waiter
//                                    announced itself since the last
//                                    reset; no lock, no allocation
//   is_set()                         wait-free: one load                 yes
//   reset()                          lock-free: a CAS loop that fails    yes (no wake)
//                                    only when another thread changed
//                                    the word
//   wait()                           blocking: a short adaptive spin     no
//                                    (pause hints), a few yields, then
//                                    sleeps in the kernel until set
//   wait_for/wait_until (any clock)  blocking until set or the deadline  no
//   constructor / destructor         trivial                             yes
// (*) futex(2) is not on POSIX's list of async-signal-safe functions, but the raw system call
//     takes no lock and allocates nothing, and the layer preserves errno. On the portable path
//     (LFKIT_PORTABLE_WAIT, or not Linux) the wake is std::atomic::notify_all, which may take a
//     library-internal lock: there set() is NOT async-signal-safe when a waiter may be asleep.
//     `lfkit::basic_event<Atom>::set_is_signal_safe` says which applies.
//
// ---------------------------------------------------------------------------------------------
// How it works
// ---------------------------------------------------------------------------------------------
// One 32-bit word: bit 0 "set", bit 1 "a waiter may be asleep", bits 2..31 a generation that
// reset() advances when it clears a set event. A waiter reads the word; if unset it remembers the
// generation, spins briefly (detail::adaptive_spin), yields a few times (detail::yield_until), then
// announces itself by CAS-ing the waiter bit in and sleeps on the word with the value it wrote.
// set() is fetch_or(set bit): if it made the transition and the waiter bit was there, it wakes all
// sleepers. No Dekker fence is needed: the announcement and set() are RMWs of the same word, so
// either set() sees the bit (and wakes), or the announcement's CAS fails on the set word, or the
// sleep's compare (inside the kernel) finds a changed word and returns at once. A waiter returns
// true when it sees the set bit or a generation other than its own (a set() followed by a reset()
// while it was away). The waiter bit stays until the next reset() (which clears it together with
// the set bit): until then a set() that finds the event already set makes no system call. Every
// modification of the word is an RMW, so each belongs to the release sequence headed by the latest
// set() (C++20 [intro.races]): an acquire load that sees any later value still synchronises with
// that set().
// Memory: the word plus the waiters' adaptive spin limit (8 bytes): 12 bytes, no allocation.
// Generations wrap after 2^30 set/reset cycles; a waiter that slept through exactly a multiple of
// 2^30 complete cycles without running would miss them (each cycle also wakes it, so it would
// have to be descheduled through all of them).
#ifndef LFKIT_EVENT_HPP
#define LFKIT_EVENT_HPP

#include <atomic>
#include <chrono>
#include <cstdint>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/deadline.hpp"

namespace lfkit {

/// A manual-reset event; see the file comment. `Atom` is the atomic policy (std::atomic, or an
/// instrumented one in tests).
template <template <class> class Atom = std::atomic>
class basic_event {
  using hooks = atomic_hooks<Atom>;
  static constexpr std::uint32_t set_bit = 1;
  static constexpr std::uint32_t waiter_bit = 2;
  static constexpr std::uint32_t gen_one = 4;
  static constexpr std::uint32_t gen_mask = ~(set_bit | waiter_bit);
  static_assert(sizeof(Atom<std::uint32_t>) == sizeof(std::uint32_t) || !hooks::futex_compatible,
                "the futex path sleeps on the word itself: it must be exactly 32 bits");

 public:
  /// Whether set() may be called from a signal handler with this policy and platform (true on
  /// Linux with futex; false on the portable path, whose notify_all may lock).
  static constexpr bool set_is_signal_safe = hooks::wake_is_signal_safe;

  /// An event, unset unless `initially_set`. Progress: trivial.
  ///   lfkit::event e;            // unset
  ///   lfkit::event ready(true);  // already set: wait() returns at once
  constexpr explicit basic_event(bool initially_set = false) noexcept
      : word_(initially_set ? set_bit : 0u) {}
  basic_event(const basic_event&) = delete;
  basic_event& operator=(const basic_event&) = delete;

  /// Sets the event and wakes every waiter. Idempotent.
  /// Progress: wait-free (one fetch_or, at most one futex wake); async-signal-safe when
  /// set_is_signal_safe (Linux futex path), errno preserved.
  ///   extern "C" void on_signal(int) { g_stop.set(); }
  void set() noexcept {
    // release (1): pairs with the acquire (1) loads in is_set() and the waits.
    const std::uint32_t old = word_.fetch_or(set_bit, std::memory_order_release);
    if ((old & (set_bit | waiter_bit)) == waiter_bit) hooks::wake_all(word_);
  }

  /// Makes the event unset (no effect if it is unset). Waits that began before a preceding set()
  /// still return true (see the file comment). Progress: lock-free; async-signal-safe.
  ///   e.set(); e.reset(); assert(!e.is_set());
  void reset() noexcept {
    std::uint32_t cur = word_.load(std::memory_order_relaxed);  // relaxed: the CAS decides
    while ((cur & set_bit) != 0) {
      // Clears the set and waiter bits and advances the generation. relaxed: reset publishes
      // nothing; the RMW keeps set()'s release sequence (1) intact.
      if (word_.compare_exchange_weak(cur, (cur & gen_mask) + gen_one, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        return;
      }
    }
  }

  /// Whether the event is set now. Progress: wait-free; async-signal-safe.
  ///   if (stop.is_set()) return;
  [[nodiscard]] bool is_set() const noexcept {
    return (word_.load(std::memory_order_acquire) & set_bit) != 0;  // acquire (1): pairs with set()
  }

  /// Blocks until the event has been set since the call began (returns at once if it is set).
  /// Progress: blocking; not for signal handlers.
  ///   std::thread waiter([&] { e.wait(); });  e.set();  waiter.join();
  void wait() noexcept { (void)wait_impl(detail::deadline::none()); }

  /// wait() with a timeout: true if the event was set, false if `timeout` passed first. Zero,
  /// negative and NaN timeouts check once; duration::max() and +inf wait for ever.
  /// Progress: blocking; not for signal handlers.
  ///   if (!e.wait_for(std::chrono::milliseconds(100))) report_timeout();
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return wait_impl(detail::deadline_after(timeout));
  }

  /// wait() until a time point of any clock (converted once to the steady clock; adjusting
  /// system_clock meanwhile does not move it). true if set, false at the deadline.
  /// Progress: blocking; not for signal handlers.
  ///   e.wait_until(std::chrono::system_clock::now() + std::chrono::seconds(2));
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) noexcept {
    return wait_impl(detail::deadline_at(deadline));
  }

 private:
  bool wait_impl(const detail::deadline& dl) noexcept {
    std::uint32_t cur = word_.load(std::memory_order_acquire);  // acquire (1): pairs with set()
    if ((cur & set_bit) != 0) return true;
    const std::uint32_t gen = cur & gen_mask;
    // Set, or set and then reset while we were away (the generation moved on).
    const auto fired = [gen](std::uint32_t v) noexcept {
      return (v & set_bit) != 0 || (v & gen_mask) != gen;
    };
    if (dl.expired()) return false;
    const auto look = [&]() noexcept {
      cur = word_.load(std::memory_order_acquire);  // acquire (1): pairs with set()
      return fired(cur);
    };
    // Spin while spinning has recently paid (detail::adaptive_spin, learned per event: it falls
    // to the minimum when the setter is usually asleep or descheduled, as in a ping-pong, where a
    // fixed ~127-hint spin doubled the CPU per round trip here); then a few yields
    // (detail::yield_until: in a ping-pong they catch the other thread without a sleep and a
    // wake, ~10x the round trips); then sleep.
    const auto spun = spin_.spin_until(look, dl, spin_step);
    if (spun == spin_result::ready) return true;
    if (spun == spin_result::expired) return false;
    if (detail::yield_until<Atom>(look, dl)) return true;
    if (dl.expired()) return false;
    for (;;) {
      if ((cur & waiter_bit) == 0) {
        // acquire (1) on failure: the value read may be one set() wrote. Success needs none (the
        // value has no set bit of our generation), but GCC rejects a failure order stronger than
        // the success order (-Winvalid-memory-model) and would strengthen it anyway.
        if (!word_.compare_exchange_weak(cur, cur | waiter_bit, std::memory_order_acquire,
                                         std::memory_order_acquire)) {
          if (fired(cur)) return true;
          continue;
        }
        cur |= waiter_bit;
      }
      hooks::wait(word_, cur, dl);  // returns at once if the word is no longer `cur`
      cur = word_.load(std::memory_order_acquire);  // acquire (1): pairs with set()
      if (fired(cur)) return true;
      if (dl.expired()) return false;
    }
  }

  static constexpr std::uint32_t spin_step = 8;  // pause hints between looks while spinning
  using spin_result = typename detail::adaptive_spin<Atom>::spin_result;

  Atom<std::uint32_t> word_;
  detail::adaptive_spin<Atom> spin_{64, 1024};  // waiters' spin limit; never touched by set()
};

/// The event on std::atomic: what applications use.
using event = basic_event<std::atomic>;

}  // namespace lfkit

#endif  // LFKIT_EVENT_HPP
