#!/usr/bin/env python3
"""Tokenizer encode throughput, one thread, in one run: ours (build/bench/bench_tokenizer), HF
`tokenizers` and `tiktoken` on the same documents with the same vocabulary, and the ratios.

    .venv-tok/bin/python tests/bench/bench_tokenizer.py [--quick] [--vocab qwen2|llama-bpe|gpt-2] [BUILD_DIR]

Needs a Release build (launch/build.sh build) and the assets of launch/setup.sh (.venv-tok with the
pinned tokenizers / tiktoken, the vocabularies in .assets/tokenizers/). Run it on a quiet machine.

The text: every string field (problem, solution, ...) of $RLVR_DATA/train/math_train_7500.jsonl
(default ../shared/data beside the repository), one document each: math prose with LaTeX, the
project's own domain. --quick uses the first 1,000 documents and 2 passes (a smoke run: its figures
mean little).

How each is timed (best of N passes, each pass encodes every document once, single thread):
  ours       tokenizer_encode per document; the piece cache is emptied before each pass
  tokenizers Tokenizer.encode(doc, add_special_tokens=False) per document, TOKENIZERS_PARALLELISM=false,
             RAYON_NUM_THREADS=1; its BPE cache is cleared before each pass when the version allows
  tiktoken   Encoding.encode_ordinary(doc) per document, built from a local ranks file written from
             the same tokenizer.json (rank = id: these vocabularies were trained in rank order) and the
             same pre-tokenizer pattern
The token counts are printed side by side: ours must equal tokenizers' exactly (tiktoken has no NFC
step and uses another regex engine, so its count may differ slightly on unusual text).
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

import tiktoken  # noqa: E402
import tiktoken.load  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BYTE_TO_CHAR = {}


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def load_docs(quick):
    data = os.environ.get("RLVR_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
    path = os.path.join(data, "train", "math_train_7500.jsonl")
    if not os.path.exists(path):
        sys.exit(f"bench_tokenizer: {path} is missing (set RLVR_DATA to the data directory)")
    docs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            for v in json.loads(line).values():
                if isinstance(v, str) and v:
                    docs.append(v)
            if quick and len(docs) >= 1000:
                break
    return docs


def tiktoken_encoding(tok_json, workdir):
    spec = json.load(open(tok_json, encoding="utf-8"))
    rev = bytes_to_unicode()
    ranks_path = os.path.join(workdir, "ranks.tiktoken")
    with open(ranks_path, "w") as f:
        for s, i in sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1]):
            f.write(base64.b64encode(bytes(rev[c] for c in s)).decode() + " " + str(i) + "\n")
    pre = spec["pre_tokenizer"]
    steps = pre.get("pretokenizers", [pre])
    pattern = next((p["pattern"]["Regex"] for p in steps if p["type"] == "Split"), None)
    if pattern is None:   # GPT-2: ByteLevel's own regex
        pattern = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
    ranks = tiktoken.load.load_tiktoken_bpe(ranks_path)   # the local ranks file, as tiktoken loads its own
    return tiktoken.Encoding(name="bench", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})


def best_of(passes, fn):
    best, count = 1e30, 0
    for _ in range(passes):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return best, count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--vocab", default="qwen2")
    ap.add_argument("--passes", type=int, default=0)
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    passes = a.passes or (2 if a.quick else 5)
    assets = os.environ.get("RLVR_ASSETS", os.path.join(ROOT, ".assets"))
    tok_json = os.path.join(assets, "tokenizers", a.vocab, "tokenizer.json")
    exe = os.path.join(a.build, "bench", "bench_tokenizer")
    for p, hint in ((tok_json, "run launch/setup.sh"), (exe, "build with launch/build.sh")):
        if not os.path.exists(p):
            sys.exit(f"bench_tokenizer: {p} is missing ({hint})")
    docs = load_docs(a.quick)
    nbytes = sum(len(d.encode()) for d in docs)
    with tempfile.TemporaryDirectory() as tmp:
        docs_path = os.path.join(tmp, "docs.bin")
        with open(docs_path, "wb") as f:
            f.write(b"\0".join(d.encode() for d in docs))
        out = subprocess.run([exe, tok_json, docs_path, str(passes)], capture_output=True, text=True, check=True).stdout
        res = dict(kv.split("=") for kv in out.strip().splitlines()[-1].split()[1:])
        ours_s, ours_n = float(res["best_s"]), int(res["tokens"])
        hf = Tokenizer.from_file(tok_json)

        def run_hf():
            if hasattr(hf.model, "_clear_cache"):
                hf.model._clear_cache()
            return sum(len(hf.encode(d, add_special_tokens=False).ids) for d in docs)

        hf_s, hf_n = best_of(passes, run_hf)
        enc = tiktoken_encoding(tok_json, tmp)
        tt_s, tt_n = best_of(passes, lambda: sum(len(enc.encode_ordinary(d)) for d in docs))
    mb = nbytes / 1e6
    print(f"bench_tokenizer: vocab {a.vocab}, {len(docs)} documents, {mb:.2f} MB, best of {passes} passes, one thread"
          f"{' (--quick: a smoke run)' if a.quick else ''}")
    print(f"{'':12s} {'MB/s':>8s} {'tokens':>10s} {'ours / it':>10s}")
    for name, s, n in (("ours", ours_s, ours_n), ("tokenizers", hf_s, hf_n), ("tiktoken", tt_s, tt_n)):
        print(f"{name:12s} {mb / s:8.2f} {n:10d} {(mb / ours_s) / (mb / s):10.2f}")
    if ours_n != hf_n:
        print(f"bench_tokenizer: WARNING: token counts differ from tokenizers' ({ours_n} vs {hf_n})")
        sys.exit(1)


if __name__ == "__main__":
    main()
