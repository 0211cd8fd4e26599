// Fused (flash) causal GQA attention, forward and backward, fp32 and bf16 storage (see cuda_ops.h for the
// API). The T x T score matrix is never stored: K/V tiles stream through shared memory with an online
// softmax (running row max m and sum l, the output rescaled by exp(m_old - m_new)), and the forward keeps
// only lse = m + log l per row. The backward recomputes P = exp(scale q.k - lse) tile by tile.
//
// The kernels are a transcription of tests/flash_ref.c (the same algorithm in plain C, checked against
// attention_forward / attention_backward of common/engine/ops.c by tests/test_flash_ref.c): same tile
// sizes, same loops, same masking. The correspondence is named at each kernel.
//
// Work split (FlashAttention-2's): a block of FLASH_THREADS threads owns one tile of BR = 16 * RM query
// rows (forward, dQ) or BC = BR keys (dK/dV). Its threads form a 16 x 16 grid: thread (rg, cg) = (tid / 16,
// tid % 16) holds the score micro-tile rows rg * RM + i, columns cg + 16 j (i, j < RM), and output rows
// rg * RM + i, head dims cg + 16 j. The 16 threads of a row group are one half-warp, so row max / row sum
// are 4 shuffles. Tiles live in shared memory as fp32 with a row stride of DP + 1 (no bank conflicts
// when 16 lanes read 16 different rows at the same d).
//
// Head dims: D is padded with zeros to DP in {32, 64, 128, 256} (zeros add nothing to q.k and give
// output columns that are never stored), so D = 64 and 128 run their own instantiations and any other
// D <= 256 runs the next wider one. RM = 4 (64-row tiles) up to DP 128, RM = 2 (32-row tiles) at DP 256
// to stay within the 227 KiB of shared memory per block.
//
// Backward, deterministic, no atomics: flash_bwd_dot makes D_i = dout_i . out_i per row;
// flash_bwd_dkdv gives each KV tile as seen by one query head (b, h) to one block, which loops over the
// query tiles on and below the diagonal, accumulating dK and dV in registers and storing them as fp32
// per-head partials in the scratch; flash_bwd_reduce sums the G heads of each group in head order into
// dk / dv (+= or overwrite); flash_bwd_dq gives each query tile to one block, which recomputes P and dS
// over the KV tiles up to the diagonal. Every output element has one writer and a fixed summation order:
// results are bit-identical run to run. The price is computing q.k and dout.v twice (7 tile products
// instead of 5) and 2 B T H D floats of scratch for the partials.
//
// These kernels do all arithmetic in fp32 on CUDA cores: the fp32 API, and the bf16 API for head dims
// other than 64 / 128 (bf16 converted on load into shared memory, rounded once on store). The bf16 API
// at D 64 / 128 runs the tensor-core kernels further down (same algorithm, bf16 products).
#include <cuda_bf16.h>
#include <math.h>
#include <mma.h>
#include <stdint.h>

#include "common/engine/cuda/cuda_common.cuh"

#define FLASH_THREADS 256
#define FLASH_LANES 16       // threads per row group (a half-warp)
#define FLASH_MAX_D 256
#define FLASH_DOT_WARPS 8    // rows per block of flash_bwd_dot
#define FLASH_REDUCE_MAX_BLOCKS 4096

// ---- element access: fp32 or bf16 storage, fp32 arithmetic ---------------------------------------------

