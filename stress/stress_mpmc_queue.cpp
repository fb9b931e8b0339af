// SPDX-License-Identifier: BSL-1.0
// stress/stress_mpmc_queue.cpp — bounded MPMC queues under injected interrupts.
//
// queue_lfkit (lfkit::mpmc_queue; perturbed_atomic when --perturb > 0), queue_lfkit_blocking (the
// same with blocking and timed operations only, capacity 1-4, unbalanced sides: a lost wake-up
// hangs it, which the framework reports as exit status 3), queue_mutex_baseline
// (lfkit::baseline::mutex_queue) and queue_broken_demo (stress/broken_ring.hpp, a ring that publishes
// before writing: it must be caught).
//
// Workers: the first half are producers, the rest consumers (one worker does both). Items are
// {tag, check}: tag = producer id << 40 | sequence number, check = mix64(tag) (a torn or garbage item
// fails it). Producers push 0, 1, 2, ... each with a random mix of try_push (retried), try_push_n
// (up to 4 consecutive items), blocking push and try_push_for; consumers pop with try_pop,
// try_pop_n, blocking pop and try_pop_for. Every interrupt
// handler does one try_push (as producer "handler of worker w", ids threads + w) or one try_pop (as
// consumer "handler of worker w"), accounting in that handler's own row of signal-safe atomics.
// At the deadline the main thread calls close() while everything is still running (and still
// interrupted): producers' pushes then fail, consumers drain with blocking pop() until it returns
// false. Checks, exactly:
//   * every popped item is well formed (check word) and from a known producer and sequence;
//   * per-producer FIFO: each consumer (worker or handler) sees each producer's sequence numbers
//     strictly increasing (so no duplicate within a consumer either);
//   * nothing lost, nothing duplicated: the number of items popped equals the number pushed, and
//     the multiset hash (sum of mix64 of the tags) of the popped items equals that of the pushed;
//   * close drains: after every consumer's pop() returned false the queue is empty (and
//     lfkit's drained() is true), and no push that started after close() returned succeeded.
// Baseline handlers cannot call the mutex queue when they interrupted a thread inside a queue call
// (it may hold the mutex: deadlock); they skip and count it (h.skip). mutex_queue has no
// try_lock-based operation, so otherwise its handler ops may wait for *another* thread's lock.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "broken_ring.hpp"
#include "perturbed_atomic.hpp"
#include "stress.hpp"

#include "lfkit/baseline/mutex_queue.hpp"
#include "lfkit/mpmc_queue.hpp"

namespace ls = lfkit::stress;

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

/// What one consumer (a worker, or the handlers of one worker) saw. Handlers' rows are written
/// only by the handlers of one thread (which never nest: the interrupt signal is blocked while its
/// handler runs) and read after join: relaxed atomic loads/stores, no RMW needed.
struct consumer_row {
  std::vector<std::atomic<std::uint64_t>>
      next_seq;  // per producer: 1 + last sequence seen (0: none)
  std::atomic<std::uint64_t> popped{0};
  std::atomic<std::uint64_t> hash{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> unknown{0};
  std::atomic<std::uint64_t> fifo{0};
  explicit consumer_row(std::size_t producers) : next_seq(producers) {}

  void record(const item& it, std::size_t producers) noexcept {
    // relaxed everywhere: this row has one writer at a time (see above); read after join.
    if (it.check != ls::mix64(it.tag)) {
      malformed.store(malformed.load(std::memory_order_relaxed) + 1,
                      std::memory_order_relaxed);  // relaxed: single-writer row, read after join
    } else {
      const std::uint64_t p = it.tag >> seq_bits;
      const std::uint64_t s = it.tag & seq_mask;
      if (p >= producers) {
        unknown.store(unknown.load(std::memory_order_relaxed) + 1,
                      std::memory_order_relaxed);  // relaxed: single-writer row, read after join
      } else {
        if (s + 1 <=
            next_seq[p].load(
                std::memory_order_relaxed)) {  // relaxed: single-writer row, read after join
          fifo.store(fifo.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);  // relaxed: single-writer row, read after join
        }
        next_seq[p].store(
            s + 1, std::memory_order_relaxed);  // relaxed: single-writer row, read after join
      }
    }
    popped.store(popped.load(std::memory_order_relaxed) + 1,
                 std::memory_order_relaxed);  // relaxed: single-writer row, read after join
    hash.store(hash.load(std::memory_order_relaxed) + item_hash(it.tag),
               std::memory_order_relaxed);  // relaxed: single-writer row, read after join
  }
};

/// What one producer (a worker, or the handlers of one worker) pushed; same discipline.
struct producer_row {
  std::atomic<std::uint64_t> pushed{0};  // also the next sequence number
  std::atomic<std::uint64_t> hash{0};
  std::atomic<std::uint64_t> after_close{
      0};  // pushes that started after close() returned yet succeeded
  void count(std::uint64_t tag) noexcept {
    // relaxed: one writer at a time, read after join.
    pushed.store(pushed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    hash.store(hash.load(std::memory_order_relaxed) + item_hash(tag),
               std::memory_order_relaxed);  // relaxed: single-writer row, read after join
  }
};

/// Per-handler counters (one per worker thread, touched only by that thread's handlers).
struct handler_row {
  std::atomic<std::uint64_t> n{0}, ops{0}, failed{0}, skipped{0};
  void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // relaxed: as above
  }
};

template <class Q>
struct queue_ctx {
  static inline Q* q = nullptr;
  static inline unsigned threads = 0;
  static inline std::size_t producers =
      0;  // ids: workers 0..threads-1, handlers threads..2*threads-1
  static inline bool baseline = false;
  static inline std::uint64_t seed = 0;
  static inline std::vector<std::unique_ptr<consumer_row>>* consumers =
      nullptr;  // [0,T): workers, [T,2T): handlers
  static inline std::vector<std::unique_ptr<producer_row>>* producer_rows = nullptr;
  static inline std::vector<std::unique_ptr<handler_row>>* handlers = nullptr;
  static inline std::atomic<bool> closed_done{false};

