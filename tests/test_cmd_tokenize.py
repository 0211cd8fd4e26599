#!/usr/bin/env python3
"""rlvr tokenize, and a real BPE tokenizer travelling with a model through the tools.

An HF directory is built here: a random-weight Qwen2 model with the real Qwen2 tokenizer.json
(.assets/tokenizers/qwen2, fetched by launch/setup.sh; its absence is a failure), its
tokenizer_config.json and a generation_config.json with a second EOS id. Then:
  - rlvr tokenize on the directory, on its tokenizer.json and on the converted .h5 gives the same
    answers: ids, texts, errors for bad lines (and it goes on), add_special_tokens, skip_special_tokens,
    --info with every EOS id;
  - rlvr convert dir -> .h5 -> dir keeps tokenizer.json and tokenizer_config.json byte for byte and the
    EOS list in config.json; rlvr inspect shows the tokenizer;
  - rlvr generate and rlvr eval run on the BPE model (prompts through the BPE tokenizer, every EOS a
    stop id) and print valid UTF-8;
  - a garbled tokenizer.json is a clear error in convert and tokenize, naming the file;
  - messages mode: {"messages": [...], "add_generation_prompt": ...} -> {"text", "ids"} equal to
    transformers' apply_chat_template (jinja2) text and HF tokenizers' ids for real templates
    (tests/fixtures/chat_template/tokenize.jsonl, from tests/chat_template/make_tokenize_fixtures.py; the
    template texts from .cache/assets, fetched by tests/setup_assets.sh); bad messages lines, an unknown
    template, a forced one (--chat-template) and a renderer whose markers the vocabulary lacks.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

from checks import Checks

BIN = os.environ.get("RLVR_BIN", "build/bin")
ROOT = os.environ.get("RLVR_ROOT", ".")
ASSETS = os.environ.get("RLVR_ASSETS", os.path.join(ROOT, ".assets"))
CACHE = os.path.join(os.environ.get("RLVR_CACHE", os.path.join(ROOT, ".cache")), "assets")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "chat_template", "tokenize.jsonl")
BUILT_IN = "qwen2.5, smollm2, llama3, llama3.1, llama3.2"
ENV = dict(os.environ)
ENV.setdefault("ASAN_OPTIONS", "detect_leaks=0")
check = Checks(show_passes=True)


def run(args, stdin=None):
    return subprocess.run([os.path.join(BIN, "rlvr")] + args, input=stdin, capture_output=True, env=ENV)


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_model(d, tok_dir):
    V, C, I, H, KV, D = 151936, 16, 32, 2, 1, 8
    cfg = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=V, hidden_size=C, intermediate_size=I,
               num_hidden_layers=1, num_attention_heads=H, num_key_value_heads=KV, max_position_embeddings=256,
               rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu",
               use_sliding_window=False, bos_token_id=151643, eos_token_id=151645, torch_dtype="float32")
    os.makedirs(d)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    json.dump({"eos_token_id": [151645, 151643]}, open(os.path.join(d, "generation_config.json"), "w"))
    r = np.random.default_rng(0)
    t = {"model.embed_tokens.weight": r.normal(0, 0.02, (V, C)), "model.norm.weight": np.ones(C)}
    p = "model.layers.0."
    t.update({p + "input_layernorm.weight": np.ones(C), p + "post_attention_layernorm.weight": np.ones(C),
              p + "self_attn.q_proj.weight": r.normal(0, 0.02, (H * D, C)), p + "self_attn.q_proj.bias": np.zeros(H * D),
              p + "self_attn.k_proj.weight": r.normal(0, 0.02, (KV * D, C)), p + "self_attn.k_proj.bias": np.zeros(KV * D),
              p + "self_attn.v_proj.weight": r.normal(0, 0.02, (KV * D, C)), p + "self_attn.v_proj.bias": np.zeros(KV * D),
              p + "self_attn.o_proj.weight": r.normal(0, 0.02, (C, H * D)), p + "mlp.gate_proj.weight": r.normal(0, 0.02, (I, C)),
              p + "mlp.up_proj.weight": r.normal(0, 0.02, (I, C)), p + "mlp.down_proj.weight": r.normal(0, 0.02, (C, I))})
    write_safetensors(os.path.join(d, "model.safetensors"), t)
    shutil.copy(os.path.join(tok_dir, "tokenizer.json"), d)
    conf = json.load(open(os.path.join(tok_dir, "tokenizer_config.json")))
    conf["eos_token"] = "<|im_end|>"
    json.dump(conf, open(os.path.join(d, "tokenizer_config.json"), "w"), ensure_ascii=False, indent=2)


REQUESTS = [
    {"text": "Solve $x^2 = 4$. The answer is \\boxed{2}.<|im_end|>"},
    {"text": "多少？ 🦙\n\n  indented"},
    {"text": "x", "add_special_tokens": True},
    {"ids": [9707, 11, 1879, 0]},
    {"ids": [151644, 872, 198, 151645], "skip_special_tokens": True},
    {"ids": [151644, 872, 198, 151645]},
    {"ids": [99, 999999]},
    {"text": 5},
    {"messages": [{"role": "user", "content": "hi"}], "text": "hi"},
    {"ids": [1], "text": "both"},
    {"nothing": 1},
]


def tokenize(path, lines):
    r = run(["tokenize", "--tokenizer", path], stdin=lines.encode())
    return r.returncode, r.stdout.decode("utf-8"), r.stderr.decode()


def tokenizer_dir(d, tok_name, template_text):
    """A tokenizer.json with a tokenizer_config.json whose chat_template is template_text (None: its own)."""
    os.makedirs(d)
    src = os.path.join(ASSETS, "tokenizers", tok_name)
    shutil.copy(os.path.join(src, "tokenizer.json"), d)
    conf = json.load(open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8"))
    if template_text is not None:
        conf["chat_template"] = template_text
    json.dump(conf, open(os.path.join(d, "tokenizer_config.json"), "w"), ensure_ascii=False)
    return d


def messages_mode(tmp):
    """Messages lines against the fixture, and the errors of messages mode."""
    cases = [json.loads(x) for x in open(FIXTURE, encoding="utf-8")]
    groups = {}
    for c in cases:
        groups.setdefault((c["tokenizer"], c["template"]), []).append(c)
    for k, ((tok_name, template), group) in enumerate(groups.items()):
        text = None
        if template is not None:
            path = os.path.join(CACHE, template)
            check(os.path.exists(path), f"{path} exists (tests/setup_assets.sh fetches it)")
            if not os.path.exists(path):
                continue
            text = open(path, encoding="utf-8", newline="").read()
        d = tokenizer_dir(os.path.join(tmp, "chat%d" % k), tok_name, text)
        req = "".join(json.dumps({"messages": c["messages"], "add_generation_prompt": c["add_generation_prompt"],
                                  **({"date_string": c["date_string"]} if c["date_string"] else {})}, ensure_ascii=False) + "\n"
                      for c in group)
        rc, out, err = tokenize(d, req)
        ans = [json.loads(x) for x in out.splitlines()]
        same = rc == 0 and len(ans) == len(group) and all(a.get("text") == c["text"] and a.get("ids") == c["ids"]
                                                            for a, c in zip(ans, group))
        bad = next((a for a, c in zip(ans, group) if a.get("text") != c["text"] or a.get("ids") != c["ids"]), None)
        check(same, f"{tok_name} + {template or 'its own template'}: {len(group)} renderings, text and ids equal to "
              f"apply_chat_template + HF tokenizers ({err.strip()} {bad})")
    qwen_dir = os.path.join(tmp, "chat0")
    first = cases[0]
    # Bad messages lines: each an error naming what is wrong, and the stream goes on.
    bad = [({"messages": "hi"}, "non-empty list"), ({"messages": []}, "non-empty list"),
           ({"messages": [{"role": "user"}]}, "messages[0]"), ({"messages": [{"role": "user", "content": 5}]}, "messages[0]"),
           ({"messages": [{"role": "user", "content": "a"}, "x"]}, "messages[1]"),
           ({"messages": [{"role": "tool", "content": "a"}]}, "role 'tool'"),
           ({"messages": [{"role": "user", "content": "a"}], "add_generation_prompt": "yes"}, "add_generation_prompt"),
           ({"messages": [{"role": "user", "content": "a"}], "date_string": 3}, "date_string"),
           ({"messages": [{"role": "user", "content": "a\u0000b"}]}, "NUL")]
    req = "".join(json.dumps(q) + "\n" for q, _ in bad) + json.dumps({"messages": first["messages"], "add_generation_prompt": True}) + "\n"
    rc, out, err = tokenize(qwen_dir, req)
    ans = [json.loads(x) for x in out.splitlines()]
    check(rc == 0 and len(ans) == len(bad) + 1, f"one answer per messages line ({err.strip()})")
    if len(ans) == len(bad) + 1:
        for (q, want), a in zip(bad, ans):
            check(want in a.get("error", ""), f"bad messages line {json.dumps(q)}: error naming '{want}' ({a})")
        check(ans[-1].get("text") == first["text"], "a good line after the bad ones renders")
    # A template that is none of the built-in ones: an error naming them and the key that picks one.
    odd = tokenizer_dir(os.path.join(tmp, "odd"), "qwen2", "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    msg = json.dumps({"messages": first["messages"], "add_generation_prompt": True}) + "\n"
    rc, out, err = tokenize(odd, msg)
    a = json.loads(out) if out.strip() else {}
    check(rc == 0 and BUILT_IN in a.get("error", "") and "data.chat_template" in a.get("error", "")
          and "--chat-template" in a.get("error", ""), f"an unknown template is an error naming the built-in ones and the key ({a})")
    # Forced: --chat-template qwen2.5 renders as Qwen2.5's template, whatever the file's.
    r = run(["tokenize", "--tokenizer", odd, "--chat-template", "qwen2.5"], stdin=msg.encode())
    a = json.loads(r.stdout) if r.stdout.strip() else {}
    want = next(c for c in cases if c["template"] and "Qwen2.5" in c["template"] and c["messages"] == first["messages"]
                and c["add_generation_prompt"])
    check(r.returncode == 0 and a.get("text") == want["text"] and a.get("ids") == want["ids"],
          f"--chat-template qwen2.5 forces Qwen2.5's rendering ({a})")
    r = run(["tokenize", "--tokenizer", odd, "--chat-template", "chatml2"], stdin=msg.encode())
    check(r.returncode == 2 and BUILT_IN.encode() in r.stderr and b"chatml2" in r.stderr,
          f"--chat-template with an unknown name is a usage error naming the built-in ones ({r.stderr.decode().strip()})")
    r = run(["tokenize", "--tokenizer", odd, "--chat-template", "llama3"], stdin=msg.encode())
    a = json.loads(r.stdout) if r.stdout.strip() else {}
    check("chat template llama3 writes <|start_header_id|>" in a.get("error", "") and "not a token" in a.get("error", ""),
          f"a LLaMA-3 renderer on the Qwen2 vocabulary is refused, naming the missing marker ({a})")
    r = run(["tokenize", "--tokenizer", qwen_dir, "--info"])
    check(r.returncode == 0 and json.loads(r.stdout).get("chat_renderer") == "qwen2.5", f"--info names the renderer ({r.stdout.decode().strip()})")


def main():
    tok_dir = os.path.join(ASSETS, "tokenizers", "qwen2")
    check(os.path.exists(os.path.join(tok_dir, "tokenizer.json")),
          f"{tok_dir}/tokenizer.json exists (launch/setup.sh fetches it)")
    if check.failures:
        sys.exit(check.summary())
    tmp = tempfile.mkdtemp()
    try:
        hf = os.path.join(tmp, "hf")
        make_model(hf, tok_dir)
        lines = "\n".join(json.dumps(q, ensure_ascii=False) for q in REQUESTS) + "\nnot json\n"
        rc, out, err = tokenize(hf, lines)
        check(rc == 0, f"tokenize on the HF directory exits 0 ({err.strip()})")
        ans = [json.loads(x) for x in out.splitlines()]
        check(len(ans) == len(REQUESTS) + 1, "one answer line per input line")
        if len(ans) == len(REQUESTS) + 1:
            check(ans[0]["ids"][-1] == 151645 and 151645 not in ans[0]["ids"][:-1], "<|im_end|> in text is its special id")
            check(ans[2]["ids"] == [87], "add_special_tokens adds nothing for Qwen2 (no BOS)")
            check(ans[3]["text"] == "Hello, world!", "ids -> text")
            check(ans[4]["text"] == "user\n" and ans[5]["text"] == "<|im_start|>user\n<|im_end|>", "skip_special_tokens")
            for k in (6, 7, 8, 9, 10, 11):   # line 9: messages together with text
                check("error" in ans[k], f"line {k + 1} is an error: {ans[k]}")
            check("999999" not in ans[6]["error"] and "ids[1]" in ans[6]["error"], "the bad id's index is named")
        # Round trip: decode(encode(text)) == text.
        rt = [{"ids": a["ids"]} for a in ans[:2]]
        rc, out2, _ = tokenize(hf, "\n".join(json.dumps(q) for q in rt) + "\n")
        back = [json.loads(x)["text"] for x in out2.splitlines()]
        check(back == [REQUESTS[0]["text"], REQUESTS[1]["text"]], "decode(encode(text)) == text")
        # The same answers from the file alone and from the converted .h5.
        h5 = os.path.join(tmp, "m.h5")
        r = run(["convert", hf, h5])
        check(r.returncode == 0 and b"tokenizer bpe with 151646 ids" in r.stdout, f"convert to .h5 ({r.stdout.decode().strip()} {r.stderr.decode().strip()})")
        for path in (os.path.join(hf, "tokenizer.json"), h5):
            rc, o, e = tokenize(path, lines)
            check(rc == 0 and o == out, f"tokenize on {os.path.basename(path)} answers as on the directory ({e.strip()})")
        r = run(["tokenize", "--tokenizer", h5, "--info"])
        info = json.loads(r.stdout)
        check(info["type"] == "bpe" and info["vocab_size"] == 151646 and info["eos_ids"] == [151645, 151643] and info["chat_template"],
              f"--info: every EOS id, the chat template ({info})")
        r = run(["inspect", h5])
        check(r.returncode == 0 and b"tokenizer    bpe, 151646 ids" in r.stdout and b"eos 151645, 151643" in r.stdout,
              "inspect shows the tokenizer and its EOS ids")
        back_dir = os.path.join(tmp, "back")
        r = run(["convert", h5, back_dir])
        check(r.returncode == 0, "convert .h5 -> HF directory")
        for name in ("tokenizer.json", "tokenizer_config.json"):
            check(open(os.path.join(hf, name), "rb").read() == open(os.path.join(back_dir, name), "rb").read(),
                  f"{name} comes back byte for byte")
        check(json.load(open(os.path.join(back_dir, "config.json")))["eos_token_id"] == [151645, 151643],
              "config.json keeps every EOS id (generation_config.json's joined)")
        # The engine runs on the BPE model: prompts through the tokenizer, output valid UTF-8.
        r = run(["generate", "--model", h5, "--prompt", "Hello 世界", "--max-tokens", "6", "--temperature", "0"])
        check(r.returncode == 0, f"generate on the BPE model ({r.stderr.decode().strip()})")
        try:
            r.stdout.decode("utf-8")
            check(True, "generate prints valid UTF-8")
        except UnicodeDecodeError:
            check(False, "generate prints valid UTF-8")
        data = os.path.join(tmp, "tiny.jsonl")
        with open(data, "w") as f:
            f.write(json.dumps({"id": "p1", "problem": "What is 1+1? Put it in \\boxed{}.", "answer": "2"}) + "\n")
            f.write(json.dumps({"id": "p2", "problem": "数学: 2+2?", "answer": "4"}) + "\n")
        r = run(["eval", "--model", h5, "--data", data, "-n", "2", "--max-tokens", "8", "--batch", "4"])
        check(r.returncode == 0 and b"tiny" in r.stdout + r.stderr, f"eval on the BPE model ({r.stderr.decode()[-300:].strip()})")
        # The same through the model's chat template (Qwen2's, recognised: renderer smollm2), forced, refused.
        out_dir = os.path.join(tmp, "eval_chat")
        r = run(["eval", "--model", h5, "--data", data, "-n", "2", "--max-tokens", "8", "--batch", "4", "--chat", "--out", out_dir])
        summary = os.path.join(out_dir, "summary.json")
        res = json.load(open(summary)) if r.returncode == 0 and os.path.exists(summary) else {}
        check(r.returncode == 0 and b"chat template smollm2" in r.stderr and "smollm2" in json.dumps(res),
              f"eval --chat renders prompts with the recognised template ({r.stderr.decode()[-300:].strip()} {list(res)})")
        an_dir = os.path.join(tmp, "an_chat")
        r = run(["analyze", "entropy", "--model", h5, "--data", data, "-n", "2", "--max-tokens", "6", "--batch", "4",
                 "--chat-template", "qwen2.5", "--out", an_dir])
        check(r.returncode == 0 and b"chat template qwen2.5" in r.stderr,
              f"analyze --chat-template renders prompts with the forced renderer ({r.stderr.decode()[-300:].strip()})")
        r = run(["analyze", "entropy", "--model", h5, "--data", data, "-n", "1", "--max-tokens", "4", "--chat", "--template", "chatml"])
        check(r.returncode == 2 and b"writes chat markup itself" in r.stderr,
              f"--chat with --template chatml is refused ({r.stderr.decode().strip()})")
        r = run(["eval", "--model", h5, "--data", data, "-n", "1", "--max-tokens", "4", "--chat-template", "qwen2.6"])
        check(r.returncode == 2 and BUILT_IN.encode() in r.stderr, f"eval --chat-template with an unknown name ({r.stderr.decode().strip()})")
        r = run(["eval", "--model", os.path.join(ROOT, "configs", "base", "arith_base.h5"), "--data", "arith:heldout:2",
                 "-n", "1", "--max-tokens", "4", "--chat"])
        check(r.returncode == 2 and b"no chat template" in r.stderr and b"chat_template" in r.stderr,
              f"eval --chat on the char model is refused, naming the key ({r.stderr.decode().strip()})")
        # A garbled tokenizer.json: a clear error naming it.
        bad = os.path.join(tmp, "bad")
        shutil.copytree(hf, bad)
        with open(os.path.join(bad, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {')
        r = run(["convert", bad, os.path.join(tmp, "bad.h5")])
        check(r.returncode != 0 and b"bad/tokenizer.json" in r.stderr and b"not valid JSON" in r.stderr
              and not os.path.exists(os.path.join(tmp, "bad.h5")),
              f"convert refuses a garbled tokenizer.json ({r.stderr.decode().strip()})")
        r = run(["tokenize", "--tokenizer", os.path.join(bad, "tokenizer.json")], stdin=b"")
        check(r.returncode == 1 and b"bad/tokenizer.json" in r.stderr and b"not valid JSON" in r.stderr,
              f"tokenize names the garbled file ({r.stderr.decode().strip()})")
        messages_mode(tmp)
        r = run(["tokenize"])
        check(r.returncode == 2 and b"--tokenizer" in r.stderr, "tokenize without --tokenizer is a usage error")
    finally:
        shutil.rmtree(tmp)
    sys.exit(check.summary())


if __name__ == "__main__":
    main()
