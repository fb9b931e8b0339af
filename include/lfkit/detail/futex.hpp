// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/futex.hpp — sleep until a 32-bit word changes, wake its sleepers.
//
// Part of lfkit (header-only, C++20). On Linux: the futex(2) system call (<linux/futex.h>,
// <sys/syscall.h>, <unistd.h>, <time.h>). Elsewhere, or on Linux when LFKIT_PORTABLE_WAIT is
// defined before any lfkit header (the tests build a second time with it, which is how the
// portable path is tested here): std::atomic's wait/notify for untimed waits and short sleeps
// (at most 1 ms each) for timed ones — correct, not tuned.
//
// Structures never call these directly: they go through lfkit::atomic_hooks<Atom>::wait/wake_*
// (detail/atomic_hooks.hpp), so a model checker or the perturbed policy sees every sleep and wake.
//
// Guarantees:
//   futex_wake          one raw system call; errno preserved; async-signal-safe (futex(2) is not
//                       on POSIX's list, but the raw call takes no lock and allocates nothing)
//   futex_wait          blocking until woken, the word differs, a signal, or the deadline;
//                       spurious returns are possible (callers re-check). Not for handlers.
#ifndef LFKIT_DETAIL_FUTEX_HPP
#define LFKIT_DETAIL_FUTEX_HPP

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>

#include "lfkit/detail/deadline.hpp"

// Compatibility: the queue's older switch selects the same portable path.
#if defined(LFKIT_QUEUE_PORTABLE_WAIT) && !defined(LFKIT_PORTABLE_WAIT)
#define LFKIT_PORTABLE_WAIT 1
#endif

#if defined(__linux__) && !defined(LFKIT_PORTABLE_WAIT)
#define LFKIT_USE_FUTEX 1
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#else
#define LFKIT_USE_FUTEX 0
#endif

namespace lfkit::detail {

#if LFKIT_USE_FUTEX
/// Wakes up to `n` threads asleep on the 32-bit word at `addr`. One raw system call; errno is
/// saved and restored; async-signal-safe in practice (see the file comment).
inline void futex_wake(void* addr, int n) noexcept {
  const int saved = errno;
  syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, nullptr, nullptr, 0);
  errno = saved;
}

/// Sleeps while the 32-bit word at `addr` holds `expected`, until woken, interrupted, or `dl`
/// (an absolute CLOCK_MONOTONIC time: FUTEX_WAIT_BITSET, so a re-try never extends it).
/// Returns at once if `dl` has passed. Spurious returns are possible.
inline void futex_wait(void* addr, std::uint32_t expected, const deadline& dl) noexcept {
  timespec ts{};
  const timespec* tsp = nullptr;
  if (dl.has) {
    // steady_clock counts CLOCK_MONOTONIC nanoseconds on Linux (libstdc++ and libc++).
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(dl.at.time_since_epoch()).count();
    if (ns <= 0) return;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    tsp = &ts;
  }
  const int saved = errno;
  syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, nullptr,
          FUTEX_BITSET_MATCH_ANY);
  errno = saved;
}
#endif

}  // namespace lfkit::detail

#endif  // LFKIT_DETAIL_FUTEX_HPP