  // Runs inside the signal handler: only async-signal-safe operations (try_push / try_pop on the
  // lfkit queue; see the file comment for the baseline).
  static void handler() {
    const int wi =
        ls::t_worker_index.load(std::memory_order_relaxed);  // relaxed: set by this thread
    if (wi < 0) return;
    const auto w = static_cast<std::size_t>(wi);
    handler_row& h = *(*handlers)[w];
    const std::uint64_t n =
        h.n.load(std::memory_order_relaxed);  // relaxed: this thread's handlers only
    h.bump(h.n);
    if (baseline && ls::t_in_op.load(std::memory_order_relaxed)) {  // relaxed: set by this thread
      h.bump(h.skipped);  // the interrupted thread may hold the queue's mutex: calling it deadlocks
      return;
    }
    if ((ls::mix64(n ^ seed ^ (w << 32)) & 1) == 0) {
      producer_row& pr = *(*producer_rows)[threads + w];
      const item it =
          make_item(threads + w, pr.pushed.load(std::memory_order_relaxed));  // relaxed: own row
      const bool closed_before = closed_done.load();
      if (q->try_push(it)) {
        pr.count(it.tag);
        if (closed_before)
          pr.after_close.store(pr.after_close.load(std::memory_order_relaxed) + 1,
                               std::memory_order_relaxed);  // relaxed: own row
        h.bump(h.ops);
      } else {
        h.bump(h.failed);
      }
    } else {
      item it;
      if (q->try_pop(it)) {
        (*consumers)[threads + w]->record(it, producers);
        h.bump(h.ops);
      } else {
        h.bump(h.failed);
      }
    }
  }
};

/// Every call into the queue is marked (t_in_op): baseline handlers skip while it is set, and
/// targeted freezes aim at it. The template parameter only documents which ones need it.
template <bool Baseline, class F>
auto call(F&& f) {
  ls::in_op_scope scope;
  return f();
}

template <class Q, bool Baseline>
ls::result_row run_queue(const ls::options& opts, std::string structure, bool broken,
                         bool blocking = false) {
  using ctx = queue_ctx<Q>;
  // Exact capacities, powers of two or not (lfkit::mpmc_queue does not round): chosen by the seed.
  static constexpr std::size_t capacities[] = {1, 3, 4, 5, 16, 64, 100, 1024};
  // Blocking-only runs use tiny capacities so that threads sleep and wake all the time.
  const std::size_t capacity = blocking ? 1 + opts.seed % 4 : capacities[opts.seed % 8];
  Q q(capacity);
  const unsigned T = opts.threads;
  std::vector<std::unique_ptr<consumer_row>> consumers;
  std::vector<std::unique_ptr<producer_row>> producer_rows;
  std::vector<std::unique_ptr<handler_row>> handlers;
  for (unsigned i = 0; i < 2 * T; ++i) {
    consumers.push_back(std::make_unique<consumer_row>(2 * T));
    producer_rows.push_back(std::make_unique<producer_row>());
  }
  for (unsigned i = 0; i < T; ++i) handlers.push_back(std::make_unique<handler_row>());
  ctx::q = &q;
  ctx::threads = T;
  ctx::producers = 2 * T;
  ctx::baseline = Baseline;
  ctx::seed = opts.seed;
  ctx::consumers = &consumers;
  ctx::producer_rows = &producer_rows;
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

  auto body = [&](unsigned i, const std::atomic<bool>& stop) {
    ls::rng r(opts.seed * 0x9E3779B97F4A7C15ull + i);
    const bool producer = mixed || i < n_prod;
    const bool consumer = mixed || T == 1 || i >= n_prod;
    producer_row& pr = *producer_rows[i];
    consumer_row& cr = *consumers[i];
    std::uint64_t ops = 0;
    bool producing = producer, consuming = consumer, draining = false;
    while (producing || consuming) {
      if (producing) {
        const std::uint64_t next = pr.pushed.load(std::memory_order_relaxed);  // relaxed: own row
        const item it = make_item(i, next);
        const bool closed_before = ctx::closed_done.load();
        unsigned kind = static_cast<unsigned>(r.next() % (mixed ? 12 : 16));
        if (blocking && T != 1) kind = 12 + (kind & 3);  // push or try_push_for only
        bool ok = false, bulk = false;
        if constexpr (requires(item* p) { q.try_push_n(p, std::size_t{1}); }) {
          if (kind >= 10 && kind < 12) {  // bulk: up to 4 consecutive items, one call
            item batch[4];
            const std::size_t k = 1 + r.next() % 4;
            for (std::size_t j = 0; j < k; ++j) batch[j] = make_item(i, next + j);
            const std::size_t n = call<Baseline>([&] { return q.try_push_n(batch, k); });
            for (std::size_t j = 0; j < n; ++j) {
              pr.count(batch[j].tag);
              if (closed_before)
                pr.after_close.store(pr.after_close.load(std::memory_order_relaxed) + 1,
                                     std::memory_order_relaxed);  // relaxed: own row
            }
            ops += n;
            progress.add(n);
            if (n < k && call<Baseline>([&] { return q.is_closed(); })) producing = false;
            bulk = true;
          }
        }
        if (bulk) {
          // done above
        } else if (kind < 12 || T == 1) ok = call<Baseline>([&] { return q.try_push(it); });
        else if (kind < 14)
          ok = call<Baseline>([&] {
            item copy = it;
            return q.push(std::move(copy));
          });
        else
          ok = call<Baseline>([&] {
            item copy = it;
            return q.try_push_for(std::move(copy), timeout);
          });
        if (ok) {
          pr.count(it.tag);
          if (closed_before)
            pr.after_close.store(pr.after_close.load(std::memory_order_relaxed) + 1,
                                 std::memory_order_relaxed);  // relaxed: own row
          ++ops;
          if ((ops & 15) == 0) progress.add(16);
        } else if (call<Baseline>([&] { return q.is_closed(); })) {
          producing = false;
        }
        (void)stop;
      }
      if (consuming) {
        item it;
        bool ok;
        if constexpr (requires(item* p) { q.try_pop_n(p, std::size_t{1}); }) {
          if (!draining && !blocking && r.next() % 8 == 0) {  // bulk: up to 4 items, one call
            item batch[4];
            const std::size_t n =
                call<Baseline>([&] { return q.try_pop_n(batch, 1 + r.next() % 4); });
            for (std::size_t j = 0; j < n; ++j) cr.record(batch[j], 2 * T);
            ops += n;
            progress.add(n);
            if (n == 0 && call<Baseline>([&] { return q.is_closed(); })) draining = !producing;
            continue;
          }
        }
        if (draining) {
          ok = call<Baseline>([&] { return q.pop(it); });
          if (!ok) consuming = false;  // closed and drained
        } else {
          unsigned kind = static_cast<unsigned>(r.next() % (mixed ? 12 : 16));
          if (blocking && T != 1) kind = 12 + (kind & 3);  // pop or try_pop_for only
          if (kind < 12 || T == 1) ok = call<Baseline>([&] { return q.try_pop(it); });
          else if (kind < 14) ok = call<Baseline>([&] { return q.pop(it); });
          else ok = call<Baseline>([&] { return q.try_pop_for(it, timeout); });
          if (!ok && call<Baseline>([&] { return q.is_closed(); })) draining = !producing;
          if (!ok && kind >= 12 && kind < 14 && T != 1)
            consuming = false;  // blocking pop: closed, drained
        }
        if (ok) {
          cr.record(it, 2 * T);
          ++ops;
          if ((ops & 15) == 0) progress.add(16);
        }
      }
    }
    worker_ops[i] = ops;
  };
  const ls::run_stats st = ls::run_workers(opts, &ctx::handler, progress, body, [&] {
    q.close();  // in the middle of the traffic, under interrupts
    ctx::closed_done.store(true);
  });

  // Everything is joined: check.
  std::uint64_t pushed = 0, push_hash = 0, after_close = 0, popped = 0, pop_hash = 0, malformed = 0,
                unknown = 0, fifo = 0;
  for (auto& p : producer_rows) {
    pushed += p->pushed.load();
    push_hash += p->hash.load();
    after_close += p->after_close.load();
  }
  for (auto& c : consumers) {
    popped += c->popped.load();
    pop_hash += c->hash.load();
    malformed += c->malformed.load();
    unknown += c->unknown.load();
    fifo += c->fifo.load();
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
  const bool count_ok = popped == pushed;
  const bool hash_ok = pop_hash == push_hash;

  ls::result_row row;
  row.structure = std::move(structure);
  row.threads = T;
  for (auto o : worker_ops) row.ops += o;
  ls::fill_signal_columns(row, st);
  row.handler_ops = h_ops;
  row.handler_ops_failed = h_failed;
  row.handler_ops_skipped = h_skipped;
  row.checks = popped;
  row.expect_violations = broken;
  row.violations =
      malformed + unknown + fifo + after_close + left + (count_ok ? 0 : 1) + (hash_ok ? 0 : 1);
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "capacity %zu, %u producer(s); pushed %" PRIu64 " (handlers: %" PRIu64 "), popped %" PRIu64
      " (handlers: %" PRIu64 "); multiset hash %s; malformed %" PRIu64 ", unknown %" PRIu64
      ", per-producer FIFO breaks %" PRIu64 ", pushes after close %" PRIu64
      ", left after drain %" PRIu64,
      capacity, mixed ? T : n_prod, pushed,
      [&] {
        std::uint64_t n = 0;
        for (unsigned i = T; i < 2 * T; ++i) n += producer_rows[i]->pushed.load();
        return n;
      }(),
      popped,
      [&] {
        std::uint64_t n = 0;
        for (unsigned i = T; i < 2 * T; ++i) n += consumers[i]->popped.load();
        return n;
      }(),
      hash_ok ? "equal" : "DIFFERS (lost/duplicated items)", malformed, unknown, fifo, after_close,
      left);
  row.detail = buf;
  return row;
}

ls::result_row queue_lfkit(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::mpmc_queue<item, ls::perturbed_atomic>, false>(
        o, "lfkit::mpmc_queue (perturbed)", false);
  }
  return run_queue<lfkit::mpmc_queue<item>, false>(o, "lfkit::mpmc_queue", false);
}
LFKIT_STRESS_SCENARIO(
    "queue_lfkit",
    "lfkit::mpmc_queue: handler try_push/try_pop, close mid-run; no loss/dup, FIFO per producer",
    queue_lfkit);
