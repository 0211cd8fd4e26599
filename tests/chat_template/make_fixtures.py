#!/usr/bin/env python3
"""Reference renderings of chat templates by transformers' apply_chat_template (jinja2), for
tests/test_chat_template.c. Regenerate (CI never runs this; the tests use the committed files):

    tests/setup_assets.sh                                       # the templates and .venv-gguf (jinja2, transformers)
    .venv-gguf/bin/python tests/chat_template/make_fixtures.py

Template texts are read, never committed: llama.cpp's 71 real templates from the llama-cpp-python source
tarball (.cache/assets/llama.cpp/models/templates/) and the two that tests/chat_template/setup_templates.py
writes (.cache/assets/chat_templates/: LLaMA-3 from llama-cpp-python, SmolLM2 from its GGUF).

Writes tests/fixtures/chat_template/:
  recognise.jsonl  one line per template file: {"template": path under .cache/assets, "name": the built-in
                   renderer that must recognise it, or null when the text must be refused}
  cases.jsonl      {"template", "swap_system" (null, or a default system prompt put in place of the file's
                   own, to check that any Qwen2.5-style system prompt is read from the text), "bos_token",
                   "date_string" (null: none given), "messages", "add_generation_prompt", "text": what
                   apply_chat_template(tokenize=False) renders}
Message lists: one to six turns, system first / in the middle / alone, assistant first, empty content,
whitespace-only content and content with Unicode whitespace at its ends (LLaMA templates trim it as
Python's str.strip does), CJK, emoji, RTL, combining marks, special tokens, jinja syntax and
backslashes inside content, long content; each with add_generation_prompt true and false.
"""
import json
import os
import random

from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(os.environ.get("RLVR_CACHE", os.path.join(ROOT, ".cache")), "assets")
OUT = os.path.join(ROOT, "tests", "fixtures", "chat_template")
LLAMA_DIR = "llama.cpp/models/templates"
SEED = 20260312

# file -> (built-in name, bos_token, eos_token); every other template of llama.cpp's folder must be refused
KNOWN = {
    LLAMA_DIR + "/Qwen-Qwen2.5-7B-Instruct.jinja": ("qwen2.5", None, "<|im_end|>"),
    # Xiaomi's MiMo-VL ships Qwen2.5's template with its own default system prompt
    LLAMA_DIR + "/MiMo-VL.jinja": ("qwen2.5", None, "<|im_end|>"),
    "chat_templates/HuggingFaceTB-SmolLM2-135M-Instruct.jinja": ("smollm2", "<|im_start|>", "<|im_end|>"),
    "chat_templates/meta-llama-Meta-Llama-3-8B-Instruct.jinja": ("llama3", "<|begin_of_text|>", "<|eot_id|>"),
    LLAMA_DIR + "/meta-llama-Llama-3.1-8B-Instruct.jinja": ("llama3.1", "<|begin_of_text|>", "<|eot_id|>"),
    LLAMA_DIR + "/meta-llama-Llama-3.3-70B-Instruct.jinja": ("llama3.1", "<|begin_of_text|>", "<|eot_id|>"),
    LLAMA_DIR + "/meta-llama-Llama-3.2-3B-Instruct.jinja": ("llama3.2", "<|begin_of_text|>", "<|eot_id|>"),
}
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
# A Qwen2.5-style template with another default system prompt (Qwen2.5-Math ships the \boxed{} instruction
# there); written into the jinja source with its backslashes escaped, as such a file has it.
SWAP_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

