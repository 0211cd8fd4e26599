#!/usr/bin/env bash
# Every CPU benchmark of docs/benchmarks.md in sequence, with the settings documented there, then a
# compact summary: the one command that re-measures the page.
#   tests/bench/run_all.sh [--quick] [BUILD_DIR]
# About 15 minutes on a 2-core machine (--quick: about 4 minutes, a smoke run whose figures mean
# nothing). Run it on a quiet machine: other jobs change every figure (the header shows the load).
# Every program's full output is kept in runs/bench/<UTC time>/ (git-ignored), the summary in its
# summary.txt. A failing step is reported as FAILED and the run goes on; the exit status is then 1.
# Env: SKIP (steps to leave out, from: sampling train smollm2 gemm algo checkpoint modelio wire tokenizer
# rollout demo).
# Needs a Release build (launch/build.sh build -DRLVR_CUDA=OFF) and, for sampling, train and smollm2,
# the PyTorch peers (tests/bench/setup_peers.sh); smollm2 also the SmolLM2 GGUF (tests/gguf_setup.sh).
# The CUDA benchmark runs on a GPU machine only (tests/gpu/device_check.sh).
set -euo pipefail
# shellcheck source=tests/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
quick=0 build=""
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) bench_die "run_all.sh: unknown option $a (see the header of $0)" ;;
    *) build="$a" ;;
  esac
done
build="$(bench_build_dir "$build")"
b="$build/bench"
bench_need "$b/bench_algo" "$b/bench_checkpoint" "$b/bench_sampling" "$b/bench_train" "$b/bench_wire" \
  "$b/bench_wire_decode" "$b/libgemm_time.so" "$build/bin/rlvr" "$build/bin/rollout" "$build/tests/coord_harness"
skip=" ${SKIP:-} "
want() { case "$skip" in *" $1 "*) return 1 ;; *) return 0 ;; esac; }
if want sampling || want train || want smollm2; then bench_find_peers; fi
out="$BENCH_ROOT/runs/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/logs"
export BENCH_LOGS="$out/logs"
q=(); [ "$quick" = 1 ] && q=(--quick)
failed=()
t_all=$(date +%s)

# step NAME: runs the function NAME with its output on the terminal and in $out/NAME.txt; a failure
# is noted and the run goes on.
step() {
  local name="$1" t0 rc
  want "$name" || return 0
  echo; echo "== $name"
  t0=$(date +%s)
  set +e
  "$name" 2>&1 | tee "$out/$name.txt"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 0 ]; then echo "== $name: $(( $(date +%s) - t0 )) s"
  else echo "== $name: FAILED (exit $rc) after $(( $(date +%s) - t0 )) s"; failed+=("$name"); fi
}
x() { echo "\$ $*"; "$@"; }  # shows each command before its output

