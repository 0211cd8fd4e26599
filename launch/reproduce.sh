#!/usr/bin/env bash
# The paper's experiment in miniature, by one command (docs/reproduction/README.md):
#   launch/reproduce.sh [--quick] [--run-dir DIR] [--seeds N] [--steps N] [--np 2] [--workers 2]
# 1. base policy configs/base/arith_base.h5: held-out evaluation (one split per seed) and the paper's
#    analyses (rlvr analyze entropy / gradnorm / replace) -> DIR/base/;
# 2. for each seed and method (configs/reproduce/{baseline,ppl,position}.yaml: GRPO + DAPO; + PPL
#    shaping; + position shaping from the detected plateau on) a training run -> DIR/runs/METHOD_sSEED/
#    (launch/run_local.sh: --np learner ranks, --workers rollout workers), with held-out validation
#    every trainer.test_freq steps (val_* in metrics.jsonl);
# 3. the final policy of each run: rlvr eval (Acc@8, Maj@8, Pass@1/4/8 at T 0.6) and rlvr analyze
#    entropy; for seed 1 also gradnorm, replace and shift (against the base);
# 4. the report: DIR/report.md and DIR/figures/*.png (launch/reproduce_report.py).
# --quick: 1 seed, QUICK_STEPS steps, smaller evaluations (about 10 minutes on 2 quiet cores);
# --steps N: N training steps per run instead of the config's (a shorter try-out); default DIR
# runs/reproduce (runs/reproduce_quick with --quick). Resumable: each finished piece
# leaves its output, and a second call skips it; an interrupted training run resumes from its newest
# checkpoint. Every stage's wall time and the load average go to DIR/timings.jsonl.
set -euo pipefail
source "$(dirname "$0")/common.sh"
QUICK_STEPS=250
dir="" quick=0 seeds="" steps="" np=2 workers=2
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --run-dir) dir="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --np) np="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "reproduce.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
cfgdir="$RLVR_ROOT/configs/reproduce"
base="$RLVR_ROOT/configs/base/arith_base.h5"
methods=(baseline ppl position)
if [ "$quick" = 1 ]; then
  dir="${dir:-$RLVR_ROOT/runs/reproduce_quick}" seeds="${seeds:-1}"
  # the same configs, shorter: the stage detector's window and first step scale with the run
  train_over=(trainer.total_training_steps=$QUICK_STEPS trainer.test_freq=50 trainer.stage_detector.window=60
              trainer.stage_detector.min_step=100 algorithm.position_shaping.end_step=260)
  eval_count=300 an_count=100 replace_count=10
else
  dir="${dir:-$RLVR_ROOT/runs/reproduce}" seeds="${seeds:-3}"
  train_over=()
  eval_count=500 an_count=200 replace_count=20
fi
[ -n "$steps" ] && train_over+=(trainer.total_training_steps="$steps")
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
rlvr_ensure_built
mkdir -p "$dir/base" "$dir/runs"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
rlvr_cpu_env
rlvr="$RLVR_BIN/rlvr"
printf '{"quick": %d, "seeds": %d, "methods": ["baseline", "ppl", "position"], "train_overrides": "%s", "eval_count": %d, "analyze_count": %d, "replace_count": %d, "np": %d, "workers": %d, "nproc": %d}\n' \
  "$quick" "$seeds" "${train_over[*]:-}" "$eval_count" "$an_count" "$replace_count" "$np" "$workers" "$(getconf _NPROCESSORS_ONLN)" > "$dir/setup.json"

# stage NAME CMD...: runs CMD, appends {"stage", "seconds", "load1_before", "load1_after"} to timings.jsonl
stage() {
  local name="$1" t0 t1 l0 l1
  shift
  l0=$(cut -d' ' -f1 /proc/loadavg) t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N) l1=$(cut -d' ' -f1 /proc/loadavg)
  printf '{"stage": "%s", "seconds": %.1f, "load1_before": %s, "load1_after": %s, "at": "%s"}\n' "$name" \
    "$(awk "BEGIN { print $t1 - $t0 }")" "$l0" "$l1" "$(date -u +%FT%TZ)" >> "$dir/timings.jsonl"
}

