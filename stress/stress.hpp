// SPDX-License-Identifier: BSL-1.0
// stress/stress.hpp — the interrupt-injection stress framework shared by every scenario.
//
// A *scenario* exercises one structure (or baseline) with worker threads while an injector thread
// sends signals to them; the signal handler runs the scenario's own handler operation, which uses
// the structure through its async-signal-safe operations and accounts for what it did with
// signal-safe atomics. At the end the scenario checks its invariants exactly and returns a row.
//
// Three kinds of interrupt, all seeded:
//   * interrupts: a real-time signal (SIGRTMIN+1: queued, so signals sent are signals handled,
//     unlike SIGUSR1 which coalesces) sent with pthread_kill to random workers at --signal-rate,
//     at most one in flight per worker; the handler runs the scenario's handler_op (uses the
//     structure mid-operation);
//   * freezes: every --freeze-every seconds one worker gets SIGRTMIN+2 and its handler sleeps
//     --freeze-us (a thread stopped at an arbitrary instruction); the injector measures the other
//     workers' throughput during the freeze against the window just before it;
//   * perturbed schedules: --perturb 1..3 makes scenarios instantiate the lfkit structures with
//     lfkit::stress::perturbed_atomic (spins, yields, sleeps, self-raised signals at atomic steps).
//     The self-raised signal is a third one (SIGRTMIN+3) whose handler runs the same handler_op
//     but is counted apart: the injector's in-flight accounting sees only the signals it sent.
//
// The run checks its own accounting (fill_signal_columns): every interrupt sent was handled, none
// was handled that was not sent, and every self-raised signal was handled; a row whose accounting
// is off fails (signal_error) whatever its invariants say.
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
#include <time.h>

#include "lfkit/counter.hpp"

namespace lfkit::stress {

/// Command-line options, as every scenario sees them.
struct options {
  std::string structure = "all";  ///< comma-separated scenario names or globs ('*'), or "all"
  unsigned threads = 4;           ///< worker threads per scenario
  double seconds = 2.0;           ///< wall time per scenario
  std::uint64_t seed = 1;         ///< printed and accepted back: runs are reproducible by seed
  double signal_rate = 20000.0;   ///< interrupt signals per second sent to workers (0: none)
  unsigned freeze_us = 0;         ///< if > 0, some handlers sleep this long (a frozen thread)
  double freeze_every_s = 0.1;    ///< time between freezes when freeze_us > 0
  /// Queue scenarios: every worker both pushes and pops (try_ ops only), so a frozen worker does
  /// not cut the others' supply and a freeze measures the queue, not the split of the workers.
  bool symmetric = false;
  unsigned perturb = 0;       ///< 0: off; 1..3: schedule perturbation level (perturbed_atomic)
  bool quiet = false;         ///< no progress lines
  bool strict_demos = false;  ///< judge deliberately broken demos like everything else
  std::string json_path;      ///< write the report as JSON here too
};

/// Statistics of the freeze experiment of one scenario.
struct freeze_stats {
  std::uint64_t measured = 0;  ///< freezes whose windows were measured
  double mean_pct = -1;        ///< mean of per-freeze (others' ops/s during) / (ops/s before), %
  double median_pct = -1;  ///< their median, % (a stalled window before a freeze inflates the mean)
  double worst_pct = -1;   ///< the smallest of those ratios, %
  double below10_pct = -1;  ///< % of measured freezes during which progress fell below 10%
  /// The same measurement without a freeze (alternating with the freezes): the noise floor of the
  /// machine (other processes, scheduling). A freeze effect is real when it exceeds this.
  std::uint64_t control_measured = 0;
  double control_mean_pct = -1;
  double control_below10_pct = -1;
};

/// One line of the report.
struct result_row {
  std::string scenario;
  std::string structure;  ///< what is under test, e.g. "lfkit::sharded_counter"
  unsigned threads = 0;
  std::uint64_t ops = 0;              ///< operations completed by worker threads
  std::uint64_t signals_sent = 0;     ///< pthread_kill calls that succeeded (interrupts)
  std::uint64_t signals_handled = 0;  ///< interrupt handler invocations
  std::uint64_t handler_ops = 0;      ///< structure operations done inside handlers
  std::uint64_t handler_ops_failed =
      0;  ///< try_ ops in handlers that returned false (full/empty/busy)
  std::uint64_t handler_ops_skipped = 0;  ///< handler operations that could not be done (baselines)
  std::uint64_t freezes = 0;              ///< handler sleeps (threads frozen mid-operation)
  freeze_stats freeze;                    ///< progress of the others during freezes
  std::uint64_t perturbed_signals = 0;    ///< signals raised at atomic steps by perturbed_atomic
  std::uint64_t perturbed_handled = 0;    ///< handler invocations for those signals
  std::uint64_t checks = 0;               ///< values/histories checked (scenario-specific unit)
  std::uint64_t violations = 0;           ///< invariant violations found
  bool expect_violations = false;         ///< a deliberately broken demo: violations are the point
  bool strict = false;                    ///< --strict-demos: judge a demo like everything else
  std::string detail;                     ///< a sentence on what was checked or what went wrong
  /// Empty, or what is wrong with the signal accounting (sent vs handled): the run itself is
  /// broken, so the row fails, a demo included.
  std::string signal_error;
  double elapsed_s = 0;