__device__ __forceinline__ float ld_elem(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld_elem(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st_elem(float *p, size_t i, float x) { p[i] = x; }
__device__ __forceinline__ void st_elem(__nv_bfloat16 *p, size_t i, float x) { p[i] = __float2bfloat16_rn(x); }

// Row max / row sum over the 16 threads of a row group (xor offsets < 16 stay inside the half-warp).
__device__ __forceinline__ float group_max(float x) {
    for (int o = FLASH_LANES / 2; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ float group_sum(float x) {
    for (int o = FLASH_LANES / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

// Shared tile (rows, DP) with row stride DP + 1 = rows r0 .. r0 + rows - 1 of one head of x (row stride
// `stride` elements, head offset `off`); rows >= T and dims >= D read as 0.
template <typename E, int DP>
__device__ __forceinline__ void load_tile(float *dst, const E *x, size_t base_row, int r0, int rows, int T,
                                          size_t stride, size_t off, int D) {
    for (int idx = threadIdx.x; idx < rows * DP; idx += FLASH_THREADS) {
        const int r = idx / DP, d = idx % DP, t = r0 + r;
        dst[r * (DP + 1) + d] = (t < T && d < D) ? ld_elem(x, (base_row + t) * stride + off + d) : 0.0f;
    }
}

// Per-row values (lse or D_i, layout (B, H, T)) of query rows q0 .. q0 + rows - 1; 0 past T.
__device__ __forceinline__ void load_rows(float *dst, const float *x, size_t row0, int q0, int rows, int T) {
    for (int r = threadIdx.x; r < rows; r += FLASH_THREADS) dst[r] = q0 + r < T ? x[row0 + q0 + r] : 0.0f;
}

// Shared memory of the kernels below: tiles of BR = BC = FLASH_LANES * RM rows. Forward: Q, K, V tiles and
// P (BR, BC + 1); backward: K, V, Q, dO tiles, P and dS, and the rows' lse and D_i.
template <int DP, int RM> constexpr size_t fwd_smem_bytes() {
    constexpr size_t BR = FLASH_LANES * RM;
    return sizeof(float) * (3 * BR * (DP + 1) + BR * (BR + 1));
}
template <int DP, int RM> constexpr size_t bwd_smem_bytes() {
    constexpr size_t BR = FLASH_LANES * RM;
    return sizeof(float) * (4 * BR * (DP + 1) + 2 * BR * (BR + 1) + 2 * BR);
}

// ---- forward (flash_ref.c: fwd_tile) -----------------------------------------------------------------
// grid (tiles, H, B); the last query tiles (most KV tiles to visit) are launched first.
template <typename E, int DP, int RM>
__global__ void __launch_bounds__(FLASH_THREADS)
flash_fwd(E *out, float *lse, const E *q, const E *k, const E *v, int T, int H, int KV, int D, float scale) {
    constexpr int BR = FLASH_LANES * RM, BC = BR, LD = DP + 1, PLD = BC + 1, DJ = DP / FLASH_LANES;
    extern __shared__ float smem[];
    float *sQ = smem, *sK = sQ + BR * LD, *sV = sK + BC * LD, *sP = sV + BC * LD;  // sP (BR, PLD)
    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (H / KV);
    const int rg = threadIdx.x / FLASH_LANES, cg = threadIdx.x % FLASH_LANES, q0 = qt * BR;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D, brow = (size_t)b * T;

    load_tile<E, DP>(sQ, q, brow, q0, BR, T, qs, (size_t)h * D, D);
    float o[RM][DJ], m[RM], l[RM];
    #pragma unroll
    for (int i = 0; i < RM; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        #pragma unroll
        for (int j = 0; j < DJ; j++) o[i][j] = 0.0f;
    }
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * BC;
        __syncthreads();  // the previous tile's sK / sV / sP reads are done
        load_tile<E, DP>(sK, k, brow, k0, BC, T, ks, (size_t)kh * D, D);
        load_tile<E, DP>(sV, v, brow, k0, BC, T, ks, (size_t)kh * D, D);
        __syncthreads();
        // S = scale Q K^T on this thread's RM x RM micro-tile
        float s[RM][RM];
        #pragma unroll
        for (int i = 0; i < RM; i++)
            #pragma unroll
            for (int j = 0; j < RM; j++) s[i][j] = 0.0f;
        #pragma unroll 8
        for (int d = 0; d < DP; d++) {
            float a[RM], c[RM];
            #pragma unroll
            for (int i = 0; i < RM; i++) a[i] = sQ[(rg * RM + i) * LD + d];
            #pragma unroll
            for (int j = 0; j < RM; j++) c[j] = sK[(cg + FLASH_LANES * j) * LD + d];
            #pragma unroll
            for (int i = 0; i < RM; i++)
                #pragma unroll
                for (int j = 0; j < RM; j++) s[i][j] += a[i] * c[j];
        }
        // causal mask (key > query; for rows < T this also masks keys >= T), then the online softmax
        #pragma unroll
        for (int i = 0; i < RM; i++) {
            const int t = q0 + rg * RM + i;
            float mt = m[i];
            #pragma unroll
            for (int j = 0; j < RM; j++) {
                const int key = k0 + cg + FLASH_LANES * j;
                s[i][j] = (t < T && key <= t) ? scale * s[i][j] : -INFINITY;
                mt = fmaxf(mt, s[i][j]);
            }
            mt = group_max(mt);
            // mt == -inf: nothing unmasked yet (rows >= T only); keep the state, add zeros
            const float alpha = mt == -INFINITY ? 1.0f : expf(m[i] - mt);
            float sum = 0.0f;
            #pragma unroll
            for (int j = 0; j < RM; j++) {
                const float p = s[i][j] == -INFINITY ? 0.0f : expf(s[i][j] - mt);
                sP[(rg * RM + i) * PLD + cg + FLASH_LANES * j] = p;
                sum += p;
            }
            sum = group_sum(sum);
            l[i] = alpha * l[i] + sum;
            m[i] = mt == -INFINITY ? m[i] : mt;
            #pragma unroll
            for (int j = 0; j < DJ; j++) o[i][j] *= alpha;
        }
        __syncthreads();
        // O += P V
        #pragma unroll 4
        for (int c = 0; c < BC; c++) {
            float p[RM];
            #pragma unroll
            for (int i = 0; i < RM; i++) p[i] = sP[(rg * RM + i) * PLD + c];
            #pragma unroll
            for (int j = 0; j < DJ; j++) {
                const float vv = sV[c * LD + cg + FLASH_LANES * j];
                #pragma unroll
                for (int i = 0; i < RM; i++) o[i][j] += p[i] * vv;
            }
        }
    }
    #pragma unroll
    for (int i = 0; i < RM; i++) {
        const int t = q0 + rg * RM + i;
        if (t >= T) continue;
        const float inv = 1.0f / l[i];
        #pragma unroll
        for (int j = 0; j < DJ; j++) {
            const int d = cg + FLASH_LANES * j;
            if (d < D) st_elem(out, (brow + t) * qs + (size_t)h * D + d, o[i][j] * inv);
        }
        if (cg == 0) lse[((size_t)b * H + h) * T + t] = m[i] + logf(l[i]);
    }
}

// ---- backward ----------------------------------------------------------------------------------------

// flash_ref.c "flash_bwd_dot": Di (B, H, T) = dout . out per row; one warp per (b, t, h) row.
template <typename E>
__global__ void flash_bwd_dot(float *Di, const E *dout, const E *out, size_t rows, int T, int H, int D) {
    const size_t r = blockIdx.x * (size_t)FLASH_DOT_WARPS + threadIdx.x / 32;  // r = (b * T + t) * H + h
    if (r >= rows) return;
    const int lane = threadIdx.x % 32, h = (int)(r % H);
    const size_t bt = r / H, b = bt / T, t = bt % T;
    float acc = 0.0f;
    for (int d = lane; d < D; d += 32) acc += ld_elem(dout, r * D + d) * ld_elem(out, r * D + d);
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) Di[(b * H + h) * T + t] = acc;
}

// S = Q K^T and dP = dO V^T on one thread's micro-tile (rows rg * RM + i of sQ / sdO, keys cg + 16 j of
// sK / sV), then P = exp(scale S - lse) and dS = P (dP - D_i), zero where masked: flash_ref.c bwd_pair.
template <int DP, int RM>
__device__ __forceinline__ void bwd_scores(float p[RM][RM], float ds[RM][RM], const float *sQ, const float *sdO,
                                           const float *sK, const float *sV, const float *sL, const float *sD,
                                           int rg, int cg, int q0, int k0, int T, float scale) {
    constexpr int LD = DP + 1;
    float s[RM][RM], dp[RM][RM];
    #pragma unroll
    for (int i = 0; i < RM; i++)
        #pragma unroll
        for (int j = 0; j < RM; j++) s[i][j] = dp[i][j] = 0.0f;
    #pragma unroll 4
    for (int d = 0; d < DP; d++) {
        float a[RM], g[RM], kk[RM], vv[RM];
        #pragma unroll
        for (int i = 0; i < RM; i++) {
            a[i] = sQ[(rg * RM + i) * LD + d];
            g[i] = sdO[(rg * RM + i) * LD + d];
        }
        #pragma unroll
        for (int j = 0; j < RM; j++) {
            kk[j] = sK[(cg + FLASH_LANES * j) * LD + d];
            vv[j] = sV[(cg + FLASH_LANES * j) * LD + d];
        }
        #pragma unroll
        for (int i = 0; i < RM; i++)
            #pragma unroll
            for (int j = 0; j < RM; j++) {
                s[i][j] += a[i] * kk[j];
                dp[i][j] += g[i] * vv[j];
            }
    }
    #pragma unroll
    for (int i = 0; i < RM; i++) {
        const int r = rg * RM + i, t = q0 + r;
        #pragma unroll
        for (int j = 0; j < RM; j++) {
            const int key = k0 + cg + FLASH_LANES * j;
            const bool ok = t < T && key <= t;
            p[i][j] = ok ? expf(scale * s[i][j] - sL[r]) : 0.0f;
            ds[i][j] = p[i][j] * (dp[i][j] - sD[r]);
        }
    }
}

// flash_ref.c "flash_bwd_dkdv": grid (tiles, H, B). For one KV tile as seen by query head h: dK = scale
// sum dS^T Q and dV = sum P^T dO over the query tiles qt >= kt, into fp32 partials pdk / pdv (B, T, H, D).
// Thread (rg, cg) accumulates keys rg * RM + i, head dims cg + 16 j. One block per head (not per KV head)
// keeps the longest block at nt tile pairs instead of G * nt, so a GQA group does not serialise.
template <typename E, int DP, int RM>
__global__ void __launch_bounds__(FLASH_THREADS)
flash_bwd_dkdv(float *pdk, float *pdv, const E *dout, const float *lse, const float *Di, const E *q, const E *k,
               const E *v, int T, int H, int KV, int D, float scale) {
    constexpr int BR = FLASH_LANES * RM, BC = BR, LD = DP + 1, PLD = BC + 1, DJ = DP / FLASH_LANES;
    extern __shared__ float smem[];
    float *sK = smem, *sV = sK + BC * LD, *sQ = sV + BC * LD, *sdO = sQ + BR * LD;
    float *sP = sdO + BR * LD, *sS = sP + BR * PLD, *sL = sS + BR * PLD, *sD = sL + BR;
    const int kt = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (H / KV), nt = (T + BR - 1) / BR;
    const int rg = threadIdx.x / FLASH_LANES, cg = threadIdx.x % FLASH_LANES, k0 = kt * BC;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D, brow = (size_t)b * T;

    load_tile<E, DP>(sK, k, brow, k0, BC, T, ks, (size_t)kh * D, D);
    load_tile<E, DP>(sV, v, brow, k0, BC, T, ks, (size_t)kh * D, D);
    float adk[RM][DJ], adv[RM][DJ];
    #pragma unroll
    for (int i = 0; i < RM; i++)
        #pragma unroll
        for (int j = 0; j < DJ; j++) adk[i][j] = adv[i][j] = 0.0f;
    for (int qt = kt; qt < nt; qt++) {
        const int q0 = qt * BR;
        __syncthreads();  // the previous pair's reads of sQ / sdO / sP / sS are done
        load_tile<E, DP>(sQ, q, brow, q0, BR, T, qs, (size_t)h * D, D);
        load_tile<E, DP>(sdO, dout, brow, q0, BR, T, qs, (size_t)h * D, D);
        load_rows(sL, lse, ((size_t)b * H + h) * T, q0, BR, T);
        load_rows(sD, Di, ((size_t)b * H + h) * T, q0, BR, T);
        __syncthreads();
        float p[RM][RM], ds[RM][RM];
        bwd_scores<DP, RM>(p, ds, sQ, sdO, sK, sV, sL, sD, rg, cg, q0, k0, T, scale);
        #pragma unroll
        for (int i = 0; i < RM; i++)
            #pragma unroll
            for (int j = 0; j < RM; j++) {
                sP[(rg * RM + i) * PLD + cg + FLASH_LANES * j] = p[i][j];
                sS[(rg * RM + i) * PLD + cg + FLASH_LANES * j] = ds[i][j];
            }
        __syncthreads();
        // dV_c += sum_r P_rc dO_r ; dK_c += sum_r dS_rc Q_r (rows past T have P = dS = 0)
        #pragma unroll 2
        for (int r = 0; r < BR; r++) {
            float pc[RM], sc[RM];
            #pragma unroll
            for (int i = 0; i < RM; i++) {
                pc[i] = sP[r * PLD + rg * RM + i];
                sc[i] = sS[r * PLD + rg * RM + i];
            }
            #pragma unroll
            for (int j = 0; j < DJ; j++) {
                const float g = sdO[r * LD + cg + FLASH_LANES * j], a = sQ[r * LD + cg + FLASH_LANES * j];
                #pragma unroll
                for (int i = 0; i < RM; i++) {
                    adv[i][j] += pc[i] * g;
                    adk[i][j] += sc[i] * a;
                }
            }
        }
    }
    #pragma unroll
    for (int i = 0; i < RM; i++) {
        const int key = k0 + rg * RM + i;
        if (key >= T) continue;
        #pragma unroll
        for (int j = 0; j < DJ; j++) {
            const int d = cg + FLASH_LANES * j;
            if (d >= D) continue;
            const size_t o = (brow + key) * qs + (size_t)h * D + d;
            pdk[o] = scale * adk[i][j];
            pdv[o] = adv[i][j];
        }
    }
}

// flash_ref.c "flash_bwd_reduce": dk / dv (B, T, KV, D) = (accumulate ? dk / dv : 0) + the partials of
// the G query heads of each KV head summed in head order (a fixed order: deterministic).
template <typename E>
__global__ void flash_bwd_reduce(E *dk, E *dv, const float *pdk, const float *pdv, size_t n, int H, int KV, int D,
                                 int accumulate) {
    const int G = H / KV;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t d = i % D, row = i / D, bt = row / KV, kh = row % KV;  // i = ((b T + t) KV + kh) D + d
        const size_t base = (bt * H + kh * G) * D + d;
        float sk = 0.0f, sv = 0.0f;
        for (int g = 0; g < G; g++) {
            sk += pdk[base + (size_t)g * D];
            sv += pdv[base + (size_t)g * D];
        }
        st_elem(dk, i, (accumulate ? ld_elem(dk, i) : 0.0f) + sk);
        st_elem(dv, i, (accumulate ? ld_elem(dv, i) : 0.0f) + sv);
    }
}

// flash_ref.c "flash_bwd_dq": grid (tiles, H, B), heaviest (last) query tiles first. dQ = scale sum dS K
// over the KV tiles kt <= qt. Thread (rg, cg) accumulates query rows rg * RM + i, head dims cg + 16 j.
template <typename E, int DP, int RM>
__global__ void __launch_bounds__(FLASH_THREADS)
flash_bwd_dq(E *dq, const E *dout, const float *lse, const float *Di, const E *q, const E *k, const E *v,
             int T, int H, int KV, int D, float scale, int accumulate) {
    constexpr int BR = FLASH_LANES * RM, BC = BR, LD = DP + 1, PLD = BC + 1, DJ = DP / FLASH_LANES;
    extern __shared__ float smem[];
    float *sK = smem, *sV = sK + BC * LD, *sQ = sV + BC * LD, *sdO = sQ + BR * LD;
    float *sS = sdO + BR * LD, *sL = sS + 2 * BR * PLD, *sD = sL + BR;  // same carve as flash_bwd_dkdv
    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (H / KV);
    const int rg = threadIdx.x / FLASH_LANES, cg = threadIdx.x % FLASH_LANES, q0 = qt * BR;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D, brow = (size_t)b * T;

    load_tile<E, DP>(sQ, q, brow, q0, BR, T, qs, (size_t)h * D, D);
    load_tile<E, DP>(sdO, dout, brow, q0, BR, T, qs, (size_t)h * D, D);
    load_rows(sL, lse, ((size_t)b * H + h) * T, q0, BR, T);
    load_rows(sD, Di, ((size_t)b * H + h) * T, q0, BR, T);
    float adq[RM][DJ];
    #pragma unroll
    for (int i = 0; i < RM; i++)
        #pragma unroll
        for (int j = 0; j < DJ; j++) adq[i][j] = 0.0f;
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * BC;
        __syncthreads();  // the previous tile's reads of sK / sS are done (and, at kt 0, sQ / sdO are loaded)
        load_tile<E, DP>(sK, k, brow, k0, BC, T, ks, (size_t)kh * D, D);
        load_tile<E, DP>(sV, v, brow, k0, BC, T, ks, (size_t)kh * D, D);
        __syncthreads();
        float p[RM][RM], ds[RM][RM];
        bwd_scores<DP, RM>(p, ds, sQ, sdO, sK, sV, sL, sD, rg, cg, q0, k0, T, scale);
        #pragma unroll
        for (int i = 0; i < RM; i++)
            #pragma unroll
            for (int j = 0; j < RM; j++) sS[(rg * RM + i) * PLD + cg + FLASH_LANES * j] = ds[i][j];
        __syncthreads();
        // dQ_r += sum_c dS_rc K_c (keys past T have dS = 0 and K = 0)
        #pragma unroll 4
        for (int c = 0; c < BC; c++) {
            float sc[RM];
            #pragma unroll
            for (int i = 0; i < RM; i++) sc[i] = sS[(rg * RM + i) * PLD + c];
            #pragma unroll
            for (int j = 0; j < DJ; j++) {
                const float kk = sK[c * LD + cg + FLASH_LANES * j];
                #pragma unroll
                for (int i = 0; i < RM; i++) adq[i][j] += sc[i] * kk;
            }
        }
    }
    #pragma unroll
    for (int i = 0; i < RM; i++) {
        const int t = q0 + rg * RM + i;
        if (t >= T) continue;
        #pragma unroll
        for (int j = 0; j < DJ; j++) {
            const int d = cg + FLASH_LANES * j;
            if (d >= D) continue;
            const size_t o = (brow + t) * qs + (size_t)h * D + d;
            st_elem(dq, o, (accumulate ? ld_elem(dq, o) : 0.0f) + scale * adq[i][j]);
        }
    }
}

// ---- bf16 on tensor cores (WMMA), D = 64 and 128 ---------------------------------------------------------
// The same algorithm and tiles (64 x 64) as the kernels above, with every tile product on bf16 tensor
// cores (nvcuda::wmma 16 x 16 x 16, fp32 accumulation). Fragment layouts are opaque, so the softmax and the
// elementwise backward read scores from shared memory (fp32), and P / dS are rounded to bf16 there as
// operands of the next product (as FlashAttention-2 does); m, l, lse, D_i stay fp32. Tiles are kept
// as bf16 in shared memory with row strides padded by 8 elements (16 bytes), fp32 score tiles by 4; every
// fragment pointer is 32-byte aligned (16-row and 16-column offsets of those strides).
//
// Forward: 4 warps, warp w owns query rows 16 w .. 16 w + 15 of the tile (so a row's softmax state is one
// warp's): S = Q K^T per warp, softmax by lane pairs (row 16 w + lane / 2, alternate keys each), the
// unnormalised O (64, D) in shared memory fp32, rescaled by alpha in place before O += P V.
// Backward: 8 warps; S = Q K^T and dP = dO V^T as 16 fragments (warp w: query block w % 4, key blocks
// 2 (w / 4) + {0, 1}); P and dS elementwise over the whole tile; then warp w accumulates rows 16 (w % 4) and
// head dims (w / 4) D / 2 .. + D / 2 of dK, dV (flash_bwd_dkdv) or dQ (flash_bwd_dq) in register fragments.
// Used when D is 64 or 128 and every pointer is 16-byte aligned (vector loads); otherwise the kernels above.

namespace wmma = nvcuda::wmma;
typedef __nv_bfloat16 bf16;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major> FragAT;  // a transposed operand
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> FragB;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> FragBT;  // K^T / V^T from K / V rows
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> FragC;

#define TC_TILE 64                      // query rows = keys per tile
#define TC_FWD_WARPS 4
#define TC_BWD_WARPS 8
#define TC_LDS (TC_TILE + 4)            // fp32 score tile stride
#define TC_LDP (TC_TILE + 8)            // bf16 P / dS tile stride

template <int D> struct TcDims {
    static constexpr int LDB = D + 8;   // bf16 (rows, D) tile stride
    static constexpr int LDO = D + 4;   // fp32 (rows, D) tile stride
};

__host__ __device__ constexpr size_t tc_align(size_t bytes) { return (bytes + 127) / 128 * 128; }

// bf16 tile (TC_TILE, D) <- rows r0 .. of one head (row stride `stride`, head offset `off`), 8 elements
// (16 bytes) per load; rows >= T are zeros.
template <int D>
__device__ __forceinline__ void tc_load_tile(bf16 *dst, const bf16 *x, size_t base_row, int r0, int T, size_t stride,
                                             size_t off, int nthreads) {
    constexpr int V = D / 8;
    for (int idx = threadIdx.x; idx < TC_TILE * V; idx += nthreads) {
        const int r = idx / V, c = idx % V, t = r0 + r;
        uint4 val = make_uint4(0u, 0u, 0u, 0u);
        if (t < T) val = *reinterpret_cast<const uint4 *>(x + (base_row + t) * stride + off + 8 * c);
        *reinterpret_cast<uint4 *>(dst + r * TcDims<D>::LDB + 8 * c) = val;
    }
}

// fp32 (TC_TILE, TC_LDS) tile at dst_f32 += the 16 x 16 blocks out = A (16 rows of a, D) B^T (b rows) for the
// fragment (row block mb, column block nb): S = Q K^T or dP = dO V^T.
template <int D>
__device__ __forceinline__ void tc_abt(float *dst, const bf16 *a, const bf16 *b, int mb, int nb) {
    constexpr int LDB = TcDims<D>::LDB;
    FragC c;
    wmma::fill_fragment(c, 0.0f);
    #pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        FragA fa;
        FragBT fb;
        wmma::load_matrix_sync(fa, a + 16 * mb * LDB + 16 * kk, LDB);
        wmma::load_matrix_sync(fb, b + 16 * nb * LDB + 16 * kk, LDB);
        wmma::mma_sync(c, fa, fb, c);
    }
    wmma::store_matrix_sync(dst + 16 * mb * TC_LDS + 16 * nb, c, TC_LDS, wmma::mem_row_major);
}

template <int D> constexpr size_t tc_fwd_smem_bytes() {
    return 3 * tc_align((size_t)TC_TILE * TcDims<D>::LDB * 2) + tc_align((size_t)TC_TILE * TC_LDS * 4) +
           tc_align((size_t)TC_TILE * TC_LDP * 2) + tc_align((size_t)TC_TILE * TcDims<D>::LDO * 4);
}

// flash_ref.c fwd_tile on tensor cores. grid (tiles, H, B), TC_FWD_WARPS warps.
template <int D>
__global__ void __launch_bounds__(32 * TC_FWD_WARPS)
flash_fwd_tc(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, int T, int H, int KV, float scale) {
    constexpr int LDB = TcDims<D>::LDB, LDO = TcDims<D>::LDO, NT = 32 * TC_FWD_WARPS;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    constexpr size_t TB = tc_align((size_t)TC_TILE * LDB * 2), SB = tc_align((size_t)TC_TILE * TC_LDS * 4),
                     PB = tc_align((size_t)TC_TILE * TC_LDP * 2);  // the carve of tc_fwd_smem_bytes
    bf16 *sQ = reinterpret_cast<bf16 *>(tc_smem), *sK = reinterpret_cast<bf16 *>(tc_smem + TB);
    bf16 *sV = reinterpret_cast<bf16 *>(tc_smem + 2 * TB), *sP = reinterpret_cast<bf16 *>(tc_smem + 3 * TB + SB);
    float *sS = reinterpret_cast<float *>(tc_smem + 3 * TB);
    float *sO = reinterpret_cast<float *>(tc_smem + 3 * TB + SB + PB);
    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (H / KV);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q0 = qt * TC_TILE;
    const int r = 16 * warp + lane / 2, half = lane % 2, t = q0 + r;  // this lane's softmax row, column parity
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D, brow = (size_t)b * T;

    tc_load_tile<D>(sQ, q, brow, q0, T, qs, (size_t)h * D, NT);
    for (int d = half; d < D; d += 2) sO[r * LDO + d] = 0.0f;
    float m = -INFINITY, l = 0.0f;  // of row r (both lanes of the pair hold them)
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * TC_TILE;
        __syncthreads();  // every warp is done with the previous sK / sV
        tc_load_tile<D>(sK, k, brow, k0, T, ks, (size_t)kh * D, NT);
        tc_load_tile<D>(sV, v, brow, k0, T, ks, (size_t)kh * D, NT);
        __syncthreads();
        #pragma unroll
        for (int nb = 0; nb < TC_TILE / 16; nb++) tc_abt<D>(sS, sQ, sK, warp, nb);
        __syncwarp();
        // online softmax of row r over keys 2 c + half (the lane pair interleaves columns: fewer bank
        // conflicts); masked: key > t, which covers keys >= T
        float *srow = sS + r * TC_LDS;
        float mt = m;
        for (int c = half; c < TC_TILE; c += 2) {
            const int key = k0 + c;
            const float s = (t < T && key <= t) ? scale * srow[c] : -INFINITY;
            srow[c] = s;
            mt = fmaxf(mt, s);
        }
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
        const float alpha = mt == -INFINITY ? 1.0f : expf(m - mt);
        float sum = 0.0f;
        bf16 *prow = sP + r * TC_LDP;
        for (int c = half; c < TC_TILE; c += 2) {
            const float p = srow[c] == -INFINITY ? 0.0f : expf(srow[c] - mt);
            prow[c] = __float2bfloat16_rn(p);
            sum += p;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l = alpha * l + sum;
        m = mt == -INFINITY ? m : mt;
        float *orow = sO + r * LDO;
        for (int d = half; d < D; d += 2) orow[d] *= alpha;
        __syncwarp();
        // O (warp rows) += P V
        #pragma unroll
        for (int nb = 0; nb < D / 16; nb++) {
            FragC c;
            wmma::load_matrix_sync(c, sO + 16 * warp * LDO + 16 * nb, LDO, wmma::mem_row_major);
            #pragma unroll
            for (int kk = 0; kk < TC_TILE / 16; kk++) {
                FragA fa;
                FragB fb;
                wmma::load_matrix_sync(fa, sP + 16 * warp * TC_LDP + 16 * kk, TC_LDP);
                wmma::load_matrix_sync(fb, sV + 16 * kk * LDB + 16 * nb, LDB);
                wmma::mma_sync(c, fa, fb, c);
            }
            wmma::store_matrix_sync(sO + 16 * warp * LDO + 16 * nb, c, LDO, wmma::mem_row_major);
        }
        __syncwarp();
    }
    // out = O / l as bf16, staged in the warp's own rows of sQ (no other warp reads them), then 16-byte stores
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int d = half; d < D; d += 2) sQ[r * LDB + d] = __float2bfloat16_rn(sO[r * LDO + d] * inv);
    if (half == 0 && t < T) lse[((size_t)b * H + h) * T + t] = m + logf(l);
    __syncwarp();
    constexpr int V = D / 8;
    for (int idx = lane; idx < 16 * V; idx += 32) {
        const int rr = 16 * warp + idx / V, c = idx % V;
        if (q0 + rr < T)
            *reinterpret_cast<uint4 *>(out + (brow + q0 + rr) * qs + (size_t)h * D + 8 * c) =
                *reinterpret_cast<const uint4 *>(sQ + rr * LDB + 8 * c);
    }
}

