#!/usr/bin/env bash
# Creates .venv-verify/ (git-ignored) with the reference verifier the differential test compares
# against: HuggingFace's Math-Verify (PyPI `math-verify`, pinned, with its ANTLR LaTeX parser).
# Idempotent: does nothing when the venv already holds that version. Run by tests/setup_assets.sh;
# tests/verifier_diff/test_math_verify_diff.py fails (not skips) when the venv is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-verify"
want="math-verify==0.9.0 latex2sympy2_extended==1.11.0 sympy==1.14.0 antlr4-python3-runtime==4.13.2"
stamp="$venv/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import math_verify" 2>/dev/null; then
  exit 0
fi
echo "setup: creating $venv with $want" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check $want
echo "$want" > "$stamp"
