// SPDX-License-Identifier: BSL-1.0
// stress/queue_scenarios.hpp — the stress workers and checks lfkit's bounded queues share, written
// once and templated over the queue type `Q` (a queue of `item`). The scenarios that use them are
// registered in stress_mpmc_queue.cpp (lfkit::mpmc_queue, baseline::mutex_queue, the broken ring),
// stress_lockfree_queue.cpp (lfkit::lockfree_queue) and stress_lincheck.cpp.
//
// run_queue<Q>: the first half of the workers are producers, the rest consumers (one worker does
// both). Items are {tag, check}: tag = producer id << 40 | sequence number, check = mix64(tag) (a
// torn or garbage item fails it). Producers push 0, 1, 2, ... each with a random mix of try_push,
// try_push_n (up to 4 consecutive items; where Q has it), blocking push and try_push_for;
// consumers pop with try_pop, try_pop_n, blocking pop and try_pop_for. Every interrupt handler
// does one try_push (as producer "handler of worker w", ids threads + w) or one try_pop (as
// consumer "handler of worker w"), accounting in that handler's own row of signal-safe atomics.
// At the deadline the main thread calls close() while everything is still running (and still
// interrupted): producers' pushes then fail, consumers drain with blocking pop() until it returns
// false. Checks, exactly:
//   * every popped item is well formed (check word) and from a known producer and sequence;
//   * per-producer FIFO: each consumer (worker or handler) sees each producer's sequence numbers
//     strictly increasing (so no duplicate within a consumer either);
//   * nothing lost, nothing duplicated: the number of items popped equals the number pushed, and
//     the multiset hash (sum of mix64 of the tags) of the popped items equals that of the pushed;
//   * close drains: after every consumer's pop() returned false the queue is empty (and drained()
//     is true, where Q has it), and no push that started after close() returned succeeded.
// run_config::blocking: blocking and timed operations only, capacity 1-4, unbalanced sides. A lost
// wake-up leaves the workers asleep while handlers and timed ops trickle on (close() would then
// wake everyone at the deadline and hide it), so a watch thread counts the time in which no
// worker completed an operation: a stretch of more than stall_limit_ms (only time in which the
// watch itself ran on schedule counts, so a stalled machine is not blamed on the queue) is a
// violation. A wind-down that never finishes is reported as a hang (exit status 3).
// run_config::baseline: handlers cannot call a mutex queue when they interrupted a thread inside
// a queue call (it may hold the mutex: deadlock); they skip and count it (h.skip).
//
// lin_ops<Q, StrictPops>: the queue as lin::run_rounds (lincheck.hpp) drives it: capacity 3,
// try_push of {value, mix64(value)} or try_pop (a popped item failing its check word counts as
// torn); handlers do one too. Checked against lin::queue_model; StrictPops: failed pops strict.
#ifndef LFKIT_STRESS_QUEUE_SCENARIOS_HPP
#define LFKIT_STRESS_QUEUE_SCENARIOS_HPP

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "lincheck.hpp"
#include "stress.hpp"