template <int D> constexpr size_t tc_bwd_smem_bytes() {
    return 4 * tc_align((size_t)TC_TILE * TcDims<D>::LDB * 2) + 2 * tc_align((size_t)TC_TILE * TC_LDS * 4) +
           2 * tc_align((size_t)TC_TILE * TC_LDP * 2) + 2 * tc_align((size_t)TC_TILE * 4);
}

// The backward kernels' shared memory: four bf16 (64, D) tiles, the fp32 S and dP tiles (adjacent, so
// together they can stage a (64, D) fp32 result: 2 * 64 * 68 >= 64 * (D + 4) for D <= 128), bf16 P and dS,
// and the rows' lse and D_i.
template <int D> struct TcBwdSmem {
    bf16 *k, *v, *q, *dout, *p, *ds;
    float *s, *dp, *lse, *di;
    __device__ explicit TcBwdSmem(unsigned char *base) {
        const size_t tb = tc_align((size_t)TC_TILE * TcDims<D>::LDB * 2), sb = tc_align((size_t)TC_TILE * TC_LDS * 4),
                     pb = tc_align((size_t)TC_TILE * TC_LDP * 2), lb = tc_align((size_t)TC_TILE * 4);
        k = reinterpret_cast<bf16 *>(base);
        v = reinterpret_cast<bf16 *>(base + tb);
        q = reinterpret_cast<bf16 *>(base + 2 * tb);
        dout = reinterpret_cast<bf16 *>(base + 3 * tb);
        s = reinterpret_cast<float *>(base + 4 * tb);
        dp = reinterpret_cast<float *>(base + 4 * tb + sb);
        p = reinterpret_cast<bf16 *>(base + 4 * tb + 2 * sb);
        ds = reinterpret_cast<bf16 *>(base + 4 * tb + 2 * sb + pb);
        lse = reinterpret_cast<float *>(base + 4 * tb + 2 * sb + 2 * pb);
        di = reinterpret_cast<float *>(base + 4 * tb + 2 * sb + 2 * pb + lb);
    }
};

