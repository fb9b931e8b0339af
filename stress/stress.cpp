// stress/stress.cpp — the framework's signal handlers and injector (see stress.hpp).
#include "stress.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace lfkit::stress {

std::vector<scenario>& registry() {
  static std::vector<scenario> r;
  return r;
}

std::atomic<handler_op> g_handler_op{nullptr};
std::atomic<std::uint64_t> g_signals_handled{0};
std::atomic<std::uint64_t> g_freezes{0};
std::atomic<std::uint64_t> g_freeze_requests{0};
std::atomic<unsigned> g_freeze_us{0};

namespace {

// Runs on the interrupted worker, between two arbitrary instructions of whatever it was doing.
extern "C" void on_interrupt(int) {
  const int saved = errno;
  // acquire: pairs with the release store that installs the scenario's operation.
  if (handler_op op = g_handler_op.load(std::memory_order_acquire)) op();
  g_signals_handled.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  errno = saved;
}

// Freezes the interrupted worker mid-operation: nanosleep is async-signal-safe.
extern "C" void on_freeze(int) {
  const int saved = errno;
  g_freezes.fetch_add(1, std::memory_order_relaxed);  // relaxed: the injector polls it, no data
  const unsigned us = g_freeze_us.load(std::memory_order_relaxed);  // relaxed: set before workers
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
  errno = saved;
}

}  // namespace

void install_handlers() {
  static bool done = false;
  if (done) return;
  done = true;
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_interrupt;
  if (sigaction(interrupt_signal, &sa, nullptr) != 0) std::abort();
  // While frozen, a worker can still be interrupted: the freeze is just a very slow instruction.
  sa.sa_handler = on_freeze;
  if (sigaction(freeze_signal, &sa, nullptr) != 0) std::abort();
}

void reset_signal_counters() {
  g_signals_handled.store(0);
  g_freezes.store(0);
  g_freeze_requests.store(0);
}

injector::injector(const options& opts, worker_set& workers,
                   const lfkit::sharded_counter* progress)
    : opts_(opts), workers_(workers), progress_(progress) {
  g_freeze_us.store(opts.freeze_us);
  thread_ = std::thread([this] { run(); });
}

injector::~injector() { stop(); }

void injector::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

double injector::freeze_progress_pct() const {
  if (freeze_ratios_.empty()) return -1;
  double sum = 0;
  for (double r : freeze_ratios_) sum += r;
  return 100.0 * sum / static_cast<double>(freeze_ratios_.size());
}

void injector::run() {
  using clock = std::chrono::steady_clock;
  while (!workers_.all_ready() && !stop_.load()) std::this_thread::yield();
  rng r(opts_.seed ^ 0xA5A5A5A5ull);
  const auto& handles = workers_.handles();
  const auto start = clock::now();
  auto next_freeze = start + std::chrono::duration_cast<clock::duration>(
                                 std::chrono::duration<double>(opts_.freeze_every_s));
  std::uint64_t due_sent = 0;
  const timespec tick{0, 100000};  // 100 µs between bursts
  while (!stop_.load()) {
    nanosleep(&tick, nullptr);
    const auto now = clock::now();
    if (opts_.signal_rate > 0) {
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const auto due = static_cast<std::uint64_t>(elapsed * opts_.signal_rate);
      for (; due_sent < due && !stop_.load(); ++due_sent) {
        if (pthread_kill(handles[r.next() % handles.size()], interrupt_signal) == 0) {
          sent_.fetch_add(1);
        }
      }
    }
    if (opts_.freeze_us > 0 && progress_ != nullptr && now >= next_freeze) {
      // Normal window, then a freeze of one worker for the same length, comparing the others'
      // progress (operations completed per second) in the two windows.
      const auto window = std::chrono::microseconds(opts_.freeze_us);
      const std::uint64_t c0 = progress_->load();
      const auto t0 = clock::now();
      std::this_thread::sleep_for(window);
      const std::uint64_t c1 = progress_->load();
      const auto t1 = clock::now();
      const std::uint64_t before_count = g_freezes.load();
      g_freeze_requests.fetch_add(1);
      if (pthread_kill(handles[r.next() % handles.size()], freeze_signal) == 0) {
        const auto give_up = clock::now() + std::chrono::milliseconds(200);
        while (g_freezes.load() == before_count && clock::now() < give_up && !stop_.load()) {
          std::this_thread::yield();
        }
        if (g_freezes.load() != before_count) {
          const std::uint64_t c2 = progress_->load();
          const auto t2 = clock::now();
          std::this_thread::sleep_for(window * 9 / 10);  // stay inside the freeze
          const std::uint64_t c3 = progress_->load();
          const auto t3 = clock::now();
          const double normal = static_cast<double>(c1 - c0) / std::chrono::duration<double>(t1 - t0).count();
          const double frozen = static_cast<double>(c3 - c2) / std::chrono::duration<double>(t3 - t2).count();
          if (normal > 0) freeze_ratios_.push_back(frozen / normal);
          std::this_thread::sleep_for(window / 10 + std::chrono::microseconds(100));
        }
      }
      next_freeze = clock::now() + std::chrono::duration_cast<clock::duration>(
                                       std::chrono::duration<double>(opts_.freeze_every_s));
    }
  }
}

}  // namespace lfkit::stress