namespace lfkit::stress::queues {

struct item {
  std::uint64_t tag = 0;
  std::uint64_t check = 0;
};
constexpr unsigned seq_bits = 40;
constexpr std::uint64_t seq_mask = (std::uint64_t{1} << seq_bits) - 1;
inline item make_item(std::uint64_t producer, std::uint64_t seq) {
  const std::uint64_t tag = producer << seq_bits | seq;
  return item{tag, mix64(tag)};
}
inline std::uint64_t item_hash(std::uint64_t tag) { return mix64(tag ^ 0x0123456789ABCDEFull); }

/// A word-sized element (the tag alone), for lfkit::mpmc_queue's word mode (elements of at most 8
/// bytes, read by a consumer before its claim). It converts to and from item (the check word
/// recomputed), so the workers and checks run unchanged: a stale word read and wrongly kept shows
/// as a duplicate and a loss, or a FIFO violation, not as a malformed item.
struct word_item {
  std::uint64_t tag = 0;
  word_item() = default;
  word_item(const item& it) noexcept : tag(it.tag) {}               // NOLINT: implicit by design
  operator item() const noexcept { return item{tag, mix64(tag)}; }  // NOLINT: implicit by design
};
static_assert(sizeof(word_item) == 8 && std::is_trivially_copyable_v<word_item>);

/// A queue of word_item with the single-element pops the workers call (into an item).
template <class Base>
struct word_adapter : Base {
  using Base::Base;
  bool try_pop(item& out) noexcept {
    word_item w;
    if (!Base::try_pop(w)) return false;
    out = w;
    return true;
  }
  bool pop(item& out) {
    word_item w;
    if (!Base::pop(w)) return false;
    out = w;
    return true;
  }
  template <class Rep, class Period>
  bool try_pop_for(item& out, const std::chrono::duration<Rep, Period>& timeout) {
    word_item w;
    if (!Base::try_pop_for(w, timeout)) return false;
    out = w;
    return true;
  }
};

/// A counter with one writer at a time (a worker, or the handlers of one worker, which never nest:
/// the interrupt signal is blocked while its handler runs) read after join: relaxed load + store,
/// no RMW needed.
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
    if (it.check != mix64(it.tag)) {
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
  std::atomic<std::uint64_t> pushed{0};  // also the next sequence number
  std::atomic<std::uint64_t> hash{0};
  /// Pushes that started after close() returned, yet succeeded.
  std::atomic<std::uint64_t> after_close{0};
  void count(std::uint64_t tag, bool closed_before) noexcept {
    bump(pushed);
    bump(hash, item_hash(tag));
    if (closed_before) bump(after_close);
  }
};

/// Per-handler counters (one per worker thread, touched only by that thread's handlers).
struct handler_row {
  std::atomic<std::uint64_t> n{0}, ops{0}, failed{0}, skipped{0};
};

template <class Q>
struct queue_ctx {
  static inline Q* q = nullptr;
  static inline unsigned threads = 0;  // producer ids: workers [0,T), handlers [T,2T)
  static inline bool baseline = false;
  static inline std::uint64_t seed = 0;
  static inline std::vector<std::unique_ptr<consumer_row>>* consumers =
      nullptr;  // [0,T) workers, [T,2T) handlers
  static inline std::vector<std::unique_ptr<producer_row>>* producers = nullptr;
  static inline std::vector<std::unique_ptr<handler_row>>* handlers = nullptr;
  static inline std::atomic<bool> closed_done{false};

