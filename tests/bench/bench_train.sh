#!/usr/bin/env bash
# Training throughput, ours against PyTorch, in one command:
#   tests/bench/bench_train.sh [--quick] [--repeat N] [BUILD_DIR]
# Ours: one fp32 training step of the C engine (BUILD_DIR/bench/bench_train: zero grads, forward,
# log-prob head, backward, global grad norm, AdamW with the clip folded in). Peer: transformers'
# Qwen2ForCausalLM on torch CPU eager (tests/bench/bench_train_torch.py: loss.backward(),
# clip_grad_norm_, torch.optim.AdamW). Same shapes, batch 4 x 128 random tokens, the same threads and
# the CPU environment of the launch scripts (launch/common.sh) on both sides. Each program runs
# 1 warm-up + 5 timed steps (4 for C 1024) and reports its best step; ours and torch alternate N times
# per shape (default 3), so load from other jobs hits both alike. ratio = ours / torch per pair;
# "best" compares the best run of each side. GFLOP/s counts matmul FLOPs (3 x model_flops_per_token),
# "% peak" is against the best 2048^3 cblas_sgemm measured so far (twice before the first shape and once
# in every run of ours: a single measurement on a busy machine can be low).
# Env: THREADS (2), BENCH_LOGS (keep every program's output in that folder).
# --quick: one timed step and (unless --repeat is given) one pair per shape (a smoke run: the figures
# mean nothing).
# Needs the peers (tests/bench/setup_peers.sh, once); a missing or failing peer is an error.
set -euo pipefail
# shellcheck source=tests/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
quick=0 repeat="" build=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --repeat) repeat="${2:-}"; shift 2 || bench_die "--repeat needs a number" ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) bench_die "bench_train.sh: unknown option $1 (see the header of $0)" ;;
    *) build="$1"; shift ;;
  esac
done
[ -n "$repeat" ] || { repeat=3; [ "$quick" = 1 ] && repeat=1; }
case "$repeat" in ''|*[!0-9]*|0) bench_die "--repeat '$repeat': need a positive integer" ;; esac
build="$(bench_build_dir "$build")"
bin="$build/bench/bench_train"
bench_need "$bin"
bench_find_peers
threads="${THREADS:-2}"
bench_threads "$threads"
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
shapes=(  # name, timed steps, shape
  "C512  5 --hidden 512 --layers 4 --heads 8 --kv 4 --inter 1376 --vocab 8192 --batch 4 --seq 128"
  "C1024 4 --hidden 1024 --layers 2 --heads 16 --kv 4 --inter 2816 --vocab 8192 --batch 4 --seq 128"
  "C256  5 --hidden 256 --layers 4 --heads 4 --kv 2 --inter 688 --vocab 4096 --batch 4 --seq 128"
)
logs="${BENCH_LOGS:-}"
if [ -z "$logs" ]; then logs="$(mktemp -d /tmp/rlvr_bench_train_XXXXXX)"; trap 'rm -rf "$logs"' EXIT; fi
mkdir -p "$logs"
bench_header "training: ours (C engine) vs torch (transformers Qwen2ForCausalLM + AdamW, eager); batch 4 x 128, fp32" "$threads"
peak_of() { bench_field "$1" 's/^sgemm peak .*: \([0-9.]*\) GFLOP\/s.*/\1/p' "sgemm peak"; }
max_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a ? b : a) }'; }
bench_run "$logs/train_peak1.log" "" "$bin" --peak
bench_run "$logs/train_peak2.log" "" "$bin" --peak
peak="$(max_of "$(peak_of "$logs/train_peak1.log")" "$(peak_of "$logs/train_peak2.log")")"
echo "# $(grep -m1 '^OpenBLAS core' "$logs/train_peak1.log"); sgemm peak (2048^3, best of 2 x 3): $peak GFLOP/s"
printf "%-6s %-5s %12s %8s %7s %12s %7s\n" shape run "ours tok/s" GFLOP/s "% peak" "torch tok/s" ratio
hint="The peer failed: if the error is about the environment, run $BENCH_SETUP_CMD."
for s in "${shapes[@]}"; do
  read -r name steps shape <<< "$s"
  [ "$quick" = 1 ] && steps=1
  read -r -a args <<< "$shape --steps $steps"
  best_c=0 best_t=0
  for r in $(seq "$repeat"); do
    ours="$logs/train_${name}_${r}_ours.log" peer="$logs/train_${name}_${r}_torch.log"
    bench_run "$ours" "" "$bin" "${args[@]}"
    bench_run "$peer" "$hint" "$BENCH_PY" "$BENCH_ROOT/tests/bench/bench_train_torch.py" --threads "$threads" "${args[@]}"
    c="$(bench_field "$ours" 's/^step mean .* best [0-9.]* s: \([0-9]*\) tokens\/s.*/\1/p' "tokens/s")"
    gf="$(bench_field "$ours" 's/.* \([0-9.]*\) GFLOP\/s = .*/\1/p' "GFLOP/s")"
    peak="$(max_of "$peak" "$(peak_of "$ours")")"
    pk="$(awk -v g="$gf" -v p="$peak" 'BEGIN { printf "%.0f", 100 * g / p }')"
    t="$(bench_field "$peer" 's/.* best [0-9.]* s: \([0-9]*\) tokens\/s.*/\1/p' "torch tokens/s")"
    printf "%-6s %-5s %12s %8s %6s%% %12s %6sx\n" "$name" "$r" "$c" "$gf" "$pk" "$t" "$(bench_ratio "$c" "$t")"
    best_c="$(max_of "$best_c" "$c")" best_t="$(max_of "$best_t" "$t")"
  done
  if [ "$repeat" -gt 1 ]; then
    printf "%-6s %-5s %12s %8s %7s %12s %6sx\n" "$name" best "$best_c" "" "" "$best_t" "$(bench_ratio "$best_c" "$best_t")"
  fi
done
