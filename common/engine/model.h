// The model: a decoder-only LLaMA / Qwen2 transformer held in one contiguous parameter buffer.
//
// Parameters, gradients and the two AdamW moments are each ONE float buffer of num_params floats
// with the same layout, so zeroing, all-reduce, the optimizer step, checkpoints and weight broadcast
// are each one call. Tensors are addressed by their Hugging Face names (model.layers.3.mlp.up_proj.weight)
// through the `tensors` table, or through the typed views below.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define MODEL_MAX_LAYERS 256
#define MODEL_NAME_LEN 96
#define MODEL_MAX_EOS 8     // end-of-sequence ids of one model (config.json's list + generation_config.json)

typedef enum { ARCH_QWEN2 = 0, ARCH_LLAMA = 1 } ModelArch;

typedef struct {
    ModelArch arch;           // Qwen2ForCausalLM or LlamaForCausalLM
    int vocab_size;           // V
    int hidden_size;          // C
    int intermediate_size;    // I (SwiGLU inner width)
    int num_layers;           // L
    int num_heads;            // H (query heads)
    int num_kv_heads;         // KV (H % KV == 0; KV < H is grouped-query attention)
    int head_dim;             // D (usually C / H)
    int max_position_embeddings;
    float rope_theta;
    float rms_norm_eps;
    int qkv_bias;             // Qwen2: 1 (q/k/v projections have a bias), LLaMA: 0 (attention_bias)
    int tie_word_embeddings;  // 1: lm_head shares model.embed_tokens.weight
    int bos_token_id, pad_token_id;   // -1 when absent
    int n_eos;                        // end-of-sequence ids: config.json eos_token_id (a number or a list),
    int eos_token_ids[MODEL_MAX_EOS]; // then generation_config.json's; the first is the canonical one
    char tokenizer[32];       // "char" for the built-in character tokenizer, "" otherwise (tokenizer_json)
} ModelConfig;

typedef struct {
    char name[MODEL_NAME_LEN];  // HF tensor name
    size_t offset;              // in floats, into the parameter buffer
    size_t numel;
    int ndim;                   // 1 or 2
    size_t shape[2];            // HF (out, in) for weights, (n) for vectors
} TensorInfo;

// Pointers into one buffer (params, grads, adam m or v). Shapes in HF convention: weight (out, in),
// so y = x @ W^T.
typedef struct {
    float *input_layernorm;          // (C)
    float *q_proj, *q_bias;          // (H*D, C), (H*D) — bias NULL unless qkv_bias
    float *k_proj, *k_bias;          // (KV*D, C), (KV*D)
    float *v_proj, *v_bias;          // (KV*D, C), (KV*D)
    float *o_proj;                   // (C, H*D)
    float *post_attention_layernorm; // (C)
    float *gate_proj;                // (I, C)
    float *up_proj;                  // (I, C)
    float *down_proj;                // (C, I)
} LayerView;

typedef struct {
    float *embed_tokens;             // (V, C)
    LayerView layers[MODEL_MAX_LAYERS];
    float *norm;                     // (C) final RMSNorm
    float *lm_head;                  // (V, C) == embed_tokens when tied
} ModelView;

typedef struct {
    ModelConfig cfg;
    int num_tensors;
    TensorInfo *tensors;     // (num_tensors) in buffer order
    size_t num_params;
    float *params;           // (num_params)
    float *grads;            // (num_params) or NULL until model_alloc_train
    float *adam_m, *adam_v;  // (num_params) or NULL until model_alloc_train
    // The tokenizer travels with the model: the text of HF's tokenizer.json and tokenizer_config.json
    // (chat template, special tokens), NULL when absent (cfg.tokenizer then names a built-in one).
    // Owned: model_free frees them, model_copy copies them. common/engine/tokenizer.h builds a
    // Tokenizer from them (tokenizer_from_model).
    char *tokenizer_json;
    char *tokenizer_config_json;
} Model;

// Fills defaults (LLaMA-style eps 1e-6, theta 10000, ids -1). Callers set the sizes.
void model_config_default(ModelConfig *c);
// Checks sizes and divisibility; returns 0 or -1 with a message that names the bad field.
int model_config_validate(const ModelConfig *c, char *err, size_t errlen);
const char *model_arch_name(ModelArch a);   // "Qwen2ForCausalLM" / "LlamaForCausalLM"

// Builds the tensor table for cfg and allocates params (zeroed). grads/adam stay NULL.
int model_init(Model *m, const ModelConfig *cfg, char *err, size_t errlen);
// Sets the EOS list to the single id (or to none when id < 0).
void model_config_set_eos(ModelConfig *c, int id);
// Adds id to the EOS list unless it is there already or the list is full; returns 1 when added.
int model_config_add_eos(ModelConfig *c, int id);
// Allocates (zeroed) grads, adam_m and adam_v.
void model_alloc_train(Model *m);
void model_free(Model *m);
// Deep copy of config + params + tokenizer text (not grads/optimizer state).
void model_copy(Model *dst, const Model *src);

// Tensor lookup by HF name; NULL when absent.
const TensorInfo *model_find_tensor(const Model *m, const char *name);
// Typed views into any buffer with the parameter layout (params, grads, adam_m, adam_v).
void model_view(const Model *m, float *base, ModelView *v);
// Deterministic init: normal(0, std) weights (std = 0.02), ones for norms, zeros for biases.
void model_init_random(Model *m, uint64_t seed, float std);
