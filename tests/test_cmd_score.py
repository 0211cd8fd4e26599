#!/usr/bin/env python3
"""`rlvr score` against the PyTorch reference fixtures (tests/make_fixtures.py) and its error handling.

Loads each fixture through model_load (HF directory), scores row 0 of the reference token batch at the
fixture's temperature and compares with transformers' log-probs / entropies (abs 2e-5: fp32 logits
agree to ~2e-6, divided by T = 0.7; see tests/test_engine_ref.c)."""
import json
import os
import struct
import subprocess
import sys

import numpy as np

from checks import Checks

ROOT = os.environ.get("RLVR_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
RLVR = os.path.join(os.environ.get("RLVR_BIN", os.path.join(ROOT, "build", "bin")), "rlvr")
check = Checks()


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    data = raw[8 + hlen:]
    dtypes = {"F32": np.float32, "I32": np.int32, "I64": np.int64}
    out = {"__metadata__": header.pop("__metadata__", {})}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return out


def score(*args):
    return subprocess.run([RLVR, "score", *args], capture_output=True, text=True, timeout=60)


for name in ["qwen2_gqa", "qwen2_tied", "llama_gqa", "llama_tied"]:
    d = os.path.join(ROOT, "tests", "fixtures", name)
    ref = read_safetensors(os.path.join(d, "reference.safetensors"))
    temp = ref["__metadata__"]["temperature"]
    toks = [int(x) for x in ref["tokens"][0]]
    r = score("--model", d, "--tokens", ",".join(map(str, toks)), "--temperature", temp)
    check(r.returncode == 0, f"{name}: rc {r.returncode}: {r.stderr}")
    if r.returncode != 0:
        continue
    out = json.loads(r.stdout)
    lp, ent = np.array(out["logprobs"]), np.array(out["entropies"])
    check(len(lp) == len(toks) - 1 and len(ent) == len(toks) - 1, f"{name}: {len(lp)} entries for {len(toks)} tokens")
    if len(lp) == len(toks) - 1:
        dl = np.abs(lp - ref["temp.logp"][0]).max()
        de = np.abs(ent - ref["temp.entropy"][0]).max()
        print(f"{name}: logprobs max |diff| {dl:.3g}, entropies {de:.3g}")
        check(dl <= 2e-5, f"{name}: logprobs differ by {dl}")
        check(de <= 2e-5, f"{name}: entropies differ by {de}")

# errors: exit code 2 and a message that names the problem
d = os.path.join(ROOT, "tests", "fixtures", "qwen2_gqa")
for args, needle in [
    (["--model", d, "--tokens", "1,2,128"], "outside the vocabulary"),
    (["--model", d, "--tokens", "1,,2"], "item 2"),
    (["--model", d, "--tokens", "1,-3"], "item 2"),
    (["--model", d, "--tokens", ""], "item 1"),
    (["--model", d, "--tokens", "1,2", "--temperature", "0"], "--temperature"),
    (["--model", d, "--tokens", "1,2", "--temperature", "abc"], "--temperature"),
    (["--model", d], "required"),
    (["--model", d, "--tokens", "1", "--bogus", "x"], "unknown option"),
    (["--model", os.path.join(ROOT, "no_such_model"), "--tokens", "1,2"], "no_such_model"),
]:
    r = score(*args)
    check(r.returncode == 2, f"{args}: rc {r.returncode}, expected 2")
    check(needle in r.stderr, f"{args}: stderr {r.stderr!r} lacks {needle!r}")
    check(r.stdout == "", f"{args}: printed {r.stdout!r} on error")

# one token: no next token to score, two empty arrays
r = score("--model", d, "--tokens", "5")
check(r.returncode == 0 and json.loads(r.stdout) == {"logprobs": [], "entropies": []}, f"single token: {r.stdout!r}")

sys.exit(check.summary())