// S, dP fragments of one (query tile, KV tile) pair, then P = exp(scale S - lse), dS = P (dP - D_i) as bf16
// (zero where masked): flash_ref.c bwd_pair. Ends with a barrier: sm.p / sm.ds are ready.
template <int D>
__device__ __forceinline__ void tc_bwd_scores(TcBwdSmem<D> &sm, int q0, int k0, int T, float scale) {
    constexpr int NT = 32 * TC_BWD_WARPS;
    const int warp = threadIdx.x / 32, mb = warp % 4;
    #pragma unroll
    for (int i = 0; i < 2; i++) {
        const int nb = 2 * (warp / 4) + i;
        tc_abt<D>(sm.s, sm.q, sm.k, mb, nb);
        tc_abt<D>(sm.dp, sm.dout, sm.v, mb, nb);
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < TC_TILE * TC_TILE; idx += NT) {
        const int r = idx / TC_TILE, c = idx % TC_TILE, t = q0 + r, key = k0 + c;
        const bool ok = t < T && key <= t;
        const float p = ok ? expf(scale * sm.s[r * TC_LDS + c] - sm.lse[r]) : 0.0f;
        sm.p[r * TC_LDP + c] = __float2bfloat16_rn(p);
        sm.ds[r * TC_LDP + c] = __float2bfloat16_rn(p * (sm.dp[r * TC_LDS + c] - sm.di[r]));
    }
    __syncthreads();
}

