#!/usr/bin/env python3
"""Writes the HF tokenizer.json of a llama.cpp vocab-only GGUF file (a test asset, not a product path).

    .venv-tok/bin/python tests/tokenizer/gguf_vocab_to_json.py ggml-vocab-qwen2.gguf OUT_DIR

llama.cpp's vocab files (vendor/llama.cpp/models/ggml-vocab-*.gguf in the llama-cpp-python source
tarball) hold the tokens, their types and the merges of the HF tokenizer they were converted from,
plus the name of its pre-tokenizer (tokenizer.ggml.pre). The regular expressions and options that
name stands for are written out below as the HF tokenizer.json files of those families spell them.
Whether the result is the tokenizer HF ships is checked, not assumed: tests/tokenizer/setup_assets.sh
encodes llama.cpp's own test strings (*.gguf.inp) with HF `tokenizers` on the written file and
requires the ids HF produced from the original (*.gguf.out).

Writes OUT_DIR/tokenizer.json and OUT_DIR/tokenizer_config.json (bos/eos tokens, chat template when
the GGUF has one).
"""
import json
import os
import re
import sys

import gguf

# The Split patterns of the HF tokenizer.json files (Qwen2 and LLaMA-3 differ only in \p{N} vs \p{N}{1,3}).
QWEN2_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def byte_level(add_prefix_space=False, trim_offsets=True, use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": use_regex}


def split(pattern):
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}


# tokenizer.ggml.pre -> (normalizer, pre_tokenizer, ignore_merges, adds BOS)
FAMILIES = {
    "qwen2": ({"type": "NFC"}, {"type": "Sequence", "pretokenizers": [split(QWEN2_RE), byte_level(False, False, False)]}, False, False),
    "llama-bpe": (None, {"type": "Sequence", "pretokenizers": [split(LLAMA3_RE), byte_level(False, True, False)]}, True, True),
    "gpt-2": (None, byte_level(False, True, True), False, False),
    "starcoder": (None, {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                                 byte_level(False, True, True)]}, False, False),
}

TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED = 1, 3, 4
PAD_RE = re.compile(r"^\[PAD\d+\]$")   # llama.cpp pads the vocabulary to the model's size with these


def field(r, key, default=None):
    f = r.fields.get(key)
    return f.contents() if f is not None else default


def convert(path):
    r = gguf.GGUFReader(path)
    if field(r, "tokenizer.ggml.model") != "gpt2":
        raise SystemExit(f"{path}: tokenizer.ggml.model is {field(r, 'tokenizer.ggml.model')!r}, not byte-level BPE ('gpt2')")
    pre = field(r, "tokenizer.ggml.pre")
    if pre not in FAMILIES:
        raise SystemExit(f"{path}: pre-tokenizer {pre!r} is not one of {sorted(FAMILIES)}")
    normalizer, pre_tokenizer, ignore_merges, adds_bos = FAMILIES[pre]
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = field(r, "tokenizer.ggml.merges")
    vocab, added = {}, []
    for i, (t, ty) in enumerate(zip(tokens, types)):
        if ty == TOKEN_NORMAL:
            vocab[t] = i
        elif ty == TOKEN_USER_DEFINED and PAD_RE.match(t):
            continue
        elif ty in (TOKEN_CONTROL, TOKEN_USER_DEFINED):
            special = ty == TOKEN_CONTROL
            added.append({"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": not special, "special": special})
        else:
            raise SystemExit(f"{path}: token {i} {t!r} has type {ty}, which this converter does not handle")
    bos = field(r, "tokenizer.ggml.bos_token_id")
    eos = field(r, "tokenizer.ggml.eos_token_id")
    post = byte_level(False, True, False)
    if adds_bos:
        bos_tok = tokens[bos]
        post = {"type": "Sequence", "processors": [post, {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos_tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos_tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos_tok, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos_tok: {"id": bos_tok, "ids": [bos], "tokens": [bos_tok]}}}]}
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post,
        "decoder": byte_level(True, True, True),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": ignore_merges,
                  "vocab": vocab, "merges": [m.split(" ") for m in merges]},
    }
    cfg = {"bos_token": tokens[bos] if bos is not None else None, "eos_token": tokens[eos] if eos is not None else None,
           "model_max_length": 131072, "tokenizer_class": "PreTrainedTokenizerFast"}
    tmpl = field(r, "tokenizer.chat_template")
    if tmpl:
        cfg["chat_template"] = tmpl
    return tok, cfg


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    tok, cfg = convert(sys.argv[1])
    os.makedirs(sys.argv[2], exist_ok=True)
    with open(os.path.join(sys.argv[2], "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(sys.argv[2], "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
