// lfkit/snapshot.hpp — a copy-on-write snapshot cell with bounded reclamation and
// async-signal-safe reads.
//
// Part of lfkit (header-only, C++20). Depends on the C++ standard library,
// lfkit/detail/platform.hpp, and POSIX threads (pthread_key_create / pthread_setspecific, used once
// per thread to hand a thread's hazard record back at thread exit). Linux membarrier(2) is used
// through platform.hpp when available.
//
// ------------------------------------------------------------------------------------------------
// What it is
//   lfkit::snapshot<T> holds one immutable, heap-allocated version of a T. Readers call load() and
//   get a guard through which they see a whole version: it stays alive and unchanged while the
//   guard lives, whatever writers do meanwhile. Writers build a new version off to the side and
//   publish it in one atomic step (store / exchange / emplace / update), so no interruption can
//   ever expose a half-written value.
//
//     lfkit::snapshot<config> cfg(config{...});
//     { auto g = cfg.load(); use(g->port, g->host); }          // reader (also in a signal handler)
//     cfg.update([](const config& c) { auto n = c; ++n.generation; return n; });   // writer
//
// Semantics
//   * Every publish gets the next version number (the constructed value is version 0); guards report
//     the version they hold, version() the latest published one. A load() that starts after
//     version() returned v sees a version >= v.
//   * store(v) returns nothing; exchange(v) returns a guard on the version it replaced (no copy:
//     that version stays pinned until the guard goes); update(f) returns the version it published.
//   * update(f) is the only read-modify-write: f(current) builds the next value outside any lock and
//     is run again if another writer published in between, so no increment is ever lost.
//
// Reclamation and the memory bound
//   Readers protect the version they hold with a hazard slot (or, on the fallback path, a pin
//   count). Old versions are destroyed by writers only — never by a reader, a guard's destructor or
//   a signal handler. After publishing, a writer retires the old version; once B retired versions
//   have accumulated beyond those that survived the previous scan, it scans every hazard slot and
//   destroys each retired version that no guard holds. Hence, at any moment outside a writer's
//   critical section,
//
//       retired_count() <= P + B - 1
//
//   where B = snapshot_options::reclaim_batch (default 16) and P = the number of versions pinned at
//   the last scan — at most the number of guards alive (plus loads in progress) at that moment, since
//   each guard pins exactly one version. A reader that stalls pins only the one version it holds.
//   reclaim() forces a scan: with no guard alive, retired_count() is 0 afterwards.
//   The bound is on retired_count(), i.e. on versions still waiting for a scan. Versions a scan has
//   found unprotected are destroyed by that writer right after it releases the writer lock, so
//   while their destructors run (and other writers retire and scan meanwhile) up to about
//   P + B further versions per concurrently-destroying writer may still be in memory.
//
// Thread limits
//   Hazard slots live in a static pool of LFKIT_SNAPSHOT_MAX_THREADS (default 128) records of
//   snapshot_slots_per_thread (8) slots, shared by every snapshot with the same Atom policy. A thread
//   claims a record (by CAS, no allocation) at its first load() and returns it at thread exit
//   (through a pthread key destructor). A thread that finds the pool exhausted, or that holds more
//   than 8 guards at once (deep nesting of handlers, vectors of guards), takes the fallback path:
//   a compare-and-swap on the snapshot's head word increments a pin count packed next to the
//   pointer (a split reference count). The fallback is correct, lock-free and signal-safe, but it
//   is a read-modify-write on the shared head line (tens of ns under contention) — slower, never
//   wrong. A thread without a record retries claiming one every 64 fallback loads. The packed
//   count has 16 bits: a fallback load that raises it to 16384 moves it into the version's own
//   64-bit counter, so any number of fallback loads work. The one blocking corner: if 49151 more
//   fallback pins on the same version arrive while that move is in flight, further fallback loads
//   spin until the mover lands it (or a writer publishes) — not lock-free there, and a signal
//   handler that interrupted the mover itself would spin until a writer publishes. It takes tens of
//   thousands of simultaneous fallback readers of one version to get there.
//
// Progress and async-signal-safety (T's constructors/destructors and f excluded)
//   operation               progress                                   async-signal-safe
//   load()                  lock-free (retries only if a writer         yes
//                           published between its two loads; the fast
//                           path has no RMW and no allocation)
//   guard release / reset   wait-free (one store or one fetch_sub)      yes
//   version(), retired_count()  wait-free                               yes
//   store/exchange/emplace  blocking: allocation + a writer lock (a     no
//                           futex-based lock on Atom<uint32_t>); the
//                           scan issues one membarrier(2) per batch
//   update(f)               blocking, as store; f retried on conflict   no
//   reclaim()               blocking (writer lock + membarrier)         no
//   constructor/destructor  blocking                                   no
//   Readers never wait for writers: a writer stalled anywhere, including inside its critical
//   section, delays no load() and no guard release.
//
// Signal handlers: a handler may call load() while its own thread is in the middle of a load(),
// a guard release, or a writer operation; it uses another of the thread's slots. A guard taken in
// a handler must be released before the handler returns (RAII does this; do not longjmp out of a
// handler that holds a guard, and do not move such a guard to a longer-lived place), because the
// interrupted code may reuse the slot the moment it resumes.
//
// Thread exit: the record is bound with pthread_setspecific, whose key destructor hands it back.
// On glibc (key index < 32, the usual case) and musl pthread_setspecific stores into the thread
// descriptor without allocating, so even a thread's first load() is signal-safe in practice;
// for a strictly portable program, call load() once on each thread before relying on it from a
// handler. A load() from a destructor that runs after the record was handed back (a later pthread
// key destructor) binds a record again, and glibc re-runs key destructors up to
// PTHREAD_DESTRUCTOR_ITERATIONS (4) times; past that, the record stays claimed until process exit.
// A guard may be moved to and released on another thread. After fork(), records owned by
// the parent's other threads stay claimed in the child (their pinned versions, at most one per
// held guard, are never freed there).
//
// Requirements: 64-bit pointers whose user-space addresses fit in 48 bits (x86-64, AArch64 with
// 48-bit VA); a node allocated above 2^48 makes the writer throw std::runtime_error.
// ------------------------------------------------------------------------------------------------
#ifndef LFKIT_SNAPSHOT_HPP
#define LFKIT_SNAPSHOT_HPP

