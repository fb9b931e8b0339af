// SPDX-License-Identifier: BSL-1.0
// What the host program and the plugin share: the value type and the plugin's entry point.
#ifndef LFKIT_TEST_PLUGIN_SHARED_HPP
#define LFKIT_TEST_PLUGIN_SHARED_HPP

#include <cstdint>

#include "lfkit/snapshot.hpp"

struct plugin_value {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint64_t pad[6] = {};
  static plugin_value of(std::uint64_t n) { return plugin_value{n, ~n, {n, n, n, n, n, n}}; }
  bool consistent() const {
    for (auto p : pad) {
      if (p != a) return false;
    }
    return b == ~a;
  }
};
using plugin_snapshot = lfkit::snapshot<plugin_value>;

/// Reads `s` (owned by the host) `n` times, holding each guard across a few re-reads; returns the
/// number of inconsistent values seen.
using plugin_read_fn = std::uint64_t (*)(plugin_snapshot* s, std::uint64_t n);

#endif
