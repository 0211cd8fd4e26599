#!/usr/bin/env bash
# Training throughput: the C engine (build/bench/bench_train) vs PyTorch CPU eager, same shapes, 2 threads.
# The machine is shared: runs alternate C / torch REPEAT times; each reports its best and mean step;
# compare the best steps.
#   tests/bench/bench_train.sh [REPEAT]        (needs launch/build.sh build and /work/venv-torch)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
repeat="${1:-2}"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
# OpenBLAS 0.3.21 does not recognise this VM's CPU and falls back to its SSE3 kernel; spinning OpenMP
# workers starve OpenBLAS's threads. Both settings apply to torch as well (its OpenMP reads the same).
# OPENBLAS_THREAD_TIMEOUT=4: OpenBLAS's idle worker sleeps after 2^4 cycles instead of spinning
# (sched_yield) through our OpenMP loops.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"
py=/work/venv-torch/bin/python
shapes=(
  "--hidden 512 --layers 4 --heads 8 --kv 4 --inter 1376 --vocab 8192 --batch 4 --seq 128 --steps 5"
  "--hidden 1024 --layers 2 --heads 16 --kv 4 --inter 2816 --vocab 8192 --batch 4 --seq 128 --steps 4"
  "--hidden 256 --layers 4 --heads 4 --kv 2 --inter 688 --vocab 4096 --batch 4 --seq 128 --steps 5"
)
"$root/build/bench/bench_train" --peak
"$root/build/bench/bench_train" --peak
for s in "${shapes[@]}"; do
  echo "== $s"
  for r in $(seq "$repeat"); do
    "$root/build/bench/bench_train" $s | grep -E "^step"
    $py "$root/tests/bench/bench_train_torch.py" --threads 2 $s 2>/dev/null | grep -E "tokens/s"
  done
done
