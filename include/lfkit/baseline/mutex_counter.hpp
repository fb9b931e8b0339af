// SPDX-License-Identifier: BSL-1.0
// lfkit/baseline/mutex_counter.hpp — BASELINE: the counter API over std::mutex.
//
// Part of lfkit (header-only, C++20); standard library only. This is the comparison point for
// lfkit::atomic_counter and lfkit::sharded_counter in the benchmarks and the stress program, not
// something to use: every operation is blocking and NOT async-signal-safe. A signal handler that
// calls add() while its own thread holds the mutex deadlocks that thread forever; the stress
// program demonstrates this with try_add(), which gives up instead.
//
//   operation      progress                       async-signal-safe
//   add/increment  blocking                       no: deadlocks if a handler interrupted the holder
//   try_add        blocking-free attempt: fails   no (formally); the stress program calls it from
//                  if the mutex is held           handlers to count the adds that were impossible
//   load/reset     blocking                       no
#ifndef LFKIT_BASELINE_MUTEX_COUNTER_HPP
#define LFKIT_BASELINE_MUTEX_COUNTER_HPP

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace lfkit::baseline {

/// Counter API (add, increment, load, reset) over a std::mutex. Wraps modulo 2^64 like the lfkit
/// counters.
class mutex_counter {
 public:
  using value_type = std::uint64_t;

  explicit mutex_counter(value_type initial = 0) noexcept : value_(initial) {}
  mutex_counter(const mutex_counter&) = delete;
  mutex_counter& operator=(const mutex_counter&) = delete;

  /// Adds `n` under the lock. Blocking; not async-signal-safe.
  void add(value_type n) {
    std::lock_guard<std::mutex> lock(mutex_);
    value_ += n;
  }
  void increment() { add(1); }

  /// Adds `n` if the lock is free right now; returns false (and adds nothing) otherwise.
  bool try_add(value_type n) {
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    value_ += n;
    return true;
  }

  [[nodiscard]] value_type load() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return value_;
  }

  /// Sets the value to 0 and returns what it replaced, atomically with respect to add().
  value_type reset() {
    std::lock_guard<std::mutex> lock(mutex_);
    value_type v = value_;
    value_ = 0;
    return v;
  }

  static constexpr std::size_t memory_bytes() noexcept { return sizeof(mutex_counter); }

 private:
  mutable std::mutex mutex_;
  value_type value_;
};

}  // namespace lfkit::baseline

#endif  // LFKIT_BASELINE_MUTEX_COUNTER_HPP
