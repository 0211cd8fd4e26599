#!/usr/bin/env bash
# Generation on the GPU through the generation loop (common/engine/genloop.h + cuda_gen_backend.h):
#   1. test_genloop_cuda: fp32 greedy = the CPU engine; a sample is the same in a batch of 64 and of 1;
#      the GPU's log-probs / entropies = a CPU rescoring of its tokens; new weights; bf16 within tolerance;
#   2. rlvr generate --temperature 0 on the demo's base model: the same text on cpu and cuda (fp32);
#   3. the rollout program with --device cuda (fp32, then bf16) against the coordinator harness and its
#      test model: every prompt's group arrives and passes the harness's checks; the worker's stats.
# Needs the full build (rlvr, rollout, coord_harness). GENLOOP_DEVICE=cpu runs steps 2-3 on the CPU
# (to try the script itself on a machine without a GPU).
set -uo pipefail
DEV=${GENLOOP_DEVICE:-cuda}
[ "${MODE:-full}" = full ] || { echo "needs the full CMake build (rlvr, rollout, coord_harness)"; exit 77; }
B=${BUILD:-build-gpu}
M=configs/base/arith_base.h5
fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$DEV" = cuda ]; then
  echo "--- test_genloop_cuda"
  timeout 150 "$B/tests/test_genloop_cuda"; rc=$?
  [ $rc -eq 0 ] || { echo "FAIL: test_genloop_cuda exit $rc"; fail=1; }
fi

echo "--- rlvr generate, greedy, cpu vs $DEV"
for p in "12+34=" "7*8-5=" "100-58="; do
  cpu=$("$B/bin/rlvr" generate --model "$M" --prompt "$p" --max-tokens 24 --temperature 0 -n 2)
  dev=$("$B/bin/rlvr" generate --model "$M" --prompt "$p" --max-tokens 24 --temperature 0 -n 2 --device "$DEV")
  if [ -n "$cpu" ] && [ "$cpu" = "$dev" ]; then echo "ok: greedy '$p' the same on cpu and $DEV"
  else echo "FAIL: greedy '$p': cpu [$cpu] vs $DEV [$dev]"; fail=1; fi
done

# The harness re-checks every response (rewards with its verifier, quality flags) against its own test model.
"$B/tests/coord_harness" --make-model "$work/hm.h5" --hidden 128 --layers 2 --heads 4 --kv-heads 2 --intermediate 256 > /dev/null \
  || { echo "FAIL: coord_harness --make-model"; exit 1; }
for prec in fp32 bf16; do
  [ "$DEV" = cpu ] && [ $prec = bf16 ] && continue
  d="$work/run-$prec"; mkdir -p "$d"
  echo "--- rollout --device $DEV --precision $prec: 64 prompts x 8 samples, up to 48 tokens"
  "$B/tests/coord_harness" --run-dir "$d" --model "$work/hm.h5" --prompts 64 --group 8 --max-tokens 48 --timeout 120 \
    --out "$d/groups.jsonl" > "$d/harness.out" 2> "$d/harness.err" &
  hp=$!
  for _ in $(seq 100); do [ -e "$d/rendezvous.json" ] && break; sleep 0.1; done
  timeout 150 "$B/bin/rollout" --run-dir "$d" --id "gpu-$prec" --device "$DEV" --precision $prec --max-prompts 64 \
    --status-interval 0 --stats "$d/stats.json" > "$d/worker.log" 2>&1
  wrc=$?
  wait $hp; hrc=$?
  final=$(grep '^FINAL ' "$d/harness.out" | head -1)
  echo "worker exit $wrc, harness exit $hrc: $final"
  [ -e "$d/stats.json" ] && cat "$d/stats.json"
  if [ $wrc -ne 0 ] || [ $hrc -ne 0 ] || ! python3 -c '
import json, sys
f = json.loads(sys.argv[1][6:])
sys.exit(0 if f.get("missing") == 0 and f.get("invalid") == 0 and f.get("duplicates") == 0 else 1)' "$final"; then
    echo "FAIL: rollout --device $DEV --precision $prec"; tail -20 "$d/worker.log"; tail -5 "$d/harness.err"; fail=1
  else
    echo "ok: rollout --device $DEV --precision $prec: every group delivered and valid"
  fi
done
exit $fail
