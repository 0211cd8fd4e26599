// The CPU fp32 training engine: full-sequence forward with stored activations, a memory-light
// log-prob head, and backward into m->grads.
//
// Shapes: B sequences of T tokens, right-padded (causal attention means tokens after a sequence's end
// cannot change anything before it, so padding needs no attention mask; just give it zero weight in
// the loss). C hidden, H query heads, KV key/value heads, D head_dim, I intermediate, V vocab, L layers.
// Positions for RoPE are 0..T-1 within each row.
//
// Typical RL use (one micro-batch):
//     model_forward(m, a, tokens, B, T);
//     model_head(m, a, targets, temperature, logp, entropy, NULL, NULL);   // targets[b][t] = tokens[b][t+1]
//     ... the loss computes dlogp[b][t] = dLoss/dlogp[b][t] (0 where masked) ...
//     model_backward(m, a, dlogp);            // grads += (accumulates across micro-batches)
// Supervised use: model_ce(m, a, tokens, targets, mask, B, T, 1) returns the mean loss and accumulates
// its gradient.
#pragma once
#include <stddef.h>

#include "common/engine/model.h"

// Stored activations and scratch for batches up to (maxB, maxT). Every pointer is one malloc'd buffer.
typedef struct {
    int maxB, maxT;           // capacity given to acts_init
    int B, T;                 // shape of the last model_forward
    int L, C, H, KV, D, FF, V; // from the config; FF = intermediate_size (not "I": <complex.h>,
                              // which OpenBLAS's cblas.h includes, defines I as a macro)
    size_t head_cols;         // vocabulary columns of the (B*T, cols) logits slice the head works in
                              // (may be lowered after acts_init; tests do, to exercise the slicing)
    float temperature;        // of the last model_head (used by model_backward)
    int head_done;            // 1 after model_head, 0 after model_forward
    int logits_cached;        // 1 when model_head's single vocabulary slice left all (B*T, V) logits in
                              // `logits`, so model_backward may reuse them instead of recomputing

    int *tokens;              // (B, T) inputs of the last forward
    int *targets;             // (B, T) targets of the last head (out-of-vocab entries replaced by 0)
    float *rope_cos, *rope_sin; // (maxT, D/2)
    float *resid;             // (L+1, B, T, C) residual stream entering each layer; [L] leaves the last
    float *ln1, *ln1_rstd;    // (L, B, T, C), (L, B, T)
    float *q;                 // (L, B, T, H*D)  after RoPE
    float *k, *v;             // (L, B, T, KV*D) k after RoPE
    float *att;               // (L, B, H, T, T) softmax probabilities (upper triangle unused)
    float *atty;              // (L, B, T, H*D)  attention output before o_proj
    float *resid_mid;         // (L, B, T, C)    residual after attention
    float *ln2, *ln2_rstd;    // (L, B, T, C), (L, B, T)
    float *gate, *up, *mlp_h; // (L, B, T, I)    pre-activation gate, up, silu(gate)*up
    float *lnf, *lnf_rstd;    // (B, T, C), (B, T)  final RMSNorm output (fed to lm_head)
    float *lse;               // (B, T) log-sum-exp of logits / temperature
    float *hent;              // (B, T) entropy of softmax(logits / temperature) (entropy-bonus backward)
    float *logits;            // (B*T, head_cols) slice scratch
    void *head_stats;         // (5, B*T) doubles: online softmax statistics; reused as (B*T) ints
    float *hrows, *hgrad;     // (B*T, C) lnf rows with dlogp != 0, gathered, and their gradient
    // backward scratch
    float *dresid;            // (B, T, C)
    float *dln;               // (B, T, C)
    float *dq;                // (B, T, H*D)
    float *dk, *dv;           // (B, T, KV*D)
    float *dbig;              // (B, T, max(I, H*D))
    float *dgate, *dup;       // (B, T, I)
    float *dscratch;          // (max(nthreads, maxT), maxT) attention backward scratch
    int nthreads;
    int train;                // 0: made by acts_init_eval, one layer's buffers reused, no backward
} Acts;

