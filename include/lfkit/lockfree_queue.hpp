// SPDX-License-Identifier: BSL-1.0
// lfkit/lockfree_queue.hpp — a bounded MPMC FIFO queue that is lock-free in the strict sense: no
// thread stopped in the middle of an operation can hold up any other. Non-blocking, blocking,
// timed, bulk and closable operations, exact capacity.
//
// Part of lfkit (header-only, C++20). Standard library and lfkit/detail/{atomic_hooks,deadline,
// platform,sleep_word}.hpp; on Linux the blocking and timed operations sleep in futex(2) (through
// lfkit::atomic_hooks; LFKIT_PORTABLE_WAIT forces the portable Atom::wait/notify_all path).
//
//   lfkit::lockfree_queue<int> q(1000);      // holds at most 1000 ints, exactly
//   q.try_push(1);                           // true: there was room
//   int x;
//   q.try_pop(x);                            // true, x == 1
//   std::thread worker([&] { int v; while (q.pop(v)) use(v); });   // sleeps while empty
//   q.push(2);                               // sleeps while full; false once closed
//   q.close();                               // worker drains what is left, then pop() == false
//   worker.join();
//
// ---------------------------------------------------------------------------------------------
// Which queue (see also README.md)
// ---------------------------------------------------------------------------------------------
// lfkit::mpmc_queue is a Vyukov/crossbeam ticket ring: fastest, 16 bytes per small slot, but a
// thread stopped between claiming a slot and publishing it holds up that slot's other side (try_
// ops there fail after a bounded wait). lockfree_queue never waits for another thread: a stopped
// thread holds at most one free index (the capacity others see shrinks by one while it is stopped)
// and nothing else. It costs ~32 more bytes per slot and two rings' worth of atomic steps.
//
// ---------------------------------------------------------------------------------------------
// Semantics
// ---------------------------------------------------------------------------------------------
// * FIFO, linearizable. A push takes an index i from the *free* ring, constructs the element in
//   data slot i, then enqueues i into the *allocated* ring; it takes effect when that enqueue's
//   entry CAS succeeds. A pop dequeues an index from the allocated ring (taking effect there),
//   moves the element out of slot i, and returns i to the free ring. Elements from one producer
//   come out in the order it pushed them, whoever pops them.
// * Capacity is exact for any value: the free ring is seeded with exactly `capacity` indices and
//   the data array has `capacity` slots; the rings' arithmetic uses n = bit_ceil(capacity).
// * try_pop() returns false only if the queue was empty at some instant during the call: either
//   it saw tail <= head of the allocated ring (exact), or it exhausted the ring's threshold (see
//   "Progress"), which by SCQ's threshold argument (Nikolaev, DISC 2019) can happen only
//   when every element of a completed push has been claimed by some pop. A push still in
//   progress may be ordered after the failure (it has not returned yet).
// * try_push() returns false only if the queue is closed or all `capacity` indices are taken:
//   by elements in the queue, or by pushes and pops in progress (a pop returns its index a few of
//   its own steps after taking the element; a push holds one from its first step). So while a
//   thread is stopped inside an operation the capacity the others see is smaller by one. That is
//   the price of never waiting: the stopped thread's index is simply not available; nothing else
//   is held up.
// * close(): afterwards every push fails (returns false, its argument holding its value: an
//   element already moved into its slot is moved back), pops drain the remaining elements and then
//   return false; every sleeper is woken. Irreversible. A push whose allocated-ring ticket was
//   taken before close() may still complete. A pop on a closed queue ignores the threshold and
//   reports "closed and drained" only once every ticket taken before the close has been handed
//   to a dequeuer (itself or another): that push's ticket is then invalidated (the push abandons
//   and returns false) or its index is popped, so a blocking pop that returned false never
//   strands an element.
//
// ---------------------------------------------------------------------------------------------
// Guarantees per operation
// ---------------------------------------------------------------------------------------------
//   operation                        progress                                 async-signal-safe
//   try_push/try_emplace/try_pop,    lock-free: completes in a bounded number  yes (*)
//   try_push_n/try_pop_n (per        of its own steps unless other operations
//   element)                         keep succeeding; never waits for another
//                                    thread to finish anything
//   push/pop                         blocking: one pause, a few yields, then   no
//                                    sleeps (futex)
//                                    until possible or closed
//   try_push_for/_until,             blocking until the deadline               no
//   try_pop_for/_until
//   close                            lock-free (one RMW, two CAS loops) plus   yes (*)
//                                    two wakes
//   is_closed, size_approx,          wait-free                                 yes
//   capacity, memory_footprint
//   constructor / destructor         allocate / free                           no
// (*) provided the T constructor/assignment/destructor the call uses is, and
//     atomic_hooks<Atom>::wake_is_signal_safe (futex on Linux: one raw system call, errno kept; a
//     successful operation makes it only when the other side's "someone asleep" bit is set).
//     A handler that interrupted its own thread at any step inside a push or pop may use the
//     queue: nothing it needs is held by the interrupted operation (tested at every atomic step).
//
// Progress, exactly. A dequeue from a ring (try_pop's first step; try_push's first step on the
// free ring) first reads the ring's threshold and returns "empty" if it is negative. Otherwise
// each round takes a ticket (fetch_add on head) and either finds its entry's index (success) or
// (after at most enqueuer_looks looks, if an enqueuer holds that ticket but has not written the
// entry yet) invalidates the entry and decrements the threshold: at most 3n failed rounds after
// the threshold was last reset to 3n - 1 (n = bit_ceil(capacity)), and only a successful enqueue
// resets it. On a closed queue the pop's second look ignores the threshold and stops once tail
// <= head or every ticket below the tail it first read (past every ticket taken before the
// close) has been handed out: its rounds are bounded by those tickets, whatever pushes that fail
// after the close add. An entry CAS fails only because another operation changed that entry. An
// enqueue (a push's last
// step, a pop's return of its index) retries with a new ticket only when a dequeuer invalidated
// its entry or the entry is still occupied from an earlier cycle; once dequeuers stop interfering
// (their threshold ran out) it finds a free entry within n + 1 tickets, since a ring of 2n entries
// holds at most n indices. Reading the data slot after taking an index never waits: the producer
// wrote the element before enqueuing the index (pair 1 below). The threshold is what bounds a
// dequeuer's retries; an "exact" re-check that retried while tail > head would let dequeuers and
// in-flight enqueuers livelock (each invalidating the other's entry). A push or pop that succeeded
// and finds that one or two other operations of its side took a ticket while it ran makes
// contention_backoff (128) pause hints before it returns: a fixed number of its own steps, after
// its effect, so no operation waits for it.
//
// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------
// One allocation per ring of 2n 8-byte entries (n = bit_ceil(capacity)) and one data array of
// `capacity` slots of sizeof(T) (aligned to max(alignof(T), cache line)); the object itself is
// 9 cache lines (1152 bytes: one line of tickets per side, the producers' free head and allocated
// tail, the consumers' allocated head and free tail; each ring's threshold and the two sleep
// words on lines of their own; a read-mostly line per ring and one for the queue). Bytes per
// slot: sizeof(T) + 32 when capacity is a power of two (two rings x 2 entries x 8 bytes), up to
// sizeof(T) + 64 just above one.
// memory_footprint() returns the exact total. (mpmc_queue: 8 + sizeof(T) rounded to alignof(T).)
//
// ---------------------------------------------------------------------------------------------
// Element types
// ---------------------------------------------------------------------------------------------
// T must be nothrow-move-constructible and nothrow-destructible (static_assert). Everything that
// may throw runs before an index is taken (detail/queue_api.hpp: the shared operations,
// documented there); if it throws, the queue is untouched. Move-only and over-aligned types work.
//
// ---------------------------------------------------------------------------------------------
// How it works (an SCQ index ring, written for lfkit)
// ---------------------------------------------------------------------------------------------
// A ring holds indices below n in 2n entries of 64 bits: cycle << (order + 2) | safe << (order + 1)
// | index, with index all ones (⊥) meaning "no index", order = log2(n). Tickets are 63-bit
// counters: entry = ticket mod 2n, cycle = ticket / 2n. head and tail start at 2n (cycle 1); every
// entry starts as {cycle 0, safe, ⊥}; the free ring's first `capacity` entries start as
// {cycle 1, safe, i} with tail = 2n + capacity.
//   enqueue(i): t = fetch_add(tail); if entry e has cycle(e) < cycle(t), index ⊥ and (safe or
//     head <= t), CAS it to {cycle(t), safe, i} and reset the threshold to 3n - 1; otherwise take
//     a new ticket. (The first CAS expects {cycle(t) - 1, safe, ⊥} without loading e first.)
//   dequeue(): if threshold < 0: empty (not when draining a closed ring, see close() above).
//     If tail <= head: empty, without taking a ticket (so consumers spinning on an empty ring
//     only read; the tail is read only when the last tail this side saw is not above head, and
//     in a try_ op only after a few looks at the entry at head: scq_ring::empty_looks).
//     h = fetch_add(head); if cycle(e) == cycle(h): fetch_or ⊥ into the index and return it. If
//     e is empty and tail > h (an enqueuer holds ticket h), look again up to enqueuer_looks
//     times, a pause apart. If cycle(e) < cycle(h), invalidate: an empty entry gets cycle
//     (h) (a late enqueuer with ticket h then fails), an occupied one loses its safe bit (an
//     enqueuer of a later cycle may use it only while head <= its ticket). Then if tail <= h + 1:
//     catch the tail up to h + 1 (so a lagging tail cannot make later enqueuers use tickets that
//     dequeuers already passed), decrement the threshold, empty; else decrement the threshold,
//     empty if it was <= 0 (and not draining), else next ticket.
// The allocated ring's tail carries the closed mark in bit 63: close() sets it with fetch_or, and
// every enqueue ticket taken after that sees it and abandons (the push then returns its index to
// the free ring and its element to the caller).
//
// Ordering pairs (the ring's entry, ticket and threshold accesses are seq_cst unless the site
// says otherwise, with the reason):
//   (1) push: construct the element in slot i, then the allocated-ring entry CAS (seq_cst, a
//       release) -> pop: the fetch_or that consumes that entry (it reads the CAS or a later RMW
//       of its release sequence), then read slot i.
//   (2) pop: move the element out of slot i and destroy it, then the free-ring entry CAS ->
//       push: the fetch_or that consumes that entry, then construct in slot i.
//   (3) close(): fetch_or on the allocated tail -> is_closed()'s acquire load, and every enqueue
//       ticket's fetch_add (an RMW later in the tail's modification order).
//   (4) SCQ's safe bit (the head <= t test): a dequeuer's ticket (fetch_add on head) then its
//       loads of the entry, against the fetch_or that consumes an older cycle's index there,
//       then an enqueuer's CAS failure that reads that consumed, unsafe entry, then its head
//       load. All are seq_cst (the failure too: an acquire one need not follow the consume in
//       the single total order), so either the dequeuer sees the entry
//       consumed (and invalidates it) or sees the enqueuer's index, or the enqueuer sees head
//       past its ticket and takes another. With acquire entry loads the dequeuer could read the
//       entry as still occupied, leave it, and the enqueuer strand its index there (the model's
//       "safe bit" scenario shows it).
//   (S1)/(S2) sleep words: see lfkit/detail/sleep_word.hpp (Dekker with asymmetric fences).
//
// ---------------------------------------------------------------------------------------------
// Design decisions
// ---------------------------------------------------------------------------------------------
// * Indices, not elements, in the rings: a ring of the elements themselves, whose operations pass
//   by a slot a stopped operation holds, was faster in the mixed-role workloads but let passed-by
//   positions count against the capacity (a spurious "full"); bench/README.md, "lockfree_queue:
//   designs measured and not kept", has the figures and what such a ring would need.
// * No index remap (SCQ's optional spreading of consecutive tickets over cache lines): on the
//   reference machine a remapped Vyukov ring ran 0.52-0.80x of itself without (locality wins).
// * The threshold is kept as SCQ has it, not replaced by an "exact" head/tail re-check before
//   every empty verdict: while enqueuers hold tickets they have not yet used, tail > head on an
//   empty ring, and a dequeuer that retried then would keep invalidating their entries (a
//   livelock of failing operations). The read-only tail <= head look is used where it is exact:
//   before taking a ticket (a retry after a failed round does not look again).
// * Contention back-off (lockfree_queue::contention_backoff) after a success that one or two
//   operations of its side interleaved with. Tickets come from fetch_add, so no thread loses a
//   race and retries (mpmc_queue's claim back-off has nothing to hook on); but producers
//   (consumers) taking alternate tickets move every entry and data line once per element, and
//   the pause lets the others run through whole lines: the side takes turns. It comes after the
//   operation took effect; a thread alone on its side (1P1C) never makes it, nor does one in a
//   crowd (more than alternating_max others: threads running in parallel, where a pause only
//   idles a CPU).
// * Cost against mpmc_queue: four RMWs per operation (a ticket and an entry RMW per ring) instead
//   of one CAS, and three streams of shared lines (two rings' entries and the data) instead of
//   one: a fill-then-drain loop on one thread (queue_burst 1P1C) runs ~0.3x mpmc_queue, and
//   streaming workloads less, where the three streams change hands between the two sides (the
//   reference run's "lockfree_queue against mpmc_queue" table in its summary.md, linked from
//   README.md, has every workload). Each of the four is needed: the ticket orders the
//   operation, the entry RMW either publishes an index against racing invalidations or consumes
//   it against a racing safe-bit clear. What it buys is the progress guarantee above.
#ifndef LFKIT_LOCKFREE_QUEUE_HPP
#define LFKIT_LOCKFREE_QUEUE_HPP

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/deadline.hpp"
#include "lfkit/detail/platform.hpp"
#include "lfkit/detail/queue_api.hpp"
#include "lfkit/detail/sleep_word.hpp"
#include "lfkit/detail/wait_loop.hpp"

