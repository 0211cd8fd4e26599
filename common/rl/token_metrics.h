// Per-token metrics shared by the learner, the rollout worker and `rlvr analyze`: token entropy at a
// temperature (paper eq. 3), its backward (for an entropy bonus), the gradient-norm proxy (eq. 4 / 12)
// and the rollout-vs-learner log-prob gap. Pure functions; sums in double.
#pragma once
#include <stddef.h>

// Entropy of softmax(z / temperature) for one logits row z (V,); *logp_label (optional) gets
// log softmax(z / temperature)[label] (label < 0: not computed, 0 written).
float token_entropy(const float *logits, size_t V, float temperature, int label, float *logp_label);
// Row version: logits (N, V), labels (N,) or NULL -> entropy (N,), logp (N,) optional. OpenMP over rows.
void token_entropy_rows(const float *logits, const int *labels, size_t N, size_t V, float temperature,
                        float *entropy, float *logp);
// Backward of token_entropy: dlogits (V,) += dH * dH/dz with dH/dz_v = -(1/T) p_v (log p_v + H).
void token_entropy_backward(const float *logits, size_t V, float temperature, float dH, float *dlogits);

// ||e(label) - softmax(z / T)||_2 = sqrt(1 - 2 p_label + sum_v p_v^2) for one row z (V,).
float onehot_minus_softmax_norm(const float *logits, size_t V, float temperature, int label);
// Gradient-norm proxy G = |coef| * ||e(o) - softmax(z/T)||_2 * ||h||_2: the Frobenius norm of the
// token's LM-head gradient (a rank-1 outer product), with coef the token's loss-gradient coefficient
// (PolicyLossOut.coef: -A*ratio on the unclipped branch, 0 when clipped). The exact gradient w.r.t. z
// carries another 1/T, which is 1 during training; the paper's proxy leaves it out and so do we.
// logits (N, V), labels (N,), hidden_norm (N,), coef (N,) -> g (N,). OpenMP over rows.
void grad_norm_proxy(const float *logits, const int *labels, const float *hidden_norm, const float *coef,
                     size_t N, size_t V, float temperature, float *g);

// Mean and max of |a - b| over entries with mask != 0 (mask may be NULL: all). a, b, mask (n,).
void logprob_gap(const float *a, const float *b, const float *mask, size_t n, double *mean_abs, double *max_abs);
