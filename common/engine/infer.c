// Incremental decoding with a KV cache (see common/engine/infer.h for the design and the shapes).
#include "common/engine/infer.h"

#include <math.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/ops.h"

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

// ---- KV cache --------------------------------------------------------------------------------------

int kv_cache_init(KVCache *c, const ModelConfig *cfg, int B, int T, char *err, size_t errlen) {
    memset(c, 0, sizeof(*c));
    if (B < 1) return rlvr_err(err, errlen, "kv cache: batch = %d must be >= 1", B);
    if (T < 1) return rlvr_err(err, errlen, "kv cache: max_seq = %d must be >= 1", T);
    c->B = B; c->L = cfg->num_layers; c->T = T; c->KV = cfg->num_kv_heads; c->D = cfg->head_dim;
    const size_t n = (size_t)B * c->L * T * c->KV * c->D;
    c->k = mallocBigCheck(n * sizeof(float));
    c->v = mallocBigCheck(n * sizeof(float));
    c->len = callocCheck((size_t)B, sizeof(int));
    return 0;
}

void kv_cache_free(KVCache *c) {
    free(c->k);
    free(c->v);
    free(c->len);
    memset(c, 0, sizeof(*c));
}

void kv_cache_copy_prefix(KVCache *c, int dst, int src, int len) {
    if (dst == src || len < 0 || len > c->len[src])
        die("kv_cache_copy_prefix: %d positions from slot %d (length %d) to slot %d", len, src, c->len[src], dst);
    const size_t n = (size_t)len * c->D;
    for (int l = 0; l < c->L; l++)
        for (int g = 0; g < c->KV; g++) {
            memcpy(kv_cache_head(c, c->k, dst, l, g), kv_cache_head(c, c->k, src, l, g), n * sizeof(float));
            memcpy(kv_cache_head(c, c->v, dst, l, g), kv_cache_head(c, c->v, src, l, g), n * sizeof(float));
        }
    c->len[dst] = len;
}

void kv_cache_copy_slot(KVCache *c, int dst, int src) {
    if (dst == src) return;
    kv_cache_copy_prefix(c, dst, src, c->len[src]);
}

// ---- kernels (forward only; each row is computed on its own, in a fixed order) --------------------

