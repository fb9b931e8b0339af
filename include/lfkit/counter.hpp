// SPDX-License-Identifier: BSL-1.0
// lfkit/counter.hpp — async-signal-safe event counters.
//
// Part of lfkit (header-only, C++20). Depends on the C++ standard library and
// lfkit/detail/platform.hpp; on Linux also on <unistd.h> and glibc's <sys/rseq.h> (optional: the
// CPU-number hint of sharded_counter; without it a portable fallback is used).
//
// Two counters with one API:
//
//   lfkit::atomic_counter   one 64-bit atomic on its own cache line. Every operation is a single
//                           atomic instruction. Best when reads are frequent or writers are few.
//   lfkit::sharded_counter  a striped counter (in the spirit of Java's LongAdder and folly's sharded
//                           counters): several padded cells, each thread adds to "its" cell, load()
//                           sums the cells. Best for write-heavy statistics hit by many threads.
//
//   lfkit::sharded_counter hits;
//   hits.increment();               // from any thread, or from a signal handler
//   hits.add(5);
//   std::uint64_t n = hits.load();  // exact once the adders are quiescent
//   std::uint64_t taken = hits.reset();
//
// Guarantees, per operation (both counters):
//
//   operation     progress     async-signal-safe   notes
//   add/increment wait-free    yes                 one relaxed fetch_add
//   load          wait-free    yes                 atomic_counter: one load; sharded: one load per cell
//   reset         wait-free    yes                 atomic_counter: one exchange; sharded: one per cell
//   constructor   —            no (allocates)      sharded_counter allocates its cells here, once
//
// Arithmetic: the value is a std::uint64_t and wraps modulo 2^64 like unsigned arithmetic, never
// undefined behaviour (atomic fetch_add on an unsigned integer is defined to wrap). add(n) with
// n = 2^64 - k therefore subtracts k.
//
// Memory ordering: counters count, they do not publish data. Every access is relaxed, so an add
// does not make other writes visible to a thread that reads the count. Use a counter's value as a
// statistic, or synchronise separately (joining the adding threads makes load() exact).
//
// Signal safety, concretely: the add path performs no allocation, no lock, no dynamic
// initialisation and no system call. A handler that interrupts its own thread in the middle of an
// add to the same counter adds to the same cell with its own atomic instruction; both adds count,
// each exactly once. The static assertion below refuses an atomic policy that is not lock-free
// (a lock-based atomic would deadlock in exactly that case).
#ifndef LFKIT_COUNTER_HPP
#define LFKIT_COUNTER_HPP

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/platform.hpp"

#if defined(__linux__)
#include <unistd.h>
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>  // glibc >= 2.35: __rseq_offset, __rseq_size, struct rseq
#if defined(__GLIBC__)
#define LFKIT_COUNTER_HAVE_RSEQ 1
#endif
#endif
#endif
#ifndef LFKIT_COUNTER_HAVE_RSEQ
#define LFKIT_COUNTER_HAVE_RSEQ 0
#endif

namespace lfkit {

// =============================================================================================
// atomic_counter
// =============================================================================================

/// A 64-bit counter alone on its cache line (so that it never shares a line with unrelated
/// data written by other threads).
///
/// `Atom` is the atomic policy: `std::atomic` in production; stress tests substitute an
/// instrumented atomic. Use the alias `lfkit::atomic_counter`.
template <template <class> class Atom = std::atomic>
class alignas(cache_line_size) basic_atomic_counter {
 public:
  using value_type = std::uint64_t;

  static_assert(Atom<value_type>::is_always_lock_free,
                "lfkit counters must be lock-free to be async-signal-safe: a lock-based atomic "
                "deadlocks when a signal handler interrupts its own thread inside an operation");

  /// Starts at `initial` (default 0).
  constexpr explicit basic_atomic_counter(value_type initial = 0) noexcept : value_(initial) {}
  basic_atomic_counter(const basic_atomic_counter&) = delete;
  basic_atomic_counter& operator=(const basic_atomic_counter&) = delete;

  /// Adds `n` (wrapping modulo 2^64). Wait-free, async-signal-safe.
  ///
  ///   lfkit::atomic_counter c;  c.add(3);  // c.load() == 3
  void add(value_type n) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);  // relaxed: a pure count, pairs with nothing
  }

  /// Adds 1. Wait-free, async-signal-safe.
  void increment() noexcept { add(1); }

  /// The current value. Wait-free, async-signal-safe. Every add that happened-before the call is
  /// included.
  [[nodiscard]] value_type load() const noexcept {
    return value_.load(std::memory_order_relaxed);  // relaxed: a pure count, pairs with nothing
  }

  /// Sets the value to 0 and returns the value it replaced, in one atomic step: every add is
  /// counted either in the returned value or in later loads, exactly once.
  /// Wait-free, async-signal-safe.
  ///
  ///   lfkit::atomic_counter c;  c.add(7);  auto was = c.reset();  // was == 7, c.load() == 0
  value_type reset() noexcept {
    return value_.exchange(0, std::memory_order_relaxed);  // relaxed: a pure count
  }

  /// Bytes used by one counter: one cache line.
  static constexpr std::size_t memory_bytes() noexcept { return sizeof(basic_atomic_counter); }

 private:
  Atom<value_type> value_;
};

