// SPDX-License-Identifier: BSL-1.0
// stress/stress.cpp — the framework's signal handlers and injector (see stress.hpp).
#include "stress.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "lfkit/detail/platform.hpp"  // LFKIT_TSAN
#include "perturbed_atomic.hpp"

namespace lfkit::stress {

std::vector<scenario>& registry() {
  static std::vector<scenario> r;
  return r;
}

std::atomic<handler_op> g_handler_op{nullptr};
std::atomic<std::uint64_t> g_signals_handled{0};
std::atomic<std::uint64_t> g_perturbed_handled{0};
std::atomic<std::uint64_t> g_pending_underflows{0};
std::atomic<std::uint64_t> g_leave_gave_up{0};
std::atomic<std::uint64_t> g_freezes{0};
std::atomic<unsigned> g_freeze_us{0};
std::atomic<bool> g_freeze_targeted{false};
std::atomic<std::uint64_t> g_freeze_missed{0};

namespace {

// Runs on the interrupted worker, between two arbitrary instructions of whatever it was doing.
// Only the injector sends this signal, after counting it in the worker's in-flight slot.
extern "C" void on_interrupt(int) {
  const int saved = errno;
  // acquire: pairs with the release store that installs the scenario's operation.
  if (handler_op op = g_handler_op.load(std::memory_order_acquire)) op();
  g_signals_handled.fetch_add(1,
                              std::memory_order_relaxed);  // relaxed: a statistic read after join
  if (std::atomic<unsigned>* p = t_interrupts_pending.load()) {
    // A count already at 0 would wrap: the signal was not the injector's. Count it (the row then
    // fails) and leave the slot at 0 so that the injector keeps aiming at this worker.
    unsigned n = p->load();
    while (n != 0 && !p->compare_exchange_weak(n, n - 1)) {
    }
    if (n == 0) g_pending_underflows.fetch_add(1);
  }
  errno = saved;
}

// The signal perturbed_atomic raises at the calling thread at an atomic step (--perturb 3): the
// same handler operation, run between two atomic steps, counted apart from the injector's.
extern "C" void on_perturb(int) {
  const int saved = errno;
  // acquire: pairs with the release store that installs the scenario's operation.
  if (handler_op op = g_handler_op.load(std::memory_order_acquire)) op();
  g_perturbed_handled.fetch_add(1,
                                std::memory_order_relaxed);  // relaxed: a statistic read after join
  errno = saved;
}

// Freezes the interrupted worker mid-operation: nanosleep is async-signal-safe. Interrupts are not
// masked meanwhile: the frozen thread keeps running handlers, as a preempted thread would not, but
// its interrupted operation stays stopped, which is what the experiment is about. (Under TSan they
// are: its runtime blocks every signal while it runs a deferred handler, so an interrupt sent
// during a freeze waits for the freeze to end; see worker_set::leave.)
extern "C" void on_freeze(int) {
  const int saved = errno;
  // relaxed: the flag is a knob set by the injector before it sends the signal (pthread_kill orders
  // it); t_in_op is this thread's own.
  if (g_freeze_targeted.load(std::memory_order_relaxed) &&
      !t_in_op.load(std::memory_order_relaxed)) {
    g_freeze_missed.fetch_add(
        1, std::memory_order_relaxed);  // relaxed: the injector polls it, no data
    return;
  }
  g_freezes.fetch_add(1, std::memory_order_relaxed);  // relaxed: the injector polls it, no data
  const unsigned us = g_freeze_us.load(std::memory_order_relaxed);  // relaxed: set before workers
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
  errno = saved;
}

void sleep_for_us(double us) {
  if (us <= 0) return;
  const auto ns = static_cast<long long>(us * 1000.0);
  timespec ts{static_cast<time_t>(ns / 1000000000LL), static_cast<long>(ns % 1000000000LL)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

}  // namespace

void install_handlers() {
  static bool done = false;
  if (done) return;
  done = true;
  struct sigaction sa{};
  sigemptyset(&sa.sa_mask);
  // The interrupt and the self-raised signal mask each other, as they did when they were one
  // signal: a handler operation is never nested in another (one raised meanwhile waits).
  sigaddset(&sa.sa_mask, interrupt_signal());
  sigaddset(&sa.sa_mask, perturb_signal());
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_interrupt;
  if (sigaction(interrupt_signal(), &sa, nullptr) != 0) std::abort();
  sa.sa_handler = on_perturb;
  if (sigaction(perturb_signal(), &sa, nullptr) != 0) std::abort();
  sigemptyset(&sa.sa_mask);
  // While frozen, a worker can still be interrupted: the freeze is just a very slow instruction.
  sa.sa_handler = on_freeze;
  if (sigaction(freeze_signal(), &sa, nullptr) != 0) std::abort();
}

void reset_signal_counters() {
  g_signals_handled.store(0);
  g_perturbed_handled.store(0);
  g_pending_underflows.store(0);
  g_leave_gave_up.store(0);
  g_freezes.store(0);
  g_perturbation.signals_raised.store(0);
}

void print_progress(const options& opts, double t, std::uint64_t ops) {
  if (opts.quiet) return;
  std::fprintf(stderr,
               "      %5.1f s: %" PRIu64 " ops, %" PRIu64 " interrupts handled, %" PRIu64
               " freezes\n",
               t, ops, g_signals_handled.load(), g_freezes.load());
}

void (*g_on_hang)() = nullptr;

void hung(const options& opts) {
  if (g_on_hang != nullptr) g_on_hang();
  std::fprintf(stderr,
               "lfkit_stress: workers did not finish within 10 s of the deadline (deadlock or lost "
               "wake-up)\n"
               "lfkit_stress: FAILED; reproduce with --seed %" PRIu64 "\n",
               opts.seed);
  std::fflush(stdout);
  std::_Exit(3);
}

void block_injected_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, interrupt_signal());
  sigaddset(&set, freeze_signal());
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) std::abort();
}

