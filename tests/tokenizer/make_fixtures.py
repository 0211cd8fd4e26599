#!/usr/bin/env python3
"""Reference token ids from HF `tokenizers` for tests/test_tokenizer_fixtures.c.

Regenerate (CI never runs this; it uses the committed files):

    launch/setup.sh                                   # fetches the vocabularies (tests/tokenizer/setup_assets.sh)
    .venv-tok/bin/python tests/tokenizer/make_fixtures.py

Writes tests/fixtures/tokenizer/:
  strings.jsonl      the test strings, one JSON object a line: {"s": text} or, for bytes that are not
                     valid UTF-8, {"hex": "..."}; a few thousand, made from a fixed seed: math with
                     LaTeX, code, prose with contractions, CJK, emoji (ZWJ sequences, flags, skin tones),
                     whitespace runs (tabs, CR, NBSP, U+3000, U+2028, U+180E, U+0085), special tokens
                     mid-text and their near misses, invalid UTF-8, combining marks (NFC), digits of
                     many scripts, long words and runs (the BPE heap path), random code points.
  ids_<vocab>.txt    one line per string: the ids HF encodes it to (add_special_tokens=False), space
                     separated. Invalid UTF-8 is given to HF as bytes.decode("utf-8", "replace").
  decode_<vocab>.jsonl  random id sequences (with special tokens) and HF's decode of each, with and
                     without skip_special_tokens: {"ids": [...], "text": ..., "text_skip": ...}.
  synthetic_<x>/     small byte-level tokenizers HF trains here on the strings (700 ids), dressed with
                     the options the real vocabularies leave unused (NFKC / NFD, Split with a String
                     pattern, Removed / MergedWithPrevious / MergedWithNext / Contiguous / invert, Digits
                     both ways, ByteLevel add_prefix_space, ignore_merges, added tokens with lstrip /
                     rstrip / single_word / normalized, TemplateProcessing around the text): their
                     tokenizer.json and ids.txt, HF's ids with add_special_tokens=True for every
                     SYNTH_EVERY-th string (0, 3, 6, ...).
The vocabularies are qwen2, llama-bpe (LLaMA-3) and gpt-2: the tokenizer.json files setup_assets.sh
writes from llama.cpp's vocab files into .assets/tokenizers/<vocab>/.

The script also checks that HF decodes every string's ids back to the string (NFC-normalized for
qwen2), so a fixture never records a tokenizer that loses text.
"""
import json
import os
import random
import sys
import unicodedata

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("RLVR_ASSETS", os.path.join(ROOT, ".assets"))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
VOCABS = ["qwen2", "llama-bpe", "gpt-2"]
SEED = 20240612
N_DECODE = 400   # random id sequences per vocabulary
SYNTH_EVERY = 3  # the synthetic tokenizers' fixtures take every third string

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_7|>", "<|finetune_right_pad_id|>"]
NEAR_MISSES = ["<|im_", "<|im_end", "|im_end|>", "<|endoftext", "<|endoftext|", "< |im_end|>", "<|IM_END|>",
               "<<|im_end|>>", "<|im_start|><|im_start|>", "<|eot_id|><|eot_id|>", "<|"]
WORDS = ("the of and to in is that for it as was with be by on not he I this are or his from at which but have an they you "
         "were her she there been one all we their has would when if so what no can more about said out up its into them "
         "than other some could time these two may then do first any my now such like our over man me even most made after "
         "also did many before must through back years where much your way well down should because each just those people "
         "how too little state good very make world still own see men work long get here between both life being under never "
         "day same another know while last might us great old year off come since against go came right used take three "
         "integer polynomial triangle probability derivative sequence equation remainder divisible coefficient circle").split()
CONTRACTIONS = ["I'm", "don't", "can't", "they'll", "He's", "we've", "you'd", "It'S", "WE'VE", "they'LL", "o'clock",
                "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'ſ", "'Ś", "rock'n'roll", "''", "'", "’s", "‘quoted’"]
LATEX = [r"\frac{%d}{%d}", r"\sqrt{%d}", r"\boxed{%d}", r"x^{%d}", r"a_{%d}", r"\binom{%d}{%d}", r"\left(%d\right)",
         r"\cdot %d", r"%d\%%", r"\pi r^%d", r"\sum_{i=1}^{%d} i", r"\int_0^{%d} x\,dx", r"\log_{%d} 8", r"%d^\circ",
         r"\dfrac{%d}{%d}", r"\text{ cm}^%d", r"\mathbf{v}_%d", r"\le %d", r"\ge -%d", r"\neq %d", r"%d!", r"\{%d, %d\}"]
GREEK = "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΦΨΩ∞≤≥≠±×÷√∑∏∫∂∇∈∉⊂⊆∪∩∀∃→⇒⇔"
CODE = ['def f(x):\n    return x * 2\n', 'for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n', 'if x != None and y >= 3:\n',
        '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); }', 'const x = () => { return [1, 2, 3].map(v => v ** 2); };',
        '    \n        pass\n', 'SELECT * FROM t WHERE a = 1;', 'x+=1;y-=2;z*=3', '    # comment with trailing spaces   \n',
        '\t\t\treturn self._cache[key]\r\n', 'a_b_c = 0x1F & ~0b1010 << 3', '"""docstring"""', "print(f'{x!r:>10}')",
        'std::vector<int> v{1,2,3};', 'fn main() -> Result<(), Box<dyn Error>> {', '<div class="x">&nbsp;</div>',
        '$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$']
