// SPDX-License-Identifier: BSL-1.0
// bench/bench_semaphore.cpp — lfkit::semaphore against its condvar baseline, POSIX sem_t and
// std::counting_semaphore.
//
// Names follow the suite's convention <group>/<impl>/<config>:
//   semaphore_uncontended/<impl>/release            ns per release() (no waiter; count grows)
//   semaphore_uncontended/<impl>/release_try_acquire ns per release() + try_acquire() pair
//   semaphore_uncontended/<impl>/try_acquire_empty  ns per failing try_acquire()
//   semaphore_wake_latency/<impl>/thread|signal     release() -> a sleeping acquire() (bench_wake.hpp)
//   semaphore_pingpong/<impl>/2T                    round trips/s between two threads
// impl: lfkit, baseline_condvar, peer_sem_t (glibc sem_post/sem_wait/sem_trywait),
// peer_std_counting_semaphore (libstdc++ std::counting_semaphore<>).
#include <benchmark/benchmark.h>

#include <cerrno>
#include <memory>
#include <semaphore>

#include <semaphore.h>

#include "bench_wake.hpp"
#include "lfkit/baseline/condvar_semaphore.hpp"
#include "lfkit/semaphore.hpp"

namespace {

constexpr int batch = 16;  // operations per benchmark iteration, to keep the loop's cost out

struct lfkit_sem {
  static constexpr const char* name = "lfkit";
  lfkit::semaphore s{0};
  void release() { (void)s.release(); }
  bool try_acquire() { return s.try_acquire(); }
  void wait() { s.acquire(); }
  void post() { (void)s.release(); }
};
struct condvar_sem {
  static constexpr const char* name = "baseline_condvar";
  lfkit::baseline::condvar_semaphore s{0};
  void release() { (void)s.release(); }
  bool try_acquire() { return s.try_acquire(); }
  void wait() { s.acquire(); }
  void post() { (void)s.release(); }
};
struct posix_sem {
  static constexpr const char* name = "peer_sem_t";
  sem_t s;
  posix_sem() { sem_init(&s, 0, 0); }
  ~posix_sem() { sem_destroy(&s); }
  posix_sem(const posix_sem&) = delete;
  posix_sem& operator=(const posix_sem&) = delete;
  void release() { sem_post(&s); }
  bool try_acquire() { return sem_trywait(&s) == 0; }
  void wait() {
    while (sem_wait(&s) != 0 && errno == EINTR) {
    }
  }
  void post() { sem_post(&s); }
};
struct std_sem {
  static constexpr const char* name = "peer_std_counting_semaphore";
  std::counting_semaphore<> s{0};
  void release() { s.release(); }
  bool try_acquire() { return s.try_acquire(); }
  void wait() { s.acquire(); }
  void post() { s.release(); }
};

void set_ns_per_op(benchmark::State& st) {
  st.SetItemsProcessed(st.iterations() * batch);
  st.counters["ns_per_op"] =
      benchmark::Counter(static_cast<double>(st.iterations() * batch) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <class S>
void bm_release(benchmark::State& st) {
  auto s = std::make_unique<S>();  // ~10^8 releases at most per run: far below every maximum
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) s->release();
  }
  set_ns_per_op(st);
}

template <class S>
void bm_release_try_acquire(benchmark::State& st) {
  auto s = std::make_unique<S>();
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) {
      s->release();
      benchmark::DoNotOptimize(s->try_acquire());
    }
  }
  set_ns_per_op(st);
}

template <class S>
void bm_try_acquire_empty(benchmark::State& st) {
  auto s = std::make_unique<S>();
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) benchmark::DoNotOptimize(s->try_acquire());
  }
  set_ns_per_op(st);
}

template <class S>
void register_all() {
  const std::string n = S::name;
  benchmark::RegisterBenchmark(("semaphore_uncontended/" + n + "/release").c_str(), bm_release<S>);
  benchmark::RegisterBenchmark(("semaphore_uncontended/" + n + "/release_try_acquire").c_str(),
                               bm_release_try_acquire<S>);
  benchmark::RegisterBenchmark(("semaphore_uncontended/" + n + "/try_acquire_empty").c_str(),
                               bm_try_acquire_empty<S>);
  lfkit_bench::register_wake<S>("semaphore");
  lfkit_bench::register_pingpong<S>("semaphore");
}

}  // namespace

int main(int argc, char** argv) {
  register_all<lfkit_sem>();
  register_all<condvar_sem>();
  register_all<posix_sem>();
  register_all<std_sem>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
