// Model files: loading and saving a Model (common/engine/model.h) in either format. PATH is an HF
// directory (config.json + model.safetensors, or sharded model-0000x-of-0000y.safetensors with
// model.safetensors.index.json) or a native HDF5 model file (*.h5, common/io/model_h5.h).
// On failure these return -1 and err names the file and the problem.
#pragma once
#include <stddef.h>

#include "common/engine/model.h"

int model_load(const char *path, Model *m, char *err, size_t errlen);
int model_save_hf(const Model *m, const char *dir, char *err, size_t errlen);
int model_save_native(const Model *m, const char *path, char *err, size_t errlen);
