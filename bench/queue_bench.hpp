// SPDX-License-Identifier: BSL-1.0
// The queue benchmark harness: the grid, the workloads, their retry loops, the time limit, and the
// adapters of the bounded-queue peers. bench_mpmc_queue.cpp only lists the implementations, so a
// queue with mpmc_queue's API (try_push / try_pop, and optionally push / pop) joins every workload
// with one line:
//
//   qb::add<qb::lfkit_api<lfkit::lockfree_queue<qb::item>>>("lfkit_lockfree");
//
// Names: <group>/<impl>/<config> (scripts/bench parses them; see scripts/benchlib.py).
// Groups (workloads), each with its retry loop after a failed try_ op, fixed per workload and the
// same for every implementation (never tuned per implementation):
//   queue_try        throughput: P producers push kItems items through a capacity-1024 queue, C
//                    consumers pop them all. Retry: pause per failure, yield from the 64th in a row.
//   queue_try_cap16  the same through a capacity-16 queue (a small handoff queue); main configs.
//   queue_try_cap16k the same at capacity 16384, only with LFKIT_BENCH_FULL=1.
//   queue_try_cap64, queue_try_cap256  the same at mid-size capacities, main configs, only with
//                    LFKIT_BENCH_FULL=1 (where waiting rules tuned at 16 and 1024 can misfire).
//   queue_pairwise   T threads, each doing enqueue-dequeue pairs with a random 50-150 ns delay
//                    after every operation (the SCQ/wCQ papers' harness); T = P+C of the main
//                    configs; items/s counts operations (enqueue and dequeue). Retry: 16 at once,
//                    then pause until the 64th, then yield.
//   queue_5050       T threads, each operation an enqueue or a dequeue at random (fair coin, per
//                    thread seeded generator), queue prefilled to half its capacity 1024. A failed
//                    try_ is not retried: it counts as an attempt (counter fail_fraction), then one
//                    pause. items/s counts successful operations.
//   queue_burst      P producers fill a capacity-16384 queue (16384 items, quotas split evenly;
//                    only queues that hold their capacity: not moodycamel, see its adapter),
//                    then C consumers drain it; each phase timed from its last thread's arrival at
//                    a start barrier to its last thread's finish (manual time = fill + drain);
//                    counters fill_items_per_second, drain_items_per_second. Retry: as pairwise.
//   queue_pingpong   two threads, two queues: a round trip (push to one, pop the answer from the
//                    other); ns_per_op = ns per round trip. Retry: 64 at once, then pause until the
//                    1024th, then yield.
//   queue_blocking   throughput with blocking push/pop (implementations that have them); consumers
//                    stop on a sentinel pushed after all items.
//   queue_latency    1P1C handoff latency of a steady_clock timestamp, one item in flight, ~1 us
//                    apart; p50_ns/p99_ns/p999_ns. Retry: as queue_try.
// Every workload uses the values it pops: throughput, pairwise, 50/50 and burst sum them and check
// the sums against what was pushed (an error names a mismatch), pingpong sends them back, latency
// reads its timestamps; see value_balance.
// Configs: <P>P<C>C or <T>T, from the runner's environment (see grid below).
// Counters: items_per_second (real time), cpu_ns_per_item (process CPU time per item: spinning
// shows here), ctx_switches_per_item; stalled / items_done (time limit, below).
//
// Time limit: one iteration of a workload that runs longer than LFKIT_BENCH_TIME_LIMIT_S (2 s when
// a binary runs alone; scripts/bench passes 3 s, 1 s with --quick) is stopped: every workload loop
// and retry loop checks an abort flag, so the threads return, and the repetition reports stalled=1
// with the items done so far (items_per_second is that progress over the time spent); the rest of
// that repetition's iterations are skipped. A ring whose threads wait on each other (in-order
// commit) can otherwise spin for minutes when threads outnumber cores. Blocking operations
// (queue_blocking) cannot be stopped and have no limit.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <time.h>

#include <cds/container/vyukov_mpmc_cycle_queue.h>
#include <cds/init.h>
#include <concurrentqueue.h>
#include <tbb/concurrent_queue.h>
#include <boost/lockfree/queue.hpp>
#include <xenium/vyukov_bounded_queue.hpp>

#include "ck_ring_peer.h"
#include "lfkit/baseline/mutex_queue.hpp"
#include "lfkit/detail/platform.hpp"

