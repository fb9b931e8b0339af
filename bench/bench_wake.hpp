// SPDX-License-Identifier: BSL-1.0
// bench/bench_wake.hpp — the wake-up harness shared by bench_event.cpp and bench_semaphore.cpp.
//
// A "wakeable" W has: static name (the <impl> part of benchmark names), void wait() (block until
// posted, then re-arm: an event resets itself here), void post(). Measured:
//   *_wake_latency/<impl>/thread   a thread posts to a thread asleep in wait() (it announced
//                                  itself 300 us earlier, so it has left any spin phase):
//                                  steady_clock stamp just before post() -> the waiter's first
//                                  instruction after wait(); p50_ns / p99_ns / p999_ns
//   *_wake_latency/<impl>/signal   the same, but post() runs in a SIGUSR1 handler that the posting
//                                  thread raised on itself (the stamp is taken in the handler)
//   *_pingpong/<impl>/2T           two threads bounce a wake-up through two W: round trips/s
#ifndef LFKIT_BENCH_WAKE_HPP
#define LFKIT_BENCH_WAKE_HPP

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

namespace lfkit_bench {

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

template <class W>
struct signal_post {
  static inline W* target = nullptr;
  static inline std::atomic<std::uint64_t>* stamp = nullptr;
  static void handler(int) {
    stamp->store(now_ns(), std::memory_order_release);  // release: pairs with the waiter's acquire
    target->post();
  }
};

template <class W>
void bm_wake_latency(benchmark::State& st, bool from_signal) {
  constexpr int kSamples = 200;
  auto w = std::make_unique<W>();
  std::vector<std::uint64_t> lat(kSamples), all;
  alignas(64) std::atomic<int> ready{-1};
  alignas(64) std::atomic<std::uint64_t> stamp{0};
  struct sigaction sa{}, old{};
  if (from_signal) {
    signal_post<W>::target = w.get();
    signal_post<W>::stamp = &stamp;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = &signal_post<W>::handler;
    sigaction(SIGUSR1, &sa, &old);
  }
  for (auto _ : st) {
    ready.store(-1);
    std::thread waiter([&] {
      for (int i = 0; i < kSamples; ++i) {
        ready.store(i, std::memory_order_release);  // release: pairs with the poster's acquire
        w->wait();
        const std::uint64_t t1 = now_ns();
        lat[static_cast<std::size_t>(i)] =
            t1 - stamp.load(std::memory_order_acquire);  // acquire: pairs
      }
    });
    for (int i = 0; i < kSamples; ++i) {
      while (ready.load(std::memory_order_acquire) != i)
        std::this_thread::yield();                                  // acquire: pairs
      std::this_thread::sleep_for(std::chrono::microseconds(300));  // the waiter is asleep by now
      if (from_signal) {
        pthread_kill(pthread_self(), SIGUSR1);
      } else {
        stamp.store(now_ns(), std::memory_order_release);  // release: pairs with the waiter
        w->post();
      }
    }
    waiter.join();
    all.insert(all.end(), lat.begin(), lat.end());
  }
  if (from_signal) sigaction(SIGUSR1, &old, nullptr);
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return static_cast<double>(
          all[static_cast<std::size_t>(p * static_cast<double>(all.size() - 1))]);
    };
    st.counters["p50_ns"] = pct(0.50);
    st.counters["p99_ns"] = pct(0.99);
    st.counters["p999_ns"] = pct(0.999);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(all.size()));
}

template <class W>
void bm_pingpong(benchmark::State& st) {
  constexpr int kRounds = 1000;
  auto a = std::make_unique<W>();
  auto b = std::make_unique<W>();
  std::atomic<bool> done{false};
  std::thread other([&] {
    for (;;) {
      a->wait();
      if (done.load(std::memory_order_relaxed)) return;  // relaxed: the post below orders it
      b->post();
    }
  });
  std::int64_t n = 0;
  for (auto _ : st) {
    for (int i = 0; i < kRounds; ++i) {
      a->post();
      b->wait();
    }
    ++n;
  }
  done.store(true, std::memory_order_relaxed);  // relaxed: published by a->post()'s release
  a->post();
  other.join();
  st.SetItemsProcessed(n * kRounds);
}

template <class W>
void register_wake(const std::string& prefix) {
  benchmark::RegisterBenchmark((prefix + "_wake_latency/" + W::name + "/thread").c_str(),
                               [](benchmark::State& st) { bm_wake_latency<W>(st, false); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark((prefix + "_wake_latency/" + W::name + "/signal").c_str(),
                               [](benchmark::State& st) { bm_wake_latency<W>(st, true); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

template <class W>
void register_pingpong(const std::string& prefix) {
  benchmark::RegisterBenchmark((prefix + "_pingpong/" + W::name + "/2T").c_str(),
                               [](benchmark::State& st) { bm_pingpong<W>(st); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace lfkit_bench

#endif  // LFKIT_BENCH_WAKE_HPP
