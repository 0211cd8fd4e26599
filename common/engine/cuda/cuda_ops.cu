// CUDA fp32 ops: device kernels mirroring common/engine/ops.c (and the head of common/engine/forward.c, and
// common/engine/optim.c) expression by expression, plus the context, memory and GEMM helpers.
// See cuda_ops.h for the API and docs/cuda.md for tolerances and limitations.
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/engine/cuda/cuda_common.cuh"

// ---- reductions -------------------------------------------------------------------------------------

struct SumOp {
    template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename T, typename Op> __device__ T warp_reduce(T v, Op op) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Every thread of the block gets the result. blockDim.x must be a multiple of 32 (<= 1024). The leading
// barrier makes back-to-back calls safe (the shared slots are reused).
template <typename T, typename Op> __device__ T block_reduce(T v, Op op, T identity) {
    __shared__ T sh[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_reduce(v, op);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : identity;
    return warp_reduce(v, op);
}

// Grid for grid-stride elementwise loops: enough blocks to fill an H100 many times over, capped so that
// sizes beyond 2^31 still work.
static unsigned int ew_grid(size_t n) {
    const size_t g = (n + 255) / 256;
    return (unsigned int)(g < 65536 ? (g ? g : 1) : 65536);
}
#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
                               i += (size_t)gridDim.x * blockDim.x)

// ---- device, context, memory ------------------------------------------------------------------------

extern "C" int cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // clear the sticky "no driver" error so later calls report their own
        return 0;
    }
    return n;
}

extern "C" void cuda_device_describe(char *buf, size_t len) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(buf, len, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "count 0");
        (void)cudaGetLastError();
        return;
    }
    cudaDeviceProp p;
    cudaCheck(cudaGetDeviceProperties(&p, 0));
    snprintf(buf, len, "%s, sm_%d%d, %.1f GiB, %d SMs", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.multiProcessorCount);
}

extern "C" CudaCtx *cuda_ctx_create(int allow_tf32) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) cudaCheck(e);
    if (n == 0) die("CUDA reports 0 devices; no CUDA device: run on a GPU machine or build with -DRLVR_CUDA=OFF");
    CudaCtx *cx = (CudaCtx *)mallocCheck(sizeof(CudaCtx));
    cublasCheck(cublasCreate(&cx->handle));
    // Pointer mode host (alpha/beta from the stack); the default stream, so kernels and GEMMs are ordered.
    cublasCheck(cublasSetPointerMode(cx->handle, CUBLAS_POINTER_MODE_HOST));
    cuda_ctx_set_tf32(cx, allow_tf32);
    return cx;
}

extern "C" void cuda_ctx_set_tf32(CudaCtx *cx, int allow_tf32) {
    cx->compute = allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

extern "C" void cuda_ctx_destroy(CudaCtx *cx) {
    if (!cx) return;
    cublasCheck(cublasDestroy(cx->handle));
    free(cx);
}

// Peak tracking: every live cuda_malloc block with its size (a handful of long-lived buffers plus the
// short scratch of cuda_grad_sqnorm, so a linear table is enough), the live total and its peak.
typedef struct { void *p; size_t bytes; } AllocEntry;
static AllocEntry *g_allocs;
static size_t g_nallocs, g_cap_allocs, g_live_bytes, g_peak_bytes;
static pthread_mutex_t g_alloc_lock = PTHREAD_MUTEX_INITIALIZER;

static void alloc_track(void *p, size_t bytes) {
    pthread_mutex_lock(&g_alloc_lock);
    if (g_nallocs == g_cap_allocs) {
        g_cap_allocs = g_cap_allocs ? 2 * g_cap_allocs : 64;
        g_allocs = (AllocEntry *)reallocCheck(g_allocs, g_cap_allocs * sizeof(AllocEntry));
    }
    g_allocs[g_nallocs].p = p;
    g_allocs[g_nallocs].bytes = bytes;
    g_nallocs++;
    g_live_bytes += bytes;
    if (g_live_bytes > g_peak_bytes) g_peak_bytes = g_live_bytes;
    pthread_mutex_unlock(&g_alloc_lock);
}

static void alloc_untrack(void *p) {
    pthread_mutex_lock(&g_alloc_lock);
    for (size_t i = g_nallocs; i-- > 0;)
        if (g_allocs[i].p == p) {
            g_live_bytes -= g_allocs[i].bytes;
            g_allocs[i] = g_allocs[--g_nallocs];
            break;
        }
    pthread_mutex_unlock(&g_alloc_lock);
}

extern "C" size_t cuda_peak_allocated(void) {
    pthread_mutex_lock(&g_alloc_lock);
    const size_t p = g_peak_bytes;
    pthread_mutex_unlock(&g_alloc_lock);
    return p;
}

extern "C" void cuda_reset_peak_allocated(void) {
    pthread_mutex_lock(&g_alloc_lock);
    g_peak_bytes = g_live_bytes;
    pthread_mutex_unlock(&g_alloc_lock);
}

extern "C" void *cuda_malloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        (void)cudaGetLastError();
        (void)cudaMemGetInfo(&fr, &tot);
        die("cudaMalloc of %.3f GiB failed: %s (%.2f GiB free of %.2f); %s", (double)bytes / (1 << 30),
            cudaGetErrorString(e), (double)fr / (1 << 30), (double)tot / (1 << 30), cuda_hint(e));
    }
    alloc_track(p, bytes);
    return p;
}

extern "C" void cuda_free(void *p) {
    if (!p) return;
    alloc_untrack(p);
    cudaCheck(cudaFree(p));
}