#include <pthread.h>

#include <algorithm>
#include <concepts>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lfkit/detail/platform.hpp"

#ifndef LFKIT_SNAPSHOT_MAX_THREADS
/// Number of per-thread hazard records in the static pool (per Atom policy). Must be the same in
/// every translation unit of a program.
#define LFKIT_SNAPSHOT_MAX_THREADS 128
#endif

namespace lfkit {

/// Hazard slots per thread record: how many guards one thread (with its nested signal handlers)
/// can hold before its further loads take the fallback path.
inline constexpr std::size_t snapshot_slots_per_thread = 8;
/// Records in the static pool: how many threads can read on the fast path at once.
inline constexpr std::size_t snapshot_max_threads = LFKIT_SNAPSHOT_MAX_THREADS;

/// Construction options of lfkit::snapshot.
struct snapshot_options {
  /// Retired versions that may accumulate (beyond the survivors of the last scan) before a writer
  /// scans the hazard slots; the memory bound is (pinned versions) + reclaim_batch - 1. Each scan
  /// costs one expedited membarrier: ~0.4 µs on an idle 2-vCPU KVM guest, up to ~15 µs when the
  /// other vCPUs run readers (the kernel waits for an IPI on each). Measured there, updates/s with
  /// one writer and two readers: batch 1 ≈ 0.4 M/s, 8 ≈ 0.5 M/s, 16 ≈ 4 M/s, 32–64 ≈ 3–6 M/s; the
  /// default 16 keeps the bound small. 1 gives the tightest bound (pinned versions only), a larger
  /// value suits small T with many writes. Range [1, 1<<20]; std::invalid_argument otherwise.
  std::size_t reclaim_batch = 16;
};

namespace detail {

/// The process-wide pool of per-thread hazard records for one atomic policy.
template <template <class> class Atom>
struct snapshot_domain {
  struct alignas(cache_line_size) record {
    /// 0 = free; otherwise the address of the version this slot protects. Written by the owning
    /// thread (and its nested signal handlers, which finish before it resumes) and cleared by
    /// whichever thread releases the guard; read by writers' scans.
    Atom<std::uintptr_t> slot[snapshot_slots_per_thread];
    /// 0 = free, 1 = bound to a thread.
    Atom<std::uint32_t> owned;
  };
  static_assert(sizeof(record) == cache_line_size,
                "one record per padding unit: a reader's slot stores must never invalidate the line "
                "of another thread's record");
  static_assert(Atom<std::uintptr_t>::is_always_lock_free && Atom<std::uint32_t>::is_always_lock_free,
                "slots are written from signal handlers; a lock-based atomic could deadlock there");

