// SPDX-License-Identifier: BSL-1.0
// stress/snapshot_harness.hpp — the harness shared by stress_snapshot.cpp (lfkit::snapshot and the
// locked baselines) and stress_seqlock_cell.cpp (lfkit::seqlock_cell): the instrumented value, the
// checks and run_snapshot(). See stress_snapshot.cpp for what is checked. Included by one .cpp per
// scenario family; everything is in an anonymous namespace, so each gets its own counters.
#ifndef LFKIT_STRESS_SNAPSHOT_HARNESS_HPP
#define LFKIT_STRESS_SNAPSHOT_HARNESS_HPP

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <vector>

#include "perturbed_atomic.hpp"
#include "stress.hpp"

#include "lfkit/baseline/locked_snapshot.hpp"
#include "lfkit/seqlock_cell.hpp"
#include "lfkit/snapshot.hpp"

namespace ls = lfkit::stress;

namespace {

// ---- the instrumented value ---------------------------------------------------------------------

constexpr std::uint32_t live_mark = 0x11FE11FEu;
constexpr std::uint32_t dead_mark = 0xDEADDEADu;

std::atomic<std::uint64_t> g_constructed{0};
std::atomic<std::uint64_t> g_destroyed{0};
std::atomic<std::uint64_t> g_destroyed_twice{0};
std::atomic<std::uint64_t> g_next_id{1};

/// The pair of counters, instrumented. Fields are relaxed atomics: immutable after construction
/// (published by the cell's own release/acquire), atomics only so that a broken cell that lets a
/// reader race with the destructor is a detected violation rather than a data race.
struct tracked {
  std::atomic<std::uint64_t> a{0}, b{0}, id{0};
  std::atomic<std::uint32_t> live{0};

  explicit tracked(std::uint64_t v) noexcept { init(v, v); }
  tracked(const tracked& o) noexcept {
    init(o.a.load(std::memory_order_relaxed), o.b.load(std::memory_order_relaxed));
  }  // relaxed: immutable
  tracked(tracked&& o) noexcept {
    init(o.a.load(std::memory_order_relaxed), o.b.load(std::memory_order_relaxed));
  }  // relaxed: immutable
  tracked& operator=(const tracked&) = delete;
  /// For the broken demo only: overwrite a (possibly guarded) value in place, a then b, with a
  /// fresh id — what reclaiming a guarded version and reusing its memory for the next one amounts to.
  void reuse(std::uint64_t v) noexcept {
    a.store(v, std::memory_order_relaxed);  // relaxed: the demo's bug is the reuse itself
    b.store(v, std::memory_order_relaxed);  // relaxed: as above
    id.store(g_next_id.fetch_add(1, std::memory_order_relaxed),
             std::memory_order_relaxed);  // relaxed: as above
  }
  ~tracked() {
    // relaxed: a statistic; the exchange detects a second destruction of the same object.
    if (live.exchange(dead_mark, std::memory_order_relaxed) != live_mark)
      g_destroyed_twice.fetch_add(1, std::memory_order_relaxed);
    a.store(~0ull,
            std::memory_order_relaxed);  // relaxed: poison, so a reader of a dead value sees a != b
    g_destroyed.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
  }