extern "C" void cuda_set_device(int ordinal) {
    const int n = cuda_device_count();
    if (ordinal < 0 || ordinal >= n)
        die("CUDA device %d does not exist (%d visible): check CUDA_VISIBLE_DEVICES and the ranks per node", ordinal, n);
    cudaCheck(cudaSetDevice(ordinal));
}

extern "C" int cuda_get_device(void) {
    int d = 0;
    cudaCheck(cudaGetDevice(&d));
    return d;
}

extern "C" void cuda_mem_info(size_t *free_bytes, size_t *total_bytes) {
    size_t f = 0, t = 0;
    cudaCheck(cudaMemGetInfo(&f, &t));
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
}

// nvidia-smi's spelling: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
extern "C" void cuda_device_uuid(char *buf, size_t len) {
    cudaDeviceProp p;
    cudaCheck(cudaGetDeviceProperties(&p, cuda_get_device()));
    const unsigned char *u = (const unsigned char *)p.uuid.bytes;
    snprintf(buf, len,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
             u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

extern "C" void cuda_upload(void *dst, const void *src_host, size_t bytes) {
    if (bytes) cudaCheck(cudaMemcpy(dst, src_host, bytes, cudaMemcpyHostToDevice));
}

extern "C" void cuda_download(void *dst_host, const void *src, size_t bytes) {
    if (bytes) cudaCheck(cudaMemcpy(dst_host, src, bytes, cudaMemcpyDeviceToHost));
}

extern "C" void cuda_zero(void *p, size_t bytes) {
    if (bytes) cudaCheck(cudaMemsetAsync(p, 0, bytes, 0));
}

extern "C" void cuda_sync(void) {
    cudaCheckLaunch();
    cudaCheck(cudaDeviceSynchronize());
}

// ---- GEMM ---------------------------------------------------------------------------------------------
// Row-major C (M, N) = alpha op(A) op(B) + beta C, the cblas_sgemm(CblasRowMajor, ...) contract, so the
// CPU calls translate one to one. cuBLAS is column-major: a row-major (r, c) buffer is the column-major
// (c, r) matrix, so we compute C^T = op(B)^T op(A)^T, i.e. swap the operands and M/N; the transpose
// flags carry over unchanged. Batched: `batch` GEMMs with operand i at X + i * strideX.
static void gemm_rm_batched(CudaCtx *cx, int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                            long long sA, const float *B, int ldb, long long sB, float beta, float *C, int ldc,
                            long long sC, int batch) {
    const cublasOperation_t opA = tA ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tB ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (batch == 1)
        cublasCheck(cublasGemmEx(cx->handle, opB, opA, N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda,
                                 &beta, C, CUDA_R_32F, ldc, cx->compute, CUBLAS_GEMM_DEFAULT));
    else
        cublasCheck(cublasGemmStridedBatchedEx(cx->handle, opB, opA, N, M, K, &alpha, B, CUDA_R_32F, ldb, sB, A,
                                               CUDA_R_32F, lda, sA, &beta, C, CUDA_R_32F, ldc, sC, batch,
                                               cx->compute, CUBLAS_GEMM_DEFAULT));
}

static void gemm_rm(CudaCtx *cx, int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_rm_batched(cx, tA, tB, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

template <typename Tin, typename Tout>
void gemm_t(CudaCtx *cx, int tA, int tB, int M, int N, int K, float alpha, const Tin *A, int lda, const Tin *B,
            int ldb, float beta, Tout *C, int ldc) {
    const cublasOperation_t opA = tA ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tB ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasComputeType_t compute = CudaType<Tin>::id == CUDA_R_32F ? cx->compute : CUBLAS_COMPUTE_32F;
    cublasCheck(cublasGemmEx(cx->handle, opB, opA, N, M, K, &alpha, B, CudaType<Tin>::id, ldb, A, CudaType<Tin>::id,
                             lda, &beta, C, CudaType<Tout>::id, ldc, compute, CUBLAS_GEMM_DEFAULT));
}
template void gemm_t<float, float>(CudaCtx *, int, int, int, int, int, float, const float *, int, const float *, int,
                                   float, float *, int);
template void gemm_t<bf16, bf16>(CudaCtx *, int, int, int, int, int, float, const bf16 *, int, const bf16 *, int, float,
                                 bf16 *, int);
template void gemm_t<bf16, float>(CudaCtx *, int, int, int, int, int, float, const bf16 *, int, const bf16 *, int,
                                  float, float *, int);

extern "C" void cuda_sgemm_rm(CudaCtx *cx, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                              int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_rm(cx, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// ---- embedding ----------------------------------------------------------------------------------------

template <typename T> __global__ void embedding_fwd_k(T *out, const int *tokens, const T *wte, int C) {
    const size_t n = blockIdx.x;
    const T *src = wte + (size_t)tokens[n] * C;
    T *dst = out + n * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dst[c] = src[c];
}

__global__ void embedding_bwd_k(float *dwte, const float *dout, const int *tokens, int C) {
    const size_t n = blockIdx.x;
    float *dst = dwte + (size_t)tokens[n] * C;
    const float *src = dout + n * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(dst + c, src[c]);
}

// One block per distinct token: its rows added in position order (the CPU's order), no atomics.
__global__ void embedding_bwd_sorted_k(float *dwte, const float *dout, const int *uniq, const int *start,
                                       const int *pos, int C) {
    const int u = blockIdx.x;
    float *dst = dwte + (size_t)uniq[u] * C;
    const int i0 = start[u], i1 = start[u + 1];
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = dst[c];
        for (int i = i0; i < i1; i++) acc += dout[(size_t)pos[i] * C + c];
        dst[c] = acc;
    }
}

template <typename T> void op_embedding_forward(T *out, const int *tokens, const T *wte, size_t N, int C) {
    if (!N) return;
    embedding_fwd_k<T><<<(unsigned int)N, 256>>>(out, tokens, wte, C);
    cudaCheckLaunch();
}

void op_embedding_backward_sorted(float *dwte, const float *dout, const int *uniq, const int *start, const int *pos,
                                  int U, int C) {
    if (U <= 0) return;
    embedding_bwd_sorted_k<<<(unsigned int)U, 256>>>(dwte, dout, uniq, start, pos, C);
    cudaCheckLaunch();
}

extern "C" void cuda_embedding_forward(float *out, const int *tokens, const float *wte, size_t N, int C) {
    op_embedding_forward<float>(out, tokens, wte, N, C);
}

extern "C" void cuda_embedding_backward(float *dwte, const float *dout, const int *tokens, size_t N, int C) {
    if (!N) return;
    embedding_bwd_k<<<(unsigned int)N, 256>>>(dwte, dout, tokens, C);
    cudaCheckLaunch();
}

// ---- RMSNorm ------------------------------------------------------------------------------------------

template <typename T>
__global__ void rmsnorm_fwd_k(T *out, float *rstd, const T *x, const T *w, int C, float eps) {
    const size_t n = blockIdx.x;
    const T *xr = x + n * C;
    T *o = out + n * C;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) ss += ldf(xr[c]) * ldf(xr[c]);
    ss = block_reduce(ss, SumOp(), 0.0f);
    const float r = 1.0f / sqrtf(ss / C + eps);
    if (threadIdx.x == 0) rstd[n] = r;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = stf<T>(ldf(xr[c]) * r * ldf(w[c]));
}

// dx_c += r w_c dy_c - r^3 x_c / C * sum_j w_j dy_j x_j   (one block per row)
template <typename T>
__global__ void rmsnorm_bwd_dx_k(float *dx, const T *dout, const T *x, const T *w, const float *rstd, int C) {
    const size_t n = blockIdx.x;
    const T *xr = x + n * C, *dy = dout + n * C;
    float *dxr = dx + n * C;
    const float r = rstd[n];
    float dot = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dot += ldf(w[c]) * ldf(dy[c]) * ldf(xr[c]);
    dot = block_reduce(dot, SumOp(), 0.0f);
    const float k = dot * r * r * r / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dxr[c] += r * ldf(w[c]) * ldf(dy[c]) - k * ldf(xr[c]);
}

// Column sums over N rows with a fixed order (bit-reproducible, unlike atomics): block (32, 32) owns 32
// columns; lane y sums rows y, y + 32, ...; then lane 0 adds the 32 partials in order.
#define COLSUM_LANES 32
template <typename T, int WITH_X>
__global__ void colsum_k(float *out, const T *dy, const T *x, const float *rstd, size_t N, int C) {
    __shared__ float part[COLSUM_LANES][COLSUM_LANES + 1];
    const int c = blockIdx.x * COLSUM_LANES + threadIdx.x;
    float s = 0.0f;
    if (c < C)
        for (size_t n = threadIdx.y; n < N; n += COLSUM_LANES)
            s += WITH_X ? ldf(dy[n * C + c]) * ldf(x[n * C + c]) * rstd[n] : ldf(dy[n * C + c]);
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y != 0 || c >= C) return;
    float t = 0.0f;
    for (int y = 0; y < COLSUM_LANES; y++) t += part[y][threadIdx.x];
    out[c] += t;
}

template <typename T, int WITH_X>
static void colsum(float *out, const T *dy, const T *x, const float *rstd, size_t N, int C) {
    colsum_k<T, WITH_X><<<cdiv_u((size_t)C, COLSUM_LANES), dim3(COLSUM_LANES, COLSUM_LANES)>>>(out, dy, x, rstd, N, C);
    cudaCheckLaunch();
}

template <typename T>
void op_rmsnorm_forward(T *out, float *rstd, const T *x, const T *w, size_t N, int C, float eps) {
    if (!N) return;
    rmsnorm_fwd_k<T><<<(unsigned int)N, 256>>>(out, rstd, x, w, C, eps);
    cudaCheckLaunch();
}

template <typename T>
void op_rmsnorm_backward(float *dx, float *dw, const T *dout, const T *x, const T *w, const float *rstd, size_t N,
                         int C) {
    if (!N) return;
    rmsnorm_bwd_dx_k<T><<<(unsigned int)N, 256>>>(dx, dout, x, w, rstd, C);
    cudaCheckLaunch();
    colsum<T, 1>(dw, dout, x, rstd, N, C);
}

extern "C" void cuda_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, size_t N, int C,
                                     float eps) {
    op_rmsnorm_forward<float>(out, rstd, x, w, N, C, eps);
}

extern "C" void cuda_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                                      const float *rstd, size_t N, int C) {
    op_rmsnorm_backward<float>(dx, dw, dout, x, w, rstd, N, C);
}

// ---- linear -------------------------------------------------------------------------------------------

template <typename T> __global__ void bias_fill_k(T *out, const T *b, size_t n, int OC) {
    GRID_STRIDE(i, n) out[i] = b[i % OC];
}

template <typename T>
void op_linear_forward(CudaCtx *cx, T *out, const T *x, const T *W, const T *b, size_t N, int IC, int OC) {
    if (!N) return;
    if (b) {
        bias_fill_k<T><<<ew_grid(N * OC), 256>>>(out, b, N * OC, OC);
        cudaCheckLaunch();
    }
    gemm_t<T, T>(cx, 0, 1, (int)N, OC, IC, 1.0f, x, IC, W, IC, b ? 1.0f : 0.0f, out, OC);
}

template <typename T>
void op_linear_backward(CudaCtx *cx, T *dx, float beta_dx, float *dW, float *db, const T *dout, const T *x,
                        const T *W, size_t N, int IC, int OC) {
    if (!N) return;
    if (dx) gemm_t<T, T>(cx, 0, 0, (int)N, IC, OC, 1.0f, dout, OC, W, IC, beta_dx, dx, IC);  // (N, IC) = (N, OC)(OC, IC)
    gemm_t<T, float>(cx, 1, 0, OC, IC, (int)N, 1.0f, dout, OC, x, IC, 1.0f, dW, IC);           // (OC, IC) += (N, OC)^T (N, IC)
    if (db) colsum<T, 0>(db, dout, (const T *)NULL, (const float *)NULL, N, OC);
}

extern "C" void cuda_linear_forward(CudaCtx *cx, float *out, const float *x, const float *W, const float *b,
                                    size_t N, int IC, int OC) {
    op_linear_forward<float>(cx, out, x, W, b, N, IC, OC);
}

extern "C" void cuda_linear_backward(CudaCtx *cx, float *dx, float *dW, float *db, const float *dout, const float *x,
                                     const float *W, size_t N, int IC, int OC) {
    op_linear_backward<float>(cx, dx, 1.0f, dW, db, dout, x, W, N, IC, OC);
}

// ---- RoPE ---------------------------------------------------------------------------------------------

// One thread per rotated pair (b, t, h, i), i < D/2; sign -1 is the inverse rotation (backward).
template <typename T>
__global__ void rope_k(T *x, const float *cos_t, const float *sin_t, size_t npairs, int Tn, int NH, int D,
                       float sign) {
    const int half = D / 2;
    GRID_STRIDE(idx, npairs) {
        const int i = (int)(idx % half);
        const size_t rest = idx / half;          // (b * T + t) * NH + h
        const size_t bt = rest / NH;
        const int t = (int)(bt % Tn);
        T *xh = x + rest * D;
        const float c = cos_t[(size_t)t * half + i], s = sign * sin_t[(size_t)t * half + i];
        const float x1 = ldf(xh[i]), x2 = ldf(xh[i + half]);
        xh[i] = stf<T>(x1 * c - x2 * s);
        xh[i + half] = stf<T>(x2 * c + x1 * s);
    }
}

template <typename T> void op_rope(T *x, const float *cos_t, const float *sin_t, int B, int T_, int NH, int D, float sign) {
    const size_t npairs = (size_t)B * T_ * NH * (D / 2);
    if (!npairs) return;
    rope_k<T><<<ew_grid(npairs), 256>>>(x, cos_t, sin_t, npairs, T_, NH, D, sign);
    cudaCheckLaunch();
}

extern "C" void cuda_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int NH, int D) {
    op_rope<float>(x, cos_t, sin_t, B, T, NH, D, 1.0f);
}