CJK = ["我们今天学习二次方程。", "答案是\\boxed{42}。", "東京は日本の首都です", "한국어 문장입니다", "計算してください：３＋４＝？",
       "这是一个很长的中文句子，其中包含标点符号、数字123和English words混合。", "ひらがなとカタカナ", "漢字", "１２３４５６", "（括号）【方括号】"]
EMOJI = ["🦙", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇸🇬🇧", "❤️", "✅", "🤔💭", "😀😃😄😁", "🧑🏻‍💻", "⭐️", "#️⃣", "👩🏾‍🔬", "🫠"]
SPACES = [" ", "  ", "\t", "\n", "\r", "\r\n", "\n\n", "\u00a0", "\u3000", "\u2028", "\u2029", "\u180e", "\u0085", "\u2009",
          "\u200b", "\u000b", "\u000c", "\u1680", "\u202f", "\u205f", " \n ", "\t \t"]
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "A\u030a", "o\u0302\u0323", "\u1100\u1161\u11a8", "\u0958", "\u2126",
             "\u212b", "\u0340", "ﬁ", "Å", "é", "\u0915\u093c", "q\u0307\u0323", "\u00c5\u0301"]
DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳", "०१२३४", "０１２３", "①②③", "Ⅻ", "½¾", "²³", "𝟘𝟙𝟚", "፩፪", "〇"]


def rand_number(r):
    k = r.choice([1, 1, 2, 3, 4, 5, 7, 10])
    s = str(r.randrange(10 ** k))
    if r.random() < 0.2:
        s = "-" + s
    if r.random() < 0.15:
        s += "." + str(r.randrange(1000))
    if r.random() < 0.1:
        s = f"{int(s.split('.')[0].lstrip('-') or 0):,}"
    return s


def rand_code_point(r):
    while True:
        plane = r.random()
        if plane < 0.5:
            cp = r.randrange(0x20, 0x3000)
        elif plane < 0.8:
            cp = r.randrange(0x3000, 0x10000)
        else:
            cp = r.randrange(0x10000, 0x110000)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        return chr(cp)


def math_text(r):
    parts = []
    for _ in range(r.randrange(1, 5)):
        t = r.choice(LATEX)
        t = t % tuple(r.randrange(100) for _ in range(t.count("%d")))
        parts.append(r.choice(["$" + t + "$", t, "\\(" + t + "\\)", r.choice(WORDS) + " " + t]))
        if r.random() < 0.3:
            parts.append(r.choice(GREEK))
        if r.random() < 0.3:
            parts.append(rand_number(r))
    return r.choice([" ", "", "\n", " = ", ", "]).join(parts)


def prose(r):
    ws = []
    for _ in range(r.randrange(1, 16)):
        x = r.random()
        w = r.choice(WORDS) if x < 0.7 else r.choice(CONTRACTIONS) if x < 0.8 else rand_number(r) if x < 0.9 else r.choice(",.;:!?()-\"")
        if r.random() < 0.1:
            w = w.capitalize() if r.random() < 0.5 else w.upper()
        ws.append(w)
    return " ".join(ws) + r.choice(["", ".", "!", "?", "\n", "  "])


def mixed(r):
    gens = [lambda: r.choice(CJK), lambda: r.choice(EMOJI), lambda: r.choice(SPACES) * r.randrange(1, 4),
            lambda: r.choice(SPECIALS), lambda: r.choice(NEAR_MISSES), lambda: r.choice(COMBINING), lambda: r.choice(DIGITS),
            lambda: r.choice(WORDS), lambda: r.choice(CONTRACTIONS), lambda: rand_code_point(r), lambda: math_text(r),
            lambda: r.choice(CODE)]
    return "".join(r.choice(gens)() for _ in range(r.randrange(1, 6)))


def invalid_bytes(r):
    pieces = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
              b"\xf8\x88\x80\x80\x80", b"\xff", b"\xfe", b"\xe0\x80\x80", b"\xc2\x41", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc"]
    out = b""
    for _ in range(r.randrange(1, 6)):
        out += r.choice(pieces) if r.random() < 0.5 else r.choice(WORDS + CJK + EMOJI + SPACES).encode()
    return out


