#!/usr/bin/env python3
"""README.md's "Your own model" commands, run exactly as written (the lines between the
<!-- own-model:begin --> and <!-- own-model:end --> markers), on a Qwen2.5-style HF directory made here:
random weights in a small Qwen2 architecture, the real Qwen2 tokenizer.json (.assets/tokenizers/qwen2,
launch/setup.sh) and a tokenizer_config.json carrying the real Qwen2.5-7B-Instruct chat template
(.cache/assets, tests/setup_assets.sh). Missing assets are failures, never skips.

The README's settings are this test's environment: PATH (the build's programs first), HF_DIR (the
directory above), DATA ($RLVR_DATA, default ../shared/data beside the repository) and RUN (a temporary
directory). Checked: convert, eval on 4 MATH500 problems through the Qwen2.5 template (its summary names
the renderer), 3 GRPO steps with mpirun -np 2 learner and two workers on MATH train (metrics.jsonl: 3
steps of 2 prompts x 4 graded responses), the final checkpoint, its export to an HF directory, and the eval of that.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

import numpy as np

from checks import Checks

BIN = os.path.abspath(os.environ.get("RLVR_BIN", "build/bin"))
ROOT = os.path.abspath(os.environ.get("RLVR_ROOT", "."))
ASSETS = os.environ.get("RLVR_ASSETS", os.path.join(ROOT, ".assets"))
CACHE = os.path.join(os.environ.get("RLVR_CACHE", os.path.join(ROOT, ".cache")), "assets")
DATA = os.path.abspath(os.environ.get("RLVR_DATA", os.path.join(ROOT, "..", "shared", "data")))
QWEN25_TEMPLATE = os.path.join(CACHE, "llama.cpp", "models", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
TIMEOUT_S = 400
check = Checks(show_passes=True)


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


def make_model(d, tok_dir, template):
    """A random-weight Qwen2 directory as Hugging Face lays one out."""
    V, C, I, L, H, KV = 151936, 32, 64, 2, 2, 1
    D = C // H
    cfg = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=V, hidden_size=C, intermediate_size=I,
               num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=KV, max_position_embeddings=1024,
               rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu",
               use_sliding_window=False, bos_token_id=151643, eos_token_id=151645, torch_dtype="float32")
    os.makedirs(d)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    json.dump({"eos_token_id": [151645, 151643]}, open(os.path.join(d, "generation_config.json"), "w"))
    r = np.random.default_rng(0)
    # Embeddings (tied to the LM head) of std 1: logits of std ~sqrt(C), a peaked next-token distribution
    # as a trained model has, so top-p sampling keeps few of the 151,936 tokens (a near-uniform one makes
    # every sampled token sort the whole vocabulary).
    t = {"model.embed_tokens.weight": r.normal(0, 1.0, (V, C)), "model.norm.weight": np.ones(C)}
    for layer in range(L):
        p = "model.layers.%d." % layer
        t.update({p + "input_layernorm.weight": np.ones(C), p + "post_attention_layernorm.weight": np.ones(C),
                  p + "self_attn.q_proj.weight": r.normal(0, 0.02, (H * D, C)), p + "self_attn.q_proj.bias": np.zeros(H * D),
                  p + "self_attn.k_proj.weight": r.normal(0, 0.02, (KV * D, C)), p + "self_attn.k_proj.bias": np.zeros(KV * D),
                  p + "self_attn.v_proj.weight": r.normal(0, 0.02, (KV * D, C)), p + "self_attn.v_proj.bias": np.zeros(KV * D),
                  p + "self_attn.o_proj.weight": r.normal(0, 0.02, (C, H * D)), p + "mlp.gate_proj.weight": r.normal(0, 0.02, (I, C)),
                  p + "mlp.up_proj.weight": r.normal(0, 0.02, (I, C)), p + "mlp.down_proj.weight": r.normal(0, 0.02, (C, I))})
    write_safetensors(os.path.join(d, "model.safetensors"), t)
    shutil.copy(os.path.join(tok_dir, "tokenizer.json"), d)
    conf = json.load(open(os.path.join(tok_dir, "tokenizer_config.json"), encoding="utf-8"))
    conf["eos_token"] = "<|im_end|>"
    conf["chat_template"] = template
    json.dump(conf, open(os.path.join(d, "tokenizer_config.json"), "w"), ensure_ascii=False, indent=2)


def readme_commands():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"<!-- own-model:begin -->\n```sh\n(.*?)```\n<!-- own-model:end -->", text, re.S)
    return m.group(1) if m else None


def summary(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return {}


def main():
    tok_dir = os.path.join(ASSETS, "tokenizers", "qwen2")
    need = [(os.path.join(tok_dir, "tokenizer.json"), "launch/setup.sh"), (QWEN25_TEMPLATE, "tests/setup_assets.sh"),
            (os.path.join(DATA, "benchmarks", "math500.jsonl"), "$RLVR_DATA or ../shared/data"),
            (os.path.join(DATA, "train", "math_train_7500.jsonl"), "$RLVR_DATA or ../shared/data")]
    for path, how in need:
        check(os.path.exists(path), f"{path} exists ({how})")
    commands = readme_commands()
    check(commands is not None and "mpirun -np 2" in (commands or ""), "README.md has the own-model commands between the markers")
    if check.failures:
        sys.exit(check.summary())
    tmp = tempfile.mkdtemp()
    try:
        hf = os.path.join(tmp, "Qwen2.5-tiny")
        make_model(hf, tok_dir, open(QWEN25_TEMPLATE, encoding="utf-8", newline="").read())
        run = os.path.join(tmp, "run")
        env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), HF_DIR=hf, DATA=DATA, RUN=run,
                   OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        # Its own session: whatever the commands leave running (workers, when a step fails) is stopped after.
        p = subprocess.Popen(["bash", "-euo", "pipefail", "-c", commands], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            o, e = p.communicate(timeout=TIMEOUT_S)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = -1
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if rc == -1:
            o, e = p.communicate()
        out, err = o.decode(errors="replace"), e.decode(errors="replace")
        check(rc == 0, f"the README's commands exit 0 (rc {rc}; stderr tail: {err[-1500:]})")
        check(os.path.exists(os.path.join(run, "model.h5")), "rlvr convert wrote the .h5 model")
        for name in ("eval_before", "eval_after"):
            s = summary(os.path.join(run, name, "summary.json"))
            b = s.get("benchmarks", {}).get("math500", {}) if isinstance(s.get("benchmarks"), dict) else {}
            check(b.get("chat_template") == "qwen2.5" and b.get("problems") == 4 and b.get("verifier") == "math",
                  f"{name}: 4 MATH500 problems through the Qwen2.5 chat template ({json.dumps(s)[:600]})")
        check("prompts through the chat template qwen2.5" in out, "the learner renders its prompts with the Qwen2.5 template")
        steps = []
        try:
            steps = [json.loads(x) for x in open(os.path.join(run, "metrics.jsonl"))]
        except (OSError, ValueError):
            pass
        check([m.get("step") for m in steps] == [1, 2, 3], f"3 training steps in metrics.jsonl ({[m.get('step') for m in steps]})")
        check(os.path.exists(os.path.join(run, "checkpoints", "ckpt_000003.h5")), "the final checkpoint")
        check(all(os.path.exists(os.path.join(run, "trained", f)) for f in ("config.json", "model.safetensors", "tokenizer.json",
                                                                         "tokenizer_config.json")), "rlvr export wrote the HF directory")
        for w in ("w1", "w2"):
            log = open(os.path.join(run, w + ".log"), errors="replace").read() if os.path.exists(os.path.join(run, w + ".log")) else ""
            check("error" not in log.lower(), f"worker {w} ran without errors ({log[-400:]})")
        print(out[-2000:])
    finally:
        shutil.rmtree(tmp)
    sys.exit(check.summary())


if __name__ == "__main__":
    main()
