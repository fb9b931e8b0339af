// SPDX-License-Identifier: BSL-1.0
// Downstream use of lfkit: everyday names with the default atomic policy filled in.
#include <lfkit/counter.hpp>

int main() {
  lfkit::sharded_counter hits;
  lfkit::atomic_counter misses;
  hits.increment();
  misses.add(2);
  return hits.load() == 1 && misses.load() == 2 ? 0 : 1;
}
