// SPDX-License-Identifier: BSL-1.0
// bench/bench_counter.cpp — counters: increments/s from 1 thread to 4x the cores, and load() cost.
//
// Names follow the suite's convention <group>/<impl>/<config>:
//   counter_add/<impl>/<N>T          N threads incrementing one shared counter (items/s = adds/s)
//   counter_load/<impl>/idle         ns per load() with no adders
//   counter_load/<impl>/<N>A         ns per load() while N-1 other threads add
// impl: lfkit_sharded, lfkit_atomic, baseline_mutex, peer_tbb_ets (oneTBB
// enumerable_thread_specific holding a relaxed atomic per thread, the "thread-cached" design:
// each thread looks up its own element once, reads combine every element).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <tbb/enumerable_thread_specific.h>

#include "lfkit/baseline/mutex_counter.hpp"
#include "lfkit/counter.hpp"

namespace {

constexpr int batch = 16;  // adds per benchmark iteration, to keep the loop's own cost out

struct tbb_ets_counter {
  struct alignas(lfkit::cache_line_size) cell {
    std::atomic<std::uint64_t> v{0};
  };
  tbb::enumerable_thread_specific<cell> ets;
  // The lookup (a hash on the thread id) is done once per benchmark thread, as a user would.
  std::atomic<std::uint64_t>& local() { return ets.local().v; }
  std::uint64_t load() {
    std::uint64_t s = 0;
    for (auto& c : ets) s += c.v.load(std::memory_order_relaxed);  // relaxed: a pure count
    return s;
  }
};

template <class Counter>
Counter& shared_instance() {
  static Counter c;
  return c;
}

// Every thread adds `batch` times per iteration through `add`.
template <class Add>
void add_loop(benchmark::State& state, Add add) {
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) add();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

// Thread 0 measures `load`; the others (if any) add continuously through `add`.
template <class Load, class Add>
void load_loop(benchmark::State& state, Load load, Add add) {
  if (state.thread_index() == 0) {
    for (auto _ : state) benchmark::DoNotOptimize(load());
    state.SetItemsProcessed(state.iterations());
    state.counters["ns_per_op"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * 1e-9,  // inverted rate in ns
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  } else {
    for (auto _ : state) {
      for (int i = 0; i < batch; ++i) add();
    }
  }
}

template <class Counter>
void add_bench(benchmark::State& state) {
  Counter& c = shared_instance<Counter>();
  add_loop(state, [&] { c.increment(); });
  benchmark::DoNotOptimize(c.load());
}

void add_bench_tbb(benchmark::State& state) {
  auto& mine = shared_instance<tbb_ets_counter>().local();
  add_loop(state, [&] { mine.fetch_add(1, std::memory_order_relaxed); });  // relaxed: a count
}

template <class Counter>
void load_bench(benchmark::State& state) {
  Counter& c = shared_instance<Counter>();
  load_loop(state, [&] { return c.load(); }, [&] { c.increment(); });
}

void load_bench_tbb(benchmark::State& state) {
  auto& c = shared_instance<tbb_ets_counter>();
  auto& mine = c.local();
  load_loop(
      state, [&] { return c.load(); },
      [&] { mine.fetch_add(1, std::memory_order_relaxed); });  // relaxed: a count
}

struct impl {
  const char* name;
  void (*add)(benchmark::State&);
  void (*load)(benchmark::State&);
};

const impl impls[] = {
    {"lfkit_sharded", add_bench<lfkit::sharded_counter>, load_bench<lfkit::sharded_counter>},
    {"lfkit_atomic", add_bench<lfkit::atomic_counter>, load_bench<lfkit::atomic_counter>},
    {"baseline_mutex", add_bench<lfkit::baseline::mutex_counter>,
     load_bench<lfkit::baseline::mutex_counter>},
    {"peer_tbb_ets", add_bench_tbb, load_bench_tbb},
};

int register_all() {
  // LFKIT_BENCH_CPUS (set by scripts/bench, which may pretend another machine) or the hardware's.
  const char* env_cpus = std::getenv("LFKIT_BENCH_CPUS");
  const int cores = env_cpus != nullptr && std::atoi(env_cpus) > 0
                        ? std::atoi(env_cpus)
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // 1, 2, 4, ... up to 4x the cores, plus the core count itself.
  std::vector<int> counts;
  for (int n = 1; n <= 4 * cores; n *= 2) counts.push_back(n);
  if (std::find(counts.begin(), counts.end(), cores) == counts.end()) counts.push_back(cores);
  if (std::find(counts.begin(), counts.end(), 4 * cores) == counts.end())
    counts.push_back(4 * cores);
  std::sort(counts.begin(), counts.end());
  for (const auto& im : impls) {
    for (int n : counts) {
      benchmark::RegisterBenchmark(
          ("counter_add/" + std::string(im.name) + "/" + std::to_string(n) + "T").c_str(), im.add)
          ->Threads(n)
          ->UseRealTime();
    }
  }
  for (const auto& im : impls) {
    benchmark::RegisterBenchmark(("counter_load/" + std::string(im.name) + "/idle").c_str(),
                                 im.load)
        ->Threads(1)
        ->UseRealTime();
    benchmark::RegisterBenchmark(
        ("counter_load/" + std::string(im.name) + "/" + std::to_string(cores) + "A").c_str(),
        im.load)
        ->Threads(cores)
        ->UseRealTime();
  }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
