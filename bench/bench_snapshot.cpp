// SPDX-License-Identifier: BSL-1.0
// Benchmarks for lfkit::snapshot: lfkit vs its lock-based baselines vs peers. The harness, groups
// and configs are in snapshot_bench.hpp; lfkit::seqlock_cell and xenium's seqlock run in
// bench_seqlock_cell under the same group names, so the report compares them all.
//   impls here: lfkit, baseline_shared_mutex, baseline_mutex, peer_std_atomic_shared_ptr,
//               peer_urcu_memb, peer_xenium_left_right.
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

#include <xenium/left_right.hpp>

#include "lfkit/baseline/locked_snapshot.hpp"
#include "lfkit/snapshot.hpp"
#include "snapshot_bench.hpp"

namespace {

// ---- the implementations, behind one small interface -----------------------------------------

using impl_lfkit = sb::impl_guarded<lfkit::snapshot<sb::value>>;

template <class Mutex>
using impl_locked = sb::impl_guarded<lfkit::baseline::locked_snapshot<sb::value, Mutex>>;

struct impl_atomic_shared_ptr {
  std::atomic<std::shared_ptr<const sb::value>> p{
      std::make_shared<const sb::value>(sb::value::of(0))};
  std::uint64_t read() {
    auto g = p.load();
    return g->a ^ g->b;
  }
  void publish(std::uint64_t i) { p.store(std::make_shared<const sb::value>(sb::value::of(i))); }
  void update() {
    auto cur = p.load();
    auto next = std::make_shared<const sb::value>(sb::next_of(*cur));
    while (!p.compare_exchange_weak(cur, next))
      next = std::make_shared<const sb::value>(sb::next_of(*cur));
  }
  void thread_enter() {}
  void thread_exit() {}
};

struct impl_urcu {
  sb::value* gp = new sb::value(sb::value::of(0));
  std::mutex writers;  // liburcu has no read-modify-write publish: writers serialise themselves
  std::uint64_t read() {
    rcu_read_lock();
    const sb::value* v = rcu_dereference(gp);
    const std::uint64_t r = v->a ^ v->b;
    rcu_read_unlock();
    return r;
  }
  void publish(std::uint64_t i) {
    sb::value* n = new sb::value(sb::value::of(i));
    sb::value* old = rcu_xchg_pointer(&gp, n);
    synchronize_rcu();
    delete old;
  }
  void update() {
    sb::value* old;
    {
      std::lock_guard lk(writers);
      old = gp;  // only writers change gp, and we hold the writers' lock
      sb::value* n = new sb::value(sb::next_of(*old));
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

/// xenium's left_right: two copies; readers announce themselves on a shared read indicator and
/// read the copy the writer is not changing; update() runs the function on both copies in turn.
struct impl_xenium_left_right {
  xenium::left_right<sb::value> lr{sb::value::of(0)};
  std::uint64_t read() {
    return lr.read([](const sb::value& v) { return v.a ^ v.b; });
  }
  void publish(std::uint64_t i) {
    lr.update([i](sb::value& v) { v = sb::value::of(i); });
  }
  void update() {
    lr.update([](sb::value& v) { v = sb::next_of(v); });
  }
  void thread_enter() {}
  void thread_exit() {}
};

}  // namespace

int main(int argc, char** argv) {
  sb::register_impl<impl_lfkit>("lfkit");
  sb::register_impl<impl_locked<std::shared_mutex>>("baseline_shared_mutex");
  sb::register_impl<impl_locked<std::mutex>>("baseline_mutex");
  sb::register_impl<impl_atomic_shared_ptr>("peer_std_atomic_shared_ptr");
  sb::register_impl<impl_urcu>("peer_urcu_memb");
  sb::register_impl<impl_xenium_left_right>("peer_xenium_left_right");
  return sb::run_main(argc, argv);
}
