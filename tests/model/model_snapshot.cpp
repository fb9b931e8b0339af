// SPDX-License-Identifier: BSL-1.0
// tests/model/model_snapshot.cpp — lfkit::snapshot under the Relacy model checker.
//
// The value type carries its payload in two relaxed atomics (a == b, a value some writer
// published), a relaxed `live` flag that ~T clears, and a race-checked rl::var written by T's
// constructor and destructor. So a reader that got a version without the publish's release/acquire
// pairing reads an atomic whose initialisation it cannot see (Relacy: uninitialised access), one
// whose version was destroyed under its guard reads freed memory or races with the destructor
// (DATA RACE), and one whose node was recycled sees the payload change while it holds the guard.
// Relacy runs threads as fibers of one OS thread; snapshot.hpp then keeps its per-thread state
// (hazard-record cache, node cache) per model thread, in the snapshot (see snapshot_domain::model).
//
// Checked, with reclaim_batch 1 (every publish scans) unless said otherwise: guarded readers
// against stores, exchange and reclaim (nothing freed or recycled under a guard, whole published
// values only, versions never go backwards); a reader on the fallback path (its 8 slots full);
// update() and compare_exchange() from 2 writers lose no increment; the retired bound
// (pinned + B - 1 when no writer runs; 0 after reclaim() with no guard) and retired_count()
// counting a pinned version; a guard moved to and released on another thread while its first
// owner reuses the slot.
#define LFKIT_SNAPSHOT_MAX_THREADS 4  // records per domain: one per model thread (<= 3) + spare

#include "model_prelude.hpp"

#include "lfkit/snapshot.hpp"

#include "model_epilogue.hpp"

// Relacy replaces the unsized operator delete only; route the sized forms (which `delete` of a
// complete type calls) to it, or Relacy's blocks would reach free().
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { ::operator delete[](p); }