namespace lfkit {

namespace detail {

/// The ticket words one side of a lockfree_queue (producers or consumers) writes on every
/// operation, on one line: head of the ring it dequeues from (with that ring's tail as last read
/// by this side), tail of the ring it enqueues into. One line per side instead of one per word: a
/// push's two tickets (free head, allocated tail) then take one line transfer, not two.
template <template <class> class Atom>
struct alignas(cache_line_size) scq_side {
  Atom<std::uint64_t> head{0};  // tickets of the ring this side dequeues from
  Atom<std::uint64_t> seen{0};  // that ring's tail as this side last read it (a hint)
  Atom<std::uint64_t> tail{0};  // tickets of the ring this side enqueues into
};
static_assert(sizeof(scq_side<std::atomic>) == cache_line_size,
              "a side's tickets share one line; the other side's are on another");

/// An SCQ ring of indices below n = 2^order in 2n entries (see lockfree_queue.hpp's preface).
/// Not copyable; entries are owned by the ring, head and tail by the two scq_side lines given to
/// the constructor (head and seen on its dequeuers' line, tail on its enqueuers').
template <template <class> class Atom>
class scq_ring {
 public:
  /// Looks (one pause apart, ~0.2 us here in all) a dequeuer gives an empty entry whose ticket an
  /// enqueuer already holds, before invalidating it. Without them a dequeuer one step ahead kept
  /// invalidating the entry the enqueuer was about to fill (each then retries with a new
  /// ticket): measured 2P2C/4P4C try ops on the 2-core machine ~2x faster with 8 looks. A
  /// bounded number of the dequeuer's own steps; a stopped enqueuer costs it ~0.2 us, once.
  static constexpr unsigned enqueuer_looks = 8;
  /// Looks (one pause apart) a try_ op's dequeue gives the entry at head, when it holds no index
  /// yet, before it reads the enqueuers' tail for an empty verdict. A dequeuer polling an empty
  /// ring then waits on the entry line, which the enqueuer writes anyway, instead of pulling the
  /// enqueuers' ticket line away from them on every call: measured on the 2-core machine (A/B,
  /// 9 interleaved repetitions, per-round medians), try ops 1.6-2.6x at capacity 1024 and
  /// 2.4-4.4x at 16 (1P1C/2P2C/4P4C), ping-pong 0.96-1.3x. Not for blocking attempts: their wait
  /// loop goes away instead of polling (1P1C blocking measured 0.64x with the looks).
  static constexpr unsigned empty_looks = 8;
  /// Marks a closed ring in bit 63 of tail (only rings that are closed: the allocated one).
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  /// dequeue()'s "no index".
  static constexpr std::uint64_t none = ~std::uint64_t{0};

