#!/usr/bin/env bash
# Sampling throughput, ours against PyTorch, in one command:
#   tests/bench/bench_sampling.sh [--quick] [BUILD_DIR]
# Ours: the C decoder (BUILD_DIR/bench/bench_sampling, infer_generate_group). Peer: transformers'
# Qwen2ForCausalLM on torch CPU eager (tests/bench/bench_sampling.py), once as a sampling loop over the
# model with its KV cache (log-prob and entropy per token, as ours returns) and once as
# model.generate(do_sample=True). Both sides: the same Qwen2 shape (bias on q/k/v, untied head), fp32,
# KV cache, G = 8 samples of one 32-token prompt, exactly 128 new tokens each, temperature 1, no
# top-k/top-p, the same thread count and the CPU environment of the launch scripts (launch/common.sh).
# tokens/s = 8 x 128 / wall time, prefill included, best of the repetitions (ours 5, or 3 for the
# large shape; torch 3). The ratio is ours / the faster torch variant.
#   tiny:  C 256, L 4, H 4, KV 4, I 688, V 128     (3.2M parameters)
#   large: C 512, L 8, H 8, KV 4, I 1376, V 32000  (56.0M parameters, grouped-query attention)
# Env: SHAPES ("tiny large"), THREADS ("1 2"), BENCH_LOGS (keep every program's output in that folder).
# --quick: 16 new tokens and one repetition per program (a smoke run: the figures mean nothing).
# Needs the peers (tests/bench/setup_peers.sh, once); a missing or failing peer is an error.
set -euo pipefail
# shellcheck source=tests/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
quick=0 build=""
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) bench_die "bench_sampling.sh: unknown option $a (see the header of $0)" ;;
    *) build="$a" ;;
  esac
done
build="$(bench_build_dir "$build")"
bin="$build/bench/bench_sampling"
bench_need "$bin"
bench_find_peers
shapes="${SHAPES:-tiny large}" threads_list="${THREADS:-1 2}"
bench_threads "$threads_list"
new=128; [ "$quick" = 1 ] && new=16
logs="${BENCH_LOGS:-}"
if [ -z "$logs" ]; then logs="$(mktemp -d /tmp/rlvr_bench_sampling_XXXXXX)"; trap 'rm -rf "$logs"' EXIT; fi
mkdir -p "$logs"
bench_header "sampling: ours (C decoder) vs torch (transformers Qwen2ForCausalLM, eager); G 8, prompt 32, new $new, fp32, KV cache" "$threads_list"
printf "%-6s %7s %12s %12s %15s %11s\n" shape threads "ours tok/s" "torch loop" "torch generate" "ours/torch"
hint="The peer failed: if the error is about the environment, run $BENCH_SETUP_CMD."
for shape in $shapes; do
  case "$shape" in
    tiny) margs=(--C 256 --L 4 --H 4 --KV 4 --I 688 --V 128); reps=5 ;;
    large) margs=(--C 512 --L 8 --H 8 --KV 4 --I 1376 --V 32000); reps=3 ;;
    *) bench_die "unknown shape '$shape' in SHAPES (tiny, large)" ;;
  esac
  treps=3
  [ "$quick" = 1 ] && reps=1 treps=1
  args=("${margs[@]}" --G 8 --prompt 32 --new "$new")
  for t in $threads_list; do
    ours="$logs/sampling_${shape}_${t}t_ours.log" peer="$logs/sampling_${shape}_${t}t_torch.log"
    bench_run "$ours" "" env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" "$bin" "${args[@]}" --reps "$reps"
    bench_run "$peer" "$hint" env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" \
      "$BENCH_PY" "$BENCH_ROOT/tests/bench/bench_sampling.py" "${args[@]}" --reps "$treps" --threads "$t"
    c="$(bench_field "$ours" 's/^best: \([0-9.]*\) tokens\/s.*/\1/p' "best tokens/s")"
    loop="$(bench_field "$peer" 's/^loop best: \([0-9.]*\) tokens\/s.*/\1/p' "torch loop tokens/s")"
    gen="$(bench_field "$peer" 's/^generate best: \([0-9.]*\) tokens\/s.*/\1/p' "torch generate tokens/s")"
    best_torch="$(awk -v a="$loop" -v b="$gen" 'BEGIN { print (a > b ? a : b) }')"
    printf "%-6s %7s %12.1f %12.1f %15.1f %10sx\n" "$shape" "$t" "$c" "$loop" "$gen" "$(bench_ratio "$c" "$best_torch")"
  done
done
