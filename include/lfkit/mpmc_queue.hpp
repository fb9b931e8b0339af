// lfkit/mpmc_queue.hpp — a bounded multi-producer multi-consumer FIFO ring with non-blocking,
// blocking, timed, bulk and closable operations.
//
// Part of lfkit (header-only, C++20). Depends on the C++ standard library and
// lfkit/detail/platform.hpp; on Linux also on the futex(2) system call (<linux/futex.h>,
// <sys/syscall.h>, <unistd.h>, <time.h>), which the blocking and timed operations sleep on. Other
// platforms fall back to Atom::wait/notify_all for untimed waits and to short sleeps for timed
// waits (correct, not tuned; tested on Linux by forcing it with LFKIT_QUEUE_PORTABLE_WAIT).
//
//   lfkit::mpmc_queue<int> q(1024);          // holds at most 1024 ints, exactly
//   q.try_push(1);                           // true: there was room
//   int x;
//   q.try_pop(x);                            // true, x == 1
//   std::thread worker([&] { int v; while (q.pop(v)) use(v); });   // sleeps while empty
//   q.push(2);                               // sleeps while full; false once closed
//   q.close();                               // worker drains what is left, then pop() == false
//   worker.join();
//
// ---------------------------------------------------------------------------------------------
// Semantics
// ---------------------------------------------------------------------------------------------
// * FIFO, and linearizable for every operation that succeeds: a push takes effect when it claims
//   the tail position (one CAS), a pop when it claims the head position; pops return elements in
//   the order their pushes claimed positions. Hence elements from one producer come out in the
//   order that producer pushed them (per-producer FIFO), whoever pops them. A "full"/"empty"
//   failure is linearizable too (at the load of the other side's counter that decided it); the
//   busy-slot failure below is the one exception.
// * Capacity is exact: capacity() is what the constructor was given and the queue never holds
//   more. Storage is exactly `capacity` slots; there is no rounding to a power of two, and no
//   division on any path (positions encode lap and index separately, crossbeam-style).
// * A failed try_ operation (false) means, at some instant during the call, the queue was full
//   (push) / empty (pop) / closed — EXCEPT in one documented case: the slot at the position the
//   call must use is held by another thread that has claimed it but not yet finished (a producer
//   between claiming and publishing, a consumer between claiming and releasing). The call then
//   waits a bounded time and gives up rather than wait on that thread — so a signal handler that
//   interrupted exactly that thread cannot deadlock. Such a holder is nearly always preempted,
//   stopped, or interrupted mid-operation (a running one finishes within the first back-off;
//   with many threads contending, the re-tries may meet other running holders at later
//   positions); on a normally running system this failure is rare and transient. The bounded
//   wait is a few looks and at most try_busy_spins back-offs of up to busy_backoff_pauses pause
//   hints (~4 us in all here; see "Waiting rules").
// * Waiting rules (all measured on the 2-core reference machine; constants below):
//     - try_ operations on a large ring (capacity >= streaming_ring_min) read the other side's
//       counter as soon as their slot is not ready, and report full/empty at once. A busy slot
//       (holder mid-operation) gets a back-off of backoff_pauses_for(capacity) pause hints (up
//       to 64, ~1.6 us) before each of try_busy_spins re-tries. Reason: a busy slot usually
//       means the two sides stream through the ring one slot apart, and every line of slots
//       then changes hands at every element; the back-off lets the other side get ahead, after
//       which both run through whole lines. A trailing side that re-tried at once (or looked at
//       its slot a few times before the verdict, as an earlier version did) kept that lock-step:
//       0.74-0.88x libcds's Vyukov ring, and ~0.25-0.4x together with the prefetch below.
//     - Exception: a try_pop whose producer is the only push in flight (tail_ just past it: a
//       handoff to a waiting consumer) looks at the slot up to lone_holder_looks times, one
//       pause apart (~0.2 us), and takes the element as soon as it is there (handoff latency p50
//       ~0.19 us rather than ~1.7 us) — after a back-off if the producers moved on meanwhile.
//     - Blocking and timed operations, and every operation on a small ring, look at a slot that
//       is not ready a few times before the verdict instead: there nothing can slip ahead, and a
//       blocking operation that saw "full" would yield or sleep (measured: the streaming rules
//       cut the stress suite's capacity 1-4 queues to ~1/10 (try ops) and ~1/6 (blocking ops) of
//       their throughput, and bench_queue's blocking 4P4C/8P8C at capacity 1024 to ~1/3).
//     - A successful try_ operation on a large ring prefetches, for writing, the slot
//       prefetch_distance positions ahead (a hint; see prefetch_ahead()): ~1.2x at 1P1C.
// * close(): afterwards every push fails (returns false without touching its argument), pops
//   drain the remaining elements and then return false; every sleeper is woken. Irreversible.
//
// ---------------------------------------------------------------------------------------------
// Guarantees per operation
// ---------------------------------------------------------------------------------------------
//   operation                       progress                                   async-signal-safe
//   try_push/try_emplace/try_pop,   lock-free claim (a CAS fails only because  yes (*)
//   try_push_n/try_pop_n            another thread succeeded); then a bounded
//                                   wait (a few looks and at most 2 back-offs:
//                                   ~4 us here, unless other threads keep
//                                   succeeding meanwhile) if the slot's
//                                   holder is mid-operation, then failure.
//                                   Never waits unboundedly on
//                                   another thread.
//   push/pop                        blocking: short bounded spin, a few        no
//                                   sched_yield()s, then sleeps in the kernel
//                                   (futex) until possible or closed; waits
//                                   for a stalled slot holder
//   try_push_for/_until,            blocking until the deadline                no
//   try_pop_for/_until
//   close                           lock-free, then one futex wake per side    yes
//   is_closed, size_approx,         wait-free                                  yes
//   empty_approx, capacity
//   constructor / destructor        allocate / free                            no
// (*) provided the T constructor/assignment/destructor the call uses is async-signal-safe. A
//     successful operation (a bulk one: per run of slots) may make one futex(FUTEX_WAKE) system
//     call, when the other side's "someone asleep" bit is set — a thread is asleep, or one that
//     set the bit left without sleeping (timed out or succeeded), in which case the wake finds
//     nobody and clears the bit. A raw system call: async-signal-safe; errno is preserved. On
//     non-Linux platforms the wake is Atom::notify_all, which may take a library-internal lock:
//     there the try_ operations are not async-signal-safe.
// Honesty about the whole structure: like every ticket ring (Vyukov, rigtorp, folly, libcds), the
// queue is not lock-free in the strict sense. A thread stopped between claiming a slot and
// publishing/releasing it stops progress *for that slot's other side*: consumers reaching that
// position (or producers one lap later) cannot get past it until the thread resumes; try_ ops
// fail there (see above), blocking ops wait. Operations on other sides/positions are unaffected
// until the ring wraps around to it.
//
// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------
// sizeof(mpmc_queue) = 5 × cache_line_size (640 bytes) for the object, plus one allocation of
// capacity × sizeof(slot) bytes, aligned to a cache line. A slot is an 8-byte stamp followed by
// the T, rounded up to alignof(T): 16 bytes for any T of at most 8 bytes. Slots are packed, not
// padded to a cache line (measured here: padding every slot cost ~4× throughput); the head and
// tail counters and the two sleep words each have a cache line of their own.
//
// ---------------------------------------------------------------------------------------------
// Element types
// ---------------------------------------------------------------------------------------------
// T must be nothrow-move-constructible and nothrow-destructible (static_assert): an element is
// moved into its slot after the slot is claimed, and a throw at that point would leave a claimed
// slot that is never published, wedging every consumer that reaches it. Everything that may throw
// (a copy constructor, a constructor from try_emplace's arguments) therefore runs *before* a slot
// is claimed, on the caller's side; if it throws, the queue is untouched and nothing leaks.
// Move-only and over-aligned types (alignof(T) above the cache line included) are supported.
//
// ---------------------------------------------------------------------------------------------
// How it works (the index arithmetic)
// ---------------------------------------------------------------------------------------------
// There are `cap` slots. A *position* is a 64-bit number `lap * one_lap + index` where
// one_lap = bit_ceil(cap + 1) and 0 <= index < cap; positions increase monotonically, and the
// position after `p` is p + 1 inside a lap, or the first index of the next lap after the last
// index (advance()). So the low bits give the slot without division and the high bits count laps.
// tail_ holds the next position to push to (bit 63 is the closed mark), head_ the next to pop.
// Each slot has a stamp:
//   stamp == p       the slot is free for the producer of position p,
//   stamp == p + 1   it holds the element pushed at position p, ready for the consumer of p,
//   after that pop   stamp = p + one_lap: free for the producer of the same index one lap later.
// Initially the stamp of slot i is i (free for lap 0). A producer at position t compares the stamp
// with t: equal → CAS tail_ to advance(t), construct, store stamp t + 1 (release). Smaller → the
// element from the previous lap is still there (or being popped); if head_ + one_lap == t the
// queue is full. A consumer at position h: stamp == h + 1 → CAS head_ to advance(h), move the
// element out, store stamp h + one_lap (release). Smaller → not yet published; if the tail is h
// the queue is empty. A stamp larger than expected means the loaded counter was stale: reload.
// Because one_lap > cap, index + 1 never reaches the next lap, so `p + 1` is never another
// position's "free" stamp for the same slot.
//
// Sleeping: each side has a 32-bit sleep word (not_empty_ for consumers, not_full_ for producers),
// `epoch << 1 | someone_asleep`. A thread about to sleep sets the low bit (fetch_or), then runs
// detail::asymmetric_heavy_fence(), re-tries its operation, and only then sleeps on the word
// (futex) with the value it set. Every successful operation runs detail::asymmetric_light_fence()
// (a compiler barrier when membarrier(2) is available) and loads the other side's word; only if
// the low bit is set does it clear the bit while bumping the epoch (CAS) and wake all sleepers of
// that side. This is Dekker's pattern: either the sleeper's re-try sees the new element/space, or
// the operation sees the bit. A woken thread that finds nothing goes back through its spin phase
// and sets the bit again; until some thread re-sets it, further operations make no system call —
// so there is no futex call per operation when sleepers are only occasional, and a timed waiter
// that leaves after being woken cannot swallow a wakeup meant for another (everyone was woken).
//
// ---------------------------------------------------------------------------------------------
// Design decisions (measured on the 2-core AMD EPYC KVM reference machine)
// ---------------------------------------------------------------------------------------------
// * A CAS-claimed Vyukov/crossbeam ring rather than a fetch_add ticket ring (rigtorp, folly): a
//   ticket taken with fetch_add must be honoured, so try_push could not fail without waiting for
//   its slot; the CAS lets try_ ops fail cleanly. Uncontended cost is that of libcds's cycle queue
//   (~6 ns for a push+pop pair with both).
// * Sleeper detection by a global per-side sleep word + asymmetric fences (design "a"), not by a
//   per-slot waiter bit set with an exchange at every publish (design "b"): "a" keeps the publish a
//   plain release store and adds one load of a read-mostly line per operation; "b" would add a
//   locked RMW to every operation.
// * Blocking ops make one attempt, then yield a few times, then sleep: any longer spin measured
//   worse at 4P4C/8P8C (more threads than cores); ~9 us of spinning halved the throughput and
//   doubled the CPU per item (see blocking_spins).
#ifndef LFKIT_MPMC_QUEUE_HPP
#define LFKIT_MPMC_QUEUE_HPP

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/platform.hpp"

