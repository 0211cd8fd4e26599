// The fp32 training engine of common/engine/forward.h + common/engine/optim.h on one CUDA device.
//
// The device model holds the same single contiguous buffers as the host Model (params, grads, adam_m,
// adam_v; same layout, same tensor offsets), each moved with ONE cudaMemcpy, so checkpoints, the
// all-reduce of grads (NCCL on cm->grads, num_params floats) and weight broadcast stay one call each.
// Inputs and outputs of forward / head / backward are HOST arrays, exactly as in forward.h, so a caller
// swaps model_* for cuda_model_* without other changes:
//
//     CudaModel cm; CudaActs ca;
//     cuda_model_init(&cm, &m, 1, 0);               // upload params (+ zeroed grads / Adam state)
//     cuda_acts_init(&ca, &m.cfg, B, T);
//     cuda_model_zero_grad(&cm);
//     cuda_model_forward(&cm, &ca, tokens, B, T);
//     cuda_model_head(&cm, &ca, targets, temperature, logp, entropy, NULL, NULL);
//     ... dlogp from the loss on the host ...
//     cuda_model_backward(&cm, &ca, dlogp);        // grads += (accumulates across micro-batches)
//     double norm = cuda_model_clip_grad_norm(&cm, 1.0f);
//     cuda_model_adamw_step(&cm, &adamw, lr, step);
//     cuda_model_download(&cm, &m);                // params, grads, Adam state back to the host
//
// Plain C: compiles without CUDA; the functions exist only when RLVR_CUDA is defined.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "common/engine/cuda/cuda_ops.h"
#include "common/engine/model.h"
#include "common/engine/optim.h"

typedef struct {
    ModelConfig cfg;
    size_t num_params;
    int train;                        // 1: grads / adam_m / adam_v allocated
    float *params;                    // (num_params) device
    float *grads, *adam_m, *adam_v;   // (num_params) device, or NULL when !train
    ModelView w, gw;                  // device views into params and grads (gw zero when !train)
    CudaCtx *cx;                      // cuBLAS handle and GEMM precision
} CudaModel;

// Device activations for batches up to (maxB, maxT); the field meanings and shapes are those of Acts in
// common/engine/forward.h (all device pointers, carved from one cudaMalloc). Training layout only (every layer
// kept).
typedef struct {
    int maxB, maxT, B, T;
    int L, C, H, KV, D, I, V;
    size_t head_rows;                 // rows of the (head_rows, V) logits chunk
    float temperature;
    int head_done;
    void *slab;                       // the one allocation
    size_t slab_bytes;
    int *tokens, *targets;            // (B, T)
    float *rope_cos, *rope_sin;       // (maxT, D/2), from rope_tables() on the host
    float *resid;                     // (L+1, B, T, C)
    float *ln1, *ln1_rstd;            // (L, B, T, C), (L, B, T)
    float *q, *k, *v;                 // (L, B, T, H*D), (L, B, T, KV*D) x2
    float *att;                       // (L, B, H, T, T)
    float *atty;                      // (L, B, T, H*D)
    float *resid_mid;                 // (L, B, T, C)
    float *ln2, *ln2_rstd;            // (L, B, T, C), (L, B, T)
    float *gate, *up, *mlp_h;         // (L, B, T, I)
    float *lnf, *lnf_rstd;            // (B, T, C), (B, T)
    float *lse;                       // (B, T)
    float *logits;                    // (head_rows, V)
    float *stats;                     // (4, B, T): logp, entropy, hnorm, sumsq of the last head
    float *dlogp;                     // (B, T)
    float *dresid, *dln;              // (B, T, C)
    float *dq, *dk, *dv;              // (B, T, H*D), (B, T, KV*D) x2
    float *dbig;                      // (B, T, max(I, H*D))
    float *dgate, *dup;               // (B, T, I)
    float *att_scratch;               // cuda_attention_scratch_floats(maxB, maxT, ...)
    float *dlogp_host;                // (maxB * maxT) host copy of the last dlogp (chunk skipping)
} CudaActs;

// Uploads m->params (and, with train, m->grads / adam_m / adam_v when the host has them; zeros otherwise).
// allow_tf32: see cuda_ctx_create. Dies with a hint when there is no device or not enough memory.
void cuda_model_init(CudaModel *cm, const Model *m, int train, int allow_tf32);
void cuda_model_free(CudaModel *cm);
// Host -> device parameters only (e.g. after a checkpoint load). m must have cm's layout.
void cuda_model_upload_params(CudaModel *cm, const Model *m);
// Device -> host: params always; grads, adam_m, adam_v when both sides have them.
void cuda_model_download(const CudaModel *cm, Model *m);
void cuda_model_zero_grad(CudaModel *cm);

size_t cuda_acts_bytes(const ModelConfig *cfg, int maxB, int maxT);
void cuda_acts_init(CudaActs *a, const ModelConfig *cfg, int maxB, int maxT);
void cuda_acts_free(CudaActs *a);

// As model_forward / model_head / model_backward in common/engine/forward.h; host arrays in and out.
// tokens are validated on the host (die() naming the bad position, as model_forward).
void cuda_model_forward(const CudaModel *cm, CudaActs *a, const int *tokens, int B, int T);
void cuda_model_head(const CudaModel *cm, CudaActs *a, const int *targets, float temperature,
                     float *logp, float *entropy, float *hnorm, float *sumsq);
void cuda_model_backward(CudaModel *cm, CudaActs *a, const float *dlogp);

// As model_adamw_step / model_clip_grad_norm in common/engine/optim.h, on the device buffers.
void cuda_model_adamw_step(CudaModel *cm, const AdamWConfig *c, float lr, long step);
double cuda_model_clip_grad_norm(CudaModel *cm, float max_norm);

#ifdef __cplusplus
}
#endif