wake_watch::wake_watch(std::function<sample()> sample_fn) {
  thread_ = std::thread([this, f = std::move(sample_fn)] {
    using clock = std::chrono::steady_clock;
    std::uint64_t wait = 0;
    std::int64_t stretch_us = 0;
    auto last = clock::now();
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const auto now = clock::now();
      const auto dt = std::chrono::duration_cast<std::chrono::microseconds>(now - last).count();
      last = now;
      const sample s = f();
      if (s.wait != wait) {  // another wait (or none): a new stretch
        wait = s.wait;
        stretch_us = 0;
      }
      if (s.wait != 0 && s.ready) {
        stretch_us += dt < 2000 ? dt : 2000;
        if (stretch_us > longest_us_) longest_us_ = stretch_us;
      }
    }
  });
}

void wake_watch::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void fill_signal_columns(result_row& row, const run_stats& st) {
  row.signals_sent = st.signals_sent;
  row.signals_handled = g_signals_handled.load();
  row.freezes = g_freezes.load();
  row.freeze = st.freeze;
  row.elapsed_s = st.elapsed_s;
  row.perturbed_signals = g_perturbation.signals_raised.load();
  row.perturbed_handled = g_perturbed_handled.load();
  // Signals sent are signals handled (real-time signals queue; leave() waits for the last one).
  const std::uint64_t underflows = g_pending_underflows.load();
  char buf[256];
  if (underflows != 0) {
    std::snprintf(buf, sizeof buf,
                  "%" PRIu64 " interrupts handled that the injector had not counted as in flight",
                  underflows);
    row.signal_error = buf;
  } else if (st.pending_left != 0) {
    std::snprintf(buf, sizeof buf,
                  "%" PRIu64 " interrupts still counted in flight after the workers left",
                  st.pending_left);
    row.signal_error = buf;
  } else if (const std::uint64_t gave_up = g_leave_gave_up.load(); gave_up != 0) {
    std::snprintf(buf, sizeof buf,
                  "%" PRIu64 " interrupts sent to leaving workers never arrived (given up)",
                  gave_up);
    row.signal_error = buf;
  } else if (row.signals_handled != row.signals_sent) {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " interrupts sent but %" PRIu64 " handled",
                  row.signals_sent, row.signals_handled);
    row.signal_error = buf;
  } else if (LFKIT_TSAN ? row.perturbed_handled > row.perturbed_signals
                        : row.perturbed_handled != row.perturbed_signals) {
    // TSan defers a signal that arrives in a handler or a runtime call to a pending slot per
    // signal number, so two self-raised ones can merge into one there (interrupts cannot: at most
    // one is in flight per worker).

    std::snprintf(buf, sizeof buf, "%" PRIu64 " signals self-raised but %" PRIu64 " handled",
                  row.perturbed_signals, row.perturbed_handled);
    row.signal_error = buf;
  }
}

injector::injector(const options& opts, worker_set& workers, const lfkit::sharded_counter* progress)
    : opts_(opts), workers_(workers), progress_(progress) {
  g_freeze_us.store(opts.freeze_us);
  thread_ = std::thread([this] { run(); });
}

injector::~injector() { stop(); }

void injector::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

freeze_stats injector::freezes() const {
  freeze_stats f;
  f.measured = freeze_ratios_.size();
  if (freeze_ratios_.empty()) return f;
  double sum = 0, worst = freeze_ratios_.front();
  std::uint64_t below = 0;
  for (double r : freeze_ratios_) {
    sum += r;
    worst = std::min(worst, r);
    if (r < 0.10) ++below;
  }
  f.mean_pct = 100.0 * sum / static_cast<double>(freeze_ratios_.size());
  f.worst_pct = 100.0 * worst;
  std::vector<double> sorted = freeze_ratios_;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t mid = sorted.size() / 2;
  f.median_pct = 100.0 * (sorted.size() % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2);
  f.below10_pct = 100.0 * static_cast<double>(below) / static_cast<double>(freeze_ratios_.size());
  if (!control_ratios_.empty()) {
    double csum = 0;
    std::uint64_t cbelow = 0;
    for (double r : control_ratios_) {
      csum += r;
      if (r < 0.10) ++cbelow;
    }
    f.control_measured = control_ratios_.size();
    f.control_mean_pct = 100.0 * csum / static_cast<double>(control_ratios_.size());
    f.control_below10_pct =
        100.0 * static_cast<double>(cbelow) / static_cast<double>(control_ratios_.size());
  }
  return f;
}