// out (n, N) = in (n, K) @ W^T + bias, W (N, K) in HF layout, bias (N) or NULL.
//
// Our own kernel instead of cblas_sgemm, for two measured reasons: (1) OpenBLAS 0.3.21 sgemm is not
// batch invariant (a row's result changes with the number of rows M), and (2) for the few rows of a
// decode step it spends about twice as long packing W as multiplying (perf: sgemm_incopy 37% of the
// decode time vs 19% in the kernel); this kernel streams W once per call (with a software prefetch
// of the next tile) and is ~2x faster at 8 rows.
//
// Every output element is reduced in the same fixed order whatever the tile, the batch or the
// thread count: VL lanes over k = l, l+VL, ..., a fixed pairwise sum of the lanes, then the tail
// (K % VL) in order. Tiles at the edges clamp their row/column pointers to a valid one and drop
// the extra results, so every element goes through the very same instruction sequence.
//
// Lane width of the dot-product accumulators: 16 floats (one zmm) with AVX-512, else 8 (one ymm).
// Fixed at compile time, so the summation order is fixed for a given build.
#ifdef __AVX512F__
#define VL 16
#else
#define VL 8
#endif
typedef float vf __attribute__((vector_size(VL * 4)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
// Tile: MM_TR rows x MM_TC output features = MM_TR * MM_TC accumulators. With AVX-512 a tile holds
// 8 rows, so a decode step of 8 sequences reads each weight row from memory exactly once, and 4
// features: 32 accumulators + 4 weight vectors + 1 input vector is more than the 32 zmm registers,
// so the compiler keeps a few accumulators on the stack (L1), and still this beat 8 x 3 (which fits)
// by 15-20% at K = 256 and ~10-25% at K = 512 in a kernel benchmark: four weight streams in flight
// instead of three, and the horizontal sums of a tile are done 16 at a time (hsum16). AVX2: 4 x 3
// (12 + 3 + 1 of the 16 ymm registers), one hsum per accumulator.
#if VL == 16
#define MM_TR 8
#define MM_TC 4
#else
#define MM_TR 4
#define MM_TC 3
#endif

// Sum of the lanes in a fixed pairwise order (halves added until 4 lanes remain).
static inline float hsum(vf a) {
    v8f s8;
#if VL == 16
    v8f hi;
    memcpy(&s8, &a, sizeof(v8f));
    memcpy(&hi, (const char *)&a + sizeof(v8f), sizeof(v8f));
    s8 += hi;
#else
    s8 = a;
#endif
    v4f s4, h4;
    memcpy(&s4, &s8, sizeof(v4f));
    memcpy(&h4, (const char *)&s8 + sizeof(v4f), sizeof(v4f));
    s4 += h4;
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

#if VL == 16
// out[L] = hsum(v[L]) for 16 accumulators, bit for bit: the same additions in the same pairing
// (256-bit halves, then 128-bit halves, then (s0 + s2) + (s1 + s3)), done on all 16 at once with
// lane shuffles instead of 16 separate extract/add chains. Reading v in the order 4 (j % 4) + j / 4
// makes the last step land lane L on v[L].
static inline void hsum16(const vf *v, float *out) {
    __m512 a[16], b[8], c[4], e[2];
    for (int j = 0; j < 16; j++) memcpy(&a[j], &v[4 * (j % 4) + j / 4], sizeof(__m512));
    for (int i = 0; i < 8; i++)   // lanes 8i.. = s8 of a[2i], s8 of a[2i+1]
        b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44), _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; i++)   // 128-bit quarter q = s4 of a[4i + q]
        c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88), _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; i++)   // per quarter: s0 + s2, s1 + s3 of two accumulators each
        e[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0x44), _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0xEE));
    const __m512 f = _mm512_add_ps(_mm512_shuffle_ps(e[0], e[1], 0x88), _mm512_shuffle_ps(e[0], e[1], 0xDD));
    memcpy(out, &f, sizeof f);
}
_Static_assert(MM_TR == 8 && MM_TC % 2 == 0, "hsum16 reduces two features x 8 rows of a tile at a time");
#endif

static void matmul_tile(float *out, const float *in, const float *W, int n, int K, int N, int i0, int j0) {
    const float *xr[MM_TR], *wr[MM_TC];
    for (int r = 0; r < MM_TR; r++) xr[r] = in + (size_t)imin(i0 + r, n - 1) * K;
    for (int c = 0; c < MM_TC; c++) wr[c] = W + (size_t)imin(j0 + c, N - 1) * K;
    vf acc[MM_TC][MM_TR];
    for (int c = 0; c < MM_TC; c++)
        for (int r = 0; r < MM_TR; r++) acc[c][r] = (vf){0};
    const int KV_ = K - K % VL;
    for (int k = 0; k < KV_; k += VL) {
        vf wv[MM_TC];
        for (int c = 0; c < MM_TC; c++) {
            memcpy(&wv[c], wr[c] + k, sizeof(vf));
            // Same place in the rows of the tile after next, into L2: one tile ahead (~6 KB at K = 512)
            // was too close to hide the DRAM latency (lm_head 8 rows x 32000 x 512: 10 -> 11-16 GB/s).
            __builtin_prefetch(wr[c] + k + (size_t)2 * MM_TC * K, 0, 2);
        }
        for (int r = 0; r < MM_TR; r++) {
            vf xv;
            memcpy(&xv, xr[r] + k, sizeof(vf));
            for (int c = 0; c < MM_TC; c++) acc[c][r] += xv * wv[c];
        }
    }
    float sums[MM_TC * MM_TR];   // (MM_TC, MM_TR)
#if VL == 16
    for (int c = 0; c < MM_TC; c += 2) hsum16(&acc[c][0], sums + c * MM_TR);
#else
    for (int c = 0; c < MM_TC; c++)
        for (int r = 0; r < MM_TR; r++) sums[c * MM_TR + r] = hsum(acc[c][r]);
#endif
    for (int c = 0; c < MM_TC; c++)
        for (int r = 0; r < MM_TR; r++) {
            float sum = sums[c * MM_TR + r];
            for (int k = KV_; k < K; k++) sum += xr[r][k] * wr[c][k];
            if (i0 + r < n && j0 + c < N) out[(size_t)(i0 + r) * N + j0 + c] = sum;
        }
}

