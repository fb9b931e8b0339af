// SPDX-License-Identifier: BSL-1.0
// lfkit/seqlock_cell.hpp — a small trivially copyable value, read without writing anything shared,
// never blocked by a stalled writer: a sequence-counted latch with two copies.
//
// Part of lfkit (header-only, C++20). Standard library and lfkit/detail (platform, atomic_hooks,
// writer_lock: writers wait for each other with pause hints, then yields, through atomic_hooks).
//
// ------------------------------------------------------------------------------------------------
// What it is
//   lfkit::seqlock_cell<T> holds a trivially copyable T (a pair of counters, a timestamp + value,
//   a small config) in two copies guarded by one sequence counter: Linux's "latch" variant of the
//   seqlock (raw_write_seqcount_latch). A writer bumps the counter to odd, rewrites copy 0, bumps it
//   to even, rewrites copy 1. A reader reads the counter, copies the copy that is *not* being
//   written (index = counter & 1), and re-reads the counter; if it changed, it retries. So a reader
//   never waits for a writer to finish: even a signal handler that interrupts its own thread's
//   writer in the middle of a copy reads the other, stable copy and returns at once.
//
//     lfkit::seqlock_cell<pair> c(pair{0, 0});
//     c.store(pair{1, 1});                 // writer
//     pair p = c.load();                   // reader: never torn, also from a signal handler
//
// Memory model (Boehm, "Can seqlocks get along with programming language memory models?", MSPC
// 2012): the data is read and written with relaxed atomics, word by word (so a racing copy is not a
// data race, only a value that the sequence check throws away), and
//   * writer: seq.store(odd, release); fence(release); copy-0 stores (relaxed);
//     seq.store(even, release); fence(release); copy-1 stores (relaxed). Each release bump makes
//     the copy readers will select complete for them; each fence orders the bump before the
//     stores that follow it;
//   * reader: s1 = seq.load(acquire); data loads (relaxed); fence(acquire); s2 = seq.load(relaxed).
//   If the reader saw any word stored after a writer's fence(release), its fence(acquire)
//   synchronises with it, so the writer's counter bump happens-before s2 and the read is rejected.
//   Under ThreadSanitizer (LFKIT_TSAN), which does not model standalone fences, the same ordering is
//   expressed without fences: data stores are release stores and data loads acquire loads (free on
//   x86; a TSan build is about checking, not speed).
//   A torn copy is never materialised as a T: the words are gathered into a local word buffer and
//   turned into a T (std::bit_cast) only after the sequence check succeeded.
//   Cost: a read is two counter loads and `words` data loads, unrolled, with no store (1.3–2.5 ns
//   single-threaded on the 2-vCPU EPYC guest for a 32-byte value).
//
// Writers: any number. They are serialised by a writer lock (detail::writer_lock) taken with a CAS.
// store()/update() spin, then yield, while another writer holds it — blocking, and a store() from
// a signal handler that interrupted a store() on its own thread would wait forever; use
// try_store() in handlers: it fails instead of waiting. Readers never look at the lock.
//
// Progress and async-signal-safety
//   operation        progress                                               async-signal-safe
//   load()           lock-free (retries only if a writer completed a half    yes
//                    of a write during the copy; never waits for a writer)
//   version()        wait-free                                              yes
//   try_store()      wait-free (fails if another writer holds the flag)     yes
//   store()          blocking (waits for other writers); writing itself      no (see above)
//                    is wait-free
//   update(f)        blocking, as store(); f runs once, under the flag      no
// ------------------------------------------------------------------------------------------------
#ifndef LFKIT_SEQLOCK_CELL_HPP
#define LFKIT_SEQLOCK_CELL_HPP

#include <array>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/platform.hpp"
#include "lfkit/detail/writer_lock.hpp"

namespace lfkit {

/// A two-copy seqlock (latch) cell for a small trivially copyable T. See the file comment.
template <class T, template <class> class Atom = std::atomic>
class seqlock_cell {
  static_assert(std::is_trivially_copyable_v<T>,
                "the value is copied word by word with atomics and reassembled with bit_cast");
  static_assert(!std::is_const_v<T> && !std::is_volatile_v<T>, "store a plain value type");

  using word = unsigned long;
  static constexpr std::size_t words = (sizeof(T) + sizeof(word) - 1) / sizeof(word);
  static_assert(Atom<word>::is_always_lock_free && Atom<std::uint64_t>::is_always_lock_free,
                "loads run in signal handlers: the data words and the counter must be lock-free");
  static_assert(words <= 32,
                "a seqlock copies the whole value on every read; use lfkit::snapshot for large T");

  using buffer = std::array<word, words>;

 public:
  using value_type = T;

  /// Constructors: wait-free, no allocation (not for concurrent use with the object itself).
  /// Holds a value-initialised T. `lfkit::seqlock_cell<pair> c;`
  seqlock_cell() noexcept
    requires std::default_initializable<T>
      : seqlock_cell(T{}) {}
  /// Holds `v`. `lfkit::seqlock_cell<pair> c(pair{1, 1});`
  explicit seqlock_cell(const T& v) noexcept {
    const buffer b = to_words(v);
    for (std::size_t i = 0; i < words; ++i) {
      // relaxed: the cell is published to other threads by whatever hands them its address.
      copy_[0][i].store(b[i], std::memory_order_relaxed);
      copy_[1][i].store(b[i], std::memory_order_relaxed);
    }
  }
  seqlock_cell(const seqlock_cell&) = delete;
  seqlock_cell& operator=(const seqlock_cell&) = delete;