  /// A demo must be caught (violations > 0); anything else must be clean. Either way the signal
  /// accounting must add up.
  [[nodiscard]] bool passed() const {
    if (!signal_error.empty()) return false;
    return expect_violations && !strict ? violations > 0 : violations == 0;
  }
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
#define LFKIT_STRESS_SCENARIO(name, description, fn)                                    \
  static ::lfkit::stress::registrar LFKIT_STRESS_CAT(lfkit_stress_reg_, __LINE__)(name, \
                                                                                  description, fn)

// ---- signals ---------------------------------------------------------------------------------

/// The operation the handler runs for the current scenario (nullptr: none). Set before workers
/// start, cleared after they stop.
using handler_op = void (*)();
extern std::atomic<handler_op> g_handler_op;
extern std::atomic<std::uint64_t> g_signals_handled;    ///< interrupts (injector's) handled
extern std::atomic<std::uint64_t> g_perturbed_handled;  ///< self-raised (perturbed) signals handled
/// Interrupt handlers that found their worker's in-flight count already 0: a signal the injector
/// did not send reached on_interrupt. Must stay 0 (fill_signal_columns fails the row otherwise).
extern std::atomic<std::uint64_t> g_pending_underflows;
/// Interrupts a leaving worker stopped waiting for (worker_set::leave): each one is missing from
/// the handled count. Must stay 0 (fill_signal_columns fails the row otherwise).
extern std::atomic<std::uint64_t> g_leave_gave_up;
extern std::atomic<std::uint64_t> g_freezes;
extern std::atomic<unsigned> g_freeze_us;
/// When set, a freeze handler that finds its thread outside a structure operation (t_in_op clear)
/// does not sleep but counts a miss, and the injector tries another moment/thread: the freeze then
/// lands *inside* an operation (for a baseline: possibly while holding its lock).
extern std::atomic<bool> g_freeze_targeted;
extern std::atomic<std::uint64_t> g_freeze_missed;

/// The real-time signal used for interrupts (queued: not coalesced) and the one used for freezes.
inline int interrupt_signal() noexcept { return SIGRTMIN + 1; }
inline int freeze_signal() noexcept { return SIGRTMIN + 2; }
/// The signal perturbed_atomic raises at the calling thread (--perturb 3). Not interrupt_signal():
/// the interrupt handler decrements the injector's in-flight count, which a self-raised signal
/// never incremented (that wrapped the unsigned count, and the injector skipped the worker for the
/// rest of the run).
inline int perturb_signal() noexcept { return SIGRTMIN + 3; }

/// Installs the interrupt and freeze handlers (once per process).
void install_handlers();

/// Index of the current worker thread within its scenario (-1 outside workers, and after the
/// worker's body returned). Constant-initialised static TLS, atomic so that the handler reading it
/// on the same thread is well defined.
inline constinit thread_local std::atomic<int> t_worker_index{-1};
/// The calling worker's count of interrupts sent and not yet handled (a slot of its worker_set),
/// or null outside a worker. The injector keeps at most one in flight per worker: a handler slower
/// than the signal rate (perturbed steps, a bounded busy-slot wait) would otherwise leave its
/// thread a growing queue of real-time signals and never let it back into its own code.
inline constinit thread_local std::atomic<std::atomic<unsigned>*> t_interrupts_pending{nullptr};

/// Set by workers around every call into the structure under test (and, for baselines, around the
/// destruction of anything it handed out). Baseline handlers that find it set know that the thread
/// they interrupted may hold the baseline's lock, so calling the baseline would deadlock: they skip
/// the operation and count it (lfkit handlers never look at it: interrupting an operation is the
/// point). Targeted freezes use it to land inside an operation. Constant-initialised static TLS.
inline constinit thread_local std::atomic<bool> t_in_op{false};

/// RAII marker for t_in_op. Nested use is not needed (baseline calls do not nest).
struct in_op_scope {
  in_op_scope() noexcept {
    t_in_op.store(true, std::memory_order_relaxed);  // relaxed: read only by this thread's handlers
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the flag is set before the call starts
  }
  ~in_op_scope() {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the call has ended before the clear
    t_in_op.store(false, std::memory_order_relaxed);      // relaxed: as above
  }
  in_op_scope(const in_op_scope&) = delete;
  in_op_scope& operator=(const in_op_scope&) = delete;
};

/// Worker threads of the current scenario, for the injector to aim at.
class worker_set {
 public:
  explicit worker_set(unsigned n) : handles_(n), masks_(n), active_(n), pending_(n), ready_(0) {}
  /// Called by worker i first thing, before the injector may aim at it.
  ///
  /// Under TSan, the first signal a new thread receives could be lost for good: the runtime
  /// (compiler-rt 14, SigCtx in tsan_interceptors_posix.cpp) allocates a thread's signal context
  /// lazily, on the first intercepted call that needs it, and if a signal arrives while the thread
  /// is doing that, the handler allocates and arms a context of its own which the interrupted
  /// allocation then overwrites (later versions install it with a compare-and-swap). The interrupt
  /// never ran, the worker's in-flight slot stayed at 1, the injector skipped the worker for the
  /// rest of the run, and leave() gave up on it (about 1 run in 4 of the perturbed families; at
  /// give-up the signal was neither blocked nor pending in the kernel, and a self-raised signal,
  /// which makes TSan run every deferred one, did not bring it back; it had been sent about 2 s
  /// earlier, i.e. at the start of the run). pthread_kill with signal 0 sends nothing (it only
  /// checks the thread exists) but TSan's interceptor allocates the context: done here, before
  /// active_[i] is set, no signal can race it. 0 losses in 20 runs with it, 3 in 12 without.
  void enter(unsigned i) {
    handles_[i] = pthread_self();
    pthread_kill(handles_[i], 0);
    pthread_sigmask(SIG_SETMASK, nullptr, &masks_[i]);  // for leave() to restore
    t_interrupts_pending.store(&pending_[i]);
    active_[i].store(true);
    ready_.fetch_add(1);
  }
  /// Called by worker i when its body returned: no more signals are aimed at it. An interrupt the
  /// injector committed to before it saw active_[i] clear is handled here, before the thread exits
  /// (a signal still pending at thread exit is discarded): so every interrupt sent is handled. The
  /// injector increments pending_[i] before it re-checks active_[i], and we clear active_[i]
  /// before we read pending_[i] (all seq_cst): one of the two sees the other's write. Only a count
  /// of exactly 1 is waited for: anything above is an accounting error that the row reports.
  ///
  /// The signal mask the worker started with is restored first: under TSan the thread may be
  /// running with every signal blocked, and the interrupt would then stay pending in the kernel
  /// for ever. TSan (compiler-rt 14, tsan_interceptors_posix.cpp, ProcessPendingSignalsImpl) runs
  /// deferred handlers with every signal blocked, keeping the thread's mask in a single slot per
  /// thread (ThreadSignalContext::oldset) and restoring it afterwards. It clears the thread's
  /// pending flag before it blocks the signals, so a second signal (a freeze while an interrupt is
  /// deferred, or the other way round) can land in between and set the flag again; the first
  /// atomic operation of a handler (tsan_interface_atomic.cpp, ATOMIC_IMPL) or its first
  /// intercepted call then re-enters ProcessPendingSignalsImpl, which overwrites the saved mask
  /// with the all-blocked one, and the outer call "restores" that. Nothing reaches the worker from
  /// then on until it sets its mask itself, which it does here.
  ///
  /// The wait is bounded only as a safety net, so that an interrupt lost some other way fails the
  /// row with its own message rather than as a hung run: one that has not arrived within 1 s (plus
  /// two freezes, which under TSan block it while they sleep) is given up and counted in
  /// g_leave_gave_up, and the row fails.
  void leave(unsigned i) {
    active_[i].store(false);
    pthread_sigmask(SIG_SETMASK, &masks_[i], nullptr);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1) +
                         2 * std::chrono::microseconds(g_freeze_us.load());
    while (pending_[i].load() == 1) {
      if (std::chrono::steady_clock::now() > give_up) {
        unsigned one = 1;
        if (pending_[i].compare_exchange_strong(one, 0)) g_leave_gave_up.fetch_add(1);
        break;
      }
      timespec ts{0, 10000};  // a blocking call: the signal is delivered meanwhile (TSan too)
      nanosleep(&ts, nullptr);
    }
    t_interrupts_pending.store(nullptr);
    finished_.fetch_add(1);
  }
  /// Worker i's interrupts sent and not yet handled (see t_interrupts_pending).
  [[nodiscard]] std::atomic<unsigned>& pending(std::size_t i) { return pending_[i]; }
  [[nodiscard]] bool all_ready() const { return ready_.load() == handles_.size(); }
  [[nodiscard]] bool all_finished() const { return finished_.load() == handles_.size(); }
  /// The sum of the in-flight counts; 0 once every worker has left, unless the accounting is off.
  [[nodiscard]] std::uint64_t pending_total() const {
    std::uint64_t sum = 0;
    for (const auto& p : pending_) sum += p.load();
    return sum;
  }
  [[nodiscard]] bool active(std::size_t i) const { return active_[i].load(); }
  [[nodiscard]] const std::vector<pthread_t>& handles() const { return handles_; }

