// SPDX-License-Identifier: BSL-1.0
// load()'s async-signal-safety when lfkit's thread-exit key is not among the first 32 (issue 14,
// defect 4). glibc's pthread_setspecific calls calloc for a key index of 32 or more the first
// time a thread sets one, so a thread's first load() must not bind a record from a signal
// handler then. Run as `keys many` (40 keys created before the first snapshot: the key index is
// >= 32) and `keys few` (the usual case: load() binds, and pthread_setspecific allocates nothing).
// Without sanitizers calloc is interposed to count calls made inside the handler.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "lfkit/snapshot.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KEYS_COUNT_CALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KEYS_COUNT_CALLOC 0
#endif
#endif
#ifndef KEYS_COUNT_CALLOC
#define KEYS_COUNT_CALLOC 1
#endif

namespace {
std::atomic<int> g_in_handler{0};
[[maybe_unused]] std::atomic<int> g_calloc_in_handler{0};
lfkit::snapshot<int>* g_snap = nullptr;
std::atomic<int> g_fallback{-1};
std::atomic<int> g_value{-1};

extern "C" void on_signal(int) {
  const int saved = errno;
  g_in_handler.store(1);
  {
    auto g = g_snap->load();
    g_fallback.store(g.uses_fallback() ? 1 : 0);
    g_value.store(*g);
  }
  g_in_handler.store(0);
  errno = saved;
}
}  // namespace

#if KEYS_COUNT_CALLOC
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* calloc(std::size_t n, std::size_t size) {
  if (g_in_handler.load(std::memory_order_relaxed) != 0) g_calloc_in_handler.fetch_add(1);
  return __libc_calloc(n, size);
}
#endif

int main(int argc, char** argv) {
  const bool many = argc > 1 && std::strcmp(argv[1], "many") == 0;
  if (many) {
    for (int i = 0; i < 40; ++i) {
      pthread_key_t k;
      if (pthread_key_create(&k, nullptr) != 0) return 2;
    }
  }
  lfkit::snapshot<int> s(42);
  g_snap = &s;
  struct sigaction sa{};
  sa.sa_handler = &on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  auto& dom = lfkit::detail::snapshot_local_domain<std::atomic>;
  const std::size_t before = dom.records_in_use();
  int fails = 0;
  auto check = [&](bool ok, const char* what) {
    std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    fails += ok ? 0 : 1;
  };
  std::thread([&] {
    // This thread's first load() runs in a signal handler.
    pthread_kill(pthread_self(), SIGUSR1);
    check(g_value.load() == 42, "the handler read the value");
    if (many) {
      check(g_fallback.load() == 1, "key index >= 32: the handler's first load took the fallback");
      check(dom.records_in_use() == before, "... and bound no record");
      check(s.prepare_thread(), "prepare_thread() binds in an ordinary context");
      check(dom.records_in_use() == before + 1, "... one record");
      pthread_kill(pthread_self(), SIGUSR1);
      check(g_fallback.load() == 0, "after prepare_thread() the handler uses a hazard slot");
    } else {
      check(g_fallback.load() == 0, "key index < 32: the handler's first load bound a record");
      check(dom.records_in_use() == before + 1, "... one record");
    }
  }).join();
  check(dom.records_in_use() == before, "the record came back at thread exit");
#if KEYS_COUNT_CALLOC
  check(g_calloc_in_handler.load() == 0, "no calloc inside the signal handler");
#endif
  return fails == 0 ? 0 : 1;
}