namespace qb {

using item = std::uint64_t;
constexpr std::size_t kCapacity = 1024;
constexpr std::size_t kBurstCapacity = 16384;
constexpr std::uint64_t kItems = std::uint64_t{1} << 18;      // per queue_try iteration
constexpr std::uint64_t kPairs = std::uint64_t{1} << 13;      // per thread per pairwise iteration
constexpr std::uint64_t kRandomOps = std::uint64_t{1} << 15;  // per thread per 50/50 iteration
constexpr int kRoundTrips = 1 << 10;                          // per ping-pong iteration
constexpr item kSentinel = ~item{0};

// ---- the grid ----------------------------------------------------------------------------------

struct config {
  int p, c;
  std::string name() const { return std::to_string(p) + "P" + std::to_string(c) + "C"; }
  bool operator==(const config&) const = default;
};

inline const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

/// The CPU count the grid is derived from: LFKIT_BENCH_CPUS, else the hardware's.
inline int cpus() {
  if (const char* v = env("LFKIT_BENCH_CPUS")) return std::max(1, std::atoi(v));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

/// "1P1C,2P2C" -> configs; throws std::invalid_argument naming a malformed entry.
inline std::vector<config> parse_configs(const std::string& s) {
  std::vector<config> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    const std::string tok = s.substr(pos, end - pos);
    config c{};
    if (std::sscanf(tok.c_str(), "%dP%dC", &c.p, &c.c) != 2 || c.p < 1 || c.c < 1 ||
        tok != c.name())
      throw std::invalid_argument("queue config '" + tok + "' is not of the form <P>P<C>C");
    out.push_back(c);
    pos = end + 1;
  }
  return out;
}

/// The symmetric configs of scripts/benchlib.py's queue_grid() (the runner passes its result; this
/// is the fallback when a binary runs alone): 1, n/2, n, 2n (and 4n while that gives fewer than
/// four), duplicates dropped. queue_configs() adds the asymmetric ones.
inline std::vector<config> derived_main(int n) {
  std::vector<config> out;
  auto add = [&](int p, int c) {
    if (std::find(out.begin(), out.end(), config{p, c}) == out.end()) out.push_back({p, c});
  };
  for (int p : {1, std::max(1, n / 2), n, 2 * n}) add(p, p);
  if (out.size() < 4) add(4 * n, 4 * n);
  return out;
}

/// All producer/consumer configs: LFKIT_BENCH_QUEUE_CONFIGS, else derived from cpus().
inline std::vector<config> queue_configs() {
  if (const char* v = env("LFKIT_BENCH_QUEUE_CONFIGS")) return parse_configs(v);
  const int n = cpus();
  std::vector<config> out = derived_main(n);
  const int m = std::max(n - 1, 3);
  for (config c : {config{1, m}, config{m, 1}})
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  return out;
}

/// The main configs (the goal's): LFKIT_BENCH_QUEUE_MAIN, else 1, n/2, n symmetric.
inline std::vector<config> main_configs() {
  if (const char* v = env("LFKIT_BENCH_QUEUE_MAIN")) return parse_configs(v);
  std::vector<config> out = derived_main(cpus());
  out.resize(std::min<std::size_t>(out.size(), 3));
  return out;
}

inline bool full_sweep() {
  const char* v = env("LFKIT_BENCH_FULL");
  return v != nullptr && std::string(v) != "0";
}

inline double time_limit_s() {
  const char* v = env("LFKIT_BENCH_TIME_LIMIT_S");
  const double s = v ? std::atof(v) : 2.0;
  return s > 0 ? s : 2.0;
}

// ---- adapters: try_push / try_pop, and push / pop where the queue blocks -----------------------
// Every adapter is built from (capacity, threads) and holds at least `capacity` items.

/// Any queue with lfkit::mpmc_queue's API: Q(capacity), try_push, try_pop, and push / pop if it
/// has them (then it joins queue_blocking too).
template <class Q>
struct lfkit_api {
  Q q;
  lfkit_api(std::size_t cap, int) : q(cap) {}
  bool try_push(item v) { return q.try_push(v); }
  bool try_pop(item& v) { return q.try_pop(v); }
  void push(item v)
    requires requires(Q& x, item i) { x.push(i); }
  {
    (void)q.push(v);
  }
  void pop(item& v)
    requires requires(Q& x, item& i) { x.pop(i); }
  {
    (void)q.pop(v);
  }
};
using mutex_adapter = lfkit_api<lfkit::baseline::mutex_queue<item>>;

struct libcds_adapter {
  cds::container::VyukovMPMCCycleQueue<item> q;  // capacity rounded up to a power of two
  libcds_adapter(std::size_t cap, int) : q(cap) {}
  bool try_push(item v) { return q.enqueue(v); }
  bool try_pop(item& v) { return q.dequeue(v); }
};

struct boost_adapter {
  // fixed_sized: a pre-allocated node array of `cap` nodes, bounded_push never allocates.
  boost::lockfree::queue<item, boost::lockfree::fixed_sized<true>> q;
  boost_adapter(std::size_t cap, int) : q(cap) {}
  bool try_push(item v) { return q.bounded_push(v); }
  bool try_pop(item& v) { return q.pop(v); }
};

struct tbb_adapter {
  tbb::concurrent_bounded_queue<item> q;
  tbb_adapter(std::size_t cap, int) { q.set_capacity(static_cast<std::ptrdiff_t>(cap)); }
  bool try_push(item v) { return q.try_push(v); }
  bool try_pop(item& v) { return q.try_pop(v); }
  void push(item v) { q.push(v); }
  void pop(item& v) { q.pop(v); }
};

struct moodycamel_adapter {
  // Pre-allocated for cap elements and one implicit producer per thread: try_ ops never allocate.
  // Its capacity is not a bound: blocks are shared out per producer, and one implicit producer's
  // block index holds 32 blocks (1024 items) until an allocating enqueue grows it, so it cannot
  // take a whole burst of 16384 from one thread through try_enqueue: not in queue_burst.
  static constexpr bool holds_capacity = false;
  moodycamel::ConcurrentQueue<item> q;
  moodycamel_adapter(std::size_t cap, int threads)
      : q(cap, 0, static_cast<std::size_t>(std::max(threads, 1))) {}
  bool try_push(item v) { return q.try_enqueue(v); }
  bool try_pop(item& v) { return q.try_dequeue(v); }
};

struct xenium_adapter {
  // Size must be a power of two; try_push/try_pop are the strong (default) versions, which wait
  // for a pending operation on their slot (see xenium's docs: not lock-free).
  xenium::vyukov_bounded_queue<item> q;
  xenium_adapter(std::size_t cap, int) : q(std::bit_ceil(cap)) {}
  bool try_push(item v) { return q.try_push(v); }
  bool try_pop(item& v) { return q.try_pop(v); }
};

struct ck_ring_adapter {
  lfkit_ck_ring* r;
  ck_ring_adapter(std::size_t cap, int) : r(lfkit_ck_ring_create(static_cast<unsigned>(cap))) {
    if (r == nullptr) throw std::bad_alloc();
  }
  ck_ring_adapter(const ck_ring_adapter&) = delete;
  ck_ring_adapter& operator=(const ck_ring_adapter&) = delete;
  ~ck_ring_adapter() { lfkit_ck_ring_destroy(r); }
  bool try_push(item v) { return lfkit_ck_ring_push(r, v); }
  bool try_pop(item& v) { return lfkit_ck_ring_pop(r, &v); }
};

/// Whether try_push accepts `capacity` items into an empty queue (queue_burst fills to capacity);
/// an adapter that cannot says `static constexpr bool holds_capacity = false`.
template <class Q>
constexpr bool holds_capacity() {
  if constexpr (requires { Q::holds_capacity; }) {
    return Q::holds_capacity;
  } else {
    return true;
  }
}

template <class Q>
concept blocking_queue = requires(Q q, item v) {
  q.push(v);
  q.pop(v);
};

// ---- retry loops and the time limit ------------------------------------------------------------

/// After a failed try_ op: `at_once` retries straight away, then pauses (cpu_relax) until failure
/// number `paused`, then std::this_thread::yield() per failure, checking the abort flag there.
struct retry_policy {
  unsigned at_once;
  unsigned paused;
};
constexpr retry_policy kPauseThenYield{0, 64};     // queue_try*, queue_latency
constexpr retry_policy kAtOncePauseYield{16, 64};  // pairwise, burst
constexpr retry_policy kPingPong{64, 1024};        // ping-pong waits for the other thread

/// The abort flag, read in every workload's loop (every 64 items where ops are cheap): a queue whose
/// operations still succeed, only slowly (a ring spinning inside its own code until a preempted
/// thread commits), must stop at the time limit too. Relaxed: a stop request, no data with it.
inline bool aborted(const std::atomic<bool>& abort) {
  return abort.load(std::memory_order_relaxed);
}

class retry {
 public:
  retry(retry_policy p, const std::atomic<bool>& abort) : p_(p), abort_(abort) {}
  /// One failure; false once the run was aborted (time limit).
  bool failed() {
    ++fails_;
    if (fails_ <= p_.at_once) return true;
    if (fails_ <= p_.paused) {
      lfkit::detail::cpu_relax();
      return true;
    }
    std::this_thread::yield();
    return !abort_.load(std::memory_order_relaxed);  // relaxed: a stop request, no data with it
  }
  void reset() { fails_ = 0; }