 private:
  void init(std::uint64_t x, std::uint64_t y) noexcept {
    // relaxed: the object is published by the cell (release/acquire) or used by this thread only.
    a.store(x, std::memory_order_relaxed);
    b.store(y, std::memory_order_relaxed);  // relaxed: immutable while live; published by the cell
    id.store(g_next_id.fetch_add(1, std::memory_order_relaxed),
             std::memory_order_relaxed);  // relaxed: immutable while live; published by the cell
    live.store(live_mark,
               std::memory_order_relaxed);  // relaxed: immutable while live; published by the cell
    g_constructed.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
  }
};

/// What a holder remembers of a value, to re-check it at release.
struct seen {
  std::uint64_t a = 0, id = 0;
};

// ---- violations and per-thread state (signal-safe: atomics only) -------------------------------

struct counters {
  std::atomic<std::uint64_t> torn{0};     // a != b
  std::atomic<std::uint64_t> dead{0};     // a value not live (destroyed) while guarded
  std::atomic<std::uint64_t> changed{0};  // a guarded value changed (id/contents) before release
  std::atomic<std::uint64_t> version_mismatch{0};  // a != guard.version()
  std::atomic<std::uint64_t> not_monotonic{0};     // a thread saw a version go back
  std::atomic<std::uint64_t> stale{0};             // a load older than a version() that preceded it
  std::atomic<std::uint64_t> bound{0};             // retired_count() above its bound
  std::atomic<std::uint64_t> checks{0};
  void add(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
  }  // relaxed: read after join
};
counters g_c;

/// Per worker thread: the last version a completed load on this thread saw (worker or handler);
/// handler statistics. Touched by the thread and its own handlers only.
struct thread_row {
  std::atomic<std::uint64_t> last{0};
  std::atomic<std::uint64_t> h_ops{0}, h_skipped{0}, h_failed{0};
};

/// Checks a value held by a guard (or copied out of a seqlock), with its version if known.
/// `prev` is row.last read BEFORE the load started (a handler may run between the load and this
/// check and legitimately see a newer version); `floor` is version() read before the load.
inline void check_value(std::uint64_t a, std::uint64_t b, std::uint64_t live, bool has_version,
                        std::uint64_t version, thread_row& row, std::uint64_t prev,
                        std::uint64_t floor) noexcept {
  g_c.add(g_c.checks);
  if (live != live_mark) g_c.add(g_c.dead);
  if (a != b) g_c.add(g_c.torn);
  if (has_version && a != version) g_c.add(g_c.version_mismatch);
  if (a < floor) g_c.add(g_c.stale);
  if (a < prev) g_c.add(g_c.not_monotonic);
  // relaxed: this thread's row, touched by the thread and its handlers (which run to completion).
  if (a > row.last.load(std::memory_order_relaxed)) row.last.store(a, std::memory_order_relaxed);
}

inline void check_tracked(const tracked& t, bool has_version, std::uint64_t version,
                          thread_row& row, std::uint64_t prev, std::uint64_t floor) noexcept {
  // relaxed: the value was published by the cell's acquire; its fields never change while live.
  check_value(t.a.load(std::memory_order_relaxed), t.b.load(std::memory_order_relaxed),
              t.live.load(std::memory_order_relaxed), has_version, version, row, prev,
              floor);  // relaxed: immutable while live; published by the cell
}

inline seen remember(const tracked& t) noexcept {
  return {t.a.load(std::memory_order_relaxed),
          t.id.load(std::memory_order_relaxed)};  // relaxed: as above
}
inline void recheck(const tracked& t, const seen& s) noexcept {
  g_c.add(g_c.checks);
  // relaxed: as above
  if (t.live.load(std::memory_order_relaxed) != live_mark) g_c.add(g_c.dead);
  if (t.id.load(std::memory_order_relaxed) != s.id ||
      t.a.load(std::memory_order_relaxed) !=
          s.a ||  // relaxed: immutable while live; published by the cell
      t.b.load(std::memory_order_relaxed) !=
          s.a) {  // relaxed: immutable while live; published by the cell
    g_c.add(g_c.changed);
  }
}

void reset_counters() {
  for (auto* c : {&g_c.torn, &g_c.dead, &g_c.changed, &g_c.version_mismatch, &g_c.not_monotonic,
                  &g_c.stale, &g_c.bound, &g_c.checks}) {
    c->store(0);
  }
  g_constructed.store(0);
  g_destroyed.store(0);
  g_destroyed_twice.store(0);
}

std::uint64_t total_violations() {
  return g_c.torn.load() + g_c.dead.load() + g_c.changed.load() + g_c.version_mismatch.load() +
         g_c.not_monotonic.load() + g_c.stale.load() + g_c.bound.load();
}

std::string violations_text() {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "torn %" PRIu64 ", destroyed-while-guarded %" PRIu64
                ", changed-while-guarded %" PRIu64 ", a!=version %" PRIu64
                ", non-monotonic %" PRIu64 ", older-than-version() %" PRIu64
                ", retired-bound %" PRIu64,
                g_c.torn.load(), g_c.dead.load(), g_c.changed.load(), g_c.version_mismatch.load(),
                g_c.not_monotonic.load(), g_c.stale.load(), g_c.bound.load());
  return buf;
}

enum class kind { hazard, locked, seqlock };