extern "C" void cuda_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int NH, int D) {
    op_rope<float>(dx, cos_t, sin_t, B, T, NH, D, -1.0f);
}

// ---- causal grouped-query attention -------------------------------------------------------------------
// Heads are made contiguous first, (B, T, NH, D) -> (B, NH, T, D), so each (b, head) is a (T, D) matrix.
// Query head h = kh * G + g reads kv head kh. For a fixed g, the B*KV pairs j = b * KV + kh form one
// strided batch: query block at j * G*T*D + g*T*D, kv block at j * T*D, score block at j * G*T*T + g*T*T.

// dst (B, NH, T, D) = src (B, T, NH, D)
__global__ void to_heads_k(float *dst, const float *src, size_t n, int T, int NH, int D) {
    GRID_STRIDE(i, n) {  // i indexes dst
        const int d = (int)(i % D);
        const size_t r = i / D;  // (b * NH + h) * T + t
        const int t = (int)(r % T);
        const size_t bh = r / T;
        const int h = (int)(bh % NH);
        const size_t b = bh / NH;
        dst[i] = src[((b * T + t) * NH + h) * D + d];
    }
}

// dst (B, T, NH, D) (+)= src (B, NH, T, D)
__global__ void from_heads_k(float *dst, const float *src, size_t n, int T, int NH, int D, int accumulate) {
    GRID_STRIDE(i, n) {  // i indexes dst
        const int d = (int)(i % D);
        const size_t r = i / D;  // (b * T + t) * NH + h
        const int h = (int)(r % NH);
        const size_t bt = r / NH;
        const int t = (int)(bt % T);
        const size_t b = bt / T;
        const float v = src[((b * NH + h) * T + t) * D + d];
        dst[i] = accumulate ? dst[i] + v : v;
    }
}

