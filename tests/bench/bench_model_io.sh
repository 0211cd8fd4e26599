#!/usr/bin/env bash
# Times `rlvr convert` on a ~57M-parameter Qwen2-shaped model stored as BF16 safetensors:
# HF (BF16) -> native .h5 (F32) -> HF (F32). Usage: tests/bench/bench_model_io.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/build}/bin/rlvr"
tmp="$(mktemp -d /tmp/rlvr_bench_mio_XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/src" "$root/tests" <<'PY'
import json, os, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
import test_safetensors_interop as t
cfg = dict(t.CFG, vocab_size=32000, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
           num_attention_heads=8, num_key_value_heads=2)
os.makedirs(sys.argv[1])
json.dump(cfg, open(os.path.join(sys.argv[1], "config.json"), "w"))
rng = np.random.default_rng(0)
tens = {}
for name, s in t.qwen2_shapes(cfg).items():
    x = rng.standard_normal(s, dtype=np.float32)
    tens[name] = ("BF16", s, (x.view(np.uint32) >> 16).astype("<u2").tobytes())
t.write_safetensors(os.path.join(sys.argv[1], "model.safetensors"), tens)
PY
for _ in 1 2 3; do
  /usr/bin/time -f "HF(BF16) -> h5:  %e s, max RSS %M KB" "$bin" convert "$tmp/src" "$tmp/m.h5" >/dev/null
  /usr/bin/time -f "h5 -> HF(F32):   %e s, max RSS %M KB" "$bin" convert "$tmp/m.h5" "$tmp/out" >/dev/null
done