  /// A ring of 2^(order+1) entries holding indices 0 .. fill-1 (fill <= 2^order); head and seen
  /// live in `dequeuers`, tail is `tail` (both outlive the ring).
  scq_ring(unsigned order, std::uint64_t fill, scq_side<Atom>& dequeuers, Atom<std::uint64_t>& tail)
      : head_(&dequeuers.head),
        seen_(&dequeuers.seen),
        tail_(&tail),
        order_(order),
        entries_mask_((std::uint64_t{2} << order) - 1),
        bottom_(entries_mask_),
        safe_bit_(std::uint64_t{1} << (order + 1)),
        cycle_shift_(order + 2),
        threshold_reset_(3 * static_cast<std::int64_t>(std::uint64_t{1} << order) - 1) {
    const std::uint64_t entries = entries_mask_ + 1;
    entries_ = static_cast<Atom<std::uint64_t>*>(
        ::operator new(entries * sizeof(Atom<std::uint64_t>), std::align_val_t{cache_line_size}));
    for (std::uint64_t j = 0; j < entries; ++j) {
      const std::uint64_t e = j < fill ? make(1, true, j) : make(0, true, bottom_);
      ::new (static_cast<void*>(&entries_[j])) Atom<std::uint64_t>(e);
    }
    // relaxed: published by the constructor's completion (as every store below).
    head_->store(entries, std::memory_order_relaxed);
    tail_->store(entries + fill, std::memory_order_relaxed);
    seen_->store(entries + fill, std::memory_order_relaxed);
    threshold_.v.store(fill > 0 ? threshold_reset_ : -1, std::memory_order_relaxed);
  }
  scq_ring(const scq_ring&) = delete;
  scq_ring& operator=(const scq_ring&) = delete;
  ~scq_ring() {
    for (std::uint64_t j = 0; j <= entries_mask_; ++j) std::destroy_at(&entries_[j]);
    ::operator delete(entries_, std::align_val_t{cache_line_size});
  }

