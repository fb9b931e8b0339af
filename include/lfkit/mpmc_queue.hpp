// SPDX-License-Identifier: BSL-1.0
// lfkit/mpmc_queue.hpp — a bounded multi-producer multi-consumer FIFO ring with non-blocking,
// blocking, timed, bulk and closable operations.
//
// Part of lfkit (header-only, C++20): standard library and lfkit/detail. Blocking ops sleep
// through atomic_hooks<Atom>::wait: futex(2) on Linux, else (or with LFKIT_PORTABLE_WAIT)
// Atom::wait/notify_all and short sleeps for timed waits.
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
// Semantics
// * FIFO and linearizable: a push takes effect at the CAS that claims the tail position, a pop at
//   the one that claims the head, a full/empty failure at the load that decided it.
// * Capacity is exact: capacity() slots, no power-of-two rounding, no division.
// * A failed try_ op means that at some instant in the call the queue was full / empty / closed —
//   or that the slot at its position was *busy*: claimed by a thread that has not finished (a
//   producer between claim and publish, a consumer between claim and release). The call then
//   waits a bounded time (at most 216 pause hints and 8 sched_yield()s, unless other threads
//   keep succeeding) and fails rather than wait on that thread, so a signal handler that
//   interrupted it cannot deadlock. A running holder finishes within the first pauses; a
//   descheduled one usually within the yields.
// * A single push or pop whose claim CAS loses to another thread of its side (which therefore
//   succeeded) pauses before it re-tries: 4 pause hints, doubling per loss in the call, at most
//   64 (queue_tuning::claim_backoff_min/max), so that the winner runs on with the lines it holds.
// * Word mode (word_mode == true: T trivially copyable, at most 8 bytes and 8-aligned, e.g. ints,
//   pointers, small PODs): the element lives in an atomic word of its slot; a pop reads it before
//   its claim CAS (the CAS validates the read) and writes nothing any operation reads. So a pop
//   never holds a slot: try_push fails only when full or closed, never busy, and a thread stopped
//   inside a pop holds up nobody. Producers learn that a slot is free from head_ (a recent value of
//   it is kept on their own line), not from the slot. Other types run in *stamp mode*, below.
// * close(): later pushes fail (argument untouched), pops drain what is left, then fail; every
//   sleeper is woken. Trap: `!try_pop(x) && is_closed()` does NOT mean drained — a push that
//   claimed its slot before close() may still be constructing its element. Use drained().
//
// Guarantees
//   operation                               progress                             signal-safe
//   try_push/try_emplace/try_pop(_n)        lock-free claim (a CAS fails only    yes (*)
//                                           when another thread succeeded), then
//                                           the bounded busy-slot wait above
//                                           (word mode: try_push never waits)
//   push/pop                                blocking: one pause, a few yields,   no
//                                           then sleeps;
//                                           waits for a stalled slot holder
//   try_push_for/_until, try_pop_for/_until blocking until the deadline          no
//   close                                   lock-free, then one wake per side    yes (*)
//   is_closed, drained, size_approx,        wait-free                            yes
//   empty_approx, capacity
//   constructor / destructor                allocate / free                      no
// (*) if the T operations used are, and atomic_hooks<Atom>::wake_is_signal_safe (futex: yes; the
//     portable notify may take a lock); a success calls wake only if the other side's "asleep"
//     bit is set. sched_yield() is a bare system call (async-signal-safe on Linux, not on
//     POSIX's list). Like every ticket ring (Vyukov, rigtorp, folly, libcds) the queue is not
//     lock-free in the strict sense: a thread stopped between claim and publish/release stops
//     that slot's other side (try_ ops fail there, blocking ops wait) until it resumes (in word
//     mode only a producer can: a stopped consumer holds nothing); lfkit::lockfree_queue has no
//     such slot.
//
// Memory: 5 cache lines, plus capacity packed slots in one line-aligned allocation: an 8-byte stamp
// and the T (16 bytes for a T of at most 8 that is not trivially copyable); in word mode 16 bytes
// (a 4-byte tag, a 4-byte touch word, the 8-byte word). T must be nothrow-move-constructible and
// -destructible (a throw after a claim would leave the slot claimed for ever); what may throw runs
// before the claim (detail/queue_api.hpp: the shared operations, documented there). Move-only
// and over-aligned T work.
//
// Algorithm. A *position* is `lap * one_lap + index`, one_lap = bit_ceil(cap + 1), index < cap;
// advance() goes to index + 1 or the next lap's index 0. tail_ is the next position to push to
// (bit 63: closed), head_ the next to pop. A slot's stamp is p when free for the producer of p
// (initially slot i: i), p + 1 when it holds p's element, p + one_lap once popped (free a lap
// later). Push at t: stamp == t: CAS tail_ to advance(t), construct, store t + 1 (release);
// stamp < t: full if head_ == t - one_lap, else busy. Pop at h: stamp == h + 1: CAS head_, move
// out, store h + one_lap (release); stamp <= h: empty if tail_ == h, else busy. A larger stamp
// means a stale counter: reload. When a slot is not ready, the call's `waiter` decides: look
// again, back off and re-try, or give up (measurements: bench/README.md, "Queue tuning").
// Word mode differs in four places: a slot holds a tag (the lap + 1 of the element last published
// there, mod 2^32) and the element's word; a pop that finds its lap's tag at h reads the word, then
// CASes head_ (a failed CAS discards the read: the next lap's producer writes only after head_ has
// passed h) and leaves tag and word alone; a push at t claims it once head_ + one_lap > t, judged
// first from head_seen (head_ as a producer last read it, kept on the producers' line) and only
// when that says full from head_ itself; a push that finds fewer free positions than the busy
// back-off pauses that long first, so that producers streaming into a nearly full ring read the
// consumers' line once per batch, not once per element; and a pop that finishes a cache line
// on a streaming ring stores to a slot's touch word two lines behind, which nobody reads
// (touch_line: it makes the next lap's producer fetch that line rather than upgrade a shared one).
// Blocking ops run detail::wait_loop (a pause, yields, then sleep on the side's sleep word);
// every success wakes the other side's sleepers, with a system call only if one announced itself.
#ifndef LFKIT_MPMC_QUEUE_HPP
#define LFKIT_MPMC_QUEUE_HPP

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/platform.hpp"
#include "lfkit/detail/queue_api.hpp"
#include "lfkit/detail/sleep_word.hpp"
#include "lfkit/detail/wait_loop.hpp"

