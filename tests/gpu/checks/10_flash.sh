#!/usr/bin/env bash
# Flash attention (common/engine/cuda/cuda_flash.cu): test_cuda_flash (fp32 and bf16 kernels against the
# CPU attention at T 1 .. 8192, the cuBLAS attention at T 128), then the timing of flash vs the cuBLAS
# attention at T 2048 / 4096, B 1 / 4, H 12 / KV 2, D 128 / 64 (ms and TFLOP/s on causal FLOPs).
# Run by tests/gpu/device_check.sh with BUILD, BIN, MODE, JOBS set; ~1 minute on an H200.
set -uo pipefail
exe="$BIN/test_cuda_flash"
if [ ! -x "$exe" ] && [ "$MODE" = minimal ]; then
  # The minimal build links only test_cuda_ops / test_cuda_model: link this test the same way from the
  # objects it needs (the CPU attention, the CUDA ops and the flash kernels; the plain SGEMM if there).
  flags="-O2 -std=gnu11 -D_GNU_SOURCE -DRLVR_CUDA=1 -I$(pwd) -Wall -Wextra -Wno-unknown-pragmas"
  libs="-L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcudart -lcublas -lm -lpthread -lstdc++"
  pkg-config --exists openblas 2>/dev/null && libs="$libs $(pkg-config --libs openblas)"
  echo 'int main(void){return 0;}' | gcc -fopenmp -x c - -o /dev/null 2>/dev/null && flags="$flags -fopenmp"
  objs=()
  for o in check rng ops cblas_shim cuda_ops.cu cuda_flash.cu; do [ -f "$BUILD/$o.o" ] && objs+=("$BUILD/$o.o"); done
  gcc $flags tests/test_cuda_flash.c "${objs[@]}" $libs -o "$exe" || { echo "could not link $exe"; exit 1; }
fi
[ -x "$exe" ] || { echo "no $exe in this build"; exit 77; }

echo "--- test_cuda_flash"
timeout 150 "$exe"
rc=$?
if [ $rc -eq 77 ]; then echo "ERROR: test_cuda_flash skipped on the GPU machine (no device visible?)"; exit 1; fi
[ $rc -eq 0 ] || { echo "ERROR: test_cuda_flash failed (exit $rc)"; exit 1; }

echo "--- timing: flash vs cuBLAS attention"
timeout 120 "$exe" --bench
rc=$?
[ $rc -eq 0 ] || { echo "ERROR: test_cuda_flash --bench failed (exit $rc)"; exit 1; }