CONTENTS = [
    "Hello", "What is 7 times 8?", "", " ", "  \n\t ", "  padded both sides  ", "\nnew lines\n\n",
    "Solve $x^2 - 5x + 6 = 0$. Put the answer in \\boxed{}.", "数学问题：求 1+1。", "emoji 👩‍👩‍👧 ✅ 🇫🇷",
    "مرحبا بالعالم", "e\u0301 combining", "\u3000full-width spaces\u3000", "\xa0nbsp\xa0", "\u2028line sep\u2029",
    "\x1c\x1d\x1e\x1finfo separators\x85", "\u180emongolian vowel separator\u180e", "\u200bzero width\u200b",
    "\u2003em space\u2009", "<|im_end|> inside <|im_start|>", "<|eot_id|><|start_header_id|>user",
    "{{ not jinja }} {% if x %} {# c #}", "quotes ' and \" and \\n backslash \\", "tab\tinside",
    "A long message. " * 12, "trailing\r\n", "x",
]
ROLES_PATTERNS = [
    ["user"], ["system", "user"], ["user", "assistant"], ["system", "user", "assistant"],
    ["system", "user", "assistant", "user"], ["user", "assistant", "user", "assistant", "user"],
    ["system", "user", "assistant", "user", "assistant", "user"], ["assistant"], ["assistant", "user"],
    ["system"], ["user", "system", "user"], ["system", "system", "user"], ["user", "user"],
]


def message_lists(rng):
    lists = []
    for roles in ROLES_PATTERNS:   # every pattern with plain text
        lists.append([{"role": r, "content": "%s turn %d" % (r, i)} for i, r in enumerate(roles)])
    for c in CONTENTS:             # every content as the system, the user and the assistant text
        lists.append([{"role": "user", "content": c}])
        lists.append([{"role": "system", "content": c}, {"role": "user", "content": "q"}])
        lists.append([{"role": "user", "content": "q"}, {"role": "assistant", "content": c}])
    for _ in range(24):            # random mixes
        roles = rng.choice(ROLES_PATTERNS)
        lists.append([{"role": r, "content": rng.choice(CONTENTS)} for r in roles])
    return lists


def tokenizer_for(bos, eos):
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()), bos_token=bos, eos_token=eos)


def main():
    rng = random.Random(SEED)
    files = sorted(LLAMA_DIR + "/" + f for f in os.listdir(os.path.join(ASSETS, LLAMA_DIR)) if f.endswith(".jinja"))
    files += sorted(k for k in KNOWN if k.startswith("chat_templates/"))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "recognise.jsonl"), "w", encoding="utf-8") as f:
        for path in files:
            f.write(json.dumps({"template": path, "name": KNOWN.get(path, (None,))[0]}, ensure_ascii=False) + "\n")
    lists = message_lists(rng)
    n = 0
    with open(os.path.join(OUT, "cases.jsonl"), "w", encoding="utf-8") as f:
        runs = [(path, None) for path in KNOWN] + [(LLAMA_DIR + "/Qwen-Qwen2.5-7B-Instruct.jinja", SWAP_SYSTEM)]
        for path, swap in runs:
            name, bos, eos = KNOWN[path]
            with open(os.path.join(ASSETS, path), encoding="utf-8", newline="") as t:
                text = t.read()
            if swap is not None:
                escaped = swap.replace("\\", "\\\\")
                assert text.count(QWEN_SYSTEM) == 2
                text = text.replace(QWEN_SYSTEM, escaped)
            tok = tokenizer_for(bos, eos)
            for i, msgs in enumerate(lists):
                for gen in (True, False):
                    kwargs = {}
                    date = None
                    if name.startswith("llama3."):   # the date of the system turn: always given, so the file is stable
                        date = rng.choice(["26 Jul 2024", "01 Jan 2025", "29 Feb 2028", "03 Dec 2026"])
                        kwargs["date_string"] = date
                    rendered = tok.apply_chat_template(msgs, chat_template=text, tokenize=False,
                                                       add_generation_prompt=gen, **kwargs)
                    f.write(json.dumps({"template": path, "swap_system": swap, "bos_token": bos or "", "date_string": date,
                                        "messages": msgs, "add_generation_prompt": gen, "text": rendered},
                                       ensure_ascii=False) + "\n")
                    n += 1
    print("make_fixtures: %d templates in recognise.jsonl (%d known), %d cases in cases.jsonl"
          % (len(files), sum(1 for p in files if p in KNOWN), n))


if __name__ == "__main__":
    main()
