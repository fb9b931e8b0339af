// SPDX-License-Identifier: BSL-1.0
// tests/model/model_blocking.hpp — helpers for model scenarios of blocking operations. Include
// after model_epilogue.hpp.
//
//   delay(max)             0..max yields, the count chosen by the model checker. A waiter's spin
//                          (pause hints, each a Relacy yield) lets every other thread run, so a
//                          waker with only a few steps always finishes before the waiter sleeps;
//                          a delayed waker lets the waiter spin out and sleep first, at every
//                          offset up to `max` (a tree search enumerates them, random picks one).
//   lost_wake_atomic<T>    a deliberately broken policy: relacy_atomic<T> whose atomic_hooks
//                          wake_one/wake_all wake nobody (sleeps are parks as in relacy_atomic).
//                          A structure on it loses every wake-up, so a scenario in which a thread
//                          must sleep and be woken ends in a Relacy DEADLOCK: the "must be caught"
//                          variant of the blocking scenarios.
//   signal_fence_atomic<T> relacy_atomic<T> whose light fence is a compiler barrier only (see
//                          its hooks below).
#ifndef LFKIT_TESTS_MODEL_BLOCKING_HPP
#define LFKIT_TESTS_MODEL_BLOCKING_HPP

#include "relacy_adapter.hpp"

namespace lfkit::model {

/// 0..max yields, as the model checker chooses (see the file comment).
inline void delay(unsigned max, where w = where::current()) {
  const unsigned n = rl::rand(max + 1);
  for (unsigned i = 0; i < n; ++i) rl::yield(1, info(w));
}

template <class T>
class lost_wake_atomic : public relacy_atomic<T> {
 public:
  using relacy_atomic<T>::relacy_atomic;
};

template <class T>
class signal_fence_atomic : public relacy_atomic<T> {
 public:
  using relacy_atomic<T>::relacy_atomic;
};

}  // namespace lfkit::model

/// As atomic_hooks<relacy_atomic>, but a wake wakes nobody.
template <>
struct lfkit::atomic_hooks<lfkit::model::lost_wake_atomic>
    : lfkit::atomic_hooks<lfkit::model::relacy_atomic> {
  using where = lfkit::model::where;
  static void wait(lfkit::model::lost_wake_atomic<std::uint32_t>& word, std::uint32_t expected,
                   const lfkit::detail::deadline& dl, where w = where::current()) noexcept {
    lfkit::model::park_if(word.raw(), expected, dl.has, w);
  }
  static void wake_one(lfkit::model::lost_wake_atomic<std::uint32_t>&) noexcept {}  // THE BUG
  static void wake_all(lfkit::model::lost_wake_atomic<std::uint32_t>&) noexcept {}  // THE BUG
};

/// As atomic_hooks<relacy_atomic>, but the light fence is only a compiler barrier, as on Linux
/// with membarrier (the heavy fence's membarrier upgrades it only while a sleeper fences).
/// relacy_atomic models it as a seq_cst fence, and Relacy joins all seq_cst fences into one
/// clock: then notify() after every successful operation would order any two of them, whatever
/// the structure's own orders. For scenarios with try_ operations only (no heavy fence runs).
template <>
struct lfkit::atomic_hooks<lfkit::model::signal_fence_atomic>
    : lfkit::atomic_hooks<lfkit::model::relacy_atomic> {
  static void light_fence() noexcept {}
};

#endif  // LFKIT_TESTS_MODEL_BLOCKING_HPP