// Several projections of the same input in one parallel region (q/k/v, gate/up): one fork/join
// instead of three, and a split of the output features that is large enough to be worth threads.
typedef struct {
    float *out;          // (n, N)
    const float *W;      // (N, K)
    const float *bias;   // (N) or NULL
    int N;
} MatSeg;

static void matmul_segs(const float *in, const MatSeg *seg, int nseg, int n, int K, size_t min_par) {
    int ntiles[4], tot = 0;
    size_t work = 0;
    for (int g = 0; g < nseg; g++) {
        ntiles[g] = (seg[g].N + MM_TC - 1) / MM_TC;
        tot += ntiles[g];
        work += (size_t)n * seg[g].N * K;
    }
    // Threads split the output features (see Infer.min_parallel_matmul for when); every element is
    // computed by the same tile code whatever the split.
    #pragma omp parallel for schedule(static) if (work >= min_par)
    for (int t = 0; t < tot; t++) {
        int g = 0, tj = t;
        while (tj >= ntiles[g]) tj -= ntiles[g++];
        for (int i0 = 0; i0 < n; i0 += MM_TR) matmul_tile(seg[g].out, in, seg[g].W, n, K, seg[g].N, i0, tj * MM_TC);
    }
    for (int g = 0; g < nseg; g++)
        if (seg[g].bias)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < seg[g].N; j++) seg[g].out[(size_t)i * seg[g].N + j] += seg[g].bias[j];
}

static void matmul_rows(float *out, const float *in, const float *W, const float *bias, int n, int K, int N,
                        size_t min_par) {
    const MatSeg seg = {out, W, bias, N};
    matmul_segs(in, &seg, 1, n, K, min_par);
}

// out (C) = x (C) / sqrt(mean(x^2) + eps) * w (C), as HF LlamaRMSNorm / Qwen2RMSNorm in fp32.
static void rmsnorm_row(float *out, const float *x, const float *w, int C, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < C; i++) ss += x[i] * x[i];
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    for (int i = 0; i < C; i++) out[i] = x[i] * r * w[i];
}

// HF rotate_half RoPE on one head vector x (D) at table row (cos, sin) (D/2):
// x[i] <- x[i] cos - x[i + D/2] sin; x[i + D/2] <- x[i + D/2] cos + x[i] sin.
static void rope_head(float *x, const float *cs, const float *sn, int D) {
    const int h = D / 2;
    for (int i = 0; i < h; i++) {
        const float a = x[i], b = x[i + h];
        x[i] = a * cs[i] - b * sn[i];
        x[i + h] = b * cs[i] + a * sn[i];
    }
}