static void to_heads(float *dst, const float *src, int B, int T, int NH, int D) {
    const size_t n = (size_t)B * T * NH * D;
    to_heads_k<<<ew_grid(n), 256>>>(dst, src, n, T, NH, D);
    cudaCheckLaunch();
}

static void from_heads(float *dst, const float *src, int B, int T, int NH, int D, int accumulate) {
    const size_t n = (size_t)B * T * NH * D;
    from_heads_k<<<ew_grid(n), 256>>>(dst, src, n, T, NH, D, accumulate);
    cudaCheckLaunch();
}

// One warp per score row (b, h, t): causal softmax in place over s <= t (scores already scaled by the
// GEMM), zeros for s > t. Rows are numbered r = (b * H + h) * T + t, i.e. att is (B*H*T, T).
__global__ void causal_softmax_k(float *att, size_t rows, int T) {
    const size_t r = blockIdx.x * (size_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= rows) return;
    const int lane = threadIdx.x & 31, t = (int)(r % T);
    float *p = att + r * T;
    float mx = -INFINITY;
    for (int s = lane; s <= t; s += 32) mx = fmaxf(mx, p[s]);
    mx = warp_reduce(mx, MaxOp());
    float sum = 0.0f;
    for (int s = lane; s <= t; s += 32) {
        const float e = expf(p[s] - mx);
        p[s] = e;
        sum += e;
    }
    sum = warp_reduce(sum, SumOp());
    const float inv = 1.0f / sum;
    for (int s = lane; s < T; s += 32) p[s] = s <= t ? p[s] * inv : 0.0f;
}

