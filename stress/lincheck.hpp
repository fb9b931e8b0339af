// SPDX-License-Identifier: BSL-1.0
// stress/lincheck.hpp — operation histories and a linearizability checker for small runs.
//
// A history is a set of completed operations, each with an invocation and a response timestamp
// taken from one global seq_cst counter (so "A responded before B was invoked" is A.res < B.inv).
// The checker is Wing & Gong's backtracking search with memoisation of (set of linearized ops,
// model state) (Lowe's refinement): it repeatedly picks a "minimal" pending operation — one invoked
// before every remaining operation's response — applies it to a sequential model if the model
// allows its recorded result, and backtracks otherwise. Histories are small (~30 operations).
//
// Recording is async-signal-safe (handlers record their operations too): a slot is claimed with
// one fetch_add, its fields are relaxed atomics, and the checker reads them only after the round's
// barrier and after every handler has left the round (round_ctx below).
//
// run_rounds<S, Ops>: rounds of 3 threads x 8 operations on a fresh structure S, repeated for the
// scenario's time under the framework's interrupts (and freezes); interrupt handlers may run an
// operation too and record it in the same history, as one more process nested inside the operation
// it interrupted. Each round's history is checked; the first non-linearizable one is printed. `Ops`
// adapts S (stress_lincheck.cpp's cells, queue_scenarios.hpp's queues): make(), checker(strict),
// op(s, proc, value, random), handler(), model_note(strict, busy).
#ifndef LFKIT_STRESS_LINCHECK_HPP
#define LFKIT_STRESS_LINCHECK_HPP

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "stress.hpp"

namespace lfkit::stress::lin {

enum op_kind : std::uint32_t { push, pop, load, store, update, exchange };

/// One completed operation, as the checker sees it.
struct op {
  std::uint32_t proc = 0;  ///< worker index, or 100 + worker index for a handler on that worker
  op_kind kind = push;
  std::uint64_t arg = 0;   ///< push / store / exchange: the value
  bool ok = false;         ///< try_push / try_pop succeeded
  std::uint64_t ret = 0;   ///< pop: value; load/exchange: value; update: version (or new value)
  std::uint64_t ret2 = 0;  ///< load/exchange: version (when the cell reports one)
  std::uint64_t inv = 0, res = 0;
};

inline std::atomic<std::uint64_t> g_clock{0};

/// A history being recorded: capacity `cap` operations, claimed by fetch_add.
class recorder {
 public:
  static constexpr unsigned cap = 48;

