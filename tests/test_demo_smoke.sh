#!/usr/bin/env bash
# Smoke test of launch/demo.sh with tiny overrides: 2 GRPO steps, a 16-problem held-out eval. Checks
# that every artefact the README promises is written and consistent, and that `rlvr eval --config`
# picks the run's task settings (a different trainer.seed gives a different held-out split).
set -euo pipefail
root="${RLVR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
bin="${RLVR_BIN:-$root/build/bin}"
export RLVR_BIN="$bin"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$root/launch/demo.sh" --run-dir "$tmp/run" --eval-count 16 trainer.total_training_steps=2 trainer.log_freq=1 \
  data.train_batch_size=8 actor.ppo_mini_batch_size=8 eval.n=2 > "$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt"; fail "demo.sh exited non-zero"; }
for f in metrics.jsonl training.png demo_summary.json eval/before/summary.json eval/after/summary.json \
         eval/before/arith_heldout.jsonl eval/after/arith_heldout.jsonl final/model.safetensors; do
  [ -s "$tmp/run/$f" ] || fail "missing $f"
done
/usr/bin/python3 - "$tmp/run" <<'PY' || exit 1
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(f"{d}/metrics.jsonl") if l.strip()]
assert [r["step"] for r in rows] == [1, 2], [r["step"] for r in rows]
for r in rows:
    for k in ("reward_mean", "accuracy", "entropy_mean"):
        assert k in r, k
s = json.load(open(f"{d}/demo_summary.json"))
assert s["grpo_steps"] == 2 and s["problems"] == 16 and s["samples"] == 2, s
assert 0 <= s["acc_before"] <= 1 and 0 <= s["acc_after"] <= 1, s
assert abs(s["gain_points"] - 100 * (s["acc_after"] - s["acc_before"])) < 1e-9, s
b = [json.loads(l) for l in open(f"{d}/eval/before/arith_heldout.jsonl")]
a = [json.loads(l) for l in open(f"{d}/eval/after/arith_heldout.jsonl")]
assert [x["id"] for x in b] == [x["id"] for x in a] and len(b) == 16, "before/after evaluated different problems"
assert all("+" in x["id"] and "-" not in x["id"] for x in b), "held-out problems do not follow data.arith.ops"
png = open(f"{d}/training.png", "rb").read(8)
assert png == b"\x89PNG\r\n\x1a\n", png
PY
grep -q "held-out acc@2" "$tmp/out.txt" || { cat "$tmp/out.txt"; fail "no summary line"; }

# The same config and seed give the same problems as the demo's eval; another trainer.seed another split.
model="$root/configs/base/arith_base.h5"
"$bin/rlvr" eval --model "$model" --config "$root/configs/demo_cpu.yaml" --data arith:heldout:16 -n 1 --quiet --out "$tmp/same" > /dev/null
"$bin/rlvr" eval --model "$model" --config "$root/configs/demo_cpu.yaml" trainer.seed=7 --data arith:heldout:16 -n 1 --quiet --out "$tmp/other" > /dev/null
/usr/bin/python3 - "$tmp" <<'PY' || exit 1
import json, sys
t = sys.argv[1]
ids = lambda p: [json.loads(l)["id"] for l in open(p)]
assert ids(f"{t}/same/arith_heldout.jsonl") == ids(f"{t}/run/eval/before/arith_heldout.jsonl")
assert ids(f"{t}/other/arith_heldout.jsonl") != ids(f"{t}/same/arith_heldout.jsonl"), "trainer.seed override ignored"
s = json.load(open(f"{t}/same/summary.json"))
assert abs(s["temperature"] - 0.6) < 1e-9 and s["max_tokens"] == 12, s   # eval.* and data.max_response_length
PY
# Bad input: an override without --config, and an unknown key, are refused with exit code 2.
set +e
"$bin/rlvr" eval --model "$model" trainer.seed=3 --data arith:heldout:4 > /dev/null 2> "$tmp/e1"; rc1=$?
"$bin/rlvr" eval --model "$model" --config "$root/configs/demo_cpu.yaml" trainer.sed=3 --data arith:heldout:4 > /dev/null 2> "$tmp/e2"; rc2=$?
set -e
[ $rc1 -eq 2 ] && grep -q "no --config" "$tmp/e1" || fail "override without --config: rc $rc1: $(cat "$tmp/e1")"
[ $rc2 -eq 2 ] && grep -q "trainer.sed" "$tmp/e2" || fail "unknown key: rc $rc2: $(cat "$tmp/e2")"
echo "ok"
