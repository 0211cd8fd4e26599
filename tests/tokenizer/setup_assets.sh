#!/usr/bin/env bash
# Fetches what the tokenizer tests and benchmark need, from PyPI, into git-ignored folders; run by
# launch/setup.sh (so by tests/run_all.sh). Idempotent: a second run checks a stamp and returns.
#   .venv-tok/                       HF tokenizers, tiktoken and gguf (tests/tokenizer/requirements.txt)
#   .assets/llama.cpp-vocab/         ggml-vocab-{qwen2,llama-bpe,gpt-2,starcoder}.gguf + .inp/.out, from the
#                                    llama-cpp-python source tarball (tests/tokenizer/vocab-source.txt)
#   .assets/tokenizers/<vocab>/      tokenizer.json + tokenizer_config.json written from each GGUF
#                                    (tests/tokenizer/gguf_vocab_to_json.py), then checked: HF tokenizers
#                                    must encode llama.cpp's test strings (.inp) to HF's ids (.out)
# Nothing here is committed: the vocabularies come from the registry on every fresh machine.
# Env: RLVR_ASSETS (another place for .assets), PYTHON (the interpreter for the venv; /usr/bin/python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/tokenizer"
assets="${RLVR_ASSETS:-$root/.assets}"
venv="$root/.venv-tok"
vocabs=(qwen2 llama-bpe gpt-2 starcoder)
stamp="$assets/tokenizers/READY"
want_stamp="$(cat "$here/requirements.txt" "$here/vocab-source.txt" "$here/gguf_vocab_to_json.py" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
die() { echo "setup_assets: $*" >&2; exit 1; }
python="${PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python="$(command -v python3)" || die "no python3 (install python3 and python3-venv)"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup_assets: creating $venv" >&2
  "$python" -m venv "$venv" || die "cannot create $venv (on Debian: apt-get install python3-venv)"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
echo "setup_assets: installing $(grep -vE '^\s*(#|$)' "$here/requirements.txt" | tr '\n' ' ')into $venv" >&2
"${pip[@]}" install -r "$here/requirements.txt" || die "pip install -r tests/tokenizer/requirements.txt failed (is PyPI reachable?)"
dl="$(mktemp -d)"
trap 'rm -rf "$dl"' EXIT
read -r req sha < <(grep -vE '^\s*(#|$)' "$here/vocab-source.txt")
echo "setup_assets: downloading the $req source tarball (~75 MB) for its vocab files" >&2
# --no-binary for this package only: its build requirements come as wheels (pip prepares the
# sdist's metadata, and building cmake from source for that takes many minutes).
"${pip[@]}" download --no-deps --no-binary "${req%%==*}" "$req" -d "$dl" || die "pip download $req failed (is PyPI reachable?)"
tarball="$(ls "$dl"/llama_cpp_python-*.tar.gz)"
got="$(sha256sum "$tarball" | cut -d' ' -f1)"
[ "$got" = "$sha" ] || die "$(basename "$tarball") has sha256 $got, tests/tokenizer/vocab-source.txt expects $sha"
top="$(basename "$tarball" .tar.gz)"
mkdir -p "$assets/llama.cpp-vocab"
members=()
for v in "${vocabs[@]}"; do
  for ext in gguf gguf.inp gguf.out; do members+=("$top/vendor/llama.cpp/models/ggml-vocab-$v.$ext"); done
done
tar -xzf "$tarball" -C "$dl" "${members[@]}" || die "the tarball lacks a vocab file (${members[*]})"
for m in "${members[@]}"; do cp "$dl/$m" "$assets/llama.cpp-vocab/"; done
for v in "${vocabs[@]}"; do
  "$venv/bin/python" "$here/gguf_vocab_to_json.py" "$assets/llama.cpp-vocab/ggml-vocab-$v.gguf" "$assets/tokenizers/$v" \
    || die "converting ggml-vocab-$v.gguf to tokenizer.json failed"
done
"$venv/bin/python" "$here/check_vocabs.py" "$assets" "${vocabs[@]}" || die "a converted tokenizer.json does not reproduce HF's ids"
echo "$want_stamp" > "$stamp"
echo "setup_assets: ready ($assets/tokenizers: ${vocabs[*]})" >&2
