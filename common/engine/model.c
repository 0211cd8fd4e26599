#include "common/engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/core/rng.h"

void model_config_default(ModelConfig *c) {
    memset(c, 0, sizeof(*c));
    c->arch = ARCH_QWEN2;
    c->rope_theta = 10000.0f;
    c->rms_norm_eps = 1e-6f;
    c->max_position_embeddings = 2048;
    c->bos_token_id = c->pad_token_id = -1;
    c->n_eos = 0;
}

void model_config_set_eos(ModelConfig *c, int id) {
    c->n_eos = 0;
    memset(c->eos_token_ids, 0, sizeof(c->eos_token_ids));   // configs are compared whole (memcmp)
    if (id >= 0) c->eos_token_ids[c->n_eos++] = id;
}

int model_config_add_eos(ModelConfig *c, int id) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_ids[i] == id) return 0;
    if (c->n_eos >= MODEL_MAX_EOS) return 0;
    c->eos_token_ids[c->n_eos++] = id;
    return 1;
}

const char *model_arch_name(ModelArch a) {
    return a == ARCH_LLAMA ? "LlamaForCausalLM" : "Qwen2ForCausalLM";
}

int model_config_validate(const ModelConfig *c, char *err, size_t errlen) {
#define POS(field) if (c->field <= 0) return rlvr_err(err, errlen, "model config: %s = %d must be > 0", #field, c->field)
    POS(vocab_size); POS(hidden_size); POS(intermediate_size); POS(num_layers);
    POS(num_heads); POS(num_kv_heads); POS(head_dim); POS(max_position_embeddings);
#undef POS
    if (c->num_layers > MODEL_MAX_LAYERS)
        return rlvr_err(err, errlen, "model config: num_hidden_layers = %d exceeds the supported %d", c->num_layers, MODEL_MAX_LAYERS);
    if (c->num_heads % c->num_kv_heads != 0)
        return rlvr_err(err, errlen, "model config: num_attention_heads = %d is not a multiple of num_key_value_heads = %d",
                        c->num_heads, c->num_kv_heads);
    if (c->head_dim % 2 != 0)
        return rlvr_err(err, errlen, "model config: head_dim = %d must be even for RoPE", c->head_dim);
    if (!(c->rope_theta > 0) || !(c->rms_norm_eps > 0))
        return rlvr_err(err, errlen, "model config: rope_theta and rms_norm_eps must be > 0");
    for (int id, k = 0; k < 2; k++) {
        id = k == 0 ? c->bos_token_id : c->pad_token_id;
        if (id >= c->vocab_size)
            return rlvr_err(err, errlen, "model config: %s = %d is outside the vocabulary (%d)",
                            k == 0 ? "bos_token_id" : "pad_token_id", id, c->vocab_size);
    }
    if (c->n_eos < 0 || c->n_eos > MODEL_MAX_EOS)
        return rlvr_err(err, errlen, "model config: %d eos_token_id entries (at most %d)", c->n_eos, MODEL_MAX_EOS);
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_ids[i] < 0 || c->eos_token_ids[i] >= c->vocab_size)
            return rlvr_err(err, errlen, "model config: eos_token_id = %d is outside the vocabulary (%d)", c->eos_token_ids[i], c->vocab_size);
    return 0;
}

