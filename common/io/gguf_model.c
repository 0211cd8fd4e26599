// GGUF metadata and tensors -> ModelConfig and Model (HF names, float32).
#include "common/io/gguf_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/io/gguf_quants.h"

#define DEFAULT_ROPE_THETA 10000.0
#define KEY_LEN 160

// The per-layer GGUF suffix and its HF counterpart under model.layers.N.
static const char *const LAYER_NAMES[][2] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

int gguf_hf_tensor_name(const char *gguf_name, char *out, size_t cap) {
    static const char *const TOP[][2] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
    };
    for (size_t i = 0; i < sizeof(TOP) / sizeof(TOP[0]); i++)
        if (strcmp(gguf_name, TOP[i][0]) == 0) return snprintf(out, cap, "%s", TOP[i][1]) < (int)cap ? 0 : -1;
    int layer, used = 0;
    if (sscanf(gguf_name, "blk.%d.%n", &layer, &used) != 1 || used == 0 || layer < 0) return -1;
    const char *suffix = gguf_name + used;
    for (size_t i = 0; i < sizeof(LAYER_NAMES) / sizeof(LAYER_NAMES[0]); i++)
        if (strcmp(suffix, LAYER_NAMES[i][0]) == 0) {
            int n = snprintf(out, cap, "model.layers.%d.%s", layer, LAYER_NAMES[i][1]);
            return n > 0 && (size_t)n < cap ? 0 : -1;
        }
    return -1;
}

// {arch}.suffix as an int: required (missing is an error) or with a default.
static int arch_int(const Gguf *g, const char *arch, const char *suffix, int required, long long dflt, int *out, char *err, size_t errlen) {
    char key[KEY_LEN];
    snprintf(key, sizeof(key), "%s.%s", arch, suffix);
    long long v = dflt;
    int rc = gguf_get_int(g, key, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc == 1 && required)
        return rlvr_err(err, errlen, "gguf '%s': key '%s' is missing (hint: the file is not a complete %s model)", g->path, key, arch);
    if (v < 0 || v > 0x7fffffff) return rlvr_err(err, errlen, "gguf '%s': key '%s' = %lld is out of range", g->path, key, v);
    *out = (int)v;
    return 0;
}

// A token id from tokenizer.ggml.KEY, -1 when absent.
static int token_id(const Gguf *g, const char *key, int *out, char *err, size_t errlen) {
    long long v = -1;
    if (gguf_get_int(g, key, &v, err, errlen) < 0) return -1;
    if (v < -1 || v > 0x7fffffff) return rlvr_err(err, errlen, "gguf '%s': key '%s' = %lld is not a token id", g->path, key, v);
    *out = (int)v;
    return 0;
}

