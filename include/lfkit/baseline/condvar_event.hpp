// SPDX-License-Identifier: BSL-1.0
// lfkit/baseline/condvar_event.hpp — BASELINE: lfkit::event's API over std::mutex, one
// std::condition_variable and a flag (what Python's threading.Event is).
//
// Part of lfkit (header-only, C++20); standard library and lfkit/detail/deadline.hpp. The
// comparison point for lfkit::event in the benchmarks and the stress program, not something to
// prefer in a signal handler: EVERY operation takes the mutex, so set() is NOT async-signal-safe —
// a handler that calls it while its own thread holds the mutex (inside wait(), reset() or set())
// deadlocks that thread, and condition_variable::notify_all is not on POSIX's list either.
//
//   lfkit::baseline::condvar_event e;
//   std::thread t([&] { e.wait(); });  e.set();  t.join();
//
// Semantics are lfkit::event's: wait() returns once the event has been set since it began (a
// generation counter, so set() then reset() before the waiter runs still releases it), timed
// waits take any clock (lfkit::detail::deadline), set() happens-before a wait that returns true.
//
//   operation                          progress   async-signal-safe
//   set, reset, is_set                 blocking   no (mutex)
//   wait, wait_for, wait_until         blocking   no
#ifndef LFKIT_BASELINE_CONDVAR_EVENT_HPP
#define LFKIT_BASELINE_CONDVAR_EVENT_HPP

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "lfkit/detail/deadline.hpp"

namespace lfkit::baseline {

/// A manual-reset event over std::mutex + std::condition_variable, with lfkit::event's API.
class condvar_event {
 public:
  static constexpr bool set_is_signal_safe = false;

  explicit condvar_event(bool initially_set = false) : set_(initially_set) {}
  condvar_event(const condvar_event&) = delete;
  condvar_event& operator=(const condvar_event&) = delete;

  /// Sets the event and wakes every waiter. Blocking (mutex); not async-signal-safe.
  void set() {
    {
      std::lock_guard<std::mutex> lk(m_);
      if (set_) return;
      set_ = true;
      ++generation_;
    }
    cv_.notify_all();
  }
  /// Unsets the event. Blocking (mutex); not async-signal-safe.
  void reset() {
    std::lock_guard<std::mutex> lk(m_);
    set_ = false;
  }
  /// Whether the event is set. Blocking (mutex); not async-signal-safe.
  [[nodiscard]] bool is_set() const {
    std::lock_guard<std::mutex> lk(m_);
    return set_;
  }
  /// Blocks until set since the call began. Blocking.
  void wait() { (void)wait_impl(detail::deadline::none()); }
  /// Like wait(); false if `timeout` passed first. Blocking.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_impl(detail::deadline_after(timeout));
  }
  /// Like wait(); false at `deadline` (any clock). Blocking.
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return wait_impl(detail::deadline_at(deadline));
  }

 private:
  bool wait_impl(const detail::deadline& dl) {
    std::unique_lock<std::mutex> lk(m_);
    const std::uint64_t gen = generation_;
    const auto fired = [&] { return set_ || generation_ != gen; };
    if (!dl.has) {
      cv_.wait(lk, fired);
      return true;
    }
    return cv_.wait_until(lk, dl.at, fired);
  }

  mutable std::mutex m_;
  std::condition_variable cv_;
  bool set_;
  std::uint64_t generation_ = 0;  // sets that found the event unset
};

}  // namespace lfkit::baseline

#endif  // LFKIT_BASELINE_CONDVAR_EVENT_HPP
