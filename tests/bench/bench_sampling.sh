#!/usr/bin/env bash
# Runs the sampling benchmark, C decoder vs PyTorch eager, for two model shapes and 1 and 2 threads.
#   tests/bench/bench_sampling.sh [BUILD_DIR] [PYTHON]      (defaults: build, /work/venv-torch/bin/python)
# Each line of output is one run; both programs print best-of-reps tokens/s and tokens per CPU-second.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/build}/bench/bench_sampling"
py="${2:-/work/venv-torch/bin/python}"
tiny="--C 256 --L 4 --H 4 --KV 4 --I 688 --V 128"
large="--C 512 --L 8 --H 8 --KV 4 --I 1376 --V 32000"
common="--G 8 --prompt 32 --new 128"
for shape in tiny large; do
  args="${!shape} $common"
  reps=5; [ "$shape" = large ] && reps=3
  for t in 1 2; do
    echo "== $shape, $t thread(s): $args"
    OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$bin" $args --reps $reps | grep -E "^model|best"
    OMP_NUM_THREADS=$t "$py" "$root/tests/bench/bench_sampling.py" $args --reps 3 --threads $t 2>/dev/null | grep -E "^torch|best"
  done
done
