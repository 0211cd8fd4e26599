#!/usr/bin/env bash
# GPU generation (common/engine/cuda/cuda_infer.h): tests/test_cuda_infer.c against the CPU engine, then
# the decode benchmark (tests/bench/bench_cuda_infer.c: Qwen2.5-0.5B / 1.5B shapes, batch 1-256, against
# the roofline). Run by tests/gpu/device_check.sh from the repo root with BUILD, BIN, MODE set; ~1-2 min.
set -uo pipefail
if [ "${MODE:-full}" != full ]; then
  echo "40_infer: needs the full CMake build (model_load for the fixtures, the bench target)"
  exit 77
fi
T="$BIN/test_cuda_infer"
B="$BUILD/bench/bench_cuda_infer"
[ -x "$T" ] || { echo "40_infer: $T not built"; exit 1; }
echo "--- test_cuda_infer"
timeout 100 "$T"
rc=$?
echo "--- test_cuda_infer exit $rc"
[ $rc -eq 77 ] && { echo "ERROR: test_cuda_infer SKIPPED on the GPU machine (no device visible?)"; exit 1; }
if [ -x "$B" ]; then
  echo "--- bench_cuda_infer 64"
  timeout 100 "$B" 64 || echo "WARNING: bench_cuda_infer exited with $?"
else
  echo "WARNING: no $B"
fi
exit $rc
