#!/usr/bin/env bash
# The test command: sets up, builds (Release and an ASan+UBSan build) and runs every test in both.
#   tests/run_all.sh            everything
#   tests/run_all.sh -R REGEX   only tests whose name matches (passed to ctest)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
launch/setup.sh
tests/setup_assets.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)
echo "== build (Release)"
launch/build.sh build
echo "== build (ASan + UBSan)"
launch/build.sh build-san -DRLVR_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_CUDA=OFF
# LeakSanitizer is off: Open MPI and HDF5 keep global allocations alive until exit by design.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
echo "== tests (Release)"
(cd build && ctest --output-on-failure -j"$jobs" "$@") || status=1
echo "== tests (ASan + UBSan)"
(cd build-san && ctest --output-on-failure -j"$jobs" -LE nosan "$@") || status=1
exit $status