// Attention of the hpg query heads that share one KV head (a GQA group) over positions 0..npos-1 of
// that head in a slot's cache, so that each cached key/value row is read once per group, not once per
// query head. q, out (hpg, D) (the group's heads are consecutive); kbase/vbase (npos, D) the cached
// keys / values; sc (hpg, npos) scratch. Per element, fixed order: a score is a VL-lane dot product
// with a pairwise lane sum; an output is the sum over t in order, kept in registers.
static void attend_group(float *out, const float *q, const float *kbase, const float *vbase,
                         int npos, int D, int hpg, float *sc) {
    const float scale = 1.0f / sqrtf((float)D);
    const int DV = D - D % VL;
    for (int t = 0; t < npos; t++) {
        const float *k = kbase + (size_t)t * D;
        // The cache was evicted by the weight stream since the last step: its reads stall on memory
        // (perf: most of this function's time), so fetch keys a few rows ahead and this row's values
        // for the weighted sum below.
        for (int i = 0; i < D; i += 16) {
            __builtin_prefetch(k + (size_t)4 * D + i);
            __builtin_prefetch(vbase + (size_t)t * D + i);
        }
        for (int h = 0; h < hpg; h++) {
            const float *qh = q + (size_t)h * D;
            vf acc = {0};
            for (int i = 0; i < DV; i += VL) {
                vf qv, kv;
                memcpy(&qv, qh + i, sizeof(vf));
                memcpy(&kv, k + i, sizeof(vf));
                acc += qv * kv;
            }
            float d = hsum(acc);
            for (int i = DV; i < D; i++) d += qh[i] * k[i];
            sc[(size_t)h * npos + t] = d * scale;
        }
    }
    for (int h = 0; h < hpg; h++) {
        float *sh = sc + (size_t)h * npos;
        // vexpf (common/engine/ops.h), as the training forward: the same exp on both sides of the log-prob gap,
        // and it vectorises where libm's expf is a call per element (~5% of a small model's decode)
        float m = -INFINITY;
        #pragma omp simd reduction(max:m)
        for (int t = 0; t < npos; t++) m = sh[t] > m ? sh[t] : m;
        for (int t = 0; t < npos; t++) sh[t] = vexpf(sh[t] - m);
        float z = 0.0f;
        for (int t = 0; t < npos; t++) z += sh[t];
        const float inv = 1.0f / z;
        for (int t = 0; t < npos; t++) sh[t] *= inv;
    }
    // Blocks of up to 4 vectors of the output held in registers across the scan over t.
    for (int d0 = 0; d0 < DV; d0 += 4 * VL) {
        const int nv = imin(4, (DV - d0) / VL);
        for (int h = 0; h < hpg; h++) {
            const float *ph = sc + (size_t)h * npos;
            vf acc[4] = {{0}, {0}, {0}, {0}};
            if (nv == 4) {
                for (int t = 0; t < npos; t++) {
                    const float *v = vbase + (size_t)t * D + d0;
                    const vf pv = (vf){0} + ph[t];
                    for (int j = 0; j < 4; j++) {
                        vf vv;
                        memcpy(&vv, v + j * VL, sizeof(vf));
                        acc[j] += pv * vv;
                    }
                }
            } else {
                for (int t = 0; t < npos; t++) {
                    const float *v = vbase + (size_t)t * D + d0;
                    const vf pv = (vf){0} + ph[t];
                    for (int j = 0; j < nv; j++) {
                        vf vv;
                        memcpy(&vv, v + j * VL, sizeof(vf));
                        acc[j] += pv * vv;
                    }
                }
            }
            for (int j = 0; j < nv; j++) memcpy(out + (size_t)h * D + d0 + j * VL, &acc[j], sizeof(vf));
        }
    }
    for (int h = 0; h < hpg; h++)
        for (int i = DV; i < D; i++) {
            const float *ph = sc + (size_t)h * npos;
            float o = 0.0f;
            for (int t = 0; t < npos; t++) o += ph[t] * vbase[(size_t)t * D + i];
            out[(size_t)h * D + i] = o;
        }
}

// ---- state -----------------------------------------------------------------------------------------

