// The GPU backend of the generation loop (common/engine/genloop.h): a CudaInfer
// (common/engine/cuda/cuda_infer.h) behind the GenBackend seam, so the slot scheduler, the rollout
// worker and `rlvr eval / generate` run on the GPU unchanged.
//
// Sampling differs from the CPU backend by design: the GPU draws token i of a request from
// philox_uniform(seed, i) (common/core/philox.h), the CPU from the request's xoshiro Rng seeded with
// the same seed. Both are per request and batch invariant; greedy decoding (temperature 0 / top-k 1)
// gives the same tokens on both up to fp32 (or bf16) rounding of near-ties.
//
// Plain C; exists only in builds with RLVR_CUDA.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/cuda/cuda_infer.h"
#include "common/engine/device.h"
#include "common/engine/genloop.h"
#include "common/engine/model.h"

typedef struct {
    CudaInfer *ci;
    GenBackend be;   // ctx = ci; max_batch = the slots the memory fraction allowed
} CudaGen;

// Creates the GPU engine for up to max_batch slots (0: as many as d->mem_fraction allows) of max_seq
// positions on device ordinal `device`, in d->precision, with m's weights. 0, or -1 with err (the
// memory fraction cannot hold one slot, ...).
int cuda_gen_init(CudaGen *g, const Model *m, const DeviceOpts *d, int device, int max_batch, int max_seq,
                  char *err, size_t errlen);
void cuda_gen_free(CudaGen *g);
// New weights between generation calls: fp32 host params, or bf16 straight off the wire.
void cuda_gen_load_params(CudaGen *g, const float *params);
void cuda_gen_load_params_bf16(CudaGen *g, const uint16_t *params);