  static inline constinit record records[snapshot_max_threads]{};
  /// One past the highest record ever claimed; writers scan records [0, high_water).
  static inline constinit Atom<std::size_t> high_water{0};
  /// 0 = not created, 1 = ready, 2 = pthread_key_create failed (no thread is ever bound).
  static inline constinit Atom<int> key_state{0};
  static inline pthread_key_t key{};
  static inline pthread_once_t key_once = PTHREAD_ONCE_INIT;

  /// This thread's record. Constant-initialised and trivially destructible, with the initial-exec
  /// model: every access is a plain %fs-relative load, no TLS wrapper, no __tls_get_addr — safe in
  /// a signal handler. In a dlopen'ed library the variables take a little of the process's spare
  /// static TLS (dlopen fails if none is left), and unloading such a library while threads still
  /// hold records leaves the pthread key destructor dangling: do not dlclose it. Atomic only because a signal
  /// handler on this same thread may bind a record concurrently with the thread's own slow path.
  [[gnu::tls_model("initial-exec")]] static inline constinit thread_local std::atomic<record*> t_rec{
      nullptr};
  /// Fallback loads left before a thread without a record tries again to claim one.
  [[gnu::tls_model("initial-exec")]] static inline constinit thread_local std::atomic<unsigned>
      t_bind_backoff{0};

  static void on_thread_exit(void* p) noexcept {
    // relaxed: thread-local, read only by this thread and its signal handlers.
    t_rec.store(nullptr, std::memory_order_relaxed);
    // release: pairs with the acquire CAS of the record's next owner (our slot clears precede it).
    static_cast<record*>(p)->owned.store(0, std::memory_order_release);
  }
  static void create_key() noexcept {
    // Publish `key` before the state that says it is usable.
    const int rc = pthread_key_create(&key, &on_thread_exit);
    // release: pairs with the acquire load in try_bind, which then reads `key`.
    key_state.store(rc == 0 ? 1 : 2, std::memory_order_release);
  }
  /// Creates the thread-exit key once. Not signal-safe; called from snapshot constructors.
  static void prepare() noexcept { pthread_once(&key_once, &create_key); }

  /// Claims a free record for this thread and arranges its release at thread exit. Lock-free,
  /// async-signal-safe (see the file comment about pthread_setspecific). Returns null when the
  /// pool is exhausted.
  static record* try_bind() noexcept {
    // relaxed: a countdown private to this thread.
    const unsigned backoff = t_bind_backoff.load(std::memory_order_relaxed);
    if (backoff != 0) {
      t_bind_backoff.store(backoff - 1, std::memory_order_relaxed);  // relaxed: as above
      return nullptr;
    }
    // acquire: pairs with the release store in create_key, so `key` is initialised.
    if (key_state.load(std::memory_order_acquire) != 1) return nullptr;
    for (std::size_t i = 0; i < snapshot_max_threads; ++i) {
      record& r = records[i];
      std::uint32_t expected = 0;
      // relaxed pre-check: only a hint to skip owned records without an RMW.
      if (r.owned.load(std::memory_order_relaxed) != 0) continue;
      // acquire: pairs with the release in on_thread_exit of the previous owner.
      if (!r.owned.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
        continue;
      }
      // Raise high_water before any slot of this record can be used. seq_cst: this store must be
      // visible to any writer scan that could miss our later slot store (it precedes our light
      // fence just like the slot store does).
      std::size_t hw = high_water.load(std::memory_order_seq_cst);
      while (hw < i + 1 &&
             !high_water.compare_exchange_weak(hw, i + 1, std::memory_order_seq_cst,
                                               std::memory_order_seq_cst)) {
      }
      record* none = nullptr;
      // relaxed: t_rec is private to this thread; a nested handler may have bound one first.
      if (!t_rec.compare_exchange_strong(none, &r, std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
        r.owned.store(0, std::memory_order_release);  // release: pairs with the claim CAS above
        return none;
      }
      if (pthread_setspecific(key, &r) != 0) {
        t_rec.store(nullptr, std::memory_order_relaxed);  // relaxed: thread-private
        r.owned.store(0, std::memory_order_release);       // release: as above
        t_bind_backoff.store(64, std::memory_order_relaxed);  // relaxed: thread-private
        return nullptr;
      }
      return &r;
    }
    t_bind_backoff.store(64, std::memory_order_relaxed);  // relaxed: thread-private
    return nullptr;
  }

