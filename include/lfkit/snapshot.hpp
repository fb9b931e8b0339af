// SPDX-License-Identifier: BSL-1.0
// lfkit/snapshot.hpp — a copy-on-write snapshot cell with bounded reclamation and
// async-signal-safe reads.
//
// Part of lfkit (header-only, C++20). Depends on the C++ standard library, lfkit/detail/
// {platform,atomic_hooks,writer_lock}.hpp, and POSIX threads (pthread_key_create /
// pthread_setspecific, used once per thread to hand a thread's hazard record back at thread exit).
// Linux membarrier(2) is used through atomic_hooks when available.
//
// ------------------------------------------------------------------------------------------------
// What it is
//   lfkit::snapshot<T> holds one immutable version of a T. Readers call load() and get a guard
//   through which they see a whole version: it stays alive and unchanged while the guard lives,
//   whatever writers do meanwhile. Writers build a new version off to the side and publish it with
//   one compare-and-swap (store / exchange / emplace / update / compare_exchange), so no
//   interruption can ever expose a half-written value.
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
//   * update(f) and compare_exchange(expected, desired) are the read-modify-writes: update runs
//     f(current) outside any lock and publishes with a CAS, running f again if another writer
//     published in between, so no increment is ever lost; compare_exchange publishes only if the
//     current version is still the one `expected` holds.
//
// Algorithm
//   The head word packs the current version's address with a 16-bit fallback pin count. Readers
//   protect the version they read with a hazard slot (store, compiler-only fence, re-check). Writers
//   take a node from the cell's pool (a segment of up to 16 at a time, kept per thread), construct
//   the value in it, and CAS the head; each node links to the one it replaced (and, until judged,
//   to the one below that), so the versions form a chain ordered by version number and retiring
//   costs nothing. Every reclaim_batch publishes one writer scans: it takes the scan lock (a
//   detail::writer_lock), issues one heavy fence (membarrier(2)), reads every hazard slot, walks
//   the chain as two interleaved lists (two cache misses in flight), destroys the values of the
//   retired versions no guard holds, and splices their nodes, already cut into segments, into the
//   pool. In the steady state a write allocates nothing, makes one CAS on the head (plus one on
//   the pool's try-lock every 16 writes) and no system call, and touches no cold node but its own
//   (prefetched one write ahead); the scan's cost is shared by reclaim_batch writes.
//
// Reclamation and the memory bound
//   Old versions are destroyed by writers only — never by a reader, a guard's destructor or a
//   signal handler. At any moment when no writer operation is in progress,
//
//       retired_count() <= P + B - 1
//
//   where B = reclaim_batch() and P = the number of versions pinned at the last scan — at most the
//   number of guards alive (plus loads and writes in progress) at that moment, since each guard
//   pins exactly one version. While writers run, each may add one more until it finishes its scan.
//   A reader that stalls pins only the one version it holds. reclaim() forces a scan: with no guard
//   alive, retired_count() is 0 afterwards.
//   Nodes: the current one, the retired ones, and a pool of at most B free nodes (their values
//   already destroyed) kept for reuse; a write whose pool try-lock is busy or empty allocates. So
//   the cell holds at most P + 2B nodes when no writer runs (plus one per writer in flight). A
//   writer thread takes up to 16 nodes from a pool at once and keeps them for its next writes to
//   any snapshot<T, Atom> (freed at thread exit): up to 16 more nodes per writer thread and T.
//   Default B: 16, raised for small T so that the retired versions take at most ~64 KiB
//   (snapshot_default_batch<T>: 1024 for a 32-byte T) — the scan's membarrier is what writes pay
//   for, and a larger batch shares it among more writes. Pass snapshot_options{B} to choose.
//
// Thread limits and the domain
//   Hazard slots live in a pool ("domain") of LFKIT_SNAPSHOT_MAX_THREADS (default 128) records of
//   snapshot_slots_per_thread (8) slots. Each snapshot remembers the domain it was built with and
//   every load, write and scan reaches it through the snapshot, so a shared library built with
//   -fvisibility=hidden (which gets its own copy of the domain) can read and write a snapshot the
//   program owns: its hazards land in the snapshot's domain, which that snapshot's writers scan.
//   A thread claims a record (by CAS, no allocation) at its first load() from a domain and returns
//   it at thread exit (through a pthread key destructor); a thread caches two records (two
//   domains), further domains take the fallback. A thread that finds the pool exhausted, or that
//   holds more than 8 guards at once (deep nesting of handlers, vectors of guards), takes the
//   fallback path: a compare-and-swap on the head word increments a pin count packed next to the
//   pointer (a split reference count). The fallback is correct, lock-free and signal-safe, but it
//   is a read-modify-write on the shared head line — slower, never wrong. (A writer on such a
//   thread protects the current version the same way, and then publishes under the scan lock:
//   blocking, see Progress.) A thread without a record retries claiming one every 64 fallback
//   loads. The packed count has 16 bits: a fallback load that raises it to 16384 moves it into
//   the version's own 64-bit counter, so any number of fallback loads work. The one blocking
//   corner of fallback loads: if 49151 more fallback pins on the same version arrive while that
//   move is in flight, further fallback loads spin until the mover lands it (or a writer
//   publishes) — not lock-free there, and a signal handler that interrupted the mover itself would
//   spin until a writer publishes. It takes tens of thousands of simultaneous fallback readers of
//   one version to get there.
//
// Progress and async-signal-safety (T's constructors/destructors and f excluded)
//   operation               progress                                   async-signal-safe
//   load()                  lock-free (retries only if a writer         yes, always (a load never
//                           published between its two loads; the fast    binds a record when binding
//                           path has no RMW and no allocation)           could allocate: see Binding)
//   guard release / reset   wait-free (one store or one fetch_sub)      yes
//   version(), retired_count()  lock-free (one protected load)          yes
//   compare_exchange        lock-free publish (one CAS) (*); takes a    no (may allocate; every
//                           node from the pool (try-lock, else           B-th publish scans)
//                           allocates)
//   store/exchange/emplace  lock-free publish (CAS loop) (*), as above;  no
//                           every B-th publish also scans: blocking
//                           (scan lock, one membarrier(2))
//   update(f)               as store; f re-run when another writer won  no
//   reclaim()               blocking (scan lock + membarrier)           no
//   prepare_thread()        lock-free (claims a record)                 no (pthread_setspecific)
//   constructor/destructor  blocking                                    no
//   (*) Only when the writer protects the version it replaces with a hazard slot. A writer that
//   holds it by a fallback pin publishes under the scan lock (the pin sits in the head word until
//   the publish moves it into the version, and no scan may judge the version in between), and the
//   scan lock is a sleeping lock that a scan holds across its membarrier and hazard sort: such a
//   publish is blocking, waiting for any scan in progress. That is every publish attempt of
//   store/exchange/emplace/update on a thread that holds 8 guards or has no hazard record (see
//   Thread limits), and every compare_exchange whose `expected` is a fallback guard — one that
//   such a thread's load() returned, or the guard exchange() returns (always a pin) — whether it
//   then succeeds or fails.
//   Readers never wait for writers: a writer stalled anywhere, including inside a scan, delays no
//   load() and no guard release.
//
// Signal handlers: a handler may call load() while its own thread is in the middle of a load(),
// a guard release, or a writer operation; it uses another of the thread's slots. A guard taken in
// a handler must be released before the handler returns (RAII does this; do not longjmp out of a
// handler that holds a guard, and do not move such a guard to a longer-lived place), because the
// interrupted code may reuse the slot the moment it resumes.
//
// Binding: the record is bound with pthread_setspecific, whose key destructor hands it back.
// pthread_setspecific stores into the thread descriptor without allocating for the first 32 keys
// on glibc (and for every key on musl); for a later key it may call calloc. So load() binds only
// when the domain's key index is below 32 — the usual case, making even a thread's first load()
// signal-safe. Otherwise load() never binds (it takes the fallback) and a thread binds in an
// ordinary context: any writer operation, or prepare_thread(). Thread exit: the key destructor
// marks the thread as exiting before it hands the record back, so a load() after it (a signal
// handler in glibc's exit window, a later key destructor) takes the fallback path and never binds
// a record that no destructor would return. (One corner is left: a thread that never loaded
// before it exits, whose first load() is a handler's in glibc's window after the last destructor
// round, still binds a record that stays claimed.) A guard may be moved to and released on another
// thread. After fork(), records owned by the parent's other threads stay claimed in the child
// (their pinned versions, at most one per held guard, are never freed there). A dlopen'ed library
// that uses snapshots takes a little static TLS (dlopen fails if none is left); do not dlclose it
// while threads that used it are alive (its key destructor would dangle).
//
// Requirements: 64-bit pointers whose user-space addresses fit in 48 bits (x86-64, AArch64 with
// 48-bit VA); a node allocated above 2^48 makes the writer throw std::runtime_error.
// ------------------------------------------------------------------------------------------------
#ifndef LFKIT_SNAPSHOT_HPP
#define LFKIT_SNAPSHOT_HPP

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/platform.hpp"
#include "lfkit/detail/writer_lock.hpp"

