// SPDX-License-Identifier: BSL-1.0
// Throughput of lfkit::lockfree_queue (SCQ rings, strictly lock-free) against lfkit::mpmc_queue
// and libcds's VyukovMPMCCycleQueue, in one binary, repetitions interleaved at random.
//
// Names: <group>/<impl>/<config> (as bench_queue.cpp; scripts/report.py reads them):
//   group  lfq_try   P producers and C consumers move kItems items through a capacity-1024 queue
//                    with non-blocking ops only; a failed op retries (pause, then yield after 64
//                    failures in a row: the same loop for every implementation)
//   impl   lfkit_lockfree, lfkit (mpmc_queue), peer_libcds_vyukov
//   config 1P1C, 2P2C, 4P4C
// Counter: items_per_second (real time). Threads are created per iteration (~0.1 ms, against
// ~5-50 ms of transfer). Unless given on the command line, runs 5 repetitions with
// --benchmark_enable_random_interleaving (so the implementations share the machine's noise) and
// reports aggregates only: compare medians.
//
//   bench_lockfree_queue --benchmark_repetitions=7
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <cds/container/vyukov_mpmc_cycle_queue.h>
#include <cds/init.h>

#include "lfkit/detail/platform.hpp"
#include "lfkit/lockfree_queue.hpp"
#include "lfkit/mpmc_queue.hpp"

namespace {

using item = std::uint64_t;
constexpr std::size_t kCapacity = 1024;
constexpr std::uint64_t kItems = std::uint64_t{1} << 20;

struct lockfree_adapter {
  static constexpr const char* name = "lfkit_lockfree";
  lfkit::lockfree_queue<item> q{kCapacity};
  bool try_push(item v) noexcept { return q.try_push(v); }
  bool try_pop(item& v) noexcept { return q.try_pop(v); }
};
struct mpmc_adapter {
  static constexpr const char* name = "lfkit";
  lfkit::mpmc_queue<item> q{kCapacity};
  bool try_push(item v) noexcept { return q.try_push(v); }
  bool try_pop(item& v) noexcept { return q.try_pop(v); }
};
struct libcds_adapter {
  static constexpr const char* name = "peer_libcds_vyukov";
  cds::container::VyukovMPMCCycleQueue<item> q{kCapacity};
  bool try_push(item v) { return q.enqueue(v); }
  bool try_pop(item& v) { return q.dequeue(v); }
};

/// The retry loop every implementation gets: pause, then yield after 64 failures in a row.
inline void retry(unsigned& fails) {
  if (++fails < 64) {
    lfkit::detail::cpu_relax();
  } else {
    std::this_thread::yield();
  }
}

template <class Q>
void bm_try(benchmark::State& st, int producers, int consumers) {
  std::uint64_t checksum_errors = 0;
  for (auto _ : st) {
    auto q = std::make_unique<Q>();
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::atomic<std::uint64_t> sum{0};
    std::vector<std::thread> ts;
    for (int p = 0; p < producers; ++p) {
      ts.emplace_back([&, p] {
        const auto P = static_cast<std::uint64_t>(producers);
        const std::uint64_t begin = kItems * static_cast<std::uint64_t>(p) / P;
        const std::uint64_t end = kItems * static_cast<std::uint64_t>(p + 1) / P;
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();  // acquire: pairs with go's release
        for (std::uint64_t i = begin; i < end; ++i) {
          unsigned fails = 0;
          while (!q->try_push(i + 1)) retry(fails);
        }
      });
    }
    for (int c = 0; c < consumers; ++c) {
      ts.emplace_back([&, c] {
        // A fixed share per consumer (the shares add up to kItems): no shared counter per item.
        const auto C = static_cast<std::uint64_t>(consumers);
        const std::uint64_t quota =
            kItems * static_cast<std::uint64_t>(c + 1) / C - kItems * static_cast<std::uint64_t>(c) / C;
        std::uint64_t local = 0;
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();  // acquire: as above
        for (std::uint64_t k = 0; k < quota; ++k) {
          item v;
          unsigned fails = 0;
          while (!q->try_pop(v)) retry(fails);
          local += v;
        }
        sum.fetch_add(local);
      });
    }
    while (ready.load() != producers + consumers) std::this_thread::yield();
    go.store(true, std::memory_order_release);  // release: starts the transfer
    for (auto& t : ts) t.join();
    if (sum.load() != kItems * (kItems + 1) / 2) ++checksum_errors;
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()) * static_cast<std::int64_t>(kItems));
  if (checksum_errors != 0) st.SkipWithError("checksum mismatch: items lost or duplicated");
}

template <class Q>
void register_try() {
  for (int n : {1, 2, 4}) {
    const std::string cfg = std::to_string(n) + "P" + std::to_string(n) + "C";
    benchmark::RegisterBenchmark(("lfq_try/" + std::string(Q::name) + "/" + cfg).c_str(),
                                 [n](benchmark::State& st) { bm_try<Q>(st, n, n); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  cds::Initialize();
  register_try<lockfree_adapter>();
  register_try<mpmc_adapter>();
  register_try<libcds_adapter>();
  // Defaults that make the ratios meaningful on a noisy machine; the command line overrides them.
  std::vector<char*> args(argv, argv + argc);
  auto has = [&](const char* flag) {
    for (int i = 1; i < argc; ++i) {
      if (std::string(argv[i]).rfind(flag, 0) == 0) return true;
    }
    return false;
  };
  std::string reps = "--benchmark_repetitions=5", inter = "--benchmark_enable_random_interleaving=true",
              agg = "--benchmark_report_aggregates_only=true";
  if (!has("--benchmark_repetitions")) args.push_back(reps.data());
  if (!has("--benchmark_enable_random_interleaving")) args.push_back(inter.data());
  if (!has("--benchmark_report_aggregates_only")) args.push_back(agg.data());
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  cds::Terminate();
  return 0;
}
