#!/usr/bin/env python3
"""The tokenizer.json text built from GGUF files (gguf_tokenizer_json, printed by gguf_tool) against
HF's references, for llama.cpp's vocabulary-only GGUF files (the llama-cpp-python source tarball)
and SmolLM2's GGUF, all fetched by tests/setup_assets.sh -> tests/gguf_setup.sh:

1. HF `tokenizers` loads the text, and encodes every test string of ggml-vocab-NAME.gguf.inp to the
   ids in .gguf.out, which llama.cpp's convert_hf_to_gguf_update.py wrote with the ORIGINAL HF
   tokenizer (encode(text, add_special_tokens=False)).
2. The "chkhsh" of llama.cpp's converter (sha256 of str(tokenizer.encode(CHK_TXT)), special tokens
   added) equals the hash llama.cpp's conversion/base.py records for that pre-tokenizer name: a check
   of the whole pipeline (pre-tokenizer, merges, BOS post-processor) against the original tokenizer
   of the model family, SmolLM's included.
3. A few hundred more strings (LaTeX, code, CJK, emoji, whitespace runs, special tokens in running
   text, non-NFC text) encode as transformers' own GGUF tokenizer conversion encodes them
   (convert_gguf_tokenizer, what AutoTokenizer.from_pretrained(gguf_file=...) builds), with the documented differences where
   transformers departs from the original: no NFC for qwen2 (compared on NFC text), no Digits split
   for smollm/starcoder/refact, no ignore_merges for llama-bpe (those are compared only through 1
   and 2). The vocabulary, merges and added tokens must equal transformers' exactly.
4. decode(encode(s)) == s (NFC(s) for qwen2).
Runs under .venv-gguf/bin/python (re-executes itself there).
"""
import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import unicodedata