// Blocking and timed operations sleep on futex(2) on Linux. Elsewhere — or on Linux when
// LFKIT_QUEUE_PORTABLE_WAIT is defined before this header is included — they use the portable
// path: Atom::wait/notify_all, and short sleeps for timed waits. The test suite builds the queue's
// tests a second time with LFKIT_QUEUE_PORTABLE_WAIT, which is how that path is tested here.
#if defined(__linux__) && !defined(LFKIT_QUEUE_PORTABLE_WAIT)
#define LFKIT_QUEUE_USE_FUTEX 1
#else
#define LFKIT_QUEUE_USE_FUTEX 0
#endif

#if LFKIT_QUEUE_USE_FUTEX
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

namespace lfkit {

namespace detail::queue_sleep {

#if LFKIT_QUEUE_USE_FUTEX
/// Wakes every thread asleep on the 32-bit word at `addr`. One raw system call: async-signal-safe
/// (errno is saved and restored), wait-free from the caller's point of view.
inline void futex_wake_all(void* addr) noexcept {
  const int saved = errno;
  syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, nullptr, nullptr, 0);
  errno = saved;
}

/// Sleeps while the word at `addr` holds `expected`, until woken, interrupted, or the absolute
/// CLOCK_MONOTONIC time `*deadline` (nullptr: no timeout). Spurious returns are possible; callers
/// re-check. FUTEX_WAIT_BITSET takes an absolute time, so a retry never extends the deadline.
inline void futex_wait(void* addr, std::uint32_t expected, const timespec* deadline) noexcept {
  syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, deadline, nullptr,
          FUTEX_BITSET_MATCH_ANY);
}
#endif

/// An absolute deadline on std::chrono::steady_clock (CLOCK_MONOTONIC on Linux with libstdc++ and
/// libc++), or "none".
struct deadline {
  bool has = false;
  std::chrono::steady_clock::time_point at{};
};

/// Seconds beyond which a wait means "no deadline" (~95 years): every integer conversion below
/// stays far from overflow, whatever the clock's representation.
inline constexpr double no_deadline_seconds = 3.0e9;

/// An absolute deadline `left` seconds from now, decided in floating point so that nothing
/// overflows: +inf and huge values mean "none"; NaN, negative and tiny values mean "now".
inline deadline after_seconds(double left) {
  if (left > no_deadline_seconds) return {false, {}};
  const auto now = std::chrono::steady_clock::now();
  if (!(left > 0)) return {true, now};  // also NaN: an expired deadline, never an overflow
  return {true, now + std::chrono::ceil<std::chrono::steady_clock::duration>(std::chrono::duration<double>(left))};
}