// Softmax backward for one query-head group g, one warp per row, in place on dp:
// ds_s = p_s (dp_s - sum_j p_j dp_j) * scale for s <= t, 0 above. dp rows r = j * T + t (j = b*KV + kh),
// p rows (j * G + g) * T + t of att.
__global__ void causal_softmax_bwd_k(float *dp, const float *att, size_t rows, int T, int G, int g, float scale) {
    const size_t r = blockIdx.x * (size_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= rows) return;
    const int lane = threadIdx.x & 31, t = (int)(r % T);
    const size_t j = r / T;
    float *d = dp + r * T;
    const float *p = att + ((j * G + g) * T + t) * T;
    float pdp = 0.0f;
    for (int s = lane; s <= t; s += 32) pdp += p[s] * d[s];
    pdp = warp_reduce(pdp, SumOp());
    for (int s = lane; s < T; s += 32) d[s] = s <= t ? p[s] * (d[s] - pdp) * scale : 0.0f;
}

static void softmax_launch_dims(size_t rows, unsigned int *grid) { *grid = cdiv_u(rows, 8); }  // 8 warps/block

extern "C" size_t cuda_attention_scratch_floats(int B, int T, int H, int KV, int D) {
    const size_t N = (size_t)B * T;
    // qh, oh/doh, dqh (N*H*D each); kh, vh, dkh, dvh (N*KV*D each); one (B*KV, T, T) score block
    return 3 * N * H * D + 4 * N * KV * D + (size_t)B * KV * T * T;
}

extern "C" void cuda_attention_forward(CudaCtx *cx, float *out, float *att, const float *q, const float *k,
                                       const float *v, float *scratch, int B, int T, int H, int KV, int D) {
    const int G = H / KV;
    const size_t N = (size_t)B * T;
    float *qh = scratch;                 // (B, H, T, D)
    float *oh = qh + N * H * D;          // (B, H, T, D)
    float *kh = oh + 2 * N * H * D;      // (B, KV, T, D)   (skips the dqh slot used by backward)
    float *vh = kh + N * KV * D;         // (B, KV, T, D)
    const float scale = 1.0f / sqrtf((float)D);
    const long long TD = (long long)T * D, TT = (long long)T * T;
    to_heads(qh, q, B, T, H, D);
    to_heads(kh, k, B, T, KV, D);
    to_heads(vh, v, B, T, KV, D);
    for (int g = 0; g < G; g++) {
        // scores (T, T) = scale * Q (T, D) K^T
        gemm_rm_batched(cx, 0, 1, T, T, D, scale, qh + g * TD, D, G * TD, kh, D, TD, 0.0f, att + g * TT, T,
                        G * TT, B * KV);
    }
    const size_t rows = (size_t)B * H * T;
    unsigned int grid;
    softmax_launch_dims(rows, &grid);
    causal_softmax_k<<<grid, 256>>>(att, rows, T);
    cudaCheckLaunch();
    for (int g = 0; g < G; g++) {
        // out (T, D) = P (T, T) V (T, D); P is zero above the diagonal
        gemm_rm_batched(cx, 0, 0, T, D, T, 1.0f, att + g * TT, T, G * TT, vh, D, TD, 0.0f, oh + g * TD, D,
                        G * TD, B * KV);
    }
    from_heads(out, oh, B, T, H, D, 0);
}

extern "C" void cuda_attention_backward(CudaCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                        const float *att, const float *q, const float *k, const float *v,
                                        float *scratch, int B, int T, int H, int KV, int D) {
    const int G = H / KV;
    const size_t N = (size_t)B * T;
    float *qh = scratch;                 // (B, H, T, D)
    float *doh = qh + N * H * D;         // (B, H, T, D)
    float *dqh = doh + N * H * D;        // (B, H, T, D)
    float *kh = dqh + N * H * D;         // (B, KV, T, D)
    float *vh = kh + N * KV * D;         // (B, KV, T, D)
    float *dkh = vh + N * KV * D;        // (B, KV, T, D)
    float *dvh = dkh + N * KV * D;       // (B, KV, T, D)
    float *dp = dvh + N * KV * D;        // (B*KV, T, T)
    const float scale = 1.0f / sqrtf((float)D);
    const long long TD = (long long)T * D, TT = (long long)T * T;
    const int nb = B * KV;
    to_heads(qh, q, B, T, H, D);
    to_heads(doh, dout, B, T, H, D);
    to_heads(kh, k, B, T, KV, D);
    to_heads(vh, v, B, T, KV, D);
    const size_t rows = (size_t)nb * T;
    unsigned int grid;
    softmax_launch_dims(rows, &grid);
    for (int g = 0; g < G; g++) {
        const float *P = att + g * TT;   // stride G*TT
        const float *Q = qh + g * TD, *dO = doh + g * TD;  // stride G*TD
        // dP (T, T) = dO (T, D) V^T
        gemm_rm_batched(cx, 0, 1, T, T, D, 1.0f, dO, D, G * TD, vh, D, TD, 0.0f, dp, T, TT, nb);
        causal_softmax_bwd_k<<<grid, 256>>>(dp, att, rows, T, G, g, scale);
        cudaCheckLaunch();
        // dQ (T, D) = dS (T, T) K (T, D)        (each query head once: overwrite)
        gemm_rm_batched(cx, 0, 0, T, D, T, 1.0f, dp, T, TT, kh, D, TD, 0.0f, dqh + g * TD, D, G * TD, nb);
        // dK (T, D) += dS^T Q,  dV (T, D) += P^T dO   (the G query heads of a kv head add up)
        const float beta = g == 0 ? 0.0f : 1.0f;
        gemm_rm_batched(cx, 1, 0, T, D, T, 1.0f, dp, T, TT, Q, D, G * TD, beta, dkh, D, TD, nb);
        gemm_rm_batched(cx, 1, 0, T, D, T, 1.0f, P, T, G * TT, dO, D, G * TD, beta, dvh, D, TD, nb);
    }
    from_heads(dq, dqh, B, T, H, D, 1);
    from_heads(dk, dkh, B, T, KV, D, 1);
    from_heads(dv, dvh, B, T, KV, D, 1);
}

