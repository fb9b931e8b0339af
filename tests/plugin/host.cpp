// SPDX-License-Identifier: BSL-1.0
// The host program (also -fvisibility=hidden): owns a snapshot, writes it from one thread while
// another thread reads it through the dlopen'ed plugin. The plugin's hazards must be scanned by
// the host's writer: under ASan a version freed while the plugin reads it is a heap-use-after-free;
// otherwise a reused node shows up as an inconsistent value.
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "shared.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: host <plugin.so>\n");
    return 2;
  }
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
  auto plugin_read = reinterpret_cast<plugin_read_fn>(dlsym(h, "plugin_read"));
  if (plugin_read == nullptr) {
    std::fprintf(stderr, "dlsym: %s\n", dlerror());
    return 2;
  }
  plugin_snapshot s(plugin_value::of(0), lfkit::snapshot_options{1});  // scan on every write
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0};
  std::atomic<std::uint64_t> rounds{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      bad.fetch_add(plugin_read(&s, 256));
      rounds.fetch_add(1, std::memory_order_relaxed);
    }
  });
  std::thread writer([&] {
    std::uint64_t i = 0;
    while (rounds.load(std::memory_order_relaxed) < 400) {
      if (++i % 2 == 0) {
        s.store(plugin_value::of(i));
      } else {
        s.update([](const plugin_value& v) { return plugin_value::of(v.a + 1); });
      }
    }
    stop.store(true);
  });
  writer.join();
  reader.join();
  const std::uint64_t b = bad.load();
  std::printf("plugin reads: %llu rounds, %llu inconsistent; retired after reclaim: %zu\n",
              static_cast<unsigned long long>(rounds.load()), static_cast<unsigned long long>(b),
              s.reclaim());
  return b == 0 && s.reclaim() == 0 ? 0 : 1;
}
