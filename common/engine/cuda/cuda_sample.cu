// Token sampling on the device (cuda_infer.h): one block of SAMPLE_THREADS per logits row.
//
// Order. Tokens are ranked by the 64-bit key (ord(logit) << 32) | (~id): higher logit first, ties by
// lower id. Every key is distinct, so "the k best tokens" and "the best prefix of mass >= p" are exact
// sets, found as a key threshold tau (kept = {key >= tau}) by a radix descent: four 8-bit levels over
// the logit half of the key (a histogram per level of counts or masses), then the tied logits resolved
// in id order by a block scan. softmax is monotone in the logit, so this is the probability order of
// common/engine/sampler.h (which ranks by fp32 probability; the two differ only where two distinct
// logits round to the same fp32 probability).
//
// Masses are fixed point: w_i = round(expf((l_i - max) / T) * 2^44), uint64. Integer sums are exact and
// associative, so histograms (shared-memory atomics), thresholds and the draw are the same whatever the
// order of the additions: a row's token is a pure function of its logits, seed and draw index. A token
// with w_i = 0 (probability < 2^-45 of the most likely one) is never drawn.
//
// Draw. u = philox_uniform(seed, draw), r = floor(u * W) with W the kept mass; the token is the first
// kept one IN ID ORDER whose cumulative mass exceeds r (each thread owns a contiguous id segment; the
// segment sums are scanned across the block). Exact in integers: the drawn token has probability
// w_i / W under the kept set.
//
// Reported log-prob / entropy: double sums of exp((l - max) / T) over the full vocabulary (T 1 when
// greedy), as sampler_logprob_entropy.
#include <math.h>

#include "common/engine/cuda/cuda_common.cuh"
#include "common/engine/cuda/cuda_sample.h"

extern "C" {
#include "common/core/philox.h"
}

#define SAMPLE_THREADS 512
#define SAMPLE_WARPS (SAMPLE_THREADS / 32)
#define RADIX_BINS 256
#define FIX_SCALE 17592186044416.0f   // 2^44: V * 2^44 < 2^63 for any V < 2^19 (checked by the caller)

__device__ __forceinline__ uint32_t ord_f(float f) {   // order-preserving map of a float to uint32
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float from_ord(uint32_t o) {
    return __uint_as_float((o & 0x80000000u) ? (o & 0x7FFFFFFFu) : ~o);
}
__device__ __forceinline__ uint64_t key_of(uint32_t hw, int id) {
    return ((uint64_t)hw << 32) | (uint64_t)(0xFFFFFFFFu - (uint32_t)id);
}
__device__ __forceinline__ uint64_t wfix(float l, float mx, float invT) {
    return (uint64_t)__float2ull_rn(expf((l - mx) * invT) * FIX_SCALE);
}

// ---- block reductions and scan (fixed order: deterministic) ----------------------------------------

template <typename T> __device__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <typename T> __device__ T block_sum(T v) {
    __shared__ T sh[SAMPLE_WARPS];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    T t = 0;
    for (int w = 0; w < SAMPLE_WARPS; w++) t += sh[w];
    return t;
}
__device__ uint64_t block_max_u64(uint64_t v) {
    __shared__ uint64_t sh[SAMPLE_WARPS];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        const uint64_t y = __shfl_xor_sync(0xffffffffu, v, o);
        v = y > v ? y : v;
    }
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    uint64_t t = 0;
    for (int w = 0; w < SAMPLE_WARPS; w++) t = sh[w] > t ? sh[w] : t;
    return t;
}
// Exclusive prefix sum of v over the block in thread order; *total = the sum of all.
__device__ uint64_t block_excl_scan(uint64_t v, uint64_t *total) {
    __shared__ uint64_t sh[SAMPLE_WARPS];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    uint64_t x = v;
    for (int o = 1; o < 32; o <<= 1) {
        const uint64_t y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
    }
    __syncthreads();
    if (lane == 31) sh[wid] = x;
    __syncthreads();
    uint64_t off = 0, tot = 0;
    for (int w = 0; w < SAMPLE_WARPS; w++) {
        if (w < wid) off += sh[w];
        tot += sh[w];
    }
    *total = tot;
    return off + x - v;
}

// ---- threshold search -------------------------------------------------------------------------------