#ifndef LFKIT_SNAPSHOT_MAX_THREADS
/// Number of per-thread hazard records in a domain. Must be the same in every translation unit
/// of a program.
#define LFKIT_SNAPSHOT_MAX_THREADS 128
#endif

namespace lfkit {

/// Hazard slots per thread record: how many guards one thread (with its nested signal handlers)
/// can hold before its further loads take the fallback path.
inline constexpr std::size_t snapshot_slots_per_thread = 8;
/// Records in a domain: how many threads can read on the fast path at once.
inline constexpr std::size_t snapshot_max_threads = LFKIT_SNAPSHOT_MAX_THREADS;

/// The default reclaim_batch for a snapshot<T>: retired versions of at most ~64 KiB, between 16
/// and 1024 versions.
template <class T>
inline constexpr std::size_t snapshot_default_batch =
    std::clamp<std::size_t>((std::size_t{64} << 10) / (sizeof(T) + 32), 16, 1024);

/// Construction options of lfkit::snapshot.
struct snapshot_options {
  /// Retired versions that may accumulate (beyond the survivors of the last scan) before a writer
  /// scans the hazard slots; the bound is (pinned versions) + reclaim_batch - 1. Each scan costs one
  /// expedited membarrier: ~1 µs with no other thread running, tens of µs when the other CPUs run
  /// readers (the kernel waits for an IPI on each). 0 = snapshot_default_batch<T>. Range
  /// [1, 1<<20] otherwise; std::invalid_argument outside it.
  std::size_t reclaim_batch = 0;
};

namespace detail {

/// A pool of per-thread hazard records. Each shared object (with hidden visibility) has its own
/// instance, snapshot_local_domain<Atom>; a snapshot keeps a pointer to the one it was built with.
template <template <class> class Atom>
struct snapshot_domain {
  /// Under a model checker (tests/model) the threads are fibers of one OS thread that share
  /// thread_local data and pthread keys: each model thread then gets its own cache in the domain,
  /// picked by atomic_hooks<Atom>::model_thread_index(), and no key is used (see cache()).
  static constexpr bool model = model_checked_v<Atom>;
  static constexpr std::size_t model_threads = 8;
  struct record;
  /// A thread's cached records, per shared object (thread_local): at most two domains.
  struct thread_cache {
    std::atomic<record*> rec[2];
    /// Fallback loads left before a thread without a record tries again to claim one.
    std::atomic<unsigned> bind_backoff;
    /// Set by the key destructor: the thread is exiting, never bind again.
    std::atomic<bool> exiting;
  };
  struct alignas(cache_line_size) record {
    /// The owner's domain and cache: written by the owner when it binds, read by the owner (load's
    /// check, the key destructor); std::atomic only because its signal handlers read them too.
    std::atomic<snapshot_domain*> dom;
    /// 0 = free; otherwise the address of the version this slot protects. Written by the owning
    /// thread (and its nested signal handlers, which finish before it resumes) and cleared by
    /// whichever thread releases the guard; read by writers' scans.
    Atom<std::uintptr_t> slot[snapshot_slots_per_thread];
    /// 0 = free, 1 = bound to a thread.
    Atom<std::uint32_t> owned;
    std::atomic<thread_cache*> cache;
  };
  static_assert(
      model || sizeof(record) == cache_line_size,
      "one record per padding unit: a reader's slot stores must never invalidate the line "
      "of another thread's record");
  static_assert(Atom<std::uintptr_t>::is_always_lock_free &&
                    Atom<std::uint32_t>::is_always_lock_free,
                "slots are written from signal handlers; a lock-based atomic could deadlock there");

  record records[snapshot_max_threads]{};
  /// One past the highest record ever claimed; writers scan records [0, high_water).
  Atom<std::size_t> high_water{0};
  /// key_state values: the key is created once, by the first snapshot constructor.
  enum : int { k_none = 0, k_creating = 1, k_failed = 2, k_load_binds = 3, k_writer_binds = 4 };
  Atom<int> key_state{k_none};
  pthread_key_t key{};

