// Device memory of a training step: the one place that knows the GPU learner's buffer sizes.
//
// The CUDA engine carves its activation slab with MEMPLAN_ACTS_FIELDS (so what `rlvr plan` prints is
// what cuda_acts_init_opts allocates, field for field), and the learner's --dry-run / start-up check
// and `rlvr plan` print memplan_train's breakdown. Plain arithmetic: works on machines without a GPU.
//
// Sizes: N = B*T tokens of a micro-batch, L layers, C hidden, H / KV heads, D head_dim, I MLP width,
// V vocab, A = bytes of an activation element (4 fp32, 2 bf16). Lk = layers whose activations are kept
// (L; 1 with recompute or in eval); Lr = residual-stream slots kept (L + 1; 2 in eval).
#pragma once
#include <stddef.h>

#include "common/engine/model.h"

#define MEMPLAN_ALIGN 256                     // bytes; every buffer starts on a 256-byte boundary
#define MEMPLAN_HEAD_CHUNK_FLOATS ((size_t)32 << 20)   // logits chunk of the head <= 128 MiB
#define MEMPLAN_HEAD_MAX_ROWS 2048
#define MEMPLAN_ZERO_BLOCK_ALIGN 64           // floats; ZeRO-1 shard blocks are multiples of this
// Not from cuda_malloc but on the device all the same: CUDA context + cuBLAS workspace + NCCL
// channels; a measured H100 figure for one process with NCCL initialised is ~0.6-0.9 GiB.
#define MEMPLAN_RUNTIME_RESERVE ((size_t)1 << 30)

typedef enum { MEMPLAN_FP32 = 0, MEMPLAN_BF16 = 1 } MemPlanPrecision;

typedef struct {
    MemPlanPrecision precision;
    int recompute;      // activation checkpointing
    int flash;          // fused attention (no T x T); 0: full (B, H, T, T) probabilities per layer
    int eval;           // forward + head only (old / reference log-prob pass)
    int zero_stage;     // 0 or 1
    int nranks;         // data-parallel ranks (ZeRO-1 shards over them)
    int micro_batch;    // B: sequences per micro-batch
    int seq_len;        // T: prompt + response tokens
} MemPlanOpts;

// Rows of the (rows, V) logits chunk for N tokens (>= 1).
size_t memplan_head_rows(size_t V, size_t N);

// The activation slab: X(name, count, elem_bytes) for every buffer, in carve order. Uses the locals
// MEMPLAN_ACTS_DIMS declares. A buffer with count 0 is absent in that configuration (NULL pointer).
// logits16 is the bf16 copy of a head chunk's dz (the backward GEMMs take both operands in one type);
// emb_index groups the positions of each token (distinct tokens, their starts, the positions) so the
// embedding gradient is summed in a fixed order.
#define MEMPLAN_ACTS_DIMS(cfg, o)                                                                              \
    const size_t L = (size_t)(cfg)->num_layers, C = (size_t)(cfg)->hidden_size, H = (size_t)(cfg)->num_heads, \
                 KV = (size_t)(cfg)->num_kv_heads, D = (size_t)(cfg)->head_dim,                               \
                 I = (size_t)(cfg)->intermediate_size, V = (size_t)(cfg)->vocab_size;                         \
    const size_t B = (size_t)(o)->micro_batch, T = (size_t)(o)->seq_len, N = B * T;                           \
    const size_t A = (o)->precision == MEMPLAN_BF16 ? 2 : 4;                                                   \
    const size_t Lk = ((o)->recompute || (o)->eval) ? 1 : L, Lr = (o)->eval ? 2 : L + 1;                      \
    const size_t TR = (o)->eval ? 0 : 1, FL = (o)->flash ? 1 : 0;                                              \
    const size_t ROWS = memplan_head_rows(V, N);                                                               \
    (void)L; (void)C; (void)H; (void)KV; (void)D; (void)I; (void)V; (void)A; (void)Lk; (void)Lr; (void)TR;    \
    (void)FL; (void)ROWS;