namespace {

using lfkit::model::relacy_atomic;
constexpr auto relaxed = std::memory_order_relaxed;

/// A value: payload x in two relaxed atomics, a liveness flag and a race-checked mark.
struct val {
  relacy_atomic<std::uint64_t> a, b;
  relacy_atomic<int> live;
  rl::var<int> mark;
  explicit val(std::uint64_t x) : a(x), b(x), live(1) { mark($) = 1; }
  val(const val& o) : a(o.get()), b(o.get()), live(1) { mark($) = 1; }
  val(val&& o) noexcept : val(static_cast<const val&>(o)) {}
  val& operator=(const val&) = delete;
  ~val() {
    live.store(0, relaxed);
    mark($) = 0;
  }
  /// The payload, checked whole and alive.
  std::uint64_t get() const {
    const int m = mark($);
    RL_ASSERT(m == 1);
    RL_ASSERT(live.load(relaxed) == 1);
    const std::uint64_t x = a.load(relaxed), y = b.load(relaxed);
    RL_ASSERT(x == y);
    return x;
  }
};
using snap = lfkit::snapshot<val, relacy_atomic>;
using guard = snap::guard;

/// Writer w's k-th value (k from 1); the initial value is 1.
constexpr std::uint64_t wval(unsigned w, unsigned k) { return 100 * (w + 1) + k; }
bool published(std::uint64_t x, unsigned writers, unsigned per_writer) {
  if (x == 1) return true;
  for (unsigned w = 0; w < writers; ++w)
    for (unsigned k = 1; k <= per_writer; ++k)
      if (x == wval(w, k)) return true;
  return false;
}

/// Readers hold guards across other operations while writers store and reclaim; every read is
/// checked whole, published and unchanged while guarded.
/// Thread 0 reads (two guards overlapping), thread 1 stores 2 values, thread 2 stores 1 value and
/// forces a reclaim().
struct load_store_reclaim : rl::test_suite<load_store_reclaim, 3> {
  snap s{val(1), lfkit::snapshot_options{1}};
  void thread(unsigned i) {
    if (i == 0) {
      guard g = s.load();
      const std::uint64_t x = g->get();
      const std::uint64_t vx = g.version();
      RL_ASSERT(published(x, 2, 2));
      guard h = s.load();
      const std::uint64_t y = h->get();
      RL_ASSERT(published(y, 2, 2));
      RL_ASSERT(h.version() >= vx);  // never backwards
      RL_ASSERT(g->get() == x);      // not recycled while guarded
      g.reset();
      guard k = s.load();
      RL_ASSERT(k.version() >= h.version());
      (void)k->get();
      RL_ASSERT(h->get() == y);
    } else if (i == 1) {
      s.store(val(wval(0, 1)));
      s.store(val(wval(0, 2)));
    } else {
      s.store(val(wval(1, 1)));
      (void)s.reclaim();
    }
  }
  void after() {
    RL_ASSERT(s.version() == 3);
    RL_ASSERT(s.reclaim() == 0);  // no guard alive: everything retired is freed
  }
};

/// Two readers (one guard each, taken twice) against one writer with reclaim_batch 2: versions
/// seen are whole, published and monotonic per reader.
struct readers_writer : rl::test_suite<readers_writer, 3> {
  snap s{val(1), lfkit::snapshot_options{2}};
  void thread(unsigned i) {
    if (i == 0) {
      for (unsigned k = 1; k <= 3; ++k) s.store(val(wval(0, k)));
    } else {
      std::uint64_t last = 0;
      for (int r = 0; r < 2; ++r) {
        guard g = s.load();
        RL_ASSERT(published(g->get(), 1, 3));
        RL_ASSERT(g.version() >= last);
        last = g.version();
      }
    }
  }
};

/// exchange() returns the replaced version pinned by a fallback pin (no slot); a concurrent
/// writer's scans must not free it, and a reader holds a slot guard meanwhile.
struct exchange_pins : rl::test_suite<exchange_pins, 3> {
  snap s{val(1), lfkit::snapshot_options{1}};
  void thread(unsigned i) {
    if (i == 0) {
      guard old = s.exchange(val(wval(0, 1)));
      RL_ASSERT(old.uses_fallback());
      const std::uint64_t x = old->get();
      RL_ASSERT(published(x, 2, 1));
      s.store(val(wval(0, 2)));
      RL_ASSERT(old->get() == x);
    } else if (i == 1) {
      s.store(val(wval(1, 1)));
    } else {
      guard g = s.load();
      const std::uint64_t x = g->get();
      RL_ASSERT(published(x, 2, 2));
      guard h = s.load();
      RL_ASSERT(published(h->get(), 2, 2));
      RL_ASSERT(g->get() == x);
    }
  }
  void after() { RL_ASSERT(s.reclaim() == 0); }
};

/// A reader whose 8 slots are taken reads on the fallback path (a pin packed in the head word);
/// two writers publish meanwhile (taking over the pin count) and scan.
struct fallback_reader : rl::test_suite<fallback_reader, 3> {
  snap s{val(1), lfkit::snapshot_options{1}};
  void thread(unsigned i) {
    if (i == 0) {
      guard held[lfkit::snapshot_slots_per_thread];
      {
        rl::preemption_disabler pd(rl::ctx());  // filling the slots is not what is checked
        for (auto& h : held) h = s.load();
      }
      guard g = s.load();
      RL_ASSERT(g.uses_fallback());
      const std::uint64_t x = g->get();
      RL_ASSERT(published(x, 2, 1));
      guard h = s.load();
      RL_ASSERT(h.uses_fallback());
      RL_ASSERT(published(h->get(), 2, 1));
      RL_ASSERT(g->get() == x);
    } else {
      s.store(val(wval(i - 1, 1)));
    }
  }
  void after() { RL_ASSERT(s.reclaim() == 0); }
};

/// Two writers each add 1 twice, one with update(), one with a compare_exchange loop, while a
/// reader watches: no lost update, every value seen is a whole sum in range.
struct no_lost_update : rl::test_suite<no_lost_update, 3> {
  snap s{val(0), lfkit::snapshot_options{1}};
  void thread(unsigned i) {
    if (i == 0) {
      for (int k = 0; k < 2; ++k) {
        const std::uint64_t v = s.update([](const val& c) { return val(c.get() + 1); });
        RL_ASSERT(v >= 1 && v <= 4);
      }
    } else if (i == 1) {
      for (int k = 0; k < 2; ++k) {
        guard cur = s.load();
        while (!s.compare_exchange(cur, val(cur->get() + 1))) {
        }
        RL_ASSERT(cur->get() <= 3);  // on success `cur` holds the replaced version
      }
    } else {
      guard g = s.load();
      const std::uint64_t x = g->get();
      RL_ASSERT(x <= 4 && x == g.version());  // one increment per version
    }
  }
  void after() {
    guard g = s.load();
    RL_ASSERT(g->get() == 4 && g.version() == 4);
  }
};

/// The retired bound: whenever no writer operation is in progress, retired_count() <= P + B - 1,
/// with P <= the guards alive at the last scan (here at most 1 reader guard + 1 other writer's
/// own protection); after reclaim() with no guard, 0.
struct retired_bound : rl::test_suite<retired_bound, 3> {
  static constexpr std::size_t batch = 2;
  snap s{val(1), lfkit::snapshot_options{batch}};
  int writers_running = 0;  // plain: fibers switch only at Relacy operations
  int writes_started = 0;
  void check() {
    const int started = writes_started;
    const bool idle = writers_running == 0;
    const std::size_t r = s.retired_count();
    if (idle && writes_started == started) RL_ASSERT(r <= 1 + 1 + batch - 1);
  }
  void thread(unsigned i) {
    if (i < 2) {
      for (unsigned k = 1; k <= 3; ++k) {
        ++writers_running;
        ++writes_started;
        s.store(val(wval(i, k)));
        --writers_running;
        check();
      }
    } else {
      check();
      {
        guard g = s.load();
        check();
        (void)g->get();
        check();
      }
      check();
    }
  }
  void after() {
    RL_ASSERT(s.retired_count() <= 1 + 1 + batch - 1);
    RL_ASSERT(s.reclaim() == 0);
    RL_ASSERT(s.retired_count() == 0);
  }
};

/// retired_count() is consistent with the scan that wrote it: while a reader holds version 0,
/// once a newer version exists it is counted (kept by a scan, or not yet scanned).
struct retired_counts_pinned : rl::test_suite<retired_counts_pinned, 2> {
  snap s{val(1), lfkit::snapshot_options{1}};
  void thread(unsigned i) {
    if (i == 0) {
      s.store(val(wval(0, 1)));
      s.store(val(wval(0, 2)));
    } else {
      guard g = s.load();
      if (g.version() != 0) return;
      for (int k = 0; k < 2; ++k) {
        const std::uint64_t v = s.version();
        const std::size_t r = s.retired_count();
        if (v >= 1) RL_ASSERT(r >= 1);  // version 0 is retired and pinned by g
      }
    }
  }
};

/// A guard taken on thread 0 is moved to thread 1 (through a release/acquire flag) and released
/// there while thread 0 loads again (reusing the slot) and a writer stores and scans: thread 1's
/// reads through the guard must happen before the version's destruction. With KeepFirst, thread 0
/// holds slot 0 meanwhile, so the moved guard is on slot 1 and the reuse goes through the search
/// for a free slot.
template <bool KeepFirst>
struct guard_moved : rl::test_suite<guard_moved<KeepFirst>, 3> {
  snap s{val(1), lfkit::snapshot_options{1}};
  guard passed;
  relacy_atomic<int> handed{0};
  void thread(unsigned i) {
    if (i == 0) {
      guard first;
      if (KeepFirst) first = s.load();
      guard g = s.load();
      (void)g->get();
      passed = std::move(g);
      handed.store(1, std::memory_order_release);  // the test's own hand-off
      guard h = s.load();
      RL_ASSERT(published(h->get(), 1, 2));
    } else if (i == 1) {
      if (handed.load(std::memory_order_acquire) == 1) {
        RL_ASSERT(published(passed->get(), 1, 2));
        passed.reset();
      }
    } else {
      s.store(val(wval(0, 1)));
      s.store(val(wval(0, 2)));
    }
  }
  void after() {
    passed.reset();
    RL_ASSERT(s.reclaim() == 0);
  }
};

}  // namespace

int main(int argc, char** argv) {
  using lfkit::model::search;
  lfkit::model::suite s(argc, argv);
  const search random{rl::sched_random, 20000};
  s.pass<load_store_reclaim>("snapshot load vs store vs reclaim", random);
  s.pass<readers_writer>("snapshot 2 readers vs 1 writer (batch 2)", random);
  s.pass<exchange_pins>("snapshot exchange guard pinned across scans", random);
  s.pass<fallback_reader>("snapshot fallback reader vs 2 writers", random);
  s.pass<no_lost_update>("snapshot update + compare_exchange: no lost update", random);
  s.pass<retired_bound>("snapshot retired bound (batch 2)", random);
  s.pass<retired_counts_pinned>("snapshot retired_count counts a pinned version", random);
  s.pass<guard_moved<false>>("snapshot guard released on another thread", random);
  s.pass<guard_moved<true>>("snapshot guard released on another thread, slot 1", random);
  return s.finish();
}
