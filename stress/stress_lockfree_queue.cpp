// SPDX-License-Identifier: BSL-1.0
// stress/stress_lockfree_queue.cpp — lfkit::lockfree_queue (SCQ rings) under injected interrupts,
// freezes and perturbed schedules, and its histories checked for linearizability.
//
// queue_lockfree: the pattern of stress_mpmc_queue.cpp's queue_lfkit. Workers: the first half
// produce, the rest consume (one worker does both when alone). Items are {tag, check}: tag =
// producer id << 40 | sequence number, check = mix64(tag). Producers mix try_push, try_push_n,
// push and try_push_for; consumers try_pop, try_pop_n, pop and try_pop_for. Every interrupt
// handler does one try_push (as producer "handler of worker w") or one try_pop, accounted in its
// own row of signal-safe atomics. At the deadline the main thread calls close() mid-traffic (still
// interrupted); producers stop on failure, consumers drain with pop() until it returns false.
// Checks, exactly: items well formed and known; per-producer FIFO for every consumer; nothing lost
// or duplicated (count and multiset hash of popped == pushed); close drains (nothing left after
// every consumer's pop() returned false) and no push that started after close() returned succeeded.
// queue_lockfree_blocking: the same with blocking and timed operations only, capacity 1-4 and
// unbalanced sides (a lost wake-up hangs it; the framework reports that as exit status 3).
// lincheck_queue_lockfree: 3 threads x 8 try_ ops on a capacity-3 queue (+ handler ops), each
// round's history checked against a FIFO model in which a failed try_pop is legal only when the
// queue is empty (strict: this queue has no "busy" failure), and a failed try_push only when full
// or when it overlaps another operation (that operation may hold the free index it needed).
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lincheck.hpp"
#include "perturbed_atomic.hpp"
#include "stress.hpp"

#include "lfkit/lockfree_queue.hpp"

namespace ls = lfkit::stress;
namespace lin = lfkit::stress::lin;

namespace {

struct item {
  std::uint64_t tag = 0;
  std::uint64_t check = 0;
};
constexpr unsigned seq_bits = 40;
constexpr std::uint64_t seq_mask = (std::uint64_t{1} << seq_bits) - 1;
inline item make_item(std::uint64_t producer, std::uint64_t seq) {
  const std::uint64_t tag = producer << seq_bits | seq;
  return item{tag, ls::mix64(tag)};
}
inline std::uint64_t item_hash(std::uint64_t tag) { return ls::mix64(tag ^ 0x0123456789ABCDEFull); }

/// A counter with one writer at a time (a worker, or the handlers of one worker, which never nest)
/// read after join: relaxed load + store, no RMW needed.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + by,
          std::memory_order_relaxed);  // relaxed: single writer, read after join
}

/// What one consumer (a worker, or the handlers of one worker) saw.
struct consumer_row {
  std::vector<std::atomic<std::uint64_t>> next_seq;  // per producer: 1 + last sequence seen
  std::atomic<std::uint64_t> popped{0}, hash{0}, malformed{0}, unknown{0}, fifo{0};
  explicit consumer_row(std::size_t producers) : next_seq(producers) {}
  void record(const item& it, std::size_t producers) noexcept {
    if (it.check != ls::mix64(it.tag)) {
      bump(malformed);
    } else {
      const std::uint64_t p = it.tag >> seq_bits;
      const std::uint64_t s = it.tag & seq_mask;
      if (p >= producers) {
        bump(unknown);
      } else {
        if (s + 1 <= next_seq[p].load(std::memory_order_relaxed))
          bump(fifo);  // relaxed: single writer
        next_seq[p].store(s + 1,
                          std::memory_order_relaxed);  // relaxed: single writer, read after join
      }
    }
    bump(popped);
    bump(hash, item_hash(it.tag));
  }
};

/// What one producer (a worker, or the handlers of one worker) pushed.
struct producer_row {
  std::atomic<std::uint64_t> pushed{0}, hash{0}, after_close{0};
  void count(std::uint64_t tag, bool closed_before) noexcept {
    bump(pushed);
    bump(hash, item_hash(tag));
    if (closed_before) bump(after_close);
  }
};

struct handler_row {
  std::atomic<std::uint64_t> ops{0}, failed{0}, n{0};
};