  enum class put_result { ok, closed };

  /// Enqueues index `idx`. With `honour_closed`, a ticket carrying the closed mark abandons the
  /// enqueue (returns closed). Lock-free (see the preface); async-signal-safe.
  put_result enqueue(std::uint64_t idx, bool honour_closed) noexcept {
    for (;;) {
      // seq_cst: the ticket; an RMW, so it also reads the latest closed mark (3).
      const std::uint64_t raw = tail_->fetch_add(1, std::memory_order_seq_cst);
      if (honour_closed && (raw & closed_bit)) return put_result::closed;
      const std::uint64_t t = raw & ~closed_bit;
      const std::uint64_t tc = t >> (order_ + 1);
      Atom<std::uint64_t>& ent = entries_[t & entries_mask_];
      // No load before the first CAS: it expects the usual state, consumed in the previous cycle
      // (which passes SCQ's test below), so the entry's line comes over once, exclusive, not
      // shared for a load and again for the CAS. A failed CAS loads the entry, and SCQ's test
      // decides on that value whether to try again.
      std::uint64_t e = make(tc - 1, true, bottom_);
      for (;;) {
        // seq_cst (1)/(2): publishes what the caller wrote to the slot of idx. Release would do
        // for that; seq_cst as in SCQ's proof, whose threshold argument the model runs out only
        // in a scripted schedule that does not test orders (and the same lock cmpxchg / casal on
        // x86 / ARMv8). Failure: seq_cst (4): a load after the consuming fetch_or (seq_cst) in
        // the single total order, and before the head load below, so that load sees every
        // ticket taken before that consume. (Acquire would give only happens-before, which the
        // total order need not follow unless both sides are seq_cst. Relacy reads a failed CAS
        // as the newest value, so the model cannot show the difference.)
        if (ent.compare_exchange_weak(e, make(tc, true, idx), std::memory_order_seq_cst,
                                      std::memory_order_seq_cst)) {
          // seq_cst: a plain word every dequeuer reads first; stored only when it changes. The
          // store is checked (empty verdicts across 2 queues); the load is SCQ's threshold
          // argument (a stale reset value skips the store), which the model does not test: its
          // one exhaustion scenario is scripted (it passes with relaxed threshold accesses too).
          if (threshold_.v.load(std::memory_order_seq_cst) != threshold_reset_) {
            threshold_.v.store(threshold_reset_, std::memory_order_seq_cst);
          }
          return put_result::ok;
        }
        if (cycle(e) >= tc || (e & bottom_) != bottom_) break;
        if ((e & safe_bit_) == 0 && head_->load(std::memory_order_seq_cst) > t)  // seq_cst (4)
          break;
      }
      // The entry is occupied, newer, or unsafe with head past t: take a new ticket.
    }
  }

