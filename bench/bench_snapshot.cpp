// Benchmarks for lfkit::snapshot (issue 4): lfkit vs its lock-based baselines vs peers, one binary.
//
// Names: <group>/<impl>/<config> (Google Benchmark appends /real_time and /threads:N).
//   snapshot_read   — ns per load() + guard release (counter ns_per_op, per reader thread) and
//                     reads/s in total (items_per_second). Configs: 1R 2R 4R 8R (no writer),
//                     1R1W 2R1W 4R1W (plus one background thread publishing continuously).
//   snapshot_update — updates/s (items_per_second). Configs: 1W 2W (writer threads), 1W2R (one
//                     writer, two background readers loading continuously).
//   impls: lfkit, lfkit_seqlock, baseline_shared_mutex, baseline_mutex,
//          peer_std_atomic_shared_ptr, peer_urcu_memb.
// Value: two uint64 counters that must stay equal plus a two-word payload (32 bytes, trivially
// copyable, so the seqlock cell can hold it too). Readers read both counters.
#include <benchmark/benchmark.h>

// liburcu, memb flavour (the default of <urcu.h>). _LGPL_SOURCE inlines its read-side fast path
// (rcu_read_lock/unlock), as performance-minded users do; without it every read is two calls.
#define _LGPL_SOURCE 1
#include <urcu.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "lfkit/baseline/locked_snapshot.hpp"
#include "lfkit/seqlock_cell.hpp"
#include "lfkit/snapshot.hpp"

namespace {

struct value {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint64_t payload[2] = {0, 0};
  static value of(std::uint64_t n) { return value{n, n, {n * 3, n * 7}}; }
};
value next_of(const value& v) { return value::of(v.a + 1); }

// ---- the implementations, behind one small interface -----------------------------------------

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
using impl_lfkit = impl_guarded<lfkit::snapshot<value>>;

struct impl_lfkit_seqlock {
  lfkit::seqlock_cell<value> c{value::of(0)};
  std::uint64_t read() {
    const value v = c.load();
    return v.a ^ v.b;
  }
  void publish(std::uint64_t i) { c.store(value::of(i)); }
  void update() { c.update(next_of); }
  void thread_enter() {}
  void thread_exit() {}
};

template <class Mutex>
using impl_locked = impl_guarded<lfkit::baseline::locked_snapshot<value, Mutex>>;

struct impl_atomic_shared_ptr {
  std::atomic<std::shared_ptr<const value>> p{std::make_shared<const value>(value::of(0))};
  std::uint64_t read() {
    auto g = p.load();
    return g->a ^ g->b;
  }
  void publish(std::uint64_t i) { p.store(std::make_shared<const value>(value::of(i))); }
  void update() {
    auto cur = p.load();
    auto next = std::make_shared<const value>(next_of(*cur));
    while (!p.compare_exchange_weak(cur, next)) next = std::make_shared<const value>(next_of(*cur));
  }
  void thread_enter() {}
  void thread_exit() {}
};

struct impl_urcu {
  value* gp = new value(value::of(0));
  std::mutex writers;  // liburcu has no read-modify-write publish: writers serialise themselves
  std::uint64_t read() {
    rcu_read_lock();
    const value* v = rcu_dereference(gp);
    const std::uint64_t r = v->a ^ v->b;
    rcu_read_unlock();
    return r;
  }
  void publish(std::uint64_t i) {
    value* n = new value(value::of(i));
    value* old = rcu_xchg_pointer(&gp, n);
    synchronize_rcu();
    delete old;
  }
  void update() {
    value* old;
    {
      std::lock_guard lk(writers);
      old = gp;  // only writers change gp, and we hold the writers' lock
      value* n = new value(next_of(*old));
      // rcu_xchg_pointer rather than rcu_assign_pointer: the latter's macro assigns through a
      // volatile lvalue, which clang rejects in C++20 (-Wdeprecated-volatile).
      (void)rcu_xchg_pointer(&gp, n);
    }
    synchronize_rcu();
    delete old;
  }
  void thread_enter() { rcu_register_thread(); }
  void thread_exit() { rcu_unregister_thread(); }
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
benchmark::Counter ns_per_op(benchmark::IterationCount iters) {
  return benchmark::Counter(static_cast<double>(iters) * 1e-9,
                            benchmark::Counter::kIsRate | benchmark::Counter::kAvgThreads |
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

template <class Impl>
void register_impl(const char* name) {
  const std::string n(name);
  auto reads = [&](const char* config, int threads, auto fn) {
    benchmark::RegisterBenchmark(("snapshot_read/" + n + "/" + config).c_str(), fn)
        ->Threads(threads)
        ->UseRealTime();
  };
  reads("1R", 1, bm_read<Impl, false>);
  reads("2R", 2, bm_read<Impl, false>);
  reads("4R", 4, bm_read<Impl, false>);
  reads("8R", 8, bm_read<Impl, false>);
  reads("1R1W", 1, bm_read<Impl, true>);
  reads("2R1W", 2, bm_read<Impl, true>);
  reads("4R1W", 4, bm_read<Impl, true>);
  auto updates = [&](const char* config, int threads, auto fn) {
    benchmark::RegisterBenchmark(("snapshot_update/" + n + "/" + config).c_str(), fn)
        ->Threads(threads)
        ->UseRealTime();
  };
  updates("1W", 1, bm_update<Impl, 0>);
  updates("2W", 2, bm_update<Impl, 0>);
  updates("1W2R", 1, bm_update<Impl, 2>);
}

}  // namespace

int main(int argc, char** argv) {
  register_impl<impl_lfkit>("lfkit");
  register_impl<impl_lfkit_seqlock>("lfkit_seqlock");
  register_impl<impl_locked<std::shared_mutex>>("baseline_shared_mutex");
  register_impl<impl_locked<std::mutex>>("baseline_mutex");
  register_impl<impl_atomic_shared_ptr>("peer_std_atomic_shared_ptr");
  register_impl<impl_urcu>("peer_urcu_memb");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
