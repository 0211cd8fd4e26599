#!/usr/bin/env bash
# One-shot GPU check, run from the repo root on a CUDA machine (no network needed):
#   bash tests/gpu/device_check.sh
# 1. records the machine (nvidia-smi, nvcc, cmake);
# 2. checks the build dependencies; with all present, configures a fresh CUDA build
#    (cmake -S . -B build-gpu -DRLVR_CUDA=ON -DCMAKE_BUILD_TYPE=Release, -j16); with some missing, names
#    them and falls back to a minimal direct build (CUDA backend + CPU reference only) in build-gpu-min;
# 3. runs test_cuda_ops and test_cuda_model (every CUDA op / the whole GPU engine vs the CPU engine);
# 4. runs every tests/gpu/checks/NN_*.sh (learner, attention, generation checks);
# 5. runs tests/bench/bench_cuda (SGEMM TFLOP/s, training tokens/s of a hidden-1024 and a hidden-2048 model).
# Everything also goes to $OUT/device_log.txt when $OUT is set. Within 10 minutes on a 16-core H100 /
# H200 machine: the build (<= 5 min), then the tests and checks until DEADLINE (below). Exit status: 0
# when the CUDA tests and every check that ran passed and none was left out for time.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
T_START=$(date +%s)
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  LOG="$OUT/device_log.txt"
  : > "$LOG"
  exec > >(tee -a "$LOG") 2>&1
fi
JOBS=${JOBS:-16}
STATUS=0
section() { echo; echo "=== $* ($(( $(date +%s) - T_START )) s)"; }