// ---- SwiGLU, residual ---------------------------------------------------------------------------------

template <typename T> __global__ void swiglu_fwd_k(T *out, const T *gate, const T *up, size_t n) {
    GRID_STRIDE(i, n) {
        const float g = ldf(gate[i]);
        out[i] = stf<T>(g / (1.0f + expf(-g)) * ldf(up[i]));
    }
}

template <typename T>
__global__ void swiglu_bwd_k(T *dgate, T *dup, const T *dout, const T *gate, const T *up, size_t n) {
    GRID_STRIDE(i, n) {
        const float g = ldf(gate[i]), s = 1.0f / (1.0f + expf(-g)), d = ldf(dout[i]);
        dup[i] = stf<T>(d * g * s);
        dgate[i] = stf<T>(d * ldf(up[i]) * s * (1.0f + g * (1.0f - s)));
    }
}

template <typename T> __global__ void residual_k(T *out, const T *a, const T *b, size_t n) {
    GRID_STRIDE(i, n) out[i] = stf<T>(ldf(a[i]) + ldf(b[i]));
}

template <typename T> void op_swiglu_forward(T *out, const T *gate, const T *up, size_t n) {
    if (!n) return;
    swiglu_fwd_k<T><<<ew_grid(n), 256>>>(out, gate, up, n);
    cudaCheckLaunch();
}

template <typename T> void op_swiglu_backward(T *dgate, T *dup, const T *dout, const T *gate, const T *up, size_t n) {
    if (!n) return;
    swiglu_bwd_k<T><<<ew_grid(n), 256>>>(dgate, dup, dout, gate, up, n);
    cudaCheckLaunch();
}

template <typename T> void op_residual_forward(T *out, const T *a, const T *b, size_t n) {
    if (!n) return;
    residual_k<T><<<ew_grid(n), 256>>>(out, a, b, n);
    cudaCheckLaunch();
}

extern "C" void cuda_swiglu_forward(float *out, const float *gate, const float *up, size_t n) {
    op_swiglu_forward<float>(out, gate, up, n);
}

extern "C" void cuda_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                                     size_t n) {
    op_swiglu_backward<float>(dgate, dup, dout, gate, up, n);
}

extern "C" void cuda_residual_forward(float *out, const float *a, const float *b, size_t n) {
    op_residual_forward<float>(out, a, b, n);
}

// ---- log-prob / entropy head --------------------------------------------------------------------------

// One block per logits row (already divided by the temperature): max, then sums in double (V can be
// 150k and these feed the entropy statistics directly), exactly as common/engine/forward.c model_head.
template <typename T>
__global__ void head_stats_k(float *logp, float *entropy, float *hnorm, float *sumsq, float *lse,
                             const float *logits, const T *lnf, const int *targets, size_t r0, int C, int V) {
    const size_t r = blockIdx.x, n = r0 + r;
    const float *z = logits + r * V;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, z[j]);
    mx = block_reduce(mx, MaxOp(), -INFINITY);
    double se = 0.0, sez = 0.0, se2 = 0.0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        const double zj = (double)(z[j] - mx), e = exp(zj);
        se += e;
        sez += e * zj;
        se2 += e * e;
    }
    se = block_reduce(se, SumOp(), 0.0);
    sez = block_reduce(sez, SumOp(), 0.0);
    se2 = block_reduce(se2, SumOp(), 0.0);
    double hs = 0.0;
    if (hnorm) {
        const T *hr = lnf + n * C;
        for (int c = threadIdx.x; c < C; c += blockDim.x) hs += (double)ldf(hr[c]) * ldf(hr[c]);
        hs = block_reduce(hs, SumOp(), 0.0);
    }
    if (threadIdx.x != 0) return;
    const double lse_shift = log(se);
    lse[n] = (float)(mx + lse_shift);
    const int tg = targets[n];
    logp[n] = (tg >= 0 && tg < V) ? (float)((double)(z[tg] - mx) - lse_shift) : 0.0f;
    if (entropy) entropy[n] = (float)(lse_shift - sez / se);
    if (sumsq) sumsq[n] = (float)(se2 / (se * se));
    if (hnorm) hnorm[n] = (float)sqrt(hs);
}

// dz_j = g (onehot(target)_j - p_j) with g = dlogp / temperature, from the recomputed logits into dz
// (in place when To is float and dz == logits). With the entropy bonus (dent != NULL) each logit also
// gains ge dH/dz_j = -ge p_j (log p_j + H), ge = dent / temperature (model_backward_ent's math).
template <typename To>
__global__ void head_dz_k(To *dz, const float *logits, const float *dlogp, const float *dent, const float *entropy,
                          const int *targets, const float *lse, size_t r0, int V, float invT) {
    const size_t r = blockIdx.x, n = r0 + r;
    const float *z = logits + r * V;
    To *o = dz + r * V;
    const float g = dlogp[n] * invT, l = lse[n];
    const float ge = dent ? dent[n] * invT : 0.0f;
    const int tg = targets[n];
    if (ge == 0.0f) {
        for (int j = threadIdx.x; j < V; j += blockDim.x) {
            if (g == 0.0f) { o[j] = stf<To>(0.0f); continue; }
            float d = -g * expf(z[j] - l);
            if (j == tg) d += g;
            o[j] = stf<To>(d);
        }
        return;
    }
    const float gh = -g - ge * entropy[n];
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        const float lp = z[j] - l;
        float d = expf(lp) * (gh - ge * lp);
        if (j == tg) d += g;
        o[j] = stf<To>(d);
    }
}

