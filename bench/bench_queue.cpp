// Benchmarks for lfkit::mpmc_queue against its mutex+condvar baseline and the bounded-queue peers.
//
// Names: <group>/<impl>/<config> (a runner script parses them):
//   group  queue_try       P producers and C consumers move kItems items through a capacity-1024
//                          queue with non-blocking ops only (failed ops retry: pause, then yield
//                          after 64 failures in a row — the same loop for every implementation);
//          queue_try_cap16 the same through a capacity-16 queue (a small handoff queue, where the
//                          two sides are never far apart); configs 1P1C, 2P2C, 4P4C, all six
//                          with LFKIT_BENCH_FULL=1 in the environment (scripts/bench --full);
//          queue_try_cap16k the same at capacity 16384, only with LFKIT_BENCH_FULL=1;
//          queue_blocking  the same with blocking push/pop (lfkit, baseline, oneTBB); consumers stop
//                          on a sentinel pushed after all items;
//          queue_latency   1 producer, 1 consumer: handoff latency of a steady_clock timestamp, one
//                          item in flight at a time, ~1 us apart, consumer spinning on try_pop;
//                          counters p50_ns/p99_ns/p999_ns.
//   impl   lfkit, baseline_mutex, peer_libcds_vyukov, peer_boost_lockfree, peer_tbb_bounded,
//          peer_moodycamel
//   config <P>P<C>C
// Counters: items_per_second (SetItemsProcessed, real time), cpu_ns_per_item (process CPU time per
// item: a spinning idle thread shows up here), ctx_switches_per_item (voluntary + involuntary).
// Worker threads are created once per benchmark run and started per iteration, so thread creation
// is not timed; the timed region is the whole transfer of kItems items.
//
//   bench_queue --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//               --benchmark_filter='queue_try/.*/(1P1C|2P2C|4P4C)'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <time.h>

#include <boost/lockfree/queue.hpp>
#include <cds/container/vyukov_mpmc_cycle_queue.h>
#include <cds/init.h>
#include <concurrentqueue.h>
#include <tbb/concurrent_queue.h>

#include "lfkit/baseline/mutex_queue.hpp"
#include "lfkit/detail/platform.hpp"
#include "lfkit/mpmc_queue.hpp"

namespace {

using item = std::uint64_t;
constexpr std::size_t kCapacity = 1024;
constexpr std::uint64_t kItems = std::uint64_t{1} << 20;
constexpr item kSentinel = ~item{0};

// ---- adapters: try_push / try_pop (and push / pop where the queue blocks) ---------------------

// Each adapter takes the capacity as a template argument (Boost.Lockfree needs it at compile time);
// the plain names are the capacity-kCapacity ones.
template <std::size_t Cap>
struct lfkit_adapter_t {
  static constexpr const char* name = "lfkit";
  lfkit::mpmc_queue<item> q{Cap};
  bool try_push(item v) noexcept { return q.try_push(v); }
  bool try_pop(item& v) noexcept { return q.try_pop(v); }
  void push(item v) { q.push(v); }
  void pop(item& v) { q.pop(v); }
};

template <std::size_t Cap>
struct mutex_adapter_t {
  static constexpr const char* name = "baseline_mutex";
  lfkit::baseline::mutex_queue<item> q{Cap};
  bool try_push(item v) { return q.try_push(v); }
  bool try_pop(item& v) { return q.try_pop(v); }
  void push(item v) { q.push(v); }
  void pop(item& v) { q.pop(v); }
};

template <std::size_t Cap>
struct libcds_adapter_t {
  static constexpr const char* name = "peer_libcds_vyukov";
  cds::container::VyukovMPMCCycleQueue<item> q{Cap};
  bool try_push(item v) { return q.enqueue(v); }
  bool try_pop(item& v) { return q.dequeue(v); }
};

template <std::size_t Cap>
struct boost_adapter_t {
  static constexpr const char* name = "peer_boost_lockfree";
  boost::lockfree::queue<item, boost::lockfree::capacity<Cap>> q;
  bool try_push(item v) { return q.bounded_push(v); }
  bool try_pop(item& v) { return q.pop(v); }
};

template <std::size_t Cap>
struct tbb_adapter_t {
  static constexpr const char* name = "peer_tbb_bounded";
  tbb::concurrent_bounded_queue<item> q;
  tbb_adapter_t() { q.set_capacity(static_cast<std::ptrdiff_t>(Cap)); }
  bool try_push(item v) { return q.try_push(v); }
  bool try_pop(item& v) { return q.try_pop(v); }
  void push(item v) { q.push(v); }
  void pop(item& v) { q.pop(v); }
};

template <std::size_t Cap>
struct moodycamel_adapter_t {
  static constexpr const char* name = "peer_moodycamel";
  // Pre-allocated for Cap elements and up to 16 implicit producers; try_ ops never allocate.
  // (Its capacity is a minimum: it rounds up to whole blocks per producer.)
  moodycamel::ConcurrentQueue<item> q{Cap, 0, 16};
  bool try_push(item v) { return q.try_enqueue(v); }
  bool try_pop(item& v) { return q.try_dequeue(v); }
};

using lfkit_adapter = lfkit_adapter_t<kCapacity>;
using mutex_adapter = mutex_adapter_t<kCapacity>;
using libcds_adapter = libcds_adapter_t<kCapacity>;
using boost_adapter = boost_adapter_t<kCapacity>;
using tbb_adapter = tbb_adapter_t<kCapacity>;
using moodycamel_adapter = moodycamel_adapter_t<kCapacity>;

// ---- a pool of worker threads started once per iteration ---------------------------------------

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
  /// Runs body(i) once on every worker and returns when all have finished.
  void run_once() {
    done_.store(0);
    gen_.fetch_add(1);
    gen_.notify_all();
    for (int d = done_.load(); d != n_; d = done_.load()) done_.wait(d);
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
      if (done_.fetch_add(1) + 1 == n_) done_.notify_all();
    }
  }
  const int n_;
  std::function<void(int)> body_;
  std::atomic<std::uint32_t> gen_{0};
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