// Stages the warps' (64, D) fp32 fragments acc (rows 16 (w % 4), head dims (w / 4) D / 2 + 16 n) in the
// adjacent S / dP tiles and returns that (64, D + 4) staging area. Begins with a barrier.
template <int D>
__device__ __forceinline__ float *tc_stage(TcBwdSmem<D> &sm, FragC (&acc)[D / 32]) {
    constexpr int LDO = TcDims<D>::LDO;
    const int warp = threadIdx.x / 32, rb = warp % 4, c0 = (warp / 4) * (D / 2);
    float *st = sm.s;
    __syncthreads();
    #pragma unroll
    for (int n = 0; n < D / 32; n++)
        wmma::store_matrix_sync(st + 16 * rb * LDO + c0 + 16 * n, acc[n], LDO, wmma::mem_row_major);
    __syncthreads();
    return st;
}

// flash_ref.c "flash_bwd_dkdv" on tensor cores: grid (tiles, H, B); fp32 partials pdk / pdv (B, T, H, D).
template <int D>
__global__ void __launch_bounds__(32 * TC_BWD_WARPS)
flash_bwd_dkdv_tc(float *pdk, float *pdv, const bf16 *dout, const float *lse, const float *Di, const bf16 *q,
                  const bf16 *k, const bf16 *v, int T, int H, int KV, float scale) {
    constexpr int LDB = TcDims<D>::LDB, LDO = TcDims<D>::LDO, NT = 32 * TC_BWD_WARPS, NF = D / 32;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    TcBwdSmem<D> sm(tc_smem);
    const int kt = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (H / KV), nt = (T + TC_TILE - 1) / TC_TILE;
    const int warp = threadIdx.x / 32, kb = warp % 4, c0 = (warp / 4) * (D / 2), k0 = kt * TC_TILE;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D, brow = (size_t)b * T;

    tc_load_tile<D>(sm.k, k, brow, k0, T, ks, (size_t)kh * D, NT);
    tc_load_tile<D>(sm.v, v, brow, k0, T, ks, (size_t)kh * D, NT);
    FragC adk[NF], adv[NF];
    #pragma unroll
    for (int n = 0; n < NF; n++) {
        wmma::fill_fragment(adk[n], 0.0f);
        wmma::fill_fragment(adv[n], 0.0f);
    }
    for (int qt = kt; qt < nt; qt++) {
        const int q0 = qt * TC_TILE;
        __syncthreads();  // the previous pair's reads of q / dout / p / ds are done
        tc_load_tile<D>(sm.q, q, brow, q0, T, qs, (size_t)h * D, NT);
        tc_load_tile<D>(sm.dout, dout, brow, q0, T, qs, (size_t)h * D, NT);
        for (int r = threadIdx.x; r < TC_TILE; r += NT) {
            const bool in = q0 + r < T;
            sm.lse[r] = in ? lse[((size_t)b * H + h) * T + q0 + r] : 0.0f;
            sm.di[r] = in ? Di[((size_t)b * H + h) * T + q0 + r] : 0.0f;
        }
        __syncthreads();
        tc_bwd_scores<D>(sm, q0, k0, T, scale);
        // dV (keys 16 kb, dims c0 ..) += P^T dO ; dK += dS^T Q  (P^T, dS^T read column-major from P, dS)
        #pragma unroll
        for (int kk = 0; kk < TC_TILE / 16; kk++) {
            FragAT fp, fs;
            wmma::load_matrix_sync(fp, sm.p + 16 * kk * TC_LDP + 16 * kb, TC_LDP);
            wmma::load_matrix_sync(fs, sm.ds + 16 * kk * TC_LDP + 16 * kb, TC_LDP);
            #pragma unroll
            for (int n = 0; n < NF; n++) {
                FragB fo, fq;
                wmma::load_matrix_sync(fo, sm.dout + 16 * kk * LDB + c0 + 16 * n, LDB);
                wmma::load_matrix_sync(fq, sm.q + 16 * kk * LDB + c0 + 16 * n, LDB);
                wmma::mma_sync(adv[n], fp, fo, adv[n]);
                wmma::mma_sync(adk[n], fs, fq, adk[n]);
            }
        }
    }
    float *st = tc_stage<D>(sm, adk);
    for (int idx = threadIdx.x; idx < TC_TILE * D; idx += NT) {
        const int r = idx / D, d = idx % D, key = k0 + r;
        if (key < T) pdk[(brow + key) * qs + (size_t)h * D + d] = scale * st[r * LDO + d];
    }
    st = tc_stage<D>(sm, adv);
    for (int idx = threadIdx.x; idx < TC_TILE * D; idx += NT) {
        const int r = idx / D, d = idx % D, key = k0 + r;
        if (key < T) pdv[(brow + key) * qs + (size_t)h * D + d] = st[r * LDO + d];
    }
}