 private:
  retry_policy p_;
  const std::atomic<bool>& abort_;
  unsigned fails_ = 0;
};

/// Worker threads created once per benchmark run and started per iteration (thread creation is not
/// timed). run_once returns false if the workers did not finish within the time limit: it then
/// raises `abort` and waits for them to return.
class worker_pool {
 public:
  worker_pool(int n, std::function<void(int)> body) : n_(n), body_(std::move(body)) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  ~worker_pool() {
    stop_.store(true);
    gen_.fetch_add(1);
    gen_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::atomic<bool> abort{false};

  bool run_once(double limit_s) {
    {
      std::lock_guard lk(m_);
      done_ = 0;
    }
    gen_.fetch_add(1);
    gen_.notify_all();
    std::unique_lock lk(m_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
    if (cv_.wait_until(lk, until, [&] { return done_ == n_; })) return true;
    abort.store(true);
    cv_.wait(lk, [&] { return done_ == n_; });
    return false;
  }

 private:
  void loop(int i) {
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t g = gen_.load();
      while (g == seen) {
        gen_.wait(g);
        g = gen_.load();
      }
      seen = g;
      if (stop_.load()) return;
      body_(i);
      std::lock_guard lk(m_);
      if (++done_ == n_) cv_.notify_all();
    }
  }
  const int n_;
  std::function<void(int)> body_;
  std::atomic<std::uint32_t> gen_{0};
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::condition_variable cv_;
  int done_ = 0;
  std::vector<std::thread> threads_;
};

struct usage {
  double cpu_ns = 0;
  double ctx = 0;
  static usage now() {
    usage u;
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    u.cpu_ns = static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    u.ctx = static_cast<double>(ru.ru_nvcsw + ru.ru_nivcsw);
    return u;
  }
};

/// Items, CPU and context switches per item, and the stall counters (always present, so that a
/// stalled repetition is visible beside the others: stalled = 1 in the repetitions that hit the
/// time limit; items_done = items completed in the repetition).
inline void report(benchmark::State& st, const usage& a, const usage& b, double items,
                   bool stalled) {
  st.SetItemsProcessed(static_cast<std::int64_t>(items));
  st.counters["items_done"] = items;
  st.counters["stalled"] = stalled ? 1 : 0;
  if (items > 0) {
    st.counters["cpu_ns_per_item"] = (b.cpu_ns - a.cpu_ns) / items;
    st.counters["ctx_switches_per_item"] = (b.ctx - a.ctx) / items;
  }
}

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

/// xorshift64*: a per-thread generator, cheap and the same sequence for every implementation.
struct rng {
  std::uint64_t s;
  explicit rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
};

/// A busy delay of about `ns` nanoseconds: an empty loop calibrated once against steady_clock.
class spin_delay {
 public:
  static void wait_ns(std::uint64_t ns) {
    const std::uint64_t n = ns * loops_per_ns_x1024() / 1024;
    for (std::uint64_t i = 0; i < n; ++i) asm volatile("" ::: "memory");
  }
  static std::uint64_t loops_per_ns_x1024() {
    static const std::uint64_t v = [] {
      constexpr std::uint64_t kLoops = 2'000'000;
      std::uint64_t best = ~std::uint64_t{0};
      for (int rep = 0; rep < 5; ++rep) {  // fastest of 5: the least disturbed by other load
        const std::uint64_t t0 = now_ns();
        for (std::uint64_t i = 0; i < kLoops; ++i) asm volatile("" ::: "memory");
        best = std::min(best, now_ns() - t0);
      }
      return std::max<std::uint64_t>(1, kLoops * 1024 / std::max<std::uint64_t>(best, 1));
    }();
    return v;
  }
};

inline std::uint64_t share(std::uint64_t total, int parts, int idx) {
  const auto p = static_cast<std::uint64_t>(parts);
  const auto i = static_cast<std::uint64_t>(idx);
  return total * (i + 1) / p - total * i / p;
}

/// Runs the benchmark loop: `iteration` per iteration under the time limit; after a stall the
/// rest of the repetition's iterations do nothing. Returns whether a stall happened.
template <class F>
bool run_loop(benchmark::State& st, worker_pool& pool, F before_iteration) {
  bool stalled = false;
  const double limit = time_limit_s();
  for (auto _ : st) {
    if (stalled) continue;
    before_iteration();
    if (!pool.run_once(limit)) stalled = true;
  }
  return stalled;
}

// ---- popped values are used ----------------------------------------------------------------------

/// Sums of the values pushed and popped in a workload. Every pop adds its value, so no adapter's
/// copy of the element is dead code: a plain load in a pop (ck_ring's memcpy) whose result the
/// workload discarded was removed by the optimiser, and that pop then never read the slot line
/// (bench/README.md, "Popped values are used"). check() also catches lost or duplicated items.
class value_balance {
 public:
  /// relaxed (both): read after the pool's join.
  void add(std::uint64_t pushed, std::uint64_t popped) noexcept {
    pushed_.fetch_add(pushed, std::memory_order_relaxed);
    popped_.fetch_add(popped, std::memory_order_relaxed);
  }
  /// Once every thread is idle: pops what is left and reports a mismatch as an error.
  template <class Q>
  void check(benchmark::State& st, Q& q) {
    std::uint64_t left = 0;
    for (item v = 0; q.try_pop(v);) left += v;
    if (pushed_.load() != popped_.load() + left)
      st.SkipWithError("checksum mismatch: items lost or duplicated");
  }