int gguf_model_config(const Gguf *g, ModelConfig *c, char *err, size_t errlen) {
    model_config_default(c);
    char *arch = NULL;
    int rc = gguf_get_str(g, "general.architecture", &arch, err, errlen);
    if (rc == 1) return rlvr_err(err, errlen, "gguf '%s': key 'general.architecture' is missing (hint: a vocabulary-only file holds no model)", g->path);
    if (rc < 0) return -1;
    if (strcmp(arch, "llama") == 0) c->arch = ARCH_LLAMA;
    else if (strcmp(arch, "qwen2") == 0) c->arch = ARCH_QWEN2;
    else {
        rlvr_err(err, errlen, "gguf '%s': general.architecture '%s' is not supported (supported: llama, qwen2)", g->path, arch);
        free(arch);
        return -1;
    }
    char key[KEY_LEN];
    int key_len = 0, value_len = 0, rope_dims = 0, vocab = 0;
    rc = 0;
    if (arch_int(g, arch, "embedding_length", 1, 0, &c->hidden_size, err, errlen) ||
        arch_int(g, arch, "feed_forward_length", 1, 0, &c->intermediate_size, err, errlen) ||
        arch_int(g, arch, "block_count", 1, 0, &c->num_layers, err, errlen) ||
        arch_int(g, arch, "context_length", 1, 0, &c->max_position_embeddings, err, errlen) ||
        arch_int(g, arch, "attention.head_count", 1, 0, &c->num_heads, err, errlen) ||
        arch_int(g, arch, "attention.head_count_kv", 0, c->num_heads, &c->num_kv_heads, err, errlen) ||
        arch_int(g, arch, "vocab_size", 0, 0, &vocab, err, errlen))
        rc = -1;
    if (rc == 0 && c->num_heads <= 0) rc = rlvr_err(err, errlen, "gguf '%s': %s.attention.head_count must be > 0", g->path, arch);
    if (rc == 0 && arch_int(g, arch, "attention.key_length", 0, c->hidden_size / c->num_heads, &key_len, err, errlen)) rc = -1;
    if (rc == 0 && arch_int(g, arch, "attention.value_length", 0, key_len, &value_len, err, errlen)) rc = -1;
    if (rc == 0 && arch_int(g, arch, "rope.dimension_count", 0, key_len, &rope_dims, err, errlen)) rc = -1;
    if (rc == 0 && value_len != key_len)
        rc = rlvr_err(err, errlen, "gguf '%s': %s.attention.value_length %d differs from key_length %d (not supported)", g->path, arch, value_len, key_len);
    if (rc == 0 && rope_dims != key_len)
        rc = rlvr_err(err, errlen, "gguf '%s': %s.rope.dimension_count %d differs from the head dimension %d (partial rotary embeddings are "
                      "not supported)", g->path, arch, rope_dims, key_len);
    c->head_dim = key_len;
    double theta = DEFAULT_ROPE_THETA, eps = 0;
    snprintf(key, sizeof(key), "%s.rope.freq_base", arch);
    if (rc == 0 && gguf_get_float(g, key, &theta, err, errlen) < 0) rc = -1;
    c->rope_theta = (float)theta;
    snprintf(key, sizeof(key), "%s.attention.layer_norm_rms_epsilon", arch);
    if (rc == 0) {
        int r = gguf_get_float(g, key, &eps, err, errlen);
        if (r < 0) rc = -1;
        else if (r == 1) rc = rlvr_err(err, errlen, "gguf '%s': key '%s' is missing (hint: the file is not a complete %s model)", g->path, key, arch);
        c->rms_norm_eps = (float)eps;
    }
    static const char *const SCALING_KEYS[] = {"rope.scaling.type", "rope.scaling.factor"};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        snprintf(key, sizeof(key), "%s.%s", arch, SCALING_KEYS[i]);
        const GgufKV *kv = gguf_find_kv(g, key);
        int harmless = 0;
        if (kv && kv->type == GGUF_STRING) harmless = kv->strs[0].len == 4 && memcmp(kv->strs[0].ptr, "none", 4) == 0;
        if (kv && kv->type == GGUF_FLOAT32) harmless = gguf_arr_f32(kv, 0) == 0.0f || gguf_arr_f32(kv, 0) == 1.0f;
        if (kv && !harmless) rc = rlvr_err(err, errlen, "gguf '%s': key '%s' (offset %zu): RoPE scaling is not supported", g->path, key, kv->offset);
    }
    free(arch);
    if (rc != 0) return -1;

    const GgufTensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->ndim != 2)
        return rlvr_err(err, errlen, "gguf '%s': tensor 'token_embd.weight' is missing or not 2-D (hint: a vocabulary-only file holds no weights)", g->path);
    if (emb->ne[1] > 0x7fffffff) return rlvr_err(err, errlen, "gguf '%s': token_embd.weight has too many rows", g->path);
    c->vocab_size = (int)emb->ne[1];
    if (vocab && vocab != c->vocab_size)
        return rlvr_err(err, errlen, "gguf '%s': vocab_size %d in the metadata differs from the %d rows of token_embd.weight", g->path, vocab, c->vocab_size);
    c->tie_word_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    c->qkv_bias = gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    if (c->arch == ARCH_LLAMA && c->qkv_bias)
        return rlvr_err(err, errlen, "gguf '%s': a LLaMA model with attention biases (blk.0.attn_q.bias) is not supported", g->path);
    if (c->arch == ARCH_QWEN2 && !c->qkv_bias)
        return rlvr_err(err, errlen, "gguf '%s': Qwen2 model without q/k/v biases (blk.0.attn_q.bias is missing)", g->path);
    if (gguf_find_tensor(g, "rope_freqs.weight"))
        return rlvr_err(err, errlen, "gguf '%s': tensor 'rope_freqs.weight' (LLaMA-3.1 RoPE frequency scaling) is not supported", g->path);
    // The sizes from the metadata must match the tensors before anything is allocated for them: a
    // corrupt count must be an error here, not a huge allocation.
    if (emb->ne[0] != (uint64_t)c->hidden_size)
        return rlvr_err(err, errlen, "gguf '%s': token_embd.weight rows have %" PRIu64 " elements but embedding_length is %d", g->path,
                        emb->ne[0], c->hidden_size);
    char name[64];
    static const char *const PROBE[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight", "ffn_up.weight"};
    uint64_t rows[] = {(uint64_t)c->num_heads * (uint64_t)c->head_dim, (uint64_t)c->num_kv_heads * (uint64_t)c->head_dim,
                       (uint64_t)c->num_kv_heads * (uint64_t)c->head_dim, (uint64_t)c->intermediate_size};
    for (int l = 0; l < c->num_layers; l++)
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof(name), "blk.%d.%s", l, PROBE[k]);
            const GgufTensor *t = gguf_find_tensor(g, name);
            if (!t || t->ndim != 2 || t->ne[0] != (uint64_t)c->hidden_size || t->ne[1] != rows[k])
                return rlvr_err(err, errlen, "gguf '%s': tensor '%s' is %s, the metadata implies [%d, %" PRIu64 "] (hint: the metadata "
                                "does not match the weights)", g->path, name, t ? "another shape" : "missing", c->hidden_size, rows[k]);
        }
    snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", c->num_layers);
    if (gguf_find_tensor(g, name))
        return rlvr_err(err, errlen, "gguf '%s': tensor '%s' exists but block_count is %d", g->path, name, c->num_layers);
    int eos = -1;
    if (token_id(g, "tokenizer.ggml.bos_token_id", &c->bos_token_id, err, errlen) ||
        token_id(g, "tokenizer.ggml.eos_token_id", &eos, err, errlen) ||
        token_id(g, "tokenizer.ggml.padding_token_id", &c->pad_token_id, err, errlen))
        return -1;
    model_config_set_eos(c, eos);
    char verr[512];
    if (model_config_validate(c, verr, sizeof(verr)) != 0) return rlvr_err(err, errlen, "gguf '%s': %s", g->path, verr);
    return 0;
}