// flash_ref.c "flash_bwd_dq" on tensor cores: grid (tiles, H, B), heaviest first; dq (bf16) OVERWRITTEN.
template <int D>
__global__ void __launch_bounds__(32 * TC_BWD_WARPS)
flash_bwd_dq_tc(bf16 *dq, const bf16 *dout, const float *lse, const float *Di, const bf16 *q, const bf16 *k,
                const bf16 *v, int T, int H, int KV, float scale) {
    constexpr int LDB = TcDims<D>::LDB, LDO = TcDims<D>::LDO, NT = 32 * TC_BWD_WARPS, NF = D / 32;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    TcBwdSmem<D> sm(tc_smem);
    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (H / KV);
    const int warp = threadIdx.x / 32, qb = warp % 4, c0 = (warp / 4) * (D / 2), q0 = qt * TC_TILE;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D, brow = (size_t)b * T;

    tc_load_tile<D>(sm.q, q, brow, q0, T, qs, (size_t)h * D, NT);
    tc_load_tile<D>(sm.dout, dout, brow, q0, T, qs, (size_t)h * D, NT);
    for (int r = threadIdx.x; r < TC_TILE; r += NT) {
        const bool in = q0 + r < T;
        sm.lse[r] = in ? lse[((size_t)b * H + h) * T + q0 + r] : 0.0f;
        sm.di[r] = in ? Di[((size_t)b * H + h) * T + q0 + r] : 0.0f;
    }
    FragC adq[NF];
    #pragma unroll
    for (int n = 0; n < NF; n++) wmma::fill_fragment(adq[n], 0.0f);
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * TC_TILE;
        __syncthreads();  // the previous tile's reads of k / ds are done (at kt 0: q, dout, lse, D_i loaded)
        tc_load_tile<D>(sm.k, k, brow, k0, T, ks, (size_t)kh * D, NT);
        tc_load_tile<D>(sm.v, v, brow, k0, T, ks, (size_t)kh * D, NT);
        __syncthreads();
        tc_bwd_scores<D>(sm, q0, k0, T, scale);
        // dQ (rows 16 qb, dims c0 ..) += dS K
        #pragma unroll
        for (int kk = 0; kk < TC_TILE / 16; kk++) {
            FragA fs;
            wmma::load_matrix_sync(fs, sm.ds + 16 * qb * TC_LDP + 16 * kk, TC_LDP);
            #pragma unroll
            for (int n = 0; n < NF; n++) {
                FragB fk;
                wmma::load_matrix_sync(fk, sm.k + 16 * kk * LDB + c0 + 16 * n, LDB);
                wmma::mma_sync(adq[n], fs, fk, adq[n]);
            }
        }
    }
    const float *st = tc_stage<D>(sm, adq);
    for (int idx = threadIdx.x; idx < TC_TILE * D; idx += NT) {
        const int r = idx / D, d = idx % D, t = q0 + r;
        if (t < T) dq[(brow + t) * qs + (size_t)h * D + d] = __float2bfloat16_rn(scale * st[r * LDO + d]);
    }
}

