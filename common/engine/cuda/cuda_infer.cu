// Generation on one GPU (cuda_infer.h): weights, KV cache and activations on the device, one step =
// every row through every layer, then the LM head and the sampler for the output rows only.
//
// Data flow of a step (rows processed in chunks of at most `rows` rows; X = the precision's type, fp32
// or bf16):
//   x (R, C) fp32 residual  <- embedding rows
//   per layer: xn (R, C) X = RMSNorm(x) -> qkv (R, H*D + 2*KV*D) in ONE GEMM (fp32 output, cuBLAS with
//   X inputs and fp32 accumulation) -> + bias, RoPE, K/V rows written to the cache (X) at (slot, pos) ->
//   attention of each row over positions 0..pos of its slot (split over the sequence in ATT_CHUNK
//   positions, then a combine) -> att (R, H*D) X -> o_proj -> x += ; xn = RMSNorm(x) -> gate|up (R, 2I)
//   in one GEMM -> SwiGLU -> h X -> down_proj -> x += (fused with the next RMSNorm).
//
// Weight layout on the device: Model.params' layout, except that each layer's q/k/v span (q_proj
// weight, q bias, k weight, k bias, v weight, v bias) is stored as [q k v weights][q k v biases], so
// the three projections are one (H*D + 2*KV*D, C) matrix. gate_proj and up_proj are adjacent in
// Model.params already: one (2I, C) matrix.
//   hid (n_out, C) X = final RMSNorm of the output rows -> logits (n_out, V) fp32 -> sampler.
// The residual stream, every GEMM output and every reduction are fp32 in both precisions.
//
// Decode attention: one block per (row, KV head, sequence chunk). The block holds the G = H / KV query
// heads of its KV head, so each cached K / V row is read from memory once per step for the whole group;
// chunks of ATT_CHUNK positions run in parallel (split-K over the sequence) and write unnormalised
// partial outputs with their max and sum, merged by the combine kernel. Prefill rows use the same
// kernel: each row reads its own prefix (K/V of the chunk's earlier rows are written before attention).
#include <cuda_bf16.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/cuda/cuda_common.cuh"
#include "common/engine/cuda/cuda_sample.h"

extern "C" {
#include "common/engine/cuda/cuda_infer.h"
#include "common/engine/ops.h"
}

#define ATT_CHUNK 128            // positions per attention block (split-K granularity)
#define ATT_THREADS 128
#define MAX_HEAD_DIM 256         // register tile of the score loop: D / 32 <= 8 values per lane
#define PREFILL_ROWS 256         // rows per forward chunk at least (prefill of long prompts)
#define STAGE_ELEMS ((size_t)1 << 24)   // staging buffer for weight conversion (16M elements)
#define CUBLAS_RESERVE ((size_t)256 << 20)   // cuBLAS workspace and allocator slack kept out of the KV budget
#define NORM_THREADS 256
#define MAX_AUTO_SLOTS 4096      // cap of max_batch 0 (as many slots as memory allows)

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16_rn(x); }

// Offsets (elements) of the tensors in the weight buffer: the layout of Model.params (model_view).
typedef struct {
    size_t ln1, qkv, qkv_b, o, ln2, gate_up, down;   // qkv_b: NO_BIAS without qkv bias
} LayerOff;
#define NO_BIAS ((size_t)-1)

// host params [host, host + n) live at device elements [dev, dev + n)
typedef struct { size_t host, dev, n; } Seg;

struct CudaInfer {
    ModelConfig cfg;
    size_t num_params;
    CudaPrecision prec;
    size_t elt;                  // bytes per weight / cache / activation element: 4 or 2
    int B, T, rows, nsplit;      // slots, positions per slot, rows per chunk, max attention chunks
    CudaCtx *cx;
    void *weights;               // (num_params) X
    size_t embed, norm, lm_head; // offsets
    LayerOff *lo;                // (L)
    Seg *segs;                   // host -> device layout, in host order
    int nsegs;
    void *kc, *vc;               // (B, L, KV, T, D) X
    int *len;                    // (B) host: positions filled per slot
    void *work;                  // the workspace allocation, carved below
    float *rope_cos, *rope_sin;  // (T, D/2)
    float *x;                    // (rows, C)
    void *xn;                    // (rows, C) X
    float *qkv;                  // (rows, H*D + 2*KV*D): q | k | v of each row
    void *att;                   // (rows, H*D) X
    float *proj;                 // (rows, C)
    float *gu;                   // (rows, 2I): gate | up of each row
    void *hbuf;                  // (rows, I) X
    float *part_o;               // (rows, H, nsplit, D) unnormalised partial attention outputs
    float *part_ml;              // (rows, H, nsplit, 2) their max and sum
    void *hid;                   // (B, C) X final-normed hidden of the output rows
    float *logits;               // (B, V)
    int *d_idx;                  // (3 * rows + B) slots, pos, tokens of a chunk; out rows
    uint64_t *d_rng;             // (2 B) seeds, draws
    CudaSampleResult *d_res;     // (B)
    void *stage;                 // (STAGE_ELEMS) fp32 staging for weight conversion
    int *h_idx;                  // host mirror of d_idx
    uint64_t *h_rng;
    CudaSampleResult *h_res;
    size_t bytes;                // device bytes held
};

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