  /// Dequeues an index, or returns `none` (empty; see the preface for what that means exactly).
  /// Lock-free: at most threshold + 1 tickets (and, with `look`, empty_looks pauses before an
  /// empty verdict); async-signal-safe.
  ///
  /// `draining` (a pop that saw the ring closed): ignore the threshold and return `none` only
  /// when tail <= head or every ticket below `limit` has been handed out to a dequeuer, `limit`
  /// being the tail read first, which is past every ticket taken before the close. So the call
  /// takes, or sees taken, each of those: an enqueuer still holding one finds its entry
  /// invalidated and abandons, or lands first and its index is dequeued, and a "closed and
  /// drained" verdict strands nothing. (The threshold may be negative, or run out, while such a
  /// ticket waits: e.g. a fresh ring starts at -1.) Bounded by the tickets below `limit`; those
  /// that pushes failing after the close take and abandon are not chased.
  ///
  /// `ticket`, if given, receives the ticket of the entry an index was taken from.
  std::uint64_t dequeue(bool draining = false, bool look = false,
                        std::uint64_t* ticket = nullptr) noexcept {
    // seq_cst: SCQ's empty fast path.
    if (!draining && threshold_.v.load(std::memory_order_seq_cst) < 0) return none;
    if (looks_empty(look)) return none;
    // seq_cst: read after the caller saw the closed mark, so past every unmarked ticket (3).
    const std::uint64_t limit = draining ? tail_->load(std::memory_order_seq_cst) & ~closed_bit : 0;
    for (;;) {
      // seq_cst (4): the ticket.
      const std::uint64_t h = head_->fetch_add(1, std::memory_order_seq_cst);
      const std::uint64_t hc = h >> (order_ + 1);
      Atom<std::uint64_t>& ent = entries_[h & entries_mask_];
      // seq_cst (4): after the ticket in the single total order. (Acquire would do for the data:
      // the fetch_or below acquires (1)/(2).)
      std::uint64_t e = ent.load(std::memory_order_seq_cst);
      unsigned looks = 0;
      for (;;) {
        const std::uint64_t ec = cycle(e);
        if (ec < hc && (e & bottom_) == bottom_ && looks < enqueuer_looks &&
            (looks > 0 ||
             (tail_->load(std::memory_order_relaxed) & ~closed_bit) > h)) {  // relaxed: a hint
          // Still empty, but an enqueuer holds ticket h: give it a few pauses to land its CAS
          // before invalidating the entry (see enqueuer_looks). Bounded: never a real wait.
          ++looks;
          atomic_hooks<Atom>::pause();
          // seq_cst (4), as above. (After a pause Relacy shows a thread nothing older than what
          // it saw before the pause, so the model cannot show this load stale.)
          e = ent.load(std::memory_order_seq_cst);
          continue;
        }
        if (ec == hc) {
          // Ours: mark consumed (index := ⊥, keep cycle and safe). An RMW, as a dequeuer of a
          // later cycle may clear the safe bit meanwhile; nothing else can change the entry
          // before this, so e's index is the one taken (and the unused result lets x86 use a
          // plain `lock or` instead of a CAS loop). seq_cst (4): the consume.
          ent.fetch_or(bottom_, std::memory_order_seq_cst);
          if (ticket != nullptr) *ticket = h;
          return e & bottom_;
        }
        if (ec > hc) break;  // already moved on by a later cycle: nothing for us
        const std::uint64_t next =
            (e & bottom_) == bottom_ ? make(hc, (e & safe_bit_) != 0, bottom_) : (e & ~safe_bit_);
        if (next == e) break;
        // Invalidation. Failure reloads e and looks again: seq_cst (4), as the load above (a
        // failed CAS is a load; Relacy reads it as the newest value, so the model cannot show
        // it). Success: seq_cst as GCC rejects a failure order stronger than the success order.
        if (ent.compare_exchange_weak(e, next, std::memory_order_seq_cst,
                                      std::memory_order_seq_cst))
          break;
      }
      // seq_cst: SCQ's tail <= h + 1 test; the empty verdict holds at this load's place in the
      // single total order. An observer of a stale tail here needs a third thread's enqueue in
      // flight on ticket h, and the looks' pauses (Relacy yields) then show the newest tail.
      const std::uint64_t raw = tail_->load(std::memory_order_seq_cst);
      if ((raw & ~closed_bit) <= h + 1) {
        catch_up(raw, h + 1);
        // seq_cst: SCQ's threshold argument (failed rounds counted after the last reset in the
        // single total order). Run out (3n failed rounds while an index waits) by the unit tests
        // "3n failed rounds exhaust the threshold" (allocated ring) and "free ring: 3n failed
        // push rounds" and by the model's threshold_exhaustion, all in scripted schedules: they
        // check the verdict and the reset, not this order.
        threshold_.v.fetch_sub(1, std::memory_order_seq_cst);
        return none;
      }
      if (draining) {
        if (h + 1 >= limit) return none;  // every ticket below limit has its dequeuer
        continue;                         // the threshold does not apply
      }
      if (threshold_.v.fetch_sub(1, std::memory_order_seq_cst) <= 0)  // seq_cst: as above
        return none;
    }
  }

  /// Whether tail <= head (exact: every ticket below tail has a dequeuer, so at the tail load no
  /// completed enqueue's index was left unclaimed). Reads the enqueuers' tail line only when the
  /// entry at head holds no index of head's cycle yet and the last tail this side saw is not above
  /// head: a dequeuer that calls it before taking a ticket does not write head and tail while the
  /// ring is empty, and does not pull the enqueuers' line while indices are waiting. Measured on
  /// the 2-core machine, 1P1C try ops with the consumer often ahead: without the check a spinning
  /// consumer's tickets and tail catch-ups kept invalidating the producer's entries (~0.4 M
  /// items/s instead of ~5); a variant reading the tail on every call measured slower try ops.
  /// With `look`, it first looks at the entry empty_looks times, a pause apart.
  [[nodiscard]] bool looks_empty(bool look) noexcept {
    // seq_cst: reads the fetch_add (seq_cst) that wrote h, so that write precedes this load and
    // the tail load below in the single total order: there tail <= h <= head, the verdict's
    // instant. (Acquire would not place it there: happens-before binds the total order only
    // between seq_cst operations. A plain load on x86 and ldar on ARMv8 either way.)
    const std::uint64_t h = head_->load(std::memory_order_seq_cst);
    // relaxed: a hint, any value is safe (the ticket's own acquire load decides): an entry at
    // h's cycle means ticket h was used (enqueued, or passed by its dequeuer): take a ticket.
    auto used = [&] {
      return cycle(entries_[h & entries_mask_].load(std::memory_order_relaxed)) ==
             h >> (order_ + 1);
    };
    if (used()) return false;
    // relaxed: a hint, any value is safe. Only tail values are stored and tail never decreases,
    // so seen > h implies tail > h (not empty); the empty verdict always uses a fresh tail load.
    if (seen_->load(std::memory_order_relaxed) > h) return false;
    for (unsigned k = 0; look && k < empty_looks; ++k) {
      atomic_hooks<Atom>::pause();
      if (used()) return false;  // still a hint; the verdict below (tail <= h) does not use it
    }
    // seq_cst: the empty verdict against enqueuers' tickets (store buffering across queues).
    const std::uint64_t t = tail_->load(std::memory_order_seq_cst) & ~closed_bit;
    if (t <= h) return true;
    seen_->store(t, std::memory_order_relaxed);  // relaxed: the hint, see above
    return false;
  }