namespace lfkit {

namespace detail {
/// The queue's tuning constants (not public API; tests name them to straddle thresholds). Each
/// is explained once, here; the measurements are in bench/README.md, "Queue tuning".
struct queue_tuning {
  /// Rings of at least this many slots are *streaming*: there a try_ op whose slot is not ready
  /// gives its verdict without looking again. On smaller rings both sides stay within a few
  /// slots of each other, and looking pays. Only streaming rings touch lines (touch_line).
  static constexpr std::uint64_t streaming_ring_min = 64;
  /// Looks at a slot that is not ready, one pause hint apart (~0.2 us here).
  static constexpr unsigned looks = 8;
  /// Busy-slot re-tries of a try_ op before it fails, each after a back-off.
  static constexpr unsigned busy_retries = 2;
  /// Word mode: a pop that finishes a cache line stores to the line this many lines behind it
  /// (touch_line): far enough that a concurrent pop has left it.
  static constexpr std::uint64_t touch_lines = 2;
  /// The busy back-off is capacity / busy_backoff_divisor pause hints, clamped to
  /// [1, max_busy_backoff]: long enough for the other side of a stream to get a line or more
  /// ahead. A word-mode push that finds fewer free positions than that waits it once, so on a
  /// nearly full ring the producers read the consumers' line about once per batch.
  static constexpr unsigned max_busy_backoff = 64;
  static constexpr unsigned busy_backoff_divisor = 2;
  /// Then sched_yield()s, each followed by a re-try: a holder still busy after the back-offs is
  /// descheduled, and a yield gives it the CPU back (never reached without oversubscription).
  static constexpr unsigned busy_yields = 8;
  /// A push or pop that lost its claim CAS (another thread of its side claimed first) pauses
  /// before it competes again: claim_backoff_min pause hints, doubling with each loss in the
  /// call, at most claim_backoff_max. The winner then runs through a line of slots alone
  /// instead of that side's threads taking turns at every slot, each turn a line transfer.
  /// (Bulk runs claim without it: not measured.)
  static constexpr unsigned claim_backoff_min = 4;
  static constexpr unsigned claim_backoff_max = 64;
  /// The most pause hints a failing try_ op spends (the preface's figure): up to `looks` on each
  /// of its busy_retries + busy_yields + 1 attempts, and the back-offs. Each of its busy_yields
  /// sched_yield()s comes between two attempts.
  static constexpr unsigned max_failing_pauses =
      (busy_retries + busy_yields + 1) * looks + busy_retries * max_busy_backoff;
  static_assert(max_failing_pauses == 216, "update the figure in the preface and README.md");
};
}  // namespace detail

/// Bounded MPMC FIFO queue with exact capacity (see the preface; the shared operations are
/// documented in detail::queue_api). `Atom` is the atomic policy: std::atomic, or the stress
/// tests' perturbed_atomic, or the model checker's; only its member functions and
/// lfkit::atomic_hooks<Atom> are used.
template <class T, template <class> class Atom = std::atomic>
class mpmc_queue : public detail::queue_api<mpmc_queue<T, Atom>, T> {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> &&
                    !std::is_array_v<T>,
                "lfkit::mpmc_queue<T>: T must be a non-const, non-volatile, non-array object type");
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "lfkit::mpmc_queue<T>: T's move constructor and destructor must be noexcept: a "
                "throw after a claim would leave a slot that wedges every consumer reaching it. "
                "Wrap the type (e.g. std::unique_ptr<T>) or mark them noexcept.");
  static_assert(Atom<std::uint64_t>::is_always_lock_free &&
                    Atom<std::uint32_t>::is_always_lock_free,
                "lfkit::mpmc_queue: the atomic policy must be lock-free (a lock-based atomic "
                "deadlocks a signal handler that interrupts its own thread inside an operation)");

  using hooks = atomic_hooks<Atom>;
  using tuning = detail::queue_tuning;
  using api = detail::queue_api<mpmc_queue, T>;
  friend api;
  using status = detail::queue_status;

 public:
  /// Whether the queue runs in word mode (see the preface): T trivially copyable, at most 8 bytes
  /// and 8-aligned. Then a pop never holds a slot, and try_push fails only when full or closed.
  static constexpr bool word_mode =
      std::is_trivially_copyable_v<T> && sizeof(T) <= 8 && alignof(T) <= 8;

 private:
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  /// Positions live in 63 bits; with one_lap <= 2^41 they wrap after >= 2^62 operations.
  static constexpr std::size_t max_capacity_limit = std::size_t{1} << 40;

  struct stamped_slot {
    Atom<std::uint64_t> stamp;
    alignas(T) unsigned char storage[sizeof(T)];
    /// The live element (only while the stamp says the slot holds one).
    T* element() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    /// Where an element is to be constructed (no T lives there yet: no launder).
    T* place() noexcept { return reinterpret_cast<T*>(storage); }
  };
  struct word_slot {
    Atom<std::uint32_t> tag;    // lap + 1 (mod 2^32) of the element last published here
    Atom<std::uint32_t> touch;  // written by pops, read by nobody (see touch_line)
    Atom<std::uint64_t> word;   // the element's bytes (its first sizeof(T) bytes)
  };
  using slot = std::conditional_t<word_mode, word_slot, stamped_slot>;
  static_assert(sizeof(Atom<std::uint64_t>) > 8 || sizeof(T) > 8 || alignof(T) > 8 ||
                    sizeof(slot) == 16,
                "a small element's slot must be exactly 16 bytes: the ring's throughput rests on "
                "packed slots (padding each to a line cost ~4x); a model checker's atomics may "
                "be larger");

  /// One side's counter, alone on its line, with that side's blocking loop (stateless). The
  /// producers' line also holds, in word mode, a recent value of head_ (`head_seen`): a producer
  /// reads the consumers' line only when that value says the ring may be full.
  struct alignas(cache_line_size) padded_u64 {
    Atom<std::uint64_t> value{0};
    Atom<std::uint64_t> head_seen{0};
    detail::wait_loop<Atom> wait;
  };
  static_assert(sizeof(padded_u64) == cache_line_size, "one hot counter per line");
  /// One side's sleep word, alone on its line: read by every success of the other side, written
  /// only when this side sleeps.
  using sleep_side = detail::sleep_word<Atom>;
  static_assert(sizeof(sleep_side) == cache_line_size, "one sleep word per line");

 public:
  /// Largest capacity the constructor accepts (also bounded by addressable memory).
  static constexpr std::size_t max_capacity() noexcept {
    constexpr std::size_t by_memory =
        static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(slot);
    return by_memory < max_capacity_limit ? by_memory : max_capacity_limit;
  }

  /// A queue holding at most `capacity` elements. Throws std::invalid_argument naming the value if
  /// `capacity` is 0 or above max_capacity(), std::bad_alloc if the slots cannot be allocated.
  ///
  ///   lfkit::mpmc_queue<std::string> q(3);   // q.capacity() == 3
  explicit mpmc_queue(std::size_t capacity)
      : cap_(api::checked_capacity("lfkit::mpmc_queue", capacity)),
        one_lap_(std::bit_ceil(static_cast<std::uint64_t>(capacity) + 1)),
        index_mask_(one_lap_ - 1),
        lap_shift_(static_cast<unsigned>(std::countr_zero(one_lap_))) {
    slots_ = static_cast<slot*>(::operator new(cap_ * sizeof(slot), std::align_val_t{slot_align}));
    for (std::uint64_t i = 0; i < cap_; ++i) {
      slot& s = *::new (static_cast<void*>(&slots_[i])) slot;
      // relaxed (all stores here): published by the constructor's completion.
      if constexpr (word_mode) {
        s.tag.store(0, std::memory_order_relaxed);  // lap -1's tag: nothing published yet
        s.touch.store(0, std::memory_order_relaxed);
        s.word.store(0, std::memory_order_relaxed);
      } else {
        s.stamp.store(i, std::memory_order_relaxed);  // free for position i of lap 0
      }
    }
    hooks::prepare_heavy_fence();
  }

  mpmc_queue(const mpmc_queue&) = delete;
  mpmc_queue& operator=(const mpmc_queue&) = delete;

  /// Destroys the elements still inside and frees the slots. Every operation must have returned.
  ~mpmc_queue() {
    // relaxed (all loads here): no concurrent operation; the caller's synchronisation orders them.
    std::uint64_t pos = head_.value.load(std::memory_order_relaxed);
    const std::uint64_t end = tail_.value.load(std::memory_order_relaxed) & ~closed_bit;
    if constexpr (!word_mode) {  // a word-mode element is trivially destructible
      for (; pos != end; pos = advance(pos)) {
        slot& s = slot_at(pos);
        if (s.stamp.load(std::memory_order_relaxed) == pos + 1) std::destroy_at(s.element());
      }
    }
    for (std::size_t i = 0; i < cap_; ++i) std::destroy_at(&slots_[i]);
    ::operator delete(slots_, std::align_val_t{slot_align});
  }

  /// The capacity given to the constructor. Wait-free, async-signal-safe.
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  // ---- closing and observing -------------------------------------------------------------------

  /// Closes the queue: later pushes fail, pops drain what is left, every sleeper is woken.
  /// Idempotent. Pushes that claimed a slot before the close still complete. Lock-free plus one
  /// wake per side; async-signal-safe (see (*) in the preface).
  ///
  ///   q.close();  for (auto& t : workers) t.join();
  void close() noexcept {
    // release (C): pairs with is_closed()'s acquire, and reaches a sleeper through the release
    // epoch bump of force_wake() below: a sleeper whose announce() reads that bump acquires the
    // mark (sleep_word S2); one that announced earlier has its wait broken by the bump.
    tail_.value.fetch_or(closed_bit, std::memory_order_release);
    not_empty_.force_wake();
    not_full_.force_wake();
  }

  /// Whether close() has been called. Wait-free, async-signal-safe.
  [[nodiscard]] bool is_closed() const noexcept {
    // acquire: pairs with close()'s RMW, so a thread that sees the mark sees what preceded close.
    return (tail_.value.load(std::memory_order_acquire) & closed_bit) != 0;  // acquire: (C)
  }

  /// Whether the queue is closed and every element pushed has been popped (claimed by a pop), so
  /// no pop can ever succeed again. Exact, unlike `!try_pop(x) && is_closed()`: a push that
  /// claimed before close() but has not yet published keeps it false. Wait-free,
  /// async-signal-safe.
  ///
  ///   while (!q.drained()) if (!q.try_pop(v)) do_other_work(); else use(v);
  [[nodiscard]] bool drained() const noexcept {
    // acquire (both): pairs with (C) and the pops' CASes. Once closed, tail_ never moves; head_
    // reaching it means each claimed position was popped (a pop claims only a published slot).
    // Stale values can only make the answer a late false, never a wrong true.
    const std::uint64_t tail = tail_.value.load(std::memory_order_acquire);
    return (tail & closed_bit) != 0 &&
           head_.value.load(std::memory_order_acquire) == (tail & ~closed_bit);
  }

  /// Number of elements, approximately: exact when no operation runs concurrently, otherwise a
  /// value in [0, capacity()] the queue held recently (claimed slots count). Wait-free,
  /// async-signal-safe.
  [[nodiscard]] std::size_t size_approx() const noexcept {
    // acquire: pairs with the pops' CASes; head first, so that the tail read (relaxed: only a
    // statistic, ordered after this load) is not older than it.
    const std::uint64_t h = head_.value.load(std::memory_order_acquire);
    const std::uint64_t t = tail_.value.load(std::memory_order_relaxed) & ~closed_bit;
    if (t <= h) return 0;
    const std::uint64_t n =
        ((t >> lap_shift_) - (h >> lap_shift_)) * cap_ + (t & index_mask_) - (h & index_mask_);
    return n > cap_ ? cap_ : static_cast<std::size_t>(n);
  }

 private:
  static constexpr std::size_t slot_align = alignof(slot) > cache_line_size ? alignof(slot)
                                                                            : cache_line_size;

  slot& slot_at(std::uint64_t pos) const noexcept { return slots_[pos & index_mask_]; }

  /// Word mode: the tag that says `pos`'s element is published (its lap + 1, mod 2^32).
  std::uint32_t published_tag(std::uint64_t pos) const noexcept {
    return static_cast<std::uint32_t>((pos >> lap_shift_) + 1);
  }
  /// Stamp mode: a waiter's `ready()` hint that the stamp of `s` is `value`.
  template <class Slot>  // a template: an explicit instantiation in word mode skips it
  static auto stamp_is(Slot& s, std::uint64_t value) noexcept {
    // relaxed: a hint; the caller re-reads the stamp (acquire) before it uses the slot.
    return [&s, value]() noexcept { return s.stamp.load(std::memory_order_relaxed) == value; };
  }

  /// The busy back-off in pause hints: capacity / busy_backoff_divisor, clamped to
  /// [1, max_busy_backoff].
  unsigned busy_backoff() const noexcept {
    const std::uint64_t n = cap_ / tuning::busy_backoff_divisor;
    return n < 1                          ? 1u
           : n > tuning::max_busy_backoff ? tuning::max_busy_backoff
                                          : static_cast<unsigned>(n);
  }

  /// The position after `pos`: next index in the same lap, or index 0 of the next lap.
  std::uint64_t advance(std::uint64_t pos) const noexcept {
    const std::uint64_t index = pos & index_mask_;
    return index + 1 < cap_ ? pos + 1 : (pos & ~index_mask_) + one_lap_;
  }

  // ---- the waiting policy ----------------------------------------------------------------------

  /// What one call does when the slot at its position is not ready (see queue_tuning):
  ///  * look: re-read the stamp (word mode: tag, or head_) a few times, one pause apart, and go
  ///    on once it is ready. Blocking ops and every op on a small ring look before the
  ///    full/empty verdict (a blocking op that saw "full" would yield or sleep). A try_ op on a
  ///    streaming ring looks only when a pop finds its producer alone in flight (a handoff to a
  ///    waiting consumer); otherwise it gives its verdict at once — one that waited for each
  ///    slot stayed one slot behind the other side.
  ///  * back off: a try_ op whose slot is busy pauses (back_off()) and re-tries, at most
  ///    busy_retries times, then yields and re-tries, at most busy_yields times, then fails; the
  ///    pause lets the other side of a stream get ahead, after which both run through whole
  ///    lines; the yield lets a descheduled holder finish. A blocking op gives the attempt up at
  ///    once and lets detail::wait_loop spin, yield or sleep.
  class waiter {
   public:
    waiter(const mpmc_queue& q, detail::wait_kind k) noexcept
        : q_(q),
          blocking_(k == detail::wait_kind::blocking),
          streaming_(!blocking_ && q.cap_ >= tuning::streaming_ring_min) {}

    /// Before the verdict: whether the slot became ready (`ready()`, a relaxed hint: the caller
    /// re-reads it with the order it needs) while looking (not for streaming try_ ops).
    template <class Ready>
    bool look_first(Ready&& ready) const noexcept {
      return !streaming_ && look_until(ready);
    }
    /// Word mode, a push that found the ring full: whether a pop moved head_ away from `head`
    /// while looking (the same rule as look_first).
    bool look_first_head(std::uint64_t head) const noexcept {
      // relaxed: a hint; the caller re-reads head_ (seq_cst) before its verdict.
      return !streaming_ &&
             look_until([&] { return q_.head_.value.load(std::memory_order_relaxed) != head; });
    }
    /// Word mode, a push that found fewer than a back-off's worth of free positions: back off, so
    /// that the consumers get a batch ahead; true if it did (the caller re-reads head_).
    bool wait_for_batch(std::uint64_t free) const noexcept {
      if (free >= q_.busy_backoff()) return false;
      back_off();
      return true;
    }
    /// Pop only, slot busy: if the producer is alone in flight (`lone`), a streaming try_ op looks
    /// for the element (`ready()`, as in look_first); if producers moved on meanwhile, it backs
    /// off first (trailing a stream).
    template <class Ready>
    bool await_handoff(Ready&& ready, std::uint64_t tail, bool lone) noexcept {
      if (!streaming_ || !lone || !look_until(ready)) return false;
      // relaxed: only decides whether to back off.
      if ((q_.tail_.value.load(std::memory_order_relaxed) & ~closed_bit) != tail) back_off();
      return true;
    }
    /// The claim CAS lost to another thread of this side: pause (see queue_tuning) before the
    /// re-try.
    void claim_lost() noexcept {
      detail::pause_n<Atom>(claim_pause_);
      if (claim_pause_ < tuning::claim_backoff_max) claim_pause_ *= 2;
    }
    /// Slot busy: back off (pauses, then yields) and return true to re-try, or false to give up.
    bool retry_busy() noexcept {
      if (blocking_ || retries_ == tuning::busy_retries + tuning::busy_yields) return false;
      if (retries_++ < tuning::busy_retries) {
        back_off();
      } else {
        hooks::yield();
      }
      return true;
    }

   private:
    template <class Ready>
    static bool look_until(Ready&& ready) noexcept {
      for (unsigned i = 0; i < tuning::looks; ++i) {
        hooks::pause();
        if (ready()) return true;
      }
      return false;
    }
    void back_off() const noexcept { detail::pause_n<Atom>(q_.busy_backoff()); }

    const mpmc_queue& q_;
    const bool blocking_;
    const bool streaming_;
    unsigned retries_ = 0;
    unsigned claim_pause_ = tuning::claim_backoff_min;
  };

  // ---- the core: one push / one pop, read top to bottom ---------------------------------------

  template <class Source>
  status push_once(Source& src, waiter& w) noexcept {
    if constexpr (word_mode) {
      return push_word(src, w);
    } else {
      return push_stamped(src, w);
    }
  }

  template <class Source>
  status push_stamped(Source& src, waiter& w) noexcept {
    // Orders (pop_stamped mirrors them). The CAS succeeds seq_cst and the other side's counter is
    // read seq_cst: a full/empty verdict is linearizable at that load, by the single total order
    // of these (plain loads and locked CASes on x86). This side's own counter is only a starting
    // guess (a stale value fails its stamp check or CAS): its loads and the CAS failure order
    // are acquire (pair with the seq_cst CAS that wrote the value, which therefore precedes the
    // verdict's load in the total order).
    std::uint64_t tail = tail_.value.load(std::memory_order_acquire);
    for (;;) {
      slot& s = slot_at(tail);
      // acquire: pairs with the release store of the consumer that emptied this slot a lap ago.
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == tail) {  // free for `tail` (never once closed: stamps stay below bit 63)
        if (tail_.value.compare_exchange_weak(tail, advance(tail), std::memory_order_seq_cst,
                                              std::memory_order_acquire)) {
          src.build(s.place());
          // release: publishes the element to the consumer of `tail` (its acquire stamp load).
          s.stamp.store(tail + 1, std::memory_order_release);
          return status::ok;
        }
        w.claim_lost();
      } else if (stamp < tail) {  // last lap's element is here, or being popped
        if (tail & closed_bit) return status::closed;
        if (w.look_first(stamp_is(s, tail))) continue;
        if (head_.value.load(std::memory_order_seq_cst) == tail - one_lap_)
          return status::unavailable;
        if (!w.retry_busy()) return status::busy;  // its consumer has not released it yet
        tail = tail_.value.load(std::memory_order_acquire);
      } else {
        tail = tail_.value.load(std::memory_order_acquire);  // stale tail
      }
    }
  }

  /// Word mode: pops never write a slot's tag or word, so position `tail` is free once head_ has
  /// passed the position a lap before it (tail - one_lap_). The producers' line keeps a recent
  /// head_ (head_seen); only when it says "maybe full" does a push read the consumers' line.
  template <class Source>
  status push_word(Source& src, waiter& w) noexcept {
    // Orders. tail_ loads and CAS, and the verdict's head_ load: as in push_stamped (the full
    // verdict is linearizable at that seq_cst load: the tail read before it is a lower bound).
    // (W1) head_seen: stored release after the head_ load that read the value, loaded acquire:
    //      a push that uses it happens after the pops that moved head_ past it (their claim CASes
    //      are in head_'s release sequence), so after their reads of the words it overwrites.
    // (W2) the word: stored relaxed, published by the tag's release store below (pairs with
    //      pop_word's acquire load of the tag).
    std::uint64_t tail = tail_.value.load(std::memory_order_acquire);
    std::uint64_t free_below =
        tail_.head_seen.load(std::memory_order_acquire) + one_lap_;  // acquire: (W1)
    for (;;) {
      if (tail >= free_below) {  // perhaps full; also every closed tail (bit 63)
        if (tail & closed_bit) return status::closed;
        std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
        if (head + one_lap_ <= tail) {
          if (w.look_first_head(head)) continue;
          return status::unavailable;
        }
        if (w.wait_for_batch(head + one_lap_ - tail))
          head = head_.value.load(std::memory_order_seq_cst);
        tail_.head_seen.store(head, std::memory_order_release);  // release: (W1)
        free_below = head + one_lap_;
      }
      if (tail_.value.compare_exchange_weak(tail, advance(tail), std::memory_order_seq_cst,
                                            std::memory_order_acquire)) {
        break;
      }
      w.claim_lost();
    }
    publish_word(slot_at(tail), tail, [&](T* p) noexcept { src.build(p); });
    return status::ok;
  }

  /// Word mode: builds the element (`build(T*)`, noexcept) and publishes it at `pos` (W2); for
  /// push_word and push_run.
  template <class Build>
  void publish_word(slot& s, std::uint64_t pos, Build&& build) noexcept {
    alignas(T) unsigned char bytes[sizeof(T)];
    build(reinterpret_cast<T*>(bytes));
    s.word.store(to_word(bytes), std::memory_order_relaxed);  // relaxed: (W2)
    // release (W2): publishes the word to the consumer of `pos` (its acquire tag load).
    s.tag.store(published_tag(pos), std::memory_order_release);
  }

  /// An element's bytes as a word (trailing bytes zero), and back (T is trivially copyable: the
  /// copy creates the object).
  template <class U = T>  // a template: an explicit instantiation for a larger T skips it
  static std::uint64_t to_word(const unsigned char* bytes) noexcept {
    std::uint64_t word = 0;
    static_assert(sizeof(U) <= sizeof(word));
    std::memcpy(&word, bytes, sizeof(U));
    return word;
  }
  template <class Deliver>
  static void deliver_word(Deliver& deliver, std::uint64_t word) noexcept {
    alignas(T) unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &word, sizeof(T));
    deliver(std::move(*std::launder(reinterpret_cast<T*>(bytes))));
  }

  template <class Deliver>
  status pop_once(Deliver& deliver, waiter& w) noexcept {
    if constexpr (word_mode) {
      return pop_word(deliver, w);
    } else {
      return pop_stamped(deliver, w);
    }
  }

  template <class Deliver>
  status pop_stamped(Deliver& deliver, waiter& w) noexcept {
    // Orders: as in push_stamped.
    std::uint64_t head = head_.value.load(std::memory_order_acquire);
    for (;;) {
      slot& s = slot_at(head);
      // acquire: pairs with the producer's release store of head + 1, so the element is visible.
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == head + 1) {
        if (head_.value.compare_exchange_weak(head, advance(head), std::memory_order_seq_cst,
                                              std::memory_order_acquire)) {
          T* e = s.element();
          deliver(std::move(*e));
          std::destroy_at(e);
          // release: hands the emptied slot to the producer one lap later (its acquire load).
          s.stamp.store(head + one_lap_, std::memory_order_release);
          return status::ok;
        }
        w.claim_lost();
      } else if (stamp <= head) {  // nothing published at `head` yet
        const status v = unpublished(head, stamp_is(s, head + 1), w);
        if (v != status::ok) return v;
      } else {
        head = head_.value.load(std::memory_order_acquire);  // stale head
      }
    }
  }

  /// Word mode: the pop reads the tag and the word, then claims. It writes nothing the queue
  /// reads: only, once per cache line, the slot's `touch` (see below).
  template <class Deliver>
  status pop_word(Deliver& deliver, waiter& w) noexcept {
    // Orders: head_ and tail_ as in push_stamped, and
    // (W3) the word: read relaxed before the claim. The producer of the slot's next lap writes
    //      it only after head_ has passed `head` (W1), which fails this CAS; so a successful
    //      CAS means the word read is the one published at `head`.
    // (W4) the tag: read after the acquire load of head_ that returned `head`, so not older than
    //      the last lap's tag here (that lap's pop read it, acquire, before its claim CAS, which
    //      is in head_'s release sequence). So it is the last lap's (nothing published yet), this
    //      lap's, or with a stale `head` a later lap's. A later one equal to one of the first two
    //      (mod 2^32; only after 2^32 laps within this call) fails the CAS, or at worst makes
    //      this call take the busy path: a spurious `busy`, never a wrong element.
    std::uint64_t head = head_.value.load(std::memory_order_acquire);
    for (;;) {
      slot& s = slot_at(head);
      const std::uint32_t published = published_tag(head);
      // acquire (W2): pairs with the producer's release store of the tag: the word is visible.
      const std::uint32_t tag = s.tag.load(std::memory_order_acquire);
      if (tag == published) {
        const std::uint64_t word = s.word.load(std::memory_order_relaxed);  // relaxed: (W3)
        if (head_.value.compare_exchange_weak(head, advance(head), std::memory_order_seq_cst,
                                              std::memory_order_acquire)) {
          deliver_word(deliver, word);
          touch_line(head);
          return status::ok;
        }
        w.claim_lost();
      } else if (tag == published - 1) {  // the last lap's tag (W4): nothing published yet
        // relaxed: a hint (see waiter).
        auto ready = [&] { return s.tag.load(std::memory_order_relaxed) == published; };
        const status v = unpublished(head, ready, w);
        if (v != status::ok) return v;
      } else {
        head = head_.value.load(std::memory_order_acquire);  // stale head
      }
    }
  }

  /// Word mode, after a pop claimed `pos`: if that was the last slot of a cache line, store to
  /// the `touch` of a slot touch_lines lines behind (wrapping). Nobody reads it: the store only
  /// takes that line exclusive, so that the producer of the next lap fetches a line this CPU
  /// modified instead of upgrading one it shares with the readers (on the reference guest the
  /// upgrade was much the slower: queue_burst's fill, bench/README.md "Queue tuning"). Not the
  /// line just finished: a concurrent pop may still be reading that one. Only streaming rings
  /// (tuning::streaming_ring_min) touch: on a smaller ring the line two behind the consumers is
  /// the one the producers are writing whenever the ring is nearly full, and the store takes it
  /// from them (bench/README.md, the touch row).
  template <class Slot = slot>  // a template: an explicit instantiation in stamp mode skips it
  void touch_line(std::uint64_t pos) noexcept {
    const std::uint64_t index = pos & index_mask_;
    if (index % slots_per_line != slots_per_line - 1 || cap_ < tuning::streaming_ring_min) return;
    const std::uint64_t behind =
        index >= touch_distance ? index - touch_distance : index + cap_ - touch_distance;
    // relaxed: pairs with nothing (touch is never loaded).
    static_cast<Slot*>(slots_)[behind].touch.store(static_cast<std::uint32_t>(pos),
                                                   std::memory_order_relaxed);
  }
  /// Slots per hardware cache line (64 bytes on x86-64 and most ARM; the slots start on a line),
  /// and how many slots behind a finished line touch_line() stores.
  static constexpr std::uint64_t slots_per_line = sizeof(slot) < 64 ? 64 / sizeof(slot) : 1;
  static constexpr std::uint64_t touch_distance = tuning::touch_lines * slots_per_line;
  static_assert(tuning::streaming_ring_min >= touch_distance + slots_per_line,
                "a touching ring must have a line beyond the touched one and the current one");

  /// A pop that found nothing published at `head` (`ready()`: whether it is now, a hint): looks,
  /// then gives the empty/closed verdict at its tail_ load, or waits on a busy slot. Returns ok
  /// to go on (with `head` re-read after a back-off), else the call's status.
  template <class Ready>
  status unpublished(std::uint64_t& head, Ready&& ready, waiter& w) noexcept {
    if (w.look_first(ready)) return status::ok;
    // seq_cst: the empty verdict is linearizable at this load (see push_stamped's Orders).
    const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
    const std::uint64_t claimed = tail & ~closed_bit;
    if (claimed == head) return (tail & closed_bit) ? status::closed : status::unavailable;
    // Busy: the producer of `head` claimed it and has not published yet.
    if (w.await_handoff(ready, claimed, claimed == advance(head))) return status::ok;
    if (!w.retry_busy()) return status::busy;
    // acquire: a starting guess, as in push_stamped; pop_word's (W4) rests on it.
    head = head_.value.load(std::memory_order_acquire);
    return status::ok;
  }

  // ---- queue_api's primitives ----------------------------------------------------------------

  template <class Source>
  status push_attempt(Source& src, detail::wait_kind k) noexcept {
    waiter w(*this, k);
    return push_once(src, w);
  }
  template <class Deliver>
  status pop_attempt(Deliver& deliver, detail::wait_kind k) noexcept {
    waiter w(*this, k);
    return pop_once(deliver, w);
  }
  detail::wait_side<Atom> push_side() noexcept { return {tail_.wait, not_full_}; }
  detail::wait_side<Atom> pop_side() noexcept { return {head_.wait, not_empty_}; }
  static constexpr bool claims_runs = true;  // push_run / pop_run below

  // ---- bulk ------------------------------------------------------------------------------------

  /// Claims runs of ready positions from `counter` with one CAS each, and hands each position of
  /// a run to `take(slot&, pos, i)` (i: its index in the run). `ready(pos, k)` says whether the
  /// k-th position of a run is ready (k == 0 starts a run); a ready position stays ready until the
  /// counter passes it, so a CAS from `from` to `end` makes the whole run ours. When not even one
  /// is ready, `one()` (a single try_ op, with its waiter) decides: full/empty/busy/closed, or one
  /// element moved.
  template <class Ready, class Take, class One>
  std::size_t bulk(padded_u64& counter, std::size_t n, Ready&& ready, Take&& take, One&& one,
                   sleep_side& wake) noexcept {
    std::size_t done = 0;
    std::uint64_t from = counter.value.load(std::memory_order_acquire);  // acquire: as push_stamped
    while (done < n && !(from & closed_bit)) {
      std::uint64_t end = from;
      std::size_t k = 0;
      for (; done + k < n && ready(end, k); ++k) end = advance(end);
      if (k == 0) {
        if (!one()) break;
        ++done;
        from = counter.value.load(std::memory_order_acquire);  // acquire: as push_stamped
      } else if (counter.value.compare_exchange_weak(
                     from, end, std::memory_order_seq_cst,
                     std::memory_order_acquire)) {  // as push_stamped
        std::size_t i = 0;
        for (std::uint64_t pos = from; pos != end; pos = advance(pos)) take(slot_at(pos), pos, i++);
        done += k;
        wake.notify();
        from = end;  // a guess; the next round's checks or CAS correct it
      }
    }
    return done;
  }

  /// Stamp-mode readiness: the slot's stamp is pos + `offset` (0: free for the push of pos, 1:
  /// holds pos's element).
  template <class Slot = slot>  // a template: an explicit instantiation in word mode skips it
  auto stamp_ready(std::uint64_t offset) noexcept {
    return [this, offset](std::uint64_t pos, std::size_t) noexcept {
      Slot& s = slot_at(pos);
      // acquire: as in push_stamped / pop_stamped, for every slot of the run.
      return s.stamp.load(std::memory_order_acquire) == pos + offset;
    };
  }

  template <class InputIt>
  std::size_t push_run(InputIt& first, std::size_t n) noexcept {
    auto one = [&]() noexcept { return this->try_emplace(*first) && (++first, true); };
    if constexpr (word_mode) {
      std::uint64_t free_below = 0;
      auto ready = [&](std::uint64_t pos, std::size_t k) noexcept {
        // acquire: (W1) of push_word; only the value head_seen already says (one() refreshes it).
        if (k == 0) free_below = tail_.head_seen.load(std::memory_order_acquire) + one_lap_;
        return pos < free_below;
      };
      auto take = [&](slot& s, std::uint64_t pos, std::size_t) noexcept {
        publish_word(s, pos, [&](T* p) noexcept { ::new (static_cast<void*>(p)) T(*first); });
        ++first;
      };
      return bulk(tail_, n, ready, take, one, not_empty_);
    } else {
      auto take = [&](slot& s, std::uint64_t pos, std::size_t) noexcept {
        ::new (static_cast<void*>(s.place())) T(*first);
        ++first;
        s.stamp.store(pos + 1, std::memory_order_release);  // release: as push_stamped
      };
      return bulk(tail_, n, stamp_ready(0), take, one, not_empty_);
    }
  }

  template <class OutputIt>
  std::size_t pop_run(OutputIt& out, std::size_t n) noexcept {
    auto deliver = [&](T&& v) noexcept { *out = std::move(v); };
    auto one = [&]() noexcept { return this->pop_now(deliver) && (++out, true); };
    if constexpr (word_mode) {
      // The words of a run are read before its claim (as in pop_word, W3), so a run is at most
      // as long as this buffer.
      std::uint64_t words[word_run_max];
      auto ready = [&](std::uint64_t pos, std::size_t k) noexcept {
        if (k == word_run_max) return false;
        slot& s = slot_at(pos);
        // acquire: (W2). (W4) position by position: a tag that is not yet this lap's ends the
        // run; one that matches by a later lap exists only once head_ has passed `from`, which
        // fails the run's claim CAS.
        if (s.tag.load(std::memory_order_acquire) != published_tag(pos)) return false;
        words[k] = s.word.load(std::memory_order_relaxed);  // relaxed: (W3)
        return true;
      };
      auto take = [&](slot&, std::uint64_t pos, std::size_t i) noexcept {
        deliver_word(deliver, words[i]);
        ++out;
        touch_line(pos);
      };
      return bulk(head_, n, ready, take, one, not_full_);
    } else {
      auto take = [&](slot& s, std::uint64_t pos, std::size_t) noexcept {
        T* e = s.element();
        deliver(std::move(*e));
        ++out;
        std::destroy_at(e);
        s.stamp.store(pos + one_lap_, std::memory_order_release);  // release: as pop_stamped
      };
      return bulk(head_, n, stamp_ready(1), take, one, not_full_);
    }
  }
  /// Word mode: the longest run one bulk pop claims with one CAS (its words are read first).
  static constexpr std::size_t word_run_max = 32;

  // ---- data ------------------------------------------------------------------------------------
  // Read-only after construction, shared by every thread: may share a line.
  slot* slots_ = nullptr;
  const std::uint64_t cap_;
  const std::uint64_t one_lap_;
  const std::uint64_t index_mask_;
  const unsigned lap_shift_;  // log2(one_lap_): a position's lap is pos >> lap_shift_
  padded_u64 tail_;           // next position to push to; bit 63: closed
  padded_u64 head_;           // next position to pop from
  sleep_side not_empty_;      // consumers sleep here
  sleep_side not_full_;       // producers sleep here
};

}  // namespace lfkit

#endif  // LFKIT_MPMC_QUEUE_HPP