int infer_init(Infer *s, const Model *m, int max_batch, int max_seq, char *err, size_t errlen) {
    memset(s, 0, sizeof(*s));
    const ModelConfig *cfg = &m->cfg;
    if (model_config_validate(cfg, err, errlen) != 0) return -1;
    if (max_batch < 1) return rlvr_err(err, errlen, "infer: max_batch = %d must be >= 1", max_batch);
    if (max_seq < 2) return rlvr_err(err, errlen, "infer: max_seq = %d must be >= 2 (prompt + one new token)", max_seq);
    if (kv_cache_init(&s->cache, cfg, max_batch, max_seq, err, errlen) != 0) return -1;
    s->model = m;
    model_view(m, m->params, &s->w);
    const int C = cfg->hidden_size, V = cfg->vocab_size, FF = cfg->intermediate_size, D = cfg->head_dim;
    const int QD = cfg->num_heads * D, KD = cfg->num_kv_heads * D;
    s->max_rows = imax(max_batch, 64);
    const size_t R = (size_t)s->max_rows;
    s->rope_cos = mallocCheck((size_t)max_seq * (D / 2) * sizeof(float));
    s->rope_sin = mallocCheck((size_t)max_seq * (D / 2) * sizeof(float));
    for (int i = 0; i < D / 2; i++) {
        // fp32 like HF: inv_freq = 1 / theta^(2i/D), angle = pos * inv_freq.
        const float inv_freq = 1.0f / powf(cfg->rope_theta, (float)(2 * i) / (float)D);
        for (int t = 0; t < max_seq; t++) {
            const float a = (float)t * inv_freq;
            s->rope_cos[(size_t)t * (D / 2) + i] = cosf(a);
            s->rope_sin[(size_t)t * (D / 2) + i] = sinf(a);
        }
    }
    s->x = mallocCheck(R * C * sizeof(float));
    s->xn = mallocCheck(R * C * sizeof(float));
    s->q = mallocCheck(R * QD * sizeof(float));
    s->k = mallocCheck(R * KD * sizeof(float));
    s->v = mallocCheck(R * KD * sizeof(float));
    s->att = mallocCheck(R * QD * sizeof(float));
    s->gate = mallocCheck(R * FF * sizeof(float));
    s->up = mallocCheck(R * FF * sizeof(float));
    s->proj = mallocCheck(R * imax(C, FF) * sizeof(float));
    // Per-thread scratch (attention scores, sampler) is sized for this many threads; the loops that
    // use it never run wider, even if omp_set_num_threads raises the count later.
    s->nthreads = omp_get_max_threads();
    s->min_parallel_work = (size_t)1 << 22;
    s->min_parallel_matmul = (size_t)1 << 18;
    s->scores = mallocCheck((size_t)s->nthreads * (cfg->num_heads / cfg->num_kv_heads) * max_seq * sizeof(float));
    s->hidden_out = mallocCheck((size_t)max_batch * C * sizeof(float));
    s->logits = mallocCheck((size_t)max_batch * V * sizeof(float));
    s->samp = mallocCheck((size_t)s->nthreads * sizeof(SamplerScratch));
    s->slot_rng = callocCheck((size_t)max_batch, sizeof(Rng));
    for (int t = 0; t < s->nthreads; t++) sampler_scratch_init(&s->samp[t], V);
    return 0;
}

void infer_free(Infer *s) {
    kv_cache_free(&s->cache);
    free(s->rope_cos); free(s->rope_sin);
    free(s->x); free(s->xn); free(s->q); free(s->k); free(s->v); free(s->att);
    free(s->gate); free(s->up); free(s->proj); free(s->scores);
    free(s->hidden_out); free(s->logits);
    if (s->samp)
        for (int t = 0; t < s->nthreads; t++) sampler_scratch_free(&s->samp[t]);
    free(s->samp);
    free(s->slot_rng);
    memset(s, 0, sizeof(*s));
}