  /// Number of records currently bound to threads (diagnostics and tests). Wait-free per record.
  static std::size_t records_in_use() noexcept {
    std::size_t n = 0;
    for (auto& r : records) n += r.owned.load(std::memory_order_relaxed);  // relaxed: a statistic
    return n;
  }
};

}  // namespace detail

/// A copy-on-write snapshot of a T: lock-free, allocation-free, async-signal-safe reads; old
/// versions reclaimed by writers with a bound of (pinned versions + reclaim_batch - 1). See the
/// file comment for semantics, the memory bound and thread limits.
template <class T, template <class> class Atom = std::atomic>
class snapshot {
  using domain = detail::snapshot_domain<Atom>;
  using record = typename domain::record;

  struct node {
    template <class... Args>
    explicit node(std::uint64_t v, Args&&... args) : value(std::forward<Args>(args)...), version(v) {}
    T value;
    std::uint64_t version;
    /// Fallback pins: -(releases so far) until the node is unlinked, when the writer adds the
    /// count that was packed in the head word; the node is free-able when it reads 0.
    Atom<std::int64_t> pins{0};
    node* next_retired = nullptr;  // writer-only, under the writer lock
  };

  static_assert(sizeof(void*) == 8 && sizeof(std::uintptr_t) == 8,
                "the head word packs a 48-bit pointer with a 16-bit fallback pin count");
  static_assert(Atom<std::uintptr_t>::is_always_lock_free && Atom<std::int64_t>::is_always_lock_free,
                "the head word and pin counts are used from signal handlers: they must be lock-free");
  static constexpr int pin_shift = 48;
  static constexpr std::uintptr_t ptr_mask = (std::uintptr_t{1} << pin_shift) - 1;
  static constexpr std::uintptr_t pin_unit = std::uintptr_t{1} << pin_shift;
  static constexpr std::uintptr_t pin_max = 0xFFFF;
  /// A fallback reader whose pin makes the head count reach this moves the count into the node.
  static constexpr std::uintptr_t pin_flush = 0x4000;
  static constexpr std::size_t max_batch = std::size_t{1} << 20;

  static node* to_node(std::uintptr_t w) noexcept { return reinterpret_cast<node*>(w & ptr_mask); }

 public:
  using value_type = T;

  /// A read guard: keeps one version alive and unchanged while it lives. Move-only. May be released
  /// on another thread. Every member (accessors, move, reset, destructor) is wait-free and
  /// async-signal-safe, and none runs ~T.
  ///   auto g = s.load(); int p = g->port; const T& v = *g;
  class guard {
   public:
    guard() noexcept = default;
    guard(guard&& o) noexcept : slot_(o.slot_), node_(std::exchange(o.node_, nullptr)) {}
    guard& operator=(guard&& o) noexcept {
      if (this != &o) {
        reset();
        slot_ = o.slot_;
        node_ = std::exchange(o.node_, nullptr);
      }
      return *this;
    }
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;
    ~guard() { reset(); }

    /// The held value. Precondition: the guard is not empty.
    const T& operator*() const noexcept { return node_->value; }
    const T* operator->() const noexcept { return &node_->value; }
    /// The held value's address, or null for an empty (moved-from / reset) guard.
    const T* get() const noexcept { return node_ ? &node_->value : nullptr; }
    explicit operator bool() const noexcept { return node_ != nullptr; }
    /// Version number of the held value (0 = the constructed value). Precondition: not empty.
    std::uint64_t version() const noexcept { return node_->version; }
    /// Diagnostic: true when this guard came from the fallback path (pin count, not a slot).
    bool uses_fallback() const noexcept { return node_ != nullptr && slot_ == nullptr; }

    /// Releases the version now. Wait-free, async-signal-safe, no destructor runs.
    void reset() noexcept {
      if (node_ == nullptr) return;
      if (slot_ != nullptr) {
        // release: pairs with the acquire slot loads of writers' scans — our reads of the value
        // happen-before its destruction.
        slot_->store(0, std::memory_order_release);
      } else {
        // release: pairs with the acquire pins load in a writer's scan, as above.
        node_->pins.fetch_sub(1, std::memory_order_release);
      }
      node_ = nullptr;
    }

