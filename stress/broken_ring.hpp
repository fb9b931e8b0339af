// SPDX-License-Identifier: BSL-1.0
// stress/broken_ring.hpp — TEST-ONLY: a deliberately broken bounded MPMC ring, so that the stress
// suite can show it catches a real ordering bug (scenario queue_broken_demo, and the ctest
// stress_demos_caught, which fails if it is NOT caught).
//
// It is a Vyukov-style ring with per-slot sequence numbers, exactly like a correct one except for
// one planted bug: the producer publishes the slot (stores seq = pos + 1, release) BEFORE it writes
// the element. A consumer that sees the new sequence in that window reads the previous lap's
// element (a duplicate), a half-written one (torn), or the initial zeroes (garbage), and the element
// the producer then writes is never read (lost). The window is a few instructions wide; interrupts,
// freezes and perturbed_atomic (which this demo always enables) widen it.
//
// The element words are relaxed atomics, so the bug is a logic/ordering bug, not a data race: the
// stress program stays free of undefined behaviour (and TSan-clean) even when running it.
// Interface: the subset of lfkit::mpmc_queue that the queue scenarios use, for T = stress item.
#ifndef LFKIT_STRESS_BROKEN_RING_HPP
#define LFKIT_STRESS_BROKEN_RING_HPP

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

namespace lfkit::stress {

/// The two words of a queue item (tag and check) as the ring stores them.
template <class Item, template <class> class Atom>
class broken_ring {
 public:
  explicit broken_ring(std::size_t capacity) {
    std::size_t cap = 2;  // a sequence ring needs 2 slots at least (seq pos+1 must not mean "free")
    while (cap < capacity) cap <<= 1;
    mask_ = cap - 1;
    slots_ = std::make_unique<slot[]>(cap);
    for (std::size_t i = 0; i < cap; ++i)
      slots_[i].seq.store(i, std::memory_order_relaxed);  // relaxed: before sharing
  }

  bool try_push(const Item& v) noexcept {
    if (closed_.load(std::memory_order_acquire)) return false;  // acquire: pairs with close()
    std::uint64_t pos = tail_.load(std::memory_order_relaxed);  // relaxed: validated by the CAS
    for (;;) {
      slot& s = slots_[pos & mask_];
      const std::uint64_t seq =
          s.seq.load(std::memory_order_acquire);  // acquire: pairs with the consumer's release
      const auto diff = static_cast<std::int64_t>(seq - pos);
      if (diff == 0) {
        // relaxed CAS: the slot's seq orders the data (in a correct ring)
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                        std::memory_order_relaxed)) {
          // THE PLANTED BUG: publish first (release: pairs with the consumer's acquire) ...
          s.seq.store(pos + 1, std::memory_order_release);
          // ... then write the element, which the consumer may already have read.
          s.w0.store(v.tag, std::memory_order_relaxed);  // relaxed: published too early, on purpose
          s.w1.store(v.check, std::memory_order_relaxed);  // relaxed: as above
          return true;
        }
      } else if (diff < 0) {
        return false;  // full
      } else {
        pos = tail_.load(std::memory_order_relaxed);  // relaxed: validated by the CAS
      }
    }
  }

  bool try_pop(Item& out) noexcept {
    std::uint64_t pos = head_.load(std::memory_order_relaxed);  // relaxed: validated by the CAS
    for (;;) {
      slot& s = slots_[pos & mask_];
      const std::uint64_t seq =
          s.seq.load(std::memory_order_acquire);  // acquire: pairs with the producer's release
      const auto diff = static_cast<std::int64_t>(seq - (pos + 1));
      if (diff == 0) {
        // relaxed CAS: the slot's seq orders the data
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                        std::memory_order_relaxed)) {
          out.tag = s.w0.load(std::memory_order_relaxed);    // relaxed: ordered by the seq acquire
          out.check = s.w1.load(std::memory_order_relaxed);  // relaxed: as above
          s.seq.store(pos + mask_ + 1,
                      std::memory_order_release);  // release: pairs with the producer's acquire
          return true;
        }
      } else if (diff < 0) {
        return false;  // empty
      } else {
        pos = head_.load(std::memory_order_relaxed);  // relaxed: validated by the CAS
      }
    }
  }

  bool push(const Item& v) {
    while (!try_push(v)) {
      if (is_closed()) return false;
      std::this_thread::yield();
    }
    return true;
  }
  template <class Rep, class Period>
  bool try_push_for(const Item& v, std::chrono::duration<Rep, Period> d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (!try_push(v)) {
      if (is_closed() || std::chrono::steady_clock::now() >= end) return false;
      std::this_thread::yield();
    }
    return true;
  }
  /// Blocking pop; after close() returns false once every claimed position has been consumed.
  bool pop(Item& out) {
    for (;;) {
      if (try_pop(out)) return true;
      // seq_cst: compared with each other after close(); no data is published through them.
      if (is_closed() && head_.load() == tail_.load()) return false;
      std::this_thread::yield();
    }
  }
  template <class Rep, class Period>
  bool try_pop_for(Item& out, std::chrono::duration<Rep, Period> d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (!try_pop(out)) {
      if ((is_closed() && head_.load() == tail_.load()) || std::chrono::steady_clock::now() >= end)
        return false;
      std::this_thread::yield();
    }
    return true;
  }
  void close() noexcept {
    closed_.store(true, std::memory_order_release);
  }  // release: pairs with the acquire loads
  bool is_closed() const noexcept {
    return closed_.load(std::memory_order_acquire);
  }  // acquire: pairs with close()

 private:
  struct slot {
    Atom<std::uint64_t> seq{0};
    Atom<std::uint64_t> w0{0};
    Atom<std::uint64_t> w1{0};
  };
  std::unique_ptr<slot[]> slots_;
  std::size_t mask_ = 0;
  alignas(128) Atom<std::uint64_t> tail_{0};
  alignas(128) Atom<std::uint64_t> head_{0};
  alignas(128) Atom<bool> closed_{false};
};

}  // namespace lfkit::stress

#endif  // LFKIT_STRESS_BROKEN_RING_HPP
