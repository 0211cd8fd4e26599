#!/usr/bin/env bash
# rlvr grade with reward styles: --style / --verifier pick math_boxed, math_dapo or prime_math, which
# grade whole responses; the default math verifier reads a stated answer when there is no box.
set -euo pipefail
bin="${RLVR_BIN:-build/bin}/rlvr"
fails=0
expect() {   # expect WANT ARGS... < line
  local want="$1"; shift
  local got
  got=$("$bin" grade "$@")
  case "$got" in
    *"\"correct\":$want"*) ;;
    *) echo "FAIL: rlvr grade $* -> $got (want correct:$want)"; fails=$((fails + 1)) ;;
  esac
}
echo '{"gold": "42", "prediction": "So the answer is 42."}' | expect true
echo '{"gold": "42", "prediction": "So the answer is 42."}' | expect false --style boxed
echo '{"gold": "42", "prediction": "So the answer is 42."}' | expect false --verifier math_boxed
echo '{"gold": "42", "prediction": "work\nAnswer: 42"}' | expect true --style math_dapo
echo '{"gold": "\\frac{1}{2}", "prediction": "Answer: 0.5"}' | expect false --style math_dapo
echo '{"gold": "\\frac{1}{2}", "prediction": "so \\boxed{0.5}"}' | expect true --style prime_math
echo '{"gold": "9", "prediction": "so \\boxed{\\frac{18}{2}}"}' | expect false --style prime_math
if "$bin" grade --style nope </dev/null 2>/dev/null; then echo "FAIL: an unknown style was accepted"; fails=$((fails + 1)); fi
if "$bin" grade --verifier nope </dev/null 2>/dev/null; then echo "FAIL: an unknown verifier was accepted"; fails=$((fails + 1)); fi
echo "$((9 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