  /// How many dequeue tickets were taken after `h` (head - h - 1): by other dequeuers only, as
  /// nothing else moves head (a dequeuer's catch-up moves tail). Wait-free. Called by the taker of
  /// h right after its operation: head's line (its side's) is then still in its cache unless
  /// another thread of its side took it meanwhile.
  [[nodiscard]] std::uint64_t dequeued_after(std::uint64_t h) const noexcept {
    // relaxed: a hint for the contention back-off; any value is safe.
    const std::uint64_t now = head_->load(std::memory_order_relaxed);
    return now > h + 1 ? now - h - 1 : 0;
  }

  /// Sets the closed mark. Lock-free (one RMW); async-signal-safe.
  void close() noexcept {
    // release (3): pairs with closed()'s acquire load. Every later ticket sees the mark whatever
    // this order (an RMW reads the latest tail), and the sleepers are ordered after it by the
    // release CAS of force_wake() (S2) that follows in lockfree_queue::close().
    tail_->fetch_or(closed_bit, std::memory_order_release);
  }
  [[nodiscard]] bool closed() const noexcept {
    // acquire (3): pairs with close()'s RMW.
    return (tail_->load(std::memory_order_acquire) & closed_bit) != 0;
  }
  /// tail - head, at least 0: the number of indices held, plus tickets of enqueues still in
  /// flight or abandoned that no dequeuer has passed yet. Wait-free.
  [[nodiscard]] std::uint64_t spread() const noexcept {
    // relaxed: a statistic; any values do (clamped to 0 .. capacity by the caller).
    const std::uint64_t h = head_->load(std::memory_order_relaxed);
    const std::uint64_t t = tail_->load(std::memory_order_relaxed) & ~closed_bit;  // relaxed: too
    return t > h ? t - h : 0;
  }
  /// Calls f(index) for every index held (no concurrent operation allowed; the destructor).
  template <class F>
  void for_each_held(F&& f) const {
    for (std::uint64_t j = 0; j <= entries_mask_; ++j) {
      // relaxed: quiescent; the caller's synchronisation orders everything.
      const std::uint64_t e = entries_[j].load(std::memory_order_relaxed);
      if ((e & bottom_) != bottom_) f(e & bottom_);
    }
  }
  [[nodiscard]] std::size_t entry_bytes() const noexcept {
    return static_cast<std::size_t>(entries_mask_ + 1) * sizeof(Atom<std::uint64_t>);
  }

 private:
  [[nodiscard]] std::uint64_t cycle(std::uint64_t e) const noexcept { return e >> cycle_shift_; }
  [[nodiscard]] std::uint64_t make(std::uint64_t c, bool safe, std::uint64_t idx) const noexcept {
    return c << cycle_shift_ | (safe ? safe_bit_ : 0) | idx;
  }

  /// A dequeuer that found tail <= its ticket + 1 moves tail up to `to` (keeping the closed mark)
  /// unless someone moved it at least that far. Lock-free: a CAS fails only when tail changed.
  /// Liveness only: the tickets it skips were never given out, and an enqueuer with a ticket a
  /// dequeuer passed fails at that entry anyway (invalidated, or unsafe with head past it).
  void catch_up(std::uint64_t raw, std::uint64_t to) noexcept {
    while ((raw & ~closed_bit) < to) {
      // relaxed: liveness only (above); an RMW, so it keeps close()'s release sequence (3) and
      // enqueuers' tickets read it. A load that misses it sees a smaller tail, whose verdict is
      // the same (no ticket between the two was given out). Failure: relaxed, a retry hint.
      if (tail_->compare_exchange_weak(raw, to | (raw & closed_bit), std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
        return;
      }
      // Someone else moved tail or head meanwhile: aim at the current head. relaxed: any head
      // value read is at most the current head, a safe target.
      to = head_->load(std::memory_order_relaxed);
    }
  }

  struct alignas(cache_line_size) padded_i64 {
    Atom<std::int64_t> v;
  };
  static_assert(sizeof(padded_i64) == cache_line_size,
                "the threshold is read by every operation on the ring, written rarely: own line");

  // Read-only after construction.
  Atom<std::uint64_t>* const head_;  // on the dequeuers' scq_side line
  Atom<std::uint64_t>* const seen_;  // beside head_
  Atom<std::uint64_t>* const tail_;  // on the enqueuers' scq_side line
  Atom<std::uint64_t>* entries_ = nullptr;
  const unsigned order_;
  const std::uint64_t entries_mask_;  // 2n - 1
  const std::uint64_t bottom_;        // ⊥: all ones in the index bits (= 2n - 1)
  const std::uint64_t safe_bit_;
  const unsigned cycle_shift_;
  const std::int64_t threshold_reset_;  // 3n - 1
  // Read by every dequeue and enqueue, written when a dequeue fails and by the enqueue after it.
  padded_i64 threshold_;
};

}  // namespace detail

/// Bounded MPMC FIFO queue, lock-free in the strict sense, exact capacity. See the preface of this
/// header for the semantics, the guarantees table and the memory layout; the shared operations
/// are documented in detail::queue_api.
///
/// `Atom` is the atomic policy: std::atomic in production; the stress tests substitute
/// lfkit::stress::perturbed_atomic. Only its member functions are used; every fence, pause,
/// yield, wait and wake goes through lfkit::atomic_hooks<Atom>.
template <class T, template <class> class Atom = std::atomic>
class lockfree_queue : public detail::queue_api<lockfree_queue<T, Atom>, T> {
  static_assert(
      std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> && !std::is_array_v<T>,
      "lfkit::lockfree_queue<T>: T must be a non-const, non-volatile, non-array object type");
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "lfkit::lockfree_queue<T>: T's move constructor must be noexcept: elements are "
                "moved into and out of slots while an index is held. Wrap the type (e.g. "
                "std::unique_ptr<T>) or mark its move constructor noexcept.");
  static_assert(std::is_nothrow_destructible_v<T>,
                "lfkit::lockfree_queue<T>: T's destructor must be noexcept");
  static_assert(Atom<std::uint64_t>::is_always_lock_free &&
                    Atom<std::int64_t>::is_always_lock_free &&
                    Atom<std::uint32_t>::is_always_lock_free,
                "lfkit::lockfree_queue: the atomic policy must be lock-free (a lock-based atomic "
                "deadlocks a signal handler that interrupts its own thread inside an operation)");

