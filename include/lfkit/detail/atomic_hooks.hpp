// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/atomic_hooks.hpp — the atomic policy's hooks for everything that is not a member
// function of an atomic: fences, the asymmetric fence pair, spin hints, yields, and sleeping on /
// waking a 32-bit word.
//
// Part of lfkit (header-only, C++20). Standard library, lfkit/detail/platform.hpp and
// lfkit/detail/futex.hpp (futex(2) on Linux).
//
// Every lfkit structure takes `template <class> class Atom = std::atomic`. Atomic *accesses* go
// through Atom's member functions; every *other* synchronising step goes through
// `lfkit::atomic_hooks<Atom>`, so a policy that instruments or models atomics (the stress suite's
// perturbed_atomic, a Relacy adapter) sees each fence, wait and wake too. The primary template
// below is what std::atomic gets; it compiles to exactly what the structures called directly
// before (a fence instruction, a compiler barrier, a raw futex call). A policy customises it by
// explicit specialisation, visible before the structure is instantiated:
//
//   template <> struct lfkit::atomic_hooks<my_atomic> : lfkit::atomic_hooks<std::atomic> {
//     static void thread_fence(std::memory_order o) noexcept { log(); std::atomic_thread_fence(o); }
//   };
//
// Hooks (all static, all noexcept):
//   thread_fence(order)   std::atomic_thread_fence                 wait-free, signal-safe
//   light_fence()         frequent side of the asymmetric fence    wait-free, signal-safe
//   heavy_fence()         rare side (membarrier(2))                signal-safe once prepared
//   prepare_heavy_fence() registers membarrier; constructors only  may sleep; not signal-safe
//   pause()               spin-wait hint                           wait-free, signal-safe
//   yield()               give the CPU away (sched_yield)          signal-safe
//   wait(word, v, dl)     sleep while word == v, until woken or dl blocking; spurious returns
//   wake_one(word) / wake_all(word)                                one system call; signal-safe
//                                                                  on Linux (futex), errno kept
//   wake_is_signal_safe   whether wake_* may run in a signal handler (false on the portable
//                         path: std::atomic::notify_* may take a library lock)
#ifndef LFKIT_DETAIL_ATOMIC_HOOKS_HPP
#define LFKIT_DETAIL_ATOMIC_HOOKS_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <thread>

#include "lfkit/detail/deadline.hpp"
#include "lfkit/detail/futex.hpp"
#include "lfkit/detail/platform.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#endif

namespace lfkit {

/// The std::atomic behaviour of every hook, for any `Atom` (a policy's specialisation of
/// atomic_hooks may derive from basic_atomic_hooks<itself> to keep the defaults it does not wrap).
/// Out of the model checker's reach (its policy replaces every hook): the stress suite and TSan
/// check these fences and the wait's order.
template <template <class> class Atom>
struct basic_atomic_hooks {
  static void thread_fence(std::memory_order order) noexcept { std::atomic_thread_fence(order); }
  static void light_fence() noexcept { detail::asymmetric_light_fence(); }
  static void heavy_fence() noexcept { detail::asymmetric_heavy_fence(); }
  static void prepare_heavy_fence() noexcept { detail::asymmetric_fence_prepare(); }
  static void pause() noexcept { detail::cpu_relax(); }
  static void yield() noexcept {
#if defined(__unix__) || defined(__APPLE__)
    sched_yield();  // async-signal-safe, unlike std::this_thread::yield on paper
#else
    std::this_thread::yield();
#endif
  }

  /// Whether `Atom<uint32_t>` can be handed to futex(2) by address.
  static constexpr bool futex_compatible = LFKIT_USE_FUTEX != 0 &&
                                           sizeof(Atom<std::uint32_t>) == sizeof(std::uint32_t) &&
                                           alignof(Atom<std::uint32_t>) == alignof(std::uint32_t);
  static constexpr bool wake_is_signal_safe = futex_compatible;

  /// True only for a model checker's policy (tests/model: Relacy), whose threads are fibers of
  /// one OS thread: thread_local data, pthread keys and the CPU number are then shared by all of
  /// them, so a structure picks per-thread state by model_thread_index() instead (if constexpr).
  static constexpr bool model_checked = false;
  static unsigned model_thread_index() noexcept { return 0; }

  /// Sleeps while `word` holds `expected`, until woken, `dl`, or (futex) a signal. Spurious
  /// returns are possible: callers re-check their condition. Blocking; not signal-safe.
  static void wait(Atom<std::uint32_t>& word, std::uint32_t expected,
                   const detail::deadline& dl) noexcept {
#if LFKIT_USE_FUTEX
    if constexpr (futex_compatible) {
#if LFKIT_TSAN
      // ThreadSanitizer defers a signal that lands in a raw system call until the thread next
      // enters an intercepted function (a restarted futex never does): sleep in slices of at most
      // 10 ms, each begun by a clock read (intercepted), so a sleeper's own handler runs within one.
      const detail::deadline slice = detail::deadline_after(std::chrono::milliseconds(10));
      detail::futex_wait(static_cast<void*>(std::addressof(word)), expected,
                         dl.has && dl.at < slice.at ? dl : slice);
      return;
#endif
      detail::futex_wait(static_cast<void*>(std::addressof(word)), expected, dl);
      return;
    }
#endif
    if (!dl.has) {
      word.wait(expected, std::memory_order_seq_cst);  // seq_cst: as the futex's own check
    } else {
      // std::atomic has no timed wait: poll with short sleeps until the deadline.
      const auto left = dl.at - std::chrono::steady_clock::now();
      if (left > std::chrono::steady_clock::duration::zero()) {
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(1)));
      }
    }
  }

  /// Wakes one thread asleep in wait() on `word`. Signal-safe when wake_is_signal_safe.
  static void wake_one(Atom<std::uint32_t>& word) noexcept {
#if LFKIT_USE_FUTEX
    if constexpr (futex_compatible) {
      detail::futex_wake(static_cast<void*>(std::addressof(word)), 1);
      return;
    }
#endif
    word.notify_one();
  }

  /// Wakes every thread asleep in wait() on `word`. Signal-safe when wake_is_signal_safe.
  static void wake_all(Atom<std::uint32_t>& word) noexcept {
#if LFKIT_USE_FUTEX
    if constexpr (futex_compatible) {
      detail::futex_wake(static_cast<void*>(std::addressof(word)), INT_MAX);
      return;
    }
#endif
    word.notify_all();
  }
};

/// The non-member synchronising steps of the atomic policy `Atom`. See the file comment.
template <template <class> class Atom>
struct atomic_hooks : basic_atomic_hooks<Atom> {};

namespace detail {
/// atomic_hooks<Atom>::model_checked, or false for a specialisation that does not declare it.
template <template <class> class Atom>
inline constexpr bool model_checked_v = [] {
  if constexpr (requires { atomic_hooks<Atom>::model_checked; }) {
    return static_cast<bool>(atomic_hooks<Atom>::model_checked);
  } else {
    return false;
  }
}();
}  // namespace detail

}  // namespace lfkit

#endif  // LFKIT_DETAIL_ATOMIC_HOOKS_HPP
