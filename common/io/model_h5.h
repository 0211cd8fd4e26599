// The model inside an HDF5 file: the native model format and the model part of checkpoints.
//
// Under any HDF5 location (a file's root or a group):
//   config/   group; one attribute per ModelConfig field under its HF config.json key:
//             architectures, model_type, rlvr_tokenizer (strings); vocab_size, hidden_size,
//             intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
//             max_position_embeddings, attention_bias (1: q/k/v biases), tie_word_embeddings,
//             bos_token_id, eos_token_id, pad_token_id (-1 when absent) (int32); eos_token_ids
//             (int32 list, only when the model has several EOS ids; eos_token_id is then the first);
//             rope_theta, rms_norm_eps (float32)
//   tokenizer/ group, when the model carries an HF tokenizer: tokenizer.json and (when present)
//             tokenizer_config.json, each the file's text as a scalar fixed-length string dataset
//             with a uint32 crc32c attribute (h5py: f["tokenizer/tokenizer.json"][()].decode()).
//             The chat template travels inside tokenizer_config.json.
//   model/    group; one float32 dataset per tensor, named by its HF name and shaped as in HF
//             (model.layers.0.self_attn.q_proj.weight: (H*D, C)); no lm_head.weight when tied.
//
// A native model file (model_save_native) is that at the root plus root attributes
// magic = "rlvr-model" and format_version = 1. h5py: f["model"]["model.norm.weight"][...].
#pragma once
#include <hdf5.h>
#include <stddef.h>

#include "common/engine/model.h"

#define MODEL_H5_MAGIC "rlvr-model"
#define MODEL_H5_VERSION 1

// Writes config/ and model/ under loc. Returns 0 or -1 with err (naming the file).
int model_h5_write(hid_t loc, const Model *m, char *err, size_t errlen);
// Reads config/ and model/ under loc into m (model_init'ed here; model_free it afterwards). Every
// tensor must be present with its shape, no unknown datasets. Returns 0 or -1 with err naming the
// file, the object and the problem; m is left zeroed on failure.
int model_h5_read(hid_t loc, Model *m, char *err, size_t errlen);

// Reads tokenizer/ under loc: the texts (malloc'd), or both NULL when the group is absent. Returns 0,
// or -1 with err (a damaged dataset, a failed checksum).
int model_h5_read_tokenizer(hid_t loc, char **json, char **config_json, char *err, size_t errlen);
// Reads config/ under loc into c (the rest of the file is not touched).
int model_h5_read_config(hid_t loc, ModelConfig *c, char *err, size_t errlen);

// Silences HDF5's automatic error-stack printing between begin and end (restoring the previous
// handler), so that failures become our own error messages.
typedef struct { H5E_auto2_t func; void *data; } H5Quiet;
void h5_quiet_begin(H5Quiet *q);
void h5_quiet_end(const H5Quiet *q);
// The most specific message on the current HDF5 error stack ("" when empty), e.g.
// "truncated file: eof = 1024, sblock->base_addr = 0, stored_eof = 4096".
const char *h5_error_text(char *buf, size_t cap);
// Name of the file that holds loc (for messages); "?" when unknown.
const char *h5_file_name(hid_t loc, char *buf, size_t cap);

// Scalar attribute helpers on any object (file, group, dataset). Writers overwrite an existing
// attribute. Readers return 0, or -1 with err naming the attribute when it is missing or has the
// wrong class. Strings are written fixed-length (h5py reads them as bytes); both fixed and
// variable-length strings are read (cap includes the NUL; longer values are an error).
int h5_attr_write_int(hid_t obj, const char *name, long long v);
int h5_attr_write_int_array(hid_t obj, const char *name, const int *v, size_t n);   // int32 list
int h5_attr_read_int_array(hid_t obj, const char *name, int *v, size_t cap, size_t *n, char *err, size_t errlen);
int h5_attr_write_float(hid_t obj, const char *name, float v);
int h5_attr_write_double(hid_t obj, const char *name, double v);
int h5_attr_write_str(hid_t obj, const char *name, const char *v);
int h5_attr_read_int(hid_t obj, const char *name, long long *v, char *err, size_t errlen);
int h5_attr_read_float(hid_t obj, const char *name, float *v, char *err, size_t errlen);
int h5_attr_read_double(hid_t obj, const char *name, double *v, char *err, size_t errlen);
int h5_attr_read_str(hid_t obj, const char *name, char *buf, size_t cap, char *err, size_t errlen);