  using hooks = atomic_hooks<Atom>;
  using ring = detail::scq_ring<Atom>;
  using side = detail::scq_side<Atom>;
  using api = detail::queue_api<lockfree_queue, T>;
  friend api;
  using status = detail::queue_status;

 public:
  /// Largest capacity accepted: tickets live in 63 bits and an entry holds cycle, safe bit and a
  /// (log2 n + 1)-bit index, so n <= 2^40 leaves >= 2^62 tickets (> 140 years at 10^9/s).
  static constexpr std::size_t max_capacity() noexcept {
    constexpr std::size_t limit = std::size_t{1} << (sizeof(std::size_t) >= 8 ? 40 : 28);
    constexpr std::size_t by_memory =
        static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / (sizeof(cell) + 64);
    return by_memory < limit ? by_memory : limit;
  }

  /// The contention back-off (why: the preface's "Design decisions"): pause hints a successful
  /// push (pop) makes before it returns when 1 to alternating_max other pushes (pops) took a
  /// ticket while it ran, counted on the ring it dequeues from, the free (allocated) ring, whose
  /// head only pushes (pops) move. Its cost is one relaxed load of a line the thread has just
  /// written. bench/README.md ("lockfree_queue") has what 64, 128 and 256 measured, on 2 CPUs
  /// only; on a machine whose pause hint is longer (~140 cycles on recent Intel cores, ~40 here)
  /// a turn is longer too: measure with scripts/bench.
  static constexpr unsigned contention_backoff = 128;
  /// More tickets taken by others during one operation than this means a crowd running in
  /// parallel rather than a few threads alternating: then no back-off, as a pause would only
  /// idle a CPU that has work.
  static constexpr std::uint64_t alternating_max = 2;

 private:
  /// One data slot: storage for a T, no header (the rings say which slots hold elements).
  struct cell {
    alignas(T) unsigned char storage[sizeof(T)];
  };
  static_assert(sizeof(cell) == sizeof(T),
                "a data slot is exactly one T: the rings carry the state");

  /// Both sides' blocking loops: stateless (two bytes), kept with the read-only fields.
  struct wait_loops {
    detail::wait_loop<Atom> push;
    detail::wait_loop<Atom> pop;
  };

 public:
  /// A queue holding at most `capacity` elements, exactly. Throws std::invalid_argument naming
  /// the value if `capacity` is 0 or above max_capacity(), std::bad_alloc if memory runs out. Not
  /// async-signal-safe (allocates).
  ///
  ///   lfkit::lockfree_queue<std::string> q(3);   // q.capacity() == 3
  explicit lockfree_queue(std::size_t capacity)
      : cap_(api::checked_capacity("lfkit::lockfree_queue", capacity)),
        order_(static_cast<unsigned>(
            std::countr_zero(std::bit_ceil(static_cast<std::uint64_t>(cap_))))),
        free_(order_, cap_, producers_, consumers_.tail),
        alloc_(order_, 0, consumers_, producers_.tail) {
    data_ = static_cast<cell*>(::operator new(cap_ * sizeof(cell), std::align_val_t{data_align}));
    hooks::prepare_heavy_fence();
  }

  lockfree_queue(const lockfree_queue&) = delete;
  lockfree_queue& operator=(const lockfree_queue&) = delete;

  /// Destroys the elements still inside, then frees everything. No other thread may be using the
  /// queue (every operation must have returned).
  ~lockfree_queue() {
    alloc_.for_each_held([&](std::uint64_t i) { std::destroy_at(element(i)); });
    ::operator delete(data_, std::align_val_t{data_align});
  }

  /// The capacity given to the constructor. Wait-free, async-signal-safe.
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  /// Bytes this queue occupies: the object, both rings' entries and the data slots. Wait-free,
  /// async-signal-safe.
  ///
  ///   lfkit::lockfree_queue<int> q(1024);  // q.memory_footprint() == sizeof(q) + 1024 * (4 + 32)
  [[nodiscard]] std::size_t memory_footprint() const noexcept {
    return sizeof(*this) + free_.entry_bytes() + alloc_.entry_bytes() + cap_ * sizeof(cell);
  }

