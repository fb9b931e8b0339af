// SPDX-License-Identifier: BSL-1.0
// Benchmarks for lfkit::seqlock_cell against xenium's seqlock (libxenium-dev). Same harness and
// group names as bench_snapshot (snapshot_bench.hpp), so the report compares lfkit_seqlock with
// lfkit::snapshot, the locked baselines and the snapshot peers in one table.
#include <xenium/seqlock.hpp>

#include "lfkit/seqlock_cell.hpp"
#include "snapshot_bench.hpp"

namespace {

/// Any seqlock with load() returning a copy, store(v) and update(f) (lfkit's takes v -> new value,
/// xenium's mutates in place: `Update` adapts).
template <class Cell, bool InPlaceUpdate>
struct impl_seqlock {
  Cell c{sb::value::of(0)};
  std::uint64_t read() {
    const sb::value v = c.load();
    return v.a ^ v.b;
  }
  void publish(std::uint64_t i) { c.store(sb::value::of(i)); }
  void update() {
    if constexpr (InPlaceUpdate) {
      c.update([](sb::value& v) { v = sb::next_of(v); });
    } else {
      c.update(sb::next_of);
    }
  }
  void thread_enter() {}
  void thread_exit() {}
};

}  // namespace

int main(int argc, char** argv) {
  sb::register_impl<impl_seqlock<lfkit::seqlock_cell<sb::value>, false>>("lfkit_seqlock");
  sb::register_impl<impl_seqlock<xenium::seqlock<sb::value>, true>>("peer_xenium_seqlock");
  return sb::run_main(argc, argv);
}