using atomic_counter = basic_atomic_counter<>;

static_assert(sizeof(atomic_counter) == cache_line_size,
              "an atomic_counter must fill exactly one padded line: no false sharing, no waste");

// =============================================================================================
// sharded_counter
// =============================================================================================

namespace detail {

/// Fallback stripe choice where the CPU number cannot be read cheaply: each thread's number,
/// assigned round-robin on its first add to any sharded counter and shared by all of them. Stored
/// as (n << 1) | 1 so that 0 means "unassigned".
///
/// The variable is constant-initialised and trivially destructible, so reading it is a plain
/// thread-pointer-relative load with no TLS wrapper call; the initial-exec model keeps it so even
/// when this header is compiled into a shared library (a dlopen'ed library with dynamic TLS could
/// allocate on the first access, which a signal handler must not do).
#if defined(__GNUC__) || defined(__clang__)
[[gnu::tls_model("initial-exec")]]
#endif
inline thread_local std::uint32_t t_counter_stripe = 0;

/// Source of fallback stripe numbers. Wraps after 2^31 threads, harmlessly (stripes are a hint).
inline std::atomic<std::uint32_t> g_next_counter_stripe{0};

/// This thread's round-robin number. Wait-free, async-signal-safe: if a handler interrupts the
/// first assignment and assigns a number itself, the interrupted thread overwrites it with its own;
/// either is a valid stripe.
inline std::uint32_t this_thread_counter_stripe() noexcept {
  std::uint32_t s = t_counter_stripe;
  if (s == 0) [[unlikely]] {
    // relaxed: only uniqueness matters; the number publishes nothing.
    s = (g_next_counter_stripe.fetch_add(1, std::memory_order_relaxed) << 1) | 1u;
    t_counter_stripe = s;
  }
  return s >> 1;
}

/// Whether the CPU number is available as one load (Linux, glibc >= 2.35 with rseq registered).
inline bool cpu_hint_available() noexcept {
#if LFKIT_COUNTER_HAVE_RSEQ
  return __rseq_size != 0;
#else
  return false;
#endif
}

/// The stripe hint a sharded counter uses: the number of the CPU this thread is running on, read
/// from the restartable-sequences area the kernel updates on every migration (glibc registers it for
/// every thread and exports its offset from the thread pointer); a stale value after a migration
/// only costs contention, never correctness, because every cell is updated atomically. Without
/// rseq, the round-robin thread number. Wait-free (one or two loads), async-signal-safe.
inline std::uint32_t counter_stripe_hint() noexcept {
#if LFKIT_COUNTER_HAVE_RSEQ
  if (__rseq_size != 0) [[likely]] {
    const auto* area = reinterpret_cast<const volatile struct rseq*>(
        static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset);
    const std::uint32_t cpu = area->cpu_id;
    if (cpu < 0x80000000u) [[likely]]
      return cpu;  // negative values: registration failed
  }
#endif
  return this_thread_counter_stripe();
}

/// Default number of cells: the number of CPUs (configured, online or usable, whichever is
/// largest, so that every CPU number has its own cell), rounded up to a power of two, between 2 and
/// 256. Without rseq, twice that, so that a few more threads than cores mostly get cells of their own.
inline std::size_t default_counter_stripes() noexcept {
  std::size_t want = std::thread::hardware_concurrency();
#if defined(__linux__)
  const long conf = sysconf(_SC_NPROCESSORS_CONF);
  if (conf > 0 && static_cast<std::size_t>(conf) > want) want = static_cast<std::size_t>(conf);
#endif
  if (want == 0) want = 4;
  if (!cpu_hint_available()) want *= 2;
  std::size_t n = 2;
  while (n < want && n < 256) n <<= 1;
  return n;
}

}  // namespace detail