   private:
    friend class snapshot;
    guard(Atom<std::uintptr_t>* slot, node* n) noexcept : slot_(slot), node_(n) {}
    Atom<std::uintptr_t>* slot_ = nullptr;  // null: a fallback pin
    node* node_ = nullptr;
  };

  /// Constructors: blocking (allocate; create the thread-exit key once; register membarrier once);
  /// not async-signal-safe.
  /// Holds a default-constructed T.  `lfkit::snapshot<cfg> s;`
  snapshot() requires std::default_initializable<T> : snapshot(std::in_place) {}
  /// Holds `value`. Blocking (allocates). `lfkit::snapshot<cfg> s(cfg{...});`
  explicit snapshot(T value, snapshot_options opt = {}) : snapshot(std::in_place, opt, std::move(value)) {}
  /// Constructs the value in place from args. `lfkit::snapshot<std::string> s(std::in_place, 3, 'x');`
  template <class... Args>
    requires std::constructible_from<T, Args...>
  explicit snapshot(std::in_place_t, Args&&... args)
      : snapshot(std::in_place, snapshot_options{}, std::forward<Args>(args)...) {}
  /// As above, with options. Throws std::invalid_argument for a reclaim_batch out of [1, 2^20].
  template <class... Args>
    requires std::constructible_from<T, Args...>
  snapshot(std::in_place_t, snapshot_options opt, Args&&... args) : batch_(opt.reclaim_batch) {
    if (opt.reclaim_batch == 0 || opt.reclaim_batch > max_batch) {
      throw std::invalid_argument("lfkit::snapshot: reclaim_batch = " +
                                  std::to_string(opt.reclaim_batch) + " is outside [1, " +
                                  std::to_string(max_batch) + "]");
    }
    static_assert(alignof(decltype(head_)) <= cache_line_size &&
                      sizeof(decltype(head_)) <= cache_line_size,
                  "head_ and writer_lock_ are both aligned to cache_line_size, so they sit on "
                  "distinct padding units only if the head word fits in one");
    detail::asymmetric_fence_prepare();
    domain::prepare();
    hazards_.reserve(snapshot_max_threads * snapshot_slots_per_thread);
    node* n = make_node(0, std::forward<Args>(args)...);
    // relaxed: the snapshot itself is published to other threads by whatever hands them its
    // address (thread creation, a mutex, a release store), which orders this store too.
    head_.store(reinterpret_cast<std::uintptr_t>(n), std::memory_order_relaxed);
  }

  snapshot(const snapshot&) = delete;
  snapshot& operator=(const snapshot&) = delete;

  /// Destroys the current and every retired version. Precondition: no guard on this snapshot is
  /// alive and no operation is running. Blocking (runs ~T); not async-signal-safe.
  ~snapshot() {
    // relaxed: precondition — no concurrent access.
    delete to_node(head_.load(std::memory_order_relaxed));
    free_list(retired_head_);
  }

  /// Returns a guard on the current version. Lock-free (retries only when a writer published
  /// between its two loads), no allocation, no RMW on a shared line on the fast path, never runs
  /// ~T; async-signal-safe (may interrupt any operation of its own thread).
  ///   if (auto g = s.load(); g->enabled) serve(g->port);
  [[nodiscard]] guard load() const noexcept {
    // relaxed: thread-private (see snapshot_domain::t_rec).
    record* rec = domain::t_rec.load(std::memory_order_relaxed);
    if (rec != nullptr) [[likely]] {
      Atom<std::uintptr_t>* s = &rec->slot[0];
      // acquire: pairs with the release store of 0 in guard::reset, which may have run on another
      // thread (a guard moved there): that thread's reads through the guard then happen-before our
      // reuse of the slot, and so before any writer's scan that reads the value we store next.
      // (Only this thread and its handlers turn a free slot into a used one.)
      if (s->load(std::memory_order_acquire) != 0) [[unlikely]] {
        s = find_free_slot(rec);
        if (s == nullptr) return load_fallback();
      }
      return protect(s);
    }
    return load_slow();
  }

  /// Publishes `value` as the next version. Blocking (allocation, writer lock, a scan every
  /// reclaim_batch publishes); not async-signal-safe. May destroy old versions (runs ~T).
  ///   s.store(cfg{...});
  void store(T value) { publish(make_node(0, std::move(value)), false); }

  /// Constructs the next version in place and publishes it. Blocking, as store().
  template <class... Args>
    requires std::constructible_from<T, Args...>
  void emplace(Args&&... args) {
    publish(make_node(0, std::forward<Args>(args)...), false);
  }