// Copies tensor t into dst (the HF tensor ti). perm_heads > 0: un-permute the rows of each of
// perm_heads heads (LLaMA q_proj / k_proj).
static int read_tensor(const Gguf *g, const GgufTensor *t, const TensorInfo *ti, float *dst, int perm_heads, char *err, size_t errlen) {
    size_t rows = ti->ndim == 2 ? ti->shape[0] : 1, cols = ti->ndim == 2 ? ti->shape[1] : ti->shape[0];
    int shape_ok = t->ndim == ti->ndim && t->ne[0] == cols && (ti->ndim == 1 || t->ne[1] == rows);
    if (!shape_ok) {
        char got[96], want[96];
        if (ti->ndim == 2) snprintf(want, sizeof(want), "[%zu, %zu]", cols, rows);
        else snprintf(want, sizeof(want), "[%zu]", cols);
        return rlvr_err(err, errlen, "gguf '%s': tensor '%s' (%s) has ne %s, the metadata implies %s "
                        "(hint: the metadata does not match the weights)", g->path, t->name, ti->name, gguf_shape_str(t, got, sizeof(got)), want);
    }
    if (!ggml_type_can_dequantize(t->type))
        return gguf_read_f32(g, t, dst, ti->numel, err, errlen);   // produces the "cannot be dequantized" error
    if (perm_heads <= 0) return gguf_read_f32(g, t, dst, ti->numel, err, errlen);
    size_t head_rows = rows / (size_t)perm_heads, half = head_rows / 2;
    if (head_rows * (size_t)perm_heads != rows || head_rows % 2)
        return rlvr_err(err, errlen, "gguf '%s': tensor '%s': %zu rows do not split into %d heads of even size", g->path, t->name, rows, perm_heads);
    size_t row_bytes = t->nbytes / rows;
    const unsigned char *src = g->map + t->offset;
    for (size_t h = 0; h < (size_t)perm_heads; h++)
        for (size_t i = 0; i < half; i++)
            for (size_t j = 0; j < 2; j++) {
                size_t grow = h * head_rows + 2 * i + j, hrow = h * head_rows + j * half + i;
                gguf_dequantize(t->type, src + grow * row_bytes, dst + hrow * cols, cols);
            }
    return 0;
}

int gguf_load_model(const Gguf *g, Model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    ModelConfig cfg;
    if (gguf_model_config(g, &cfg, err, errlen) != 0) return -1;
    char merr[512];
    if (model_init(m, &cfg, merr, sizeof(merr)) != 0) return rlvr_err(err, errlen, "gguf '%s': %s", g->path, merr);
    unsigned char *loaded = callocCheck((size_t)m->num_tensors, 1);
    int rc = 0;
    for (int i = 0; i < g->num_tensors && rc == 0; i++) {
        const GgufTensor *t = &g->tensors[i];
        char hf[MODEL_NAME_LEN];
        const TensorInfo *ti = NULL;
        if (gguf_hf_tensor_name(t->name, hf, sizeof(hf)) == 0) ti = model_find_tensor(m, hf);
        if (!ti) {
            rc = rlvr_err(err, errlen, "gguf '%s': tensor '%s' (info at offset %zu) has no counterpart in a %s model with %d layers "
                          "(hint: this architecture variant is not supported)", g->path, t->name, t->info_offset, model_arch_name(cfg.arch), cfg.num_layers);
            break;
        }
        int perm = 0;
        if (cfg.arch == ARCH_LLAMA && strstr(hf, "self_attn.q_proj.weight")) perm = cfg.num_heads;
        if (cfg.arch == ARCH_LLAMA && strstr(hf, "self_attn.k_proj.weight")) perm = cfg.num_kv_heads;
        rc = read_tensor(g, t, ti, m->params + ti->offset, perm, err, errlen);
        loaded[ti - m->tensors] = 1;
    }
    for (int i = 0; i < m->num_tensors && rc == 0; i++)
        if (!loaded[i]) rc = rlvr_err(err, errlen, "gguf '%s': the model needs '%s' but the file has no tensor for it", g->path, m->tensors[i].name);
    free(loaded);
    if (rc != 0) model_free(m);
    return rc;
}