/// The same retry policy for every implementation: pause, then yield after 64 failures in a row.
inline void backoff(unsigned& fails) {
  if (++fails < 64) {
    lfkit::detail::cpu_relax();
  } else {
    std::this_thread::yield();
  }
}

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

void report(benchmark::State& st, const usage& a, const usage& b, std::uint64_t per_iteration) {
  const double items = static_cast<double>(st.iterations()) * static_cast<double>(per_iteration);
  st.SetItemsProcessed(static_cast<std::int64_t>(items));
  if (items > 0) {
    st.counters["cpu_ns_per_item"] = (b.cpu_ns - a.cpu_ns) / items;
    st.counters["ctx_switches_per_item"] = (b.ctx - a.ctx) / items;
  }
}

// ---- queue_try -----------------------------------------------------------------------------------

template <class Q>
void bm_try(benchmark::State& st, int producers, int consumers) {
  auto q = std::make_unique<Q>();
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<std::uint64_t> checksum{0};
  worker_pool pool(producers + consumers, [&](int idx) {
    if (idx < producers) {
      const std::uint64_t begin = kItems * static_cast<std::uint64_t>(idx) / static_cast<std::uint64_t>(producers);
      const std::uint64_t end = kItems * static_cast<std::uint64_t>(idx + 1) / static_cast<std::uint64_t>(producers);
      for (std::uint64_t i = begin; i < end; ++i) {
        unsigned fails = 0;
        while (!q->try_push(i)) backoff(fails);
      }
    } else {
      std::uint64_t local = 0, sum = 0;
      item v = 0;
      unsigned fails = 0;
      for (;;) {
        if (q->try_pop(v)) {
          ++local;
          sum += v;
          fails = 0;
          continue;
        }
        if (local != 0) {
          consumed.fetch_add(local, std::memory_order_relaxed);
          local = 0;
        }
        if (consumed.load(std::memory_order_relaxed) >= kItems) break;
        backoff(fails);
      }
      checksum.fetch_add(sum, std::memory_order_relaxed);
    }
  });
  const usage a = usage::now();
  for (auto _ : st) {
    consumed.store(0);
    pool.run_once();
  }
  const usage b = usage::now();
  report(st, a, b, kItems);
  const std::uint64_t expect = (kItems * (kItems - 1) / 2) * static_cast<std::uint64_t>(st.iterations());
  if (checksum.load() != expect) st.SkipWithError("checksum mismatch: items lost or duplicated");
}

// ---- queue_blocking ------------------------------------------------------------------------------

template <class Q>
void bm_blocking(benchmark::State& st, int producers, int consumers) {
  auto q = std::make_unique<Q>();
  std::atomic<int> producers_left{0};
  std::atomic<std::uint64_t> checksum{0};
  worker_pool pool(producers + consumers, [&](int idx) {
    if (idx < producers) {
      const std::uint64_t begin = kItems * static_cast<std::uint64_t>(idx) / static_cast<std::uint64_t>(producers);
      const std::uint64_t end = kItems * static_cast<std::uint64_t>(idx + 1) / static_cast<std::uint64_t>(producers);
      for (std::uint64_t i = begin; i < end; ++i) q->push(i);
      // The last producer to finish pushes one sentinel per consumer: FIFO puts them after every
      // item, so each consumer stops on its sentinel once all items are taken.
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
      checksum.fetch_add(sum, std::memory_order_relaxed);
    }
  });
  const usage a = usage::now();
  for (auto _ : st) {
    producers_left.store(producers);
    pool.run_once();
  }
  const usage b = usage::now();
  report(st, a, b, kItems);
  const std::uint64_t expect = (kItems * (kItems - 1) / 2) * static_cast<std::uint64_t>(st.iterations());
  if (checksum.load() != expect) st.SkipWithError("checksum mismatch: items lost or duplicated");
}