// One chunk of R <= max_rows rows through all layers; rows' final-normed hidden states for the
// outputs that fall in this chunk go to hidden_out.
static void forward_chunk(Infer *s, int R, int row0, const int *slots, const int *pos, const int *tokens,
                          int n_out, const int *out_rows) {
    const ModelConfig *cfg = &s->model->cfg;
    const int C = cfg->hidden_size, FF = cfg->intermediate_size, D = cfg->head_dim;
    const int H = cfg->num_heads, KV = cfg->num_kv_heads, QD = H * D, KD = KV * D, hpg = H / KV;
    const float eps = cfg->rms_norm_eps;
    const ModelView *w = &s->w;
    KVCache *c = &s->cache;
    // Parallel regions cost a few microseconds each (more on a busy machine): only open them when a
    // loop has enough work. Attention work grows with the positions attended.
    const int par = (size_t)R * (C + FF) * 8 >= s->min_parallel_work;
    size_t att_work = 0;
    for (int i = 0; i < R; i++) att_work += (size_t)(pos[i] + 1) * H * D;
    const int par_att = att_work * 2 >= s->min_parallel_work;

    for (int i = 0; i < R; i++)
        memcpy(s->x + (size_t)i * C, w->embed_tokens + (size_t)tokens[i] * C, (size_t)C * sizeof(float));

    for (int l = 0; l < cfg->num_layers; l++) {
        const LayerView *lw = &w->layers[l];
        #pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < R; i++)
            rmsnorm_row(s->xn + (size_t)i * C, s->x + (size_t)i * C, lw->input_layernorm, C, eps);
        const MatSeg qkv[3] = {{s->q, lw->q_proj, lw->q_bias, QD}, {s->k, lw->k_proj, lw->k_bias, KD},
                               {s->v, lw->v_proj, lw->v_bias, KD}};
        matmul_segs(s->xn, qkv, 3, R, C, s->min_parallel_matmul);
        #pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < R; i++) {
            const float *cs = s->rope_cos + (size_t)pos[i] * (D / 2), *sn = s->rope_sin + (size_t)pos[i] * (D / 2);
            for (int h = 0; h < H; h++) rope_head(s->q + (size_t)i * QD + (size_t)h * D, cs, sn, D);
            for (int g = 0; g < KV; g++) rope_head(s->k + (size_t)i * KD + (size_t)g * D, cs, sn, D);
            for (int g = 0; g < KV; g++) {
                memcpy(kv_cache_head(c, c->k, slots[i], l, g) + (size_t)pos[i] * D, s->k + (size_t)i * KD + (size_t)g * D, (size_t)D * sizeof(float));
                memcpy(kv_cache_head(c, c->v, slots[i], l, g) + (size_t)pos[i] * D, s->v + (size_t)i * KD + (size_t)g * D, (size_t)D * sizeof(float));
            }
        }
        #pragma omp parallel for schedule(dynamic, 1) if (par_att) num_threads(s->nthreads)
        for (int ig = 0; ig < R * KV; ig++) {
            const int i = ig / KV, g = ig % KV, h = g * hpg;
            float *sc = s->scores + (size_t)omp_get_thread_num() * hpg * c->T;
            attend_group(s->att + (size_t)i * QD + (size_t)h * D, s->q + (size_t)i * QD + (size_t)h * D,
                         kv_cache_head(c, c->k, slots[i], l, g), kv_cache_head(c, c->v, slots[i], l, g), pos[i] + 1, D, hpg, sc);
        }
        matmul_rows(s->proj, s->att, lw->o_proj, NULL, R, QD, C, s->min_parallel_matmul);
        #pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < R; i++) {
            float *x = s->x + (size_t)i * C;
            const float *p = s->proj + (size_t)i * C;
            for (int j = 0; j < C; j++) x[j] += p[j];
            rmsnorm_row(s->xn + (size_t)i * C, x, lw->post_attention_layernorm, C, eps);
        }
        const MatSeg gu[2] = {{s->gate, lw->gate_proj, NULL, FF}, {s->up, lw->up_proj, NULL, FF}};
        matmul_segs(s->xn, gu, 2, R, C, s->min_parallel_matmul);
        #pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < R; i++) {
            float *g = s->gate + (size_t)i * FF;
            const float *u = s->up + (size_t)i * FF;
            for (int j = 0; j < FF; j++) g[j] = g[j] / (1.0f + vexpf(-g[j])) * u[j];   // silu(gate) * up, as ops.c
        }
        matmul_rows(s->proj, s->gate, lw->down_proj, NULL, R, FF, C, s->min_parallel_matmul);
        #pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < R; i++) {
            float *x = s->x + (size_t)i * C;
            const float *p = s->proj + (size_t)i * C;
            for (int j = 0; j < C; j++) x[j] += p[j];
        }
    }
    for (int j = 0; j < n_out; j++) {
        const int r = out_rows[j] - row0;
        if (r >= 0 && r < R) rmsnorm_row(s->hidden_out + (size_t)j * C, s->x + (size_t)r * C, w->norm, C, eps);
    }
}