 private:
  std::atomic<std::uint64_t> pushed_{0}, popped_{0};
};

// ---- queue_try: throughput -----------------------------------------------------------------------

template <class Q>
void bm_try(benchmark::State& st, std::size_t cap, config cfg) {
  const int producers = cfg.p, consumers = cfg.c;
  auto q = std::make_unique<Q>(cap, producers + consumers);
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<std::uint64_t> checksum{0};
  std::atomic<std::uint64_t> done_total{0};
  worker_pool* pp = nullptr;
  worker_pool pool(producers + consumers, [&](int idx) {
    retry r(kPauseThenYield, pp->abort);
    if (idx < producers) {
      const std::uint64_t begin =
          kItems * static_cast<std::uint64_t>(idx) / static_cast<std::uint64_t>(producers);
      const std::uint64_t end = begin + share(kItems, producers, idx);
      for (std::uint64_t i = begin; i < end; ++i) {
        if ((i & 63) == 0 && aborted(pp->abort)) return;
        r.reset();
        while (!q->try_push(i))
          if (!r.failed()) return;
      }
    } else {
      std::uint64_t local = 0, sum = 0;
      item v = 0;
      for (;;) {
        if (q->try_pop(v)) {
          ++local;
          sum += v;
          r.reset();
          if ((local & 63) != 0 || !aborted(pp->abort)) continue;
          consumed.fetch_add(local, std::memory_order_relaxed);  // relaxed: a count; join orders it
          local = 0;
          break;
        }
        if (local != 0) {
          consumed.fetch_add(local, std::memory_order_relaxed);  // relaxed: a count; join orders it
          local = 0;
        }
        if (consumed.load(std::memory_order_relaxed) >= kItems) break;
        if (!r.failed()) break;
      }
      checksum.fetch_add(sum, std::memory_order_relaxed);  // relaxed: read after the pool's join
    }
  });
  pp = &pool;
  const usage a = usage::now();
  const bool stalled = run_loop(st, pool, [&] { done_total.fetch_add(consumed.exchange(0)); });
  const usage b = usage::now();
  const double items = static_cast<double>(done_total.load() + consumed.load());
  report(st, a, b, items, stalled);
  const std::uint64_t expect =
      (kItems * (kItems - 1) / 2) * static_cast<std::uint64_t>(st.iterations());
  if (!stalled && checksum.load() != expect)
    st.SkipWithError("checksum mismatch: items lost or duplicated");
}

// ---- queue_blocking ------------------------------------------------------------------------------

template <class Q>
void bm_blocking(benchmark::State& st, config cfg) {
  const int producers = cfg.p, consumers = cfg.c;
  auto q = std::make_unique<Q>(kCapacity, producers + consumers);
  std::atomic<int> producers_left{0};
  std::atomic<std::uint64_t> checksum{0};
  worker_pool pool(producers + consumers, [&](int idx) {
    if (idx < producers) {
      const std::uint64_t begin =
          kItems * static_cast<std::uint64_t>(idx) / static_cast<std::uint64_t>(producers);
      const std::uint64_t end = begin + share(kItems, producers, idx);
      for (std::uint64_t i = begin; i < end; ++i) q->push(i);
      // The last producer pushes one sentinel per consumer: FIFO puts them after every item.
      if (producers_left.fetch_sub(1) == 1) {
        for (int c = 0; c < consumers; ++c) q->push(kSentinel);
      }
    } else {
      std::uint64_t sum = 0;
      item v = 0;
      for (;;) {
        q->pop(v);
        if (v == kSentinel) break;
        sum += v;
      }
      checksum.fetch_add(sum, std::memory_order_relaxed);  // relaxed: read after the pool's join
    }
  });
  const usage a = usage::now();
  // Blocking ops cannot be aborted: no time limit here (these queues sleep rather than stall).
  for (auto _ : st) {
    producers_left.store(producers);
    pool.run_once(1e9);
  }
  const usage b = usage::now();
  report(st, a, b, static_cast<double>(kItems) * static_cast<double>(st.iterations()), false);
  const std::uint64_t expect =
      (kItems * (kItems - 1) / 2) * static_cast<std::uint64_t>(st.iterations());
  if (checksum.load() != expect) st.SkipWithError("checksum mismatch: items lost or duplicated");
}

// ---- queue_latency -------------------------------------------------------------------------------

template <class Q>
void bm_latency(benchmark::State& st) {
  constexpr int kSamples = 1 << 13;
  constexpr std::uint64_t kGapNs = 1000;
  auto q = std::make_unique<Q>(kCapacity, 2);
  std::vector<std::uint64_t> lat(kSamples);
  std::vector<std::uint64_t> all;
  std::atomic<std::uint64_t> samples_done{0};
  // The producer sends item i+1 only after the consumer has taken item i and ~1 us has passed, so
  // the queue never builds a backlog: what is measured is the handoff, not queueing delay.
  alignas(lfkit::cache_line_size) std::atomic<int> taken{0};
  worker_pool* pp = nullptr;
  worker_pool pool(2, [&](int idx) {
    retry r(kPauseThenYield, pp->abort);
    if (idx == 0) {
      for (int i = 0; i < kSamples; ++i) {
        r.reset();
        // acquire: pairs with the consumer's release store of `taken` below.
        while (taken.load(std::memory_order_acquire) != i)
          if (!r.failed()) return;
        const std::uint64_t ready = now_ns();
        while (now_ns() < ready + kGapNs) lfkit::detail::cpu_relax();
        const std::uint64_t t0 = now_ns();
        r.reset();
        while (!q->try_push(t0))
          if (!r.failed()) return;
      }
    } else {
      item v = 0;
      for (int i = 0; i < kSamples;) {
        if (q->try_pop(v)) {
          lat[static_cast<std::size_t>(i++)] = now_ns() - v;
          taken.store(i, std::memory_order_release);  // release: pairs with the producer's acquire
          r.reset();
        } else if (!r.failed()) {
          samples_done.fetch_add(static_cast<std::uint64_t>(i));
          return;
        }
      }
      samples_done.fetch_add(kSamples);
    }
  });
  pp = &pool;
  const usage a = usage::now();
  bool stalled = false;
  for (auto _ : st) {
    if (stalled) continue;
    taken.store(0);
    if (!pool.run_once(time_limit_s())) {
      stalled = true;
      continue;
    }
    st.PauseTiming();
    all.insert(all.end(), lat.begin(), lat.end());
    st.ResumeTiming();
  }
  const usage b = usage::now();
  report(st, a, b, static_cast<double>(samples_done.load()), stalled);
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      const auto i = static_cast<std::size_t>(p * static_cast<double>(all.size() - 1));
      return static_cast<double>(all[i]);
    };
    st.counters["p50_ns"] = pct(0.50);
    st.counters["p99_ns"] = pct(0.99);
    st.counters["p999_ns"] = pct(0.999);
  }
}