# eval_to OUT MODEL SEED CONFIG: Acc@8 / Maj@8 / Pass@8 and per-problem counts (Pass@k) on SEED's split
eval_to() {
  [ -s "$1/summary.json" ] && return 0
  "$rlvr" eval --model "$2" --config "$4" trainer.seed="$3" --data "arith:heldout:$eval_count" --quiet --out "$1" > /dev/null
}
# analyze_to KIND OUT MODEL CONFIG [args]: one rlvr analyze on seed 1's split at the training sampler
analyze_to() {
  local kind="$1" out="$2" model="$3" cfg="$4"
  shift 4
  [ -s "$out/summary.json" ] && return 0
  "$rlvr" analyze "$kind" --model "$model" --config "$cfg" trainer.seed=1 --quiet --out "$out" "$@" > "$out.txt"
}

echo "== reproduce: ${#methods[@]} methods x $seeds seed(s) -> $dir (quick $quick)"
# 1. the base policy
for s in $(seq 1 "$seeds"); do stage "base_eval_s$s" eval_to "$dir/base/eval_s$s" "$base" "$s" "$cfgdir/baseline.yaml"; done
stage base_analyze_entropy analyze_to entropy "$dir/base/entropy" "$base" "$cfgdir/baseline.yaml" --data "arith:heldout:$an_count"
stage base_analyze_gradnorm analyze_to gradnorm "$dir/base/gradnorm" "$base" "$cfgdir/baseline.yaml" --data "arith:heldout:$an_count"
stage base_analyze_replace analyze_to replace "$dir/base/replace" "$base" "$cfgdir/baseline.yaml" --data "arith:heldout:$replace_count"

# 2.-3. training runs, seed by seed so that an interrupted reproduction has whole seeds first
train() {
  local m="$1" s="$2" run="$3" resume=()
  ls "$run"/checkpoints/ckpt_*.h5 > /dev/null 2>&1 && resume=(--resume)
  mkdir -p "$run/logs"
  "$RLVR_ROOT/launch/run_local.sh" --config "$cfgdir/$m.yaml" --run-dir "$run" --np "$np" --workers "$workers" \
    trainer.seed="$s" "${train_over[@]}" "${resume[@]}" > "$run/logs/run_local.log" 2>&1 ||
    { tail -20 "$run/logs/run_local.log" >&2; echo "reproduce.sh: training $m seed $s failed (log: $run/logs/learner.log); run again to resume" >&2; exit 1; }
  "$rlvr" export "$run/checkpoints" "$run/final" > /dev/null
  touch "$run/.trained"
}
for s in $(seq 1 "$seeds"); do
  for m in "${methods[@]}"; do
    run="$dir/runs/${m}_s$s"
    if [ ! -e "$run/.trained" ]; then
      echo "== train $m seed $s (log: $run/logs/learner.log)"
      stage "train_${m}_s$s" train "$m" "$s" "$run"
    fi
    stage "eval_${m}_s$s" eval_to "$run/eval" "$run/final" "$s" "$cfgdir/$m.yaml"
    mkdir -p "$run/analyze"
    stage "analyze_entropy_${m}_s$s" analyze_to entropy "$run/analyze/entropy" "$run/final" "$cfgdir/$m.yaml" --data "arith:heldout:$an_count"
    if [ "$s" = 1 ]; then
      stage "analyze_gradnorm_${m}_s$s" analyze_to gradnorm "$run/analyze/gradnorm" "$run/final" "$cfgdir/$m.yaml" --data "arith:heldout:$an_count"
      stage "analyze_replace_${m}_s$s" analyze_to replace "$run/analyze/replace" "$run/final" "$cfgdir/$m.yaml" --data "arith:heldout:$replace_count"
      stage "analyze_shift_${m}_s$s" analyze_to shift "$run/analyze/shift" "$base" "$cfgdir/$m.yaml" --model-b "$run/final" --data "arith:heldout:$an_count"
    fi
  done
done

# 4. the report
/usr/bin/python3 "$RLVR_ROOT/launch/reproduce_report.py" "$dir"
echo "== $dir/report.md, $dir/figures/"