ROOT = os.environ.get("RLVR_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("RLVR_GGUF_VENV", os.path.join(ROOT, ".venv-gguf"))
VENV_PY = os.path.join(VENV, "bin", "python")
CACHE = os.environ.get("RLVR_CACHE", os.path.join(ROOT, ".cache"))
LLAMA_CPP = os.path.join(CACHE, "assets", "llama.cpp")
SMOLLM2 = os.path.join(CACHE, "assets", "SmolLM2-135M-Instruct.Q4_1.gguf")

try:
    import tokenizers  # noqa: F401
except ImportError:
    if os.path.exists(VENV_PY) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(VENV_PY, [VENV_PY] + sys.argv)
    print(f"FAIL: {VENV_PY} with HF tokenizers is missing: run tests/setup_assets.sh (tests/run_all.sh runs it)")
    sys.exit(1)

from tokenizers import Tokenizer  # noqa: E402

from checks import Checks  # noqa: E402

TOOL = os.environ.get("RLVR_GGUF_TOOL") or os.path.join(ROOT, "build", "tests", "gguf_tool")
# vocabulary file -> (tokenizer.ggml.pre, what transformers' GGUF conversion leaves out)
VOCABS = {
    "gpt-2": ("gpt-2", None),
    "llama-bpe": ("llama-bpe", "ignore_merges"),
    "qwen2": ("qwen2", "nfc"),
    "starcoder": ("starcoder", "digits"),
    "refact": ("refact", "digits"),
}
check = Checks()


def read_inp_out(name):
    base = os.path.join(LLAMA_CPP, "models", f"ggml-vocab-{name}.gguf")
    with open(base + ".inp", encoding="utf-8", newline="") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    with open(base + ".out", encoding="utf-8") as f:
        ids = [[int(x) for x in line.split()] for line in f.read().split("\n")]
    texts[-1] = texts[-1].removesuffix("\n__ggml_vocab_test__\n").removesuffix("\n__ggml_vocab_test__")
    return texts, ids[: len(texts)]


def chk_hashes():
    """pre-tokenizer name -> set of chkhsh values, from llama.cpp's conversion/base.py."""
    src = open(os.path.join(LLAMA_CPP, "conversion", "base.py"), encoding="utf-8").read()
    out = {}
    for h, name in re.findall(r'chkhsh == "([0-9a-f]{64})":\s*\n(?:\s*#[^\n]*\n)*\s*res = "([^"]+)"', src):
        out.setdefault(name, set()).add(h)
    return out


def chk_txt():
    src = open(os.path.join(LLAMA_CPP, "convert_hf_to_gguf_update.py"), encoding="utf-8").read()
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CHK_TXT":
            return ast.literal_eval(node.value)
    raise SystemExit("CHK_TXT not found in convert_hf_to_gguf_update.py")


def extra_strings(specials):
    s = [
        r"\frac{a}{b} + \sqrt{x^2+1} = \int_0^1 f(x)\,dx", r"$\boxed{42}$", "Let $x = 3.14159$ and $y = 2^{10}$.",
        "The answer is \\(\\frac{1}{2}\\).", "def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
        "if __name__ == '__main__':\n\tmain()", "SELECT * FROM t WHERE id = 7;", "我想在apple工作1314151天～", "日本語のテキストです。",
        "한국어 문장입니다.", "Ελληνικά κείμενα", "нещо на Български", "مرحبا بالعالم", "🚀 (normal) 😶‍🌫️ (multiple emojis) ✅ 🦙🦙",
        "👨‍👩‍👧‍👦 family", "   leading spaces", "trailing spaces   ", "tabs\t\tand\nnewlines\n\n\n", "\r\n\r\nwindows", " ", "  ", "\n",
        "a  b   c    d", "3 33 333 3333 33333 333333", "1,234,567.89", "0.000001", "I've been 'told he's there, 'RE you sure?",
        "We'Ve a'lL DON'T", "CamelCaseWords and snake_case_words", "https://example.com/path?q=1&r=2", "email@example.com",
        "Ünïcödé àccénts", "naïve café résumé", "ﬁ ligature ＡＢＣ fullwidth", "x\u0301 combining", "e\u0301le\u0300ve",
        "Å vs A\u030a", "\u00a0non-breaking\u00a0space", "zero\u200bwidth", "''''''```````\"\"\"\"......!!!!!!??????",
        "------======= ***", "<html><body>Hi</body></html>", '{"key": [1, 2, 3]}', "ÄÖÜäöüß", "ĠĠ weird Ġ",
    ]
    for sp in specials[:4]:
        s += [f"Hello{sp}world", f"{sp}start", f"end{sp}", f"a {sp} b {sp}{sp} c"]
    words = ["the", "cat", "42", "x²", "∑", "naïve", "日本", "🙂", " ", "\n", "don't", "3.5", "Hello", "WORLD", "_", "()", "é"]
    import random
    rng = random.Random(7)
    for _ in range(240):
        s.append("".join(rng.choice(words) + rng.choice(["", " ", "  ", "\n", "\t"]) for _ in range(rng.randint(1, 12))))
    return s


def tokenizer_text(path):
    r = subprocess.run([TOOL, "tokenizer", path], capture_output=True, text=True, encoding="utf-8")
    check(r.returncode == 0, f"gguf_tool tokenizer {path}: {r.stderr.strip()}")
    return r.stdout if r.returncode == 0 else None


def transformers_tokenizer(path):
    """transformers' GGUF tokenizer conversion (what AutoTokenizer.from_pretrained(gguf_file=...) builds).
    Its own metadata reader needs torch, so the metadata is read with the gguf package into the same
    dict get_gguf_tokenizer makes."""
    from gguf import GGUFReader
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer
    r = GGUFReader(path)
    d = {}
    for key, name in GGUF_TOKENIZER_MAPPING["tokenizer"].items():
        f = r.fields.get("tokenizer." + key)
        if f is not None:
            d[name] = f.contents()
    backend, _ = convert_gguf_tokenizer(r.fields["general.architecture"].contents(), d)
    return backend


def compare_transformers(path, ours_json, ours, pre, gap, strings):
    hf = transformers_tokenizer(path)
    theirs = json.loads(hf.to_str())
    mine = json.loads(ours_json)
    tv, mv = theirs["model"]["vocab"], mine["model"]["vocab"]
    # transformers keeps llama.cpp's "[PAD<id>]" fillers; we drop them (the original has none).
    tv_real = {k: v for k, v in tv.items() if k != f"[PAD{v}]"}
    check(tv_real == mv, f"{pre}: vocabulary differs from transformers' ({len(mv)} vs {len(tv_real)} entries)")
    tm = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in theirs["model"]["merges"]]
    mm = [tuple(m) for m in mine["model"]["merges"]]
    check(tm == mm, f"{pre}: merges differ from transformers' ({len(mm)} vs {len(tm)})")
    # transformers' GPT2Tokenizer also appends its default "<|endoftext|>" past the vocabulary when the
    # file has none (llama-bpe): not a token of the model, left out of the comparison.
    n_tokens = len(tv)
    tadd = {(a["id"], a["content"], a["special"]) for a in theirs["added_tokens"]
            if a["content"] != f"[PAD{a['id']}]" and a["id"] < n_tokens}
    madd = {(a["id"], a["content"], a["special"]) for a in mine["added_tokens"]}
    check(tadd == madd, f"{pre}: added tokens differ from transformers': {sorted(tadd ^ madd)[:5]}")
    if gap in ("digits", "ignore_merges"):
        return 0, 0
    same = 0
    for s in strings:
        text = unicodedata.normalize("NFC", s) if gap == "nfc" else s
        a = ours.encode(text, add_special_tokens=False).ids
        b = hf.encode(text, add_special_tokens=False).ids
        check(a == b, f"{pre}: {text!r}: ours {a[:12]} vs transformers {b[:12]}")
        same += a == b
    return same, len(strings)