  // ---- closing and observing -----------------------------------------------------------------

  /// Closes the queue: later pushes fail, pops drain and then fail, every sleeper is woken.
  /// Idempotent. Lock-free (one RMW, two CAS loops) plus two wakes; async-signal-safe (*).
  ///
  ///   q.close();  for (auto& t : workers) t.join();
  void close() noexcept {
    alloc_.close();  // (3)
    not_empty_.force_wake();
    not_full_.force_wake();
  }

  /// Whether close() has been called. Wait-free, async-signal-safe.
  [[nodiscard]] bool is_closed() const noexcept { return alloc_.closed(); }

  /// Number of elements, approximately: between 0 and capacity(); exact when no operation runs
  /// concurrently and none lost a race for a ring entry (tickets a push abandoned count until
  /// a pop passes them). Wait-free, async-signal-safe.
  [[nodiscard]] std::size_t size_approx() const noexcept {
    const std::uint64_t s = alloc_.spread();
    return s > cap_ ? cap_ : static_cast<std::size_t>(s);
  }

 private:
  static constexpr std::size_t data_align = alignof(T) > cache_line_size ? alignof(T)
                                                                         : cache_line_size;

  T* element(std::uint64_t i) noexcept {
    return std::launder(reinterpret_cast<T*>(data_[i].storage));
  }
  T* place(std::uint64_t i) noexcept { return reinterpret_cast<T*>(data_[i].storage); }

  /// The contention back-off after a successful push or pop that `others` operations of its side
  /// interleaved with (see contention_backoff).
  static void back_off_if_alternating(std::uint64_t others) noexcept {
    if (others >= 1 && others <= alternating_max) detail::pause_n<Atom>(contention_backoff);
  }

  /// One push attempt: take a free index (else full, or closed), build the element in its slot,
  /// enqueue the index. If close() marked the ticket, undo (give the element back), return the
  /// index. No wakes but that one.
  /// `look`: a try_ op's attempt (see scq_ring::empty_looks).
  template <class Source>
  status push_once(Source& src, bool look) noexcept {
    // No closed check up front: the allocated ring's ticket sees the mark (3) and the push is
    // undone, and a full queue looks at it below. (Reading the producers' tail line first cost
    // every push a shared-then-exclusive transfer of that line.)
    std::uint64_t f = 0;
    const std::uint64_t i = free_.dequeue(false, look, &f);  // acquire inside (2)
    if (i == ring::none) return alloc_.closed() ? status::closed : status::unavailable;
    src.build(place(i));
    if (alloc_.enqueue(i, true) == ring::put_result::ok) {  // (1)
      back_off_if_alternating(free_.dequeued_after(f));
      return status::ok;
    }
    src.undo(element(i));
    free_.enqueue(i, false);  // (2)
    not_full_.notify();       // the index was free a moment ago: a sleeper may have missed it
    return status::closed;
  }

  /// One pop attempt: dequeue an index (else empty, or closed if closed before an empty verdict),
  /// move the element out, return the index to the free ring. No wakes.
  template <class Deliver>
  status pop_once(Deliver&& deliver, bool look) noexcept {
    std::uint64_t h = 0;
    std::uint64_t i = alloc_.dequeue(false, look, &h);  // acquire inside (1)
    const bool ticketed = i != ring::none;  // h is the ticket i came from (a drain's is not kept)
    if (i == ring::none) {
      // Closed and drained only if closed before an empty verdict: look at the mark, then again
      // at the ring, past every ticket taken before the close (only on this path: the mark
      // lives on the producers' tail line).
      if (!alloc_.closed()) return status::unavailable;
      i = alloc_.dequeue(true);
      if (i == ring::none) return status::closed;
    }
    T* e = element(i);
    deliver(std::move(*e));
    std::destroy_at(e);
    free_.enqueue(i, false);  // (2)
    if (ticketed) back_off_if_alternating(alloc_.dequeued_after(h));
    return status::ok;
  }

  // ---- queue_api's primitives (attempts never wait for another thread; a try_ op looks first) --

  template <class Source>
  status push_attempt(Source& src, detail::wait_kind k) noexcept {
    return push_once(src, k == detail::wait_kind::try_op);
  }
  template <class Deliver>
  status pop_attempt(Deliver& deliver, detail::wait_kind k) noexcept {
    return pop_once(deliver, k == detail::wait_kind::try_op);
  }
  detail::wait_side<Atom> push_side() noexcept { return {waits_.push, not_full_}; }
  detail::wait_side<Atom> pop_side() noexcept { return {waits_.pop, not_empty_}; }
  static constexpr bool claims_runs = false;  // bulk ops: one index per element

  // ---- data -------------------------------------------------------------------------------------
  // Read-only after construction (the rings' own read-only fields sit beside their pointers).
  cell* data_ = nullptr;
  const std::size_t cap_;
  const unsigned order_;
  wait_loops waits_;  // stateless
  // Written on every operation (declared before the rings, which point into them).
  side producers_;  // free ring's head and seen, allocated ring's tail (bit 63: closed)
  side consumers_;  // allocated ring's head and seen, free ring's tail
  ring free_;       // indices of free data slots (initially 0 .. cap_-1)
  ring alloc_;      // indices of slots holding elements, FIFO; tail bit 63: closed
  detail::sleep_word<Atom> not_empty_;  // consumers sleep here
  detail::sleep_word<Atom> not_full_;   // producers sleep here
};

}  // namespace lfkit

#endif  // LFKIT_LOCKFREE_QUEUE_HPP
