// Model files: loading and saving a Model (common/engine/model.h) in either format. PATH is an HF
// directory (config.json + model.safetensors, or sharded model-0000x-of-0000y.safetensors with
// model.safetensors.index.json), a native HDF5 model file (*.h5, common/io/model_h5.h) or, for
// reading, a llama.cpp GGUF file (common/io/gguf.h).
// On failure these return -1 and err names the file and the problem.
#pragma once
#include <stddef.h>

#include "common/engine/model.h"
#include "common/engine/tokenizer.h"

// A model carries its tokenizer: an HF directory's tokenizer.json + tokenizer_config.json (and the
// EOS ids of generation_config.json) are read with it, a native file keeps them in tokenizer/, and
// model_save_hf writes them back. tokenizer_from_model (common/engine/tokenizer.h) builds it.
int model_load(const char *path, Model *m, char *err, size_t errlen);
int model_save_hf(const Model *m, const char *dir, char *err, size_t errlen);
int model_save_native(const Model *m, const char *path, char *err, size_t errlen);

// The tokenizer of PATH without its weights: a tokenizer.json file (with a tokenizer_config.json
// beside it when there is one), an HF model directory (its tokenizer.json, or the built-in tokenizer
// its config.json names; config.json / generation_config.json add their EOS ids), or a native .h5
// model or checkpoint (config/ and tokenizer/). Returns 0, or -1 with err naming the file.
int model_load_tokenizer(const char *path, Tokenizer *t, char *err, size_t errlen);

// 1 when PATH is a llama.cpp GGUF file (model_load reads it: weights dequantized to float32, the
// vocabulary as tokenizer.json text when its family is supported).
int model_is_gguf(const char *path);
// For a GGUF file that model_load returned without a tokenizer: -1 with err saying why (0: it has one).
int model_gguf_tokenizer_error(const char *path, char *err, size_t errlen);
