// CPU fp32 reference ops of the LLaMA / Qwen2 transformer, each forward with its backward beside it.
// N = B*T rows. Backward functions ACCUMULATE (+=) into every gradient they write (parameter grads
// and input grads alike) unless noted, so residual branches and tied weights add up for free.
// GEMMs go through cblas_sgemm; other loops use OpenMP.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Threads pay off only above a few tens of thousands of element-operations: below that, waking the
// OpenMP team costs more than the loop (and on a loaded machine a descheduled worker stalls every
// tiny region). OpenMP directives are macro-expanded, so loops say `if (PAR_WORTH(work))`.
#define RLVR_PAR_MIN_WORK ((size_t)1 << 15)
#define PAR_WORTH(work) ((size_t)(work) >= RLVR_PAR_MIN_WORK)

// exp(x) within ~2 ulp for x in [-87, 88] (inputs outside are clamped, so exp(-inf) gives 1.6e-38, not
// 0), written so that loops calling it vectorise: libm's expf is an opaque call per element, ~7% of a
// small model's training step. x = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor polynomial
// (truncation r^7/7! < 1.3e-7 relative), 2^n by building the float exponent.
static inline float vexpf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest via 1.5 * 2^23
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;     // Cody-Waite: ln2 = hi + lo
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

// out[n] = wte[tokens[n]]: out (N, C), wte (V, C).
void embedding_forward(float *out, const int *tokens, const float *wte, size_t N, int C);
// dwte[tokens[n]] += dout[n]: dwte (V, C), dout (N, C).
void embedding_backward(float *dwte, const float *dout, const int *tokens, size_t N, int C);

// out = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps): out, x (N, C), w (C), rstd (N) stored.
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, size_t N, int C, float eps);
// dx += ..., dw += ...: dx, dout, x (N, C), dw, w (C), rstd (N).
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, size_t N, int C);

// out = x W^T + b: out (N, OC), x (N, IC), W (OC, IC) (HF layout), b (OC) or NULL. Overwrites out.
void linear_forward(float *out, const float *x, const float *W, const float *b, size_t N, int IC, int OC);
// dx += dout W (if dx), dW += dout^T x, db += sum_n dout (if db): dout (N, OC).
void linear_backward(float *dx, float *dW, float *db, const float *dout, const float *x, const float *W,
                     size_t N, int IC, int OC);

// cos/sin tables (T, D/2): angle(t, i) = t * theta^(-2i/D), computed in double then rounded.
void rope_tables(float *cos_t, float *sin_t, int T, int D, float theta);
// In-place rotation of x (B, T, NH, D), HF rotate_half convention: pairs (i, i + D/2).
void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int NH, int D);
// In place: dx = R^T dx (the rotation is orthogonal, so backward is the inverse rotation).
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int NH, int D);

// Causal grouped-query attention. q (B, T, H, D), k/v (B, T, KV, D); query head h reads kv head
// h / (H/KV); scale 1/sqrt(D). att (B, H, T, T) receives softmax probabilities (row t, cols 0..t;
// the rest is left untouched by the loop version and zeroed by the GEMM version). out (B, T, H, D)
// overwritten. attention_forward/backward use the GEMM version from T >= ATTENTION_GEMM_MIN_T (where
// sgemm beats per-row loops despite computing the full square) and the loops below it; both pairs
// are public so tests can compare them.
#define ATTENTION_GEMM_MIN_T 64
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int H, int KV, int D);
// dq, dk, dv += ... ; dout (B, T, H, D). scratch: max(nthreads, T) * T floats (a row per OpenMP thread
// for the loops, a (T, T) matrix for the GEMM version).
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, float *scratch,
                        int B, int T, int H, int KV, int D);
void attention_forward_loops(float *out, float *att, const float *q, const float *k, const float *v,
                             int B, int T, int H, int KV, int D);
void attention_backward_loops(float *dq, float *dk, float *dv, const float *dout, const float *att,
                              const float *q, const float *k, const float *v, float *scratch,
                              int B, int T, int H, int KV, int D);
void attention_forward_gemm(float *out, float *att, const float *q, const float *k, const float *v,
                            int B, int T, int H, int KV, int D);
void attention_backward_gemm(float *dq, float *dk, float *dv, const float *dout, const float *att,
                             const float *q, const float *k, const float *v, float *scratch,
                             int B, int T, int H, int KV, int D);

// out = silu(gate) * up, all (N, I).
void swiglu_forward(float *out, const float *gate, const float *up, size_t n);
// dgate, dup OVERWRITTEN (not accumulated): they are fresh per layer.
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n);

// out = a + b (n). Backward of a residual add is the identity on both branches, so it has no function.
void residual_forward(float *out, const float *a, const float *b, size_t n);