// ---- queue_latency -------------------------------------------------------------------------------

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

template <class Q>
void bm_latency(benchmark::State& st) {
  constexpr int kSamples = 1 << 13;
  constexpr std::uint64_t kGapNs = 1000;
  auto q = std::make_unique<Q>();
  std::vector<std::uint64_t> lat(kSamples);
  std::vector<std::uint64_t> all;
  // The producer sends item i+1 only after the consumer has taken item i and ~1 us has passed, so
  // the queue never builds a backlog: what is measured is the handoff, not queueing delay.
  alignas(lfkit::cache_line_size) std::atomic<int> taken{0};
  worker_pool pool(2, [&](int idx) {
    if (idx == 0) {
      for (int i = 0; i < kSamples; ++i) {
        while (taken.load(std::memory_order_acquire) != i) lfkit::detail::cpu_relax();
        const std::uint64_t ready = now_ns();
        while (now_ns() < ready + kGapNs) lfkit::detail::cpu_relax();
        const std::uint64_t t0 = now_ns();
        unsigned fails = 0;
        while (!q->try_push(t0)) backoff(fails);
      }
    } else {
      item v = 0;
      for (int i = 0; i < kSamples;) {
        if (q->try_pop(v)) {
          lat[static_cast<std::size_t>(i++)] = now_ns() - v;
          taken.store(i, std::memory_order_release);
        } else {
          lfkit::detail::cpu_relax();
        }
      }
    }
  });
  const usage a = usage::now();
  for (auto _ : st) {
    taken.store(0);
    pool.run_once();
    st.PauseTiming();
    all.insert(all.end(), lat.begin(), lat.end());
    st.ResumeTiming();
  }
  const usage b = usage::now();
  report(st, a, b, kSamples);
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

// ---- registration --------------------------------------------------------------------------------

struct config {
  int p, c;
};
constexpr config kConfigs[] = {{1, 1}, {2, 2}, {1, 3}, {3, 1}, {4, 4}, {8, 8}};

std::string cfg_name(const config& c) {
  return std::to_string(c.p) + "P" + std::to_string(c.c) + "C";
}

/// Whether scripts/bench --full asked for the extra sweep points.
bool full_sweep() {
  const char* v = std::getenv("LFKIT_BENCH_FULL");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

template <class Q>
void register_try(const std::string& group = "queue_try", bool main_configs_only = false) {
  for (const config& c : kConfigs) {
    const bool main_config = (c.p == 1 && c.c == 1) || (c.p == 2 && c.c == 2) || (c.p == 4 && c.c == 4);
    if (main_configs_only && !main_config) continue;
    benchmark::RegisterBenchmark(
        (group + "/" + std::string(Q::name) + "/" + cfg_name(c)).c_str(),
        [c](benchmark::State& st) { bm_try<Q>(st, c.p, c.c); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

template <class Q>
void register_blocking() {
  for (const config& c : kConfigs) {
    benchmark::RegisterBenchmark(
        ("queue_blocking/" + std::string(Q::name) + "/" + cfg_name(c)).c_str(),
        [c](benchmark::State& st) { bm_blocking<Q>(st, c.p, c.c); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

template <class Q>
void register_latency() {
  benchmark::RegisterBenchmark(("queue_latency/" + std::string(Q::name) + "/1P1C").c_str(),
                               [](benchmark::State& st) { bm_latency<Q>(st); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

template <class... Qs>
void register_try_all(const std::string& group = "queue_try", bool main_configs_only = false) {
  (register_try<Qs>(group, main_configs_only), ...);
}

/// Every implementation's queue_try at capacity Cap, as group `group`.
template <std::size_t Cap>
void register_try_capacity(const std::string& group, bool main_configs_only) {
  register_try_all<lfkit_adapter_t<Cap>, mutex_adapter_t<Cap>, libcds_adapter_t<Cap>,
                   boost_adapter_t<Cap>, tbb_adapter_t<Cap>, moodycamel_adapter_t<Cap>>(
      group, main_configs_only);
}
template <class... Qs>
void register_latency_all() {
  (register_latency<Qs>(), ...);
}

}  // namespace

int main(int argc, char** argv) {
  cds::Initialize();  // the cycle queue needs no garbage collector, only the library's init
  register_try_all<lfkit_adapter, mutex_adapter, libcds_adapter, boost_adapter, tbb_adapter,
                   moodycamel_adapter>();
  const bool full = full_sweep();
  register_try_capacity<16>("queue_try_cap16", !full);
  if (full) register_try_capacity<16384>("queue_try_cap16k", false);
  register_blocking<lfkit_adapter>();
  register_blocking<mutex_adapter>();
  register_blocking<tbb_adapter>();
  register_latency_all<lfkit_adapter, mutex_adapter, libcds_adapter, boost_adapter, tbb_adapter,
                       moodycamel_adapter>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  cds::Terminate();
  return 0;
}