  /// This thread's cache, in this shared object. Constant-initialised and trivially destructible,
  /// with the initial-exec model: every access is a plain %fs-relative load, no TLS wrapper, no
  /// __tls_get_addr — safe in a signal handler.
  [[gnu::tls_model("initial-exec")]] static inline constinit thread_local thread_cache tls{};
  struct no_model_caches {};
  [[no_unique_address]] std::conditional_t<model, thread_cache[model_threads], no_model_caches>
      model_caches{};

  /// This thread's cache: tls, or under a model checker the model thread's entry.
  thread_cache& cache() noexcept {
    if constexpr (model) {
      return model_caches[model_index()];
    } else {
      return tls;
    }
  }
  /// The model checker's thread index (model tests run at most model_threads threads).
  static std::size_t model_index() noexcept {
    const unsigned i = atomic_hooks<Atom>::model_thread_index();
    if (i >= model_threads) std::terminate();
    return i;
  }
  /// Whether d is this shared object's own domain (under a model checker every snapshot has its
  /// own domain, which counts as local).
  static bool is_local(const snapshot_domain* d) noexcept {
    if constexpr (model) {
      return true;
    } else {
      return d == local();
    }
  }

  static void on_thread_exit(void* p) noexcept {
    auto* r = static_cast<record*>(p);
    // relaxed (all three): the cache is this thread's, read only by it and its signal handlers.
    thread_cache* c = r->cache.load(std::memory_order_relaxed);
    c->exiting.store(true, std::memory_order_relaxed);  // first: a handler from here on never binds
    for (auto& e : c->rec) {
      record* mine = r;
      e.compare_exchange_strong(mine, nullptr, std::memory_order_relaxed);
    }
    // release (1): pairs with the acquire claim (2) of the record's next owner. Not reached in the
    // model (fibers never exit; mutants survive): test_snapshot's record hand-back under TSan is.
    r->owned.store(0, std::memory_order_release);
  }

  /// Creates the thread-exit key once. Not signal-safe; called from snapshot constructors.
  void prepare() noexcept {
    int st = k_none;
    // acquire (3): pairs with the release (4) below, so `key` is visible. (3)-(5) race only between
    // constructors sharing a domain: never in the model, where each snapshot owns its domain.
    if (key_state.compare_exchange_strong(st, k_creating, std::memory_order_acquire,
                                          std::memory_order_acquire)) {
      int next = k_failed;
      if constexpr (model) {
        next = k_load_binds;  // no key under a model checker: records die with the domain
      } else if (pthread_key_create(&key, &on_thread_exit) == 0) {
        next = k_writer_binds;
        // pthread_setspecific allocates nothing for the first 32 keys (glibc's in-descriptor
        // block; musl never allocates).
        if constexpr (std::is_integral_v<pthread_key_t>) {
          if (static_cast<unsigned long long>(key) < 32) next = k_load_binds;
        }
      }
      // release (4): publishes `key`; pairs with (3) and (5).
      key_state.store(next, std::memory_order_release);
      return;
    }
    while (st == k_creating) {  // another constructor is creating it: microseconds
      atomic_hooks<Atom>::pause();
      st = key_state.load(std::memory_order_acquire);  // acquire: as (3)
    }
  }

  /// Claims a free record for this thread in this domain and arranges its release at thread exit.
  /// Lock-free; async-signal-safe when !from_writer only if key_state is k_load_binds, which is
  /// the only case it binds then. Returns null when it cannot bind (pool exhausted, backing off,
  /// thread exiting, key unusable).
  record* try_bind(bool from_writer) noexcept {
    thread_cache& c = cache();
    // relaxed (thread_cache): private to this thread and its signal handlers.
    if (c.exiting.load(std::memory_order_relaxed)) return nullptr;
    const unsigned backoff = c.bind_backoff.load(std::memory_order_relaxed);
    if (backoff != 0 && !from_writer) {
      c.bind_backoff.store(backoff - 1, std::memory_order_relaxed);
      return nullptr;
    }
    // acquire (5): pairs with the release (4) in prepare, so `key` is initialised.
    const int st = key_state.load(std::memory_order_acquire);
    if (st != k_load_binds && !(st == k_writer_binds && from_writer)) return nullptr;
    for (std::size_t i = 0; i < snapshot_max_threads; ++i) {
      record& r = records[i];
      std::uint32_t expected = 0;
      // relaxed pre-check: only a hint to skip owned records without an RMW.
      if (r.owned.load(std::memory_order_relaxed) != 0) continue;
      // acquire (2): pairs with the release (1) in on_thread_exit of the previous owner (none in
      // the model: no thread exits there).
      if (!r.owned.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
        continue;
      }
      // Raise high_water before any slot of this record can be used. seq_cst: this store must be
      // visible to any writer scan that could miss our later slot store (it precedes our light
      // fence just like the slot store does). Stronger than needed given the light/heavy fence
      // pair (the model's one-step mutants survive); kept: one RMW per bind, one load per scan.
      std::size_t hw = high_water.load(std::memory_order_seq_cst);
      while (hw < i + 1 && !high_water.compare_exchange_weak(hw, i + 1, std::memory_order_seq_cst,
                                                             std::memory_order_seq_cst)) {
      }
      r.dom.store(this, std::memory_order_relaxed);  // relaxed: read by this thread only
      r.cache.store(&c, std::memory_order_relaxed);  // relaxed: as above
      // Install in the cache: entry 0 holds this shared object's own domain (load()'s fast path
      // looks only there), entry 1 one other domain. A nested handler may have bound a record of
      // this domain meanwhile: then keep that one.
      std::atomic<record*>& entry = c.rec[is_local(this) ? 0 : 1];
      record* x = nullptr;
      // relaxed: thread-private. On failure x is the entry's record (a handler's, or another
      // domain's).
      if (!entry.compare_exchange_strong(x, &r, std::memory_order_relaxed)) {
        // release: as (1). Model: not reached (needs a nested signal handler's bind).
        r.owned.store(0, std::memory_order_release);
        if (x->dom.load(std::memory_order_relaxed) == this) return x;  // relaxed: thread-private
        c.bind_backoff.store(64, std::memory_order_relaxed);           // relaxed: thread-private
        return nullptr;
      }
      if (!set_exit_key(&r)) {
        for (auto& e : c.rec) {
          record* mine = &r;
          e.compare_exchange_strong(mine, nullptr, std::memory_order_relaxed);  // relaxed: private
        }
        // release: as (1). Model: not reached (pthread_setspecific failing).
        r.owned.store(0, std::memory_order_release);
        c.bind_backoff.store(64, std::memory_order_relaxed);  // relaxed: thread-private
        return nullptr;
      }
      return &r;
    }
    c.bind_backoff.store(64, std::memory_order_relaxed);  // relaxed: thread-private
    return nullptr;
  }