static void add_tensor(Model *m, size_t *off, const char *name, int ndim, size_t d0, size_t d1) {
    TensorInfo *t = &m->tensors[m->num_tensors++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 0;
    t->numel = ndim == 2 ? d0 * d1 : d0;
    t->offset = *off;
    *off += t->numel;
}

int model_init(Model *m, const ModelConfig *cfg, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    if (model_config_validate(cfg, err, errlen) != 0) return -1;
    m->cfg = *cfg;
    const size_t C = cfg->hidden_size, V = cfg->vocab_size, I = cfg->intermediate_size;
    const size_t QD = (size_t)cfg->num_heads * cfg->head_dim, KD = (size_t)cfg->num_kv_heads * cfg->head_dim;
    m->tensors = callocCheck((size_t)cfg->num_layers * 12 + 3, sizeof(TensorInfo));
    size_t off = 0;
    char name[MODEL_NAME_LEN];
    add_tensor(m, &off, "model.embed_tokens.weight", 2, V, C);
    for (int l = 0; l < cfg->num_layers; l++) {
#define T(suffix, nd, a, b) do { snprintf(name, sizeof(name), "model.layers.%d.%s", l, suffix); add_tensor(m, &off, name, nd, a, b); } while (0)
        T("input_layernorm.weight", 1, C, 0);
        T("self_attn.q_proj.weight", 2, QD, C);
        if (cfg->qkv_bias) T("self_attn.q_proj.bias", 1, QD, 0);
        T("self_attn.k_proj.weight", 2, KD, C);
        if (cfg->qkv_bias) T("self_attn.k_proj.bias", 1, KD, 0);
        T("self_attn.v_proj.weight", 2, KD, C);
        if (cfg->qkv_bias) T("self_attn.v_proj.bias", 1, KD, 0);
        T("self_attn.o_proj.weight", 2, C, QD);
        T("post_attention_layernorm.weight", 1, C, 0);
        T("mlp.gate_proj.weight", 2, I, C);
        T("mlp.up_proj.weight", 2, I, C);
        T("mlp.down_proj.weight", 2, C, I);
#undef T
    }
    add_tensor(m, &off, "model.norm.weight", 1, C, 0);
    if (!cfg->tie_word_embeddings) add_tensor(m, &off, "lm_head.weight", 2, V, C);
    m->num_params = off;
    m->params = callocBigCheck(off, sizeof(float));
    return 0;
}

void model_alloc_train(Model *m) {
    if (!m->grads) m->grads = callocBigCheck(m->num_params, sizeof(float));
    if (!m->adam_m) m->adam_m = callocBigCheck(m->num_params, sizeof(float));
    if (!m->adam_v) m->adam_v = callocBigCheck(m->num_params, sizeof(float));
}

void model_free(Model *m) {
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->tokenizer_json);
    free(m->tokenizer_config_json);
    memset(m, 0, sizeof(*m));
}

void model_copy(Model *dst, const Model *src) {
    char err[256];
    if (model_init(dst, &src->cfg, err, sizeof(err)) != 0) die("model_copy: %s", err);
    memcpy(dst->params, src->params, src->num_params * sizeof(float));
    if (src->tokenizer_json) dst->tokenizer_json = strdupCheck(src->tokenizer_json);
    if (src->tokenizer_config_json) dst->tokenizer_config_json = strdupCheck(src->tokenizer_config_json);
}

const TensorInfo *model_find_tensor(const Model *m, const char *name) {
    for (int i = 0; i < m->num_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

static float *view_of(const Model *m, float *base, const char *name) {
    const TensorInfo *t = model_find_tensor(m, name);
    return t ? base + t->offset : NULL;
}

void model_view(const Model *m, float *base, ModelView *v) {
    memset(v, 0, sizeof(*v));
    // The tensor table is in a fixed order, so walk it instead of searching by name per layer.
    const TensorInfo *t = m->tensors;
    v->embed_tokens = base + (t++)->offset;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        LayerView *lv = &v->layers[l];
        lv->input_layernorm = base + (t++)->offset;
        lv->q_proj = base + (t++)->offset;
        if (m->cfg.qkv_bias) lv->q_bias = base + (t++)->offset;
        lv->k_proj = base + (t++)->offset;
        if (m->cfg.qkv_bias) lv->k_bias = base + (t++)->offset;
        lv->v_proj = base + (t++)->offset;
        if (m->cfg.qkv_bias) lv->v_bias = base + (t++)->offset;
        lv->o_proj = base + (t++)->offset;
        lv->post_attention_layernorm = base + (t++)->offset;
        lv->gate_proj = base + (t++)->offset;
        lv->up_proj = base + (t++)->offset;
        lv->down_proj = base + (t++)->offset;
    }
    v->norm = base + (t++)->offset;
    v->lm_head = m->cfg.tie_word_embeddings ? v->embed_tokens : view_of(m, base, "lm_head.weight");
}

void model_init_random(Model *m, uint64_t seed, float std) {
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < m->num_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int is_norm = strstr(t->name, "norm") != NULL;
        for (size_t j = 0; j < t->numel; j++)
            p[j] = is_norm ? 1.0f : t->ndim == 1 ? 0.0f : std * rng_normal(&rng);
    }
}
