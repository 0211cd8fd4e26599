#!/usr/bin/env bash
# rlvr generate: output, per-sample seeding (sample 0 of -n 3 == the -n 1 run), and argument errors.
set -u
BIN="${RLVR_BIN:-build/bin}"
ROOT="${RLVR_ROOT:-.}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

# A fixture model with the built-in char tokenizer declared in its config.
mkdir -p "$tmp/m"
cp "$ROOT/tests/fixtures/llama_tied/model.safetensors" "$tmp/m/"
/usr/bin/python3 - "$ROOT/tests/fixtures/llama_tied/config.json" "$tmp/m/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["rlvr_tokenizer"] = "char"; json.dump(c, open(sys.argv[2], "w"))
PY

out1="$("$BIN/rlvr" generate --model "$tmp/m" --prompt "ab" --max-tokens 12 --temperature 0)"; rc=$?
check "greedy exit 0" '[ $rc -eq 0 ]'
out2="$("$BIN/rlvr" generate --model "$tmp/m" --prompt "ab" --max-tokens 12 --temperature 0)"
check "greedy is deterministic" '[ "$out1" = "$out2" ]'

s1="$("$BIN/rlvr" generate --model "$tmp/m" --prompt "x=1" --max-tokens 10 --seed 7 --top-p 0.9 -n 1)"; rc=$?
check "sampling exit 0" '[ $rc -eq 0 ]'
s3="$("$BIN/rlvr" generate --model "$tmp/m" --prompt "x=1" --max-tokens 10 --seed 7 --top-p 0.9 -n 3)"; rc=$?
check "-n 3 exit 0" '[ $rc -eq 0 ]'
check "-n 3 prints 3 headers" '[ "$(printf "%s\n" "$s3" | grep -c "^=== sample")" -eq 3 ]'
first="$(printf "%s\n" "$s3" | awk '/^=== sample 0/{f=1;next} /^=== sample 1/{f=0} f')"
check "sample 0 of -n 3 equals the -n 1 run" '[ "$first" = "$s1" ]'

# --batch: fewer slots than samples (finished ones refilled) gives the same samples.
s3b="$("$BIN/rlvr" generate --model "$tmp/m" --prompt "x=1" --max-tokens 10 --seed 7 --top-p 0.9 -n 3 --batch 1)"; rc=$?
check "-n 3 --batch 1 exit 0" '[ $rc -eq 0 ]'
check "-n 3 --batch 1 equals -n 3" '[ "$s3b" = "$s3" ]'

expect_err() {  # name, expected substring, args...
  local name="$1" want="$2"; shift 2
  local msg; msg="$("$BIN/rlvr" generate "$@" 2>&1 >/dev/null)"; local rc=$?
  check "$name: exit 2" '[ $rc -eq 2 ]'
  check "$name: message mentions '$want'" 'printf "%s" "$msg" | grep -q -- "$want"'
}
expect_err "missing --prompt" "--prompt" --model "$tmp/m"
expect_err "bad top-p" "--top-p" --model "$tmp/m" --prompt a --top-p 1.5
expect_err "bad temperature" "--temperature" --model "$tmp/m" --prompt a --temperature -1
expect_err "bad max-tokens" "--max-tokens" --model "$tmp/m" --prompt a --max-tokens 0
expect_err "bad top-k" "--top-k" --model "$tmp/m" --prompt a --top-k x
expect_err "bad seed" "--seed" --model "$tmp/m" --prompt a --seed -3
expect_err "bad -n" "-n" --model "$tmp/m" --prompt a -n 0
expect_err "unknown option" "unknown option" --model "$tmp/m" --prompt a --bogus 1
expect_err "missing model" "cannot load model" --model "$tmp/nope" --prompt a
expect_err "no tokenizer" "tokenizer" --model "$ROOT/tests/fixtures/llama_tied" --prompt a
expect_err "non-ASCII prompt" "offset" --model "$tmp/m" --prompt "$(printf 'a\001b')"
expect_err "bad device" "cpu or cuda" --model "$tmp/m" --prompt a --device gpu
expect_err "bf16 on the cpu" "needs device cuda" --model "$tmp/m" --prompt a --precision bf16
expect_err "bad memory fraction" "gpu-memory-fraction" --model "$tmp/m" --prompt a --gpu-memory-fraction 1.5
# --device cuda: a build without the backend names -DRLVR_CUDA=ON; one with it but no GPU names CUDA_VISIBLE_DEVICES.
msg="$(CUDA_VISIBLE_DEVICES= "$BIN/rlvr" generate --model "$tmp/m" --prompt a --device cuda 2>&1 >/dev/null)"; rc=$?
check "cuda without a device: exit 2" '[ $rc -eq 2 ]'
check "cuda without a device: says how to get one" 'printf "%s" "$msg" | grep -q -e "-DRLVR_CUDA=ON" -e "CUDA_VISIBLE_DEVICES"'
for sub in score eval; do
  msg="$(CUDA_VISIBLE_DEVICES= "$BIN/rlvr" $sub --model "$tmp/m" --tokens 1,2 --data arith --device cuda 2>&1 >/dev/null)"; rc=$?
  check "$sub --device cuda without a device: exit 2" '[ $rc -eq 2 ]'
  check "$sub --device cuda without a device: says how to get one" 'printf "%s" "$msg" | grep -q -e "-DRLVR_CUDA=ON" -e "CUDA_VISIBLE_DEVICES"'
done
msg="$("$BIN/rlvr" analyze entropy --model "$tmp/m" --data arith --device cuda 2>&1 >/dev/null)"; rc=$?
check "analyze --device cuda: exit 2, refused" '[ $rc -eq 2 ] && printf "%s" "$msg" | grep -q "CPU engine"'
exit $fail