  /// Returns the current value, never a torn one. Lock-free: retries only when a writer finished
  /// half a write during the copy; never waits for a writer (not even one its own thread's signal
  /// handler interrupted). Writes nothing shared; async-signal-safe.  `pair p = c.load();`
  [[nodiscard]] T load() const noexcept {
    buffer b;
    for (;;) {
      // acquire: pairs with the writer's release bumps, so the copy it selects is complete.
      const std::uint64_t s1 = seq_.load(std::memory_order_acquire);
      const auto& src = copy_[s1 & 1];
      [&]<std::size_t... I>(std::index_sequence<I...>) {  // unrolled word copy
#if LFKIT_TSAN
        // acquire (TSan build): pairs with the writer's release data stores; replaces the fence.
        ((b[I] = src[I].load(std::memory_order_acquire)), ...);
#else
        // relaxed: a racing value is discarded by the sequence check; ordered by the fence below.
        ((b[I] = src[I].load(std::memory_order_relaxed)), ...);
#endif
      }(std::make_index_sequence<words>{});
#if !LFKIT_TSAN
      // Boehm: orders the data loads before the re-check; pairs with the writer's release fence.
      atomic_hooks<Atom>::thread_fence(std::memory_order_acquire);
#endif
      // relaxed: ordered after the data loads by the fence (or the acquire loads under TSan).
      if (seq_.load(std::memory_order_relaxed) == s1) return from_words(b);
    }
  }

  /// Number of completed writes. Wait-free, async-signal-safe.  `auto n = c.version();`
  [[nodiscard]] std::uint64_t version() const noexcept {
    // acquire: pairs with the release bump that completes a write.
    return seq_.load(std::memory_order_acquire) / 2;
  }

  /// Writes `v`, waiting (spin, then sleep) while another writer holds the lock. Blocking;
  /// not for signal handlers that may interrupt a store() of their own thread.  `c.store({2, 2});`
  void store(const T& v) noexcept {
    writer_.lock();
    write_locked(to_words(v));
    writer_.unlock();
  }

  /// Writes `v` unless another writer holds the flag (then returns false and changes nothing).
  /// Wait-free, async-signal-safe.  `if (!c.try_store(v)) retry_later();`
  bool try_store(const T& v) noexcept {
    if (!writer_.try_lock()) return false;
    write_locked(to_words(v));
    writer_.unlock();
    return true;
  }

  /// Replaces the value with f(current) atomically with respect to other writers (f runs once,
  /// under the writer flag: keep it short, and do not call store() on this cell from it).
  /// Returns the new value. Blocking, as store().  `c.update([](pair p) { ++p.a; ++p.b; return p; });`
  template <class F>
    requires std::is_invocable_r_v<T, F&, const T&>
  T update(F f) {
    writer_.lock();
    struct unlocker {
      writer_lock_type& l;
      ~unlocker() { l.unlock(); }
    } release_on_exit{writer_};
    buffer cur;
    for (std::size_t i = 0; i < words; ++i) {
      // relaxed: we hold the writer flag; only we write, and copy 1 is stable between writes.
      cur[i] = copy_[1][i].load(std::memory_order_relaxed);
    }
    const T next = std::invoke(f, from_words(cur));  // may throw: the unlocker releases the flag
    write_locked(to_words(next));
    return next;
  }

 private:
  static buffer to_words(const T& v) noexcept {
    std::array<unsigned char, sizeof(buffer)> bytes{};  // padding words zero-filled
    std::memcpy(bytes.data(), std::addressof(v), sizeof(T));
    return std::bit_cast<buffer>(bytes);
  }
  static T from_words(const buffer& b) noexcept {
    if constexpr (sizeof(T) == sizeof(buffer)) {
      return std::bit_cast<T>(b);  // register to register: no store-forwarding stall
    } else {
      std::array<unsigned char, sizeof(T)> bytes;
      std::memcpy(bytes.data(), b.data(), sizeof(T));
      return std::bit_cast<T>(bytes);
    }
  }

  void write_locked(const buffer& b) noexcept {
    // relaxed: only the flag holder writes seq_.
    std::uint64_t s = seq_.load(std::memory_order_relaxed);
    for (int half = 0; half < 2; ++half) {
      // Odd: readers switch to copy 1 while copy 0 is rewritten; even: back to copy 0 (now new)
      // while copy 1 is rewritten.
      // release: pairs with readers' acquire seq_ load — the copy they will now select (written
      // before this bump, by this write or the previous one) is complete for them.
      seq_.store(++s, std::memory_order_release);
#if !LFKIT_TSAN
      // Boehm: orders the bump before the data stores below; pairs with readers' acquire fence.
      atomic_hooks<Atom>::thread_fence(std::memory_order_release);
#endif
      auto& dst = copy_[half];
      for (std::size_t i = 0; i < words; ++i) {
#if LFKIT_TSAN
        // release (TSan build): a reader acquiring this word also sees the bump above.
        dst[i].store(b[i], std::memory_order_release);
#else
        // relaxed: ordered after the bump by the fence above, before the next bump by its release.
        dst[i].store(b[i], std::memory_order_relaxed);
#endif
      }
    }
  }

  /// Counter and writer flag share the first padding unit with the data: readers need the counter
  /// and the copies together, and the writer that takes the flag writes the counter anyway.
  alignas(cache_line_size) Atom<std::uint64_t> seq_{0};
  // Writers are short and rarely contended: the spin kind's unlock is a store, not an exchange.
  using writer_lock_type = detail::writer_lock<Atom, detail::writer_wait::spin>;
  writer_lock_type writer_;
  Atom<word> copy_[2][words]{};
};

}  // namespace lfkit

#endif  // LFKIT_SEQLOCK_CELL_HPP