def run_file(label, path, pre, gap, hashes, chk, strings):
    text = tokenizer_text(path)
    if text is None:
        return
    ours = Tokenizer.from_str(text)
    n_io = 0
    if label != "smollm2":
        texts, want = read_inp_out(label)
        for t, ids in zip(texts, want):
            got = ours.encode(t, add_special_tokens=False).ids
            check(got == ids, f"{label}: {t!r}: {got} != HF's {ids}")
            n_io += got == ids
    h = hashlib.sha256(str(ours.encode(chk).ids).encode()).hexdigest()
    check(h in hashes.get(pre, set()), f"{label}: chkhsh {h} is not llama.cpp's hash for '{pre}'")
    specials = [a["content"] for a in json.loads(text)["added_tokens"] if a["special"]]
    round_trip = 0
    for s in strings:
        want = unicodedata.normalize("NFC", s) if gap == "nfc" else s
        ok = ours.decode(ours.encode(s, add_special_tokens=False).ids, skip_special_tokens=False) == want
        round_trip += ok
        check(ok, f"{label}: decode(encode({s!r})) != input")
    same, total = compare_transformers(path, text, ours, pre, gap, strings + [f"x{sp}y" for sp in specials[:8]])
    print(f"{label:10s} (pre {pre}): .inp/.out {n_io} strings equal to HF's ids; chkhsh = llama.cpp's '{pre}' hash: "
          f"{h in hashes.get(pre, set())}; round trip {round_trip}/{len(strings)}; "
          + (f"vs transformers' GGUF tokenizer {same}/{total} equal" if total else
             f"vocabulary/merges/added tokens equal to transformers' (its encoding lacks {gap})"))


def main():
    for need in (TOOL, SMOLLM2, os.path.join(LLAMA_CPP, "conversion", "base.py")):
        if not os.path.exists(need):
            print(f"FAIL: {need} is missing: run tests/setup_assets.sh (tests/run_all.sh runs it)")
            return 1
    hashes, chk = chk_hashes(), chk_txt()
    strings = extra_strings(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>"])
    for label, (pre, gap) in VOCABS.items():
        run_file(label, os.path.join(LLAMA_CPP, "models", f"ggml-vocab-{label}.gguf"), pre, gap, hashes, chk, strings)
    run_file("smollm2", SMOLLM2, "smollm", "digits", hashes, chk, strings)
    # Not byte-level BPE, or a pre-tokenizer without a known original: a clear error, not a guess.
    for label, needle in (("llama-spm", "tokenizer.ggml.model 'llama' is not supported"),
                          ("deepseek-llm", "tokenizer.ggml.pre 'deepseek-llm' is not supported")):
        r = subprocess.run([TOOL, "tokenizer", os.path.join(LLAMA_CPP, "models", f"ggml-vocab-{label}.gguf")],
                           capture_output=True, text=True)
        check(r.returncode != 0 and needle in r.stderr, f"{label}: expected an error with {needle!r}, got {r.stderr!r}")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
