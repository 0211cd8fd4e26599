#!/usr/bin/env bash
# GRPO end to end on the GPU, launched the way the README's "On GPUs" section says: launch/run_local.sh
# with 1 learner rank (trainer.device=cuda) and 1 rollout worker (rollout.device=cuda) on the arithmetic
# demo (configs/demo_cpu.yaml: its base policy and task), in fp32 and in bf16; then the same steps on
# the CPU (1 rank + 1 worker) on this machine. Prints steps/s of each and the reward of the first and
# last steps; fails when a run fails, trains fewer steps than asked, or its processes did not run on
# the device they were given. E2E_STEPS (default 30) sets the steps.
set -uo pipefail
[ "${MODE:-full}" = full ] || { echo "needs the full CMake build (learner, rollout)"; exit 77; }
B=${BUILD:-build-gpu}
export RLVR_BIN="$PWD/$B/bin" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
STEPS=${E2E_STEPS:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
run() {   # name, then key=value overrides
  local name=$1; shift
  local d="$work/$name" t0 t1 rc
  t0=$(date +%s.%N)
  timeout 170 launch/run_local.sh --config configs/demo_cpu.yaml --run-dir "$d" --np 1 --workers 1 \
    trainer.total_training_steps="$STEPS" "$@" > "$work/$name.out" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  python3 - "$name" "$d/metrics.jsonl" "$rc" "$t0" "$t1" "$STEPS" <<'PY' || fail=1
import json, sys
name, path, rc, t0, t1, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
try:
    rows = [json.loads(l) for l in open(path) if l.strip()]
except OSError:
    rows = []
trained = [r for r in rows if "step" in r and "reward_mean" in r]
first = trained[0]["reward_mean"] if trained else float("nan")
last = sum(r["reward_mean"] for r in trained[-5:]) / max(1, len(trained[-5:])) if trained else float("nan")
wall = t1 - t0
print(f"{name}: exit {rc}, {len(trained)} steps in {wall:.1f} s wall ({len(trained) / wall:.3f} steps/s, launch "
      f"included), reward step 1 {first:+.3f}, mean of the last 5 {last:+.3f}")
sys.exit(0 if rc == 0 and len(trained) >= steps else 1)
PY
  grep -h "trainer.device" "$work/$name.out" | head -1
  grep -h "device" "$d"/logs/rollout-*.log 2>/dev/null | head -1
  if [ $rc -ne 0 ]; then echo "FAIL: $name (exit $rc)"; tail -30 "$work/$name.out"; tail -20 "$d"/logs/rollout-*.log; fail=1; fi
}
run gpu-fp32 trainer.device=cuda rollout.device=cuda
grep -q "trainer.device cuda" "$work/gpu-fp32.out" || { echo "FAIL: the learner did not report trainer.device cuda"; fail=1; }
grep -q "device cuda" "$work"/gpu-fp32/logs/rollout-*.log || { echo "FAIL: the worker did not report device cuda"; fail=1; }
run gpu-bf16 trainer.device=cuda trainer.precision=bf16 rollout.device=cuda rollout.precision=bf16
run cpu trainer.device=cpu rollout.device=cpu
exit $fail
