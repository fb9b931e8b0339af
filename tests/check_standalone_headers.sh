#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Checks that every header under include/lfkit (detail/ and baseline/ too) compiles on its own,
# with g++ and clang++, with the strict warnings of codebases that copy headers (-std=c++20 -Wall
# -Wextra -Wshadow -Wconversion -Wsign-conversion -Wpedantic -Werror), after being copied —
# together with only the lfkit/ headers it includes, transitively — into an empty folder. This is
# what an engineer who copies one header into another codebase gets. The unit includes the header
# twice (include guard), then instantiates what header_instantiations.txt lists for it, so member
# function bodies are compiled with concrete types too.
# Usage: check_standalone_headers.sh <include-dir> <scratch-dir> [<instantiations file>]
set -euo pipefail
inc=$(cd "$1" && pwd)
scratch=$2
instantiations_file=${3:-$(cd "$(dirname "$0")" && pwd)/header_instantiations.txt}
flags=(-std=c++20 -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wpedantic -Werror -pthread)
rm -rf "$scratch"; mkdir -p "$scratch"
compilers=()
for c in g++ clang++; do command -v "$c" >/dev/null && compilers+=("$c"); done
[ ${#compilers[@]} -gt 0 ] || { echo "no compiler found" >&2; exit 1; }

# The lfkit/ headers a header needs, transitively (by its #include "lfkit/..." lines).
closure() {
  local todo=("$1") seen=() h dep
  while [ ${#todo[@]} -gt 0 ]; do
    h=${todo[0]}; todo=("${todo[@]:1}")
    [[ " ${seen[*]} " == *" $h "* ]] && continue
    seen+=("$h")
    while read -r dep; do todo+=("$dep"); done < <(sed -nE 's@^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](lfkit/[^>"]+)[>"].*@\1@p' "$inc/$h")
  done
  printf '%s\n' "${seen[@]}"
}

fail=0; n=0
while read -r rel; do
  rel=${rel#"$inc/"}
  dir="$scratch/$(echo "$rel" | tr '/.' '__')"
  mkdir -p "$dir/include"
  while read -r dep; do
    mkdir -p "$dir/include/$(dirname "$dep")"
    cp "$inc/$dep" "$dir/include/$dep"
  done < <(closure "$rel")
  {
    printf '#include "%s"\n#include "%s"\n#include <atomic>\n#include <mutex>\n#include <string>\n' "$rel" "$rel"
    [ -f "$instantiations_file" ] && sed -n "s@^${rel#lfkit/}:[[:space:]]*@@p" "$instantiations_file"
    printf 'int main() { return 0; }\n'
  } > "$dir/main.cpp"
  for c in "${compilers[@]}"; do
    n=$((n+1))
    if "$c" "${flags[@]}" -I"$dir/include" "$dir/main.cpp" -o "$dir/a.out.$c" 2> "$dir/err.$c"; then
      echo "ok   $c $rel ($(closure "$rel" | wc -l) file(s) copied)"
    else
      echo "FAIL $c $rel"; cat "$dir/err.$c"; fail=$((fail+1))
    fi
  done
done < <(find "$inc/lfkit" -name '*.hpp' | sort)
echo "standalone headers: $((n-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
