#!/usr/bin/env bash
# What only the tests need, fetched from PyPI (pinned) into git-ignored folders; tests/run_all.sh runs
# it after launch/setup.sh. Each step does nothing when its assets are already in place:
#   tests/setup_verify_venv.sh   .venv-verify/: Math-Verify, the reference of tests/test_verifier_diff.py
#   tests/gguf_setup.sh          .venv-gguf/ and .cache/: the gguf package, HF tokenizers, SmolLM2's GGUF,
#                                llama.cpp's vocabularies (the GGUF tests)
#   tests/setup_tensorboard_venv.sh   .venv-tb/: the tensorboard package, whose reader tests/test_tensorboard.py
#                                checks the learner's event files with
#   tests/tokenizer/setup_assets.sh   .venv-tok/ and .assets/: HF tokenizers and tiktoken, the Qwen2,
#                                LLaMA-3, GPT-2 and StarCoder vocabularies as tokenizer.json (tokenizer tests)
# A test whose asset is missing fails and names this script; it is never skipped as passed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/setup_verify_venv.sh"
"$here/gguf_setup.sh"
"$here/tokenizer/setup_assets.sh"
"$here/setup_tensorboard_venv.sh"
