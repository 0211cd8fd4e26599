#!/usr/bin/env bash
# Speed and memory of a bf16 training step on the GPU (tests/bench/bench_cuda.c "train"): Qwen2.5-0.5B- and
# 1.5B-shaped random models at T 4096 (tokens/s, MFU against the 989 TFLOP/s dense bf16 peak of an
# H100 / H200 SXM, time per phase), the memory plan against the measured peak, and whether a
# Qwen2.5-7B-shaped step (T 8192, recompute, ZeRO-1 shard of rank 0 of 8) fits on this GPU.
# Run by tests/gpu/device_check.sh with BUILD set; ~1-2 minutes on an H100 / H200.
# Fails when the bench fails or an allocation exceeds the plan; the 40% MFU target is reported, not enforced.
set -uo pipefail
BUILD=${BUILD:-build-gpu}
BENCH=""
for p in "$BUILD/bench/bench_cuda" "$BUILD/bin/bench_cuda"; do [ -x "$p" ] && { BENCH=$p; break; }; done
if [ -z "$BENCH" ]; then
  echo "no bench_cuda in $BUILD (bench/ or bin/)"
  [ "${MODE:-full}" = minimal ] && exit 77
  exit 1
fi
LOG=$(mktemp)
timeout 200 "$BENCH" train 3 7b 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
status=0
[ "$rc" -eq 0 ] || { echo "ERROR: bench_cuda train exited with $rc"; status=1; }
if grep -q "ABOVE the plan" "$LOG"; then echo "ERROR: an allocation exceeded the memory plan"; status=1; fi
mfu=$(grep -A3 "^Qwen2.5-1.5B shape" "$LOG" | grep -o "MFU [0-9.]*%" | head -1 | tr -dc '0-9.')
if [ -n "$mfu" ]; then
  if awk -v m="$mfu" 'BEGIN { exit !(m >= 40.0) }'; then echo "1.5B shape: MFU $mfu% (target >= 40%: met)";
  else echo "1.5B shape: MFU $mfu% (target >= 40%: NOT met)"; fi
fi
rm -f "$LOG"
exit $status