def make_strings():
    r = random.Random(SEED)
    out = []
    fixed = (["", " ", "a", "\n", "\t", "  ", "   ", "\r\n", "\x00", "a\x00b", "Hello world", " Hello world", "Hello World!"]
             + SPECIALS + NEAR_MISSES + CONTRACTIONS + CJK + EMOJI + SPACES + COMBINING + DIGITS + CODE
             + [s + x for s in SPECIALS[:3] for x in [" ", "\n", "hi", " hi", "<|"]]
             + [" " * n for n in (5, 17, 64, 200)] + ["\n" * n for n in (3, 9, 40)] + ["\t" * 13 + "x"]
             + ["9" * n for n in (3, 4, 7, 100, 1000)] + ["a" * n for n in (47, 48, 49, 50, 200, 3000)]
             + ["ab" * 300, "Supercalifragilisticexpialidocious" * 4, "🦙" * 30, "的" * 60, "<|im_end|>" * 20]
             + [" " * n + w for n in (1, 2, 3) for w in ("word", "123", "!", "\n")])
    out += [s.encode() for s in fixed]
    gens = [(math_text, 600), (prose, 500), (lambda r: r.choice(CODE) + r.choice(CODE), 200),
            (mixed, 900), (lambda r: "".join(rand_code_point(r) for _ in range(r.randrange(1, 30))), 250)]
    for g, count in gens:
        out += [g(r).encode() for _ in range(count)]
    out += [invalid_bytes(r) for _ in range(150)]
    return out


def synthetic(texts):
    """Two small tokenizers covering the options the real vocabularies do not use."""
    base = Tokenizer(models.BPE())
    base.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    base.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=700, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                         show_progress=False))
    spec = base.to_str()
    a = Tokenizer.from_str(spec)
    a.normalizer = normalizers.NFKC()
    a.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split("-", "merged_with_previous"),
                                               pre_tokenizers.Digits(individual_digits=False),
                                               pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    a.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, single_word=True, special=True, normalized=False)])
    a.add_tokens([AddedToken("hello", normalized=True), AddedToken("Ω", normalized=True),
                  AddedToken("<sep>", special=True, normalized=False)])
    a.post_processor = processors.TemplateProcessing(single="<mask> $A <sep>", special_tokens=[
        ("<mask>", a.token_to_id("<mask>")), ("<sep>", a.token_to_id("<sep>"))])
    a.decoder = decoders.ByteLevel()
    b = Tokenizer.from_str(spec)
    b.normalizer = normalizers.Sequence([normalizers.NFD()])
    b.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\s+"), "removed"),
                                               pre_tokenizers.Split(Regex(r"[aeiou]"), "merged_with_next"),
                                               pre_tokenizers.Split(Regex(r"\p{P}+"), "contiguous", invert=True),
                                               pre_tokenizers.Split("ab", "isolated", invert=True),
                                               pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    b.add_tokens([AddedToken("  spaced", rstrip=True, normalized=False), AddedToken("ab", single_word=True, normalized=False),
                  AddedToken("é", normalized=True)])
    b.decoder = decoders.ByteLevel()
    jb = json.loads(b.to_str())
    jb["model"]["ignore_merges"] = True
    return {"synthetic_a": a, "synthetic_b": Tokenizer.from_str(json.dumps(jb))}


def main():
    strings = make_strings()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "strings.jsonl"), "w", encoding="utf-8") as f:
        for b in strings:
            try:
                f.write(json.dumps({"s": b.decode("utf-8")}, ensure_ascii=False) + "\n")
            except UnicodeDecodeError:
                f.write(json.dumps({"hex": b.hex()}) + "\n")
    r = random.Random(SEED + 1)
    for v in VOCABS:
        path = os.path.join(ASSETS, "tokenizers", v, "tokenizer.json")
        if not os.path.exists(path):
            sys.exit(f"make_fixtures: {path} is missing (run launch/setup.sh, which runs tests/tokenizer/setup_assets.sh)")
        tok = Tokenizer.from_file(path)
        with open(os.path.join(OUT, f"ids_{v}.txt"), "w") as f:
            for b in strings:
                text = b.decode("utf-8", "replace")
                ids = tok.encode(text, add_special_tokens=False).ids
                back = tok.decode(ids, skip_special_tokens=False)
                want = unicodedata.normalize("NFC", text) if v == "qwen2" else text
                if back != want:
                    sys.exit(f"make_fixtures: {v} does not decode its own ids back for {text!r}: {back!r}")
                f.write(" ".join(map(str, ids)) + "\n")
        n = tok.get_vocab_size(with_added_tokens=True)
        specials = [i for i, t in tok.get_added_tokens_decoder().items() if t.special]
        with open(os.path.join(OUT, f"decode_{v}.jsonl"), "w", encoding="utf-8") as f:
            for _ in range(N_DECODE):
                ids = [r.choice(specials) if r.random() < 0.1 else r.randrange(n) for _ in range(r.randrange(1, 12))]
                f.write(json.dumps({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                                    "text_skip": tok.decode(ids, skip_special_tokens=True)}, ensure_ascii=False) + "\n")
        print(f"make_fixtures: {v}: {len(strings)} strings, {N_DECODE} decodes")
    for name, tok in synthetic([b.decode("utf-8", "replace") for b in strings]).items():
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        with open(os.path.join(d, "ids.txt"), "w") as f:
            for b in strings[::SYNTH_EVERY]:
                f.write(" ".join(map(str, tok.encode(b.decode("utf-8", "replace"), add_special_tokens=True).ids)) + "\n")
        print(f"make_fixtures: {name}: {len(strings[::SYNTH_EVERY])} strings")


if __name__ == "__main__":
    main()