// ---- host side -------------------------------------------------------------------------------------------

static void flash_check_shape(const char *what, int B, int T, int H, int KV, int D) {
    if (B < 0 || T < 0 || H <= 0 || KV <= 0 || H % KV != 0)
        rlvr_die(__FILE__, __LINE__,
                 "%s: bad shape B %d T %d H %d KV %d (num_heads must be a positive multiple of num_kv_heads)", what,
                 B, T, H, KV);
    if (D <= 0 || D > FLASH_MAX_D)
        rlvr_die(__FILE__, __LINE__,
                 "%s: head_dim %d is outside 1..%d, the flash kernels' limit; use the cuBLAS attention "
                 "(cuda_attention_forward) for this model", what, D, FLASH_MAX_D);
}

// Grid of the grid-stride reduction: enough blocks to fill the GPU, capped (sizes past 2^31 still work).
static unsigned int reduce_grid(size_t n) {
    const size_t g = (n + FLASH_THREADS - 1) / FLASH_THREADS;
    return (unsigned int)(g < FLASH_REDUCE_MAX_BLOCKS ? (g ? g : 1) : FLASH_REDUCE_MAX_BLOCKS);
}

// Dynamic shared memory above 48 KiB must be allowed per kernel (and per device) before a launch; set
// at every launch (a host-side attribute write, microseconds) so a change of device needs no bookkeeping.
template <typename K> static void allow_smem(K kernel, size_t bytes) {
    cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

template <typename E, int DP, int RM>
static void fwd_launch(E *out, float *lse, const E *q, const E *k, const E *v, int B, int T, int H, int KV, int D) {
    constexpr int BR = FLASH_LANES * RM;
    constexpr size_t smem = fwd_smem_bytes<DP, RM>();
    allow_smem(flash_fwd<E, DP, RM>, smem);
    const dim3 grid(cdiv_u((size_t)T, BR), (unsigned)H, (unsigned)B);
    flash_fwd<E, DP, RM><<<grid, FLASH_THREADS, smem>>>(out, lse, q, k, v, T, H, KV, D, 1.0f / sqrtf((float)D));
    cudaCheckLaunch();
}

template <typename E, int DP, int RM>
static void bwd_launch(E *dq, E *dk, E *dv, const E *dout, const E *out, const float *lse, const E *q, const E *k,
                       const E *v, float *Di, int B, int T, int H, int KV, int D, int accumulate) {
    constexpr int BR = FLASH_LANES * RM;
    constexpr size_t smem = bwd_smem_bytes<DP, RM>();
    allow_smem(flash_bwd_dkdv<E, DP, RM>, smem);
    allow_smem(flash_bwd_dq<E, DP, RM>, smem);
    const float scale = 1.0f / sqrtf((float)D);
    const size_t rows = (size_t)B * T * H, nkv = (size_t)B * T * KV * D;
    float *pdk = Di + rows, *pdv = pdk + rows * D;  // scratch: Di (B, H, T), pdk / pdv (B, T, H, D)
    flash_bwd_dot<E><<<cdiv_u(rows, FLASH_DOT_WARPS), 32 * FLASH_DOT_WARPS>>>(Di, dout, out, rows, T, H, D);
    cudaCheckLaunch();
    const unsigned tiles = cdiv_u((size_t)T, BR);
    flash_bwd_dkdv<E, DP, RM><<<dim3(tiles, (unsigned)H, (unsigned)B), FLASH_THREADS, smem>>>(
        pdk, pdv, dout, lse, Di, q, k, v, T, H, KV, D, scale);
    cudaCheckLaunch();
    flash_bwd_reduce<E><<<reduce_grid(nkv), FLASH_THREADS>>>(dk, dv, pdk, pdv, nkv, H, KV, D, accumulate);
    cudaCheckLaunch();
    flash_bwd_dq<E, DP, RM><<<dim3(tiles, (unsigned)H, (unsigned)B), FLASH_THREADS, smem>>>(
        dq, dout, lse, Di, q, k, v, T, H, KV, D, scale, accumulate);
    cudaCheckLaunch();
}

// The tensor-core path takes D 64 / 128 with 16-byte aligned tiles (its loads move 8 bf16 at a time).
static bool tc_usable(int D, const void *a, const void *b, const void *c, const void *d) {
    const uintptr_t mis = ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c | (uintptr_t)d) & 15u;
    return (D == 64 || D == 128) && mis == 0;
}