/// A striped counter: `stripes()` cells, each alone on a cache line; a thread adds to the cell
/// its stripe number selects, so threads on different cores do not contend.
///
/// How a thread picks its cell: by the CPU it is running on, like Linux's percpu_counter. On Linux
/// with glibc >= 2.35 the CPU number is one load from the restartable-sequences area the kernel
/// keeps current for every thread; threads running at the same moment are on different CPUs and so
/// hit different cells, however many threads there are, and threads that share a CPU take turns on
/// it. A thread migrated between reading its CPU and adding simply adds to another CPU's cell
/// (atomically: correct, briefly contended). Where rseq is not available the choice falls back to
/// a round-robin thread number (twice as many cells by default; threads beyond the cell count share
/// cells). A signal handler uses the cell of the CPU its thread is on.
///
/// What a concurrent load() guarantees: it reads each cell once, in order, so it is not an atomic
/// snapshot. It includes every add that happened-before the call, and no add that started after it
/// returned; adds concurrent with it may or may not be included. It never loses or double-counts
/// an add: once adders are quiescent (joined, or synchronised with the reader), load() is exact.
/// Without concurrent resets or subtraction, a load is between the total of the adds completed
/// before it started and the total of the adds started before it returned.
///
/// What reset() guarantees: each cell is exchanged with 0 in one atomic step, so every add lands
/// either in exactly one reset()'s return value or in a later load() — none lost, none counted
/// twice (the stress program checks sum(resets) + final load == total added). It is not an atomic
/// snapshot either: an add racing with reset() may be returned by this reset or left for the next.
///
/// Memory per counter: stripes() × cache_line_size bytes of cells (256 bytes with the 2 cells of a
/// 2-CPU machine, 128-byte lines), plus the object itself (a pointer and a mask, 16 bytes).
///
/// `Atom` is the atomic policy (see atomic_counter). Use the alias `lfkit::sharded_counter`.
template <template <class> class Atom = std::atomic>
class basic_sharded_counter {
 public:
  using value_type = std::uint64_t;

  static_assert(Atom<value_type>::is_always_lock_free,
                "lfkit counters must be lock-free to be async-signal-safe: a lock-based atomic "
                "deadlocks when a signal handler interrupts its own thread inside an operation");

  /// Largest number of cells a counter accepts.
  static constexpr std::size_t max_stripes = 4096;

  /// A counter with the default number of cells (one per CPU, a power of two, 2 to 256; see
  /// detail::default_counter_stripes). Allocates; not async-signal-safe.
  basic_sharded_counter() : basic_sharded_counter(detail::default_counter_stripes()) {}

  /// A counter with `stripes` cells, rounded up to a power of two. Throws std::invalid_argument
  /// if `stripes` is 0 or more than max_stripes; std::bad_alloc if the cells cannot be allocated.
  ///
  ///   lfkit::sharded_counter c(8);   // c.stripes() == 8
  ///   lfkit::sharded_counter d(5);   // d.stripes() == 8
  explicit basic_sharded_counter(std::size_t stripes)
      : cells_(make_cells(stripes)), mask_(std::bit_ceil(stripes) - 1) {}

  basic_sharded_counter(const basic_sharded_counter&) = delete;
  basic_sharded_counter& operator=(const basic_sharded_counter&) = delete;

  /// Adds `n` (wrapping modulo 2^64) to this thread's cell. Wait-free, async-signal-safe.
  void add(value_type n) noexcept {
    std::uint32_t hint;
    if constexpr (detail::model_checked_v<Atom>) {
      hint = atomic_hooks<Atom>::model_thread_index();  // model checker: fibers share the CPU/TLS
    } else {
      hint = detail::counter_stripe_hint();
    }
    // relaxed: a pure count, pairs with nothing (load() and reset() read cells relaxed too).
    cells_[hint & mask_].value.fetch_add(n, std::memory_order_relaxed);
  }

  /// Adds 1. Wait-free, async-signal-safe.
  void increment() noexcept { add(1); }

  /// The sum of the cells (modulo 2^64); see the class comment for what it means while adders
  /// run. Wait-free (stripes() loads), async-signal-safe.
  [[nodiscard]] value_type load() const noexcept {
    value_type sum = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
      sum += cells_[i].value.load(std::memory_order_relaxed);  // relaxed: a pure count
    }
    return sum;
  }

  /// Empties every cell and returns the sum of what they held; see the class comment. Wait-free
  /// (stripes() exchanges), async-signal-safe.
  value_type reset() noexcept {
    value_type sum = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
      sum += cells_[i].value.exchange(0, std::memory_order_relaxed);  // relaxed: a pure count
    }
    return sum;
  }

  /// Number of cells (a power of two).
  [[nodiscard]] std::size_t stripes() const noexcept { return mask_ + 1; }

  /// Bytes used by this counter: the cells plus the object itself.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return stripes() * sizeof(cell) + sizeof(*this);
  }

 private:
  struct alignas(cache_line_size) cell {
    Atom<value_type> value{0};
  };
  static_assert(sizeof(cell) == cache_line_size,
                "each cell fills exactly one padded line, so two threads' cells never share one");

  static std::unique_ptr<cell[]> make_cells(std::size_t stripes) {
    if (stripes == 0 || stripes > max_stripes) {
      throw std::invalid_argument("lfkit::sharded_counter: stripes must be between 1 and " +
                                  std::to_string(max_stripes) + ", got " + std::to_string(stripes));
    }
    return std::make_unique<cell[]>(std::bit_ceil(stripes));
  }

  std::unique_ptr<cell[]> cells_;
  std::size_t mask_;
};

using sharded_counter = basic_sharded_counter<>;

}  // namespace lfkit

#endif  // LFKIT_COUNTER_HPP
