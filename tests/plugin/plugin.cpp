// SPDX-License-Identifier: BSL-1.0
// The plugin: built as a shared object with -fvisibility=hidden, so it has its own copy of every
// inline variable of lfkit (its own hazard-record domain and thread cache).
#include <sched.h>

#include "shared.hpp"

extern "C" __attribute__((visibility("default"))) std::uint64_t plugin_read(plugin_snapshot* s,
                                                                            std::uint64_t n) {
  // A snapshot of the plugin's own, read first, so that this thread is bound to the plugin's
  // domain too (the case in which the old code published the host's hazards in the plugin's
  // records, which the host's writer never scanned).
  static plugin_snapshot own(plugin_value::of(1));
  std::uint64_t bad = 0;
  if (!own.load()->consistent()) ++bad;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto g = s->load();
    for (int k = 0; k < 8; ++k) {
      if (!g->consistent()) ++bad;
      if (k == 4 && i % 64 == 0) sched_yield();  // let the writer retire and scan meanwhile
    }
  }
  return bad;
}
