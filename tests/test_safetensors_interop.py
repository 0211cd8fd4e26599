#!/usr/bin/env python3
"""Interop of our model files with independent readers and writers (Debian python3: numpy, h5py).

1. A tiny Qwen2 HF directory written here (a safetensors writer in a few lines of numpy, tensors in
   F32, BF16 and F16) converts with `rlvr convert` to a native .h5 file.
2. h5py reads that file: root magic/format_version, config attributes under HF key names, one
   float32 dataset per tensor under its HF name and HF shape, values exactly the converted ones.
3. `rlvr convert` back to an HF directory; a numpy safetensors parser reads model.safetensors and
   json reads config.json: same tensors, dtype F32, same values.
4. A truncated safetensors file makes `rlvr convert` fail with a message naming the file.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from checks import Checks

BIN = os.environ.get("RLVR_BIN", "build/bin")
ENV = dict(os.environ)
ENV.setdefault("ASAN_OPTIONS", "detect_leaks=0")

CFG = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=29, hidden_size=12,
           intermediate_size=20, num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1,
           max_position_embeddings=128, rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
           use_sliding_window=False, sliding_window=4096, rope_scaling=None, hidden_act="silu",
           bos_token_id=1, eos_token_id=[2, 3], pad_token_id=None, torch_dtype="bfloat16", rlvr_tokenizer="char")

check = Checks()


def qwen2_shapes(c):
    C, V, I = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    D = C // c["num_attention_heads"]
    Q, K = c["num_attention_heads"] * D, c["num_key_value_heads"] * D
    shapes = {"model.embed_tokens.weight": (V, C)}
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        shapes.update({p + "input_layernorm.weight": (C,), p + "self_attn.q_proj.weight": (Q, C),
                       p + "self_attn.q_proj.bias": (Q,), p + "self_attn.k_proj.weight": (K, C),
                       p + "self_attn.k_proj.bias": (K,), p + "self_attn.v_proj.weight": (K, C),
                       p + "self_attn.v_proj.bias": (K,), p + "self_attn.o_proj.weight": (C, Q),
                       p + "post_attention_layernorm.weight": (C,), p + "mlp.gate_proj.weight": (I, C),
                       p + "mlp.up_proj.weight": (I, C), p + "mlp.down_proj.weight": (C, I)})
    shapes["model.norm.weight"] = (C,)
    if not c["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (V, C)
    return shapes


def write_safetensors(path, tensors):
    """tensors: name -> (dtype string, shape, raw little-endian bytes)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    np_dt = {"F32": "<f4", "F16": "<f2", "I32": "<i4", "I64": "<i8"}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], np.frombuffer(data[b:end], dtype=np_dt[e["dtype"]]).reshape(e["shape"]))
    return meta, out


def run(*args):
    return subprocess.run([os.path.join(BIN, "rlvr")] + list(args), capture_output=True, text=True, env=ENV)


def main():
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="rlvr_interop_") as tmp:
        src = os.path.join(tmp, "src")
        os.mkdir(src)
        with open(os.path.join(src, "config.json"), "w") as f:
            json.dump(CFG, f, indent=2)
        tensors, expect = {}, {}
        for i, (name, shape) in enumerate(qwen2_shapes(CFG).items()):
            x = rng.standard_normal(shape).astype(np.float32)
            if i % 3 == 0:      # BF16: the top 16 bits of the float32 (truncation is a valid bf16 value)
                bits = (x.view(np.uint32) >> 16).astype(np.uint16)
                tensors[name] = ("BF16", shape, bits.astype("<u2").tobytes())
                expect[name] = (bits.astype(np.uint32) << 16).view(np.float32)
            elif i % 3 == 1:    # F16
                h = x.astype(np.float16)
                tensors[name] = ("F16", shape, h.astype("<f2").tobytes())
                expect[name] = h.astype(np.float32)
            else:
                tensors[name] = ("F32", shape, x.astype("<f4").tobytes())
                expect[name] = x
        write_safetensors(os.path.join(src, "model.safetensors"), tensors)

        h5 = os.path.join(tmp, "m.h5")
        r = run("convert", src, h5)
        check(r.returncode == 0, "convert HF -> h5: " + r.stderr)
        with h5py.File(h5, "r") as f:
            check(f.attrs["magic"] in (b"rlvr-model", "rlvr-model"), "magic attribute")
            check(int(f.attrs["format_version"]) == 1, "format_version attribute")
            cfg = f["config"].attrs
            for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                      "num_key_value_heads", "max_position_embeddings"):
                check(int(cfg[k]) == CFG[k], "config attribute " + k)
            check(int(cfg["head_dim"]) == 4 and int(cfg["eos_token_id"]) == 2 and int(cfg["pad_token_id"]) == -1,
                  "head_dim / eos / pad attributes")
            check(list(cfg["eos_token_ids"]) == [2, 3], "every EOS id of the list is kept (eos_token_ids)")
            check(np.float32(cfg["rope_theta"]) == np.float32(1e6) and np.float32(cfg["rms_norm_eps"]) == np.float32(1e-6),
                  "float attributes")
            check(cfg["architectures"] in (b"Qwen2ForCausalLM", "Qwen2ForCausalLM"), "architectures attribute")
            names = set(f["model"].keys())
            check(names == set(expect), "dataset names are the HF tensor names: %s" % sorted(names ^ set(expect)))
            for name, x in expect.items():
                d = f["model"][name]
                check(d.dtype == np.float32 and d.shape == x.shape, "dataset %s dtype/shape" % name)
                check(np.array_equal(d[...], x), "dataset %s values" % name)

        out = os.path.join(tmp, "out")
        r = run("convert", h5, out)
        check(r.returncode == 0, "convert h5 -> HF: " + r.stderr)
        meta, got = read_safetensors(os.path.join(out, "model.safetensors"))
        check(meta.get("format") == "pt", "metadata format = pt")
        check(set(got) == set(expect), "exported tensor names")
        for name, x in expect.items():
            dt, y = got.get(name, ("?", None))
            check(dt == "F32" and y is not None and np.array_equal(y, x), "exported tensor %s" % name)
        with open(os.path.join(out, "config.json")) as f:
            c2 = json.load(f)
        for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "rope_theta", "rms_norm_eps", "tie_word_embeddings", "rlvr_tokenizer"):
            check(c2.get(k) == CFG[k], "config.json key %s: %r vs %r" % (k, c2.get(k), CFG[k]))
        check(c2["model_type"] == "qwen2" and c2["architectures"] == ["Qwen2ForCausalLM"] and c2["eos_token_id"] == [2, 3],
              "config.json model_type / architectures / eos (the whole list)")
        check(c2["torch_dtype"] == "float32", "config.json torch_dtype")

        # A truncated weights file is refused with the file named.
        st = os.path.join(src, "model.safetensors")
        with open(st, "rb") as f:
            whole = f.read()
        with open(st, "wb") as f:
            f.write(whole[:-10])
        r = run("convert", src, os.path.join(tmp, "never.h5"))
        check(r.returncode == 1 and st in r.stderr and "truncated" in r.stderr, "truncated input refused: " + r.stderr)
        check(not os.path.exists(os.path.join(tmp, "never.h5")), "no output on failure")
        r = run("convert", src)
        check(r.returncode == 2 and "usage" in r.stderr, "usage on wrong arguments")

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