// Freezes one worker (index pick % n) and measures the others' progress: a normal window of the
// freeze's length just before, then the freeze itself from the moment its handler has started
// (under TSan the signal is delivered only at the thread's next runtime call) to 90% of its length.
// With `control`, the same two windows are measured without sending the freeze.
void injector::freeze_one(std::uint64_t pick, bool control) {
  using clock = std::chrono::steady_clock;
  const auto& handles = workers_.handles();
  const std::size_t w = pick % handles.size();
  if (!workers_.active(w)) return;
  const double window_us = static_cast<double>(opts_.freeze_us);
  const std::uint64_t c0 = progress_->load();
  const auto t0 = clock::now();
  sleep_for_us(window_us);
  const std::uint64_t c1 = progress_->load();
  const auto t1 = clock::now();
  if (!control) {
    // Aim inside an operation: a handler that finds its thread between operations declines (a
    // miss) and we try again, on another worker, up to 40 times; the last try is not targeted.
    bool frozen = false;
    for (unsigned attempt = 0; attempt < 40 && !frozen && !stop_.load(); ++attempt) {
      const std::size_t v = (w + attempt) % handles.size();
      if (!workers_.active(v)) continue;
      g_freeze_targeted.store(attempt + 1 < 40);
      const std::uint64_t before_count = g_freezes.load(), before_missed = g_freeze_missed.load();
      if (pthread_kill(handles[v], freeze_signal()) != 0) continue;
      const auto give_up = clock::now() + std::chrono::milliseconds(200);
      while (g_freezes.load() == before_count && g_freeze_missed.load() == before_missed &&
             clock::now() < give_up && !stop_.load()) {
        sleep_for_us(2);
      }
      frozen = g_freezes.load() != before_count;
    }
    if (!frozen) return;
  }
  const std::uint64_t c2 = progress_->load();
  const auto t2 = clock::now();
  sleep_for_us(window_us * 0.9);  // stay inside the freeze
  const std::uint64_t c3 = progress_->load();
  const auto t3 = clock::now();
  const double normal =
      static_cast<double>(c1 - c0) / std::chrono::duration<double>(t1 - t0).count();
  const double frozen =
      static_cast<double>(c3 - c2) / std::chrono::duration<double>(t3 - t2).count();
  if (normal > 0) (control ? control_ratios_ : freeze_ratios_).push_back(frozen / normal);
  sleep_for_us(window_us * 0.1 + 200);  // let the freeze end before the next measurement
}

void injector::run() {
  using clock = std::chrono::steady_clock;
  while (!workers_.all_ready() && !stop_.load()) std::this_thread::yield();
  // Freezes come from a second thread so that interrupts keep flowing during the measurements.
  std::thread freezer;
  if (opts_.freeze_us > 0 && progress_ != nullptr) {
    freezer = std::thread([this] {
      rng r(opts_.seed ^ 0x5EEDF4EEull);
      for (std::uint64_t k = 0; !stop_.load(); ++k) {
        sleep_for_us(opts_.freeze_every_s * 1e6);
        if (stop_.load()) break;
        freeze_one(r.next(), k % 2 == 1);  // freezes alternate with control measurements
      }
    });
  }
  rng r(opts_.seed ^ 0xA5A5A5A5ull);
  const auto& handles = workers_.handles();
  const auto start = clock::now();
  std::uint64_t due_sent = 0;
  const timespec tick{0, 100000};  // 100 µs between bursts
  while (!stop_.load()) {
    nanosleep(&tick, nullptr);
    if (opts_.signal_rate <= 0) continue;
    const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    const auto due = static_cast<std::uint64_t>(elapsed * opts_.signal_rate);
    for (; due_sent < due && !stop_.load(); ++due_sent) {
      const std::size_t w = r.next() % handles.size();
      if (!workers_.active(w)) continue;
      // One interrupt in flight per worker: skip one whose last handler has not finished.
      std::atomic<unsigned>& pending = workers_.pending(w);
      if (pending.load() != 0) continue;
      pending.fetch_add(1);
      // Counted first, then checked again: a worker that has cleared its active flag since either
      // waits for this signal in leave() or is seen inactive here (see worker_set::leave).
      if (!workers_.active(w)) {
        pending.fetch_sub(1);
        continue;
      }
      // EAGAIN: the real-time signal queue is full (RLIMIT_SIGPENDING); not counted as sent.
      if (pthread_kill(handles[w], interrupt_signal()) == 0) {
        sent_.fetch_add(1);
      } else {
        pending.fetch_sub(1);
      }
    }
  }
  if (freezer.joinable()) freezer.join();
}

}  // namespace lfkit::stress