template <class Q>
struct queue_ctx {
  static inline Q* q = nullptr;
  static inline unsigned threads = 0;
  static inline std::uint64_t seed = 0;
  static inline std::vector<std::unique_ptr<consumer_row>>* consumers =
      nullptr;  // [0,T) workers, [T,2T) handlers
  static inline std::vector<std::unique_ptr<producer_row>>* producers = nullptr;
  static inline std::vector<std::unique_ptr<handler_row>>* handlers = nullptr;
  static inline std::atomic<bool> closed_done{false};

  // In the signal handler: only the queue's async-signal-safe try_ operations.
  static void handler() {
    const int wi =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (wi < 0) return;
    const auto w = static_cast<std::size_t>(wi);
    handler_row& h = *(*handlers)[w];
    const std::uint64_t n =
        h.n.load(std::memory_order_relaxed);  // relaxed: this thread's handlers only
    bump(h.n);
    if ((ls::mix64(n ^ seed ^ (w << 32)) & 1) == 0) {
      producer_row& pr = *(*producers)[threads + w];
      const item it =
          make_item(threads + w, pr.pushed.load(std::memory_order_relaxed));  // relaxed: own row
      const bool closed_before = closed_done.load();
      if (q->try_push(it)) {
        pr.count(it.tag, closed_before);
        bump(h.ops);
      } else {
        bump(h.failed);
      }
    } else {
      item it;
      if (q->try_pop(it)) {
        (*consumers)[threads + w]->record(it, 2 * threads);
        bump(h.ops);
      } else {
        bump(h.failed);
      }
    }
  }
};

template <class F>
auto call(F&& f) {
  ls::in_op_scope scope;  // freezes aim at threads inside an operation
  return f();
}