/// A guard parked by a baseline handler for its thread to release (see the file comment).
template <class Guard>
struct parking {
  static constexpr int slots = 4;
  alignas(Guard) unsigned char storage[slots][sizeof(Guard)];
  std::atomic<int> full[slots] = {};
  bool has_free() const noexcept {
    for (int i = 0; i < slots; ++i) {
      if (full[i].load(std::memory_order_relaxed) == 0)
        return true;  // relaxed: this thread and its handlers only
    }
    return false;
  }
  // In the handler (the thread is not inside a baseline call, so not in release_all below).
  bool park(Guard&& g) noexcept {
    for (int i = 0; i < slots; ++i) {
      if (full[i].load(std::memory_order_relaxed) ==
          0) {  // relaxed: this thread and its handlers only
        ::new (static_cast<void*>(storage[i])) Guard(std::move(g));
        std::atomic_signal_fence(std::memory_order_seq_cst);  // constructed before marked full
        full[i].store(1, std::memory_order_relaxed);          // relaxed: as above
        return true;
      }
    }
    return false;
  }
  // On the thread, inside an in_op_scope (so its handlers do not park meanwhile).
  void release_all() noexcept {
    for (int i = 0; i < slots; ++i) {
      if (full[i].load(std::memory_order_relaxed) != 0) {  // relaxed: as above
        std::launder(reinterpret_cast<Guard*>(storage[i]))->~Guard();
        full[i].store(0, std::memory_order_relaxed);  // relaxed: as above
      }
    }
  }
};

template <class Cell, kind K>
struct snap_ctx {
  static inline Cell* cell = nullptr;
  static inline std::vector<std::unique_ptr<thread_row>>* rows = nullptr;
  static inline std::uint64_t bound = 0;
  using parking_t =
      std::conditional_t<K == kind::locked, parking<decltype(std::declval<Cell&>().load())>, int>;
  static inline std::vector<std::unique_ptr<parking_t>>* parked = nullptr;

  // Runs inside the signal handler: only async-signal-safe operations (see the file comment for
  // the baselines).
  static void handler() {
    const int wi =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (wi < 0) return;
    thread_row& row = *(*rows)[static_cast<std::size_t>(wi)];
    auto bump = [](std::atomic<std::uint64_t>& c) {
      c.store(c.load(std::memory_order_relaxed) + 1,
              std::memory_order_relaxed);  // relaxed: own row
    };
    if constexpr (K == kind::hazard) {
      const std::uint64_t prev = row.last.load(std::memory_order_relaxed);  // relaxed: own row
      const std::uint64_t floor = cell->version();
      auto g = cell->load();
      check_tracked(*g, true, g.version(), row, prev, floor);
      bump(row.h_ops);
    } else if constexpr (K == kind::seqlock) {
      const std::uint64_t prev = row.last.load(std::memory_order_relaxed);  // relaxed: own row
      const std::uint64_t floor = cell->version();
      const auto v = cell->load();
      check_value(v.a, v.b, live_mark, false, 0, row, prev, floor);
      bump(row.h_ops);
    } else {
      if (ls::t_in_op.load(std::memory_order_relaxed)) {  // relaxed: set by this thread
        bump(row.h_skipped);  // the interrupted thread may hold the lock: loading would deadlock
        return;
      }
      parking_t& park = *(*parked)[static_cast<std::size_t>(wi)];
      if (!park.has_free()) {
        bump(row.h_skipped);  // nowhere to park the guard, and releasing it here may free()
        return;
      }
      const std::uint64_t prev = row.last.load(std::memory_order_relaxed);  // relaxed: own row
      auto g = cell->load();
      check_tracked(*g, true, g.version(), row, prev, 0);
      bump(row.h_ops);
      park.park(
          std::move(g));  // succeeds: only this thread's handlers fill the slots, one at a time
    }
  }
};

/// TEST-ONLY, deliberately broken (scenario snapshot_broken_demo): a "snapshot" that recycles its
/// versions through a ring of 4 preallocated nodes without asking whether a reader still guards
/// one — the bug a reclaimer that ignores hazards has. A reader holding a guard across 4 updates
/// sees its value change under it (and possibly torn, a != b, mid-overwrite). Everything is
/// atomics and nothing is freed, so running it is free of undefined behaviour.
class broken_snapshot {
  struct node {
    tracked value{0};
    std::atomic<std::uint64_t> version{0};
  };

 public:
  class guard {
   public:
    guard() noexcept = default;
    explicit guard(const node* n) noexcept : n_(n) {}
    const tracked& operator*() const noexcept { return n_->value; }
    const tracked* operator->() const noexcept { return &n_->value; }
    explicit operator bool() const noexcept { return n_ != nullptr; }
    std::uint64_t version() const noexcept {
      return n_->version.load(std::memory_order_relaxed);
    }  // relaxed: the demo
    void reset() noexcept { n_ = nullptr; }