// Workspace bytes for B slots of T positions (everything but weights and KV cache), and the rows per
// chunk / attention chunks it implies.
static size_t work_bytes(const ModelConfig *c, size_t elt, int B, int T, int *rows_out, int *nsplit_out) {
    const size_t C = c->hidden_size, I = c->intermediate_size, H = c->num_heads, KV = c->num_kv_heads;
    const size_t D = c->head_dim, V = c->vocab_size;
    const size_t R = (size_t)(B > PREFILL_ROWS ? B : PREFILL_ROWS), NS = (size_t)(T + ATT_CHUNK - 1) / ATT_CHUNK;
    if (rows_out) *rows_out = (int)R;
    if (nsplit_out) *nsplit_out = (int)NS;
    size_t b = 0;
    b += 2 * align256((size_t)T * (D / 2) * 4);                          // rope tables
    b += align256(R * C * 4) + align256(R * C * elt);                    // x, xn
    b += align256(R * (H + 2 * KV) * D * 4);                             // qkv
    b += align256(R * H * D * elt) + align256(R * C * 4);                // att, proj
    b += align256(R * 2 * I * 4) + align256(R * I * elt);                // gate|up, h
    b += align256(R * H * NS * D * 4) + align256(R * H * NS * 2 * 4);    // partial attention
    b += align256((size_t)B * C * elt) + align256((size_t)B * V * 4);    // hid, logits
    b += align256((3 * R + B) * sizeof(int)) + align256(2 * (size_t)B * 8) + align256((size_t)B * sizeof(CudaSampleResult));
    b += align256(STAGE_ELEMS * 4);
    return b;
}

static size_t slot_bytes(const ModelConfig *c, size_t elt, int T) {
    return 2 * (size_t)c->num_layers * c->num_kv_heads * (size_t)T * c->head_dim * elt;
}

// ---- kernels ----------------------------------------------------------------------------------------

__device__ float block_sum_f(float v) {
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    float t = 0.0f;
    for (int w = 0; w < nw; w++) t += sh[w];
    return t;
}

template <typename T> __global__ void embed_kernel(float *x, const int *tokens, const T *wte, int C) {
    const T *src = wte + (size_t)tokens[blockIdx.x] * C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) x[(size_t)blockIdx.x * C + i] = to_f(src[i]);
}

// x (+= add when add != NULL), out = x / sqrt(mean(x^2) + eps) * w, as rmsnorm_row in infer.c.
template <typename T>
__global__ void add_rmsnorm_kernel(T *out, float *x, const float *add, const T *w, int C, float eps) {
    float *xr = x + (size_t)blockIdx.x * C;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float v = xr[i];
        if (add) { v += add[(size_t)blockIdx.x * C + i]; xr[i] = v; }
        ss += v * v;
    }
    ss = block_sum_f(ss);
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) out[(size_t)blockIdx.x * C + i] = from_f<T>(xr[i] * r * to_f(w[i]));
}

// Bias, RoPE (HF rotate_half with the host tables) and the K/V cache write of one row per block.
// qkv (rows, (H + 2 KV) D): q rotated in place; bias (H + 2 KV) D or NULL, the same layout.
template <typename T>
__global__ void qkv_rope_kernel(float *qkv, const T *bias, const float *cos_t, const float *sin_t, const int *slots,
                                const int *pos, T *kc, T *vc, int l, int L, int Tmax, int H, int KV, int D) {
    const int r = blockIdx.x, half = D / 2, p = pos[r];
    const float *cs = cos_t + (size_t)p * half, *sn = sin_t + (size_t)p * half;
    float *qr = qkv + (size_t)r * (H + 2 * KV) * D, *kr = qr + (size_t)H * D;
    const float *vr = kr + (size_t)KV * D;
    const T *qb = bias, *kb = bias ? bias + (size_t)H * D : NULL, *vb = bias ? bias + (size_t)(H + KV) * D : NULL;
    for (int j = threadIdx.x; j < H * half; j += blockDim.x) {
        const int h = j / half, i = j % half, o = h * D + i;
        const float a = qr[o] + (qb ? to_f(qb[o]) : 0.0f), b = qr[o + half] + (qb ? to_f(qb[o + half]) : 0.0f);
        qr[o] = a * cs[i] - b * sn[i];
        qr[o + half] = b * cs[i] + a * sn[i];
    }
    const size_t base = (((size_t)slots[r] * L + l) * KV) * Tmax;
    for (int j = threadIdx.x; j < KV * half; j += blockDim.x) {
        const int g = j / half, i = j % half, o = g * D + i;
        const float a = kr[o] + (kb ? to_f(kb[o]) : 0.0f), b = kr[o + half] + (kb ? to_f(kb[o + half]) : 0.0f);
        T *dst = kc + ((base + (size_t)g * Tmax) + p) * D;
        dst[i] = from_f<T>(a * cs[i] - b * sn[i]);
        dst[i + half] = from_f<T>(b * cs[i] + a * sn[i]);
    }
    for (int j = threadIdx.x; j < KV * D; j += blockDim.x) {
        const int g = j / D, i = j % D;
        vc[((base + (size_t)g * Tmax) + p) * D + i] = from_f<T>(vr[j] + (vb ? to_f(vb[j]) : 0.0f));
    }
}

