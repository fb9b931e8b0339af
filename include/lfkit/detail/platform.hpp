// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/platform.hpp — the few platform facts every lfkit header shares.
//
// Part of lfkit (header-only, C++20). Depends on the C++ standard library, and on Linux's
// membarrier(2) where available (falls back to ordinary fences elsewhere).
//
// What is here:
//   * lfkit::cache_line_size — the padding unit for data written by different threads.
//   * LFKIT_TSAN            — 1 when compiled with ThreadSanitizer (gcc or clang).
//   * detail::cpu_relax()   — the spin-wait hint (x86 `pause`, Arm `yield`).
//   * detail::prefetch_for_write() — a cache hint for a line about to be written.
//   * detail::asymmetric_light_fence() / asymmetric_heavy_fence() — a store->load fence split so
//     that the frequent side pays a compiler barrier and the rare side pays a membarrier(2) system
//     call (the technique of folly's asymmetricLightBarrier and liburcu's memb flavour).
//
// Progress and signal-safety: cache_line_size, cpu_relax() and asymmetric_light_fence() are
// wait-free and async-signal-safe. asymmetric_fence_prepare() registers with the kernel and may
// sleep: call it from a constructor, never from a signal handler. asymmetric_heavy_fence() makes
// one membarrier(2) call (async-signal-safe, not wait-free), calls prepare() itself if this thread
// cannot yet see a prepared state (so it is signal-safe only once prepare() has run, which every
// lfkit constructor ensures), and aborts the process if membarrier, once registered, keeps
// failing (see there).
#ifndef LFKIT_DETAIL_PLATFORM_HPP
#define LFKIT_DETAIL_PLATFORM_HPP

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define LFKIT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LFKIT_TSAN 1
#endif
#endif
#ifndef LFKIT_TSAN
#define LFKIT_TSAN 0
#endif