   private:
    const node* n_ = nullptr;
  };
  broken_snapshot(std::in_place_t, lfkit::snapshot_options, std::uint64_t) {}
  guard load() const noexcept {
    return guard(&nodes_[cur_.load(std::memory_order_acquire)]);
  }  // acquire: pairs with update's release
  template <class F>
  std::uint64_t update(F f) {
    std::lock_guard<std::mutex> lk(m_);
    const std::size_t c = cur_.load(std::memory_order_relaxed);  // relaxed: under the writer mutex
    const tracked next = f(nodes_[c].value);
    const std::uint64_t v =
        nodes_[c].version.load(std::memory_order_relaxed) + 1;  // relaxed: under the mutex
    node& n = nodes_[(c + 1) % 4];
    n.value.reuse(next.a.load(
        std::memory_order_relaxed));  // THE BUG: n may still be guarded. relaxed: immutable temp
    n.version.store(v, std::memory_order_relaxed);       // relaxed: published by the release below
    cur_.store((c + 1) % 4, std::memory_order_release);  // release: pairs with load()'s acquire
    return v;
  }
  std::uint64_t version() const noexcept {
    return nodes_[cur_.load(std::memory_order_acquire)].version.load(
        std::memory_order_relaxed);  // acquire: as load(); relaxed: after it
  }
  std::size_t retired_count() const noexcept { return 0; }

 private:
  node nodes_[4];
  std::atomic<std::size_t> cur_{0};
  std::mutex m_;
};

struct plain_pair {
  std::uint64_t a = 0, b = 0;
};