// Sizes the buffers for batches up to (maxB, maxT); aborts via die() on allocation failure.
// Memory is dominated by L*B*T*(6C + 3*H*D + 3I) floats plus the attention probabilities
// L*B*H*T^2 (see acts_bytes). maxT may exceed max_position_embeddings (RoPE just extrapolates).
void acts_init(Acts *a, const ModelConfig *cfg, int maxB, int maxT);
// Forward-only variant (scoring, evaluation): per-layer buffers are stored for ONE layer and reused,
// so memory is ~1/L of acts_init's; model_backward refuses such an Acts.
void acts_init_eval(Acts *a, const ModelConfig *cfg, int maxB, int maxT);
void acts_free(Acts *a);
// Bytes acts_init would allocate (for planning micro-batch sizes).
size_t acts_bytes(const ModelConfig *cfg, int maxB, int maxT);
size_t acts_bytes_eval(const ModelConfig *cfg, int maxB, int maxT);

// Trunk forward: tokens (B, T), every id in [0, V) (die() otherwise: callers validate untrusted
// input first, see model_check_tokens). Fills a->lnf. B <= maxB, T <= maxT.
void model_forward(const Model *m, Acts *a, const int *tokens, int B, int T);

// Returns 0 when every token is in [0, V), else -1 with err naming the first bad position.
int model_check_tokens(const ModelConfig *cfg, const int *tokens, size_t n, char *err, size_t errlen);

// Head after model_forward. For each (b, t), with z = logits[b][t] / temperature and p = softmax(z):
//   logp[b][t]    = log p[targets[b][t]]                 (B, T)
//   entropy[b][t] = -sum_v p_v log p_v   (nats)          (B, T)  may be NULL
//   hnorm[b][t]   = ||lnf[b][t]||_2 (input of lm_head)    (B, T)  may be NULL
//   sumsq[b][t]   = sum_v p_v^2                           (B, T)  may be NULL
// targets outside [0, V) (e.g. -100 or -1 for "no target") give logp 0 and must get dlogp 0.
// Logits are computed (B*T, head_cols) at a time and never kept, so memory stays O(B*T*head_cols).
void model_head(const Model *m, Acts *a, const int *targets, float temperature,
                float *logp, float *entropy, float *hnorm, float *sumsq);

// Raw logits (temperature 1) after model_forward: out (B, T, V). For tests and for comparing the
// inference path; uses B*T*V floats the caller owns.
void model_logits(const Model *m, Acts *a, float *out);

// Backward after model_forward + model_head. dlogp (B, T) = dLoss/dlogp[b][t] (0 where masked).
// ACCUMULATES (+=) into m->grads (model_alloc_train first; zero it yourself between steps).
// Only log-probs carry gradient here: entropy / sumsq / hnorm are statistics.
// Rows with dlogp == 0 cost nothing in the lm_head backward.
void model_backward(Model *m, Acts *a, const float *dlogp);
// The same with an entropy term as well: dent (B, T) = dLoss/dH[b][t] for the entropy H of
// softmax(logits / T) that model_head reported (an entropy bonus: dent = -coeff * weight; 0 where
// masked). dH/dz_v = -(p_v / T) (log p_v + H). dent may be NULL (= model_backward).
void model_backward_ent(Model *m, Acts *a, const float *dlogp, const float *dent);

// Cross-entropy at temperature 1: mean over positions with mask != 0 of -log p(targets[b][t]).
// mask (B, T) may be NULL (all positions count). Returns the loss (0 when nothing is counted). With
// do_backward != 0 it also accumulates dLoss/dparams into m->grads.
float model_ce(Model *m, Acts *a, const int *tokens, const int *targets, const float *mask,
               int B, int T, int do_backward);

// CPU set-up advice, or NULL when none: OpenBLAS 0.3.21 falls back to its slowest (Prescott, SSE3)
// sgemm kernel on CPUs it cannot identify (e.g. Sapphire Rapids in a VM), ~5x slower than
// OPENBLAS_CORETYPE=SkylakeX; and spinning OpenMP workers starve OpenBLAS's own threads unless
// OMP_WAIT_POLICY=passive. Both are read at library load, so programs print this hint at start.
const char *engine_cpu_hint(void);

// Forward FLOPs per token of the trunk + head for a sequence of length T (matmuls only, causal
// attention counted at half); training is ~3x this. For benchmarks.
double model_flops_per_token(const ModelConfig *cfg, int T);
