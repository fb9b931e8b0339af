// SPDX-License-Identifier: BSL-1.0
// bench/bench_event.cpp — lfkit::event against its condvar baseline (Python's Event design), with
// POSIX sem_t and std::binary_semaphore as the one-shot wake-ups people use instead.
//
// Names follow the suite's convention <group>/<impl>/<config>:
//   event_uncontended/<impl>/set_reset     ns per set() + reset() pair, no waiter
//   event_uncontended/<impl>/set_when_set  ns per set() of an event already set
//   event_uncontended/<impl>/is_set        ns per is_set()
//   event_wake_latency/<impl>/thread|signal  set() -> a thread asleep in wait() (bench_wake.hpp);
//                                          the event's waiter resets it after waking
//   event_pingpong/<impl>/2T               round trips/s between two threads (two events)
// impl: lfkit, baseline_condvar; in the wake groups also peer_sem_t (sem_post/sem_wait) and
// peer_std_binary_semaphore (release/acquire).
#include <benchmark/benchmark.h>

#include <cerrno>
#include <memory>
#include <semaphore>

#include <semaphore.h>

#include "bench_wake.hpp"
#include "lfkit/baseline/condvar_event.hpp"
#include "lfkit/event.hpp"

namespace {

constexpr int batch = 16;

template <class E, const char* Name>
struct event_adapter {
  static constexpr const char* name = Name;
  E e;
  void wait() {
    e.wait();
    e.reset();
  }
  void post() { e.set(); }
};
constexpr char lfkit_name[] = "lfkit";
constexpr char condvar_name[] = "baseline_condvar";
using lfkit_ev = event_adapter<lfkit::event, lfkit_name>;
using condvar_ev = event_adapter<lfkit::baseline::condvar_event, condvar_name>;

struct posix_sem {
  static constexpr const char* name = "peer_sem_t";
  sem_t s;
  posix_sem() { sem_init(&s, 0, 0); }
  ~posix_sem() { sem_destroy(&s); }
  posix_sem(const posix_sem&) = delete;
  posix_sem& operator=(const posix_sem&) = delete;
  void wait() {
    while (sem_wait(&s) != 0 && errno == EINTR) {
    }
  }
  void post() { sem_post(&s); }
};
struct std_bsem {
  static constexpr const char* name = "peer_std_binary_semaphore";
  std::binary_semaphore s{0};
  void wait() { s.acquire(); }
  void post() { s.release(); }
};

void set_ns_per_op(benchmark::State& st) {
  st.SetItemsProcessed(st.iterations() * batch);
  st.counters["ns_per_op"] =
      benchmark::Counter(static_cast<double>(st.iterations() * batch) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <class A>
void bm_set_reset(benchmark::State& st) {
  auto a = std::make_unique<A>();
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) {
      a->e.set();
      a->e.reset();
    }
  }
  set_ns_per_op(st);
}
template <class A>
void bm_set_when_set(benchmark::State& st) {
  auto a = std::make_unique<A>();
  a->e.set();
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) a->e.set();
  }
  set_ns_per_op(st);
}
template <class A>
void bm_is_set(benchmark::State& st) {
  auto a = std::make_unique<A>();
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) benchmark::DoNotOptimize(a->e.is_set());
  }
  set_ns_per_op(st);
}

template <class A>
void register_uncontended() {
  const std::string n = A::name;
  benchmark::RegisterBenchmark(("event_uncontended/" + n + "/set_reset").c_str(), bm_set_reset<A>);
  benchmark::RegisterBenchmark(("event_uncontended/" + n + "/set_when_set").c_str(),
                               bm_set_when_set<A>);
  benchmark::RegisterBenchmark(("event_uncontended/" + n + "/is_set").c_str(), bm_is_set<A>);
}

}  // namespace

int main(int argc, char** argv) {
  register_uncontended<lfkit_ev>();
  register_uncontended<condvar_ev>();
  lfkit_bench::register_wake<lfkit_ev>("event");
  lfkit_bench::register_wake<condvar_ev>("event");
  lfkit_bench::register_wake<posix_sem>("event");
  lfkit_bench::register_wake<std_bsem>("event");
  lfkit_bench::register_pingpong<lfkit_ev>("event");
  lfkit_bench::register_pingpong<condvar_ev>("event");
  lfkit_bench::register_pingpong<posix_sem>("event");
  lfkit_bench::register_pingpong<std_bsem>("event");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