template <class Cell, kind K>
ls::result_row run_snapshot(const ls::options& opts, std::string structure, std::size_t batch,
                            bool broken = false) {
  using ctx = snap_ctx<Cell, K>;
  reset_counters();
  const unsigned T = opts.threads;
  const unsigned writers = std::max(1u, T / 4);
  std::vector<std::unique_ptr<thread_row>> rows;
  for (unsigned i = 0; i < T; ++i) rows.push_back(std::make_unique<thread_row>());
  std::vector<std::unique_ptr<typename ctx::parking_t>> parked;
  for (unsigned i = 0; i < T; ++i) parked.push_back(std::make_unique<typename ctx::parking_t>());
  std::vector<std::uint64_t> updates(T, 0), reads(T, 0);
  std::uint64_t final_a = 0, final_b = 0, max_retired = 0, bound = 0;
  std::size_t hold = 0;
  lfkit::sharded_counter progress;
  ls::run_stats st;
  {
    std::unique_ptr<Cell> cell;
    if constexpr (K == kind::hazard) {
      cell =
          std::make_unique<Cell>(std::in_place, lfkit::snapshot_options{batch}, std::uint64_t{0});
    } else if constexpr (K == kind::seqlock) {
      cell = std::make_unique<Cell>(plain_pair{0, 0});
    } else {
      cell = std::make_unique<Cell>(std::in_place, std::uint64_t{0});
    }
    ctx::cell = cell.get();
    ctx::rows = &rows;
    ctx::parked = &parked;
    // Readers hold 3 guards, or 11 on odd seeds: more than the 8 hazard slots of a thread, so
    // lfkit::snapshot's fallback path (pin counts in the head word) is exercised, from handlers too.
    hold = opts.seed % 2 == 1 ? 11 : 3;
    // Per thread at most `hold` guards + one in a handler + one load in progress (retired_count()'s
    // own load included) are pinned, and each writer in flight may add one before its scan.
    ctx::bound = bound = (hold + 3) * T + batch - 1;
    std::atomic<std::uint64_t> max_retired_a{0};

    auto body = [&](unsigned i, const std::atomic<bool>& stop) {
      ls::rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
      thread_row& row = *rows[i];
      const bool writer = i < writers;
      std::uint64_t n = 0;
      if constexpr (K == kind::seqlock) {
        while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a stop flag
          if (writer && (r.next() & 3) != 0) {
            ls::in_op_scope in;
            cell->update([](const plain_pair& p) { return plain_pair{p.a + 1, p.b + 1}; });
            ++updates[i];
          } else {
            const std::uint64_t prev =
                row.last.load(std::memory_order_relaxed);  // relaxed: own row
            const std::uint64_t floor = cell->version();
            plain_pair v;
            {
              ls::in_op_scope in;
              v = cell->load();
            }
            check_value(v.a, v.b, live_mark, false, 0, row, prev, floor);
            ++reads[i];
          }
          if ((++n & 15) == 0) progress.add(16);
        }
      } else {
        using guard_t = decltype(cell->load());
        std::vector<guard_t> held(hold);
        std::vector<seen> held_seen(hold);
        auto release = [&](std::size_t k) {
          if (!held[k]) return;
          recheck(*held[k], held_seen[k]);
          ls::in_op_scope in;  // baselines: the last reference may run ~T and free()
          held[k].reset();
        };
        while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a stop flag
          if constexpr (K == kind::locked) {
            ls::in_op_scope in;
            parked[i]->release_all();
          }
          if (writer && (r.next() & 3) != 0) {
            auto f = [](const tracked& v) {
              return tracked(v.a.load(std::memory_order_relaxed) + 1);
            };  // relaxed: immutable
            if constexpr (K == kind::locked) {
              ls::in_op_scope in;
              cell->update(f);
            } else {
              {
                ls::in_op_scope in;
                cell->update(f);
              }
              const std::uint64_t rc = cell->retired_count();
              if (rc > ctx::bound) g_c.add(g_c.bound);
              if (rc > max_retired_a.load(std::memory_order_relaxed))
                max_retired_a.store(rc, std::memory_order_relaxed);  // relaxed: a statistic
            }
            ++updates[i];
          } else {
            const std::size_t k = r.next() % held.size();
            release(k);
            const std::uint64_t prev =
                row.last.load(std::memory_order_relaxed);  // relaxed: own row
            std::uint64_t floor = 0;
            if constexpr (K == kind::hazard) floor = cell->version();
            {
              ls::in_op_scope in;
              held[k] = cell->load();
            }
            check_tracked(*held[k], true, held[k].version(), row, prev, floor);
            held_seen[k] = remember(*held[k]);
            ++reads[i];
          }
          if ((++n & 15) == 0) progress.add(16);
        }
        for (std::size_t k = 0; k < held.size(); ++k) release(k);
        if constexpr (K == kind::locked) {
          ls::in_op_scope in;
          parked[i]->release_all();
        }
      }
    };
    st = ls::run_workers(opts, &ctx::handler, progress, body);
    max_retired = max_retired_a.load();
    for (auto& p : parked) {
      if constexpr (K == kind::locked) p->release_all();
    }
    if constexpr (K == kind::seqlock) {
      const plain_pair v = cell->load();
      final_a = v.a;
      final_b = v.b;
    } else {
      auto g = cell->load();
      final_a = g->a.load();
      final_b = g->b.load();
    }
  }  // the cell is destroyed here: every version must have been destroyed exactly once

  std::uint64_t total_updates = 0, total_reads = 0, h_ops = 0, h_skipped = 0, h_failed = 0;
  for (unsigned i = 0; i < T; ++i) {
    total_updates += updates[i];
    total_reads += reads[i];
    h_ops += rows[i]->h_ops.load();
    h_skipped += rows[i]->h_skipped.load();
    h_failed += rows[i]->h_failed.load();
  }
  const bool final_ok = final_a == total_updates && final_b == total_updates;
  const std::uint64_t constructed = g_constructed.load(), destroyed = g_destroyed.load(),
                      twice = g_destroyed_twice.load();
  const bool lifetime_ok = K == kind::seqlock || (constructed == destroyed && twice == 0);

  ls::result_row row;
  row.structure = std::move(structure);
  row.threads = T;
  row.ops = total_updates + total_reads;
  ls::fill_signal_columns(row, st);
  row.handler_ops = h_ops;
  row.handler_ops_skipped = h_skipped;
  row.handler_ops_failed = h_failed;
  row.checks = g_c.checks.load();
  row.expect_violations = broken;
  row.violations = total_violations() + (final_ok ? 0 : 1) + (lifetime_ok ? 0 : 1);
  char buf[600];
  std::snprintf(buf, sizeof buf,
                "%u writer(s): %" PRIu64 " updates, %" PRIu64 " loads, %" PRIu64
                " values checked; final {%" PRIu64 ", %" PRIu64 "} %s; %s; T constructed %" PRIu64
                ", destroyed %" PRIu64 " (twice: %" PRIu64 ")%s",
                writers, total_updates, total_reads, row.checks, final_a, final_b,
                final_ok ? "== updates" : "!= updates (LOST UPDATES)", violations_text().c_str(),
                constructed, destroyed, twice,
                K == kind::seqlock ? " (n/a: trivially copyable)" : "");
  row.detail = buf;
  if constexpr (K == kind::hazard) {
    row.detail += "; reclaim_batch " + std::to_string(batch) + ", max retired_count " +
                  std::to_string(max_retired) + " (bound " + std::to_string(bound) +
                  "), readers hold up to " + std::to_string(hold) + " guards";
  }
  return row;
}

}  // namespace

#endif  // LFKIT_STRESS_SNAPSHOT_HARNESS_HPP
