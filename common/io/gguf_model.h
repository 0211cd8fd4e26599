// A GGUF model (llama.cpp naming) as our Model (HF naming, float32).
//
// Architectures: general.architecture "llama" (LlamaForCausalLM) and "qwen2" (Qwen2ForCausalLM).
// Metadata -> ModelConfig ({arch} is the architecture name):
//   {arch}.embedding_length -> hidden_size        {arch}.feed_forward_length -> intermediate_size
//   {arch}.block_count -> num_hidden_layers       {arch}.context_length -> max_position_embeddings
//   {arch}.attention.head_count(_kv) -> num_attention_heads / num_key_value_heads (kv defaults to heads)
//   {arch}.attention.key_length -> head_dim (default C / H; value_length must equal it)
//   {arch}.rope.freq_base -> rope_theta (default 10000)   {arch}.attention.layer_norm_rms_epsilon -> rms_norm_eps
//   vocab_size: rows of token_embd.weight ({arch}.vocab_size must agree when present)
//   tokenizer.ggml.bos/eos/padding_token_id -> bos/eos/pad_token_id
//   tie_word_embeddings: 1 when output.weight is absent
// Refused (a clear error, not a silently different model): rope scaling, partial rotary
// ({arch}.rope.dimension_count != head_dim), LLaMA attention biases, rope_freqs.weight, any tensor
// without an HF counterpart.
// Tensors (GGUF ne = {in, out} is HF (out, in), same bytes):
//   token_embd.weight -> model.embed_tokens.weight      output_norm.weight -> model.norm.weight
//   output.weight -> lm_head.weight
//   blk.N.attn_norm.weight -> model.layers.N.input_layernorm.weight
//   blk.N.ffn_norm.weight -> model.layers.N.post_attention_layernorm.weight
//   blk.N.attn_{q,k,v}.{weight,bias} -> model.layers.N.self_attn.{q,k,v}_proj.{weight,bias}
//   blk.N.attn_output.weight -> model.layers.N.self_attn.o_proj.weight
//   blk.N.ffn_{gate,up,down}.weight -> model.layers.N.mlp.{gate,up,down}_proj.weight
// LLaMA: llama.cpp's convert_hf_to_gguf.py reorders the rows of each head of q_proj and k_proj
// (HF's rotate-half RoPE pairs dimension i with i + D/2; ggml's pairs 2i with 2i + 1): GGUF row
// h*D + 2i + j holds HF row h*D + j*D/2 + i. That is undone here. Qwen2 files are not permuted.
#pragma once
#include <stddef.h>

#include "common/engine/model.h"
#include "common/io/gguf.h"

// Metadata -> ModelConfig. Returns 0 or -1 with err naming the file and key.
int gguf_model_config(const Gguf *g, ModelConfig *c, char *err, size_t errlen);
// HF name of a GGUF tensor name into out (cap bytes); 0, or -1 when it has no HF counterpart.
int gguf_hf_tensor_name(const char *gguf_name, char *out, size_t cap);
// The whole model: config, then every tensor dequantized into place (Q/K rows un-permuted for
// LLaMA). m is model_init'ed here (model_free it afterwards); on failure m is left zeroed and err
// names the file, the tensor and the problem.
int gguf_load_model(const Gguf *g, Model *m, char *err, size_t errlen);
