#!/usr/bin/env bash
# rlvr grade: file and stdin input, boxed and bare predictions, numbers as JSON numbers, malformed
# lines answered with an error line while the stream continues, --verifier arith, --rel-tol.
set -euo pipefail
bin="${RLVR_BIN:?RLVR_BIN must point at the bin directory of a build}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() {   # expect NAME ACTUAL WANTED
  if [ "$2" != "$3" ]; then echo "FAIL $1"; echo "  got:  $2"; echo "  want: $3"; fail=1; else echo "ok   $1"; fi
}

cat > "$tmp/in.jsonl" <<'IN'
{"gold": "\\frac{14}{3}", "prediction": "We get $\\boxed{\\dfrac{14}{3}}$."}
{"gold": "\\frac{14}{3}", "prediction": "14/3"}
{"gold": "\\frac{14}{3}", "prediction": "4.67"}
{"gold": 27, "prediction": "27.0"}
{"gold": "27", "prediction": 27}
this is not json
{"gold": "1"}
{"gold": ["1"], "prediction": "1"}

{"gold": "(C)", "prediction": "\\boxed{\\text{(C)}}"}
{"gold": "(C)", "prediction": "\\boxed{D}"}
{"gold": "5", "prediction": "\\boxed{4} hmm \\boxed{5"}
{"gold": "1,-2", "prediction": "-2, 1"}
{"gold": "\u00e9t\u00e9", "prediction": "caf\u00e9 \\boxed{\u00e9t\u00e9}"}
IN
cat > "$tmp/want.jsonl" <<'WANT'
{"correct":true,"extracted":"\\dfrac{14}{3}"}
{"correct":true,"extracted":"14/3"}
{"correct":false,"extracted":"4.67"}
{"correct":true,"extracted":"27.0"}
{"correct":true,"extracted":"27"}
{"error":"line 6: invalid JSON: '[' or '{' expected near 'this'"}
{"error":"line 7: expected an object with \"gold\" and \"prediction\""}
{"error":"line 8: \"gold\" and \"prediction\" must be strings or numbers"}
{"correct":true,"extracted":"\\text{(C)}"}
{"correct":false,"extracted":"D"}
{"correct":false,"extracted":""}
{"correct":true,"extracted":"-2, 1"}
{"correct":true,"extracted":"été"}
WANT
want="$(cat "$tmp/want.jsonl")"
got="$("$bin/rlvr" grade "$tmp/in.jsonl")"
expect "file input" "$got" "$want"
got="$("$bin/rlvr" grade < "$tmp/in.jsonl")"
expect "stdin input" "$got" "$want"
got="$("$bin/rlvr" grade - < "$tmp/in.jsonl")"
expect "stdin as -" "$got" "$want"
lines_in=$(grep -c . "$tmp/in.jsonl"); lines_out=$(printf '%s\n' "$got" | grep -c .)
expect "one output line per non-blank input line" "$lines_out" "$lines_in"

got="$(printf '%s\n' '{"gold":"33","prediction":"\\boxed{33}"}' '{"gold":"33","prediction":"33.0"}' '{"gold":"-4","prediction":"-4"}' | "$bin/rlvr" grade --verifier arith)"
expect "arith verifier" "$got" '{"correct":true,"extracted":"33"}
{"correct":false,"extracted":"33.0"}
{"correct":true,"extracted":"-4"}'

got="$(printf '%s\n' '{"gold":"0.33","prediction":"1/3"}' | "$bin/rlvr" grade)"
expect "default: exact rationals" "$got" '{"correct":false,"extracted":"1/3"}'
got="$(printf '%s\n' '{"gold":"0.33","prediction":"1/3"}' | "$bin/rlvr" grade --rel-tol 0.02)"
expect "--rel-tol loosens numbers" "$got" '{"correct":true,"extracted":"1/3"}'

set +e
"$bin/rlvr" grade "$tmp/nope.jsonl" >/dev/null 2>"$tmp/err"; rc=$?
set -e
expect "missing file exits 1" "$rc" "1"
grep -q "nope.jsonl" "$tmp/err" || { echo "FAIL missing-file message does not name the file"; fail=1; }
set +e
"$bin/rlvr" grade --verifier code < /dev/null >/dev/null 2>&1; rc=$?
"$bin/rlvr" grade --bogus < /dev/null >/dev/null 2>&1; rc2=$?
set -e
expect "unknown verifier exits 2" "$rc" "2"
expect "unknown option exits 2" "$rc2" "2"
"$bin/rlvr" grade --help | grep -q "prediction" || { echo "FAIL --help"; fail=1; }

# every benchmark gold, as a JSON Lines stream: boxed gold correct, perturbed gold incorrect
data="${RLVR_DATA:-$RLVR_ROOT/../shared/data}"
[ -d "$data/benchmarks" ] || { echo "FAIL $data/benchmarks missing: the tests need ../shared/data beside the repository"; exit 1; }
/usr/bin/python3 - "$data/benchmarks" > "$tmp/bench.jsonl" <<'PY'
import json, sys, glob, re
for f in sorted(glob.glob(sys.argv[1] + "/*.jsonl")):
    for line in open(f, encoding="utf-8"):
        a = json.loads(line)["answer"]
        print(json.dumps({"gold": a, "prediction": "Final answer: \\boxed{%s}." % a}))
        m = re.search(r"\d", a)
        p = a[:m.start()] + str((int(a[m.start()]) + 1) % 10) + a[m.start() + 1:] if m else a + "+1"
        print(json.dumps({"gold": a, "prediction": p}))
PY
"$bin/rlvr" grade "$tmp/bench.jsonl" > "$tmp/bench.out"
n=$(wc -l < "$tmp/bench.jsonl"); m=$(wc -l < "$tmp/bench.out")
expect "benchmark stream: one line out per line in" "$m" "$n"
bad=$(awk 'NR % 2 == 1 && !/"correct":true/ || NR % 2 == 0 && !/"correct":false/' "$tmp/bench.out" | wc -l)
expect "benchmark golds: self correct, perturbed incorrect" "$bad" "0"
exit $fail