template <typename T>
void op_head_forward(CudaCtx *cx, float *logp, float *entropy, float *hnorm, float *sumsq, float *lse, float *logits,
                     size_t chunk_rows, const T *lnf, const T *W, const int *targets, size_t N, int C, int V,
                     float temperature) {
    if (!(temperature > 0.0f)) die("cuda_head_forward: temperature %g must be > 0", (double)temperature);
    if (chunk_rows == 0) die("cuda_head_forward: chunk_rows must be > 0");
    const float invT = 1.0f / temperature;
    for (size_t r0 = 0; r0 < N; r0 += chunk_rows) {
        const size_t rows = N - r0 < chunk_rows ? N - r0 : chunk_rows;
        gemm_t<T, float>(cx, 0, 1, (int)rows, V, C, invT, lnf + r0 * C, C, W, C, 0.0f, logits, V);
        head_stats_k<T><<<(unsigned int)rows, 512>>>(logp, entropy, hnorm, sumsq, lse, logits, lnf, targets, r0, C, V);
        cudaCheckLaunch();
    }
}

template <typename T>
void op_head_backward(CudaCtx *cx, T *dlnf, float *dW, const float *dlogp, const float *dlogp_host,
                      const float *dent, const float *dent_host, const float *entropy, const T *lnf, const T *W,
                      const int *targets, const float *lse, float *logits, bf16 *dz16, size_t chunk_rows, size_t N,
                      int C, int V, float temperature) {
    if (!(temperature > 0.0f)) die("cuda_head_backward: temperature %g must be > 0", (double)temperature);
    if (chunk_rows == 0) die("cuda_head_backward: chunk_rows must be > 0");
    const bool is_f32 = CudaType<T>::id == CUDA_R_32F;
    if (!is_f32 && !dz16) die("cuda_head_backward: the bf16 head needs its bf16 dz scratch (bug)");
    const float invT = 1.0f / temperature;
    for (size_t r0 = 0; r0 < N; r0 += chunk_rows) {
        const size_t rows = N - r0 < chunk_rows ? N - r0 : chunk_rows;
        if (dlogp_host) {
            int any = 0;
            for (size_t r = 0; r < rows; r++)
                any |= dlogp_host[r0 + r] != 0.0f || (dent && dent_host && dent_host[r0 + r] != 0.0f);
            if (!any) {  // masked chunk (padding, prompts): nothing flows back
                cuda_zero(dlnf + r0 * C, rows * C * sizeof(T));
                continue;
            }
        }
        gemm_t<T, float>(cx, 0, 1, (int)rows, V, C, invT, lnf + r0 * C, C, W, C, 0.0f, logits, V);
        // dlnf (rows, C) = dz (rows, V) W (V, C);  dW (V, C) += dz^T lnf
        if (is_f32) {
            head_dz_k<float><<<(unsigned int)rows, 512>>>(logits, logits, dlogp, dent, entropy, targets, lse, r0, V, invT);
            cudaCheckLaunch();
            const T *dz = (const T *)(const void *)logits;
            gemm_t<T, T>(cx, 0, 0, (int)rows, C, V, 1.0f, dz, V, W, C, 0.0f, dlnf + r0 * C, C);
            gemm_t<T, float>(cx, 1, 0, V, C, (int)rows, 1.0f, dz, V, lnf + r0 * C, C, 1.0f, dW, C);
        } else {
            head_dz_k<bf16><<<(unsigned int)rows, 512>>>(dz16, logits, dlogp, dent, entropy, targets, lse, r0, V, invT);
            cudaCheckLaunch();
            const T *dz = (const T *)(const void *)dz16;
            gemm_t<T, T>(cx, 0, 0, (int)rows, C, V, 1.0f, dz, V, W, C, 0.0f, dlnf + r0 * C, C);
            gemm_t<T, float>(cx, 1, 0, V, C, (int)rows, 1.0f, dz, V, lnf + r0 * C, C, 1.0f, dW, C);
        }
    }
}

extern "C" void cuda_head_forward(CudaCtx *cx, float *logp, float *entropy, float *hnorm, float *sumsq, float *lse,
                                  float *logits, size_t chunk_rows, const float *lnf, const float *W,
                                  const int *targets, size_t N, int C, int V, float temperature) {
    op_head_forward<float>(cx, logp, entropy, hnorm, sumsq, lse, logits, chunk_rows, lnf, W, targets, N, C, V,
                           temperature);
}

extern "C" void cuda_head_backward(CudaCtx *cx, float *dlnf, float *dW, const float *dlogp, const float *dlogp_host,
                                   const float *lnf, const float *W, const int *targets, const float *lse,
                                   float *logits, size_t chunk_rows, size_t N, int C, int V, float temperature) {
    op_head_backward<float>(cx, dlnf, dW, dlogp, dlogp_host, NULL, NULL, NULL, lnf, W, targets, lse, logits, NULL,
                            chunk_rows, N, C, V, temperature);
}

// ---- optimizer ----------------------------------------------------------------------------------------

