// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/writer_lock.hpp — the small futex mutex that serialises writers of a cell.
//
// Part of lfkit (header-only, C++20). Standard library, lfkit/detail/atomic_hooks.hpp and
// lfkit/detail/backoff.hpp.
//
// Drepper's "futexes are tricky" mutex 2: 0 free, 1 held, 2 held with (possible) sleepers. Readers
// of lfkit's cells never touch it; only writers do, and a writer that finds it held spins
// briefly, then (writer_wait::sleep) sleeps through atomic_hooks<Atom>::wait, or
// (writer_wait::spin) keeps yielding. The spin kind never has sleepers, so its unlock() is a plain
// release store instead of an exchange: for cells whose writers are short and rarely contended
// (seqlock_cell), where the exchange was a measurable part of an update (bench/README.md).
//
//   try_lock()   wait-free (one CAS); async-signal-safe — what a handler may use
//   lock()       blocking (spins, then sleeps or yields); NOT for signal handlers: a handler that
//                interrupted the holder on its own thread would wait for ever
//   unlock()     wait-free: one exchange plus one wake when someone sleeps (sleep), or one store
//                (spin)
#ifndef LFKIT_DETAIL_WRITER_LOCK_HPP
#define LFKIT_DETAIL_WRITER_LOCK_HPP

#include <atomic>
#include <cstdint>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/deadline.hpp"

namespace lfkit::detail {

/// What lock() does once spinning has stopped paying: sleep in the kernel, or keep yielding.
enum class writer_wait : bool { sleep, spin };

template <template <class> class Atom = std::atomic, writer_wait Wait = writer_wait::sleep>
class writer_lock {
 public:
  constexpr writer_lock() noexcept : state_(0) {}
  writer_lock(const writer_lock&) = delete;
  writer_lock& operator=(const writer_lock&) = delete;

  [[nodiscard]] bool try_lock() noexcept {
    std::uint32_t c = 0;
    // acquire (1): pairs with the release in unlock() (2), so the previous writer's state is
    // visible; relaxed on failure: nothing was acquired.
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void lock() noexcept {
    backoff<Atom> b;
    while (!b.completed()) {
      if (try_lock()) return;
      b.snooze();
    }
    if constexpr (Wait == writer_wait::spin) {
      while (!try_lock()) atomic_hooks<Atom>::yield();
      return;
    }
    // acquire: as (1). Mark "held with sleepers" and sleep until we are the one who took it free.
    std::uint32_t c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      atomic_hooks<Atom>::wait(state_, 2, deadline::none());
      c = state_.exchange(2, std::memory_order_acquire);  // acquire: as (1)
    }
  }

  void unlock() noexcept {
    if constexpr (Wait == writer_wait::spin) {
      state_.store(0, std::memory_order_release);  // release (2): as below; no sleeper to wake
    } else {
      // release (2): pairs with the acquire of the next locker (1).
      if (state_.exchange(0, std::memory_order_release) == 2) atomic_hooks<Atom>::wake_one(state_);
    }
  }

 private:
  Atom<std::uint32_t> state_;
};

}  // namespace lfkit::detail

#endif  // LFKIT_DETAIL_WRITER_LOCK_HPP
