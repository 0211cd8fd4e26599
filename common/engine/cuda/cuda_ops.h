// CUDA fp32 ops of the transformer, mirroring common/engine/ops.h op for op: same math, same shapes, same
// conventions (backward ACCUMULATES into every gradient it writes, except swiglu_backward, which
// overwrites). Every float / int pointer passed to a cuda_* op is a DEVICE pointer unless its name ends
// in _host. All work is queued on the default stream in call order; results are visible to the host
// after cuda_download (which synchronises).
//
// This header is plain C and compiles without the CUDA toolkit, so C code can include it anywhere;
// the functions exist only in builds with RLVR_CUDA defined (guard calls with #ifdef RLVR_CUDA).
// Errors (no device, out of memory, a failed launch) are fatal: they print file:line, the CUDA or
// cuBLAS reason and a hint, then exit(1), like common/core/check.h.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- device, context, memory ------------------------------------------------------------------------

// Number of usable CUDA devices; 0 (never an abort) when there is no driver or no device.
int cuda_device_count(void);
// One line describing device 0 ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB"), or the reason there is none.
void cuda_device_describe(char *buf, size_t len);

// Holds the cuBLAS handle and the GEMM precision. allow_tf32 = 0: every GEMM is true fp32 (what the
// tests compare against the CPU); 1: cuBLAS may use TF32 tensor cores (~10-bit mantissa products,
// several times faster, relative errors ~1e-3). Dies with a hint when there is no device.
typedef struct CudaCtx CudaCtx;
CudaCtx *cuda_ctx_create(int allow_tf32);
void cuda_ctx_set_tf32(CudaCtx *cx, int allow_tf32);
void cuda_ctx_destroy(CudaCtx *cx);

void *cuda_malloc(size_t bytes);                       // checked; contents undefined
void cuda_free(void *p);                               // NULL is fine
void cuda_upload(void *dst, const void *src_host, size_t bytes);
void cuda_download(void *dst_host, const void *src, size_t bytes);  // synchronises
void cuda_zero(void *p, size_t bytes);
void cuda_sync(void);                                  // waits for all queued work; checks for errors

// ---- ops (see common/engine/ops.h for the exact math) --------------------------------------------------------

// out (N, C) = wte[tokens]; tokens (N) must be in [0, V) (not checked on the device).
void cuda_embedding_forward(float *out, const int *tokens, const float *wte, size_t N, int C);
// dwte (V, C) += scatter of dout (N, C). Uses atomicAdd: repeated tokens sum in an unspecified order.
void cuda_embedding_backward(float *dwte, const float *dout, const int *tokens, size_t N, int C);

void cuda_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, size_t N, int C, float eps);
// dx (N, C) +=, dw (C) += (dw summed with atomicAdd over 64-row chunks).
void cuda_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                           const float *rstd, size_t N, int C);

// out (N, OC) = x (N, IC) W^T + b; W (OC, IC); b (OC) or NULL. Overwrites out.
void cuda_linear_forward(CudaCtx *cx, float *out, const float *x, const float *W, const float *b,
                         size_t N, int IC, int OC);
// dx (N, IC) += dout W (if dx), dW += dout^T x, db += column sums of dout (if db).
void cuda_linear_backward(CudaCtx *cx, float *dx, float *dW, float *db, const float *dout, const float *x,
                          const float *W, size_t N, int IC, int OC);

// x (B, T, NH, D) rotated in place with device tables cos_t / sin_t (T, D/2) made by rope_tables() on
// the host and uploaded (so both engines use bit-identical angles).
void cuda_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int NH, int D);
void cuda_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int NH, int D);

// Causal GQA attention through cuBLAS strided-batched GEMMs (full T x T score blocks; the causal half
// is masked in the softmax). q (B, T, H, D), k/v (B, T, KV, D), out (B, T, H, D), att (B, H, T, T):
// probabilities on and below the diagonal, and unlike the CPU op ZEROS above it (the backward GEMMs
// read whole rows). scratch: cuda_attention_scratch_floats() floats.
size_t cuda_attention_scratch_floats(int B, int T, int H, int KV, int D);
void cuda_attention_forward(CudaCtx *cx, float *out, float *att, const float *q, const float *k, const float *v,
                            float *scratch, int B, int T, int H, int KV, int D);
// dq, dk, dv += ...; att must come from cuda_attention_forward (zero upper triangle).
void cuda_attention_backward(CudaCtx *cx, float *dq, float *dk, float *dv, const float *dout, const float *att,
                             const float *q, const float *k, const float *v, float *scratch,
                             int B, int T, int H, int KV, int D);

void cuda_swiglu_forward(float *out, const float *gate, const float *up, size_t n);
// dgate, dup OVERWRITTEN, as on the CPU.
void cuda_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n);
void cuda_residual_forward(float *out, const float *a, const float *b, size_t n);