// ---- queue_pairwise ------------------------------------------------------------------------------

template <class Q>
void bm_pairwise(benchmark::State& st, int threads) {
  auto q = std::make_unique<Q>(kCapacity, threads);
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> round{0};
  value_balance balance;
  (void)spin_delay::loops_per_ns_x1024();  // calibrate outside the timed loop
  worker_pool* pp = nullptr;
  worker_pool pool(threads, [&](int idx) {
    retry r(kAtOncePauseYield, pp->abort);
    rng g(round.load(std::memory_order_relaxed) * 1000 + static_cast<std::uint64_t>(idx));
    std::uint64_t done = 0, pushed = 0, popped = 0;
    item v = 0;
    for (std::uint64_t i = 0; i < kPairs; ++i) {
      if (aborted(pp->abort)) break;
      r.reset();
      while (!q->try_push(i))
        if (!r.failed()) goto out;
      ++done;
      pushed += i;
      spin_delay::wait_ns(50 + g.next() % 101);
      r.reset();
      // The queue holds at least this thread's surplus item, so a failure is transient.
      while (!q->try_pop(v))
        if (!r.failed()) goto out;
      ++done;
      popped += v;
      spin_delay::wait_ns(50 + g.next() % 101);
    }
  out:
    ops.fetch_add(done, std::memory_order_relaxed);  // relaxed: read after the pool's join
    balance.add(pushed, popped);
  });
  pp = &pool;
  const usage a = usage::now();
  const bool stalled = run_loop(st, pool, [&] { round.fetch_add(1, std::memory_order_relaxed); });
  const usage b = usage::now();
  report(st, a, b, static_cast<double>(ops.load()), stalled);
  if (!stalled) balance.check(st, *q);  // every round ends with as many pops as pushes
}