  /// Publishes `value` and returns a guard on the version it replaced (no copy: the old version
  /// stays pinned until the guard is released). Blocking, as store().
  ///   auto old = s.exchange(cfg{...}); log(old->port);
  [[nodiscard]] guard exchange(T value) {
    node* old = publish(make_node(0, std::move(value)), true);
    return guard(nullptr, old);
  }

  /// Replaces the value with f(current), where f: const T& -> T (convertible). If another writer
  /// publishes while f runs, f is called again on the newer value, so concurrent update()s
  /// compose (N threads x M increments end at exactly N*M). f runs outside the writer lock and may
  /// be called several times: keep it free of side effects. Returns the version published.
  /// Blocking (allocation, writer lock); not async-signal-safe. Exceptions from f or T propagate,
  /// publishing nothing.
  ///   s.update([](const counters& c) { return counters{c.a + 1, c.b + 1}; });
  template <class F>
    requires std::is_invocable_v<F&, const T&>
  std::uint64_t update(F f) {
    for (;;) {
      guard g = load();
      node* n = make_node(0, std::invoke(f, std::as_const(*g)));
      node* seen = g.node_;
      lock();
      // relaxed: under the writer lock only writers change the pointer bits, and we are the writer.
      if (to_node(head_.load(std::memory_order_relaxed)) == seen) {
        // The lock holder is the only one who retires; the current version cannot go away, so the
        // guard may go now, letting this very publish reclaim it.
        g.reset();
        node* to_free = nullptr;
        publish_locked(n, false, to_free);
        const std::uint64_t v = n->version;
        unlock();
        free_list(to_free);
        return v;
      }
      unlock();
      delete n;  // another writer won; build again from the newer value
    }
  }

  /// Latest published version number (0 = never replaced). Wait-free, async-signal-safe.
  ///   auto v = s.version();
  [[nodiscard]] std::uint64_t version() const noexcept {
    // acquire: pairs with the release store in publish_locked, so a later load() sees >= this.
    return version_.load(std::memory_order_acquire);
  }

  /// Retired versions not yet destroyed; <= (versions pinned at the last scan) + reclaim_batch - 1
  /// between writer operations. Wait-free, async-signal-safe. For tests and monitoring.
  [[nodiscard]] std::size_t retired_count() const noexcept {
    return retired_count_.load(std::memory_order_relaxed);  // relaxed: a statistic
  }

  /// Scans now and destroys every retired version no guard holds. Blocking (writer lock, one
  /// membarrier); not async-signal-safe. Returns retired_count() afterwards.
  ///   s.reclaim();
  std::size_t reclaim() {
    node* to_free = nullptr;
    lock();
    scan_locked(to_free);
    const std::size_t left = retired_n_;
    unlock();
    free_list(to_free);
    return left;
  }

  /// The reclaim_batch this snapshot was built with. Wait-free, async-signal-safe.
  ///   auto b = s.reclaim_batch();
  [[nodiscard]] std::size_t reclaim_batch() const noexcept { return batch_; }

 private:
  // ---- read side -------------------------------------------------------------------------------

  /// Hazard-pointer protection of the current version through slot s (free on entry).
  guard protect(Atom<std::uintptr_t>* s) const noexcept {
    // relaxed: validated below by the acquire re-load.
    std::uintptr_t w = head_.load(std::memory_order_relaxed);
    for (;;) {
      node* p = to_node(w);
      // release: a writer whose scan reads this value also sees every read this thread made through
      // earlier guards of this slot (C++20 release sequences no longer cover later relaxed stores).
      s->store(reinterpret_cast<std::uintptr_t>(p), std::memory_order_release);
      // Store->load order against the writer's exchange + heavy fence (a compiler barrier when the
      // writer uses membarrier; a seq_cst RMW under TSan).
      detail::asymmetric_light_fence();
      // acquire: pairs with the writer's release exchange that published p, so *p is visible.
      const std::uintptr_t w2 = head_.load(std::memory_order_acquire);
      if (to_node(w2) == p) [[likely]] return guard(s, p);
      w = w2;  // a writer published in between: protect the newer version instead
    }
  }

  [[gnu::noinline]] static Atom<std::uintptr_t>* find_free_slot(record* rec) noexcept {
    for (auto& s : rec->slot) {
      if (s.load(std::memory_order_acquire) == 0) return &s;  // acquire: see load()
    }
    return nullptr;
  }