ls::result_row queue_lfkit_blocking(const ls::options& o) {
  if (ls::perturb_level(o) > 0) {
    return run_queue<lfkit::mpmc_queue<item, ls::perturbed_atomic>, false>(
        o, "lfkit::mpmc_queue blocking (perturbed)", false, true);
  }
  return run_queue<lfkit::mpmc_queue<item>, false>(o, "lfkit::mpmc_queue blocking ops", false,
                                                   true);
}
LFKIT_STRESS_SCENARIO("queue_lfkit_blocking",
                      "lfkit::mpmc_queue: only push/pop/timed ops, capacity 1-4, unbalanced sides "
                      "(sleep/wake, lost wake-ups)",
                      queue_lfkit_blocking);

ls::result_row queue_mutex(const ls::options& o) {
  return run_queue<lfkit::baseline::mutex_queue<item>, true>(o, "baseline::mutex_queue", false);
}
LFKIT_STRESS_SCENARIO(
    "queue_mutex_baseline",
    "baseline::mutex_queue: same checks; handler ops that would deadlock are skipped", queue_mutex);

/// Turns perturbation on (at least level 2) for the demo and restores the previous settings.
struct forced_perturbation {
  std::uint32_t spin, yield;
  forced_perturbation()
      : spin(ls::g_perturbation.spin.load()), yield(ls::g_perturbation.yield.load()) {
    if (spin < 2048) ls::g_perturbation.spin.store(2048);
    if (yield < 256) ls::g_perturbation.yield.store(256);
  }
  ~forced_perturbation() {
    ls::g_perturbation.spin.store(spin);
    ls::g_perturbation.yield.store(yield);
  }
};

ls::result_row queue_broken(const ls::options& o) {
  forced_perturbation p;
  return run_queue<ls::broken_ring<item, ls::perturbed_atomic>, false>(
      o, "broken_ring (publishes before writing)", true);
}
LFKIT_STRESS_SCENARIO("queue_broken_demo",
                      "DEMO: a ring that publishes a slot before writing it (must be caught)",
                      queue_broken);

}  // namespace
