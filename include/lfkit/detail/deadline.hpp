// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/deadline.hpp — absolute deadlines on the steady clock, from any duration or any
// clock's time point, without overflow and without undefined behaviour.
//
// Part of lfkit (header-only, C++20). Standard library only.
//
// Every timed operation in lfkit (queues, event, semaphore, baselines) turns its argument into a
// `deadline` here, once, at the call:
//   * a duration beyond ~95 years (duration::max()), +inf, or a time point that far ahead means
//     "no deadline";
//   * zero, negative, NaN, -inf, or a time point in the past means "already expired" (one
//     non-blocking attempt, then a timeout);
//   * another clock's time point is measured against that clock once and counted on the steady
//     clock from then on (so adjusting system_clock during a wait does not move the deadline).
// The decision is taken in floating-point seconds before any integer conversion, so
// time_point::max() of a coarse duration (minutes, hours) or a NaN floating-point rep cannot
// overflow or convert NaN to an integer.
//
// Progress: wait-free (reads a clock). Async-signal-safe: clock reads are (clock_gettime), but
// nothing here is meant for handlers: timed waits are blocking operations.
#ifndef LFKIT_DETAIL_DEADLINE_HPP
#define LFKIT_DETAIL_DEADLINE_HPP

#include <chrono>
#include <type_traits>

namespace lfkit::detail {

/// An absolute deadline on std::chrono::steady_clock (CLOCK_MONOTONIC on Linux with libstdc++ and
/// libc++), or "none" (has == false: wait for ever).
struct deadline {
  bool has = false;
  std::chrono::steady_clock::time_point at{};

  /// No deadline: wait until the condition holds.
  static constexpr deadline none() noexcept { return {}; }
  /// Whether the deadline has passed (never, for none()).
  [[nodiscard]] bool expired() const noexcept {
    return has && std::chrono::steady_clock::now() >= at;
  }
  /// Nanoseconds left (0 if expired); only meaningful when `has`.
  [[nodiscard]] std::chrono::nanoseconds left() const noexcept {
    const auto d = at - std::chrono::steady_clock::now();
    return d > decltype(d)::zero() ? std::chrono::duration_cast<std::chrono::nanoseconds>(d)
                                   : std::chrono::nanoseconds::zero();
  }
};

/// Seconds beyond which a wait means "no deadline" (~95 years): every integer conversion below
/// stays far from overflow, whatever the clock's representation.
inline constexpr double no_deadline_seconds = 3.0e9;

/// A deadline `left` seconds from now: +inf and huge values mean none; NaN, negative and zero mean
/// "now" (expired).
inline deadline deadline_after_seconds(double left) noexcept {
  if (left > no_deadline_seconds) return deadline::none();
  const auto now = std::chrono::steady_clock::now();
  if (!(left > 0)) return {true, now};  // also NaN: an expired deadline, never an overflow
  return {true, now + std::chrono::ceil<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(left))};
}

/// A deadline `d` from now (any representation, including floating point with NaN or inf).
template <class Rep, class Period>
inline deadline deadline_after(const std::chrono::duration<Rep, Period>& d) noexcept {
  return deadline_after_seconds(std::chrono::duration<double>(d).count());
}

/// The deadline `tp` on any clock. steady_clock time points are kept exactly when representable;
/// other clocks are converted once, here.
template <class Clock, class Duration>
inline deadline deadline_at(const std::chrono::time_point<Clock, Duration>& tp) noexcept {
  const double at = std::chrono::duration<double>(tp.time_since_epoch()).count();
  if (at != at) return {true, std::chrono::steady_clock::now()};  // NaN: expired, no conversion
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    if (at > no_deadline_seconds) return deadline::none();
    if (at < -no_deadline_seconds) return {true, std::chrono::steady_clock::time_point{}};
    return {true, std::chrono::time_point_cast<std::chrono::steady_clock::duration>(
                      std::chrono::ceil<std::chrono::nanoseconds>(tp))};
  } else {
    // Both ends in floating-point seconds first: time_point::max() of a coarse duration cannot
    // overflow a subtraction.
    return deadline_after_seconds(
        at - std::chrono::duration<double>(Clock::now().time_since_epoch()).count());
  }
}

}  // namespace lfkit::detail

#endif  // LFKIT_DETAIL_DEADLINE_HPP