#define MEMPLAN_ACTS_FIELDS(X)                                                       \
    X(tokens, N, 4)                                                                  \
    X(targets, N, 4)                                                                 \
    X(rope_cos, T * (D / 2), 4)                                                      \
    X(rope_sin, T * (D / 2), 4)                                                      \
    X(resid, Lr * N * C, A)                                                          \
    X(ln1, Lk * N * C, A)                                                            \
    X(ln1_rstd, Lk * N, 4)                                                           \
    X(q, Lk * N * H * D, A)                                                          \
    X(k, Lk * N * KV * D, A)                                                         \
    X(v, Lk * N * KV * D, A)                                                         \
    X(att, (1 - FL) * Lk * B * H * T * T, 4)                                         \
    X(att_lse, FL * Lk * B * H * T, 4)                                               \
    X(atty, Lk * N * H * D, A)                                                       \
    X(resid_mid, Lk * N * C, A)                                                      \
    X(ln2, Lk * N * C, A)                                                            \
    X(ln2_rstd, Lk * N, 4)                                                           \
    X(gate, Lk * N * I, A)                                                           \
    X(up, Lk * N * I, A)                                                             \
    X(mlp_h, Lk * N * I, A)                                                          \
    X(lnf, N * C, A)                                                                 \
    X(lnf_rstd, N, 4)                                                                \
    X(lse, N, 4)                                                                     \
    X(logits, ROWS * V, 4)                                                           \
    X(logits16, (A == 2 ? TR : 0) * ROWS * V, 2)                                     \
    X(stats, 4 * N, 4)                                                               \
    X(dlogp, TR * N, 4)                                                              \
    X(dent, TR * N, 4)                                                               \
    X(dresid, TR * N * C, 4)                                                         \
    X(dln, TR * N * C, A)                                                            \
    X(dq, TR * N * H * D, A)                                                         \
    X(dk, TR * N * KV * D, A)                                                        \
    X(dv, TR * N * KV * D, A)                                                        \
    X(dbig, TR * N * (I > H * D ? I : H * D), A)                                     \
    X(dgate, TR * N * I, A)                                                          \
    X(dup, TR * N * I, A)                                                            \
    X(emb_index, TR * (3 * N + 1), 4)                                                \
    X(att_scratch, FL ? TR * (B * H * T + 2 * N * H * D)                             \
                      : (3 * N * H * D + 4 * N * KV * D + B * KV * T * T), 4)

// Bytes of the activation slab (the sum of the aligned fields).
size_t memplan_acts_bytes(const ModelConfig *cfg, const MemPlanOpts *o);

// ZeRO-1 shard of rank r: [*off, *off + *len) of the flat buffer of n floats; every rank's block is
// `block` floats (the last ones may hold fewer real floats, or none), so equal-size reduce-scatter /
// all-gather work on a buffer of block * nranks floats (*capacity).
void memplan_zero_shard(size_t n, int nranks, int rank, size_t *off, size_t *len, size_t *block,
                        size_t *capacity);

typedef struct {
    size_t weights;          // compute weights: fp32 params, or the bf16 copy
    size_t master;           // fp32 master weights (bf16 only; the shard under ZeRO-1)
    size_t grads;            // fp32 gradients (padded capacity under ZeRO-1)
    size_t adam;             // fp32 m and v (the shard under ZeRO-1)
    size_t acts;             // the activation slab for opts (recompute as asked)
    size_t acts_recompute;   // the same with recompute on
    size_t acts_full;        // the same with recompute off
    size_t acts_eval;        // forward-only slab of the old / reference log-prob pass (not live with acts)
    size_t reserve;          // MEMPLAN_RUNTIME_RESERVE
    size_t total;            // weights + master + grads + adam + acts + reserve
} MemPlan;

// Per-GPU bytes of a training step of a model of cfg (num_params floats) under opts, rank 0's shard.
void memplan_train(const ModelConfig *cfg, size_t num_params, const MemPlanOpts *o, MemPlan *p);
