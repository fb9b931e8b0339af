#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Builds tests/consumer against lfkit the ways a downstream project would:
#   1. `cmake --install` lfkit into a scratch prefix, then find_package(lfkit) from it;
#   2. add_subdirectory(<lfkit source tree>);
#   3. a plain compiler command with the flags of `pkg-config --cflags --libs lfkit` from the
#      installed prefix (what a Makefile or Meson project does).
# Usage: check_consumer.sh <lfkit-source-dir> <scratch-dir> <c++ compiler>
set -euo pipefail
src=$1; scratch=$2; cxx=$3
rm -rf "$scratch"; mkdir -p "$scratch"
# The prefix is given at install time (README's `cmake --install build --prefix ...`), so the
# installed package and pkg-config files must not depend on the configure-time prefix.
cmake -S "$src" -B "$scratch/lfkit-build" -DCMAKE_CXX_COMPILER="$cxx" -DLFKIT_BUILD_TESTS=OFF \
      -DLFKIT_BUILD_STRESS=OFF -DLFKIT_BUILD_BENCH=OFF > "$scratch/log" 2>&1
cmake --install "$scratch/lfkit-build" --prefix "$scratch/prefix" >> "$scratch/log" 2>&1
test -f "$scratch/prefix/include/lfkit/counter.hpp"
for mode in find_package add_subdirectory; do
  cmake -S "$src/tests/consumer" -B "$scratch/consumer-$mode" -DCMAKE_CXX_COMPILER="$cxx" \
        -DLFKIT_CONSUMER_MODE=$mode -DLFKIT_SOURCE_DIR="$src" -DCMAKE_PREFIX_PATH="$scratch/prefix" >> "$scratch/log" 2>&1 ||
    { cat "$scratch/log"; exit 1; }
  cmake --build "$scratch/consumer-$mode" >> "$scratch/log" 2>&1 || { cat "$scratch/log"; exit 1; }
  "$scratch/consumer-$mode/consumer"
  echo "ok: consumer via $mode"
done
command -v pkg-config >/dev/null || { echo "pkg-config not found (scripts/install-deps installs it)"; exit 1; }
export PKG_CONFIG_PATH="$scratch/prefix/share/pkgconfig"
pc_flags=$(pkg-config --cflags --libs lfkit) || { echo "pkg-config cannot find lfkit in $PKG_CONFIG_PATH"; exit 1; }
[ "$(pkg-config --modversion lfkit)" = "$(sed -nE 's/^project\(lfkit VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")" ] ||
  { echo "lfkit.pc: version $(pkg-config --modversion lfkit) is not the project's"; exit 1; }
mkdir -p "$scratch/consumer-pkg-config"
# shellcheck disable=SC2086  # pc_flags is a list of words
"$cxx" -std=c++20 -Wall -Wextra -Werror "$src/tests/consumer/main.cpp" $pc_flags \
       -o "$scratch/consumer-pkg-config/consumer" || { echo "build via pkg-config failed (flags: $pc_flags)"; exit 1; }
"$scratch/consumer-pkg-config/consumer"
echo "ok: consumer via pkg-config ($pc_flags)"
