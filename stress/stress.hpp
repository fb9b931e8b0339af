// stress/stress.hpp — the interrupt-injection stress framework shared by every scenario.
//
// A *scenario* exercises one structure (or baseline) with worker threads while an injector thread
// sends signals to them; the signal handler runs the scenario's own handler operation, which uses
// the structure through its async-signal-safe operations and accounts for what it did with
// signal-safe atomics. At the end the scenario checks its invariants exactly and returns a row.
//
// Scenarios register themselves with LFKIT_STRESS_SCENARIO(name, description, function) in their
// own stress_<structure>.cpp; main.cpp runs the ones selected on the command line.
#ifndef LFKIT_STRESS_STRESS_HPP
#define LFKIT_STRESS_STRESS_HPP

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include "lfkit/counter.hpp"

namespace lfkit::stress {

/// Command-line options, as every scenario sees them.
struct options {
  std::string structure = "all";   ///< scenario name, a prefix ending in '*', or "all"
  unsigned threads = 4;            ///< worker threads per scenario
  double seconds = 2.0;            ///< wall time per scenario
  std::uint64_t seed = 1;          ///< printed and accepted back: runs are reproducible by seed
  double signal_rate = 20000.0;    ///< signals per second sent to workers (0: none)
  unsigned freeze_us = 0;          ///< if > 0, some handlers sleep this long (a frozen thread)
  double freeze_every_s = 0.25;    ///< time between freezes when freeze_us > 0
  unsigned perturb = 0;            ///< 0: off; 1..3: schedule perturbation level (perturbed_atomic)
  bool quiet = false;              ///< no progress lines
  std::string json_path;           ///< write the report as JSON here too
};

/// One line of the report.
struct result_row {
  std::string scenario;
  std::string structure;  ///< what is under test, e.g. "lfkit::sharded_counter"
  unsigned threads = 0;
  std::uint64_t ops = 0;                 ///< operations completed by worker threads
  std::uint64_t signals_sent = 0;        ///< pthread_kill calls that succeeded
  std::uint64_t signals_handled = 0;     ///< handler invocations
  std::uint64_t handler_ops = 0;         ///< structure operations done inside handlers
  std::uint64_t handler_ops_skipped = 0; ///< handler operations that could not be done (baselines)
  std::uint64_t freezes = 0;             ///< handler sleeps (threads frozen mid-operation)
  double freeze_progress_pct = -1;       ///< others' throughput during freezes, % of normal (-1: n/a)
  std::uint64_t violations = 0;          ///< invariant violations found
  bool expect_violations = false;        ///< a deliberately broken demo: violations are the point
  std::string detail;                    ///< a sentence on what was checked or what went wrong
  double elapsed_s = 0;

  /// A demo must be caught (violations > 0); anything else must be clean.
  [[nodiscard]] bool passed() const { return expect_violations ? violations > 0 : violations == 0; }
};

using scenario_fn = result_row (*)(const options&);

struct scenario {
  const char* name;
  const char* description;
  scenario_fn run;
};

std::vector<scenario>& registry();

struct registrar {
  registrar(const char* name, const char* description, scenario_fn run) {
    registry().push_back({name, description, run});
  }
};

#define LFKIT_STRESS_CAT2(a, b) a##b
#define LFKIT_STRESS_CAT(a, b) LFKIT_STRESS_CAT2(a, b)
#define LFKIT_STRESS_SCENARIO(name, description, fn) \
  static ::lfkit::stress::registrar LFKIT_STRESS_CAT(lfkit_stress_reg_, __LINE__)(name, description, fn)

// ---- signals ---------------------------------------------------------------------------------

/// The operation the handler runs for the current scenario (nullptr: none). Set before workers
/// start, cleared after they stop.
using handler_op = void (*)();
extern std::atomic<handler_op> g_handler_op;
extern std::atomic<std::uint64_t> g_signals_handled;
extern std::atomic<std::uint64_t> g_freezes;
extern std::atomic<std::uint64_t> g_freeze_requests;  ///< freezes the injector asked for
extern std::atomic<unsigned> g_freeze_us;
/// The signal used for interrupts (SIGUSR1) and for freezes (SIGUSR2).
inline constexpr int interrupt_signal = SIGUSR1;
inline constexpr int freeze_signal = SIGUSR2;

/// Installs the SIGUSR1/SIGUSR2 handlers (once per process).
void install_handlers();

/// Worker threads of the current scenario, for the injector to aim at.
class worker_set {
 public:
  explicit worker_set(unsigned n) : handles_(n), ready_(0) {}
  /// Called by worker i first thing.
  void enter(unsigned i) {
    handles_[i] = pthread_self();
    ready_.fetch_add(1);
  }
  [[nodiscard]] bool all_ready() const { return ready_.load() == handles_.size(); }
  [[nodiscard]] const std::vector<pthread_t>& handles() const { return handles_; }

