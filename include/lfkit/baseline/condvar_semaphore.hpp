// SPDX-License-Identifier: BSL-1.0
// lfkit/baseline/condvar_semaphore.hpp — BASELINE: lfkit::semaphore's API over std::mutex, one
// std::condition_variable and a count.
//
// Part of lfkit (header-only, C++20); standard library, lfkit/detail/deadline.hpp and
// lfkit/semaphore.hpp (for release_status only). The comparison point for lfkit::semaphore in the
// benchmarks and the stress program: EVERY operation takes the mutex, so release() is NOT
// async-signal-safe — a handler that calls it while its own thread holds the mutex deadlocks that
// thread, and condition_variable::notify_* is not on POSIX's list either.
//
//   lfkit::baseline::condvar_semaphore s(0, 16);
//   std::thread t([&] { s.acquire(); });  (void)s.release();  t.join();
//
// Semantics are lfkit::semaphore's: a maximum count (std::invalid_argument naming bad values),
// release beyond it (or negative) reported in the result with the count unchanged, timed
// acquires on any clock, every unit taken exactly once.
//
//   operation                                     progress   async-signal-safe
//   every operation                               blocking   no (mutex)
//   max_count                                     wait-free  yes
#ifndef LFKIT_BASELINE_CONDVAR_SEMAPHORE_HPP
#define LFKIT_BASELINE_CONDVAR_SEMAPHORE_HPP

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

#include "lfkit/detail/deadline.hpp"
#include "lfkit/semaphore.hpp"

namespace lfkit::baseline {

/// A counting semaphore over std::mutex + std::condition_variable, with lfkit::semaphore's API.
class condvar_semaphore {
 public:
  static constexpr bool release_is_signal_safe = false;
  static constexpr std::ptrdiff_t max() noexcept { return 0xFFFFFFFF; }

  explicit condvar_semaphore(std::ptrdiff_t initial, std::ptrdiff_t max_count = max())
      : count_(initial), max_(max_count) {
    if (max_count < 1 || max_count > max()) {
      throw std::invalid_argument("lfkit::baseline::condvar_semaphore: max_count " +
                                  std::to_string(max_count) + " is not in [1, " +
                                  std::to_string(max()) + "]");
    }
    if (initial < 0 || initial > max_count) {
      throw std::invalid_argument("lfkit::baseline::condvar_semaphore: initial count " +
                                  std::to_string(initial) +
                                  " is not in [0, max_count = " + std::to_string(max_count) + "]");
    }
  }
  condvar_semaphore(const condvar_semaphore&) = delete;
  condvar_semaphore& operator=(const condvar_semaphore&) = delete;

  /// Adds `n` units (wakes one waiter for n == 1, all for more). Blocking; not signal-safe.
  release_status release(std::ptrdiff_t n = 1) {
    if (n < 0) return release_status::negative;
    if (n == 0) return release_status::ok;
    {
      std::lock_guard<std::mutex> lk(m_);
      if (n > max_ - count_) return release_status::would_exceed_max;
      count_ += n;
    }
    if (n == 1) {
      cv_.notify_one();
    } else {
      cv_.notify_all();
    }
    return release_status::ok;
  }
  /// Takes a unit if any (waits for the mutex). Blocking; not signal-safe.
  [[nodiscard]] bool try_acquire() {
    std::lock_guard<std::mutex> lk(m_);
    if (count_ == 0) return false;
    --count_;
    return true;
  }
  /// Waits for a unit and takes it. Blocking.
  void acquire() { (void)acquire_impl(detail::deadline::none()); }
  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) {
    return acquire_impl(detail::deadline_after(timeout));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return acquire_impl(detail::deadline_at(deadline));
  }
  /// The count now. Blocking (mutex); not signal-safe.
  [[nodiscard]] std::ptrdiff_t available() const {
    std::lock_guard<std::mutex> lk(m_);
    return count_;
  }
  [[nodiscard]] std::ptrdiff_t max_count() const noexcept { return max_; }

 private:
  bool acquire_impl(const detail::deadline& dl) {
    std::unique_lock<std::mutex> lk(m_);
    const auto positive = [&] { return count_ > 0; };
    if (!dl.has) {
      cv_.wait(lk, positive);
    } else if (!cv_.wait_until(lk, dl.at, positive)) {
      return false;
    }
    --count_;
    return true;
  }

  mutable std::mutex m_;
  std::condition_variable cv_;
  std::ptrdiff_t count_;
  const std::ptrdiff_t max_;
};

}  // namespace lfkit::baseline

#endif  // LFKIT_BASELINE_CONDVAR_SEMAPHORE_HPP
