#include "common/engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

void sampler_params_default(SamplerParams *p) {
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->top_k = 0;
}

int sampler_params_validate(const SamplerParams *p, char *err, size_t errlen) {
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature))
        return rlvr_err(err, errlen, "sampler: temperature = %g must be a finite number >= 0 (0 = greedy)", p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return rlvr_err(err, errlen, "sampler: top_p = %g must be in (0, 1] (1 = off)", p->top_p);
    if (p->top_k < 0)
        return rlvr_err(err, errlen, "sampler: top_k = %d must be >= 0 (0 = off)", p->top_k);
    return 0;
}

uint64_t sampler_seed(uint64_t run_seed, uint64_t prompt_id, uint64_t sample_index) {
    return rng_mix(rng_mix(run_seed, prompt_id), sample_index);
}

void sampler_scratch_init(SamplerScratch *s, int V) {
    s->V = V;
    s->prob = mallocCheck((size_t)V * sizeof(float));
    s->idx = mallocCheck((size_t)V * sizeof(int));
    s->tmp = mallocCheck((size_t)V * sizeof(int));
    s->bsum = mallocCheck(((size_t)V / SAMP_BLOCK + 1) * sizeof(double));
}

void sampler_scratch_free(SamplerScratch *s) {
    free(s->prob);
    free(s->idx);
    free(s->tmp);
    free(s->bsum);
    memset(s, 0, sizeof(*s));
}

static int argmax(const float *x, int V) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

// ---- one fused pass over the vocabulary -------------------------------------------------------------
// The sampler's cost at V = 32000 is dominated by exp and by sequential double additions, so the
// tempered softmax statistics come from ONE vectorised pass: m = max(z), prob_i = exp(z_i - m),
// Z = sum prob_i, S = sum prob_i (z_i - m) (entropy = log Z - S / Z) and the sums of SAMP_BLOCK-token
// blocks (so drawing a token scans ~V / SAMP_BLOCK block sums plus one block, not V tokens). Every
// sum is in a fixed order (SL double lanes per block, lanes added pairwise, blocks in order), so the
// result is a deterministic function of the logits alone, the same in any batch or thread.
#ifdef __AVX512F__
#define SL 16
#else
#define SL 8
#endif
typedef float sf __attribute__((vector_size(SL * 4)));
typedef int si __attribute__((vector_size(SL * 4)));
typedef unsigned su __attribute__((vector_size(SL * 4)));
typedef double sd __attribute__((vector_size(SL * 8)));

// Per-lane select: a where mask (all-ones lanes) else b (GCC's vector ?: is C++ only).
static inline sf sel(si mask, sf a, sf b) {
    si ia, ib;
    memcpy(&ia, &a, sizeof(ia));
    memcpy(&ib, &b, sizeof(ib));
    ia = (ia & mask) | (ib & ~mask);
    memcpy(&a, &ia, sizeof(a));
    return a;
}