// ---- queue_5050 ----------------------------------------------------------------------------------

template <class Q>
void bm_5050(benchmark::State& st, int threads) {
  auto q = std::make_unique<Q>(kCapacity, threads);
  value_balance balance;
  for (std::size_t i = 0; i < kCapacity / 2; ++i) {
    if (!q->try_push(i)) {
      st.SkipWithError("prefill failed");
      return;
    }
    balance.add(i, 0);
  }
  std::atomic<std::uint64_t> ok{0}, failed{0};
  std::atomic<std::uint64_t> round{0};
  worker_pool* pp = nullptr;
  worker_pool pool(threads, [&](int idx) {
    rng g(round.load(std::memory_order_relaxed) * 1000 + static_cast<std::uint64_t>(idx));
    std::uint64_t good = 0, bad = 0, pushed = 0, popped = 0;
    item v = 0;
    for (std::uint64_t i = 0; i < kRandomOps; ++i) {
      if ((i & 63) == 0 && aborted(pp->abort)) break;
      bool success;
      if ((g.next() >> 63) != 0) {
        success = q->try_push(i);
        if (success) pushed += i;
      } else {
        success = q->try_pop(v);
        if (success) popped += v;
      }
      if (success) {
        ++good;
      } else {
        ++bad;
        lfkit::detail::cpu_relax();
      }
    }
    ok.fetch_add(good, std::memory_order_relaxed);  // relaxed: read after the pool's join
    failed.fetch_add(bad, std::memory_order_relaxed);
    balance.add(pushed, popped);
  });
  pp = &pool;
  const usage a = usage::now();
  const bool stalled = run_loop(st, pool, [&] { round.fetch_add(1, std::memory_order_relaxed); });
  const usage b = usage::now();
  report(st, a, b, static_cast<double>(ok.load()), stalled);
  if (!stalled) balance.check(st, *q);
  const double attempts = static_cast<double>(ok.load() + failed.load());
  if (attempts > 0) st.counters["fail_fraction"] = static_cast<double>(failed.load()) / attempts;
}

