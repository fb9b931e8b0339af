#!/usr/bin/env bash
# Builds tests/consumer against lfkit both ways a downstream project would:
#   1. `cmake --install` lfkit into a scratch prefix, then find_package(lfkit) from it;
#   2. add_subdirectory(<lfkit source tree>).
# Usage: check_consumer.sh <lfkit-source-dir> <scratch-dir> <c++ compiler>
set -euo pipefail
src=$1; scratch=$2; cxx=$3
rm -rf "$scratch"; mkdir -p "$scratch"
cmake -S "$src" -B "$scratch/lfkit-build" -DCMAKE_CXX_COMPILER="$cxx" -DLFKIT_BUILD_TESTS=OFF \
      -DLFKIT_BUILD_STRESS=OFF -DLFKIT_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX="$scratch/prefix" > "$scratch/log" 2>&1
cmake --install "$scratch/lfkit-build" >> "$scratch/log" 2>&1
test -f "$scratch/prefix/include/lfkit/counter.hpp"
for mode in find_package add_subdirectory; do
  cmake -S "$src/tests/consumer" -B "$scratch/consumer-$mode" -DCMAKE_CXX_COMPILER="$cxx" \
        -DLFKIT_CONSUMER_MODE=$mode -DLFKIT_SOURCE_DIR="$src" -DCMAKE_PREFIX_PATH="$scratch/prefix" >> "$scratch/log" 2>&1 ||
    { cat "$scratch/log"; exit 1; }
  cmake --build "$scratch/consumer-$mode" >> "$scratch/log" 2>&1 || { cat "$scratch/log"; exit 1; }
  "$scratch/consumer-$mode/consumer"
  echo "ok: consumer via $mode"
done
