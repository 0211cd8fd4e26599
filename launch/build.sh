#!/usr/bin/env bash
# Configures and builds one build directory: launch/build.sh [DIR] [extra cmake args...]
# DIR defaults to build/. Re-running only rebuilds what changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build}"; shift || true
case "$dir" in /*) ;; *) dir="$root/$dir" ;; esac
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$dir" -j"$(nproc)" > "$dir/build.log" 2>&1 || { cat "$dir/build.log"; echo "build failed in $dir" >&2; exit 1; }
if grep -q "warning:" "$dir/build.log"; then grep -A3 "warning:" "$dir/build.log" >&2; fi