__global__ void adamw_k(float *params, bf16 *wb, const float *grads, float *m, float *v, size_t n, float b1, float b2,
                        float eps, float decay, float step_size, float bc2_sqrt) {
    GRID_STRIDE(i, n) {
        const float g = grads[i];
        float p = params[i] * decay;
        const float mi = b1 * m[i] + (1.0f - b1) * g;
        const float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
        params[i] = p;
        if (wb) wb[i] = stf<bf16>(p);
    }
}

void op_adamw(float *params, bf16 *wb, const float *grads, float *m, float *v, size_t n, float beta1, float beta2,
              float eps, float weight_decay, float lr, long step) {
    if (!n) return;
    const double bc1 = 1.0 - pow((double)beta1, (double)step), bc2 = 1.0 - pow((double)beta2, (double)step);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * weight_decay;
    adamw_k<<<ew_grid(n), 256>>>(params, wb, grads, m, v, n, beta1, beta2, eps, decay, step_size, bc2_sqrt);
    cudaCheckLaunch();
}

extern "C" void cuda_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float beta1,
                                  float beta2, float eps, float weight_decay, float lr, long step) {
    op_adamw(params, NULL, grads, m, v, n, beta1, beta2, eps, weight_decay, lr, step);
}

#define SQNORM_BLOCKS 1024  // fixed grid: the reduction tree, hence the result, never changes

__global__ void sqnorm_partial_k(double *partial, const float *g, size_t n) {
    double s = 0.0;
    GRID_STRIDE(i, n) s += (double)g[i] * g[i];
    s = block_reduce(s, SumOp(), 0.0);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sqnorm_final_k(double *out, const double *partial, int np) {
    double s = 0.0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += partial[i];
    s = block_reduce(s, SumOp(), 0.0);
    if (threadIdx.x == 0) out[0] = s;
}

extern "C" double cuda_grad_sqnorm(const float *g, size_t n) {
    if (!n) return 0.0;
    double *partial = (double *)cuda_malloc((SQNORM_BLOCKS + 1) * sizeof(double));
    sqnorm_partial_k<<<SQNORM_BLOCKS, 256>>>(partial + 1, g, n);
    cudaCheckLaunch();
    sqnorm_final_k<<<1, 1024>>>(partial, partial + 1, SQNORM_BLOCKS);
    cudaCheckLaunch();
    double s = 0.0;
    cuda_download(&s, partial, sizeof(double));
    cuda_free(partial);
    return s;
}

__global__ void scale_k(float *g, size_t n, float f) {
    GRID_STRIDE(i, n) g[i] *= f;
}

void op_scale(float *g, size_t n, float f) {
    if (!n) return;
    scale_k<<<ew_grid(n), 256>>>(g, n, f);
    cudaCheckLaunch();
}

extern "C" float cuda_grad_clip(float *g, size_t n, double norm, float max_norm) {
    if (!isfinite(norm)) return 0.0f;
    if (max_norm <= 0.0f) return 1.0f;
    const double coef = (double)max_norm / (norm + 1e-6);
    if (coef >= 1.0) return 1.0f;
    const float f = (float)coef;
    op_scale(g, n, f);
    return f;
}

// ---- bf16 conversion ----------------------------------------------------------------------------------

__global__ void to_bf16_k(bf16 *dst, const float *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] = __ushort_as_bfloat16(bf16_bits_rn(src[i]));
}

__global__ void to_f32_k(float *dst, const bf16 *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] = __uint_as_float((uint32_t)__bfloat16_as_ushort(src[i]) << 16);
}

void op_to_bf16(bf16 *dst, const float *src, size_t n) {
    if (!n) return;
    to_bf16_k<<<ew_grid(n), 256>>>(dst, src, n);
    cudaCheckLaunch();
}

void op_to_f32(float *dst, const bf16 *src, size_t n) {
    if (!n) return;
    to_f32_k<<<ew_grid(n), 256>>>(dst, src, n);
    cudaCheckLaunch();
}

extern "C" void cuda_f32_to_bf16(void *dst, const float *src, size_t n) { op_to_bf16((bf16 *)dst, src, n); }
extern "C" void cuda_bf16_to_f32(float *dst, const void *src, size_t n) { op_to_f32(dst, (const bf16 *)src, n); }

// ---- explicit instantiations (float: the fp32 engine; bf16: mixed precision) ----------------------------
#define RLVR_TYPED_OPS(T)                                                                                       \
    template void op_embedding_forward<T>(T *, const int *, const T *, size_t, int);                            \
    template void op_rmsnorm_forward<T>(T *, float *, const T *, const T *, size_t, int, float);                \
    template void op_rmsnorm_backward<T>(float *, float *, const T *, const T *, const T *, const float *, size_t, \
                                         int);                                                                  \
    template void op_linear_forward<T>(CudaCtx *, T *, const T *, const T *, const T *, size_t, int, int);      \
    template void op_linear_backward<T>(CudaCtx *, T *, float, float *, float *, const T *, const T *, const T *, \
                                        size_t, int, int);                                                      \
    template void op_rope<T>(T *, const float *, const float *, int, int, int, int, float);                     \
    template void op_swiglu_forward<T>(T *, const T *, const T *, size_t);                                      \
    template void op_swiglu_backward<T>(T *, T *, const T *, const T *, const T *, size_t);                     \
    template void op_residual_forward<T>(T *, const T *, const T *, size_t);                                    \
    template void op_head_forward<T>(CudaCtx *, float *, float *, float *, float *, float *, float *, size_t,   \
                                     const T *, const T *, const int *, size_t, int, int, float);               \
    template void op_head_backward<T>(CudaCtx *, T *, float *, const float *, const float *, const float *,     \
                                      const float *, const float *, const T *, const T *, const int *,          \
                                      const float *, float *, bf16 *, size_t, size_t, int, int, float);
RLVR_TYPED_OPS(float)
RLVR_TYPED_OPS(bf16)