template <class Clock, class Duration>
inline deadline to_deadline(const std::chrono::time_point<Clock, Duration>& tp) {
  const double at = std::chrono::duration<double>(tp.time_since_epoch()).count();
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    // Same clock: keep the exact value when it is representable (|at| well inside int64 ns).
    if (at > no_deadline_seconds) return {false, {}};
    if (at < -no_deadline_seconds) return {true, std::chrono::steady_clock::time_point{}};
    return {true, std::chrono::time_point_cast<std::chrono::steady_clock::duration>(
                      std::chrono::ceil<std::chrono::nanoseconds>(tp))};
  } else {
    // Another clock: measure the remaining time on it once and count it on the steady clock. Both
    // ends are converted to floating-point seconds first, so time_point::max() of a coarse
    // duration (minutes, seconds) cannot overflow a subtraction.
    return after_seconds(at - std::chrono::duration<double>(Clock::now().time_since_epoch()).count());
  }
}

template <class Rep, class Period>
inline deadline after(const std::chrono::duration<Rep, Period>& d) {
  // Durations beyond ~95 years (e.g. duration::max()) mean "no deadline" rather than overflow;
  // the decision is taken in floating-point seconds so that no integer conversion can overflow.
  return after_seconds(std::chrono::duration<double>(d).count());
}

}  // namespace detail::queue_sleep

