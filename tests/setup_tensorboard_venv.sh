#!/usr/bin/env bash
# Creates .venv-tb/ (git-ignored) with the `tensorboard` package from PyPI (pinned): its own event-file
# reader is the reference tests/test_tensorboard.py checks the learner's event files against.
# Idempotent: does nothing when the venv already holds that version. Run by tests/setup_assets.sh;
# tests/test_tensorboard.py fails (not skips) when the venv is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-tb"
want="tensorboard==2.21.0"
stamp="$venv/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
  exit 0
fi
echo "setup: creating $venv with $want" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check $want
echo "$want" > "$stamp"
