#!/usr/bin/env python3
"""Reference answers for `rlvr tokenize`'s messages mode (tests/test_cmd_tokenize.py): the text
transformers' apply_chat_template (jinja2) renders with a real template and the ids HF tokenizers gives
that text (add_special_tokens=False, as apply_chat_template(tokenize=True) encodes it). Regenerate (CI
never runs this; the test uses the committed file):

    tests/setup_assets.sh                                  # .venv-gguf, the templates, the vocabularies
    .venv-gguf/bin/python tests/chat_template/make_tokenize_fixtures.py

Pairs (tokenizer.json from .assets/tokenizers/, template text from .cache/assets/, neither committed):
  qwen2      + Qwen2.5-7B-Instruct's template (llama.cpp's models/templates/)
  qwen2      + the template of its own tokenizer_config.json (Qwen2's: renderer smollm2)
  llama-bpe  + Llama-3.1-8B-Instruct's template, with a date_string (so the file is stable)

Writes tests/fixtures/chat_template/tokenize.jsonl: {"tokenizer": folder under .assets/tokenizers,
"template": path under .cache/assets or null (the tokenizer's own), "bos_token", "messages",
"add_generation_prompt", "date_string" (or null), "text", "ids"}.
"""
import json
import os

from transformers import PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(os.environ.get("RLVR_CACHE", os.path.join(ROOT, ".cache")), "assets")
TOKS = os.path.join(os.environ.get("RLVR_ASSETS", os.path.join(ROOT, ".assets")), "tokenizers")
OUT = os.path.join(ROOT, "tests", "fixtures", "chat_template", "tokenize.jsonl")

PAIRS = [
    ("qwen2", "llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja", None),
    ("qwen2", None, None),
    ("llama-bpe", "llama.cpp/models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja", "03 Dec 2026"),
]
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
PROBLEMS = [
    "What is $1+1$?",
    "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter your answer in the form "
    "$(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$",
    "数学问题：求 1+1。 🦙",
    "",
    "  spaces at both ends \n",
    "<|im_end|> and <|eot_id|> written in the text",
]
LISTS = [[{"role": "user", "content": p + "\n" + INSTRUCTION}] for p in PROBLEMS]
LISTS += [[{"role": "user", "content": p}] for p in PROBLEMS]
LISTS += [
    [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": PROBLEMS[1]}],
    [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "\\boxed{4}"},
     {"role": "user", "content": "And 3+3?"}],
    [{"role": "assistant", "content": "Hello!"}],
]


def main():
    n = 0
    with open(OUT, "w", encoding="utf-8") as f:
        for tok_name, template, date in PAIRS:
            d = os.path.join(TOKS, tok_name)
            conf = json.load(open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8"))
            text = conf["chat_template"] if template is None else open(os.path.join(CACHE, template), encoding="utf-8", newline="").read()
            tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), bos_token=conf.get("bos_token"))
            for msgs in LISTS:
                for gen in (True, False):
                    kw = {"date_string": date} if date else {}
                    rendered = tok.apply_chat_template(msgs, chat_template=text, tokenize=False, add_generation_prompt=gen, **kw)
                    ids = tok(rendered, add_special_tokens=False)["input_ids"]
                    f.write(json.dumps({"tokenizer": tok_name, "template": template, "bos_token": conf.get("bos_token"),
                                        "messages": msgs, "add_generation_prompt": gen, "date_string": date,
                                        "text": rendered, "ids": ids}, ensure_ascii=False) + "\n")
                    n += 1
    print("make_tokenize_fixtures: %d cases in %s" % (n, os.path.relpath(OUT, ROOT)))


if __name__ == "__main__":
    main()
