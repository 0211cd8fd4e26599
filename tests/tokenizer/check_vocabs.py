#!/usr/bin/env python3
"""Checks that each tokenizer.json written by gguf_vocab_to_json.py is the tokenizer HF ships: HF
tokenizers on it must encode llama.cpp's test strings (ggml-vocab-<v>.gguf.inp) to the ids HF produced
from the original tokenizer (ggml-vocab-<v>.gguf.out).

    .venv-tok/bin/python tests/tokenizer/check_vocabs.py ASSETS_DIR VOCAB...
"""
import sys

from tokenizers import Tokenizer

SEP = "\n__ggml_vocab_test__\n"


def main():
    assets, vocabs = sys.argv[1], sys.argv[2:]
    bad = 0
    for v in vocabs:
        tok = Tokenizer.from_file(f"{assets}/tokenizers/{v}/tokenizer.json")
        with open(f"{assets}/llama.cpp-vocab/ggml-vocab-{v}.gguf.inp", encoding="utf-8", newline="") as f:
            inp = f.read().split(SEP)[:-1]
        with open(f"{assets}/llama.cpp-vocab/ggml-vocab-{v}.gguf.out", encoding="utf-8") as f:
            out = f.read().split("\n")[:len(inp)]
        for s, o in zip(inp, out):
            want = [int(x) for x in o.split()]
            got = tok.encode(s, add_special_tokens=False).ids
            if got != want:
                bad += 1
                print(f"check_vocabs: {v}: {s[:40]!r}: HF gives {got[:10]}..., llama.cpp's reference {want[:10]}...", file=sys.stderr)
        print(f"check_vocabs: {v}: {len(inp)} reference strings", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