template <class Q>
ls::result_row run_queue(const ls::options& opts, std::string structure, bool blocking) {
  using ctx = queue_ctx<Q>;
  static constexpr std::size_t capacities[] = {1, 3, 4, 5, 16, 64, 100, 1024};
  const std::size_t capacity = blocking ? 1 + opts.seed % 4 : capacities[opts.seed % 8];
  Q q(capacity);
  const unsigned T = opts.threads;
  std::vector<std::unique_ptr<consumer_row>> consumers;
  std::vector<std::unique_ptr<producer_row>> producers;
  std::vector<std::unique_ptr<handler_row>> handlers;
  for (unsigned i = 0; i < 2 * T; ++i) {
    consumers.push_back(std::make_unique<consumer_row>(2 * T));
    producers.push_back(std::make_unique<producer_row>());
  }
  for (unsigned i = 0; i < T; ++i) handlers.push_back(std::make_unique<handler_row>());
  ctx::q = &q;
  ctx::threads = T;
  ctx::seed = opts.seed;
  ctx::consumers = &consumers;
  ctx::producers = &producers;
  ctx::handlers = &handlers;
  ctx::closed_done.store(false);

  const unsigned n_prod = T == 1     ? 1
                          : blocking ? 1 + static_cast<unsigned>((opts.seed / 4) % (T - 1))
                                     : T / 2;
  // --symmetric: every worker both a producer and a consumer (see stress_mpmc_queue.cpp).
  const bool mixed = opts.symmetric && !blocking && T > 1;
  lfkit::sharded_counter progress;
  std::vector<std::uint64_t> worker_ops(T, 0);
  const auto timeout = std::chrono::microseconds(500);

  auto body = [&](unsigned i, const std::atomic<bool>&) {
    ls::rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
    producer_row& pr = *producers[i];
    consumer_row& cr = *consumers[i];
    std::uint64_t ops = 0;
    bool producing = mixed || i < n_prod, consuming = mixed || T == 1 || i >= n_prod;
    bool draining = false;
    auto done_ops = [&](std::uint64_t n) {
      ops += n;
      progress.add(n);
    };
    while (producing || consuming) {
      if (producing) {
        const std::uint64_t next = pr.pushed.load(std::memory_order_relaxed);  // relaxed: own row
        const bool closed_before = ctx::closed_done.load();
        unsigned kind = static_cast<unsigned>(r.next() % (mixed ? 12 : 16));
        if (blocking && T != 1) kind = 12 + (kind & 3);
        if (kind >= 10 && kind < 12) {  // bulk: up to 4 consecutive items
          item batch[4];
          const std::size_t k = 1 + r.next() % 4;
          for (std::size_t j = 0; j < k; ++j) batch[j] = make_item(i, next + j);
          const std::size_t n = call([&] { return q.try_push_n(batch, k); });
          for (std::size_t j = 0; j < n; ++j) pr.count(batch[j].tag, closed_before);
          done_ops(n);
          if (n < k && call([&] { return q.is_closed(); })) producing = false;
        } else {
          const item it = make_item(i, next);
          bool ok;
          if (kind < 12 || T == 1) ok = call([&] { return q.try_push(it); });
          else if (kind < 14)
            ok = call([&] {
              item copy = it;
              return q.push(std::move(copy));
            });
          else
            ok = call([&] {
              item copy = it;
              return q.try_push_for(std::move(copy), timeout);
            });
          if (ok) {
            pr.count(it.tag, closed_before);
            done_ops(1);
          } else if (call([&] { return q.is_closed(); })) {
            producing = false;
          }
        }
      }
      if (consuming) {
        item it;
        bool ok;
        if (!draining && !blocking && r.next() % 8 == 0) {
          item batch[4];
          const std::size_t n = call([&] { return q.try_pop_n(batch, 1 + r.next() % 4); });
          for (std::size_t j = 0; j < n; ++j) cr.record(batch[j], 2 * T);
          done_ops(n);
          if (n == 0 && call([&] { return q.is_closed(); })) draining = !producing;
          continue;
        }
        if (draining) {
          ok = call([&] { return q.pop(it); });
          if (!ok) consuming = false;  // closed and drained
        } else {
          unsigned kind = static_cast<unsigned>(r.next() % (mixed ? 12 : 16));
          if (blocking && T != 1) kind = 12 + (kind & 3);
          if (kind < 12 || T == 1) ok = call([&] { return q.try_pop(it); });
          else if (kind < 14) ok = call([&] { return q.pop(it); });
          else ok = call([&] { return q.try_pop_for(it, timeout); });
          if (!ok && call([&] { return q.is_closed(); })) draining = !producing;
          if (!ok && kind >= 12 && kind < 14 && T != 1)
            consuming = false;  // blocking pop: closed, drained
        }
        if (ok) {
          cr.record(it, 2 * T);
          done_ops(1);
        }
      }
    }
    worker_ops[i] = ops;
  };
  const ls::run_stats st = ls::run_workers(opts, &ctx::handler, progress, body, [&] {
    q.close();  // mid-traffic, under interrupts
    ctx::closed_done.store(true);
  });

  std::uint64_t pushed = 0, push_hash = 0, after_close = 0, popped = 0, pop_hash = 0, malformed = 0,
                unknown = 0, fifo = 0, h_pushed = 0, h_popped = 0;
  for (unsigned i = 0; i < 2 * T; ++i) {
    pushed += producers[i]->pushed.load();
    push_hash += producers[i]->hash.load();
    after_close += producers[i]->after_close.load();
    popped += consumers[i]->popped.load();
    pop_hash += consumers[i]->hash.load();
    malformed += consumers[i]->malformed.load();
    unknown += consumers[i]->unknown.load();
    fifo += consumers[i]->fifo.load();
    if (i >= T) {
      h_pushed += producers[i]->pushed.load();
      h_popped += consumers[i]->popped.load();
    }
  }
  std::uint64_t left = 0;
  {
    item it;
    while (q.try_pop(it)) ++left;
  }
  std::uint64_t h_ops = 0, h_failed = 0;
  for (auto& h : handlers) {
    h_ops += h->ops.load();
    h_failed += h->failed.load();
  }
  const bool count_ok = popped == pushed, hash_ok = pop_hash == push_hash;

  ls::result_row row;
  row.structure = std::move(structure);
  row.threads = T;
  for (auto o : worker_ops) row.ops += o;
  ls::fill_signal_columns(row, st);
  row.handler_ops = h_ops;
  row.handler_ops_failed = h_failed;
  row.checks = popped;
  row.violations =
      malformed + unknown + fifo + after_close + left + (count_ok ? 0 : 1) + (hash_ok ? 0 : 1);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "capacity %zu, %u producer(s); pushed %" PRIu64 " (handlers: %" PRIu64
                "), popped %" PRIu64 " (handlers: %" PRIu64
                "); multiset hash %s; malformed %" PRIu64 ", unknown %" PRIu64
                ", per-producer FIFO breaks %" PRIu64 ", pushes after close %" PRIu64
                ", left after drain %" PRIu64,
                capacity, mixed ? T : n_prod, pushed, h_pushed, popped, h_popped,
                hash_ok ? "equal" : "DIFFERS (lost/duplicated items)", malformed, unknown, fifo,
                after_close, left);
  row.detail = buf;
  return row;
}