namespace lfkit {

/// Padding unit for data written by different threads. 128 rather than 64: x86's adjacent-line
/// prefetcher pulls cache lines in pairs, so two hot words 64 bytes apart still interfere
/// (folly and crossbeam pad to 128 on x86-64 for the same reason).
inline constexpr std::size_t cache_line_size = 128;

namespace detail {

/// Spin-wait hint: tells the core this is a busy-wait loop (saves power, frees the sibling
/// hyperthread). Wait-free, async-signal-safe.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

/// Cache hint: fetch the line holding `p` in a state ready for writing (x86 `prefetchw` when the
/// target has it, else a read prefetch). Never faults and changes no value, but `p` must still
/// point into an object (the caller's arithmetic is what keeps it there). Wait-free,
/// async-signal-safe; a no-op on compilers without the builtin.
inline void prefetch_for_write([[maybe_unused]] const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1, 3);
#endif
}

// ---------------------------------------------------------------------------------------------
// Asymmetric fence.
//
// Dekker's pattern — thread A: `store x; fence; load y`, thread B: `store y; fence; load x` —
// guarantees that at least one of them sees the other's store. When A runs millions of times a
// second and B rarely (a reader publishing a hazard pointer vs. a writer scanning them; a producer
// checking for sleepers vs. a consumer going to sleep), A's fence can be downgraded to a compiler
// barrier provided B's fence is a membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): the kernel makes
// every running thread of the process execute a full barrier before B continues, so either A's
// store has drained before B's load or A's load runs after B's store is visible.
//
// Use: call asymmetric_fence_prepare() once from an ordinary context (a constructor), then
// asymmetric_light_fence() on the frequent side and asymmetric_heavy_fence() on the rare side.
// If membarrier is unavailable (not Linux, an old kernel, a seccomp filter) both sides fall back to
// a full fence, which is always correct.
//
// ThreadSanitizer does not model standalone fences (and gcc rejects them with -Wtsan), so a TSan
// build replaces both fences with a seq_cst read-modify-write on one shared word. That is a
// correct Dekker fence in the C++ memory model: the two RMWs are totally ordered, the later one
// reads from the earlier one, so the earlier thread's preceding store happens-before the later
// thread's following load.
// ---------------------------------------------------------------------------------------------

enum class membarrier_state : int { unknown = 0, available = 1, unavailable = 2 };

/// Whether the heavy fence can use membarrier. Relaxed accesses suffice: every value is a fact
/// about the kernel that, once published, never changes back; a stale `unknown` only makes the
/// light side take a full fence, which is correct. Alone on its cache line: every queue operation
/// reads it, so a user's global that the linker happened to place beside it, written often, would
/// otherwise cost every operation a cache miss (seen in a benchmark harness).
struct alignas(cache_line_size) membarrier_state_word {
  std::atomic<int> value{0};
};
inline membarrier_state_word g_membarrier_state;

#if LFKIT_TSAN
inline std::atomic<unsigned> g_tsan_fence_word{0};
#endif

/// Records the outcome of a registration attempt. Decided once: the first verdict wins (CAS from
/// unknown), so a racing attempt that failed transiently can never turn "available" — on which
/// light sides already rely — back into "unavailable". Returns the state now in force. Wait-free.
inline membarrier_state membarrier_record_verdict(membarrier_state verdict) noexcept {
  int expected = static_cast<int>(membarrier_state::unknown);
  // relaxed: the flag only caches a kernel fact (see g_membarrier_state); the CAS decides once.
  if (g_membarrier_state.value.compare_exchange_strong(expected, static_cast<int>(verdict),
                                                       std::memory_order_relaxed)) {
    return verdict;
  }
  return static_cast<membarrier_state>(expected);
}

/// Registers the process for expedited private membarriers if the kernel has them. Idempotent and
/// thread-safe; call from a constructor, not a signal handler (the registration may sleep).
inline void asymmetric_fence_prepare() noexcept {
#if defined(__linux__) && !LFKIT_TSAN
  // relaxed: the flag only caches a kernel fact; pairs with the relaxed loads in the fences.
  if (g_membarrier_state.value.load(std::memory_order_relaxed) != 0) return;
  long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  membarrier_state state = membarrier_state::unavailable;
  if (cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
    state = membarrier_state::available;
  }
  // A racing second registration is harmless (registration is idempotent); its verdict is not.
  (void)membarrier_record_verdict(state);
#endif
}

/// The frequent side of an asymmetric Dekker fence. Wait-free, async-signal-safe. (The model
/// checker's hooks replace both sides by seq_cst fences; the stress suite and TSan check these.)
inline void asymmetric_light_fence() noexcept {
#if LFKIT_TSAN
  g_tsan_fence_word.fetch_add(1, std::memory_order_seq_cst);
#else
  // relaxed: a cached kernel fact (see g_membarrier_state).
  if (g_membarrier_state.value.load(std::memory_order_relaxed) ==
      static_cast<int>(membarrier_state::available)) {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the heavy side's membarrier orders us
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
#endif
}

/// The rare side of an asymmetric Dekker fence: one membarrier(2) call when available (a few
/// microseconds: it interrupts every CPU running a thread of this process), else a full fence.
/// Async-signal-safe once asymmetric_fence_prepare() has run (a raw system call; errno preserved);
/// not wait-free.
///
/// Once membarrier is in use, light sides rely on it and run only a compiler barrier, so a failing
/// call must never quietly degrade to an ordinary fence (that would break the pairing and let, say,
/// a hazard-pointer scan miss a reader). Transient failures (EINTR, EAGAIN, ENOMEM) are retried;
/// a persistent failure — e.g. a seccomp filter installed after the fact — prints a message and
/// aborts, as liburcu does, rather than risk a use-after-free.
inline void asymmetric_heavy_fence() noexcept {
#if LFKIT_TSAN
  g_tsan_fence_word.fetch_add(1, std::memory_order_seq_cst);
#else
#if defined(__linux__)
  // A thread that cannot yet see the constructor's prepare() asks the kernel itself, so the heavy
  // side never takes the fallback while a light side already relies on membarrier.
  // relaxed: a cached kernel fact (see g_membarrier_state).
  if (g_membarrier_state.value.load(std::memory_order_relaxed) == 0) asymmetric_fence_prepare();
  // relaxed: as above.
  if (g_membarrier_state.value.load(std::memory_order_relaxed) ==
      static_cast<int>(membarrier_state::available)) {
    const int saved_errno = errno;
    for (int attempt = 0; attempt < 10000; ++attempt) {
      if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
        errno = saved_errno;
        return;
      }
      if (errno != EINTR && errno != EAGAIN && errno != ENOMEM) break;
      sched_yield();
    }
    static const char msg[] =
        "lfkit: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after it had been registered; "
        "continuing would break reader/writer fencing, aborting\n";
    [[maybe_unused]] const auto ignored = write(2, msg, sizeof msg - 1);
    std::abort();
  }
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace detail
}  // namespace lfkit

#endif  // LFKIT_DETAIL_PLATFORM_HPP