  /// Arranges r's return at thread exit (the key destructor). Nothing under a model checker.
  bool set_exit_key(record* r) noexcept {
    if constexpr (model) {
      return true;
    } else {
      return pthread_setspecific(key, r) == 0;
    }
  }

  /// This shared object's own domain (defined below).
  static snapshot_domain* local() noexcept;

  /// Number of records currently bound to threads (diagnostics and tests). Wait-free per record.
  std::size_t records_in_use() const noexcept {
    std::size_t n = 0;
    for (auto& r : records) n += r.owned.load(std::memory_order_relaxed);  // relaxed: a statistic
    return n;
  }
};

/// This shared object's domain (one per program unless libraries hide their symbols).
template <template <class> class Atom>
inline constinit snapshot_domain<Atom> snapshot_local_domain{};

template <template <class> class Atom>
inline snapshot_domain<Atom>* snapshot_domain<Atom>::local() noexcept {
  return &snapshot_local_domain<Atom>;
}

}  // namespace detail

/// A copy-on-write snapshot of a T: lock-free, allocation-free, async-signal-safe reads; old
/// versions reclaimed by writers with a bound of (pinned versions + reclaim_batch - 1). See the
/// file comment for semantics, the memory bound and thread limits.
template <class T, template <class> class Atom = std::atomic>
class snapshot {
  using domain = detail::snapshot_domain<Atom>;
  using record = typename domain::record;
  using hooks = atomic_hooks<Atom>;

  struct node {
    /// The value, alive from publication (or construction for publication) until a scan frees it;
    /// a union member so that the node outlives it (constructed and destroyed by hand).
    union {
      T v;
    };
    /// Fallback pins: readers' releases subtract 1; the writer that unlinks the node adds the count
    /// packed in the head word (while it still protects the node). Free-able at 0 once unlinked.
    Atom<std::int64_t> pins{0};
    std::uint64_t version = 0;  // written before the publishing CAS, immutable while published
    node* prev = nullptr;       // the version this one replaced (the chain scans walk)
    /// Pool / scan lists (writers only); while the node is published or retired but not yet
    /// judged, the version two below it (prev->prev), so that a scan walks two chains at once.
    node* next = nullptr;
    node() noexcept {}
    ~node() {}
    node(const node&) = delete;
    node& operator=(const node&) = delete;
    T& value() noexcept { return v; }
    template <class... Args>
    void construct(Args&&... args) {
      std::construct_at(std::addressof(v), std::forward<Args>(args)...);
    }
    void destroy() noexcept { std::destroy_at(std::addressof(v)); }
  };