/// Bounded MPMC FIFO queue with exact capacity. See the preface of this header for the semantics,
/// the guarantees table and the memory layout.
///
/// `Atom` is the atomic policy: std::atomic in production; the stress tests substitute
/// lfkit::stress::perturbed_atomic. Only its member functions are used. On Linux the sleep words
/// are handed to futex(2) by address, so Atom<std::uint32_t> must be layout-compatible with a
/// 32-bit integer (checked by static_assert).
template <class T, template <class> class Atom = std::atomic>
class mpmc_queue {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> &&
                    !std::is_array_v<T>,
                "lfkit::mpmc_queue<T>: T must be a non-const, non-volatile, non-array object type");
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "lfkit::mpmc_queue<T>: T's move constructor must be noexcept. An element is moved "
                "into its slot after the slot is claimed; a throwing move would leave a claimed, "
                "never-published slot that wedges every consumer reaching it. Wrap the type, e.g. "
                "std::unique_ptr<T>, or mark its move constructor noexcept.");
  static_assert(std::is_nothrow_destructible_v<T>,
                "lfkit::mpmc_queue<T>: T's destructor must be noexcept (pops destroy the slot's "
                "element before releasing the slot)");
  static_assert(Atom<std::uint64_t>::is_always_lock_free && Atom<std::uint32_t>::is_always_lock_free,
                "lfkit::mpmc_queue: the atomic policy must be lock-free (a lock-based atomic "
                "deadlocks a signal handler that interrupts its own thread inside an operation)");
  static_assert(detail::model_checked_v<Atom> ||  // a model checker's atomic: no futex(2)
                    (sizeof(Atom<std::uint32_t>) == sizeof(std::uint32_t) &&
                     alignof(Atom<std::uint32_t>) == alignof(std::uint32_t)),
                "lfkit::mpmc_queue: Atom<uint32_t> must be layout-compatible with uint32_t: its "
                "address is passed to futex(2)");

 public:
  using value_type = T;
  using size_type = std::size_t;

  /// Busy-slot re-tries a try_ operation makes before failing (see the preface), each after
  /// busy_backoff(): at most 128 pauses, about 3.2 us on the reference machine (a KVM guest where
  /// one pause costs ~25 ns). A running holder finishes within the first back-off; one still busy
  /// after it is preempted or stopped, and waiting more would only burn the caller's time slice.
  /// Measured: 2 re-tries ran queue_try as fast as 4 re-tries with a doubling back-off (~25 us).
  static constexpr unsigned try_busy_spins = 2;
  /// Pause hints of the back-off after a busy slot (see busy_backoff()). Measured on the 2-core
  /// reference machine, queue_try 1P1C/2P2C/4P4C against libcds's Vyukov ring in the same runs
  /// (paired medians): 1 pause ~0.4-0.7x (the sides stay one slot apart and every slot's cache
  /// line changes hands), 16 ~0.9x, 64 ~1.05-1.2x, 128 about the same as 64. A try_pop waiting
  /// for a lone producer takes a few looks first (see lone_holder_looks), so a handoff to a
  /// waiting consumer is not delayed by this.
  static constexpr unsigned busy_backoff_pauses = 64;
  /// Looks at a slot that is not ready, one pause apart (~0.2 us here), where the waiting rules
  /// call for looks (await_stamp()). For the try_pop handoff case, measured: handoff latency p50
  /// ~0.19 us with these looks, ~1.7 us when such a slot got the back-off instead. A try_push on
  /// a large ring never looks: one that waited for each slot's release stayed one slot behind the
  /// consumers, and with the prefetch that lock-step ran at ~0.25x (50 M items/s 1P1C, not ~240).
  static constexpr unsigned lone_holder_looks = 8;
  /// How many positions ahead a successful operation prefetches (for writing) the slot it will
  /// use next-but-some: 16 slots of 16 bytes, two 128-byte lines ahead. 8, 16 and 32 measured the
  /// same; without the prefetch 1P1C try-ops ran ~0.8-0.95x as fast.
  static constexpr std::uint64_t prefetch_distance = 16;
  /// try_ operations on rings of at least this many slots follow the streaming rules: verdict
  /// without looks, the back-off for a busy slot, the prefetch. On smaller rings the two sides
  /// are always within a few slots of each other, nothing can slip ahead, and a slot that is not
  /// ready is best given a few looks before the verdict (the back-off there is 1-3 pauses, see
  /// backoff_pauses_for()). Measured with the stress suite (capacity 1-4 queues, 4 threads): the
  /// streaming rules there cut try-op throughput to ~1/10 and blocking-op throughput to ~1/6.
  static constexpr std::uint64_t streaming_ring_min = 64;
  static_assert(streaming_ring_min > prefetch_distance,
                "prefetch_ahead() wraps its index once: the ring must be larger than the distance");
  /// Attempts a blocking operation makes (each followed by 1, 2, 4, ... pause hints) before it
  /// starts yielding. Deliberately tiny: on the 2-core reference machine with more threads than
  /// cores, every longer spin measured worse — blocking 4P4C/8P8C, M items/s (CPU ns/item), one
  /// run, medians of 11: 1 attempt 56/48 (19/23), 2: 45/45 (18/23), 4: 41/38 (24/29); 24 (~9 us
  /// of pausing): about half the throughput and twice the CPU per item. The thread being waited
  /// for is usually not running, and pause loops in a KVM guest are expensive, so spinning only
  /// delays it; sched_yield() hands it the core.
  static constexpr unsigned blocking_spins = 1;
  /// sched_yield() calls, each followed by an attempt, between spinning and sleeping. Bounded: a
  /// blocked thread ends up asleep in the kernel, never yielding forever.
  static constexpr unsigned blocking_yields = 4;

 private:
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  /// Largest capacity accepted. Positions live in 63 bits (bit 63 is the closed mark); with
  /// one_lap <= 2^41 at least 2^62 operations happen before they wrap: > 140 years at 10^9/s.
  static constexpr std::size_t max_capacity_limit = std::size_t{1} << 40;

  struct slot {
    Atom<std::uint64_t> stamp;
    alignas(T) unsigned char storage[sizeof(T)];

    /// The live element (only while the stamp says the slot holds one).
    T* element() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    /// Where an element is to be constructed: no T lives there yet, so this pointer is only ever
    /// handed to placement new (std::launder requires a live object).
    T* place() noexcept { return reinterpret_cast<T*>(storage); }
  };

  // Slots are packed (no padding to a cache line): on the reference machine a ring with every
  // slot padded moved ~4x fewer items/s 1P1C than the same ring with packed 16-byte slots.
  static_assert(sizeof(T) > 8 || alignof(T) > 8 || sizeof(slot) == 16,
                "a small element's slot must be exactly 16 bytes: packed slots are the layout "
                "decision this ring's throughput rests on");

  /// A counter alone on its cache line: head and tail are written by different sides at every
  /// operation; sharing a line (or an adjacent-line prefetch pair) would make them ping-pong.
  struct alignas(cache_line_size) padded_u64 {
    Atom<std::uint64_t> value;
  };
  static_assert(sizeof(padded_u64) == cache_line_size,
                "each hot counter must fill exactly one padded line so no two share one");
  /// A sleep word alone on its cache line: read by every operation of one side, written only when
  /// threads of the other side go to sleep or are woken.
  struct alignas(cache_line_size) padded_u32 {
    Atom<std::uint32_t> value;
  };
  static_assert(sizeof(padded_u32) == cache_line_size,
                "each sleep word must fill exactly one padded line so no two share one");

  enum class status { ok, unavailable, busy, closed, timeout };

 public:
  /// Largest capacity the constructor accepts (also bounded by addressable memory).
  static constexpr std::size_t max_capacity() noexcept {
    constexpr std::size_t by_memory =
        static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(slot);
    return by_memory < max_capacity_limit ? by_memory : max_capacity_limit;
  }

  /// A queue holding at most `capacity` elements (exactly; the storage is `capacity` slots).
  /// Throws std::invalid_argument naming the value if `capacity` is 0 or above max_capacity(),
  /// std::bad_alloc if the slots cannot be allocated. Not async-signal-safe (allocates).
  ///
  ///   lfkit::mpmc_queue<std::string> q(3);   // q.capacity() == 3
  explicit mpmc_queue(std::size_t capacity)
      : cap_(checked_capacity(capacity)),
        one_lap_(std::bit_ceil(static_cast<std::uint64_t>(capacity) + 1)),
        index_mask_(one_lap_ - 1) {
    slots_ = static_cast<slot*>(::operator new(cap_ * sizeof(slot), std::align_val_t{slot_align}));
    for (std::size_t i = 0; i < cap_; ++i) ::new (static_cast<void*>(&slots_[i])) slot;
    for (std::uint64_t i = 0; i < cap_; ++i) {
      // The slot of index i starts free for the producer of position i (lap 0, index i).
      // relaxed: published by the constructor's completion.
      slot_at(i).stamp.store(i, std::memory_order_relaxed);
    }
    head_.value.store(0, std::memory_order_relaxed);      // relaxed: as above
    tail_.value.store(0, std::memory_order_relaxed);      // relaxed: as above
    not_empty_.value.store(0, std::memory_order_relaxed);  // relaxed: as above
    not_full_.value.store(0, std::memory_order_relaxed);   // relaxed: as above
    detail::asymmetric_fence_prepare();
  }

  mpmc_queue(const mpmc_queue&) = delete;
  mpmc_queue& operator=(const mpmc_queue&) = delete;

  /// Destroys the elements still inside, then frees the slots. No other thread may be using the
  /// queue (every operation must have returned).
  ~mpmc_queue() {
    // relaxed: no concurrent operation; the caller's synchronisation orders everything.
    std::uint64_t pos = head_.value.load(std::memory_order_relaxed);
    const std::uint64_t end = tail_.value.load(std::memory_order_relaxed) & ~closed_bit;
    while (pos != end) {
      slot& s = slot_at(pos);
      // relaxed: as above; every claimed slot has been published by now.
      if (s.stamp.load(std::memory_order_relaxed) == pos + 1) std::destroy_at(s.element());
      pos = advance(pos);
    }
    for (std::size_t i = 0; i < cap_; ++i) std::destroy_at(&slots_[i]);
    ::operator delete(slots_, std::align_val_t{slot_align});
  }

  /// The capacity given to the constructor. Wait-free, async-signal-safe.
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  // ---- non-blocking ----------------------------------------------------------------------

  /// Pushes a copy of `v` if there is room. Returns false if the queue is full or closed (or in
  /// the busy-slot case of the preface); `v` is never modified. The copy is made before a slot is
  /// claimed when T's copy constructor may throw (it then propagates, the queue unchanged).
  /// Progress: lock-free claim + bounded wait (never waits unboundedly on another thread). Async-signal-safe
  /// if T's copy constructor is.
  ///
  ///   std::string s = "x";  if (!q.try_push(s)) { /* full or closed */ }
  bool try_push(const T& v) {
    if constexpr (std::is_nothrow_copy_constructible_v<T>) {
      return try_push_impl([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(v); });
    } else {
      T copy(v);
      return try_push_impl([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::move(copy)); });
    }
  }

  /// Pushes `v` by moving it if there is room; on failure (full, closed, busy slot) `v` is left
  /// untouched — it is moved from only when the push succeeds. Lock-free claim + bounded wait;
  /// async-signal-safe if T's move constructor is.
  ///
  ///   auto p = std::make_unique<int>(1);  if (q.try_push(std::move(p))) { /* p is null now */ }
  bool try_push(T&& v) noexcept {
    return try_push_impl([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::move(v)); });
  }

  /// Constructs an element from `args` and pushes it if there is room. If T's constructor from
  /// `args` is noexcept the element is built in its slot; otherwise it is built first, on the
  /// caller's side (an exception then propagates with the queue unchanged and nothing leaked),
  /// and moved in — in that case, if the push then fails, the temporary is destroyed, so rvalue
  /// arguments may have been moved from. Lock-free claim + bounded wait; async-signal-safe if
  /// the constructor is.
  ///
  ///   q.try_emplace(3, 'a');   // a std::string "aaa"
  template <class... Args>
  bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      return try_push_impl(
          [&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::forward<Args>(args)...); });
    } else {
      T tmp(std::forward<Args>(args)...);
      return try_push_impl([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::move(tmp)); });
    }
  }

  /// Pops the oldest element into `out` (move-assigned) if there is one. Returns false if the
  /// queue is empty (closed or not — check is_closed()), or in the busy-slot case of the preface.
  /// If T's move assignment may throw, the element is first moved out of its slot and the slot
  /// released, then assigned: if the assignment throws, that element is lost but the queue stays
  /// consistent. Lock-free claim + bounded wait; async-signal-safe if T's move operations are.
  ///
  ///   int v;  while (q.try_pop(v)) use(v);
  bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    if constexpr (std::is_nothrow_move_assignable_v<T>) {
      return try_pop_impl([&](T&& v) noexcept { out = std::move(v); });
    } else {
      std::optional<T> tmp;
      if (!try_pop_impl([&](T&& v) noexcept { tmp.emplace(std::move(v)); })) return false;
      out = std::move(*tmp);
      return true;
    }
  }

  /// Pops the oldest element, or std::nullopt (same conditions as try_pop(T&)). Does not need T
  /// to be default-constructible. Lock-free claim + bounded wait; async-signal-safe if T's move
  /// constructor is.
  ///
  ///   if (auto v = q.try_pop()) use(*v);
  std::optional<T> try_pop() noexcept {
    std::optional<T> r;
    try_pop_impl([&](T&& v) noexcept { r.emplace(std::move(v)); });
    return r;
  }

  /// Pushes up to `n` elements taken from `first` (copied; use std::make_move_iterator to move),
  /// in order, claiming runs of free slots with one CAS each. Returns how many were pushed, k: the
  /// first k of the range were consumed. Stops at the first full / closed / busy condition. When T
  /// is nothrow-constructible from `*first`, the elements after the first k are untouched. If
  /// constructing T from `*first` or advancing the iterator may throw, each element is built on
  /// the caller's side first and pushed alone (an exception propagates after the elements before
  /// it were pushed); then, if the push of element k fails, the T built from it is destroyed —
  /// with a move iterator, source element k has been moved from (as with try_emplace). Lock-free claims + bounded wait; async-signal-safe if
  /// T's construction from `*first` is.
  ///
  ///   int xs[4] = {1, 2, 3, 4};  std::size_t k = q.try_push_n(xs, 4);
  template <class InputIt>
  std::size_t try_push_n(InputIt first, std::size_t n) {
    using ref = std::iter_reference_t<InputIt>;
    if constexpr (std::is_nothrow_constructible_v<T, ref> && noexcept(*first) && noexcept(++first)) {
      return push_bulk(first, n);
    } else {
      // One element at a time; `*first` and `++first` run outside the claim, so they may throw.
      std::size_t done = 0;
      for (; done < n; ++done, ++first) {
        ref r = *first;
        bool ok;
        if constexpr (std::is_nothrow_constructible_v<T, ref>) {
          ok = try_push_impl(
              [&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::forward<ref>(r)); });
        } else {
          T tmp(std::forward<ref>(r));  // may throw: nothing is claimed yet
          ok = try_push(std::move(tmp));
        }
        if (!ok) break;
      }
      return done;
    }
  }

  /// Pops up to `n` elements into `out` (assigned in FIFO order), claiming runs of ready slots
  /// with one CAS each. Returns how many were popped. If assigning to `*out` or advancing `out`
  /// may throw (e.g. a back_inserter), elements are popped one at a time and each is assigned
  /// after its slot is released (an element whose assignment throws is lost; the queue stays
  /// consistent). Lock-free claims + bounded wait; async-signal-safe if the assignments are.
  ///
  ///   int buf[64];  std::size_t k = q.try_pop_n(buf, 64);
  template <class OutputIt>
  std::size_t try_pop_n(OutputIt out, std::size_t n) {
    if constexpr (noexcept(*out = std::declval<T&&>()) && noexcept(++out)) {
      return pop_bulk(out, n);
    } else {
      std::size_t done = 0;
      for (; done < n; ++done) {
        std::optional<T> v = try_pop();
        if (!v) break;
        *out = std::move(*v);
        ++out;
      }
      return done;
    }
  }

  // ---- blocking ----------------------------------------------------------------------------

  /// Pushes `v`, sleeping while the queue is full. Returns false only if the queue is closed
  /// (then `v` is untouched); on success `v` was moved from. Blocking (spins briefly, then sleeps
  /// in futex(2)); not async-signal-safe (it may wait for the very thread a handler interrupted).
  ///
  ///   while (auto job = next_job()) if (!q.push(std::move(*job))) break;   // closed: stop
  bool push(T&& v) {
    return push_wait([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::move(v)); }, {}) ==
           status::ok;
  }

  /// Pushes a copy of `v`, sleeping while full; false only if closed. Blocking; not
  /// async-signal-safe. The copy is made up front if T's copy constructor may throw.
  bool push(const T& v) {
    if constexpr (std::is_nothrow_copy_constructible_v<T>) {
      return push_wait([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(v); }, {}) == status::ok;
    } else {
      T copy(v);
      return push(std::move(copy));
    }
  }

  /// Pops the oldest element into `out`, sleeping while the queue is empty. Returns false only
  /// when the queue is closed and drained. Blocking; not async-signal-safe.
  ///
  ///   int v;  while (q.pop(v)) use(v);   // ends after close() once everything is consumed
  bool pop(T& out) { return pop_into(out, {}) == status::ok; }

  // ---- timed -------------------------------------------------------------------------------

  /// Like push(T&&) but gives up after `timeout`: returns false if the queue stayed full (or was
  /// closed) until then; `v` is untouched on failure. Blocking until the deadline; not
  /// async-signal-safe. Linux: sleeps in futex(2) with an absolute CLOCK_MONOTONIC deadline.
  ///
  ///   if (!q.try_push_for(std::move(x), std::chrono::milliseconds(5))) drop(x);
  template <class Rep, class Period>
  bool try_push_for(T&& v, const std::chrono::duration<Rep, Period>& timeout) {
    return push_wait([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::move(v)); },
                     detail::queue_sleep::after(timeout)) == status::ok;
  }

  /// Like push(T&&) but gives up at `deadline` (any clock; steady_clock is exact, other clocks
  /// are converted once at the call). Blocking until the deadline; not async-signal-safe.
  template <class Clock, class Duration>
  bool try_push_until(T&& v, const std::chrono::time_point<Clock, Duration>& deadline) {
    return push_wait([&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::move(v)); },
                     detail::queue_sleep::to_deadline(deadline)) == status::ok;
  }

  /// Like pop() but gives up after `timeout`: returns false if the queue stayed empty (or is
  /// closed and drained) until then. Blocking until the deadline; not async-signal-safe.
  ///
  ///   int v;  if (q.try_pop_for(v, std::chrono::milliseconds(100))) use(v); else idle();
  template <class Rep, class Period>
  bool try_pop_for(T& out, const std::chrono::duration<Rep, Period>& timeout) {
    return pop_into(out, detail::queue_sleep::after(timeout)) == status::ok;
  }

  /// Like pop() but gives up at `deadline`. Blocking until the deadline; not async-signal-safe.
  template <class Clock, class Duration>
  bool try_pop_until(T& out, const std::chrono::time_point<Clock, Duration>& deadline) {
    return pop_into(out, detail::queue_sleep::to_deadline(deadline)) == status::ok;
  }

  // ---- closing and observing -----------------------------------------------------------------

  /// Closes the queue: every later push fails, pops drain what is left and then fail, and every
  /// thread asleep in push/pop (timed or not) is woken. Idempotent. Pushes that claimed a slot
  /// before the close still complete, and their elements are popped. Lock-free (one RMW, two CAS
  /// loops) plus two futex wakes; async-signal-safe.
  ///
  ///   q.close();  for (auto& t : workers) t.join();
  void close() noexcept {
    // seq_cst: a sleeper sets its bit (RMW) then reads tail_; our RMW here precedes our RMWs on
    // the sleep words, so either it sees the mark or our epoch bump breaks its futex wait.
    tail_.value.fetch_or(closed_bit, std::memory_order_seq_cst);
    force_wake(not_empty_.value);
    force_wake(not_full_.value);
  }

  /// Whether close() has been called. Wait-free, async-signal-safe.
  [[nodiscard]] bool is_closed() const noexcept {
    // acquire: pairs with close()'s RMW, so a thread that sees the mark sees what preceded close.
    return (tail_.value.load(std::memory_order_acquire) & closed_bit) != 0;
  }

  /// Number of elements, approximately: exact when no operation runs concurrently, otherwise some
  /// value between 0 and capacity() that the queue held recently (claimed-but-unfinished slots
  /// count as held). Wait-free, async-signal-safe.
  [[nodiscard]] std::size_t size_approx() const noexcept {
    // acquire: pairs with the seq_cst CASes that advance the counters; the result is only a
    // statistic. Head first, so that the tail read is not older than it.
    const std::uint64_t h = head_.value.load(std::memory_order_acquire);
    const std::uint64_t t = tail_.value.load(std::memory_order_acquire) & ~closed_bit;
    if (t <= h) return 0;
    // Lap difference times cap, plus index difference: positions are lap*one_lap + index.
    const std::uint64_t shift = static_cast<std::uint64_t>(std::countr_zero(one_lap_));
    const std::uint64_t laps = (t >> shift) - (h >> shift);
    const std::uint64_t n = laps * cap_ + (t & index_mask_) - (h & index_mask_);
    return n > cap_ ? cap_ : static_cast<std::size_t>(n);
  }

  /// size_approx() == 0. Wait-free, async-signal-safe.
  [[nodiscard]] bool empty_approx() const noexcept { return size_approx() == 0; }

 private:
  static constexpr std::size_t slot_align =
      alignof(slot) > cache_line_size ? alignof(slot) : cache_line_size;

  static std::size_t checked_capacity(std::size_t capacity) {
    if (capacity == 0) {
      throw std::invalid_argument("lfkit::mpmc_queue: capacity 0 is invalid (must be at least 1)");
    }
    if (capacity > max_capacity()) {
      throw std::invalid_argument("lfkit::mpmc_queue: capacity " + std::to_string(capacity) +
                                  " is too large (maximum " + std::to_string(max_capacity()) +
                                  " for this element type)");
    }
    return capacity;
  }

  /// Whether try_ operations on this ring follow the streaming rules (see streaming_ring_min).
  bool streaming_ring() const noexcept { return cap_ >= streaming_ring_min; }

  /// The slot of position `pos`: its index (the low bits; the lap is in the high bits).
  slot& slot_at(std::uint64_t pos) const noexcept { return slots_[pos & index_mask_]; }

  /// The position after `pos`: next index in the same lap, or index 0 of the next lap.
  std::uint64_t advance(std::uint64_t pos) const noexcept {
    const std::uint64_t index = pos & index_mask_;
    return index + 1 < cap_ ? pos + 1 : (pos & ~index_mask_) + one_lap_;
  }

  // ---- one attempt ---------------------------------------------------------------------------

  /// One push attempt. Retries internally only when the state moved under it (a CAS lost to
  /// another producer, a stale tail), which means another thread made progress (lock-free).
  template <bool Patient = false, class Construct>
  status push_once(Construct& construct) noexcept {
    // seq_cst: the "full" verdict below relies on this load and the head_ load being in the
    // single total order (a plain load on x86).
    std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
    for (;;) {
      slot& s = slot_at(tail);
      // acquire: pairs with the release store of the consumer that emptied this slot a lap ago,
      // so its move-out and destruction happen-before our construction.
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == tail) {
        // The slot is free for position `tail` (never true once closed: stamps stay below the
        // closed bit): claim the position.
        // seq_cst on success: part of the total order full/empty verdicts reason about; failure
        // reloads `tail` (seq_cst for the same reason).
        if (tail_.value.compare_exchange_weak(tail, advance(tail), std::memory_order_seq_cst,
                                              std::memory_order_seq_cst)) {
          if constexpr (!Patient) prefetch_ahead(tail);
          construct(s.place());
          // release: publishes the element to the consumer of `tail` (its acquire stamp load).
          s.stamp.store(tail + 1, std::memory_order_release);
          return status::ok;
        }
      } else if (stamp < tail) {
        if (tail & closed_bit) return status::closed;
        // A blocking operation (Patient), and any operation on a small ring, looks at the slot
        // again a few times first: a slot about to be released is usually free by then, and a
        // blocking operation that reported "full" would yield or sleep.
        if ((Patient || !streaming_ring()) && await_stamp(s, tail)) continue;
        // The element from one lap ago is still here, or a consumer is moving it out. Full iff
        // the head is still at that same position: then tail - head spans exactly cap positions.
        const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);  // see above
        const std::uint64_t previous = tail - one_lap_;  // this slot's position one lap ago
        if (head == previous) return status::unavailable;
        // Busy: the consumer of `previous` claimed it and has not released the slot yet. Always
        // the back-off here, even for a lone consumer: in a large ring, a producer that waited
        // for each slot to be released would stay one slot behind the consumers.
        return status::busy;
      } else {
        // The stamp is ahead: our tail is stale. seq_cst: see the first load.
        tail = tail_.value.load(std::memory_order_seq_cst);
      }
    }
  }

  /// One pop attempt; `deliver(T&&)` receives the element (must not throw). Same progress as
  /// push_once.
  template <bool Patient = false, class Deliver>
  status pop_once(Deliver& deliver) noexcept {
    // seq_cst: the "empty" verdict relies on this load and the tail_ load being in the single
    // total order (a plain load on x86).
    std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
    for (;;) {
      slot& s = slot_at(head);
      // acquire: pairs with the producer's release store of head + 1, so the element is visible.
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == head + 1) {
        // seq_cst: as in push_once; failure reloads `head`.
        if (head_.value.compare_exchange_weak(head, advance(head), std::memory_order_seq_cst,
                                              std::memory_order_seq_cst)) {
          if constexpr (!Patient) prefetch_ahead(head);
          T* e = s.element();
          deliver(std::move(*e));
          std::destroy_at(e);
          // release: hands the emptied slot to the producer of the same index one lap later
          // (its acquire stamp load), after our move-out and destruction.
          s.stamp.store(head + one_lap_, std::memory_order_release);
          return status::ok;
        }
      } else if (stamp <= head) {
        // Nothing published at `head` yet. Blocking operations and small rings look again first
        // (see push_once).
        if ((Patient || !streaming_ring()) && await_stamp(s, head + 1)) continue;
        // Empty iff nobody claimed it: tail == head.
        const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);  // see above
        const std::uint64_t claimed = tail & ~closed_bit;
        if (claimed == head) return (tail & closed_bit) ? status::closed : status::unavailable;
        // Busy: the producer of `head` claimed it and has not published yet. If it is the only
        // push in flight (tail just past it) this is most likely a handoff to us: wait a few
        // looks for the element, then claim it. If the producers moved on while we looked, we
        // are trailing a stream one slot behind: a try_ op backs off first, which is what breaks
        // that lock-step; the element is still ours to claim, so no false failure either way.
        if (streaming_ring() && claimed == advance(head) && await_stamp(s, head + 1)) {
          if constexpr (!Patient) {
            // seq_cst: as the load above (a plain load on x86).
            if ((tail_.value.load(std::memory_order_seq_cst) & ~closed_bit) != claimed) {
              busy_backoff();
            }
          }
          continue;
        }
        return status::busy;
      } else {
        head = head_.value.load(std::memory_order_seq_cst);  // stale head; seq_cst: see above
      }
    }
  }

  /// Looks at the stamp of `s` up to lone_holder_looks (8) times, one pause apart (about 0.2 us in
  /// all on the reference machine), and reports whether it reached `ready`. Used (see the
  /// preface's waiting rules) before the full/empty verdict by blocking operations and by every
  /// operation on a small ring, and by a try_pop on a large ring whose producer is the only push
  /// in flight.
  static bool await_stamp(slot& s, std::uint64_t ready) noexcept {
    for (unsigned i = 0; i < lone_holder_looks; ++i) {
      detail::cpu_relax();
      // acquire: as the first stamp load of push_once / pop_once.
      if (s.stamp.load(std::memory_order_acquire) == ready) return true;
    }
    return false;
  }

  /// Hints the cache to fetch, for writing, the slot prefetch_distance positions after `pos`:
  /// the one this side will use a few operations from now. Measured on the reference machine it
  /// turned the once-per-cache-line miss of a streaming producer or consumer into a hit (1P1C
  /// try-ops ~1.2x). Only a hint: never faults, no effect on correctness.
  void prefetch_ahead(std::uint64_t pos) const noexcept {
    // In a small ring the slot ahead is where the other side is working: leave it alone.
    if (!streaming_ring()) return;
    std::uint64_t index = (pos & index_mask_) + prefetch_distance;  // < cap_ + prefetch_distance
    if (index >= cap_) index -= cap_;  // now < prefetch_distance < cap_ (static_assert above)
    detail::prefetch_for_write(static_cast<const void*>(&slots_[index]));
  }

  // ---- waking ---------------------------------------------------------------------------------

  /// After a successful operation: wake the sleepers of the other side if any announced itself.
  void wake_if_sleeping(Atom<std::uint32_t>& word) noexcept {
    detail::asymmetric_light_fence();
    // relaxed: ordered after our publish by the light fence, paired with the sleeper's
    // fetch_or + asymmetric_heavy_fence (Dekker): either it sees our element or we see its bit.
    std::uint32_t w = word.load(std::memory_order_relaxed);
    if (w & 1u) [[unlikely]] wake_slow(word, w);
  }

  [[gnu::noinline, gnu::cold]] void wake_slow(Atom<std::uint32_t>& word, std::uint32_t w) noexcept {
    // Clear the bit and bump the epoch in one CAS (w is odd, so w + 1 is the next even epoch);
    // only the thread whose CAS clears the bit makes the system call.
    while (w & 1u) {
      // seq_cst: an RMW in the word's modification order after the sleeper's fetch_or, so its
      // futex wait on the old value fails or is woken; failure reloads w (relaxed: just a retry).
      if (word.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
        notify_all_sleepers(word);
        return;
      }
    }
  }

  /// Unconditionally bump the epoch (clearing the bit) and wake everyone; used by close().
  void force_wake(Atom<std::uint32_t>& word) noexcept {
    // relaxed: only a starting guess for the CAS.
    std::uint32_t w = word.load(std::memory_order_relaxed);
    // seq_cst: see close(); failure reloads w (relaxed: just a retry).
    while (!word.compare_exchange_weak(w, (w | 1u) + 1u, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
    }
    notify_all_sleepers(word);
  }

  static void notify_all_sleepers(Atom<std::uint32_t>& word) noexcept {
#if LFKIT_QUEUE_USE_FUTEX
    detail::queue_sleep::futex_wake_all(static_cast<void*>(std::addressof(word)));
#else
    word.notify_all();
#endif
  }

  /// Sleeps on `word` while it holds `expected`, until woken or the deadline.
  static void sleep_on(Atom<std::uint32_t>& word, std::uint32_t expected,
                       const detail::queue_sleep::deadline& dl) noexcept {
#if LFKIT_QUEUE_USE_FUTEX
    timespec ts{};
    const timespec* tsp = nullptr;
    if (dl.has) {
      // steady_clock counts CLOCK_MONOTONIC nanoseconds on Linux (libstdc++ and libc++).
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          dl.at.time_since_epoch()).count();
      if (ns <= 0) return;
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      tsp = &ts;
    }
    detail::queue_sleep::futex_wait(static_cast<void*>(std::addressof(word)), expected, tsp);
#else
    if (!dl.has) {
      word.wait(expected, std::memory_order_seq_cst);  // seq_cst: as the Linux futex path
    } else {
      // No timed wait in std::atomic: poll with short sleeps until the deadline (correct; not
      // tuned for latency on these platforms).
      const auto left = dl.at - std::chrono::steady_clock::now();
      if (left > std::chrono::steady_clock::duration::zero()) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            left, std::chrono::milliseconds(1)));
      }
    }
