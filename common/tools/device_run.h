// The engines of `rlvr eval / generate / score` on the device the user chose (--device cpu|cuda,
// --precision fp32|bf16, --gpu-memory-fraction F; common/engine/device.h):
//   - ToolGen: generation behind the generation loop's seam (common/engine/genloop.h): the CPU Infer,
//     or the GPU engine (common/engine/cuda/cuda_gen_backend.h) on the first visible GPU;
//   - ToolScorer: the training forward + log-prob / entropy head over one sequence: the CPU engine
//     (common/engine/forward.h) or the GPU model (common/engine/cuda/cuda_model.h; fp32 = the CPU's
//     numbers within the CUDA tests' tolerance, bf16 weights and activations with an fp32 head).
#pragma once
#include <stddef.h>

#include "common/engine/device.h"
#include "common/engine/forward.h"
#include "common/engine/genloop.h"
#include "common/engine/infer.h"
#include "common/engine/model.h"

typedef struct {
    Infer inf;
    int have_inf;
    void *gpu;        // CudaGen when the device is cuda
    GenBackend be;    // drives either
} ToolGen;

// max_batch slots of max_seq positions. 0, or -1 with err (device unavailable, sizes).
int tool_gen_init(ToolGen *g, const Model *m, const DeviceOpts *d, int max_batch, int max_seq, char *err, size_t errlen);
void tool_gen_free(ToolGen *g);

typedef struct {
    const Model *m;
    Acts acts;        // cpu
    int have_acts;
    void *cm, *ca;    // CudaModel, CudaActs when the device is cuda
} ToolScorer;

// For sequences of up to max_seq tokens. 0, or -1 with err.
int tool_scorer_init(ToolScorer *s, const Model *m, const DeviceOpts *d, int max_seq, char *err, size_t errlen);
// Forward of tokens (T) and the head at temperature temp: logp / ent / hn (T) as model_head
// (targets[t] = -1 for rows without a target; hn may be NULL).
void tool_scorer_run(ToolScorer *s, const int *tokens, int T, const int *targets, float temp, float *logp, float *ent, float *hn);
void tool_scorer_free(ToolScorer *s);