// exp(x) per lane for x <= 0 (exp of a shifted logit); 0 below -86.5 (and for -inf), where 2^n
// would leave the normal range. Range
// reduction x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial: within ~2 ulp of expf.
static inline sf exp_neg(sf x) {
    const sf magic = (sf){0} + 12582912.0f;   // 1.5 * 2^23: adding it rounds to an integer
    const sf t = x * 1.44269504088896341f + magic;
    const sf n = t - magic;
    sf r = x - n * 0.693145751953125f;         // ln2 split in a high part exact in float ...
    r = r - n * 1.428606765330187045e-06f;     // ... and the low part
    sf p = (sf){0} + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^n p by adding n to the exponent field, in unsigned lanes (wraps by design: n < 0, and
    // underflowed lanes are replaced below)
    const su nn = (su)__builtin_convertvector(n, si);
    su bits;
    memcpy(&bits, &p, sizeof(bits));
    bits += (nn << 23);
    sf e;
    memcpy(&e, &bits, sizeof(e));
    return sel(x < -86.5f, (sf){0}, e);
}

static inline double dsum_lanes(const sd *a) {   // fixed pairwise order
    double h[SL];
    memcpy(h, a, sizeof(h));
    for (int w = SL / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) h[i] += h[i + w];
    return h[0];
}

typedef struct {
    float m;        // max of the tempered logits
    double Z;       // sum exp(z - m)
    double S;       // sum exp(z - m) (z - m)
} SoftStats;

// prob (V) = exp(z - m), z = logits / T; bsum (ceil(V / SAMP_BLOCK)) block sums of prob.
static SoftStats soft_pass(const float *logits, int V, float T, float *prob, double *bsum) {
    const float inv = 1.0f / T;
    SoftStats st;
    const int VS = V - V % SL;
    sf mv = (sf){0} - INFINITY;
    for (int i = 0; i < VS; i += SL) {
        sf z;
        memcpy(&z, logits + i, sizeof(z));
        z *= inv;
        mv = sel(z > mv, z, mv);   // max is exact in any order
    }
    float m = -INFINITY;
    for (int l = 0; l < SL; l++) m = fmaxf(m, mv[l]);
    for (int i = VS; i < V; i++) m = fmaxf(m, logits[i] * inv);
    st.m = m;
    double Z = 0.0, S = 0.0;
    for (int b0 = 0, bi = 0; b0 < V; b0 += SAMP_BLOCK, bi++) {
        const int b1 = b0 + SAMP_BLOCK < V ? b0 + SAMP_BLOCK : V, bv = b1 - (b1 - b0) % SL;
        sd zacc = {0}, sacc = {0};
        for (int i = b0; i < bv; i += SL) {
            sf z;
            memcpy(&z, logits + i, sizeof(z));
            z = z * inv - m;
            const sf e = exp_neg(z);
            memcpy(prob + i, &e, sizeof(e));
            // z clamped where e == 0 anyway, so that e * z is 0 rather than NaN for z = -inf
            const sf zc = sel(z < -100.0f, (sf){0} - 100.0f, z);
            const sd ed = __builtin_convertvector(e, sd), zd = __builtin_convertvector(zc, sd);
            zacc += ed;
            sacc += ed * zd;
        }
        double bz = dsum_lanes(&zacc), bs = dsum_lanes(&sacc);
        for (int i = bv; i < b1; i++) {
            const float z = logits[i] * inv - m;
            const float e = expf(z);
            prob[i] = e;
            bz += e;
            if (e > 0.0f) bs += (double)e * (double)z;
        }
        bsum[bi] = bz;
        Z += bz;
        S += bs;
    }
    st.Z = Z;
    st.S = S;
    return st;
}

// Log-prob of token and entropy of softmax(z) from the pass's statistics.
static void stats_from_pass(const float *logits, float T, const SoftStats *st, int token, float *logprob, float *entropy) {
    const double logZ = log(st->Z);
    if (logprob) *logprob = (float)((double)(logits[token] * (1.0f / T) - st->m) - logZ);
    if (entropy) *entropy = (float)(logZ - st->S / st->Z);
}

void sampler_logprob_entropy(const float *logits, int V, float T, int token, float *logprob, float *entropy) {
    double m = -INFINITY;
    for (int i = 0; i < V; i++) m = fmax(m, (double)logits[i] / T);
    double Z = 0.0, s = 0.0;
    for (int i = 0; i < V; i++) {
        double z = (double)logits[i] / T - m, e = exp(z);
        Z += e;
        if (e > 0.0) s += e * z;   // a masked (-inf) logit adds nothing (0 * -inf would be NaN)
    }
    if (logprob) *logprob = (float)((double)logits[token] / T - m - log(Z));
    if (entropy) *entropy = (float)(log(Z) - s / Z);
}

// Strict total order: higher probability first, then lower token id.
static int better(const float *prob, int a, int b) {
    return prob[a] > prob[b] || (prob[a] == prob[b] && a < b);
}

static void sort_by_prob(int *idx, int n, const float *prob, int *tmp) {
    // Bottom-up merge sort (stable, reentrant, O(n log n)); tmp has room for n ints.
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = better(prob, idx[j], idx[i]) ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof(int));
    }
}

// Min-heap on `better` order (root = worst kept) for top-k selection.
static void heap_sift_down(int *h, int n, int i, const float *prob) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(prob, h[w], h[l])) w = l;
        if (r < n && better(prob, h[w], h[r])) w = r;
        if (w == i) return;
        int t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