 private:
  std::vector<pthread_t> handles_;
  std::atomic<std::size_t> ready_;
};

/// Sends `interrupt_signal` to random workers at opts.signal_rate per second, and, when
/// opts.freeze_us > 0, a `freeze_signal` every opts.freeze_every_s, measuring the throughput of the
/// other workers during each freeze against the window just before it (via `progress`, a
/// monotonically increasing count of completed operations that the scenario maintains).
class injector {
 public:
  injector(const options& opts, worker_set& workers, const lfkit::sharded_counter* progress);
  ~injector();
  injector(const injector&) = delete;
  injector& operator=(const injector&) = delete;
  /// Stops sending; returns once no more signals will be sent.
  void stop();
  [[nodiscard]] std::uint64_t sent() const { return sent_.load(); }
  /// Mean of per-freeze (ops/s during freeze) / (ops/s before), in percent; -1 if no freezes.
  [[nodiscard]] double freeze_progress_pct() const;

 private:
  void run();
  const options opts_;
  worker_set& workers_;
  const lfkit::sharded_counter* progress_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::vector<double> freeze_ratios_;
  std::thread thread_;
};

/// Resets the global signal counters at the start of a scenario.
void reset_signal_counters();

/// A small seeded generator for workers (splitmix64).
struct rng {
  std::uint64_t s;
  explicit rng(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

/// Deadline helper.
inline bool before(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::steady_clock::now() < deadline;
}
inline std::chrono::steady_clock::time_point deadline_after(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(seconds));
}

/// Index of the current worker thread within its scenario (-1 outside workers). Constant-initialised
/// so that handlers can read it.
inline thread_local int t_worker_index = -1;

/// What run_workers() measured.
struct run_stats {
  std::uint64_t signals_sent = 0;
  double freeze_progress_pct = -1;
  double elapsed_s = 0;
};

/// Runs opts.threads workers, `body(index, stop)` each, for opts.seconds while the injector sends
/// signals (and freezes) to them; `op` is what the interrupt handler does meanwhile. `progress` is
/// the operation count the workers maintain (for the freeze measurement). Returns when every worker
/// has been joined, so no handler of this scenario can still be running.
template <class Body>
run_stats run_workers(const options& opts, handler_op op, const lfkit::sharded_counter& progress, Body body) {
  run_stats st;
  std::atomic<bool> stop{false};
  worker_set workers(opts.threads);
  // release: pairs with the handler's acquire load; the scenario's state is set up before this.
  g_handler_op.store(op, std::memory_order_release);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < opts.threads; ++i) {
    pool.emplace_back([&, i] {
      t_worker_index = static_cast<int>(i);
      workers.enter(i);
      body(i, stop);
    });
  }
  {
    injector inj(opts, workers, &progress);
    const auto end = deadline_after(opts.seconds);
    while (before(end)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    inj.stop();
    st.signals_sent = inj.sent();
    st.freeze_progress_pct = inj.freeze_progress_pct();
  }
  stop.store(true);
  for (auto& t : pool) t.join();
  g_handler_op.store(nullptr);
  st.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace lfkit::stress

#endif  // LFKIT_STRESS_STRESS_HPP
