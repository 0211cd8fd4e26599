#!/usr/bin/env python3
"""GGUF reference fixtures for tests/test_gguf.c, written by the `gguf` package (PyPI).

Regenerate (the committed files are what the tests use; this only needs re-running when the
fixtures change):

    tests/gguf_setup.sh                                  # .venv-gguf/ with the pinned gguf package
    .venv-gguf/bin/python tests/make_gguf_fixtures.py

It writes tests/fixtures/gguf/:
  quants.gguf          one tensor per type: f32, f16 (all 65536 half bit patterns), bf16, q8_0,
                       q4_0, q4_1, q4_k, q5_k, q6_k. gguf.quants.quantize makes F16/BF16/Q8_0/Q4_0/
                       Q4_1 from random float32 data; the package cannot quantize Q4_K/Q5_K/Q6_K, so
                       those are random valid blocks (random bytes, finite fp16 scales).
  quants_ref.safetensors   the same names -> gguf.quants.dequantize of the stored bytes (float32,
                       shape (ne1, ne0)); the C test requires every value bit-identical.
  tiny_llama.gguf      a LLaMA model (2 layers, C 32, 4 heads, 2 KV heads, tied embeddings) as
                       llama.cpp's convert_hf_to_gguf.py writes it: q_proj / k_proj rows permuted,
                       most tensors quantized (Q8_0, Q4_0, Q4_1, F16, BF16), a small byte-level tokenizer,
                       and one test.* key of every GGUF value type (arrays too).
  tiny_qwen2.gguf      a Qwen2 model (q/k/v biases, untied output.weight, no permutation,
                       general.alignment 64).
  tiny_*_ref.safetensors   HF-named float32 tensors the C loader must reproduce exactly:
                       gguf.quants.dequantize(quantize(W)) of the HF-layout weight W (quantization
                       is per row, so it commutes with the row permutation).
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as VT
from gguf import GGUFWriter, quants
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "gguf")
QK_K = 256
rng = np.random.default_rng(20240611)


def random_fp16(n, lo=-6, hi=-1):
    """n finite fp16 values of random sign with magnitude 2^lo .. 2^hi (as raw uint8 pairs)."""
    v = (rng.uniform(0.5, 1.0, n) * 2.0 ** rng.integers(lo, hi + 1, n)) * rng.choice([-1, 1], n)
    return v.astype(np.float16).view(np.uint8).reshape(n, 2)


def random_kquant(qtype, n_blocks):
    """Random valid K-quant blocks (uint8, (n_blocks, type_size)); scales are positive finite fp16."""
    size = {T.Q4_K: 144, T.Q5_K: 176, T.Q6_K: 210}[qtype]
    b = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)
    if qtype in (T.Q4_K, T.Q5_K):                   # d, dmin at bytes 0..3
        b[:, 0:2] = np.abs(random_fp16(n_blocks).view(np.float16)).view(np.uint8)
        b[:, 2:4] = np.abs(random_fp16(n_blocks).view(np.float16)).view(np.uint8)
    else:                                           # Q6_K: d at the last two bytes
        b[:, 208:210] = random_fp16(n_blocks)
    return b


def quant_tensors():
    rows, cols = 4, 1024   # 4096 elements: 128 blocks of 32, 16 super-blocks of 256
    x = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    x[0, :8] = [0.0, -0.0, 1e-8, -1e-8, 65504.0, -65504.0, 1e-4, 3.0]
    out = {}
    out["f32"] = (T.F32, x.copy())
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.uint8).reshape(64, 2048)
    out["f16"] = (T.F16, halves)                         # every half bit pattern, NaNs and infinities too
    bf = quants.quantize(x, T.BF16)
    bf.view(np.uint16)[0, :6] = [0x7F80, 0xFF80, 0x7FC1, 0x0001, 0x8000, 0x3F80]   # inf, -inf, NaN, subnormal, -0, 1
    out["bf16"] = (T.BF16, bf)
    for name, qt in (("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1)):
        out[name] = (qt, quants.quantize(x, qt))
    for name, qt in (("q4_k", T.Q4_K), ("q5_k", T.Q5_K), ("q6_k", T.Q6_K)):
        out[name] = (qt, random_kquant(qt, rows * cols // QK_K).reshape(rows, -1))
    return out


def write_quants():
    w = GGUFWriter(os.path.join(ROOT, "quants.gguf"), "quants")
    ref = {}
    for name, (qt, data) in quant_tensors().items():
        if qt == T.F32:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=qt)
        ref[name] = np.ascontiguousarray(quants.dequantize(data, qt))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(ref, os.path.join(ROOT, "quants_ref.safetensors"))


def permute(weights, n_head, n_head_kv):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute: HF rotate-half row order -> ggml's."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


VOCAB = (["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [chr(ord("a") + i) for i in range(26)] +
         [chr(ord("A") + i) for i in range(26)] + [str(i) for i in range(8)] + ["ab"])   # 64 tokens


TEST_KEYS = [
    ("test.u8", 200, VT.UINT8, None), ("test.i8", -100, VT.INT8, None), ("test.u16", 60000, VT.UINT16, None),
    ("test.i16", -30000, VT.INT16, None), ("test.u32", 4000000000, VT.UINT32, None), ("test.i32", -2000000000, VT.INT32, None),
    ("test.f32", 1.5, VT.FLOAT32, None), ("test.bool", True, VT.BOOL, None), ("test.str", "h\u00e9llo", VT.STRING, None),
    ("test.u64", 2 ** 40, VT.UINT64, None), ("test.i64", -(2 ** 40), VT.INT64, None), ("test.f64", 2.25, VT.FLOAT64, None),
    ("test.arr_i16", [1, -2, 3], VT.ARRAY, VT.INT16), ("test.arr_u64", [7, 2 ** 33], VT.ARRAY, VT.UINT64),
    ("test.arr_f32", [0.5, -1.0], VT.ARRAY, VT.FLOAT32), ("test.arr_bool", [True, False], VT.ARRAY, VT.BOOL),
    ("test.arr_str", ["a", "bc", ""], VT.ARRAY, VT.STRING),
]


def write_tiny(arch):
    C, I, L, H, KV, V, ctx = 32, 64, 2, 4, 2, len(VOCAB), 128
    D = C // H
    llama = arch == "llama"
    w = GGUFWriter(os.path.join(ROOT, f"tiny_{arch}.gguf"), arch)
    if not llama:
        w.add_custom_alignment(64)   # general.alignment: data offsets in multiples of 64, not 32
    w.add_context_length(ctx)
    w.add_embedding_length(C)
    w.add_block_count(L)
    w.add_feed_forward_length(I)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_rope_freq_base(100000.0 if llama else 1000000.0)
    w.add_layer_norm_rms_eps(1e-5 if llama else 1e-6)
    w.add_rope_dimension_count(D)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm" if llama else "qwen2")
    w.add_token_list(VOCAB)
    w.add_token_types([3, 3, 3] + [1] * (V - 3))
    w.add_token_merges(["a b"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(0)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
    if llama:   # one key of every value type, for the reader's getters
        for key, val, vt, sub in TEST_KEYS:
            w.add_key_value(key, val, vt, sub)
    ref = {}

    def put(gname, hname, W, qt=T.F32, perm_heads=None):
        W = W.astype(np.float32)
        stored = permute(W, H, perm_heads if perm_heads != H else None) if perm_heads else W
        if qt == T.F32:
            w.add_tensor(gname, stored)
            ref[hname] = W
        else:
            w.add_tensor(gname, quants.quantize(stored, qt), raw_dtype=qt)
            ref[hname] = quants.dequantize(quants.quantize(W, qt), qt).astype(np.float32)

    def rnd(*shape):
        return rng.standard_normal(shape).astype(np.float32) * 0.1

    put("token_embd.weight", "model.embed_tokens.weight", rnd(V, C), T.Q8_0)
    for l in range(L):
        p, h = f"blk.{l}.", f"model.layers.{l}."
        put(p + "attn_norm.weight", h + "input_layernorm.weight", 1 + rnd(C))
        put(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", 1 + rnd(C))
        put(p + "attn_q.weight", h + "self_attn.q_proj.weight", rnd(H * D, C), T.Q8_0, H if llama else None)
        put(p + "attn_k.weight", h + "self_attn.k_proj.weight", rnd(KV * D, C), T.F16 if llama else T.F32, KV if llama else None)
        put(p + "attn_v.weight", h + "self_attn.v_proj.weight", rnd(KV * D, C), T.Q4_1)
        put(p + "attn_output.weight", h + "self_attn.o_proj.weight", rnd(C, H * D), T.Q4_0)
        if not llama:
            put(p + "attn_q.bias", h + "self_attn.q_proj.bias", rnd(H * D))
            put(p + "attn_k.bias", h + "self_attn.k_proj.bias", rnd(KV * D))
            put(p + "attn_v.bias", h + "self_attn.v_proj.bias", rnd(KV * D))
        put(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", rnd(I, C), T.BF16)
        put(p + "ffn_up.weight", h + "mlp.up_proj.weight", rnd(I, C), T.Q8_0)
        put(p + "ffn_down.weight", h + "mlp.down_proj.weight", rnd(C, I), T.Q4_1)
    put("output_norm.weight", "model.norm.weight", 1 + rnd(C))
    if not llama:
        put("output.weight", "lm_head.weight", rnd(V, C), T.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(ref, os.path.join(ROOT, f"tiny_{arch}_ref.safetensors"))


def main():
    os.makedirs(ROOT, exist_ok=True)
    write_quants()
    write_tiny("llama")
    write_tiny("qwen2")
    for f in sorted(os.listdir(ROOT)):
        print(f"{f}: {os.path.getsize(os.path.join(ROOT, f))} bytes")


if __name__ == "__main__":
    main()