// Grid (rows * KV, nsplit): block (r, g, s) attends query heads g*G .. g*G+G-1 of row r (q rows
// q_stride floats apart) over positions
// [s * ATT_CHUNK, min(pos[r] + 1, (s + 1) * ATT_CHUNK)) of its slot. Dynamic shared memory:
// q (G, D) and scores (G, ATT_CHUNK) floats.
template <typename T>
__global__ void attn_chunk_kernel(float *part_o, float *part_ml, const float *q, const T *kc, const T *vc,
                                  const int *slots, const int *pos, int l, int L, int Tmax, int H, int KV, int D,
                                  int nsplit, size_t q_stride) {
    extern __shared__ float smem[];
    const int G = H / KV, r = blockIdx.x / KV, g = blockIdx.x % KV, s = blockIdx.y;
    const int npos = pos[r] + 1, t0 = s * ATT_CHUNK;
    if (t0 >= npos) return;   // beyond this row's length: the combine reads only its own chunks
    const int t1 = min(npos, t0 + ATT_CHUNK), n = t1 - t0;
    float *sq = smem, *sc = smem + (size_t)G * D;
    const float scale = 1.0f / sqrtf((float)D);
    for (int i = threadIdx.x; i < G * D; i += blockDim.x) sq[i] = q[(size_t)r * q_stride + (size_t)g * G * D + i];
    __syncthreads();
    const size_t head = ((((size_t)slots[r] * L + l) * KV + g) * Tmax) * D;
    const T *kh = kc + head, *vh = vc + head;
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int t = t0 + wid; t < t1; t += nw) {
        float kreg[MAX_HEAD_DIM / 32];
#pragma unroll
        for (int j = 0; j < MAX_HEAD_DIM / 32; j++) {
            const int d = lane + 32 * j;
            kreg[j] = d < D ? to_f(kh[(size_t)t * D + d]) : 0.0f;
        }
        for (int h = 0; h < G; h++) {
            float dot = 0.0f;
#pragma unroll
            for (int j = 0; j < MAX_HEAD_DIM / 32; j++) {
                const int d = lane + 32 * j;
                if (d < D) dot += sq[h * D + d] * kreg[j];
            }
            for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
            if (lane == 0) sc[h * ATT_CHUNK + (t - t0)] = dot * scale;
        }
    }
    __syncthreads();
    for (int h = wid; h < G; h += nw) {
        float *sh = sc + h * ATT_CHUNK;
        float m = -INFINITY;
        for (int t = lane; t < n; t += 32) m = fmaxf(m, sh[t]);
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        float z = 0.0f;
        for (int t = lane; t < n; t += 32) {
            const float e = expf(sh[t] - m);
            sh[t] = e;
            z += e;
        }
        for (int o = 16; o > 0; o >>= 1) z += __shfl_xor_sync(0xffffffffu, z, o);
        if (lane == 0) {
            float *ml = part_ml + (((size_t)r * H + (size_t)g * G + h) * nsplit + s) * 2;
            ml[0] = m;
            ml[1] = z;
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < G * D; idx += blockDim.x) {
        const int h = idx / D, d = idx % D;
        const float *ph = sc + h * ATT_CHUNK;
        float acc = 0.0f;
        for (int t = 0; t < n; t++) acc += ph[t] * to_f(vh[(size_t)(t0 + t) * D + d]);
        part_o[(((size_t)r * H + (size_t)g * G + h) * nsplit + s) * D + d] = acc;
    }
}

// Grid (rows, H): merges the row's chunks of one head into att (rows, H*D).
template <typename T>
__global__ void attn_combine_kernel(T *att, const float *part_o, const float *part_ml, const int *pos, int H, int D,
                                    int nsplit) {
    const int r = blockIdx.x, h = blockIdx.y, ns = (pos[r] + ATT_CHUNK) / ATT_CHUNK;
    const float *ml = part_ml + ((size_t)r * H + h) * nsplit * 2;
    const float *po = part_o + ((size_t)r * H + h) * nsplit * D;
    float M = -INFINITY;
    for (int s = 0; s < ns; s++) M = fmaxf(M, ml[2 * s]);
    float Lsum = 0.0f;
    for (int s = 0; s < ns; s++) Lsum += ml[2 * s + 1] * expf(ml[2 * s] - M);
    const float inv = 1.0f / Lsum;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < ns; s++) o += po[(size_t)s * D + d] * expf(ml[2 * s] - M);
        att[(size_t)r * H * D + (size_t)h * D + d] = from_f<T>(o * inv);
    }
}

