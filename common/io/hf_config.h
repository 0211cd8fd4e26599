// Hugging Face config.json <-> ModelConfig for Qwen2ForCausalLM and LlamaForCausalLM.
#pragma once
#include <stddef.h>

#include "common/engine/model.h"

// Reads and validates config.json at PATH. Refuses what our engine cannot run exactly (rope_scaling,
// active sliding-window attention, LLaMA attention/mlp biases, activations other than silu) rather
// than silently computing something else. Returns 0 or -1 with err naming the file and key.
int hf_config_load(const char *path, ModelConfig *c, char *err, size_t errlen);

// Adds the eos_token_id (a number or a list) of generation_config.json at PATH to c's EOS ids.
// Returns 0 or -1 with err naming the file.
int hf_generation_config_load(const char *path, ModelConfig *c, char *err, size_t errlen);

// Writes config.json for c to PATH (via PATH.tmp + rename), loadable by transformers:
// model_type, architectures, every size key, eos_token_id (a list when there are several),
// torch_dtype "float32", plus our "rlvr_tokenizer".
// Floats are written in their shortest exact form so a reload is bit-identical.
int hf_config_save(const ModelConfig *c, const char *path, char *err, size_t errlen);

// Shortest decimal text that parses back (strtof) to exactly v, always with a '.' or exponent.
void hf_format_float(float v, char *buf, size_t cap);