#endif
  }

  // ---- public-operation bodies ----------------------------------------------------------------

  template <class Construct>
  bool try_push_impl(Construct&& construct) noexcept {
    for (unsigned round = 0;; ++round) {
      const status st = push_once(construct);
      if (st == status::ok) {
        wake_if_sleeping(not_empty_.value);
        return true;
      }
      // Only a busy slot (held by a thread mid-pop) is worth a bounded wait.
      if (st != status::busy || round >= try_busy_spins) return false;
      busy_backoff();
    }
  }

  template <class Deliver>
  bool try_pop_impl(Deliver&& deliver) noexcept {
    for (unsigned round = 0;; ++round) {
      const status st = pop_once(deliver);
      if (st == status::ok) {
        wake_if_sleeping(not_full_.value);
        return true;
      }
      if (st != status::busy || round >= try_busy_spins) return false;
      busy_backoff();
    }
  }

  /// backoff_pauses_for(capacity) pause hints. Long on purpose in a large ring: a busy slot usually means
  /// producers and consumers are streaming through the ring one slot apart, handing every cache
  /// line of slots back and forth; backing off lets the other side get well ahead, after which
  /// both run through whole lines (see busy_backoff_pauses). In a small ring the other side
  /// cannot get further ahead than the capacity, so the back-off shrinks with it.
  void busy_backoff() const noexcept {
    const unsigned n = backoff_pauses_for(cap_);
    for (unsigned i = 0; i < n; ++i) detail::cpu_relax();
  }

  /// The back-off after a busy slot for a ring of `cap` slots: cap / 16 pause hints, at least 1
  /// and at most busy_backoff_pauses. One pause lets a streaming side move ~5 elements on the
  /// reference machine, so the slip a back-off creates stays within about a third of the ring
  /// (measured: a fixed 64-pause back-off cut a capacity-4 ring's stress throughput ~15x).
  static unsigned backoff_pauses_for(std::uint64_t cap) noexcept {
    const std::uint64_t p = cap / 16;
    return p < 1 ? 1u : p > busy_backoff_pauses ? busy_backoff_pauses : static_cast<unsigned>(p);
  }

  /// 2^min(round, 3) pause hints: a short exponential back-off.
  static void relax(unsigned round) noexcept {
    const unsigned n = 1u << (round < 3 ? round : 3);
    for (unsigned i = 0; i < n; ++i) detail::cpu_relax();
  }

  /// The shared blocking loop: `attempt()` until ok/closed; spin, then yield a bounded number of
  /// times, then announce ourselves on `word` and sleep. Returns ok, closed or timeout.
  template <class Attempt>
  status wait_loop(Atom<std::uint32_t>& word, Attempt&& attempt,
                   const detail::queue_sleep::deadline& dl) {
    if (dl.has && std::chrono::steady_clock::now() >= dl.at) {
      // Already past the deadline (e.g. a zero timeout): one attempt with the blocking ops'
      // looks, re-tried after a back-off like a try_ op's if the slot is busy; no sleeping.
      for (unsigned round = 0;; ++round) {
        const status st = attempt();
        if (st != status::busy || round >= try_busy_spins) {
          return st == status::ok || st == status::closed ? st : status::timeout;
        }
        busy_backoff();
      }
    }
    for (;;) {
      for (unsigned round = 0; round < blocking_spins; ++round) {
        const status st = attempt();
        if (st == status::ok || st == status::closed) return st;
        relax(round);
      }
      for (unsigned y = 0; y < blocking_yields; ++y) {
        std::this_thread::yield();
        const status st = attempt();
        if (st == status::ok || st == status::closed) return st;
      }
      if (dl.has && std::chrono::steady_clock::now() >= dl.at) return status::timeout;
      // Announce: set the "someone asleep" bit. seq_cst RMW; the heavy fence below orders it
      // before our re-try's loads (Dekker with wake_if_sleeping).
      const std::uint32_t w = word.fetch_or(1u, std::memory_order_seq_cst) | 1u;
      detail::asymmetric_heavy_fence();
      const status st = attempt();
      if (st == status::ok || st == status::closed) return st;
      sleep_on(word, w, dl);
      // Woken, timed out, interrupted or the word already changed: spin and re-try; a timed-out
      // caller gets one more round of attempts before reporting the timeout.
    }
  }

  template <class Construct>
  status push_wait(Construct&& construct, const detail::queue_sleep::deadline& dl) {
    const status st = wait_loop(not_full_.value, [&]() noexcept { return push_once<true>(construct); }, dl);
    if (st == status::ok) wake_if_sleeping(not_empty_.value);
    return st;
  }

  status pop_into(T& out, const detail::queue_sleep::deadline& dl) {
    if constexpr (std::is_nothrow_move_assignable_v<T>) {
      auto deliver = [&](T&& v) noexcept { out = std::move(v); };
      const status st = wait_loop(not_empty_.value, [&]() noexcept { return pop_once<true>(deliver); }, dl);
      if (st == status::ok) wake_if_sleeping(not_full_.value);
      return st;
    } else {
      std::optional<T> tmp;
      auto deliver = [&](T&& v) noexcept { tmp.emplace(std::move(v)); };
      const status st = wait_loop(not_empty_.value, [&]() noexcept { return pop_once<true>(deliver); }, dl);
      if (st == status::ok) {
        wake_if_sleeping(not_full_.value);
        out = std::move(*tmp);
      }
      return st;
    }
  }

  // ---- bulk -----------------------------------------------------------------------------------

  template <class InputIt>
  std::size_t push_bulk(InputIt& first, std::size_t n) noexcept {
    std::size_t done = 0;
    // seq_cst: as in push_once.
    std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
    while (done < n) {
      if (tail & closed_bit) break;
      // Count the run of slots free for consecutive positions from `tail`. A stamp equal to its
      // position can only change after tail_ reaches that position, so if the CAS below succeeds
      // (tail_ still == tail) the whole run is ours.
      std::uint64_t end = tail;
      std::size_t k = 0;
      // acquire: as in push_once, for every slot of the run.
      while (done + k < n && slot_at(end).stamp.load(std::memory_order_acquire) == end) {
        end = advance(end);
        ++k;
      }
      if (k == 0) {
        // Not even one free slot at our tail: let the single-element path decide (full, busy,
        // stale tail, closed) with its bounded wait.
        auto one = [&](T* p) noexcept { ::new (static_cast<void*>(p)) T(*first); };
        if (!try_push_impl(one)) break;
        ++first;
        ++done;
        tail = tail_.value.load(std::memory_order_seq_cst);  // seq_cst: as above
        continue;
      }
      // seq_cst: as in push_once; failure reloads `tail`.
      if (tail_.value.compare_exchange_weak(tail, end, std::memory_order_seq_cst,
                                            std::memory_order_seq_cst)) {
        std::uint64_t pos = tail;
        for (std::size_t i = 0; i < k; ++i, ++first) {
          slot& s = slot_at(pos);
          ::new (static_cast<void*>(s.place())) T(*first);
          // release: publishes this element to the consumer of `pos`.
          s.stamp.store(pos + 1, std::memory_order_release);
          pos = advance(pos);
        }
        done += k;
        wake_if_sleeping(not_empty_.value);
        tail = end;  // a guess; the next round's stamps or CAS correct it
      }
    }
    return done;
  }

  template <class OutputIt>
  std::size_t pop_bulk(OutputIt& out, std::size_t n) noexcept {
    std::size_t done = 0;
    // seq_cst: as in pop_once.
    std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
    while (done < n) {
      // The run of slots published for consecutive positions from `head`; a published stamp can
      // only change after head_ reaches that position, so a successful CAS makes the run ours.
      std::uint64_t end = head;
      std::size_t k = 0;
      // acquire: as in pop_once, for every slot of the run.
      while (done + k < n &&
             slot_at(end).stamp.load(std::memory_order_acquire) == end + 1) {
        end = advance(end);
        ++k;
      }
      if (k == 0) {
        auto one = [&](T&& v) noexcept { *out = std::move(v); };
        if (!try_pop_impl(one)) break;
        ++out;
        ++done;
        head = head_.value.load(std::memory_order_seq_cst);  // seq_cst: as above
        continue;
      }
      // seq_cst: as in pop_once; failure reloads `head`.
      if (head_.value.compare_exchange_weak(head, end, std::memory_order_seq_cst,
                                            std::memory_order_seq_cst)) {
        std::uint64_t pos = head;
        for (std::size_t i = 0; i < k; ++i, ++out) {
          slot& s = slot_at(pos);
          T* e = s.element();
          *out = std::move(*e);
          std::destroy_at(e);
          // release: hands the slot to the producer one lap later.
          s.stamp.store(pos + one_lap_, std::memory_order_release);
          pos = advance(pos);
        }
        done += k;
        wake_if_sleeping(not_full_.value);
        head = end;  // a guess; corrected by the next round's stamps or CAS
      }
    }
    return done;
  }

  // ---- data -------------------------------------------------------------------------------------
  // Read-only after construction: shared by every thread, never written, so it may share a line.
  slot* slots_ = nullptr;
  const std::uint64_t cap_;
  const std::uint64_t one_lap_;
  const std::uint64_t index_mask_;
  // Hot, written by one side each, on lines of their own.
  padded_u64 tail_;       // next position to push to; bit 63: closed
  padded_u64 head_;       // next position to pop from
  padded_u32 not_empty_;  // consumers sleep here: epoch << 1 | consumer asleep
  padded_u32 not_full_;   // producers sleep here: epoch << 1 | producer asleep
};

}  // namespace lfkit

#endif  // LFKIT_MPMC_QUEUE_HPP