  // Runs inside the signal handler: only the queue's async-signal-safe try_ operations (see the
  // file comment for the baseline).
  static void handler() {
    const int wi = t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (wi < 0) return;
    const auto w = static_cast<std::size_t>(wi);
    handler_row& h = *(*handlers)[w];
    const std::uint64_t n =
        h.n.load(std::memory_order_relaxed);  // relaxed: this thread's handlers only
    bump(h.n);
    if (baseline && t_in_op.load(std::memory_order_relaxed)) {  // relaxed: set by this thread
      bump(h.skipped);  // the interrupted thread may hold the queue's mutex: calling it deadlocks
      return;
    }
    if ((mix64(n ^ seed ^ (w << 32)) & 1) == 0) {
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

/// Every call into the queue is marked (t_in_op): baseline handlers skip while it is set, and
/// targeted freezes aim at it.
template <class F>
auto call(F&& f) {
  in_op_scope scope;
  return f();
}

/// Queues with try_push_n / try_pop_n (the broken ring has neither).
template <class Q>
concept bulk_queue = requires(Q& q, item* p) {
  q.try_push_n(p, std::size_t{1});
  q.try_pop_n(p, std::size_t{1});
};

/// Blocking runs: the longest stretch of quiet (no worker operation completed) that is not a
/// violation. A frozen slot holder (20 ms freezes) or a descheduled thread stays far below it.
constexpr unsigned stall_limit_ms = 250;

/// What a run_queue scenario is (see the file comment).
struct run_config {
  bool blocking = false;  ///< blocking and timed ops only, capacity 1-4, unbalanced sides
  bool baseline = false;  ///< handlers skip while their thread is inside a queue call
  bool broken = false;    ///< a deliberately broken demo: violations are the point
  /// Progress (the freeze measurement's count) added after every operation; otherwise every 16th
  /// single operation adds 16 (bulk calls add theirs at once either way).
  bool progress_each_op = false;
};

template <class Q>
result_row run_queue(const options& opts, std::string structure, run_config cfg) {
  using ctx = queue_ctx<Q>;
  const bool blocking = cfg.blocking;
  // Exact capacities, powers of two or not (lfkit's queues do not round): chosen by the seed.
  static constexpr std::size_t capacities[] = {1, 3, 4, 5, 16, 64, 100, 1024};
  // Blocking-only runs use tiny capacities so that threads sleep and wake all the time.
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
  ctx::baseline = cfg.baseline;
  ctx::seed = opts.seed;
  ctx::consumers = &consumers;
  ctx::producers = &producers;
  ctx::handlers = &handlers;
  ctx::closed_done.store(false);

  // Blocking-only runs unbalance producers and consumers (by the seed) so one side mostly sleeps.
  const unsigned n_prod = T == 1     ? 1
                          : blocking ? 1 + static_cast<unsigned>((opts.seed / 4) % (T - 1))
                                     : T / 2;
  // --symmetric: every worker both a producer and a consumer, so that a frozen producer does not
  // cut the others' supply (the freeze then measures the queue, not the harness); try_ ops only,
  // as blocking ones could all wait on a full (or empty) queue with nobody on the other side.
  const bool mixed = opts.symmetric && !blocking && T > 1;
  lfkit::sharded_counter progress;
  std::vector<std::uint64_t> worker_ops(T, 0);
  const auto timeout = std::chrono::microseconds(500);
  // Worker operations completed, for the stall watch (blocking runs). relaxed (all accesses): a
  // count the watch polls; no data is passed with it.
  std::atomic<std::uint64_t> completed{0};

  auto body = [&](unsigned i, const std::atomic<bool>&) {
    rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
    producer_row& pr = *producers[i];
    consumer_row& cr = *consumers[i];
    std::uint64_t ops = 0;
    bool producing = mixed || i < n_prod, consuming = mixed || T == 1 || i >= n_prod;
    bool draining = false;
    auto done_bulk = [&](std::uint64_t n) {
      ops += n;
      progress.add(n);
    };
    auto done_one = [&] {
      ++ops;
      if (blocking) completed.fetch_add(1, std::memory_order_relaxed);  // relaxed: see above
      if (cfg.progress_each_op) progress.add(1);
      else if ((ops & 15) == 0) progress.add(16);
    };
    while (producing || consuming) {
      if (producing) {
        const std::uint64_t next = pr.pushed.load(std::memory_order_relaxed);  // relaxed: own row
        const bool closed_before = ctx::closed_done.load();
        unsigned kind = static_cast<unsigned>(r.next() % (mixed ? 12 : 16));
        if (blocking && T != 1) kind = 12 + (kind & 3);  // push or try_push_for only
        bool bulk = false;
        if constexpr (bulk_queue<Q>) {
          if (kind >= 10 && kind < 12) {  // bulk: up to 4 consecutive items, one call
            bulk = true;
            item batch[4];
            const std::size_t k = 1 + r.next() % 4;
            for (std::size_t j = 0; j < k; ++j) batch[j] = make_item(i, next + j);
            const std::size_t n = call([&] { return q.try_push_n(batch, k); });
            for (std::size_t j = 0; j < n; ++j) pr.count(batch[j].tag, closed_before);
            done_bulk(n);
            if (n < k && call([&] { return q.is_closed(); })) producing = false;
          }
        }
        if (!bulk) {
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
            done_one();
          } else if (call([&] { return q.is_closed(); })) {
            producing = false;
          }
        }
      }
      if (consuming) {
        item it;
        bool ok;
        if constexpr (bulk_queue<Q>) {
          if (!draining && !blocking && r.next() % 8 == 0) {  // bulk: up to 4 items, one call
            item batch[4];
            const std::size_t n = call([&] { return q.try_pop_n(batch, 1 + r.next() % 4); });
            for (std::size_t j = 0; j < n; ++j) cr.record(batch[j], 2 * T);
            done_bulk(n);
            if (n == 0 && call([&] { return q.is_closed(); })) draining = !producing;
            continue;
          }
        }
        if (draining) {
          ok = call([&] { return q.pop(it); });
          if (!ok) consuming = false;  // closed and drained
        } else {
          unsigned kind = static_cast<unsigned>(r.next() % (mixed ? 12 : 16));
          if (blocking && T != 1) kind = 12 + (kind & 3);  // pop or try_pop_for only
          if (kind < 12 || T == 1) ok = call([&] { return q.try_pop(it); });
          else if (kind < 14) ok = call([&] { return q.pop(it); });
          else ok = call([&] { return q.try_pop_for(it, timeout); });
          if (!ok && call([&] { return q.is_closed(); })) draining = !producing;
          if (!ok && kind >= 12 && kind < 14 && T != 1)
            consuming = false;  // blocking pop: closed, drained
        }
        if (ok) {
          cr.record(it, 2 * T);
          done_one();
        }
      }
    }
    worker_ops[i] = ops;
  };
  // The stall watch (blocking runs): from the start to the close, the longest stretch of watch
  // ticks with no worker operation. A tick counts at most 2 ms of quiet, however late it woke.
  std::atomic<bool> closing{false};
  std::int64_t longest_quiet_us = 0;
  std::thread watch;
  if (blocking) {
    watch = std::thread([&] {
      std::uint64_t seen = completed.load(std::memory_order_relaxed);  // relaxed: see above
      std::int64_t quiet_us = 0;
      auto last = std::chrono::steady_clock::now();
      while (!closing.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const auto now = std::chrono::steady_clock::now();
        const auto dt = std::chrono::duration_cast<std::chrono::microseconds>(now - last).count();
        last = now;
        const std::uint64_t c = completed.load(std::memory_order_relaxed);  // relaxed: see above
        if (c != seen) {
          seen = c;
          quiet_us = 0;
        } else {
          quiet_us += dt < 2000 ? dt : 2000;
          if (quiet_us > longest_quiet_us) longest_quiet_us = quiet_us;
        }
      }
    });
  }
  const run_stats st = run_workers(opts, &ctx::handler, progress, body, [&] {
    closing.store(true);
    if (watch.joinable()) watch.join();
    q.close();  // in the middle of the traffic, under interrupts
    ctx::closed_done.store(true);
  });
  const bool stalled = longest_quiet_us > std::int64_t{stall_limit_ms} * 1000;

  // Everything is joined: check.
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
    // Closed, every thread joined, every element popped: drained() must say so (exactly).
    if constexpr (requires { q.drained(); }) {
      if (!q.drained()) ++left;
    }
  }
  std::uint64_t h_ops = 0, h_failed = 0, h_skipped = 0;
  for (auto& h : handlers) {
    h_ops += h->ops.load();
    h_failed += h->failed.load();
    h_skipped += h->skipped.load();
  }
  const bool count_ok = popped == pushed, hash_ok = pop_hash == push_hash;

  result_row row;
  row.structure = std::move(structure);
  row.threads = T;
  for (auto o : worker_ops) row.ops += o;
  fill_signal_columns(row, st);
  row.handler_ops = h_ops;
  row.handler_ops_failed = h_failed;
  row.handler_ops_skipped = h_skipped;
  row.checks = popped;
  row.expect_violations = cfg.broken;
  row.violations = malformed + unknown + fifo + after_close + left + (count_ok ? 0 : 1) +
                   (hash_ok ? 0 : 1) + (stalled ? 1 : 0);
  char buf[640];
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
  if (blocking) {
    std::snprintf(buf, sizeof buf,
                  "; longest stretch without a worker operation %.1f ms (limit %u ms%s)",
                  static_cast<double>(longest_quiet_us) / 1000.0, stall_limit_ms,
                  stalled ? ": STALLED, a lost wake-up?" : "");
    row.detail += buf;
  }
  return row;
}

// ---- linearizability ---------------------------------------------------------------------------

constexpr std::size_t lin_capacity = 3;

template <class Q, bool StrictPops = false>
struct lin_ops {
  using ctx = lin::round_ctx<Q>;
  static std::unique_ptr<Q> make() { return std::make_unique<Q>(lin_capacity); }
  static lin::checker<lin::queue_model> checker(bool strict) {
    return lin::checker<lin::queue_model>({lin_capacity, !strict, StrictPops});
  }
  static std::string model_note(bool strict, std::uint64_t busy) {
    if (StrictPops)
      return "failed pops strict, " + std::to_string(busy) +
             " histories needed an overlapping failed push";
    return lin::allowance_note(strict, busy);
  }
  static void op(Q& q, std::uint32_t proc, std::uint64_t value, std::uint64_t r) {
    if (r & 1) {
      const int i = ctx::rec.begin(proc, lin::push, value);
      if (i < 0) return;
      const bool ok = q.try_push(item{value, mix64(value)});
      ctx::rec.end(i, ok, 0);
    } else {
      const int i = ctx::rec.begin(proc, lin::pop, 0);
      if (i < 0) return;
      item it;
      const bool ok = q.try_pop(it);
      if (ok && it.check != mix64(it.tag)) ctx::torn.fetch_add(1);
      ctx::rec.end(i, ok, ok ? it.tag : 0);
    }
  }
  static void handler() {
    const int w = t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (w < 0) return;
    const std::uint64_t n =
        ctx::t_count.load(std::memory_order_relaxed);      // relaxed: this thread only
    ctx::t_count.store(n + 1, std::memory_order_relaxed);  // relaxed: as above
    ctx::gated([&](Q& q) {
      op(q, 100 + static_cast<std::uint32_t>(w), (100 + static_cast<std::uint64_t>(w)) << 32 | n,
         mix64(n ^ 0x77));
      ctx::h_ops.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
    });
  }
};

}  // namespace lfkit::stress::queues

#endif  // LFKIT_STRESS_QUEUE_SCENARIOS_HPP