ls::result_row queue_lockfree(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::lockfree_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::lockfree_queue (perturbed)", false);
  }
  return run_queue<lfkit::lockfree_queue<item>>(o, "lfkit::lockfree_queue", false);
}
LFKIT_STRESS_SCENARIO("queue_lockfree",
                      "lfkit::lockfree_queue: handler try_push/try_pop, close mid-run; no "
                      "loss/dup, FIFO per producer",
                      queue_lockfree);
ls::result_row queue_lockfree_blocking(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::lockfree_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::lockfree_queue blocking (perturbed)", true);
  }
  return run_queue<lfkit::lockfree_queue<item>>(o, "lfkit::lockfree_queue blocking ops", true);
}
LFKIT_STRESS_SCENARIO("queue_lockfree_blocking",
                      "lfkit::lockfree_queue: only push/pop/timed ops, capacity 1-4, unbalanced "
                      "sides (lost wake-ups)",
                      queue_lockfree_blocking);

// ---- linearizability ---------------------------------------------------------------------------

constexpr unsigned lin_threads = 3;
constexpr unsigned ops_per_thread = 8;
constexpr std::size_t lin_capacity = 3;

/// FIFO of capacity `capacity`: a failed pop is legal only when empty; a failed push when full,
/// or when it overlaps another operation (which may hold the free index it needed: a push from
/// its first step, a pop until its last).
struct lockfree_queue_model {
  std::size_t capacity;
  using state = std::vector<std::uint64_t>;
  bool step(state& s, const lin::op& o, bool overlaps, bool& busy) const {
    busy = false;
    if (o.kind == lin::push) {
      if (o.ok) {
        if (s.size() >= capacity) return false;
        s.push_back(o.arg);
        return true;
      }
      if (s.size() >= capacity) return true;
      busy = overlaps;
      return busy;
    }
    if (o.kind == lin::pop) {
      if (o.ok) {
        if (s.empty() || s.front() != o.ret) return false;
        s.erase(s.begin());
        return true;
      }
      return s.empty();
    }
    return false;
  }
  static state initial() { return {}; }
};

template <class Q>
struct lin_ctx {
  static inline std::atomic<Q*> queue{nullptr};
  static inline lin::recorder rec;
  static inline std::atomic<bool> active{false};
  static inline std::atomic<int> inflight{0};
  static inline std::atomic<std::uint64_t> h_ops{0}, torn{0};
  static inline constinit thread_local std::atomic<std::uint64_t> t_count{0};

  static void op(Q& q, std::uint32_t proc, std::uint64_t value, std::uint64_t r) {
    if (r & 1) {
      const int i = rec.begin(proc, lin::push, value);
      if (i < 0) return;
      const bool ok = q.try_push(item{value, ls::mix64(value)});
      rec.end(i, ok, 0);
    } else {
      const int i = rec.begin(proc, lin::pop, 0);
      if (i < 0) return;
      item it;
      const bool ok = q.try_pop(it);
      if (ok && it.check != ls::mix64(it.tag)) torn.fetch_add(1);
      rec.end(i, ok, ok ? it.tag : 0);
    }
  }
  /// Handler op, gated: runs only while the round is active (seq_cst Dekker with end_round()).
  static void handler() {
    const int w =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (w < 0) return;
    const std::uint64_t n = t_count.load(std::memory_order_relaxed);  // relaxed: this thread only
    t_count.store(n + 1, std::memory_order_relaxed);                  // relaxed: as above
    if (!active.load()) return;
    inflight.fetch_add(1);
    if (active.load()) {
      op(*queue.load(), 100 + static_cast<std::uint32_t>(w),
         (100 + static_cast<std::uint64_t>(w)) << 32 | n, ls::mix64(n ^ 0x77));
      h_ops.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    }
    inflight.fetch_sub(1);
  }
  static void end_round() {
    active.store(false);
    while (inflight.load() != 0) std::this_thread::yield();
  }
};