// Walking the tokens with key >= lo in descending key order and adding up q (1 per token when !mass,
// its fixed-point weight when mass), the key of the token at which the running sum first reaches
// need (1 <= need <= the total). Returns lo when need cannot be reached (never, for valid callers).
__device__ uint64_t select_threshold(const float *row, int V, uint64_t lo, uint64_t need, int mass, float mx,
                                     float invT) {
    __shared__ uint64_t hist[SAMPLE_WARPS][RADIX_BINS];
    __shared__ uint64_t bins[RADIX_BINS];
    __shared__ uint32_t sh_prefix;
    __shared__ uint64_t sh_above, sh_tau;
    const int wid = threadIdx.x >> 5;
    uint32_t prefix = 0;   // decided high bits of ord(logit)
    uint64_t above = 0;    // quantity of tokens strictly above the current prefix
    for (int level = 0; level < 4; level++) {
        const int shift = 24 - 8 * level;
        for (int b = threadIdx.x; b < SAMPLE_WARPS * RADIX_BINS; b += blockDim.x) (&hist[0][0])[b] = 0;
        __syncthreads();
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            const float l = row[i];
            const uint32_t hw = ord_f(l);
            if (level > 0 && (hw >> (shift + 8)) != (prefix >> (shift + 8))) continue;
            if (key_of(hw, i) < lo) continue;
            const uint64_t q = mass ? wfix(l, mx, invT) : 1;
            // one histogram per warp: lanes of other warps never contend for the same word
            if (q) atomicAdd((unsigned long long *)&hist[wid][(hw >> shift) & 255u], (unsigned long long)q);
        }
        __syncthreads();
        for (int b = threadIdx.x; b < RADIX_BINS; b += blockDim.x) {
            uint64_t t = 0;
            for (int w = 0; w < SAMPLE_WARPS; w++) t += hist[w][b];
            bins[b] = t;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            uint64_t cum = above;
            int chosen = -1;
            for (int b = RADIX_BINS - 1; b >= 0; b--) {
                if (cum + bins[b] >= need) { chosen = b; break; }
                cum += bins[b];
            }
            if (chosen < 0) { chosen = 0; cum = above; }   // unreachable need: keep the lowest bin
            sh_prefix = prefix | ((uint32_t)chosen << shift);
            sh_above = cum;
        }
        __syncthreads();
        prefix = sh_prefix;
        above = sh_above;
    }
    // Tokens whose logit equals the threshold logit, in id order: the first c of them are kept.
    const float lt = from_ord(prefix);
    const uint64_t qt = mass ? wfix(lt, mx, invT) : 1;
    const uint64_t need_t = need > above ? need - above : 1;
    const uint64_t c = qt ? (need_t + qt - 1) / qt : need_t;
    const int seg = (V + blockDim.x - 1) / blockDim.x, i0 = threadIdx.x * seg, i1 = min(V, i0 + seg);
    uint64_t local = 0;
    for (int i = i0; i < i1; i++) local += (ord_f(row[i]) == prefix && key_of(prefix, i) >= lo);
    uint64_t total;
    const uint64_t excl = block_excl_scan(local, &total);
    if (threadIdx.x == 0) sh_tau = lo;
    __syncthreads();
    if (excl < c && c <= excl + local) {
        uint64_t k = excl;
        for (int i = i0; i < i1; i++)
            if (ord_f(row[i]) == prefix && key_of(prefix, i) >= lo && ++k == c) { sh_tau = key_of(prefix, i); break; }
    }
    __syncthreads();
    return sh_tau;
}

// ---- the kernel -------------------------------------------------------------------------------------

__global__ void sample_kernel(CudaSampleResult *out, const float *logits, int V, float temperature, int top_k,
                              float top_p, const uint64_t *seeds, const uint64_t *draws) {
    const float *row = logits + (size_t)blockIdx.x * V;
    __shared__ int sh_tok;
    // best key = the largest logit, lowest id among equal ones: the greedy token and the shift
    uint64_t kb = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        const uint64_t k = key_of(ord_f(row[i]), i);
        kb = k > kb ? k : kb;
    }
    kb = block_max_u64(kb);
    const int argmax = (int)(0xFFFFFFFFu - (uint32_t)kb);
    const float mx = row[argmax];
    const double Teff = temperature > 0.0f ? (double)temperature : 1.0;
    const double invTd = 1.0 / Teff;
    double Z = 0.0, S = 0.0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        const double z = ((double)row[i] - (double)mx) * invTd, e = exp(z);
        Z += e;
        if (e > 0.0) S += e * z;   // a -inf logit adds nothing (0 * -inf would be NaN)
    }
    Z = block_sum(Z);
    S = block_sum(S);
    int tok = argmax;
    if (temperature > 0.0f) {
        const float invT = 1.0f / temperature;
        uint64_t lo = 0;   // every key is >= 0: nothing truncated
        if (top_k > 0 && top_k < V) lo = select_threshold(row, V, 0, (uint64_t)top_k, 0, mx, invT);
        if (top_p < 1.0f) {
            uint64_t wb = 0;
            for (int i = threadIdx.x; i < V; i += blockDim.x)
                if (key_of(ord_f(row[i]), i) >= lo) wb += wfix(row[i], mx, invT);
            wb = block_sum(wb);
            uint64_t target = (uint64_t)ceil((double)top_p * (double)wb);
            target = target < 1 ? 1 : target > wb ? wb : target;
            lo = select_threshold(row, V, lo, target, 1, mx, invT);
        }
        const int seg = (V + blockDim.x - 1) / blockDim.x, i0 = threadIdx.x * seg, i1 = min(V, i0 + seg);
        uint64_t local = 0;
        for (int i = i0; i < i1; i++)
            if (key_of(ord_f(row[i]), i) >= lo) local += wfix(row[i], mx, invT);
        uint64_t W;
        const uint64_t excl = block_excl_scan(local, &W);
        const double u = philox_uniform(seeds[blockIdx.x], draws[blockIdx.x]);
        uint64_t r = (uint64_t)(u * (double)W);
        if (r >= W) r = W - 1;   // u * W rounded up to W (W > 2^53)
        if (threadIdx.x == 0) sh_tok = argmax;
        __syncthreads();
        if (excl <= r && r < excl + local) {
            uint64_t cum = excl;
            for (int i = i0; i < i1; i++) {
                if (key_of(ord_f(row[i]), i) < lo) continue;
                cum += wfix(row[i], mx, invT);
                if (r < cum) { sh_tok = i; break; }
            }
        }
        __syncthreads();
        tok = sh_tok;
    }
    if (threadIdx.x == 0) {
        const double logZ = log(Z);
        out[blockIdx.x].token = tok;
        out[blockIdx.x].logp = (float)(((double)row[tok] - (double)mx) * invTd - logZ);
        out[blockIdx.x].entropy = (float)(logZ - S / Z);
    }
}

extern "C" void cuda_sample_rows(CudaSampleResult *out, const float *logits, int n, int V, float temperature,
                                 int top_k, float top_p, const uint64_t *seeds, const uint64_t *draws) {
    if (n <= 0) return;
    sample_kernel<<<n, SAMPLE_THREADS>>>(out, logits, V, temperature, top_k, top_p, seeds, draws);
    cudaCheckLaunch();
}
