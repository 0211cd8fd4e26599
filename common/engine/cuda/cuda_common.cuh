// Internal to common/engine/cuda/*.cu: checked CUDA / cuBLAS calls and the context definition.
// cudaCheck / cublasCheck print file:line, the library's reason and a hint, then exit(1).
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "common/engine/cuda/cuda_ops.h"

extern "C" {
#include "common/core/check.h"
}

// The hint names the likely cause for the errors people actually hit.
static inline const char *cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
        return "no CUDA device: run on a GPU machine or build with -DRLVR_CUDA=OFF";
    case cudaErrorMemoryAllocation:
        return "out of GPU memory: lower the micro-batch size (B) or sequence length (T)";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
        return "the binary was built for sm_90 (CMAKE_CUDA_ARCHITECTURES): rebuild with this GPU's architecture";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
        return "a kernel read or wrote out of bounds: rerun under compute-sanitizer to find it";
    default:
        return "see the CUDA error above";
    }
}

static inline void cuda_check_(cudaError_t e, const char *what, const char *file, int line) {
    if (e != cudaSuccess)
        rlvr_die(file, line, "CUDA call %s failed: %s (%s); %s", what, cudaGetErrorName(e),
                 cudaGetErrorString(e), cuda_hint(e));
}

static inline const char *cublas_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
    }
}

static inline void cublas_check_(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        rlvr_die(file, line, "cuBLAS call %s failed: %s (%d); %s", what, cublas_name(s), (int)s,
                 s == CUBLAS_STATUS_NOT_INITIALIZED
                     ? "no usable CUDA device or driver: run on a GPU machine or build with -DRLVR_CUDA=OFF"
                     : s == CUBLAS_STATUS_INVALID_VALUE ? "a GEMM shape or leading dimension is invalid (bug)"
                                                        : "check the GPU state (nvidia-smi)");
}

#define cudaCheck(call) cuda_check_((call), #call, __FILE__, __LINE__)
#define cublasCheck(call) cublas_check_((call), #call, __FILE__, __LINE__)
// After a kernel launch: catches bad launch configurations at once (execution errors surface at the
// next synchronising call, also checked).
#define cudaCheckLaunch() cuda_check_(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

struct CudaCtx {
    cublasHandle_t handle;
    cublasComputeType_t compute;  // CUBLAS_COMPUTE_32F or CUBLAS_COMPUTE_32F_FAST_TF32
};

static inline unsigned int cdiv_u(size_t a, size_t b) { return (unsigned int)((a + b - 1) / b); }

// ---- typed ops of the mixed-precision engine (cuda_ops.cu; used by cuda_model.cu) ---------------------
// T is the storage type of activations and compute weights: float (the fp32 engine, the same kernels
// and math as the extern "C" ops) or bf16 (fp32 math inside every kernel, rounded once on store).
// Gradients of weights, RMSNorm statistics and the residual-stream gradient are always fp32.
typedef __nv_bfloat16 bf16;

// Round-to-nearest-even fp32 -> bf16 bits, quiet NaN kept; the expression of bf16_from_f32 in
// common/core/bf16.h, so host and device conversions agree bit for bit (including NaN payloads).
__device__ __forceinline__ uint16_t bf16_bits_rn(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
__device__ __forceinline__ float ldf(float x) { return x; }
__device__ __forceinline__ float ldf(bf16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T stf(float x);
template <> __device__ __forceinline__ float stf<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 stf<bf16>(float x) { return __ushort_as_bfloat16(bf16_bits_rn(x)); }

template <typename T> struct CudaType;
template <> struct CudaType<float> { static const cudaDataType_t id = CUDA_R_32F; };
template <> struct CudaType<bf16> { static const cudaDataType_t id = CUDA_R_16BF; };

// Row-major C (M, N) = alpha op(A) op(B) + beta C with A, B of type Tin and C of type Tout; fp32
// accumulation (the context's TF32 choice applies to fp32 inputs only).
template <typename Tin, typename Tout>
void gemm_t(CudaCtx *cx, int tA, int tB, int M, int N, int K, float alpha, const Tin *A, int lda, const Tin *B,
            int ldb, float beta, Tout *C, int ldc);

template <typename T> void op_embedding_forward(T *out, const int *tokens, const T *wte, size_t N, int C);
// dwte (V, C) += dout rows grouped by token (uniq (U), start (U+1), pos (N): positions of each token in
// increasing order), summed in position order: deterministic, no atomics.
void op_embedding_backward_sorted(float *dwte, const float *dout, const int *uniq, const int *start, const int *pos,
                                  int U, int C);
template <typename T>
void op_rmsnorm_forward(T *out, float *rstd, const T *x, const T *w, size_t N, int C, float eps);
// dx (fp32) +=, dw (fp32) += with a fixed reduction order (bit-reproducible).
template <typename T>
void op_rmsnorm_backward(float *dx, float *dw, const T *dout, const T *x, const T *w, const float *rstd, size_t N,
                         int C);
template <typename T>
void op_linear_forward(CudaCtx *cx, T *out, const T *x, const T *W, const T *b, size_t N, int IC, int OC);
// dx (N, IC) = beta_dx dx + dout W (if dx); dW (fp32) += dout^T x; db (fp32) += column sums (deterministic).
template <typename T>
void op_linear_backward(CudaCtx *cx, T *dx, float beta_dx, float *dW, float *db, const T *dout, const T *x,
                        const T *W, size_t N, int IC, int OC);
template <typename T> void op_rope(T *x, const float *cos_t, const float *sin_t, int B, int T_, int NH, int D, float sign);
template <typename T> void op_swiglu_forward(T *out, const T *gate, const T *up, size_t n);
template <typename T> void op_swiglu_backward(T *dgate, T *dup, const T *dout, const T *gate, const T *up, size_t n);
template <typename T> void op_residual_forward(T *out, const T *a, const T *b, size_t n);
// The head with lnf / W of type T; logits (chunk_rows, V) fp32 and the statistics as cuda_head_forward.
template <typename T>
void op_head_forward(CudaCtx *cx, float *logp, float *entropy, float *hnorm, float *sumsq, float *lse, float *logits,
                     size_t chunk_rows, const T *lnf, const T *W, const int *targets, size_t N, int C, int V,
                     float temperature);
// As cuda_head_backward plus the entropy term (dent, entropy per row on the device; dent NULL = none;
// dent_host may be NULL). dlnf (T) overwritten. dz16 (chunk_rows, V) bf16 scratch when T is bf16 (the
// GEMMs need both operands in one type), unused for float.
template <typename T>
void op_head_backward(CudaCtx *cx, T *dlnf, float *dW, const float *dlogp, const float *dlogp_host,
                      const float *dent, const float *dent_host, const float *entropy, const T *lnf, const T *W,
                      const int *targets, const float *lse, float *logits, bf16 *dz16, size_t chunk_rows, size_t N,
                      int C, int V, float temperature);
// AdamW over n floats; wb (may be NULL) receives the updated parameters rounded to bf16.
void op_adamw(float *params, bf16 *wb, const float *grads, float *m, float *v, size_t n, float beta1, float beta2,
              float eps, float weight_decay, float lr, long step);
void op_scale(float *g, size_t n, float f);
// dst (bf16) = src (fp32) and back, n elements (the kernels of cuda_f32_to_bf16 / cuda_bf16_to_f32).
void op_to_bf16(bf16 *dst, const float *src, size_t n);
void op_to_f32(float *dst, const bf16 *src, size_t n);
