#!/usr/bin/env bash
# launch/reproduce.sh end to end with 4 training steps per run (--quick --steps 4): every piece the
# report reads is written, the report has its sections, figures and one row per run, its Pass@k
# equals the unbiased estimator recomputed from the per-problem counts, and a second call resumes
# (trains nothing again, regenerates the report).
set -euo pipefail
root="${RLVR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
bin="${RLVR_BIN:-$root/build/bin}"
export RLVR_BIN="$bin"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
dir="$tmp/r"

"$root/launch/reproduce.sh" --quick --steps 4 --run-dir "$dir" > "$tmp/out1.txt" 2>&1 || { cat "$tmp/out1.txt"; fail "reproduce.sh exited non-zero"; }
for m in baseline ppl position; do
  for f in .trained metrics.jsonl val_metrics.jsonl eval/summary.json eval/arith_heldout.jsonl analyze/entropy/summary.json \
           analyze/gradnorm/gradnorm.jsonl analyze/replace/summary.json analyze/shift/summary.json final/model.safetensors; do
    [ -e "$dir/runs/${m}_s1/$f" ] || fail "missing runs/${m}_s1/$f"
  done
  ls "$dir/runs/${m}_s1/tensorboard/"events.out.tfevents.* > /dev/null 2>&1 || fail "no TensorBoard file in runs/${m}_s1"
done
for f in report.md figures/curves.png figures/entropy_by_stage.png figures/gradnorm_vs_entropy.png figures/replace_by_entropy.png \
         base/eval_s1/summary.json base/entropy/summary.json base/gradnorm/summary.json base/replace/summary.json timings.jsonl setup.json; do
  [ -s "$dir/$f" ] || fail "missing $f"
done
/usr/bin/python3 - "$dir" <<'PY' || exit 1
import json, math, re, sys
d = sys.argv[1]
rep = open(f"{d}/report.md").read()
for h in ("## Main table", "## Training curves and stages", "## G_t against entropy", "## Token replacement impact by entropy",
          "## The paper's claims at this scale", "## Stage timings"):
    assert h in rep, h
for m in ("GRPO + DAPO seed 1", "+ PPL shaping seed 1", "+ position shaping seed 1"):
    assert "| %s |" % m in rep, m
claims = re.findall(r"^\| [^|]+ \| \*\*((?:reproduced|not reproduced|partly reproduced|not measurable at this scale)[^*]*)\*\* \|", rep, re.M)
assert len(claims) >= 8, claims
# Pass@4 of the baseline row, recomputed from the per-problem counts
rows = [json.loads(l) for l in open(f"{d}/runs/baseline_s1/eval/arith_heldout.jsonl")]
p4 = sum(1 - (math.comb(8 - r["n_correct"], 4) / math.comb(8, 4) if 8 - r["n_correct"] >= 4 else 0) for r in rows) / len(rows)
line = next(l for l in rep.splitlines() if l.startswith("| GRPO + DAPO |"))
cells = [c.strip() for c in line.strip("|").split("|")]
assert abs(float(cells[4]) - p4) < 6e-4, (cells, p4)
acc = json.load(open(f"{d}/runs/baseline_s1/eval/summary.json"))["benchmarks"]["arith_heldout"]["acc"]
assert abs(float(cells[1]) - acc) < 6e-4 and abs(float(cells[3]) - acc) < 6e-4, (cells, acc)   # Pass@1 = Acc@8
steps = [json.loads(l)["step"] for l in open(f"{d}/runs/position_s1/metrics.jsonl")]
assert steps == [1, 2, 3, 4], steps
for f in ("curves", "entropy_by_stage", "gradnorm_vs_entropy", "replace_by_entropy"):
    assert open(f"{d}/figures/{f}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n", f
PY
n1=$(grep -c '"stage": "train_' "$dir/timings.jsonl")
[ "$n1" = 3 ] || fail "expected 3 training stages, got $n1"
rm "$dir/report.md"
"$root/launch/reproduce.sh" --quick --steps 4 --run-dir "$dir" > "$tmp/out2.txt" 2>&1 || { cat "$tmp/out2.txt"; fail "second call exited non-zero"; }
n2=$(grep -c '"stage": "train_' "$dir/timings.jsonl")
[ "$n2" = 3 ] || fail "the second call trained again ($n2 training stages)"
[ -s "$dir/report.md" ] || fail "the second call did not write the report"
echo "all checks passed"