// ---- queue_burst ---------------------------------------------------------------------------------

/// A start barrier for `n` threads: the last to arrive reads the clock; spinning waits pause,
/// then yield (threads may outnumber cores).
class phase_barrier {
 public:
  void reset(int n) {
    n_ = n;
    arrived_.store(0);
    go_.store(false);
  }
  void arrive_and_wait(const std::atomic<bool>& abort) {
    if (arrived_.fetch_add(1) + 1 == n_) {
      start_ns = now_ns();  // read by the benchmark thread after the pool's join
      go_.store(true);
      return;
    }
    retry r(kAtOncePauseYield, abort);
    while (!go_.load())
      if (!r.failed()) break;
  }
  std::uint64_t start_ns = 0;

 private:
  int n_ = 0;
  std::atomic<int> arrived_{0};
  std::atomic<bool> go_{false};
};

template <class Q>
void bm_burst(benchmark::State& st, config cfg) {
  const int producers = cfg.p, consumers = cfg.c;
  auto q = std::make_unique<Q>(kBurstCapacity, producers + consumers);
  phase_barrier fill_start, drain_start;
  std::atomic<int> fill_left{0}, drain_left{0};
  std::atomic<std::uint64_t> fill_end{0}, drain_end{0};
  std::atomic<std::uint32_t> phase{0};  // 0 filling, 1 draining: consumers sleep on it
  std::atomic<std::uint64_t> moved{0};
  value_balance balance;
  worker_pool* pp = nullptr;
  worker_pool pool(producers + consumers, [&](int idx) {
    retry r(kAtOncePauseYield, pp->abort);
    std::uint64_t done = 0, pushed = 0, popped = 0;
    if (idx < producers) {
      fill_start.arrive_and_wait(pp->abort);
      const std::uint64_t n = share(kBurstCapacity, producers, idx);
      for (std::uint64_t i = 0; i < n; ++i) {
        if ((i & 63) == 0 && aborted(pp->abort)) goto out;
        r.reset();
        while (!q->try_push(i))
          if (!r.failed()) goto out;
        ++done;
        pushed += i;
      }
      if (fill_left.fetch_sub(1) == 1) {
        fill_end.store(now_ns());
        phase.store(1);
        phase.notify_all();
      }
    } else {
      while (phase.load() == 0) {
        phase.wait(0);
      }
      drain_start.arrive_and_wait(pp->abort);
      const std::uint64_t n = share(kBurstCapacity, consumers, idx - producers);
      item v = 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        if ((i & 63) == 0 && aborted(pp->abort)) goto out;
        r.reset();
        while (!q->try_pop(v))
          if (!r.failed()) goto out;
        ++done;
        popped += v;
      }
      if (drain_left.fetch_sub(1) == 1) drain_end.store(now_ns());
    }
  out:
    moved.fetch_add(done, std::memory_order_relaxed);  // relaxed: read after the pool's join
    balance.add(pushed, popped);
    if (idx < producers && aborted(pp->abort)) {
      phase.store(1);  // release sleeping consumers of an aborted fill
      phase.notify_all();
    }
  });
  pp = &pool;
  const usage a = usage::now();
  double fill_s = 0, drain_s = 0;
  bool stalled = false;
  for (auto _ : st) {
    if (stalled) {
      st.SetIterationTime(1e-9);
      continue;
    }
    fill_start.reset(producers);
    drain_start.reset(consumers);
    fill_left.store(producers);
    drain_left.store(consumers);
    phase.store(0);
    const std::uint64_t t0 = now_ns();
    if (!pool.run_once(time_limit_s())) {
      stalled = true;
      st.SetIterationTime(static_cast<double>(now_ns() - t0) * 1e-9);
      continue;
    }
    const double f = static_cast<double>(fill_end.load() - fill_start.start_ns) * 1e-9;
    const double d = static_cast<double>(drain_end.load() - drain_start.start_ns) * 1e-9;
    fill_s += f;
    drain_s += d;
    st.SetIterationTime(f + d);
  }
  const usage b = usage::now();
  report(st, a, b, static_cast<double>(moved.load()), stalled);
  if (!stalled) balance.check(st, *q);
  if (!stalled && fill_s > 0 && drain_s > 0) {
    const double per_phase =
        static_cast<double>(kBurstCapacity) * static_cast<double>(st.iterations());
    st.counters["fill_items_per_second"] = per_phase / fill_s;
    st.counters["drain_items_per_second"] = per_phase / drain_s;
  }
}

// ---- queue_pingpong ------------------------------------------------------------------------------

