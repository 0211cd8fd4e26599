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
#include <stdint.h>

// ---- the learner on GPUs: mixed precision, recompute, flash attention, sharded optimizer ------------------
//
// Precision BF16: the fp32 master weights stay in `params` (only the ZeRO-1 shard of them when
// opts.opt_off / opt_len cover part of the buffer), a bf16 copy of ALL weights feeds every GEMM
// (cuBLAS bf16 inputs, fp32 accumulation), activations are stored in bf16, gradients are fp32 (one
// contiguous buffer, layout of Model.params), the log-prob / entropy head runs in fp32, Adam moments
// are fp32. FP32 keeps matching the CPU engine (the tests of cuda_model_init).
typedef enum { CUDA_PREC_FP32 = 0, CUDA_PREC_BF16 = 1 } CudaPrecision;

typedef struct {
    int train;                  // 1: grads (+ Adam state over [opt_off, opt_off + opt_len)) allocated
    CudaPrecision precision;
    int allow_tf32;             // fp32 mode only: cuBLAS may use TF32 tensor cores
    int recompute;              // activation checkpointing: keep each layer's input only; backward
                                // recomputes the layer's forward (one layer's activations live at a time)
    int flash;                  // 1: fused causal GQA attention (never T x T); 0: the cuBLAS full-matrix path
    size_t opt_off, opt_len;    // ZeRO-1 shard of the optimizer: Adam m / v (and, in BF16, the fp32
                                // master) exist only for these floats of the flat buffer. Stage 0: 0, num_params.
    size_t capacity;            // floats allocated for grads (>= num_params; padding for equal-size
                                // reduce-scatter blocks is zeroed and never read as a parameter). 0: num_params.
    int device;                 // CUDA device ordinal (cudaSetDevice before any allocation)
} CudaModelOpts;

typedef struct {
    ModelConfig cfg;
    size_t num_params;
    int train;                        // 1: grads / adam_m / adam_v allocated
    CudaModelOpts opts;               // as given (cuda_model_init: fp32, the whole buffer's optimizer)
    float *params;                    // FP32: (num_params) the weights; BF16: the fp32 master of
                                      // [opt_off, opt_off + opt_len) (NULL when !train)
    void *wb;                         // BF16: (num_params) bf16 compute weights; NULL in FP32
    float *grads;                     // (capacity) device, or NULL when !train
    float *adam_m, *adam_v;           // (opt_len): the moments of [opt_off, opt_off + opt_len), or NULL
    ModelView w, gw;                  // device views into params (FP32 only) and grads (gw zero when !train)
    ModelView wc;                     // views of the compute weights: w in FP32, bf16 addresses in BF16
    CudaCtx *cx;                      // cuBLAS handle and GEMM precision
} CudaModel;