void infer_forward(Infer *s, int n, const int *slots, const int *pos, const int *tokens,
                   int n_out, const int *out_rows, float *logits_out) {
    const ModelConfig *cfg = &s->model->cfg;
    KVCache *c = &s->cache;
    if (n_out > c->B) die("infer_forward: %d output rows exceed the batch capacity %d", n_out, c->B);
    for (int i = 0; i < n; i++) {
        // Programmer errors (the generation API validates user input before getting here).
        if (slots[i] < 0 || slots[i] >= c->B) die("infer_forward: row %d: slot %d outside 0..%d", i, slots[i], c->B - 1);
        if (pos[i] != c->len[slots[i]] || pos[i] >= c->T)
            die("infer_forward: row %d: position %d of slot %d must equal its length %d and be < max_seq %d",
                i, pos[i], slots[i], c->len[slots[i]], c->T);
        if (tokens[i] < 0 || tokens[i] >= cfg->vocab_size) die("infer_forward: row %d: token %d outside the vocabulary", i, tokens[i]);
        c->len[slots[i]]++;
    }
    s->forward_calls++;
    for (int j = 0; j < n_out; j++)
        if (out_rows[j] < 0 || out_rows[j] >= n) die("infer_forward: out_rows[%d] = %d outside 0..%d", j, out_rows[j], n - 1);
    for (int r0 = 0; r0 < n; r0 += s->max_rows) {
        const int R = imin(s->max_rows, n - r0);
        forward_chunk(s, R, r0, slots + r0, pos + r0, tokens + r0, n_out, out_rows);
    }
    if (n_out > 0)
        matmul_rows(logits_out, s->hidden_out, s->w.lm_head, NULL, n_out, cfg->hidden_size, cfg->vocab_size, s->min_parallel_matmul);
}

// ---- generation ------------------------------------------------------------------------------------

// Samples output j of a step for the request in its slot (genloop.h's backend step, CPU side).
static void cpu_step(void *ctx, int n, const int *slots, const int *pos, const int *tokens, int n_out,
                     const int *out_rows, const int *out_slots, const SamplerParams *sp, const uint64_t *seeds,
                     const uint64_t *draws, int *tok, float *logp, float *ent) {
    Infer *s = ctx;
    const int V = s->model->cfg.vocab_size;
    infer_forward(s, n, slots, pos, tokens, n_out, out_rows, s->logits);
    #pragma omp parallel for schedule(dynamic, 1) if (n_out > 1 && (size_t)n_out * V * 8 >= s->min_parallel_work) num_threads(s->nthreads)
    for (int j = 0; j < n_out; j++) {
        Rng *rng = &s->slot_rng[out_slots[j]];
        if (draws[j] == 0) rng_seed(rng, seeds[j]);   // one draw per token after that: the counter is the Rng's state
        tok[j] = sampler_sample(s->logits + (size_t)j * V, V, sp, rng, &s->samp[omp_get_thread_num()], &logp[j], &ent[j]);
    }
}

static void cpu_copy_prefix(void *ctx, int dst, int src, int len) {
    kv_cache_copy_prefix(&((Infer *)ctx)->cache, dst, src, len);
}

static void cpu_reset_slot(void *ctx, int slot) {
    ((Infer *)ctx)->cache.len[slot] = 0;
}

void infer_backend(Infer *s, GenBackend *be) {
    memset(be, 0, sizeof *be);
    be->ctx = s;
    be->max_batch = s->cache.B;
    be->max_seq = s->cache.T;
    be->vocab = s->model->cfg.vocab_size;
    be->step = cpu_step;
    be->copy_prefix = cpu_copy_prefix;
    be->reset_slot = cpu_reset_slot;
}

int infer_generate(Infer *s, int n_prompts, const int *const *prompts, const int *prompt_lens,
                   int n_req, const GenRequest *reqs, const GenParams *p, GenOutput *out,
                   char *err, size_t errlen) {
    GenBackend be;
    infer_backend(s, &be);
    return genloop_run(&be, n_prompts, prompts, prompt_lens, n_req, reqs, p, out, NULL, err, errlen);
}

int infer_generate_group(Infer *s, const int *prompt, int prompt_len, int G, uint64_t run_seed,
                         uint64_t prompt_id, const GenParams *p, GenOutput *out, char *err, size_t errlen) {
    if (G < 1) return rlvr_err(err, errlen, "generate: group size G = %d must be >= 1", G);
    GenRequest *reqs = mallocCheck((size_t)G * sizeof(GenRequest));
    for (int i = 0; i < G; i++) {
        reqs[i].prompt = 0;
        reqs[i].seed = sampler_seed(run_seed, prompt_id, (uint64_t)i);
    }
    const int *prompts[1] = {prompt};
    int rc = infer_generate(s, 1, prompts, &prompt_len, G, reqs, p, out, err, errlen);
    free(reqs);
    return rc;
}
