// SPDX-License-Identifier: BSL-1.0
// The snapshot-read harness shared by bench_snapshot.cpp and bench_seqlock_cell.cpp: both register
// the same groups, so scripts/bench's report puts lfkit::snapshot, lfkit::seqlock_cell, the locked
// baselines and the peers in one table (each implementation lives in one binary; implementations of
// one binary are interleaved per config, the two binaries run one after the other).
//
// Names: <group>/<impl>/<config> (Google Benchmark appends /real_time and /threads:N).
//   snapshot_read   — ns per load() + guard release (counter ns_per_op, per reader thread) and
//                     reads/s in total (items_per_second). Configs <R>R (no writer) for R in the
//                     reader grid, and <R>R1W (plus one background thread publishing continuously)
//                     for the grid without its largest entry.
//   snapshot_update — updates/s (items_per_second). Configs: 1W 2W (writer threads), 1W2R (one
//                     writer, two background readers loading continuously).
// Reader grid: LFKIT_BENCH_READERS (e.g. "1,2,4,8", set by scripts/bench: 1, n/2, n, 2n for n CPUs,
// and 4n while that gives fewer than four); alone, derived from LFKIT_BENCH_CPUS or the hardware.
// Value: two uint64 counters that must stay equal plus a two-word payload (32 bytes, trivially
// copyable, so seqlocks can hold it too). Readers read both counters.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sb {

struct value {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint64_t payload[2] = {0, 0};
  static value of(std::uint64_t n) { return value{n, n, {n * 3, n * 7}}; }
};
inline value next_of(const value& v) { return value::of(v.a + 1); }

// Any cell whose load() returns a guard: lfkit::snapshot and the locked baselines.
template <class Cell>
struct impl_guarded {
  Cell s{value::of(0)};
  std::uint64_t read() {
    auto g = s.load();
    return g->a ^ g->b;
  }
  void publish(std::uint64_t i) { s.store(value::of(i)); }
  void update() { s.update(next_of); }
  void thread_enter() {}
  void thread_exit() {}
};

template <class Impl>
Impl& instance() {
  static Impl impl;  // outside the timed loops
  return impl;
}

/// A background thread running `work` until stopped (the continuous writer / reader).
class background {
 public:
  /// enter/exit run on the background thread itself (liburcu readers must register).
  template <class Enter, class F, class Exit>
  void start(Enter enter, F work, Exit exit) {
    stop_.store(false, std::memory_order_relaxed);
    t_ = std::thread([this, enter, work, exit]() mutable {
      enter();
      std::uint64_t i = 0;
      while (!stop_.load(std::memory_order_relaxed)) work(++i);
      exit();
    });
  }
  void stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (t_.joinable()) t_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread t_;
};

/// ns per op per thread: (iterations x 1e-9) summed over threads, / real time, / threads, inverted.
inline benchmark::Counter ns_per_op(benchmark::IterationCount iters) {
  return benchmark::Counter(static_cast<double>(iters) * 1e-9, benchmark::Counter::kIsRate |
                                                                   benchmark::Counter::kAvgThreads |
                                                                   benchmark::Counter::kInvert);
}

template <class Impl, bool WithWriter>
void bm_read(benchmark::State& state) {
  Impl& impl = instance<Impl>();
  impl.thread_enter();
  background writer;
  if (WithWriter && state.thread_index() == 0) {
    writer.start([] {}, [&impl](std::uint64_t i) { impl.publish(i); }, [] {});
  }
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += impl.read();
    benchmark::DoNotOptimize(sum);
  }
  if (sum != 0) state.SkipWithError("torn read: the two counters differed");
  writer.stop();  // after the loop's closing barrier (all readers are done)
  impl.thread_exit();
  state.SetItemsProcessed(state.iterations());
  state.counters["ns_per_op"] = ns_per_op(state.iterations());
}

template <class Impl, int BackgroundReaders>
void bm_update(benchmark::State& state) {
  Impl& impl = instance<Impl>();
  impl.thread_enter();
  std::vector<background> readers(state.thread_index() == 0 ? BackgroundReaders : 0);
  for (auto& r : readers) {
    r.start([&impl] { impl.thread_enter(); },
            [&impl](std::uint64_t) { benchmark::DoNotOptimize(impl.read()); },
            [&impl] { impl.thread_exit(); });
  }
  for (auto _ : state) impl.update();
  for (auto& r : readers) r.stop();
  impl.thread_exit();
  state.SetItemsProcessed(state.iterations());
}

inline std::vector<int> reader_counts() {
  std::vector<int> out;
  const char* v = std::getenv("LFKIT_BENCH_READERS");
  if (v != nullptr && *v != '\0') {
    const std::string s(v);
    std::size_t pos = 0;
    while (pos < s.size()) {
      std::size_t end = s.find(',', pos);
      if (end == std::string::npos) end = s.size();
      const std::string tok = s.substr(pos, end - pos);
      const int r = std::atoi(tok.c_str());
      if (r < 1 || std::to_string(r) != tok)
        throw std::invalid_argument("LFKIT_BENCH_READERS entry '" + tok +
                                    "' is not a positive integer");
      out.push_back(r);
      pos = end + 1;
    }
    return out;
  }
  const char* c = std::getenv("LFKIT_BENCH_CPUS");
  const int n = std::max(1, c != nullptr && *c != '\0'
                                ? std::atoi(c)
                                : static_cast<int>(std::thread::hardware_concurrency()));
  for (int r : {1, std::max(1, n / 2), n, 2 * n})
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  if (out.size() < 4) out.push_back(4 * n);
  return out;
}

template <class Impl>
void register_impl(const char* name) {
  const std::string n(name);
  const std::vector<int> readers = reader_counts();
  for (int r : readers) {
    benchmark::RegisterBenchmark(("snapshot_read/" + n + "/" + std::to_string(r) + "R").c_str(),
                                 bm_read<Impl, false>)
        ->Threads(r)
        ->UseRealTime();
  }
  for (std::size_t i = 0; i + 1 < readers.size() || (readers.size() == 1 && i == 0); ++i) {
    const int r = readers[i];
    benchmark::RegisterBenchmark(("snapshot_read/" + n + "/" + std::to_string(r) + "R1W").c_str(),
                                 bm_read<Impl, true>)
        ->Threads(r)
        ->UseRealTime();
  }
  auto updates = [&](const char* config, int threads, auto fn) {
    benchmark::RegisterBenchmark(("snapshot_update/" + n + "/" + config).c_str(), fn)
        ->Threads(threads)
        ->UseRealTime();
  };
  updates("1W", 1, bm_update<Impl, 0>);
  updates("2W", 2, bm_update<Impl, 0>);
  updates("1W2R", 1, bm_update<Impl, 2>);
}

inline int run_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace sb