template <class Q>
ls::result_row run_lincheck(const ls::options& opts_in, std::string structure) {
  using ctx = lin_ctx<Q>;
  ls::options opts = opts_in;
  opts.threads = lin_threads;
  ctx::h_ops.store(0);
  ctx::torn.store(0);
  std::unique_ptr<Q> current = std::make_unique<Q>(lin_capacity);
  ctx::queue.store(current.get());
  ctx::rec.clear();
  ctx::active.store(true);
  std::barrier sync(lin_threads);
  bool finish = false;  // written by worker 0 before the start barrier, read after it
  std::uint64_t histories = 0, bad = 0, busy = 0, total_ops = 0;
  std::string first_bad;
  lin::checker<lockfree_queue_model> checker({lin_capacity});
  lfkit::sharded_counter progress;

  auto body = [&](unsigned i, const std::atomic<bool>& stop) {
    ls::rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
    for (std::uint64_t round = 0;; ++round) {
      sync.arrive_and_wait();  // start
      if (finish) break;
      Q& q = *current;
      for (unsigned k = 0; k < ops_per_thread; ++k) {
        const std::uint64_t x = r.next();
        for (std::uint64_t spin = x >> 60; spin > 0; --spin)
          std::atomic_signal_fence(std::memory_order_seq_cst);
        if ((x >> 56 & 15) == 0) std::this_thread::yield();
        ctx::op(q, i, (static_cast<std::uint64_t>(i) + 1) << 32 | (round << 8) | k, x);
      }
      sync.arrive_and_wait();  // end
      if (i == 0) {
        ctx::end_round();
        const std::vector<lin::op> h = ctx::rec.take();
        total_ops += h.size();
        const lin::verdict v = checker.check(h);
        ++histories;
        if (!v.linearizable) {
          if (bad++ == 0) first_bad = lin::describe(h);
        } else if (v.used_busy) {
          ++busy;
        }
        progress.add(h.size());
        ctx::queue.store(nullptr);
        current = std::make_unique<Q>(lin_capacity);
        ctx::queue.store(current.get());
        ctx::rec.clear();
        ctx::active.store(true);
        finish = stop.load();
      }
    }
  };
  const ls::run_stats st = ls::run_workers(opts, &ctx::handler, progress, body);
  ctx::end_round();

  ls::result_row row;
  row.structure = std::move(structure);
  row.threads = lin_threads;
  row.ops = total_ops;
  ls::fill_signal_columns(row, st);
  row.freeze = ls::freeze_stats{};  // rounds are barrier-synchronised: a freeze stops every round
  row.handler_ops = ctx::h_ops.load();
  row.checks = histories;
  row.violations = bad + ctx::torn.load();
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%" PRIu64 " histories of %u threads x %u ops (+ handler ops), %" PRIu64
                " not linearizable, %" PRIu64 " torn values; failed pops strict, %" PRIu64
                " histories needed an overlapping failed push",
                histories, lin_threads, ops_per_thread, bad, ctx::torn.load(), busy);
  row.detail = buf;
  if (bad > 0) {
    std::fprintf(stderr,
                 "  first non-linearizable history (%s, [inv,res] from one global clock):\n%s",
                 row.structure.c_str(), first_bad.c_str());
  }
  return row;
}

ls::result_row lincheck_queue_lockfree(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_lincheck<lfkit::lockfree_queue<item, ls::perturbed_atomic>>(
        o, "lfkit::lockfree_queue (perturbed)");
  }
  return run_lincheck<lfkit::lockfree_queue<item>>(o, "lfkit::lockfree_queue");
}
LFKIT_STRESS_SCENARIO(
    "lincheck_queue_lockfree",
    "lfkit::lockfree_queue: 3x8-op histories (+ handler ops) vs a FIFO model, failed pops strict",
    lincheck_queue_lockfree);

}  // namespace