// Device activations for batches up to (maxB, maxT); the field meanings and shapes are those of Acts in
// common/engine/forward.h (all device pointers, carved from one cudaMalloc by MEMPLAN_ACTS_FIELDS of
// common/engine/memplan.h). The shapes below are those of the full training layout; with recompute or in
// eval one layer's buffers are kept (Lk = 1) and in eval two residual slots (used in turn). Buffers of
// activations (resid, ln1, q, k, v, atty, resid_mid, ln2, gate, up, mlp_h, lnf, dln, dq, dk, dv, dbig,
// dgate, dup) hold elements of `act_bytes` bytes: bf16 in BF16 mode, whatever their C type says.
typedef struct {
    int maxB, maxT, B, T;
    int bf16, recompute, eval, flash; // the layout's options (cuda_acts_init_opts)
    size_t act_bytes;                 // 4 (fp32) or 2 (bf16)
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
    float *att;                       // (L, B, H, T, T) cuBLAS attention only (flash 0)
    float *att_lse;                   // (L, B, H, T) flash attention's row log-sum-exp
    float *atty;                      // (L, B, T, H*D)
    float *resid_mid;                 // (L, B, T, C)
    float *ln2, *ln2_rstd;            // (L, B, T, C), (L, B, T)
    float *gate, *up, *mlp_h;         // (L, B, T, I)
    float *lnf, *lnf_rstd;            // (B, T, C), (B, T)
    float *lse;                       // (B, T)
    float *logits;                    // (head_rows, V)
    void *logits16;                   // (head_rows, V) bf16 dz of a head chunk (BF16 training only)
    float *stats;                     // (4, B, T): logp, entropy, hnorm, sumsq of the last head
    float *dlogp, *dent;              // (B, T) each
    float *dresid, *dln;              // (B, T, C)
    float *dq, *dk, *dv;              // (B, T, H*D), (B, T, KV*D) x2
    float *dbig;                      // (B, T, max(I, H*D))
    float *dgate, *dup;               // (B, T, I)
    int *emb_index;                   // (3 N + 1) positions of each token, for the embedding gradient
    float *att_scratch;               // cuda_attention_scratch_floats / cuda_flash_scratch_floats
    float *dlogp_host, *dent_host;    // (maxB * maxT) host copies of the last dlogp / dent (chunk skipping)
    int *tokens_host;                 // (maxB * maxT) the last forward's tokens (host)
    int *index_host;                  // (5 N + 1) host scratch of the embedding index
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


// train 1, fp32, no tf32, no recompute, flash on, full optimizer, device 0.
void cuda_model_opts_default(CudaModelOpts *o, size_t num_params);
// Like cuda_model_init with options; m->grads / adam_m / adam_v uploaded when present (the Adam
// ranges [opt_off, opt_off + opt_len) of them), zeros otherwise.
void cuda_model_init_opts(CudaModel *cm, const Model *m, const CudaModelOpts *o);
// Activations laid out for cm's options (precision, recompute, flash). eval: forward + head only
// (one layer's buffers reused; cuda_model_backward refuses it), for the old / reference log-prob pass.
void cuda_acts_init_opts(CudaActs *a, const CudaModel *cm, int maxB, int maxT, int eval);
// Device bytes cuda_acts_init_opts allocates; and of cuda_model_init_opts (weights, master, grads,
// Adam shard), for the memory plan.
size_t cuda_acts_bytes_opts(const ModelConfig *cfg, const CudaModelOpts *o, int maxB, int maxT, int eval);
size_t cuda_model_bytes_opts(const ModelConfig *cfg, size_t num_params, const CudaModelOpts *o);

// As model_backward_ent: dent (B, T) = dLoss/dH for the entropy of the last head (NULL = none).
void cuda_model_backward_ent(CudaModel *cm, CudaActs *a, const float *dlogp, const float *dent);

// Sum of squares of grads[off, off + n) in double (deterministic), for the global norm of sharded grads.
double cuda_model_grad_sqnorm_range(const CudaModel *cm, size_t off, size_t n);
// grads[off, off + n) *= factor.
void cuda_model_scale_grads_range(CudaModel *cm, size_t off, size_t n, float factor);
// One AdamW step on [off, off + n) (inside the optimizer shard): the fp32 master weights of the range
// are updated from grads, then (BF16) the range of the bf16 weights is refreshed from them.
void cuda_model_adamw_range(CudaModel *cm, const AdamWConfig *c, float lr, long step, size_t off, size_t n);

// The compute weights (device): fp32 `params` in FP32 mode, the bf16 copy in BF16 mode; elements of
// cuda_model_weight_bytes(cm) / num_params bytes each. What NCCL all-gathers / broadcasts.
void *cuda_model_weights(const CudaModel *cm);
size_t cuda_model_weight_bytes(const CudaModel *cm);
// ZeRO-1: after each rank's cuda_model_adamw_range on its shard, the learner all-gathers
// cuda_model_weights() (bf16 in BF16 mode, so half the bytes) and every rank holds the new weights.
// Device -> host copies for checkpoints and the weight broadcast (no full fp32 device copy made):
// params as fp32 (BF16: master where this rank holds it, bf16 widened elsewhere; callers that need
// exact fp32 masters gather the shards), optimizer state of the shard.
void cuda_model_download_params(const CudaModel *cm, float *host, size_t off, size_t n);
void cuda_model_download_weights_bf16(const CudaModel *cm, uint16_t *host, size_t off, size_t n);
void cuda_model_download_opt(const CudaModel *cm, float *m_host, float *v_host, float *master_host);  // shard only
void cuda_model_upload_opt(CudaModel *cm, const float *m_host, const float *v_host, const float *master_host);
float *cuda_model_grads(const CudaModel *cm);   // device (capacity floats)

// Phase timing for benchmarks (off by default; no cost when off). While on, the cuda_model_* calls
// record cudaEvents around their GEMMs (the layers' projections), attention, the head (its GEMMs
// included) and the optimizer (norm, clip, AdamW); cuda_model_profile_take synchronises, adds up the
// milliseconds per phase into ms[CUDA_PHASES] and starts over.
enum { CUDA_PHASE_GEMM = 0, CUDA_PHASE_ATTENTION, CUDA_PHASE_HEAD, CUDA_PHASE_OPTIMIZER, CUDA_PHASES };
void cuda_model_profile(int on);
void cuda_model_profile_take(double *ms);

#ifdef __cplusplus
}
#endif