// h (rows, I) = silu(gate) * up from gu (rows, 2I) = gate | up.
template <typename T> __global__ void swiglu_kernel(T *h, const float *gu, size_t rows, int I) {
    const size_t n = rows * I;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / I, j = i % I;
        const float a = gu[r * 2 * I + j], u = gu[r * 2 * I + I + j];
        h[i] = from_f<T>(a / (1.0f + expf(-a)) * u);
    }
}

// hid[j] = src[out_rows[j] - row0] for the output rows inside this chunk [row0, row0 + R).
template <typename T>
__global__ void gather_rows_kernel(T *hid, const T *src, const int *out_rows, int row0, int R, int C) {
    const int j = blockIdx.x, r = out_rows[j] - row0;
    if (r < 0 || r >= R) return;
    for (int i = threadIdx.x; i < C; i += blockDim.x) hid[(size_t)j * C + i] = src[(size_t)r * C + i];
}

__global__ void f32_to_bf16_kernel(bf16 *dst, const float *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}
__global__ void bf16_to_f32_kernel(float *dst, const bf16 *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

static unsigned int grid_for(size_t n) {
    const size_t g = (n + 255) / 256;
    return (unsigned int)(g < 65536 ? (g ? g : 1) : 65536);
}

// ---- host side --------------------------------------------------------------------------------------

static const void *wptr(const CudaInfer *s, size_t off) {
    return off == NO_BIAS ? NULL : (const char *)s->weights + off * s->elt;
}

// out (N, OC) fp32 = in (N, IC) W^T; in and W in the precision's type, fp32 accumulation.
static void gemm_rows(const CudaInfer *s, float *out, const void *in, size_t woff, int N, int IC, int OC) {
    const cudaDataType t = s->prec == CUDA_PREC_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const float one = 1.0f, zero = 0.0f;
    // row-major out^T = W in^T: column-major (OC, N) = (IC, OC)^T (IC, N)
    cublasCheck(cublasGemmEx(s->cx->handle, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, IC, &one, wptr(s, woff), t, IC, in, t,
                             IC, &zero, out, CUDA_R_32F, OC, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

static void carve(CudaInfer *s) {
    const ModelConfig *c = &s->cfg;
    const size_t C = c->hidden_size, I = c->intermediate_size, H = c->num_heads, KV = c->num_kv_heads;
    const size_t D = c->head_dim, V = c->vocab_size, R = s->rows, NS = s->nsplit, B = s->B, e = s->elt;
    char *p = (char *)s->work;
#define TAKE(ptr, type, bytes) do { ptr = (type)p; p += align256(bytes); } while (0)
    TAKE(s->rope_cos, float *, (size_t)s->T * (D / 2) * 4);
    TAKE(s->rope_sin, float *, (size_t)s->T * (D / 2) * 4);
    TAKE(s->x, float *, R * C * 4);
    TAKE(s->xn, void *, R * C * e);
    TAKE(s->qkv, float *, R * (H + 2 * KV) * D * 4);
    TAKE(s->att, void *, R * H * D * e);
    TAKE(s->proj, float *, R * C * 4);
    TAKE(s->gu, float *, R * 2 * I * 4);
    TAKE(s->hbuf, void *, R * I * e);
    TAKE(s->part_o, float *, R * H * NS * D * 4);
    TAKE(s->part_ml, float *, R * H * NS * 2 * 4);
    TAKE(s->hid, void *, B * C * e);
    TAKE(s->logits, float *, B * V * 4);
    TAKE(s->d_idx, int *, (3 * R + B) * sizeof(int));
    TAKE(s->d_rng, uint64_t *, 2 * B * 8);
    TAKE(s->d_res, CudaSampleResult *, B * sizeof(CudaSampleResult));
    TAKE(s->stage, void *, STAGE_ELEMS * 4);
#undef TAKE
}

extern "C" int cuda_infer_init(CudaInfer **out, const Model *m, const CudaInferOpts *o, char *err, size_t errlen) {
    *out = NULL;
    const ModelConfig *c = &m->cfg;
    if (model_config_validate(c, err, errlen) != 0) return -1;
    if (o->precision != CUDA_PREC_FP32 && o->precision != CUDA_PREC_BF16)
        return rlvr_err(err, errlen, "cuda_infer: precision %d is neither fp32 (0) nor bf16 (1)", (int)o->precision);
    if (o->max_seq < 2) return rlvr_err(err, errlen, "cuda_infer: max_seq = %d must be >= 2 (prompt + one new token)", o->max_seq);
    if (o->max_batch < 0) return rlvr_err(err, errlen, "cuda_infer: max_batch = %d must be >= 0 (0: as many as fit)", o->max_batch);
    if (!(o->mem_fraction > 0.0 && o->mem_fraction <= 1.0))
        return rlvr_err(err, errlen, "rollout.gpu_memory_fraction = %g must be in (0, 1]", o->mem_fraction);
    if (c->head_dim > MAX_HEAD_DIM || c->head_dim % 2)
        return rlvr_err(err, errlen, "cuda_infer: head_dim %d must be even and <= %d (the decode attention kernel's register tile)",
                        c->head_dim, MAX_HEAD_DIM);
    if (c->vocab_size >= (1 << 19))
        return rlvr_err(err, errlen, "cuda_infer: vocab_size %d >= 2^19 overflows the sampler's fixed-point masses", c->vocab_size);
    const size_t G = (size_t)(c->num_heads / c->num_kv_heads);
    const size_t att_smem = G * ((size_t)c->head_dim + ATT_CHUNK) * sizeof(float);
    if (att_smem > 200 * 1024)
        return rlvr_err(err, errlen, "cuda_infer: %zu query heads per KV head need %zu KiB of shared memory in decode attention (max 200)",
                        G, att_smem / 1024);
    if (cuda_device_count() <= o->device || o->device < 0)
        return rlvr_err(err, errlen, "cuda_infer: CUDA device %d not found (%d visible; check CUDA_VISIBLE_DEVICES)", o->device,
                        cuda_device_count());
    cudaCheck(cudaSetDevice(o->device));
    const size_t elt = o->precision == CUDA_PREC_BF16 ? 2 : 4;
    size_t fr = 0, tot = 0;
    cudaCheck(cudaMemGetInfo(&fr, &tot));
    const double GiB = 1024.0 * 1024.0 * 1024.0;
    const size_t budget = (size_t)((double)tot * o->mem_fraction);
    const size_t wbytes = m->num_params * elt, per_slot = slot_bytes(c, elt, o->max_seq);
    if (budget > fr)
        return rlvr_err(err, errlen, "rollout.gpu_memory_fraction = %g asks for %.2f GiB but only %.2f GiB of %.2f are free on device %d "
                        "(another process on this GPU?): lower rollout.gpu_memory_fraction",
                        o->mem_fraction, budget / GiB, fr / GiB, tot / GiB, o->device);
    // need(B) grows with B: the largest B <= cap that fits (binary search).
    const int cap = o->max_batch > 0 ? o->max_batch : MAX_AUTO_SLOTS;
    int lo_b = 0, hi_b = cap;
    while (lo_b < hi_b) {
        const int mid = lo_b + (hi_b - lo_b + 1) / 2;
        const size_t need = wbytes + work_bytes(c, elt, mid, o->max_seq, NULL, NULL) + CUBLAS_RESERVE + (size_t)mid * per_slot;
        if (need <= budget) lo_b = mid; else hi_b = mid - 1;
    }
    if (lo_b < 1) {
        const size_t fixed = wbytes + work_bytes(c, elt, 1, o->max_seq, NULL, NULL) + CUBLAS_RESERVE;
        return rlvr_err(err, errlen, "rollout.gpu_memory_fraction = %g gives %.2f GiB of device %d's %.2f GiB; weights + workspace "
                        "take %.2f GiB and one slot of max_seq %d needs %.3f GiB of KV cache: raise rollout.gpu_memory_fraction "
                        "or lower max_seq (max_new_tokens + prompt length)",
                        o->mem_fraction, budget / GiB, o->device, tot / GiB, fixed / GiB, o->max_seq, per_slot / GiB);
    }
    CudaInfer *s = (CudaInfer *)calloc(1, sizeof(CudaInfer));
    if (!s) return rlvr_err(err, errlen, "cuda_infer: out of host memory");
    s->cfg = *c;
    s->num_params = m->num_params;
    s->prec = o->precision;
    s->elt = elt;
    s->B = lo_b;
    s->T = o->max_seq;
    const size_t wb = work_bytes(c, elt, s->B, s->T, &s->rows, &s->nsplit);
    s->cx = cuda_ctx_create(0);
    s->weights = cuda_malloc(wbytes);
    s->kc = cuda_malloc((size_t)s->B * per_slot / 2);
    s->vc = cuda_malloc((size_t)s->B * per_slot / 2);
    s->work = cuda_malloc(wb);
    s->bytes = wbytes + (size_t)s->B * per_slot + wb;
    carve(s);
    s->len = (int *)calloc((size_t)s->B, sizeof(int));
    s->h_idx = (int *)mallocCheck((3 * (size_t)s->rows + s->B) * sizeof(int));
    s->h_rng = (uint64_t *)mallocCheck(2 * (size_t)s->B * sizeof(uint64_t));
    s->h_res = (CudaSampleResult *)mallocCheck((size_t)s->B * sizeof(CudaSampleResult));
    if (!s->len) die("cuda_infer: out of host memory");

    // Weight offsets: model_view's pointers relative to the host buffer (same layout on the device).
    ModelView hv;
    model_view(m, m->params, &hv);
    s->lo = (LayerOff *)mallocCheck((size_t)c->num_layers * sizeof(LayerOff));
#define OFF(p) ((p) ? (size_t)((p) - m->params) : NO_BIAS)
    s->embed = OFF(hv.embed_tokens);
    s->norm = OFF(hv.norm);
    s->lm_head = OFF(hv.lm_head);
    const size_t C = c->hidden_size, QD = (size_t)c->num_heads * c->head_dim, KD = (size_t)c->num_kv_heads * c->head_dim;
    const size_t I = c->intermediate_size;
    s->segs = (Seg *)mallocCheck(((size_t)c->num_layers * 7 + 1) * sizeof(Seg));
    size_t cur = 0;   // host elements before it are covered by segs
    for (int l = 0; l < c->num_layers; l++) {
        const LayerView *lv = &hv.layers[l];
        LayerOff *lo = &s->lo[l];
        lo->ln1 = OFF(lv->input_layernorm); lo->o = OFF(lv->o_proj); lo->ln2 = OFF(lv->post_attention_layernorm);
        lo->gate_up = OFF(lv->gate_proj); lo->down = OFF(lv->down_proj);
        lo->qkv = OFF(lv->q_proj);
        lo->qkv_b = c->qkv_bias ? lo->qkv + (QD + 2 * KD) * C : NO_BIAS;
        if (OFF(lv->up_proj) != lo->gate_up + I * C) die("cuda_infer: up_proj does not follow gate_proj in the parameter layout");
        const size_t qw = lo->qkv, kw = OFF(lv->k_proj), vw = OFF(lv->v_proj);
        if (!c->qkv_bias) {
            if (kw != qw + QD * C || vw != kw + KD * C) die("cuda_infer: q/k/v projections are not adjacent in the parameter layout");
            continue;   // already [q k v]: covered by the identity segments
        }
        const size_t qb = OFF(lv->q_bias), kb = OFF(lv->k_bias), vb = OFF(lv->v_bias);
        if (qb != qw + QD * C || kw != qb + QD || kb != kw + KD * C || vw != kb + KD || vb != vw + KD * C)
            die("cuda_infer: unexpected q/k/v layout in the parameters");
        s->segs[s->nsegs++] = Seg{cur, cur, qw - cur};
        s->segs[s->nsegs++] = Seg{qw, qw, QD * C};
        s->segs[s->nsegs++] = Seg{qb, qw + (QD + 2 * KD) * C, QD};
        s->segs[s->nsegs++] = Seg{kw, qw + QD * C, KD * C};
        s->segs[s->nsegs++] = Seg{kb, qw + (QD + 2 * KD) * C + QD, KD};
        s->segs[s->nsegs++] = Seg{vw, qw + (QD + KD) * C, KD * C};
        s->segs[s->nsegs++] = Seg{vb, qw + (QD + 2 * KD) * C + QD + KD, KD};
        cur = vb + KD;
    }
    s->segs[s->nsegs++] = Seg{cur, cur, m->num_params - cur};
#undef OFF
    // RoPE: the CPU engine's tables, so both engines rotate by bit-identical angles.
    const size_t half = (size_t)c->head_dim / 2;
    float *tab = (float *)mallocCheck(2 * (size_t)s->T * half * sizeof(float));
    rope_tables(tab, tab + (size_t)s->T * half, s->T, c->head_dim, c->rope_theta);
    cuda_upload(s->rope_cos, tab, (size_t)s->T * half * sizeof(float));
    cuda_upload(s->rope_sin, tab + (size_t)s->T * half, (size_t)s->T * half * sizeof(float));
    free(tab);
    if (att_smem > 48 * 1024) {
        cudaCheck(cudaFuncSetAttribute(attn_chunk_kernel<float>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)att_smem));
        cudaCheck(cudaFuncSetAttribute(attn_chunk_kernel<bf16>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)att_smem));
    }
    cuda_infer_load_params(s, m->params);
    *out = s;
    return 0;
}

extern "C" void cuda_infer_free(CudaInfer *s) {
    if (!s) return;
    cuda_free(s->weights);
    cuda_free(s->kc);
    cuda_free(s->vc);
    cuda_free(s->work);
    cuda_ctx_destroy(s->cx);
    free(s->lo); free(s->segs); free(s->len); free(s->h_idx); free(s->h_rng); free(s->h_res);
    free(s);
}

extern "C" int cuda_infer_max_batch(const CudaInfer *s) { return s->B; }
extern "C" size_t cuda_infer_device_bytes(const CudaInfer *s) { return s->bytes; }

// Host params (src_elt bytes per element: 4 fp32, 2 bf16) into the device layout, converted to the
// precision's type on the device through the staging buffer when the types differ.
static void load_weights(CudaInfer *s, const void *params, size_t src_elt) {
    for (int g = 0; g < s->nsegs; g++) {
        const Seg *sg = &s->segs[g];
        const char *src = (const char *)params + sg->host * src_elt;
        char *dst = (char *)s->weights + sg->dev * s->elt;
        if (src_elt == s->elt) {
            cuda_upload(dst, src, sg->n * s->elt);
            continue;
        }
        for (size_t i = 0; i < sg->n; i += STAGE_ELEMS) {
            const size_t n = sg->n - i < STAGE_ELEMS ? sg->n - i : STAGE_ELEMS;
            cuda_upload(s->stage, src + i * src_elt, n * src_elt);
            if (src_elt == 4) f32_to_bf16_kernel<<<grid_for(n), 256>>>((bf16 *)dst + i, (const float *)s->stage, n);
            else bf16_to_f32_kernel<<<grid_for(n), 256>>>((float *)dst + i, (const bf16 *)s->stage, n);
            cudaCheckLaunch();
        }
    }
    cuda_sync();
}

extern "C" void cuda_infer_load_params(CudaInfer *s, const float *params) { load_weights(s, params, sizeof(float)); }

extern "C" void cuda_infer_load_params_bf16(CudaInfer *s, const uint16_t *params) { load_weights(s, params, sizeof(uint16_t)); }

extern "C" void cuda_infer_reset_slot(CudaInfer *s, int slot) {
    if (slot < 0 || slot >= s->B) die("cuda_infer_reset_slot: slot %d outside 0..%d", slot, s->B - 1);
    s->len[slot] = 0;
}

extern "C" void cuda_infer_copy_prefix(CudaInfer *s, int dst, int src, int len) {
    if (dst < 0 || dst >= s->B || src < 0 || src >= s->B)
        die("cuda_infer_copy_prefix: slots %d <- %d outside 0..%d", dst, src, s->B - 1);
    if (len < 0 || len > s->len[src])
        die("cuda_infer_copy_prefix: %d positions asked of slot %d, which holds %d", len, src, s->len[src]);
    s->len[dst] = len;
    if (dst == src || len == 0) return;
    // (L * KV) rows of len * D elements each, pitch T * D: one 2D copy per cache.
    const ModelConfig *c = &s->cfg;
    const size_t rows = (size_t)c->num_layers * c->num_kv_heads, pitch = (size_t)s->T * c->head_dim * s->elt;
    const size_t width = (size_t)len * c->head_dim * s->elt, slot = rows * pitch;
    for (int which = 0; which < 2; which++) {
        char *base = (char *)(which ? s->vc : s->kc);
        cudaCheck(cudaMemcpy2DAsync(base + (size_t)dst * slot, pitch, base + (size_t)src * slot, pitch, width, rows,
                                    cudaMemcpyDeviceToDevice, 0));
    }
}

// One chunk of R rows (slots / pos / tokens already on the device at d_idx) through every layer; the
// final-normed hidden states of the output rows in [row0, row0 + R) go to hid.
template <typename T>
static void forward_chunk(CudaInfer *s, int R, int row0, int n_out, int nsplit) {
    const ModelConfig *c = &s->cfg;
    const int C = c->hidden_size, I = c->intermediate_size, H = c->num_heads, KV = c->num_kv_heads;
    const int D = c->head_dim, L = c->num_layers, G = H / KV;
    const float eps = c->rms_norm_eps;
    const int *d_slots = s->d_idx, *d_pos = s->d_idx + s->rows, *d_tok = s->d_idx + 2 * s->rows;
    const int *d_out = s->d_idx + 3 * s->rows;
    T *xn = (T *)s->xn;
    embed_kernel<T><<<R, NORM_THREADS>>>(s->x, d_tok, (const T *)wptr(s, s->embed), C);
    cudaCheckLaunch();
    add_rmsnorm_kernel<T><<<R, NORM_THREADS>>>(xn, s->x, NULL, (const T *)wptr(s, s->lo[0].ln1), C, eps);
    cudaCheckLaunch();
    const size_t att_smem = (size_t)G * (D + ATT_CHUNK) * sizeof(float);
    for (int l = 0; l < L; l++) {
        const LayerOff *lo = &s->lo[l];
        gemm_rows(s, s->qkv, xn, lo->qkv, R, C, (H + 2 * KV) * D);
        qkv_rope_kernel<T><<<R, ATT_THREADS>>>(s->qkv, (const T *)wptr(s, lo->qkv_b), s->rope_cos, s->rope_sin, d_slots,
                                               d_pos, (T *)s->kc, (T *)s->vc, l, L, s->T, H, KV, D);
        cudaCheckLaunch();
        attn_chunk_kernel<T><<<dim3((unsigned)(R * KV), (unsigned)nsplit), ATT_THREADS, att_smem>>>(
            s->part_o, s->part_ml, s->qkv, (const T *)s->kc, (const T *)s->vc, d_slots, d_pos, l, L, s->T, H, KV, D,
            s->nsplit, (size_t)(H + 2 * KV) * D);
        cudaCheckLaunch();
        attn_combine_kernel<T><<<dim3((unsigned)R, (unsigned)H), 64>>>((T *)s->att, s->part_o, s->part_ml, d_pos, H, D, s->nsplit);
        cudaCheckLaunch();
        gemm_rows(s, s->proj, s->att, lo->o, R, H * D, C);
        add_rmsnorm_kernel<T><<<R, NORM_THREADS>>>(xn, s->x, s->proj, (const T *)wptr(s, lo->ln2), C, eps);
        cudaCheckLaunch();
        gemm_rows(s, s->gu, xn, lo->gate_up, R, C, 2 * I);
        swiglu_kernel<T><<<grid_for((size_t)R * I), 256>>>((T *)s->hbuf, s->gu, (size_t)R, I);
        cudaCheckLaunch();
        gemm_rows(s, s->proj, s->hbuf, lo->down, R, I, C);
        const size_t next = l + 1 < L ? s->lo[l + 1].ln1 : s->norm;   // residual add fused with the next norm
        add_rmsnorm_kernel<T><<<R, NORM_THREADS>>>(xn, s->x, s->proj, (const T *)wptr(s, next), C, eps);
        cudaCheckLaunch();
    }
    if (n_out > 0) {
        gather_rows_kernel<T><<<n_out, NORM_THREADS>>>((T *)s->hid, xn, d_out, row0, R, C);
        cudaCheckLaunch();
    }
}

extern "C" void cuda_infer_step(CudaInfer *s, int n, const int *slots, const int *pos, const int *tokens, int n_out,
                                const int *out_rows, const SamplerParams *sp, const uint64_t *seeds, const uint64_t *draws,
                                int *tok, float *logp, float *ent, float *logits_out) {
    const ModelConfig *c = &s->cfg;
    const int V = c->vocab_size;
    // Programmer errors, as infer_forward (the callers validate user input before getting here).
    if (n_out > s->B) die("cuda_infer_step: %d output rows exceed the batch capacity %d", n_out, s->B);
    for (int i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= s->B) die("cuda_infer_step: row %d: slot %d outside 0..%d", i, slots[i], s->B - 1);
        if (pos[i] != s->len[slots[i]] || pos[i] >= s->T)
            die("cuda_infer_step: row %d: position %d of slot %d must equal its length %d and be < max_seq %d", i, pos[i],
                slots[i], s->len[slots[i]], s->T);
        if (tokens[i] < 0 || tokens[i] >= V) die("cuda_infer_step: row %d: token %d outside the vocabulary", i, tokens[i]);
        s->len[slots[i]]++;
    }
    for (int j = 0; j < n_out; j++)
        if (out_rows[j] < 0 || out_rows[j] >= n) die("cuda_infer_step: out_rows[%d] = %d outside 0..%d", j, out_rows[j], n - 1);
    if (n_out > 0) {
        char err[256];
        if (!sp || sampler_params_validate(sp, err, sizeof(err)) != 0) die("cuda_infer_step: %s", sp ? err : "no sampler parameters");
    }
    memcpy(s->h_idx + 3 * s->rows, out_rows, (size_t)n_out * sizeof(int));
    for (int r0 = 0; r0 < n; r0 += s->rows) {
        const int R = n - r0 < s->rows ? n - r0 : s->rows;
        int maxpos = 0;
        for (int i = 0; i < R; i++) maxpos = pos[r0 + i] > maxpos ? pos[r0 + i] : maxpos;
        memcpy(s->h_idx, slots + r0, (size_t)R * sizeof(int));
        memcpy(s->h_idx + s->rows, pos + r0, (size_t)R * sizeof(int));
        memcpy(s->h_idx + 2 * s->rows, tokens + r0, (size_t)R * sizeof(int));
        // one upload per chunk (the index arrays and the output rows); the previous chunk's kernels
        // read d_idx, so this copy waits for them (cudaMemcpy from pageable memory is ordered on stream 0)
        cuda_upload(s->d_idx, s->h_idx, (3 * (size_t)s->rows + n_out) * sizeof(int));
        const int nsplit = maxpos / ATT_CHUNK + 1;
        if (s->prec == CUDA_PREC_BF16) forward_chunk<bf16>(s, R, r0, n_out, nsplit);
        else forward_chunk<float>(s, R, r0, n_out, nsplit);
    }
    if (n_out == 0) return;
    gemm_rows(s, s->logits, s->hid, s->lm_head, n_out, c->hidden_size, V);
    for (int j = 0; j < n_out; j++) { s->h_rng[j] = seeds[j]; s->h_rng[s->B + j] = draws[j]; }
    cuda_upload(s->d_rng, s->h_rng, (size_t)(s->B + n_out) * sizeof(uint64_t));
    cuda_sample_rows(s->d_res, s->logits, n_out, V, sp->temperature, sp->top_k, sp->top_p, s->d_rng, s->d_rng + s->B);
    cuda_download(s->h_res, s->d_res, (size_t)n_out * sizeof(CudaSampleResult));
    for (int j = 0; j < n_out; j++) {
        if (tok) tok[j] = s->h_res[j].token;
        if (logp) logp[j] = s->h_res[j].logp;
        if (ent) ent[j] = s->h_res[j].entropy;
    }
    if (logits_out) cuda_download(logits_out, s->logits, (size_t)n_out * V * sizeof(float));
}