  void clear() noexcept { n_.store(0); }
  /// Claims a slot and stamps the invocation; -1 if the history is full (the op is not run then).
  int begin(std::uint32_t proc, op_kind kind, std::uint64_t arg) noexcept {
    const unsigned i = n_.fetch_add(1);
    if (i >= cap) return -1;
    slot& s = slots_[i];
    // relaxed: read by the checker after the round barrier (which orders these).
    s.proc.store(proc, std::memory_order_relaxed);
    s.kind.store(
        kind, std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
    s.arg.store(
        arg, std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
    s.done.store(
        false,
        std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
    s.inv.store(
        g_clock.fetch_add(1),
        std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
    return static_cast<int>(i);
  }
  void end(int i, bool ok, std::uint64_t ret, std::uint64_t ret2 = 0) noexcept {
    slot& s = slots_[static_cast<unsigned>(i)];
    const std::uint64_t t = g_clock.fetch_add(1);
    // relaxed: as above.
    s.ok.store(ok, std::memory_order_relaxed);
    s.ret.store(
        ret, std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
    s.ret2.store(
        ret2, std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
    s.res.store(
        t, std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
    s.done.store(
        true, std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
  }
  /// The completed operations (after the round is over).
  std::vector<op> take() const {
    std::vector<op> out;
    const unsigned n = std::min(n_.load(), cap);
    for (unsigned i = 0; i < n; ++i) {
      const slot& s = slots_[i];
      // relaxed: the round is over; the barrier and the handler gate order these reads.
      if (!s.done.load(std::memory_order_relaxed)) continue;
      op o;
      o.proc = s.proc.load(
          std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
      o.kind = static_cast<op_kind>(s.kind.load(
          std::memory_order_relaxed));  // relaxed: ordered by the round barrier and handler gate
      o.arg = s.arg.load(
          std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
      o.ok = s.ok.load(
          std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
      o.ret = s.ret.load(
          std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
      o.ret2 = s.ret2.load(
          std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
      o.inv = s.inv.load(
          std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
      o.res = s.res.load(
          std::memory_order_relaxed);  // relaxed: ordered by the round barrier and handler gate
      out.push_back(o);
    }
    return out;
  }

 private:
  struct slot {
    std::atomic<std::uint32_t> proc{0}, kind{0};
    std::atomic<std::uint64_t> arg{0}, ret{0}, ret2{0}, inv{0}, res{0};
    std::atomic<bool> ok{false}, done{false};
  };
  slot slots_[cap];
  std::atomic<unsigned> n_{0};
};

/// Sequential model of a bounded FIFO queue of capacity `capacity`. `allow_busy`: a failed try_
/// operation that overlaps another operation may also be the documented "busy slot" failure of
/// lfkit::mpmc_queue (the slot it needs is held by a thread mid-operation), which leaves the
/// state unchanged whatever it is. `strict_pops`: the allowance is for pushes only, a failed pop
/// is legal only when empty (lfkit::lockfree_queue: an overlapping op may hold the free index a
/// push needs, but a pop has no "busy" failure).
struct queue_model {
  std::size_t capacity;
  bool allow_busy;
  bool strict_pops = false;
  using state = std::vector<std::uint64_t>;
  /// Applies o to s; returns false if the model forbids o's recorded result. `busy` is set when
  /// only the busy allowance made it legal.
  bool step(state& s, const op& o, bool overlaps, bool& busy) const {
    busy = false;
    if (o.kind == push) {
      if (o.ok) {
        if (s.size() >= capacity) return false;
        s.push_back(o.arg);
        return true;
      }
      if (s.size() >= capacity) return true;
      busy = allow_busy && overlaps;
      return busy;
    }
    if (o.kind == pop) {
      if (o.ok) {
        if (s.empty() || s.front() != o.ret) return false;
        s.erase(s.begin());
        return true;
      }
      if (s.empty()) return true;
      busy = allow_busy && !strict_pops && overlaps;
      return busy;
    }
    return false;
  }
  static state initial() { return {}; }
};

/// Sequential model of a snapshot register holding (value, version). `versions`: loads/exchanges
/// report the version and update returns it (lfkit::snapshot, locked baselines); otherwise update
/// returns the new value (seqlock_cell) and versions are not compared.
struct register_model {
  bool versions;
  using state = std::vector<std::uint64_t>;  // {value, version}
  bool step(state& s, const op& o, bool, bool& busy) const {
    busy = false;
    switch (o.kind) {
      case load: return o.ret == s[0] && (!versions || o.ret2 == s[1]);
      case store:
        s[0] = o.arg;
        ++s[1];
        return true;
      case update:
        ++s[0];
        ++s[1];
        return versions ? o.ret == s[1] : o.ret == s[0];
      case exchange:
        if (o.ret != s[0] || (versions && o.ret2 != s[1])) return false;
        s[0] = o.arg;
        ++s[1];
        return true;
      default: return false;
    }
  }
  static state initial() { return {0, 0}; }
};

/// Result of a check.
struct verdict {
  bool linearizable = false;
  bool used_busy = false;  ///< a witness needed the busy allowance
};

template <class Model>
class checker {
 public:
  explicit checker(Model m) : m_(m) {}

  verdict check(const std::vector<op>& h) {
    h_ = &h;
    n_ = h.size();
    overlaps_.assign(n_, false);
    for (std::size_t i = 0; i < n_; ++i) {
      for (std::size_t j = 0; j < n_; ++j) {
        if (i != j && h[i].inv < h[j].res && h[j].inv < h[i].res) overlaps_[i] = true;
      }
    }
    seen_.clear();
    busy_ = false;
    typename Model::state s = Model::initial();
    verdict v;
    v.linearizable = n_ > 64 ? false : dfs(0, s, false);
    v.used_busy = busy_;
    return v;
  }

 private:
  bool dfs(std::uint64_t done, typename Model::state& s, bool busy_so_far) {
    if (done == (n_ == 64 ? ~0ull : ((1ull << n_) - 1))) {
      busy_ = busy_so_far;
      return true;
    }
    std::string key(reinterpret_cast<const char*>(&done), sizeof done);
    key.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(std::uint64_t));
    if (!seen_.insert(key).second) return false;
    std::uint64_t min_res = ~0ull;
    for (std::size_t i = 0; i < n_; ++i) {
      if (!(done >> i & 1)) min_res = std::min(min_res, (*h_)[i].res);
    }
    for (std::size_t i = 0; i < n_; ++i) {
      if (done >> i & 1) continue;
      const op& o = (*h_)[i];
      if (o.inv > min_res) continue;  // some pending op responded before o was invoked
      typename Model::state next = s;
      bool busy = false;
      if (!m_.step(next, o, overlaps_[i], busy)) continue;
      if (dfs(done | (1ull << i), next, busy_so_far || busy)) return true;
    }
    return false;
  }

  Model m_;
  const std::vector<op>* h_ = nullptr;
  std::size_t n_ = 0;
  std::vector<bool> overlaps_;
  std::unordered_set<std::string> seen_;
  bool busy_ = false;
};

/// A readable dump of a history, for the report of a violation.
inline std::string describe(const std::vector<op>& h) {
  static const char* names[] = {"push", "pop", "load", "store", "update", "exchange"};
  std::vector<op> s = h;
  std::sort(s.begin(), s.end(), [](const op& a, const op& b) { return a.inv < b.inv; });
  std::string out;
  for (const op& o : s) {
    out += "    [" + std::to_string(o.inv) + "," + std::to_string(o.res) + "] " +
           (o.proc >= 100 ? "handler@" + std::to_string(o.proc - 100)
                          : "thread " + std::to_string(o.proc)) +
           " " + names[o.kind] + "(" +
           (o.kind == push || o.kind == store || o.kind == exchange ? std::to_string(o.arg) : "") +
           ") -> " + (o.kind == push || o.kind == pop ? (o.ok ? "ok " : "fail ") : "") +
           (o.kind == push || o.kind == store ? "" : std::to_string(o.ret)) +
           (o.kind == load || o.kind == exchange ? " v" + std::to_string(o.ret2) : "") + "\n";
  }
  return out;
}

// ---- rounds ------------------------------------------------------------------------------------

constexpr unsigned round_threads = 3;
constexpr unsigned ops_per_thread = 8;

/// Shared state of the current round, visible to handlers through atomics.
template <class S>
struct round_ctx {
  static inline std::atomic<S*> structure{nullptr};
  static inline recorder rec;
  static inline std::atomic<bool> active{false};
  static inline std::atomic<int> inflight{0};
  static inline bool handler_ops = true;
  static inline std::atomic<std::uint64_t> h_ops{0}, h_failed{0}, torn{0};
  static inline constinit thread_local std::atomic<std::uint64_t> t_count{0};

  /// The handler gate: a handler runs its operation only while the round is active; the thread
  /// that ends the round clears `active` and waits for `inflight` to drain (seq_cst Dekker: either
  /// the handler sees the round over, or the ender sees the handler in flight).
  template <class F>
  static void gated(F f) {
    if (!handler_ops || !active.load()) return;
    inflight.fetch_add(1);
    if (active.load()) f(*structure.load());
    inflight.fetch_sub(1);
  }
  static void end_round() {
    active.store(false);
    while (inflight.load() != 0) std::this_thread::yield();
  }
};

/// The end of a row's detail for a model with the busy allowance (`strict`: without it).
inline std::string allowance_note(bool strict, std::uint64_t busy) {
  return strict ? "strict model"
                : "busy-slot failures allowed when overlapping (" + std::to_string(busy) +
                      " histories needed that allowance)";
}

/// Runs rounds on S through Ops (see the file comment) for the scenario's time and checks each
/// round's history against Ops::checker(strict). `handler_ops`: interrupt handlers run Ops::handler;
/// `broken`: a deliberately broken demo (violations expected).
template <class S, class Ops>
result_row run_rounds(const options& opts_in, std::string structure, bool strict, bool handler_ops,
                      bool broken) {
  using ctx = round_ctx<S>;
  options opts = opts_in;
  opts.threads = round_threads;
  ctx::handler_ops = handler_ops;
  ctx::h_ops.store(0);
  ctx::h_failed.store(0);
  ctx::torn.store(0);
  ctx::active.store(false);
  std::unique_ptr<S> current = Ops::make();
  ctx::structure.store(current.get());
  ctx::rec.clear();
  ctx::active.store(true);

  std::barrier sync(round_threads);
  bool finish = false;  // written by worker 0 before the start barrier, read after it
  std::uint64_t histories = 0, bad = 0, busy = 0, total_ops = 0;
  std::string first_bad;
  auto checker = Ops::checker(strict);
  lfkit::sharded_counter progress;

  auto body = [&](unsigned i, const std::atomic<bool>& stop) {
    stress::rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
    for (std::uint64_t round = 0;; ++round) {
      sync.arrive_and_wait();  // start
      if (finish) break;
      S& s = *current;
      for (unsigned k = 0; k < ops_per_thread; ++k) {
        const std::uint64_t x = r.next();
        for (std::uint64_t spin = x >> 60; spin > 0; --spin)
          std::atomic_signal_fence(std::memory_order_seq_cst);
        if ((x >> 56 & 15) == 0) std::this_thread::yield();
        Ops::op(s, i, (static_cast<std::uint64_t>(i) + 1) << 32 | (round << 8) | k, x);
      }
      sync.arrive_and_wait();  // end
      if (i == 0) {
        ctx::end_round();
        const std::vector<op> h = ctx::rec.take();
        total_ops += h.size();
        const verdict v = checker.check(h);
        ++histories;
        if (!v.linearizable) {
          if (bad++ == 0) first_bad = describe(h);
        } else if (v.used_busy) {
          ++busy;
        }
        progress.add(h.size());
        ctx::structure.store(nullptr);
        current = Ops::make();
        ctx::structure.store(current.get());
        ctx::rec.clear();
        ctx::active.store(true);
        finish = stop.load();
      }
    }
  };
  const run_stats st = run_workers(opts, &Ops::handler, progress, body);
  ctx::end_round();

  result_row row;
  row.structure = std::move(structure);
  row.threads = round_threads;
  row.ops = total_ops;
  fill_signal_columns(row, st);
  // Rounds are barrier-synchronised: a frozen thread stops every round whatever the structure, so
  // the others' progress during a freeze says nothing about it here (freezes still shake histories).
  row.freeze = freeze_stats{};
  row.handler_ops = ctx::h_ops.load();
  row.checks = histories;
  row.expect_violations = broken;
  row.violations = bad + ctx::torn.load();
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%" PRIu64 " histories of %u threads x %u ops (+ handler ops), %" PRIu64
                " not linearizable, %" PRIu64 " torn values; ",
                histories, round_threads, ops_per_thread, bad, ctx::torn.load());
  row.detail = buf + Ops::model_note(strict, busy);
  if (bad > 0 && (!broken || opts_in.strict_demos)) {
    std::fprintf(stderr,
                 "  first non-linearizable history (%s, [inv,res] from one global clock):\n%s",
                 row.structure.c_str(), first_bad.c_str());
  }
  return row;
}

}  // namespace lfkit::stress::lin

#endif  // LFKIT_STRESS_LINCHECK_HPP