section "machine"
date -u
uname -a
git -C "$ROOT" log -1 --oneline 2>/dev/null || true
if [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then export PATH=/usr/local/cuda/bin:$PATH; fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi || echo "WARNING: nvidia-smi failed"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv || true
else
  echo "WARNING: nvidia-smi not found"
fi
command -v nvcc >/dev/null && nvcc --version | tail -2 || echo "MISSING: nvcc (CUDA toolkit) — nothing can be built"
command -v cmake >/dev/null && cmake --version | head -1
nproc

section "dependencies"
# Debian -dev packages carried in .gpu-deps/ (see tests/gpu/gpu_deps.sh) fill what the machine lacks.
source "$ROOT/tests/gpu/gpu_deps.sh"
gpu_deps_setup
MISSING=()
command -v nvcc >/dev/null || MISSING+=("nvcc (CUDA toolkit at /usr/local/cuda)")
command -v cmake >/dev/null || MISSING+=("cmake")
command -v pkg-config >/dev/null || MISSING+=("pkg-config")
if command -v pkg-config >/dev/null; then
  for m in libzmq:libzmq3-dev msgpack:libmsgpack-dev hdf5-serial:libhdf5-dev openblas:libopenblas-dev \
           jansson:libjansson-dev yaml-0.1:libyaml-dev; do
    pkg-config --exists "${m%%:*}" || MISSING+=("${m%%:*} (Debian package ${m##*:})")
  done
fi
command -v mpicc >/dev/null || MISSING+=("MPI C compiler mpicc (Debian package libopenmpi-dev)")
HAVE_OMP=1
echo 'int main(void){return 0;}' > /tmp/rlvr_omp_$$.c
gcc -fopenmp /tmp/rlvr_omp_$$.c -o /tmp/rlvr_omp_$$ 2>/dev/null || { HAVE_OMP=0; MISSING+=("OpenMP for gcc (libgomp)"); }
rm -f /tmp/rlvr_omp_$$ /tmp/rlvr_omp_$$.c
# FORCE_MINIMAL=1 / FORCE_SHIM=1 exercise the fallback paths on a machine that has everything.
if [ ${#MISSING[@]} -eq 0 ] && [ -z "${FORCE_MINIMAL:-}" ]; then
  echo "all build dependencies present: full CMake build"
  MODE=full
else
  echo "MISSING build dependencies (the full CMake build needs them):"
  for m in "${MISSING[@]}"; do echo "  MISSING: $m"; done
  MODE=minimal
  command -v nvcc >/dev/null || { echo "FATAL: no nvcc, cannot build the CUDA backend"; exit 2; }
  echo "falling back to a minimal build of the CUDA backend + CPU reference (no model_load / fixtures)"
fi

if [ "$MODE" = full ]; then
  section "build (cmake, Release, RLVR_CUDA=ON, -j$JOBS)"
  rm -rf build-gpu build-gpu-logs; mkdir -p build-gpu-logs
  if ! timeout 90 cmake -S . -B build-gpu -DRLVR_CUDA=ON -DCMAKE_BUILD_TYPE=Release > build-gpu-logs/configure.log 2>&1; then
    cat build-gpu-logs/configure.log; echo "FATAL: configure failed"; exit 2
  fi
  grep -i "cuda" build-gpu-logs/configure.log || true
  if ! timeout 300 cmake --build build-gpu -j"$JOBS" > build-gpu/build.log 2>&1; then
    tail -60 build-gpu/build.log; echo "FATAL: build failed (full log build-gpu/build.log)"; exit 2
  fi
  grep -A3 "warning" build-gpu/build.log | head -40 || true
  BIN=build-gpu/tests; BENCH=build-gpu/bench/bench_cuda
else
  section "minimal build (gcc + nvcc directly, -j$JOBS)"
  B=build-gpu-min; rm -rf $B; mkdir -p $B
  CFLAGS="-O2 -std=gnu11 -D_GNU_SOURCE -DRLVR_CUDA=1 -DRLVR_CUDA_MINIMAL -I$ROOT -Wall -Wextra -Wno-unknown-pragmas"
  [ $HAVE_OMP = 1 ] && CFLAGS="$CFLAGS -fopenmp"
  BLAS_LIB=""; SHIM=""
  if [ -z "${FORCE_SHIM:-}" ] && pkg-config --exists openblas 2>/dev/null; then
    CFLAGS="$CFLAGS $(pkg-config --cflags openblas)"; BLAS_LIB="$(pkg-config --libs openblas)"
  else
    echo "no openblas: the CPU reference uses the plain SGEMM of tests/gpu/shim (slower, same fp32 math)"
    CFLAGS="$CFLAGS -I$ROOT/tests/gpu/shim"; SHIM="$ROOT/tests/gpu/shim/cblas_shim.c"
  fi
  OBJS=()
  pids=()
  for src in common/core/check.c common/core/rng.c common/engine/model.c common/engine/ops.c common/engine/optim.c common/engine/forward.c common/engine/memplan.c $SHIM; do
    o=$B/$(basename "${src%.c}").o; OBJS+=("$o")
    gcc $CFLAGS -c "$src" -o "$o" & pids+=($!)
  done
  for src in common/engine/cuda/*.cu; do
    o=$B/$(basename "${src%.cu}").cu.o; OBJS+=("$o")
    nvcc -O3 -arch=sm_90 -std=c++17 -I"$ROOT" -Xcompiler=-Wall,-Wextra -c "$src" -o "$o" & pids+=($!)
  done
  ok=1; for p in "${pids[@]}"; do wait "$p" || ok=0; done
  [ $ok = 1 ] || { echo "FATAL: minimal build failed"; exit 2; }
  LIBS="-L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcudart -lcublas -lnccl $BLAS_LIB -lm -lpthread"
  [ $HAVE_OMP = 1 ] && LIBS="$LIBS -lgomp"
  mkdir -p $B/tests $B/bin
  for t in test_cuda_ops test_cuda_model; do
    gcc $CFLAGS tests/$t.c "${OBJS[@]}" $LIBS -lstdc++ -o $B/tests/$t || { echo "FATAL: link $t failed"; exit 2; }
  done
  gcc $CFLAGS tests/bench/bench_cuda.c "${OBJS[@]}" $LIBS -lstdc++ -o $B/bin/bench_cuda || echo "WARNING: bench link failed"
  BIN=$B/tests; BENCH=$B/bin/bench_cuda
fi

section "CUDA tests"
if [ "$MODE" = full ]; then
  # -V shows every comparison with its observed error, not only failures
  mkdir -p build-gpu-logs
  (cd build-gpu && timeout 150 ctest -R '^test_cuda_(ops|model)$' --output-on-failure -V) > build-gpu-logs/ctest-cuda.log 2>&1
  rc=$?
  grep -v "^[0-9]*: Test command\|^[0-9]*: Working Dir\|^[0-9]*: Environment\|^UpdateCTestConfiguration\|^Parse Config\|^Checking test dep\|^Constructing\|^Updating test list\|^Test project" build-gpu-logs/ctest-cuda.log
  if grep -q "Skipped\|Not Run" build-gpu-logs/ctest-cuda.log; then echo "ERROR: CUDA tests SKIPPED on the GPU machine (no device visible?)"; STATUS=1; fi
  [ $rc -eq 0 ] || { echo "ERROR: ctest exit $rc: CUDA tests FAILED"; STATUS=1; }
  section "ctest: CPU engine tests on this machine"
  (cd build-gpu && timeout 40 ctest -j4 -R '^test_(ops|engine_ref)$' --output-on-failure 2>&1 | tail -6)
else
  for t in test_cuda_ops test_cuda_model; do
    echo "--- $t"
    timeout 150 "$BIN/$t"
    rc=$?
    echo "--- $t exit $rc"
    if [ $rc -eq 77 ]; then echo "ERROR: $t SKIPPED on the GPU machine (no device visible?)"; STATUS=1;
    elif [ $rc -ne 0 ]; then echo "ERROR: $t FAILED (exit $rc)"; STATUS=1; fi
  done
fi

# Further checks, one file each (tests/gpu/checks/NN_name.sh, run in name order from the repo root with
# BUILD (the build directory), BIN (its tests/), MODE (full | minimal) and JOBS set). A check prints what it
# measured and exits 0 (passed), 77 (not applicable to this build: named as skipped) or anything else (failed).
# CHECKS="10 40" runs only the checks whose number is listed (a rerun of what failed); a check that would
# start after DEADLINE seconds (default 540, so that the whole script stays within 10 minutes) is not
# run and is named as not run: nothing it would have shown counts as verified.
DEADLINE=${DEADLINE:-540}
for chk in tests/gpu/checks/[0-9]*.sh; do
  [ -e "$chk" ] || continue
  num=$(basename "$chk" | cut -d_ -f1)
  if [ -n "${CHECKS:-}" ] && ! grep -qw "$num" <<<"$CHECKS"; then continue; fi
  if [ $(( $(date +%s) - T_START )) -ge "$DEADLINE" ]; then
    echo "NOT RUN: $chk (past the ${DEADLINE} s budget; rerun with CHECKS=$num)"; STATUS=1; continue
  fi
  section "check $(basename "$chk" .sh)"
  BUILD=$([ "$MODE" = full ] && echo build-gpu || echo build-gpu-min) BIN="$BIN" MODE="$MODE" JOBS="$JOBS" \
    timeout "${CHECK_TIMEOUT:-240}" bash "$chk"
  rc=$?
  if [ $rc -eq 77 ]; then echo "SKIPPED: $chk (not applicable to the $MODE build)"
  elif [ $rc -ne 0 ]; then echo "ERROR: $chk FAILED (exit $rc)"; STATUS=1; fi
done

section "benchmark"
if [ -x "$BENCH" ]; then
  timeout 100 "$BENCH" 3 || echo "WARNING: bench_cuda exited with $?"
else
  echo "WARNING: no bench_cuda binary"
fi

section "done: $([ $STATUS = 0 ] && echo 'CUDA tests PASSED' || echo 'CUDA tests FAILED or SKIPPED') in $(( $(date +%s) - T_START )) s"
[ -n "${OUT:-}" ] && sleep 1   # let tee flush the log
exit $STATUS