template <int D>
static void tc_fwd_launch(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, int B, int T, int H,
                          int KV) {
    constexpr size_t smem = tc_fwd_smem_bytes<D>();
    allow_smem(flash_fwd_tc<D>, smem);
    const dim3 grid(cdiv_u((size_t)T, TC_TILE), (unsigned)H, (unsigned)B);
    flash_fwd_tc<D><<<grid, 32 * TC_FWD_WARPS, smem>>>(out, lse, q, k, v, T, H, KV, 1.0f / sqrtf((float)D));
    cudaCheckLaunch();
}

template <int D>
static void tc_bwd_launch(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout, const bf16 *out, const float *lse,
                          const bf16 *q, const bf16 *k, const bf16 *v, float *Di, int B, int T, int H, int KV) {
    constexpr size_t smem = tc_bwd_smem_bytes<D>();
    allow_smem(flash_bwd_dkdv_tc<D>, smem);
    allow_smem(flash_bwd_dq_tc<D>, smem);
    const float scale = 1.0f / sqrtf((float)D);
    const size_t rows = (size_t)B * T * H, nkv = (size_t)B * T * KV * D;
    float *pdk = Di + rows, *pdv = pdk + rows * D;  // the scratch carve of bwd_launch
    flash_bwd_dot<bf16><<<cdiv_u(rows, FLASH_DOT_WARPS), 32 * FLASH_DOT_WARPS>>>(Di, dout, out, rows, T, H, D);
    cudaCheckLaunch();
    const unsigned tiles = cdiv_u((size_t)T, TC_TILE);
    flash_bwd_dkdv_tc<D><<<dim3(tiles, (unsigned)H, (unsigned)B), 32 * TC_BWD_WARPS, smem>>>(
        pdk, pdv, dout, lse, Di, q, k, v, T, H, KV, scale);
    cudaCheckLaunch();
    flash_bwd_reduce<bf16><<<reduce_grid(nkv), FLASH_THREADS>>>(dk, dv, pdk, pdv, nkv, H, KV, D, 0);
    cudaCheckLaunch();
    flash_bwd_dq_tc<D><<<dim3(tiles, (unsigned)H, (unsigned)B), 32 * TC_BWD_WARPS, smem>>>(
        dq, dout, lse, Di, q, k, v, T, H, KV, scale);
    cudaCheckLaunch();
}

// D -> the narrowest padded width DP >= D (see the top of the file).
template <typename E>
static void fwd_dispatch(E *out, float *lse, const E *q, const E *k, const E *v, int B, int T, int H, int KV, int D) {
    if (D <= 32) fwd_launch<E, 32, 4>(out, lse, q, k, v, B, T, H, KV, D);
    else if (D <= 64) fwd_launch<E, 64, 4>(out, lse, q, k, v, B, T, H, KV, D);
    else if (D <= 128) fwd_launch<E, 128, 4>(out, lse, q, k, v, B, T, H, KV, D);
    else fwd_launch<E, 256, 2>(out, lse, q, k, v, B, T, H, KV, D);
}

template <typename E>
static void bwd_dispatch(E *dq, E *dk, E *dv, const E *dout, const E *out, const float *lse, const E *q, const E *k,
                         const E *v, float *Di, int B, int T, int H, int KV, int D, int accumulate) {
    if (D <= 32) bwd_launch<E, 32, 4>(dq, dk, dv, dout, out, lse, q, k, v, Di, B, T, H, KV, D, accumulate);
    else if (D <= 64) bwd_launch<E, 64, 4>(dq, dk, dv, dout, out, lse, q, k, v, Di, B, T, H, KV, D, accumulate);
    else if (D <= 128) bwd_launch<E, 128, 4>(dq, dk, dv, dout, out, lse, q, k, v, Di, B, T, H, KV, D, accumulate);
    else bwd_launch<E, 256, 2>(dq, dk, dv, dout, out, lse, q, k, v, Di, B, T, H, KV, D, accumulate);
}

extern "C" size_t cuda_flash_scratch_floats(int B, int T, int H, int KV, int D) {
    (void)KV;
    return (size_t)B * H * T + 2 * (size_t)B * T * H * D;  // D_i per row, per-head dK / dV partials
}

extern "C" void cuda_flash_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                                             int B, int T, int H, int KV, int D) {
    flash_check_shape("cuda_flash_attention_forward", B, T, H, KV, D);
    if (B == 0 || T == 0) return;
    fwd_dispatch<float>(out, lse, q, k, v, B, T, H, KV, D);
}

extern "C" void cuda_flash_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                              const float *lse, const float *q, const float *k, const float *v,
                                              float *scratch, int B, int T, int H, int KV, int D) {
    flash_check_shape("cuda_flash_attention_backward", B, T, H, KV, D);
    if (B == 0 || T == 0) return;
    bwd_dispatch<float>(dq, dk, dv, dout, out, lse, q, k, v, scratch, B, T, H, KV, D, 1);
}

extern "C" void cuda_flash_attention_forward_bf16(void *out, float *lse, const void *q, const void *k, const void *v,
                                                  int B, int T, int H, int KV, int D) {
    flash_check_shape("cuda_flash_attention_forward_bf16", B, T, H, KV, D);
    if (B == 0 || T == 0) return;
    bf16 *o = (bf16 *)out;
    const bf16 *q_ = (const bf16 *)q, *k_ = (const bf16 *)k, *v_ = (const bf16 *)v;
    if (tc_usable(D, out, q, k, v)) {
        if (D == 64) tc_fwd_launch<64>(o, lse, q_, k_, v_, B, T, H, KV);
        else tc_fwd_launch<128>(o, lse, q_, k_, v_, B, T, H, KV);
    } else {
        fwd_dispatch<bf16>(o, lse, q_, k_, v_, B, T, H, KV, D);
    }
}

extern "C" void cuda_flash_attention_backward_bf16(void *dq, void *dk, void *dv, const void *dout, const void *out,
                                                   const float *lse, const void *q, const void *k, const void *v,
                                                   float *scratch, int B, int T, int H, int KV, int D) {
    flash_check_shape("cuda_flash_attention_backward_bf16", B, T, H, KV, D);
    if (B == 0 || T == 0) return;
    bf16 *dq_ = (bf16 *)dq, *dk_ = (bf16 *)dk, *dv_ = (bf16 *)dv;
    const bf16 *do_ = (const bf16 *)dout, *o = (const bf16 *)out, *q_ = (const bf16 *)q, *k_ = (const bf16 *)k,
               *v_ = (const bf16 *)v;
    if (tc_usable(D, dout, q, k, v)) {
        if (D == 64) tc_bwd_launch<64>(dq_, dk_, dv_, do_, o, lse, q_, k_, v_, scratch, B, T, H, KV);
        else tc_bwd_launch<128>(dq_, dk_, dv_, do_, o, lse, q_, k_, v_, scratch, B, T, H, KV);
    } else {
        bwd_dispatch<bf16>(dq_, dk_, dv_, do_, o, lse, q_, k_, v_, scratch, B, T, H, KV, D, 0);
    }
}
