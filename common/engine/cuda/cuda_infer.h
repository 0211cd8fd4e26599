// Generation on one GPU: batched prefill and decode with a KV cache in device memory, sampling on the
// device. The GPU counterpart of common/engine/infer.h's Infer, driven by the same slot scheduler
// (common/engine/genloop.h): rows are (slot, position, token), each slot has its own length, a
// prompt's K/V is prefilled once and its prefix copied to the slots of its other samples.
//
// Precision: CUDA_PREC_FP32 (weights, KV cache, activations fp32; must match the CPU engine within
// the CUDA tests' tolerance) or CUDA_PREC_BF16 (bf16 weights, KV cache and activations, fp32
// accumulation in every GEMM and reduction, logits and sampling in fp32).
//
// Sampling (on the device, one block per sampled row): logits / temperature, then top-k, then top-p
// over the top-k set (ties by lower id, as common/engine/sampler.h), and one uniform
// philox_uniform(seed, draw) (common/core/philox.h) inverted over the kept set. The reported log-prob
// and entropy are those of softmax(logits / T) over the full vocabulary before truncation (the
// sampler.h convention); temperature 0 = greedy (argmax, lowest id on ties) with log-prob / entropy
// under softmax(logits). A row's result depends only on its logits, its seed and its draw index:
// never on the batch.
//
// Plain C; the functions exist only when RLVR_CUDA is defined. Errors in arguments return -1 with err;
// device failures die with a hint (cuda_ops.h).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "common/engine/cuda/cuda_model.h"
#include "common/engine/model.h"
#include "common/engine/sampler.h"

typedef struct CudaInfer CudaInfer;

typedef struct {
    CudaPrecision precision;
    int max_batch;          // slots (sequences decoded together); 0: as many as mem_fraction allows
    int max_seq;            // positions per slot (prompt + new tokens)
    double mem_fraction;    // of the device's total memory this engine may hold (weights + KV + work)
    int device;             // CUDA device ordinal
} CudaInferOpts;

// Sizes everything from opts (KV cache = what is left of mem_fraction after weights and workspace,
// capped at max_batch * max_seq positions). Returns -1 with err naming the knob when even one slot of
// max_seq does not fit.
int cuda_infer_init(CudaInfer **out, const Model *m, const CudaInferOpts *opts, char *err, size_t errlen);
void cuda_infer_free(CudaInfer *s);
int cuda_infer_max_batch(const CudaInfer *s);      // slots actually allocated
size_t cuda_infer_device_bytes(const CudaInfer *s); // bytes held on the device
// New weights (same config) from host fp32 params, converted on the device in BF16 mode; between steps.
void cuda_infer_load_params(CudaInfer *s, const float *params);
// The same from bf16 weights straight off the wire (BF16 mode: no fp32 copy anywhere).
void cuda_infer_load_params_bf16(CudaInfer *s, const uint16_t *params);

// KV cache bookkeeping, as kv_cache_* in infer.h: slot lengths, and a copy of the first len positions
// of slot src to slot dst (all layers), setting dst's length to len.
void cuda_infer_reset_slot(CudaInfer *s, int slot);
void cuda_infer_copy_prefix(CudaInfer *s, int dst, int src, int len);

// Feeds n rows (row i: token tokens[i] at position pos[i] of slot slots[i]; rules of infer_forward),
// then for each of the n_out rows listed in out_rows samples one token on the device with
// sp (per-row seeds[j] and draw counters draws[j]) and writes tok[j], logp[j], ent[j] (host arrays).
// logits_out (n_out, V) host, may be NULL: the raw temperature-1 logits of those rows (tests).
void cuda_infer_step(CudaInfer *s, int n, const int *slots, const int *pos, const int *tokens,
                     int n_out, const int *out_rows, const SamplerParams *sp, const uint64_t *seeds,
                     const uint64_t *draws, int *tok, float *logp, float *ent, float *logits_out);

#ifdef __cplusplus
}
#endif