template <class Q>
void bm_pingpong(benchmark::State& st) {
  auto ping = std::make_unique<Q>(kCapacity, 2);
  auto pong = std::make_unique<Q>(kCapacity, 2);
  std::atomic<std::uint64_t> trips{0};
  worker_pool* pp = nullptr;
  worker_pool pool(2, [&](int idx) {
    retry r(kPingPong, pp->abort);
    item v = 0;
    std::uint64_t done = 0;
    for (int i = 0; i < kRoundTrips; ++i) {
      if (aborted(pp->abort)) break;
      Q& out = idx == 0 ? *ping : *pong;
      Q& in = idx == 0 ? *pong : *ping;
      if (idx == 0) {
        r.reset();
        while (!out.try_push(static_cast<item>(i)))
          if (!r.failed()) goto out;
      }
      r.reset();
      while (!in.try_pop(v))
        if (!r.failed()) goto out;
      if (idx == 1) {
        r.reset();
        while (!out.try_push(v))
          if (!r.failed()) goto out;
      }
      ++done;
    }
  out:
    if (idx == 0) trips.fetch_add(done, std::memory_order_relaxed);  // relaxed: read after join
  });
  pp = &pool;
  const usage a = usage::now();
  const auto t0 = std::chrono::steady_clock::now();
  const bool stalled = run_loop(st, pool, [] {});
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  const usage b = usage::now();
  report(st, a, b, static_cast<double>(trips.load()), stalled);
  if (trips.load() > 0) st.counters["ns_per_op"] = ns / static_cast<double>(trips.load());
}

// ---- registration --------------------------------------------------------------------------------

inline void reg(const std::string& name, std::function<void(benchmark::State&)> fn,
                bool manual = false) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), std::move(fn));
  if (manual) {
    b->UseManualTime();
  } else {
    b->UseRealTime();
  }
  b->Unit(benchmark::kMillisecond);
}

/// Registers every workload for one implementation (its blocking group only if it has push/pop).
template <class Q>
void add(const std::string& impl) {
  const std::vector<config> all = queue_configs();
  const std::vector<config> main = main_configs();
  const bool full = full_sweep();
  for (config c : all)
    reg("queue_try/" + impl + "/" + c.name(),
        [c](benchmark::State& st) { bm_try<Q>(st, kCapacity, c); });
  for (config c : full ? all : main)
    reg("queue_try_cap16/" + impl + "/" + c.name(),
        [c](benchmark::State& st) { bm_try<Q>(st, 16, c); });
  if (full) {
    for (config c : all)
      reg("queue_try_cap16k/" + impl + "/" + c.name(),
          [c](benchmark::State& st) { bm_try<Q>(st, 16384, c); });
    for (std::size_t cap : {std::size_t{64}, std::size_t{256}})
      for (config c : main)
        reg("queue_try_cap" + std::to_string(cap) + "/" + impl + "/" + c.name(),
            [c, cap](benchmark::State& st) { bm_try<Q>(st, cap, c); });
  }
  for (config c : main) {
    const int t = c.p + c.c;
    reg("queue_pairwise/" + impl + "/" + std::to_string(t) + "T",
        [t](benchmark::State& st) { bm_pairwise<Q>(st, t); });
  }
  for (config c : main) {
    const int t = c.p + c.c;
    reg("queue_5050/" + impl + "/" + std::to_string(t) + "T",
        [t](benchmark::State& st) { bm_5050<Q>(st, t); });
  }
  if constexpr (holds_capacity<Q>()) {
    for (config c : all)
      reg(
          "queue_burst/" + impl + "/" + c.name(), [c](benchmark::State& st) { bm_burst<Q>(st, c); },
          true);
  }
  reg("queue_pingpong/" + impl + "/2T", [](benchmark::State& st) { bm_pingpong<Q>(st); });
  if constexpr (blocking_queue<Q>) {
    for (config c : all)
      reg("queue_blocking/" + impl + "/" + c.name(),
          [c](benchmark::State& st) { bm_blocking<Q>(st, c); });
  }
  reg("queue_latency/" + impl + "/1P1C", [](benchmark::State& st) { bm_latency<Q>(st); });
}

/// Registers the baseline and every packaged peer (call after lfkit's own implementations).
inline void add_baseline_and_peers() {
  add<mutex_adapter>("baseline_mutex");
  add<libcds_adapter>("peer_libcds_vyukov");
  add<xenium_adapter>("peer_xenium_vyukov");
  add<ck_ring_adapter>("peer_ck_ring");
  add<boost_adapter>("peer_boost_lockfree");
  add<tbb_adapter>("peer_tbb_bounded");
  add<moodycamel_adapter>("peer_moodycamel");
}

/// main() of a queue benchmark binary, after its add<>() calls.
inline int run_main(int argc, char** argv) {
  cds::Initialize();  // the cycle queue needs no garbage collector, only the library's init
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  cds::Terminate();
  return 0;
}

}  // namespace qb