 private:
  std::vector<pthread_t> handles_;
  /// Each worker's signal mask at enter(); slot i is read and written by worker i only.
  std::vector<sigset_t> masks_;
  std::vector<std::atomic<bool>> active_;
  std::vector<std::atomic<unsigned>> pending_;
  std::atomic<std::size_t> ready_;
  std::atomic<std::size_t> finished_{0};
};

/// Sends interrupts to random workers at opts.signal_rate per second, and, when opts.freeze_us > 0,
/// freezes one worker every opts.freeze_every_s, measuring the throughput of the other workers
/// during each freeze against the window just before it (via `progress`, a monotonically
/// increasing count of completed operations that the scenario maintains).
class injector {
 public:
  injector(const options& opts, worker_set& workers, const lfkit::sharded_counter* progress);
  ~injector();
  injector(const injector&) = delete;
  injector& operator=(const injector&) = delete;
  /// Stops sending; returns once no more signals will be sent.
  void stop();
  [[nodiscard]] std::uint64_t sent() const { return sent_.load(); }
  [[nodiscard]] freeze_stats freezes() const;

 private:
  void run();
  void freeze_one(std::uint64_t pick, bool control);
  const options opts_;
  worker_set& workers_;
  const lfkit::sharded_counter* progress_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::vector<double> freeze_ratios_;   // written by the freezer thread, read after stop()
  std::vector<double> control_ratios_;  // likewise
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

/// A 64-bit mixing function (the splitmix64 finaliser) for multiset hashes of items.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Deadline helper.
inline bool before(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::steady_clock::now() < deadline;
}
inline std::chrono::steady_clock::time_point deadline_after(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(seconds));
}

/// What run_workers() measured.
struct run_stats {
  std::uint64_t signals_sent = 0;
  freeze_stats freeze;
  double elapsed_s = 0;
  bool wind_down_timed_out = false;  ///< workers did not finish within the grace period
  std::uint64_t pending_left = 0;    ///< interrupts still counted in flight after every worker left
};

/// A progress line on stderr (unless quiet): "  [name] 1.0 s: N ops, M signals".
void print_progress(const options& opts, double t, std::uint64_t ops);

/// Workers did not finish within 10 s of the deadline (a deadlock or a lost wake-up): calls
/// g_on_hang (if set), prints the seed and exits the process with status 3.
[[noreturn]] void hung(const options& opts);
/// Called by hung() before it exits (the driver says which scenario hung and keeps the report).
extern void (*g_on_hang)();

struct no_wind_down {
  void operator()() const noexcept {}
};

/// Runs opts.threads workers, `body(index, stop)` each, for opts.seconds while the injector sends
/// signals (and freezes) to them; `op` is what the interrupt handler does meanwhile. `progress` is
/// the operation count the workers maintain (for the freeze measurement and progress lines).
/// At the deadline `wind_down()` runs (e.g. a queue's close()), then `stop` is set; signals keep
/// coming until every worker's body has returned (at most 10 s more), so the end of the run (a
/// drain, say) is interrupted too. Returns when every worker has been joined, so no handler of
/// this scenario can still be running.
template <class Body, class WindDown = no_wind_down>
run_stats run_workers(const options& opts, handler_op op, const lfkit::sharded_counter& progress,
                      Body body, WindDown wind_down = {}) {
  run_stats st;
  std::atomic<bool> stop{false};
  worker_set workers(opts.threads);
  // release: pairs with the handler's acquire load; the scenario's state is set up before this.
  g_handler_op.store(op, std::memory_order_release);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < opts.threads; ++i) {
    pool.emplace_back([&, i] {
      t_worker_index.store(static_cast<int>(i),
                           std::memory_order_relaxed);  // relaxed: own handlers only
      workers.enter(i);
      body(i, stop);
      t_worker_index.store(-1, std::memory_order_relaxed);  // relaxed: own handlers only
      workers.leave(i);
    });
  }
  {
    injector inj(opts, workers, &progress);
    const auto end = deadline_after(opts.seconds);
    auto next_report = t0 + std::chrono::seconds(1);
    while (before(end)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_report) {
        print_progress(opts, std::chrono::duration<double>(now - t0).count(), progress.load());
        next_report += std::chrono::seconds(1);
      }
    }
    wind_down();
    stop.store(true);
    const auto give_up = deadline_after(10.0);
    while (!workers.all_finished() && before(give_up))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    st.wind_down_timed_out = !workers.all_finished();
    inj.stop();
    if (st.wind_down_timed_out) hung(opts);  // never hang CI: report and exit
    st.signals_sent = inj.sent();
    st.freeze = inj.freezes();
  }
  for (auto& t : pool) t.join();
  st.pending_left = workers.pending_total();
  g_handler_op.store(nullptr);
  st.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

