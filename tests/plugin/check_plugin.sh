#!/bin/sh
# SPDX-License-Identifier: BSL-1.0
# Builds and runs the shared-object tests of lfkit::snapshot (issue 14):
#   host + plugin: both -fvisibility=hidden, the plugin dlopen'ed; the plugin reads the host's
#                  snapshot while the host writes and reclaims (ASan: no use-after-free).
#   keys many/few: load() from a signal handler as a thread's first load, with lfkit's key index
#                  >= 32 and < 32.
# usage: check_plugin.sh <lfkit include dir> <work dir> <c++ compiler> [extra compiler flags]
set -eu
inc=$1; work=$2; cxx=$3; flags=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
common="-std=c++20 -O2 -g -Wall -Wextra -Werror -pthread -fvisibility=hidden -fvisibility-inlines-hidden -I$inc -I$here $flags"
# shellcheck disable=SC2086
$cxx $common -fPIC -shared -o "$work/libplugin.so" "$here/plugin.cpp"
# shellcheck disable=SC2086
$cxx $common -o "$work/host" "$here/host.cpp" -ldl
"$work/host" "$work/libplugin.so"
# shellcheck disable=SC2086
$cxx $common -o "$work/keys" "$here/keys.cpp"
"$work/keys" few
"$work/keys" many
echo "check_plugin: all passed"
