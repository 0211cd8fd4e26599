#!/usr/bin/env bash
# The CPU demo, end to end on one machine (2 cores are enough):
#   launch/demo.sh [--run-dir DIR] [--sft] [--eval-count N] [--np 2] [--workers 2] [key=value ...]
# 1. builds what is not built yet (launch/setup.sh + launch/build.sh);
# 2. base policy: configs/base/arith_base.h5, the committed output of the project's own SFT; with --sft
#    (or when that file is missing) it is made again first, into DIR/sft/final.h5, by
#      mpirun -np 2 build/bin/learner --config configs/sft_arith.yaml --run-dir DIR/sft
#    (the same command with --run-dir runs/sft_arith regenerates the committed file:
#     cp runs/sft_arith/final.h5 configs/base/arith_base.h5);
# 3. rlvr eval of the base on the held-out split -> DIR/eval/before;
# 4. GRPO + PPL shaping (configs/demo_cpu.yaml) with --np learner ranks and --workers rollout workers;
# 5. rlvr eval of the trained policy -> DIR/eval/after;
# 6. DIR/metrics.jsonl (one line per step, written by the learner), DIR/training.png (reward, accuracy
#    and entropy against step) and DIR/demo_summary.json (accuracies and the run's wall time).
# key=value overrides go to the GRPO learner and to rlvr eval (which reads the task settings from the
# same config, so "held-out" means the problems training never drew). Default DIR: runs/demo.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir="$RLVR_ROOT/runs/demo" config="$RLVR_ROOT/configs/demo_cpu.yaml" sft_config="$RLVR_ROOT/configs/sft_arith.yaml"
base="$RLVR_ROOT/configs/base/arith_base.h5" do_sft=0 eval_count=500 np=2 workers=2 overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir) dir="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --sft) do_sft=1; shift ;;
    --eval-count) eval_count="$2"; shift 2 ;;
    --np) np="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "demo.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ -e "$dir/metrics.jsonl" ] || [ -d "$dir/checkpoints" ]; then
  echo "demo.sh: $dir already holds a run; pass --run-dir NEW_DIR (or delete it)" >&2
  exit 2
fi
rlvr_ensure_built
mkdir -p "$dir/logs" "$dir/eval"
# One thread per process: learner ranks and workers already fill the cores, and OpenMP threads that
# compete for them make every process several times slower.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

if [ "$do_sft" = 1 ] || [ ! -f "$base" ]; then
  echo "== SFT base policy ($sft_config) -> $dir/sft/final.h5"
  # shellcheck disable=SC2046
  mpirun -np "$np" $(rlvr_mpirun_flags "$np") "$RLVR_BIN/learner" --config "$sft_config" --run-dir "$dir/sft" \
    > "$dir/logs/sft.log" 2>&1 || { tail -20 "$dir/logs/sft.log" >&2; echo "demo.sh: SFT failed (log: $dir/logs/sft.log)" >&2; exit 1; }
  base="$dir/sft/final.h5"
fi

t0=$(date +%s.%N)
eval_args=(--config "$config" "${overrides[@]}" --data "arith:heldout:$eval_count" --quiet)
echo "== eval before: $base"
"$RLVR_BIN/rlvr" eval --model "$base" "${eval_args[@]}" --out "$dir/eval/before"

echo "== GRPO + PPL shaping: $np learner ranks, $workers rollout workers (log: $dir/logs/learner.log)"
"$RLVR_ROOT/launch/run_local.sh" --config "$config" --run-dir "$dir" --np "$np" --workers "$workers" \
  model.path="$base" "${overrides[@]}" > "$dir/logs/run_local.log" 2>&1 ||
  { tail -20 "$dir/logs/run_local.log" >&2; echo "demo.sh: training failed (log: $dir/logs/learner.log)" >&2; exit 1; }
grep '^step' "$dir/logs/learner.log" | tail -3

"$RLVR_BIN/rlvr" export "$dir/checkpoints" "$dir/final" > /dev/null
echo "== eval after: $dir/final"
"$RLVR_BIN/rlvr" eval --model "$dir/final" "${eval_args[@]}" --out "$dir/eval/after"
t1=$(date +%s.%N)

/usr/bin/python3 "$RLVR_ROOT/launch/plot_metrics.py" "$dir/metrics.jsonl" "$dir/training.png"
/usr/bin/python3 - "$dir" "$t0" "$t1" <<'PY'
import json, sys
d, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
acc = {k: json.load(open(f"{d}/eval/{k}/summary.json"))["benchmarks"]["arith_heldout"] for k in ("before", "after")}
steps = sum(1 for line in open(f"{d}/metrics.jsonl") if line.strip())
s = {"acc_before": acc["before"]["acc"], "acc_after": acc["after"]["acc"],
     "gain_points": 100 * (acc["after"]["acc"] - acc["before"]["acc"]),
     "maj_before": acc["before"]["maj"], "maj_after": acc["after"]["maj"],
     "problems": acc["after"]["problems"], "samples": acc["after"]["samples"],
     "grpo_steps": steps, "run_seconds": round(t1 - t0, 1)}
json.dump(s, open(f"{d}/demo_summary.json", "w"), indent=2)
print(f"held-out acc@{s['samples']}: {s['acc_before']:.3f} -> {s['acc_after']:.3f} ({s['gain_points']:+.1f} points), "
      f"{steps} GRPO steps, run {s['run_seconds']:.0f} s (eval + training + eval)")
PY
echo "== $dir/metrics.jsonl, $dir/training.png, $dir/demo_summary.json"
