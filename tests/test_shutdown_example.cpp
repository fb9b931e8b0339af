// SPDX-License-Identifier: BSL-1.0
// The graceful-shutdown example of the README, run as a test: worker threads pull from an
// lfkit::mpmc_queue; SIGINT/SIGTERM handlers call stop.set() and nothing else; the main thread
// waits on the event, closes the queue, and the workers drain it and exit. Checked: every item
// produced is processed exactly once, and completely, however often and whenever the signals
// arrive (before the main thread waits, during production, during the drain; to the process and
// to each thread in turn).
//
// The real SIGINT/SIGTERM are used. Their previous actions are restored at the end of each round,
// after every signal sent has been delivered or consumed (blocked, then drained with
// sigtimedwait), so none can reach the default action and end the test process.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <memory>
#include <thread>
#include <vector>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "lfkit/event.hpp"
#include "lfkit/mpmc_queue.hpp"

using namespace std::chrono_literals;

namespace {

// ---- the example (README "Graceful shutdown"), with the test's accounting added --------------

lfkit::event stop;  // set by the handlers, waited on by main

extern "C" void on_stop_signal(int) { stop.set(); }  // async-signal-safe: nothing else here

struct work_item {
  std::uint32_t id = 0;
};

struct accounting {
  explicit accounting(std::size_t n) : processed(n), started(n) {}
  std::vector<std::atomic<std::uint8_t>> processed;  // per item: times processed to completion
  std::vector<std::atomic<std::uint8_t>> started;    // per item: times processing began
};

void process(const work_item& w, accounting& acc) {
  acc.started[w.id].fetch_add(1, std::memory_order_relaxed);    // relaxed: read after join
  std::atomic_signal_fence(std::memory_order_seq_cst);          // a two-step "transaction"
  acc.processed[w.id].fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
}

/// Blocks SIGINT/SIGTERM in this thread, takes every pending one, then restores `old` actions.
void drain_and_restore(const struct sigaction& old_int, const struct sigaction& old_term) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigset_t prev;
  pthread_sigmask(SIG_BLOCK, &set, &prev);
  const timespec zero{0, 0};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  pthread_sigmask(SIG_SETMASK, &prev, nullptr);
}

enum class when { before_wait, during_production, during_drain };

struct round_result {
  std::uint64_t produced = 0, lost = 0, duplicated = 0, half_done = 0, signals = 0;
};

round_result run_round(when w, unsigned seed) {
  constexpr std::uint32_t max_items = 1u << 20;
  accounting acc(max_items);
  stop.reset();

  struct sigaction sa{}, old_int{}, old_term{};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  lfkit::mpmc_queue<work_item> queue(64);
  std::vector<std::thread> workers;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      work_item item;
      while (queue.pop(item)) process(item, acc);  // false: closed and drained
    });
  }
  std::atomic<std::uint64_t> produced{0};
  std::thread producer([&] {
    // Produces until the queue is closed (push returns false) or the id space ends.
    for (std::uint32_t id = 0; id < max_items; ++id) {
      if (!queue.push(work_item{id})) break;
      produced.store(id + 1, std::memory_order_relaxed);  // relaxed: read after join
    }
  });

  // The signal storm: to the process (any thread may take it) and to each thread in turn.
  std::atomic<bool> storm_done{false};
  std::atomic<std::uint64_t> sent{0};
  std::vector<pthread_t> targets;
  for (auto& t : workers) targets.push_back(t.native_handle());
  targets.push_back(producer.native_handle());
  targets.push_back(pthread_self());
  const auto storm = [&](int n) {
    for (int k = 0; k < n; ++k) {
      const int sig = (k + static_cast<int>(seed)) % 2 == 0 ? SIGINT : SIGTERM;
      if (k % 3 == 0) {
        kill(getpid(), sig);
      } else {
        pthread_kill(targets[static_cast<std::size_t>(k + static_cast<int>(seed)) % targets.size()],
                     sig);
      }
      sent.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread signaller;
  if (w == when::before_wait) {
    storm(20);  // before main waits: wait() must return at once
  } else {
    signaller = std::thread([&, w] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2 + seed % 7));  // mid-production
      storm(50);
      if (w == when::during_drain) {
        while (!storm_done.load()) {  // keeps coming while the workers drain
          storm(5);
          std::this_thread::sleep_for(50us);
        }
      }
    });
  }

  // ---- main, as in the example: wait for the signal, close, let the workers drain ----------
  stop.wait();
  queue.close();
  producer.join();
  for (auto& t : workers) t.join();
  // -------------------------------------------------------------------------------------------

  storm_done.store(true);
  if (signaller.joinable()) signaller.join();
  drain_and_restore(old_int, old_term);

  round_result r;
  r.produced = produced.load();
  r.signals = sent.load();
  for (std::uint32_t id = 0; id < max_items; ++id) {
    const unsigned p = acc.processed[id].load(), s = acc.started[id].load();
    const bool should = id < r.produced;
    if (should && p == 0) ++r.lost;
    if (p > 1 || (!should && p != 0)) ++r.duplicated;
    if (s != p) ++r.half_done;
  }
  return r;
}

}  // namespace

TEST_CASE("graceful shutdown: SIGINT/SIGTERM set an event, nothing lost, nothing half-done",
          "[event][shutdown]") {
  for (unsigned seed = 0; seed < 12; ++seed) {
    const when w = seed % 3 == 0   ? when::before_wait
                   : seed % 3 == 1 ? when::during_production
                                   : when::during_drain;
    const round_result r = run_round(w, seed);
    INFO("round " << seed << ": " << r.produced << " items produced, " << r.signals
                  << " signals sent");
    CHECK(r.lost == 0);
    CHECK(r.duplicated == 0);
    CHECK(r.half_done == 0);
    CHECK(r.signals > 0);
    CHECK(stop.is_set());
  }
}