  static_assert(sizeof(void*) == 8 && sizeof(std::uintptr_t) == 8,
                "the head word packs a 48-bit pointer with a 16-bit fallback pin count");
  static_assert(
      Atom<std::uintptr_t>::is_always_lock_free && Atom<std::int64_t>::is_always_lock_free,
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
    const T& operator*() const noexcept { return node_->value(); }
    const T* operator->() const noexcept { return std::addressof(node_->value()); }
    /// The held value's address, or null for an empty (moved-from / reset) guard.
    const T* get() const noexcept { return node_ ? std::addressof(node_->value()) : nullptr; }
    explicit operator bool() const noexcept { return node_ != nullptr; }
    /// Version number of the held value (0 = the constructed value). Precondition: not empty.
    std::uint64_t version() const noexcept { return node_->version; }
    /// Diagnostic: true when this guard came from the fallback path (pin count, not a slot).
    bool uses_fallback() const noexcept { return node_ != nullptr && slot_ == nullptr; }

    /// Releases the version now. Wait-free, async-signal-safe, no destructor runs.
    void reset() noexcept {
      if (node_ == nullptr) return;
      if (slot_ != nullptr) {
        // release (6): pairs with the acquire slot loads (7) of writers' scans — our reads of the
        // value happen-before its destruction.
        slot_->store(0, std::memory_order_release);
      } else {
        // release (8): pairs with the acquire pins load (9) in a writer's scan, as above.
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
  /// not async-signal-safe. They bind the calling thread's record.
  /// Holds a default-constructed T.  `lfkit::snapshot<cfg> s;`
  snapshot()
    requires std::default_initializable<T>
      : snapshot(std::in_place) {}
  /// Holds `value`. `lfkit::snapshot<cfg> s(cfg{...});`
  explicit snapshot(T value, snapshot_options opt = {})
      : snapshot(std::in_place, opt, std::move(value)) {}
  /// Constructs the value in place from args. `lfkit::snapshot<std::string> s(std::in_place, 3, 'x');`
  template <class... Args>
    requires std::constructible_from<T, Args...>
  explicit snapshot(std::in_place_t, Args&&... args)
      : snapshot(std::in_place, snapshot_options{}, std::forward<Args>(args)...) {}
  /// As above, with options. Throws std::invalid_argument for a reclaim_batch above 2^20.
  template <class... Args>
    requires std::constructible_from<T, Args...>
  snapshot(std::in_place_t, snapshot_options opt, Args&&... args)
      : batch_(opt.reclaim_batch == 0 ? snapshot_default_batch<T> : opt.reclaim_batch) {
    if (opt.reclaim_batch > max_batch) {
      throw std::invalid_argument(
          "lfkit::snapshot: reclaim_batch = " + std::to_string(opt.reclaim_batch) +
          " is outside [1, " + std::to_string(max_batch) + "] (0 = the default)");
    }
    static_assert(alignof(decltype(head_)) <= cache_line_size &&
                      sizeof(decltype(head_)) + sizeof(domain*) <= cache_line_size,
                  "head_ and dom_ share a padding unit that the writer state does not touch");
    hooks::prepare_heavy_fence();
    dom_->prepare();
    hazards_.reserve(snapshot_max_threads * snapshot_slots_per_thread);
    node* n = new_node();
    try {
      n->construct(std::forward<Args>(args)...);
    } catch (...) {
      delete n;
      throw;
    }
    // relaxed: the snapshot itself is published to other threads by whatever hands them its
    // address (thread creation, a mutex, a release store), which orders this store too.
    head_.store(reinterpret_cast<std::uintptr_t>(n), std::memory_order_relaxed);
    prepare_thread();
  }

  snapshot(const snapshot&) = delete;
  snapshot& operator=(const snapshot&) = delete;

  /// Destroys the current and every retired version. Precondition: no guard on this snapshot is
  /// alive and no operation is running. Blocking (runs ~T); not async-signal-safe.
  ~snapshot() {
    // relaxed: precondition — no concurrent access.
    node* h = to_node(head_.load(std::memory_order_relaxed));
    std::uint64_t unscanned = h->version - scanned_.load(std::memory_order_relaxed);
    node* n = h->prev;
    destroy(h);
    for (; unscanned != 0; --unscanned) destroy(std::exchange(n, n->prev));
    while (survivors_ != nullptr) destroy(std::exchange(survivors_, survivors_->next));
    segments::for_each(pool_, [](node* x) { delete x; });
  }

  /// Returns a guard on the current version. Lock-free (retries only when a writer published
  /// between its two loads), no allocation, no RMW on a shared line on the fast path, never runs
  /// ~T; async-signal-safe (may interrupt any operation of its own thread).
  ///   if (auto g = s.load(); g->enabled) serve(g->port);
  [[nodiscard]] guard load() const noexcept {
    // relaxed: thread-private (see snapshot_domain::tls). Entry 0 is a record of this shared
    // object's domain, so a snapshot of that domain (the usual case) needs no further check.
    record* rec = dom_->cache().rec[0].load(std::memory_order_relaxed);
    if (rec != nullptr && domain::is_local(dom_)) [[likely]] {
      Atom<std::uintptr_t>* s = &rec->slot[0];
      // acquire (10): pairs with the release store of 0 (6) in guard::reset, which may have run on
      // another thread (a guard moved there): that thread's reads through the guard then
      // happen-before our reuse of the slot, and so before any writer's scan that reads the value
      // we store next. (Only this thread and its handlers turn a free slot into a used one.)
      // Model: the suite cannot show it. protect()'s light fence follows this load, and Relacy
      // runs it as a seq_cst fence, which is also an acquire fence there (with membarrier it is a
      // compiler barrier): it orders the reuse after the release it read, unless a writer's scan
      // reads the new slot value before that fence. A scenario forcing the reuse (thread 0 and
      // the writer start after the release, told by a relaxed flag) missed that window in 20000
      // random iterations; a context-bound (2) search of the moved-guard scenario found it (7.4M
      // iterations, ~5 min, earlier measurement): beyond the suite's budget.
      if (s->load(std::memory_order_acquire) != 0) [[unlikely]] {
        s = find_free_slot(rec);
        if (s == nullptr) return load_fallback();
      }
      return protect(s);
    }
    return load_slow(false);
  }

  /// Binds the calling thread's hazard record now, in an ordinary context. Needed only when the
  /// domain's key index is 32 or more (see Binding): then load() never binds. Lock-free; not
  /// async-signal-safe (pthread_setspecific). Returns false if no record could be bound.
  ///   s.prepare_thread();  // at the start of a reader thread
  bool prepare_thread() const noexcept {
    for (auto& e : dom_->cache().rec) {
      record* r = e.load(std::memory_order_relaxed);  // relaxed: thread-private
      if (r != nullptr && r->dom.load(std::memory_order_relaxed) == dom_) return true;
    }
    return dom_->try_bind(true) != nullptr;
  }

  /// Publishes `value` as the next version. Not async-signal-safe. Lock-free publish while this
  /// thread has a free hazard slot; on a thread that holds 8 guards or has no hazard record the
  /// publish takes the scan lock (blocking: waits for a scan in progress; see Progress in the
  /// file comment). May allocate (empty or busy pool); every reclaim_batch publishes scans
  /// (blocking; runs ~T of old versions).
  ///   s.store(cfg{...});
  void store(T value) { (void)publish_new(false, std::move(value)); }

  /// Constructs the next version in place and publishes it. As store() (progress included:
  /// blocking on a thread that holds 8 guards or has no hazard record).
  ///   s.emplace(args...);
  template <class... Args>
    requires std::constructible_from<T, Args...>
  void emplace(Args&&... args) {
    (void)publish_new(false, std::forward<Args>(args)...);
  }

  /// Publishes `value` and returns a guard on the version it replaced (no copy: the old version
  /// stays pinned until the guard is released). As store() (progress included: blocking on a
  /// thread that holds 8 guards or has no hazard record). The returned guard is a fallback pin:
  /// passed as compare_exchange's `expected`, it makes that call take the scan lock.
  ///   auto old = s.exchange(cfg{...}); log(old->port);
  [[nodiscard]] guard exchange(T value) {
    return guard(nullptr, publish_new(true, std::move(value)));
  }

  /// Publishes `desired` if the current version is still the one `expected` holds; otherwise
  /// `expected` is re-pointed at the current version and nothing is published (desired is
  /// destroyed). On success `expected` keeps holding the replaced version. Lock-free publish (one
  /// CAS, retried only while fallback readers change the pin count) when `expected` holds its
  /// version by a hazard slot; when it is a fallback guard (expected.uses_fallback(): from a
  /// load() on a thread that held 8 guards or had no hazard record, or from exchange()) the call
  /// takes the scan lock, succeed or fail: blocking, it waits for a scan in progress. May allocate
  /// and scan as store(). Not async-signal-safe. Precondition: `expected` holds a version of this
  /// snapshot.
  ///   auto cur = s.load();
  ///   while (!s.compare_exchange(cur, next_of(*cur))) {}
  bool compare_exchange(guard& expected, T desired) {
    node* n = make_node(std::move(desired));
    std::uint64_t v = 0;
    if (try_publish(n, expected, false, v)) {
      after_publish(v);
      return true;
    }
    drop_unpublished(n);
    expected = load_writer();
    return false;
  }

  /// Replaces the value with f(current), where f: const T& -> T (convertible), publishing with a
  /// CAS. If another writer publishes while f runs, f is called again on the newer value, so
  /// concurrent update()s compose (N threads x M increments end at exactly N*M). f runs outside
  /// any lock and may be called several times: keep it free of side effects. Returns the version
  /// published. Not async-signal-safe; lock-free among writers (f excluded) while this thread has
  /// a free hazard slot, else each publish attempt takes the scan lock (blocking) as in store();
  /// may allocate and scan as store(). Exceptions from f or T propagate, publishing nothing.
  ///   s.update([](const counters& c) { return counters{c.a + 1, c.b + 1}; });
  template <class F>
    requires std::is_invocable_v<F&, const T&>
  std::uint64_t update(F f) {
    node* n = take_node();
    detail::backoff<Atom> contention;
    for (;;) {
      guard g = load_writer();
      try {
        n->construct(std::invoke(f, std::as_const(*g)));
      } catch (...) {
        release_node(n);
        throw;
      }
      std::uint64_t v = 0;
      if (try_publish(n, g, false, v)) {
        g.reset();  // before the scan, so that this very publish may reclaim the old version
        after_publish(v);
        return v;
      }
      n->destroy();  // another writer won; build again from the newer value
      g.reset();
      contention.spin();  // let the winner's line settle before our next attempt
    }
  }

  /// Latest published version number (0 = never replaced). Lock-free, async-signal-safe.
  ///   auto v = s.version();
  [[nodiscard]] std::uint64_t version() const noexcept { return load().version(); }

  /// Retired versions not yet destroyed; <= (versions pinned at the last scan) + reclaim_batch - 1
  /// when no writer runs. While a scan runs, the count as the last completed scan left it plus the
  /// versions published since: never one scan's survivors with another's range. Lock-free
  /// (retries only when a scan completes meanwhile), async-signal-safe. For tests and monitoring.
  [[nodiscard]] std::size_t retired_count() const noexcept {
    for (;;) {
      // acquire (17): pairs with the release (18) of the scan that stored `base`: that scan's load
      // of the head happens-before version()'s, so v >= its h->version >= base, and v - base is
      // its survivors plus the versions retired since (relaxed, v could lag behind: an under- or
      // wrapped-around count). Model: a relaxed (17) survives the suite's random search.
      const std::uint64_t base = retired_base_.load(std::memory_order_acquire);
      const std::uint64_t v = version();
      // A scan that completed meanwhile may have freed versions that v - base counts: retry with
      // its result. relaxed: a re-check only, not read before version()'s acquire load of head_.
      // (Another scan storing the same base means the same count: v - base depends on base only.)
      if (retired_base_.load(std::memory_order_relaxed) == base) {
        return static_cast<std::size_t>(v - base);
      }
    }
  }

  /// Scans now and destroys every retired version no guard holds. Blocking (scan lock, one
  /// membarrier); not async-signal-safe. Returns retired_count() afterwards.
  ///   s.reclaim();
  std::size_t reclaim() {
    scan(true);
    return retired_count();
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
      // release (11): a writer whose scan reads this value (7) also sees every read this thread
      // made through earlier guards of this slot. Relacy cannot show it: it keeps the C++11 rule
      // that a same-thread store continues a release sequence (here that of (6)), which C++20
      // dropped, and its seq_cst fences synchronise with each other (one global clock).
      s->store(reinterpret_cast<std::uintptr_t>(p), std::memory_order_release);
      // Store->load order against the scanner's heavy fence (a compiler barrier when the scanner
      // uses membarrier; a seq_cst RMW under TSan).
      hooks::light_fence();
      // acquire (12): pairs with the writer's release CAS (13) that published p, so *p is visible.
      // Relacy cannot show it: it models the light fence as a seq_cst fence, and its seq_cst fences
      // synchronise with each other (one global clock; C++ fences do not, and with membarrier the
      // light fence is a compiler barrier), while the writer passed one (load_writer) after
      // building *p.
      const std::uintptr_t w2 = head_.load(std::memory_order_acquire);
      if (to_node(w2) == p) [[likely]]
        return guard(s, p);
      w = w2;  // a writer published in between: protect the newer version instead
    }
  }

  [[gnu::noinline]] static Atom<std::uintptr_t>* find_free_slot(record* rec) noexcept {
    for (auto& s : rec->slot) {
      // acquire: as (10), for slots 1..7. The suite cannot show it, for the reason given at (10)
      // (the light fence that follows is an acquire fence in Relacy).
      if (s.load(std::memory_order_acquire) == 0) return &s;
    }
    return nullptr;
  }

  /// Finds (or, when allowed, binds) this thread's record in dom_, then protects.
  [[gnu::noinline]] guard load_slow(bool from_writer) const noexcept {
    record* rec = nullptr;
    for (auto& e : dom_->cache().rec) {
      record* r = e.load(std::memory_order_relaxed);  // relaxed: thread-private
      if (r != nullptr && r->dom.load(std::memory_order_relaxed) == dom_) rec = r;
    }
    if (rec == nullptr) rec = dom_->try_bind(from_writer);
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
        hooks::pause();
        w = head_.load(std::memory_order_relaxed);  // relaxed: re-validated by the CAS
        continue;
      }
      const std::uintptr_t mine = w + pin_unit;
      // acquire: as (12) (our RMW continues the release sequence of the publishing CAS even when
      // another reader's pin came in between).
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
  /// over-counts in between: a writer can never see it reach 0 too early. Lock-free (a retry means
  /// another thread changed the head word), signal-safe.
  void flush_pins(node* p, std::uintptr_t w) const noexcept {
    for (;;) {
      const auto count = static_cast<std::int64_t>(w >> pin_shift);
      // relaxed: published to writers by the release CAS below.
      p->pins.fetch_add(count, std::memory_order_relaxed);
      // Model: not reached (needs 16384 fallback pins on one version; mutation survives).
      // release: pairs with the writer's acq_rel publishing CAS (13) — a writer that takes over
      // the zeroed count also sees the pins we added. Relaxed on failure: nothing is published.
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

  /// A load for writers: may bind this thread's record even when load() would not.
  guard load_writer() const noexcept {
    record* rec = dom_->cache().rec[0].load(std::memory_order_relaxed);  // relaxed: private
    if (rec != nullptr && domain::is_local(dom_)) {                      // entry 0: see load()
      if (Atom<std::uintptr_t>* s = find_free_slot(rec)) return protect(s);
      return load_fallback();
    }
    return load_slow(true);
  }

  static node* new_node() {
    auto* n = new node;
    if ((reinterpret_cast<std::uintptr_t>(n) & ~ptr_mask) != 0) {
      delete n;
      throw std::runtime_error(
          "lfkit::snapshot: node allocated above 2^48; pointer packing impossible");
    }
    return n;
  }

  /// Nodes a writer thread took from a pool in one go (or got back from a lost compare_exchange),
  /// for its next writes to any snapshot<T, Atom>: at most node_cache_max, freed at thread exit.
  /// Writers only (a thread_local with a destructor: not for signal handlers).
  static constexpr std::size_t node_cache_max = 16;
  struct node_cache {
    node* head = nullptr;
    std::size_t n = 0;
    node_cache() = default;
    node_cache(const node_cache&) = delete;
    node_cache& operator=(const node_cache&) = delete;
    ~node_cache() {
      while (head != nullptr) delete std::exchange(head, head->next);
    }
  };
  static inline thread_local node_cache t_nodes;
  /// This thread's node cache: t_nodes, or under a model checker (fibers share thread_locals) the
  /// model thread's entry in this snapshot, freed with it.
  node_cache& nodes() noexcept {
    if constexpr (domain::model) {
      return model_nodes_[domain::model_index()];
    } else {
      return t_nodes;
    }
  }

  /// Value-less nodes move between a scan, the pool and the thread caches in segments of at most
  /// node_cache_max nodes, so that no side walks a list of cold nodes: a scan builds segments while
  /// it judges (touching only the node it judges), hands them all to the pool with one splice, and
  /// a writer takes a whole segment as its thread cache with one pointer move. Nodes of a segment
  /// are linked by next; its first node keeps the segment's length in `version` and the following
  /// segment in `prev` (both unused while a node is free).
  struct segments {
    node* first = nullptr;  // newest closed segment
    node* last = nullptr;   // oldest closed segment: the splice point
    std::size_t n = 0;      // nodes in closed segments
    node* open = nullptr;   // the segment being filled
    std::size_t open_n = 0;
    void push(node* x) noexcept {
      x->next = open;
      open = x;
      if (++open_n == node_cache_max) close();
    }
    void close() noexcept {
      if (open == nullptr) return;
      open->version = open_n;
      open->prev = first;
      first = open;
      if (last == nullptr) last = open;
      n += open_n;
      open = nullptr;
      open_n = 0;
    }
    /// Calls f on every node of the closed segments (f may delete it).
    template <class F>
    static void for_each(node* seg, F f) noexcept {
      while (seg != nullptr) {
        node* x = std::exchange(seg, seg->prev);
        while (x != nullptr) f(std::exchange(x, x->next));
      }
    }
  };

  /// A node with no live value: from this thread's cache, else a segment from the pool when its
  /// try-lock is free and it is not empty, else newly allocated.
  node* take_node() {
    node_cache& c = nodes();
    node* n = c.head;
    if (n == nullptr) {
      std::uint32_t unlocked = 0;
      // relaxed pre-check: a hint only. acquire (14): pairs with the release (15) of the previous
      // holder, so the segments it left are visible. Relaxed on failure: nothing acquired.
      // (14)/(15) guard plain data (pool_, segment links), which Relacy does not race-check
      // (only rl::var): the model cannot show them; TSan does (test_snapshot's writers).
      if (pool_lock_.load(std::memory_order_relaxed) == 0 &&
          pool_lock_.compare_exchange_strong(unlocked, 1, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
        n = pool_;
        if (n != nullptr) {
          pool_ = n->prev;
          pool_n_ -= n->version;
        }
        pool_lock_.store(0, std::memory_order_release);  // release (15): pairs with (14)
      }
      if (n == nullptr) return new_node();
      c.n = n->version;  // the segment becomes this thread's cache
    }
    --c.n;
    c.head = n->next;
    // The next write's node: fetch its line now so that this write's publishing CAS (which waits
    // for the stores into the node) and the next one do not stall on a miss.
    if (c.head != nullptr) detail::prefetch_for_write(c.head);
    return n;
  }

  void lock_pool() noexcept {
    for (;;) {
      std::uint32_t unlocked = 0;
      // acquire: as (14).
      if (pool_lock_.compare_exchange_weak(unlocked, 1, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
        return;
      }
      hooks::pause();  // held for a few instructions by a writer popping one segment
    }
  }

  /// Returns value-less nodes to the pool, up to batch_ nodes in all (whole segments: one splice
  /// when all fit); frees the rest.
  void release_nodes(segments& fl) noexcept {
    fl.close();
    if (fl.first == nullptr) return;
    node* extra = nullptr;
    lock_pool();
    if (pool_n_ + fl.n <= batch_) {
      fl.last->prev = pool_;
      pool_ = fl.first;
      pool_n_ += fl.n;
    } else {
      for (node* seg = fl.first; seg != nullptr;) {
        node* x = std::exchange(seg, seg->prev);
        const std::size_t len = x->version;
        if (pool_n_ + len <= batch_) {
          x->prev = pool_;
          pool_ = x;
          pool_n_ += len;
        } else {
          x->prev = extra;
          extra = x;
        }
      }
    }
    pool_lock_.store(0, std::memory_order_release);  // release: as (15)
    segments::for_each(extra, [](node* x) { delete x; });
    fl = segments{};
  }
  void release_node(node* n) noexcept {
    node_cache& c = nodes();
    if (c.n < node_cache_max) {
      n->next = c.head;
      c.head = n;
      ++c.n;
      return;
    }
    segments fl;
    fl.push(n);
    release_nodes(fl);
  }
  void drop_unpublished(node* n) noexcept {
    n->destroy();
    release_node(n);
  }
  void destroy(node* n) noexcept {
    n->destroy();
    delete n;
  }

  template <class... Args>
  node* make_node(Args&&... args) {
    node* n = take_node();
    try {
      n->construct(std::forward<Args>(args)...);
    } catch (...) {
      release_node(n);
      throw;
    }
    return n;
  }

  /// Publishes a new value built from args after whatever is current; returns the replaced node
  /// (pinned once more for the caller if keep_old).
  template <class... Args>
  node* publish_new(bool keep_old, Args&&... args) {
    node* n = make_node(std::forward<Args>(args)...);
    detail::backoff<Atom> contention;
    for (;;) {
      guard g = load_writer();
      node* old = g.node_;
      std::uint64_t v = 0;
      if (try_publish(n, g, keep_old, v)) {
        g.reset();  // as in update
        after_publish(v);
        return old;
      }
      g.reset();
      contention.spin();  // another writer won: as in update
    }
  }

  /// CASes the head from `cur` (which the caller protects through `g`) to n; v = n's version.
  /// Returns false, publishing nothing, if cur is no longer current. A caller protecting cur with
  /// a fallback pin publishes under the scan lock: its own pin sits in the head word until the
  /// transfer below, so no scan may judge cur in between.
  bool try_publish(node* n, const guard& g, bool keep_old, std::uint64_t& v) noexcept {
    node* cur = g.node_;
    const bool by_pin = g.uses_fallback();
    if (by_pin) scan_lock_.lock();
    const bool ok = try_publish_locked(n, cur, keep_old, v);
    if (by_pin) scan_lock_.unlock();
    return ok;
  }
  bool try_publish_locked(node* n, node* cur, bool keep_old, std::uint64_t& v) noexcept {
    n->prev = cur;
    n->next = cur->prev;  // cur's line is already here (its version): the scan's second chain
    n->version = v = cur->version + 1;  // v: once published, n may be replaced and freed at once
    // relaxed: validated by the CAS.
    std::uintptr_t w = head_.load(std::memory_order_relaxed);
    while (to_node(w) == cur) {
      // acq_rel (13): release publishes *n (value, version, prev, pins) to readers' acquire loads
      // (12) and to later writers and scanners; acquire takes over the pin count that readers'
      // pinning CASes put in the word, and the chain below cur. Model: the acquire half pairs
      // with flush_pins's release CAS, not reached there (16384 pins).
      if (head_.compare_exchange_weak(w, reinterpret_cast<std::uintptr_t>(n),
                                      std::memory_order_acq_rel, std::memory_order_relaxed)) {
        const auto pinned = static_cast<std::int64_t>(w >> pin_shift) + (keep_old ? 1 : 0);
        // release (16): pairs with the acquire pins load (9) of a scan; until it lands, the
        // caller's slot on cur (or the scan lock, see above) keeps any scan from judging cur.
        // Model: survives, as the caller's later slot release (6) (or scan-lock release) orders
        // this add before any scan that judges cur; kept (free on x86: lock xadd).
        if (pinned != 0) cur->pins.fetch_add(pinned, std::memory_order_release);
        return true;
      }
    }
    return false;
  }

  /// Scans when this publish completed a batch.
  void after_publish(std::uint64_t v) noexcept {
    // relaxed: a trigger hint; the scan re-reads everything under its lock.
    if (v - scanned_.load(std::memory_order_relaxed) >= batch_) scan(false);
  }

  /// Under the scan lock: destroys every retired version that no slot or pin protects (always if
  /// forced, else only if the batch is still due), and returns their nodes to the pool.
  void scan(bool forced) noexcept {
    scan_lock_.lock();
    // acquire: pairs with the publishing CAS (13), so the chain below h is visible. h cannot be
    // freed meanwhile: only the scan lock's holder frees. The chain (prev, version) is plain
    // data, which Relacy does not race-check: the model cannot show this; TSan can.
    node* h = to_node(head_.load(std::memory_order_acquire));
    const std::uint64_t from = scanned_.load(std::memory_order_relaxed);  // relaxed: under the lock
    if (!forced && h->version - from < batch_) {
      scan_lock_.unlock();
      return;
    }
    // Pairs with the readers' light fences: after it, every slot store that preceded a reader's
    // fence is visible, or that reader's re-load of head_ sees the unlinking CAS and it retries.
    hooks::heavy_fence();
    hazards_.clear();
    // seq_cst: pairs with the seq_cst raise of high_water in try_bind (see there).
    const std::size_t hw = dom_->high_water.load(std::memory_order_seq_cst);
    for (std::size_t i = 0; i < hw; ++i) {
      for (auto& s : dom_->records[i].slot) {
        // acquire (7): pairs with the readers' release stores (11) and releases (6).
        const std::uintptr_t v = s.load(std::memory_order_acquire);
        if (v != 0) hazards_.push_back(v);  // capacity reserved in the constructor: no allocation
      }
    }
    std::sort(hazards_.begin(), hazards_.end());
    node* kept = nullptr;
    std::size_t kept_n = 0;
    segments freed;
    auto judge = [&](node* x) {
      const bool hazard =
          std::binary_search(hazards_.begin(), hazards_.end(), reinterpret_cast<std::uintptr_t>(x));
      // acquire (9): pairs with the release fetch_subs of fallback guards (8) and the unlinker's
      // transfer (16).
      if (!hazard && x->pins.load(std::memory_order_acquire) == 0) {
        freed.push(x);
      } else {
        x->next = kept;
        kept = x;
        ++kept_n;
      }
    };
    while (survivors_ != nullptr) judge(std::exchange(survivors_, survivors_->next));
    // The unjudged versions h->version - 1 down to `from`, walked as two interleaved chains
    // (through next, which holds prev->prev until a node is judged) so that two cold nodes are
    // fetched at once; each next is read before judge() reuses it. A pointer past the range is read
    // but never followed.
    node* a = h->prev;  // h->version - 1, then every second version below
    node* b = h->next;  // h->version - 2, likewise
    for (std::uint64_t k = h->version - from; k != 0;) {
      node* a2 = a->next;
      if (k >= 2) {
        node* b2 = b->next;
        judge(b);
        b = b2;
        --k;
      }
      judge(a);
      a = a2;
      --k;
    }
    survivors_ = kept;
    // One word, so that retired_count() reads one scan's result whole (survivors and the range
    // judged, as two stores, could be read half old, half new). release (18): pairs with (17).
    retired_base_.store(h->version - kept_n, std::memory_order_release);
    // relaxed: read under the scan lock by the next scan (ordered by the lock), by after_publish
    // as a trigger hint, and by the destructor (no concurrent access).
    scanned_.store(h->version, std::memory_order_relaxed);
    scan_lock_.unlock();
    freed.close();
    if constexpr (!std::is_trivially_destructible_v<T>) {
      segments::for_each(freed.first, [](node* y) { y->destroy(); });
    }
    release_nodes(freed);
  }

  /// Head word: node address (low 48 bits) | fallback pins taken on it (high 16 bits). Read by
  /// every load(), on its own padding unit with the (read-only) domain pointer: a publish
  /// invalidates readers' copy exactly once.
  alignas(cache_line_size) mutable Atom<std::uintptr_t> head_{0};
  domain* const dom_ = initial_domain();
  /// Writer state, on another padding unit so that writers' pool and scan traffic never
  /// invalidates the line every load() reads.
  alignas(cache_line_size) Atom<std::uint32_t> pool_lock_{0};
  node* pool_ = nullptr;    // under pool_lock_: value-less nodes, in segments (see segments)
  std::size_t pool_n_ = 0;  // under pool_lock_
  /// Scan state, read by every writer after it publishes but written once per batch: on a padding
  /// unit of its own, so that writers' pool traffic does not make each such read a miss.
  alignas(cache_line_size) Atom<std::uint64_t> scanned_{0};  // versions below this were judged
  /// A statistic for retired_count(): the last scan's h->version minus the retired versions it
  /// kept, so that retired_count() = version - retired_base_.
  Atom<std::uint64_t> retired_base_{0};
  std::size_t batch_;
  detail::writer_lock<Atom> scan_lock_;
  node* survivors_ = nullptr;            // under scan_lock_: retired versions kept by the last scan
  std::vector<std::uintptr_t> hazards_;  // under scan_lock_; scan scratch, preallocated
  /// Under a model checker only: this snapshot's own domain and per-model-thread node caches
  /// (Relacy's atomics and allocations live for one test iteration; see snapshot_domain::model).
  struct no_model_state {};
  [[no_unique_address]] std::conditional_t<domain::model, domain, no_model_state> model_domain_;
  [[no_unique_address]] std::conditional_t<domain::model, node_cache[domain::model_threads],
                                           no_model_state> model_nodes_;
  domain* initial_domain() noexcept {
    if constexpr (domain::model) {
      return &model_domain_;
    } else {
      return &detail::snapshot_local_domain<Atom>;
    }
  }
};

}  // namespace lfkit

#endif  // LFKIT_SNAPSHOT_HPP