// ---- lost wake-ups: a dedicated sleeper -------------------------------------------------------
//
// A worker's sleep cannot show a lost wake-up: thousands of interrupts a second end it (a signal
// ends a futex sleep; the sleeper re-checks and returns, woken or not). So the event and semaphore
// scenarios add a sleeper: a thread that is not a worker (the injector never aims at it), blocks
// the injector's signals, and only waits, with a long timeout (sleeper_timeout), while the workers'
// handlers set/release. Only a wake (or that timeout) ends its sleeps; a wake_watch measures, per
// wait, how long what it waits for was there while it still slept.

/// The longest time a sleeper may spend inside one wait while what it waits for is there (the
/// event set; a unit free) before the run fails. Its wakes take microseconds; a sleeper that was
/// woken but is not scheduled, or a woken worker that holds the unit meanwhile, stays far below.
constexpr unsigned wake_limit_ms = 250;

/// The sleeper's timeout: long enough that a lost wake-up shows as a stretch far above
/// wake_limit_ms, short enough that a run with one still ends (a sleeper whose wake was lost
/// returns at its timeout, instead of hanging the run).
inline constexpr std::chrono::seconds sleeper_timeout{1};

/// Blocks the injector's signals (interrupt and freeze) on the calling thread, a sleeper: nothing
/// but a wake ends its sleeps. The self-raised perturbation signal stays open: it is raised at one
/// of the thread's own atomic steps (so handled at once, never during a sleep), and the run's
/// accounting expects every one to be handled.
void block_injected_signals();