sampling() { x "$BENCH_ROOT/tests/bench/bench_sampling.sh" "${q[@]}" "$build"; }
train() { x "$BENCH_ROOT/tests/bench/bench_train.sh" "${q[@]}" "$build"; }
smollm2() { x "$BENCH_ROOT/tests/bench/bench_smollm2.sh" "${q[@]}" "$build"; }
gemm() {  # the share of bench_train's step spent in cblas_sgemm (LD_PRELOAD shim), 2 threads
  local steps=8 s; [ "$quick" = 1 ] && steps=1
  for s in "--hidden 512 --layers 4 --heads 8 --kv 4 --inter 1376 --vocab 8192" \
           "--hidden 1024 --layers 2 --heads 16 --kv 4 --inter 2816 --vocab 8192" \
           "--hidden 256 --layers 4 --heads 4 --kv 2 --inter 688 --vocab 4096"; do
    # shellcheck disable=SC2086
    x env OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 LD_PRELOAD="$b/libgemm_time.so" "$b/bench_train" $s --batch 4 --seq 128 --steps "$steps" \
      > "$out/logs/gemm.tmp" 2>&1 || { cat "$out/logs/gemm.tmp"; return 1; }
    cat "$out/logs/gemm.tmp"
    awk -v steps="$steps" '
      /^model / { shape = $2 }
      /^step mean/ { mean = $3 }
      /^\[gemm_time\]/ { for (i = 1; i <= NF; i++) { if ($i == "s" && $(i+1) == "in") sec = $(i-1); if ($i == "GFLOP/s") rate = $(i-1) } }
      END { per = sec / (steps + 1); printf "gemm %s: cblas_sgemm %.3f s per step (%s GFLOP/s inside it) = %.0f%% of the mean step %.3f s\n", shape, per, rate, 100 * per / mean, mean }' \
      "$out/logs/gemm.tmp"
  done
  rm -f "$out/logs/gemm.tmp"
}
algo() { local t; for t in 1 2; do x env OMP_NUM_THREADS=$t "$b/bench_algo"; done; }
checkpoint() {
  local d rc=0; d="$(mktemp -d /tmp/rlvr_bench_ckpt_XXXXXX)"
  x env OMP_NUM_THREADS=2 "$b/bench_checkpoint" "$d" || rc=$?
  rm -rf "$d"; return "$rc"
}
modelio() { x env OMP_NUM_THREADS=2 "$BENCH_ROOT/tests/bench/bench_model_io.sh" "$build"; }
wire() {
  local n=2000 r=15 dn=2000 dr=9
  [ "$quick" = 1 ] && n=200 r=3 dn=200 dr=3
  x "$b/bench_wire" "$n" 8 2048 "$r"
  x "$b/bench_wire" "$n" 8 2048 "$r" 'tcp://127.0.0.1:*' floor
  x "$b/bench_wire_decode" "$dn" 8 2048 "$dr"
  x "$b/bench_wire_decode" $((dn / 10)) 8 2048 "$dr" 64
}
rollout() {
  if [ "$quick" = 1 ]; then x "$BENCH_ROOT/tests/bench/bench_rollout.sh" "$build" 8
  else x "$BENCH_ROOT/tests/bench/bench_rollout.sh" "$build"; fi
}
tokenizer() {  # needs .venv-tok/ and the vocabularies (tests/setup_assets.sh)
  local py="$BENCH_ROOT/.venv-tok/bin/python" v
  [ -x "$py" ] || { echo "no $py: run tests/setup_assets.sh (it fetches HF tokenizers and tiktoken)"; return 1; }
  for v in qwen2 llama-bpe; do x "$py" "$BENCH_ROOT/tests/bench/bench_tokenizer.py" "${q[@]}" --vocab "$v" "$build"; done
}
demo() {
  local extra=(); [ "$quick" = 1 ] && extra=(--eval-count 50 trainer.total_training_steps=20)
  x env RLVR_BUILD="$build" "$BENCH_ROOT/launch/demo.sh" --run-dir "$out/demo" "${extra[@]}"
}

bench_header "all benchmarks$([ "$quick" = 1 ] && echo ' (--quick: a smoke run, figures mean nothing)'); output in $out" \
  "as each benchmark documents" | tee "$out/header.txt"
for s in sampling train smollm2 gemm algo checkpoint modelio wire tokenizer rollout demo; do step "$s"; done

# The summary: the lines of each output that docs/benchmarks.md quotes.
summary() {
  cat "$out/header.txt"
  echo "# total $(( $(date +%s) - t_all )) s${failed[*]:+; FAILED: ${failed[*]}}"
  local f
  f="$out/sampling.txt"; [ -f "$f" ] && { echo "## sampling (tokens/s)"; sed -n '/^shape/,$p' "$f" | grep -v '^== '; }
  f="$out/train.txt"; [ -f "$f" ] && { echo "## train (tokens/s, 2 threads)"; grep -E '^# OpenBLAS' "$f"; sed -n '/^shape/,$p' "$f" | grep -v '^== '; }
  f="$out/smollm2.txt"; [ -f "$f" ] && { echo "## smollm2 (tokens/s)"; sed -n '/^## sampling/,$p' "$f"; }
  f="$out/gemm.txt"; [ -f "$f" ] && { echo "## gemm"; grep -E '^gemm ' "$f"; }
  f="$out/algo.txt"; [ -f "$f" ] && { echo "## algo (1 thread, then 2)"; grep -E '^(policy_loss|token_entropy)' "$f"; }
  f="$out/checkpoint.txt"; [ -f "$f" ] && { echo "## checkpoint"; grep -E '^(model|crc32c|save)' "$f"; }
  f="$out/modelio.txt"; [ -f "$f" ] && { echo "## modelio"; grep -E '^(HF|h5)' "$f"; }
  f="$out/wire.txt"; [ -f "$f" ] && { echo "## wire"; grep -E '^(wire |floor |raw |ratio |  [a-z])|buffer' "$f" | grep -v '^  run '; }
  f="$out/tokenizer.txt"; [ -f "$f" ] && { echo "## tokenizer (MB/s, 1 thread)"; grep -E '^(bench_tokenizer|ours|tokenizers|tiktoken) ' "$f"; }
  f="$out/rollout.txt"; [ -f "$f" ] && { echo "## rollout"; grep -E '^(shape|demo|wide) ' "$f"; }
  f="$out/demo.txt"; [ -f "$f" ] && { echo "## demo"; grep -E '^held-out' "$f"; }
  return 0
}
echo; echo "===== summary ($out/summary.txt)"
summary | tee "$out/summary.txt"
[ ${#failed[@]} -eq 0 ]