// ---- log-prob / entropy head (common/engine/forward.c model_head, as an op) ------------------------------------
// Logits z = lnf W^T / temperature are made `chunk_rows` rows at a time in `logits` (chunk_rows, V) and
// never kept. Per row n, with p = softmax(z) (max-shifted, sums in double):
//   lse[n] = log-sum-exp(z), logp[n] = log p[targets[n]] (0 when targets[n] is outside [0, V)),
//   entropy[n] = -sum p log p, sumsq[n] = sum p^2, hnorm[n] = ||lnf[n]||. entropy/hnorm/sumsq may be NULL.
// lnf (N, C), W (V, C), targets (N).
void cuda_head_forward(CudaCtx *cx, float *logp, float *entropy, float *hnorm, float *sumsq, float *lse,
                       float *logits, size_t chunk_rows, const float *lnf, const float *W, const int *targets,
                       size_t N, int C, int V, float temperature);
// dlnf (N, C) OVERWRITTEN with d/d(lnf); dW (V, C) +=. dlogp (N) on the device; dlogp_host (N) may be
// NULL or a host copy used only to skip chunks whose rows all have dlogp == 0 (masked prompt/padding).
void cuda_head_backward(CudaCtx *cx, float *dlnf, float *dW, const float *dlogp, const float *dlogp_host,
                        const float *lnf, const float *W, const int *targets, const float *lse,
                        float *logits, size_t chunk_rows, size_t N, int C, int V, float temperature);

// ---- optimizer (common/engine/optim.h semantics) ---------------------------------------------------------------
// One AdamW step over n floats (step 1-based); bias corrections computed on the host in double as on the CPU.
void cuda_adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                       float beta1, float beta2, float eps, float weight_decay, float lr, long step);
// Sum of squares of g (n) accumulated in double with a fixed reduction tree (deterministic).
double cuda_grad_sqnorm(const float *g, size_t n);
// torch clip_grad_norm_: scales g by max_norm / (norm + 1e-6) when norm > max_norm; returns the factor
// (1 when not clipped, 0 and g untouched when norm is not finite).
float cuda_grad_clip(float *g, size_t n, double norm, float max_norm);

// ---- benchmark helper -----------------------------------------------------------------------------------
// Row-major C (M, N) = alpha A (M, K) B (K, N) + beta C through the context's GEMM (fp32 or TF32).
void cuda_sgemm_rm(CudaCtx *cx, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);


// ---- fused (flash) causal GQA attention -----------------------------------------------------------------
// Never materialises T x T: tiles of K/V stream through shared memory with an online softmax. Same math
// and layouts as attention_forward in common/engine/ops.h: q (B, T, H, D), k / v (B, T, KV, D), out
// (B, T, H, D), query head h reads KV head h / (H / KV), scale 1/sqrt(D), causal. lse (B, H, T) fp32:
// the row's log-sum-exp of the scaled scores, kept for the backward. D <= 256 (the kernels' limit;
// larger D dies with a message naming it). The _bf16 variants take bf16 q/k/v/out/dout and give bf16
// dq/dk/dv; every accumulation is fp32.
void cuda_flash_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                                  int B, int T, int H, int KV, int D);
// dq, dk, dv += ... (as the other attention backward); needs out and lse from the forward.
// scratch: cuda_flash_scratch_floats() floats (per-row D_i = sum(dout * out), and fp32 dk/dv partials).
size_t cuda_flash_scratch_floats(int B, int T, int H, int KV, int D);
void cuda_flash_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                   const float *lse, const float *q, const float *k, const float *v,
                                   float *scratch, int B, int T, int H, int KV, int D);
void cuda_flash_attention_forward_bf16(void *out, float *lse, const void *q, const void *k, const void *v,
                                       int B, int T, int H, int KV, int D);
// bf16 dq / dk / dv are OVERWRITTEN (a bf16 += would round twice; callers sum in fp32 elsewhere).
void cuda_flash_attention_backward_bf16(void *dq, void *dk, void *dv, const void *dout, const void *out,
                                        const float *lse, const void *q, const void *k, const void *v,
                                        float *scratch, int B, int T, int H, int KV, int D);

// ---- bf16 helpers ---------------------------------------------------------------------------------------
// Round-to-nearest-even fp32 -> bf16 and back, n elements (device). The host equivalents are
// bf16_from_f32 / f32_from_bf16 in common/core/bf16.h (bit-identical).
void cuda_f32_to_bf16(void *dst, const float *src, size_t n);
void cuda_bf16_to_f32(float *dst, const void *src, size_t n);

// ---- device selection and memory ------------------------------------------------------------------------
void cuda_set_device(int ordinal);
int cuda_get_device(void);
// Free and total bytes of the current device (cudaMemGetInfo).
void cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
// The current device's UUID as text ("GPU-8c2e..."), so ranks can tell when they share one GPU.
void cuda_device_uuid(char *buf, size_t len);
// Peak bytes this process allocated through cuda_malloc since the last reset (the memory plan is
// checked against it).
size_t cuda_peak_allocated(void);
void cuda_reset_peak_allocated(void);

#ifdef __cplusplus
}
#endif