/// Watches a sleeper for lost wake-ups. Every millisecond it calls `sample()`: which wait the
/// sleeper is in (0: none; otherwise a number that changes with every wait) and whether what that
/// wait is for is there now (the event set, a unit free). The time within one wait in which it
/// was is that wait's stretch; longest_us() is the longest. Only time in which the watch itself
/// ran on schedule counts (at most 2 ms per tick, however late it woke), so a stalled machine is
/// not blamed on the structure.
class wake_watch {
 public:
  struct sample {
    std::uint64_t wait = 0;  ///< 0: not in a wait; otherwise the wait's number
    bool ready = false;      ///< what the wait is for is there (it should end now)
  };
  explicit wake_watch(std::function<sample()> sample_fn);
  ~wake_watch() { stop(); }
  wake_watch(const wake_watch&) = delete;
  wake_watch& operator=(const wake_watch&) = delete;
  /// Stops watching; returns once the watch thread has ended.
  void stop();
  /// The longest stretch, in microseconds (after stop()).
  [[nodiscard]] std::int64_t longest_us() const { return longest_us_; }
  /// Whether the longest stretch exceeds wake_limit_ms: a violation (after stop()).
  [[nodiscard]] bool late() const { return longest_us_ > std::int64_t{wake_limit_ms} * 1000; }

 private:
  std::atomic<bool> stop_{false};
  std::int64_t longest_us_ = 0;  // written by the watch thread, read after stop()
  std::thread thread_;
};

/// Fills the signal/freeze columns of a row from run_workers' statistics and the global counters.
void fill_signal_columns(result_row& row, const run_stats& st);

/// The perturbation level the scenario should use; scenarios instantiate the lfkit structures with
/// perturbed_atomic when it is > 0.
inline unsigned perturb_level(const options& o) { return o.perturb; }

}  // namespace lfkit::stress

#endif  // LFKIT_STRESS_STRESS_HPP