// Computes the kept set into s->idx (sorted, best first) from prob (V) = exp(z - m), Z = sum(prob).
// Returns the count and writes the kept mass to *mass. tmp needs V ints.
static int kept_set(const float *prob, double Z, int V, const SamplerParams *p, int *idx, int *tmp, double *mass) {
    int n = 0;
    double base = Z;   // the mass top-p is relative to
    if (p->top_k > 0 && p->top_k < V) {
        const int k = p->top_k;
        for (int i = 0; i < k; i++) idx[n++] = i;
        for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(idx, k, i, prob);
        for (int i = k; i < V; i++)
            if (better(prob, i, idx[0])) { idx[0] = i; heap_sift_down(idx, k, 0, prob); }
        base = 0.0;
        for (int i = 0; i < k; i++) base += prob[idx[i]];
    } else if (p->top_p < 1.0f) {
        // Tokens with prob < (1 - p) / V carry less than 1 - p in total, so the nucleus (the best
        // prefix with mass >= p) never reaches them: drop them before sorting.
        const double thr = (1.0 - (double)p->top_p) / V * Z;
        for (int i = 0; i < V; i++)
            if ((double)prob[i] >= thr) idx[n++] = i;
    } else {
        for (int i = 0; i < V; i++) idx[n++] = i;
        double tot = 0.0;
        for (int i = 0; i < V; i++) tot += prob[i];
        *mass = tot;
        return n;   // no truncation: order does not matter for sampling
    }
    sort_by_prob(idx, n, prob, tmp);
    double cum = 0.0;
    int keep = n;
    if (p->top_p < 1.0f) {
        const double target = (double)p->top_p * base;
        for (int i = 0; i < n; i++) {
            cum += prob[idx[i]];
            if (cum >= target) { keep = i + 1; break; }
        }
        if (keep == n) { cum = 0.0; for (int i = 0; i < n; i++) cum += prob[idx[i]]; }   // rounding
    } else {
        for (int i = 0; i < n; i++) cum += prob[idx[i]];
    }
    *mass = cum;
    return keep;
}

int sampler_kept_set(const float *logits, int V, const SamplerParams *p, SamplerScratch *s, int *out) {
    const float T = p->temperature > 0.0f ? p->temperature : 1.0f;
    const SoftStats st = soft_pass(logits, V, T, s->prob, s->bsum);
    double mass;
    int n = kept_set(s->prob, st.Z, V, p, s->idx, s->tmp, &mass);
    if (!(p->top_k > 0 && p->top_k < V) && !(p->top_p < 1.0f)) sort_by_prob(s->idx, n, s->prob, s->tmp);
    memcpy(out, s->idx, (size_t)n * sizeof(int));
    return n;
}

int sampler_sample(const float *logits, int V, const SamplerParams *p, Rng *rng, SamplerScratch *s,
                   float *logprob, float *entropy) {
    if (p->temperature <= 0.0f) {
        int tok = argmax(logits, V);
        if (logprob || entropy) {
            const SoftStats st = soft_pass(logits, V, 1.0f, s->prob, s->bsum);
            stats_from_pass(logits, 1.0f, &st, tok, logprob, entropy);
        }
        return tok;
    }
    const float T = p->temperature;
    const SoftStats st = soft_pass(logits, V, T, s->prob, s->bsum);
    const int truncate = (p->top_k > 0 && p->top_k < V) || p->top_p < 1.0f;
    const double u = rng_uniform_f64(rng);
    int tok = -1;
    if (!truncate) {
        // Inverse CDF in two levels: the block whose running sum passes r, then the token inside it.
        const double r = u * st.Z;
        double cum = 0.0;
        int b = 0;
        const int nb = (V + SAMP_BLOCK - 1) / SAMP_BLOCK;
        while (b < nb - 1 && !(r < cum + s->bsum[b])) cum += s->bsum[b++];
        const int b0 = b * SAMP_BLOCK, b1 = b0 + SAMP_BLOCK < V ? b0 + SAMP_BLOCK : V;
        for (int i = b0; i < b1; i++) {
            if (s->prob[i] > 0.0f) tok = i;   // the last positive token if r falls in a rounding gap
            cum += s->prob[i];
            if (r < cum && s->prob[i] > 0.0f) break;
        }
        if (tok < 0) tok = argmax(logits, V);   // a block of zeros (only through rounding at its edge)
    } else {
        double mass;
        int n = kept_set(s->prob, st.Z, V, p, s->idx, s->tmp, &mass);
        double r = u * mass, cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += s->prob[s->idx[i]];
            if (r < cum) { tok = s->idx[i]; break; }
        }
        if (tok < 0) tok = s->idx[n - 1];
    }
    stats_from_pass(logits, T, &st, tok, logprob, entropy);
    return tok;
}
