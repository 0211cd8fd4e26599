#!/usr/bin/env bash
# Sets up the PyTorch peers of the sampling and training benchmarks in one command: a virtual
# environment at .venv-bench/ (git-ignored) holding the exact torch and transformers pinned in
# tests/bench/requirements-peers.txt. Idempotent: when the environment already holds them it only
# says so; a missing or wrong package is (re)installed.
#   tests/bench/setup_peers.sh
# Env: PYTHON (the interpreter to build the environment from; default python3), RLVR_BENCH_VENV
# (another place for it), TORCH_INDEX (where torch comes from; default PyTorch's CPU wheel index).
# torch comes from the CPU wheel index (a ~200 MB CPU-only build) when that index is reachable, and
# from PyPI otherwise, whose Linux wheel pulls in NVIDIA's CUDA libraries (~5 GB installed). The
# benchmarks run torch on the CPU either way.
set -euo pipefail
# shellcheck source=tests/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
check="$BENCH_ROOT/tests/bench/peers_check.py"
py="$BENCH_VENV/bin/python"
if [ -x "$py" ] && have="$("$py" "$check" "$BENCH_PEERS_REQ" 2>/dev/null)"; then
  echo "setup_peers: ready in $BENCH_VENV ($have)"
  exit 0
fi
python="${PYTHON:-python3}"
command -v "$python" > /dev/null || bench_die "no '$python' on PATH: install Python 3.10-3.14 or set PYTHON=/path/to/python3"
if [ ! -x "$py" ]; then
  echo "setup_peers: creating $BENCH_VENV with $("$python" --version 2>&1)"
  "$python" -m venv "$BENCH_VENV" ||
    bench_die "could not create a virtual environment with $python (on Debian/Ubuntu: apt-get install python3-venv)"
fi
pip=("$py" -m pip install --no-cache-dir --disable-pip-version-check)
index="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
torch_pin="$(grep -E '^torch==' "$BENCH_PEERS_REQ")"
if [ -n "$index" ] && "$py" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=10)" "$index" 2>/dev/null; then
  echo "setup_peers: $torch_pin from $index (CPU-only build)"
  "${pip[@]}" --index-url "$index" "$torch_pin"
else
  echo "setup_peers: ${index:-the CPU wheel index} is not reachable; $torch_pin from PyPI (with NVIDIA's CUDA libraries: a ~3 GB download)"
fi
echo "setup_peers: installing $(grep -vE '^\s*(#|$)' "$BENCH_PEERS_REQ" | tr '\n' ' ')"
"${pip[@]}" -r "$BENCH_PEERS_REQ"
have="$("$py" "$check" "$BENCH_PEERS_REQ")" || bench_die "the installed environment at $BENCH_VENV fails its check (above)"
echo "setup_peers: ready in $BENCH_VENV ($have; $(du -sh "$BENCH_VENV" | cut -f1))"