  [[gnu::noinline]] guard load_slow() const noexcept {
    record* rec = domain::try_bind();
    if (rec != nullptr) {
      Atom<std::uintptr_t>* s = find_free_slot(rec);
      if (s != nullptr) return protect(s);
    }
    return load_fallback();
  }

  /// Split reference count: increment the pin count packed in the head word, which both reads
  /// the pointer and protects it in one atomic step. Lock-free, signal-safe.
  [[gnu::noinline]] guard load_fallback() const noexcept {
    // relaxed: the CAS below validates it.
    std::uintptr_t w = head_.load(std::memory_order_relaxed);
    for (;;) {
      if ((w >> pin_shift) >= pin_max) {  // saturated: some reader is flushing it (see below)
        detail::cpu_relax();
        w = head_.load(std::memory_order_relaxed);  // relaxed: re-validated by the CAS
        continue;
      }
      const std::uintptr_t mine = w + pin_unit;
      // acquire: pairs with the writer's release exchange that published the node (our RMW
      // continues its release sequence even when another reader's pin came in between).
      if (head_.compare_exchange_weak(w, mine, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        node* p = to_node(w);
        // The head count only grows while p is current (releases decrement p->pins), so a reader
        // that reads one unchanging version on the fallback path would saturate it; move it.
        if ((mine >> pin_shift) >= pin_flush) flush_pins(p, mine);
        return guard(nullptr, p);
      }
    }
  }

  /// Moves the pin count from the head word into p->pins. The caller holds a pin on p, so p stays
  /// alive. p->pins is raised first and lowered again if the head word moved on, so it only ever
  /// over-counts in between: a writer can never see it reach 0 too early. Wait-free, signal-safe.
  /// Retries while p is still current and its packed count still needs moving, so the move is not
  /// left to the next reader (which would let contention push the count towards saturation):
  /// lock-free, since a retry means another thread changed the head word.
  void flush_pins(node* p, std::uintptr_t w) const noexcept {
    for (;;) {
      const auto count = static_cast<std::int64_t>(w >> pin_shift);
      // relaxed: published to writers by the release CAS below.
      p->pins.fetch_add(count, std::memory_order_relaxed);
      // release: pairs with the writer's acq_rel exchange of head_ — a writer that takes over the
      // zeroed count also sees the pins we added. Relaxed on failure: nothing is published.
      if (head_.compare_exchange_strong(w, w & ptr_mask, std::memory_order_release,
                                        std::memory_order_relaxed)) {
        return;
      }
      // relaxed: the count stayed in (or was transferred from) the head word; undo ours.
      p->pins.fetch_sub(count, std::memory_order_relaxed);
      if (to_node(w) != p || (w >> pin_shift) < pin_flush) return;  // moved on, or done by another
    }
  }

  // ---- write side ------------------------------------------------------------------------------

  template <class... Args>
  static node* make_node(std::uint64_t v, Args&&... args) {
    auto n = std::make_unique<node>(v, std::forward<Args>(args)...);
    if ((reinterpret_cast<std::uintptr_t>(n.get()) & ~ptr_mask) != 0) {
      throw std::runtime_error("lfkit::snapshot: node allocated above 2^48; pointer packing impossible");
    }
    return n.release();
  }

  static void free_list(node* n) noexcept {
    while (n != nullptr) delete std::exchange(n, n->next_retired);
  }

  /// Publishes n; returns the old version (pinned once more for the caller if keep_old).
  node* publish(node* n, bool keep_old) {
    node* to_free = nullptr;
    lock();
    node* old = publish_locked(n, keep_old, to_free);
    unlock();
    free_list(to_free);
    return old;
  }

  node* publish_locked(node* n, bool keep_old, node*& to_free) noexcept {
    // relaxed: the pointer bits change only under the writer lock, which we hold.
    n->version = to_node(head_.load(std::memory_order_relaxed))->version + 1;
    // acq_rel: release publishes *n to readers' acquire loads; acquire orders the pin count we take
    // over (readers' pinning CASes) before our use of it.
    const std::uintptr_t old_w = head_.exchange(reinterpret_cast<std::uintptr_t>(n),
                                                std::memory_order_acq_rel);
    node* old = to_node(old_w);
    const auto pinned = static_cast<std::int64_t>(old_w >> pin_shift) + (keep_old ? 1 : 0);
    // relaxed: read back only by writers under the lock; readers' releases are fetch_subs whose
    // order against this add does not matter (the sum is what counts).
    if (pinned != 0) old->pins.fetch_add(pinned, std::memory_order_relaxed);
    // release: pairs with the acquire load in version().
    version_.store(n->version, std::memory_order_release);
    old->next_retired = retired_head_;
    retired_head_ = old;
    ++retired_n_;
    if (retired_n_ >= survivors_ + batch_) {
      scan_locked(to_free);
    } else {
      retired_count_.store(retired_n_, std::memory_order_relaxed);  // relaxed: a statistic
    }
    return old;
  }

  /// Destroys (later, via to_free) every retired version that no slot or pin protects.
  void scan_locked(node*& to_free) noexcept {
    // Pairs with the readers' light fences: after it, every slot store that preceded a reader's
    // fence is visible, or that reader's re-load of head_ sees our exchange and it retries.
    detail::asymmetric_heavy_fence();
    hazards_.clear();
    // seq_cst: pairs with the seq_cst raise of high_water in try_bind (see there).
    const std::size_t hw = domain::high_water.load(std::memory_order_seq_cst);
    for (std::size_t i = 0; i < hw; ++i) {
      for (auto& s : domain::records[i].slot) {
        // acquire: pairs with the readers' release stores (protect) and releases (guard::reset).
        const std::uintptr_t v = s.load(std::memory_order_acquire);
        if (v != 0) hazards_.push_back(v);  // capacity reserved in the constructor: no allocation
      }
    }
    std::sort(hazards_.begin(), hazards_.end());
    node** link = &retired_head_;
    while (node* n = *link) {
      const bool hazard =
          std::binary_search(hazards_.begin(), hazards_.end(), reinterpret_cast<std::uintptr_t>(n));
      // acquire: pairs with the release fetch_sub of fallback guards.
      if (!hazard && n->pins.load(std::memory_order_acquire) == 0) {
        *link = n->next_retired;
        n->next_retired = to_free;
        to_free = n;
        --retired_n_;
      } else {
        link = &n->next_retired;
      }
    }
    survivors_ = retired_n_;
    retired_count_.store(retired_n_, std::memory_order_relaxed);  // relaxed: a statistic
  }

  /// Writer lock: 0 free, 1 held, 2 held with waiters (Drepper's futex mutex, on Atom::wait).
  void lock() noexcept {
    std::uint32_t c = 0;
    // acquire: pairs with the release in unlock(); the writer state it protects is plain data.
    // relaxed on failure: nothing was acquired.
    if (writer_lock_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
      return;
    }
    for (int i = 0; i < 64 && c != 0; ++i) {  // brief spin: critical sections are short
      detail::cpu_relax();
      c = 0;
      // acquire: pairs with the release in unlock(); relaxed on failure: nothing was acquired.
      if (writer_lock_.compare_exchange_weak(c, 1, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
        return;
      }
    }
    if (c != 2) c = writer_lock_.exchange(2, std::memory_order_acquire);  // acquire: as above
    while (c != 0) {
      writer_lock_.wait(2, std::memory_order_relaxed);  // relaxed: the exchange below acquires
      c = writer_lock_.exchange(2, std::memory_order_acquire);  // acquire: as above
    }
  }
  void unlock() noexcept {
    // release: pairs with the acquire in lock().
    if (writer_lock_.exchange(0, std::memory_order_release) == 2) writer_lock_.notify_one();
  }

  /// Head word: node address (low 48 bits) | fallback pins taken on it (high 16 bits). Read by
  /// every load(), alone on its padding unit: a publish invalidates readers' copy exactly once.
  alignas(cache_line_size) mutable Atom<std::uintptr_t> head_{0};
  /// Writer state, on another padding unit so that writers' lock traffic and statistics never
  /// invalidate the line every load() reads. version()/retired_count() are rare reads.
  alignas(cache_line_size) Atom<std::uint32_t> writer_lock_{0};
  Atom<std::uint64_t> version_{0};
  Atom<std::size_t> retired_count_{0};
  node* retired_head_ = nullptr;  // under the writer lock
  std::size_t retired_n_ = 0;     // under the writer lock
  std::size_t survivors_ = 0;     // under the writer lock: retired versions kept by the last scan
  std::size_t batch_;
  std::vector<std::uintptr_t> hazards_;  // under the writer lock; scan scratch, preallocated
};

}  // namespace lfkit

#endif  // LFKIT_SNAPSHOT_HPP
