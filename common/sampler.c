#include "common/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"

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
}

void sampler_scratch_free(SamplerScratch *s) {
    free(s->prob);
    free(s->idx);
    free(s->tmp);
    memset(s, 0, sizeof(*s));
}

static int argmax(const float *x, int V) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

// Fills prob (V) with exp(logits/T - max) and returns the normaliser Z (double); *zmax = max(logits/T).
static double tempered_exp(const float *logits, int V, float T, float *prob, float *zmax) {
    const float inv = 1.0f / T;
    float m = -INFINITY;
    for (int i = 0; i < V; i++) m = fmaxf(m, logits[i] * inv);
    double Z = 0.0;
    for (int i = 0; i < V; i++) {
        prob[i] = expf(logits[i] * inv - m);
        Z += prob[i];
    }
    *zmax = m;
    return Z;
}

// Log-prob of token and entropy of softmax(z), given prob = exp(z - m) and Z = sum(prob).
static void stats_from_exp(const float *logits, int V, float T, const float *prob, double Z, float m,
                           int token, float *logprob, float *entropy) {
    const double logZ = log(Z);
    const float inv = 1.0f / T;
    if (logprob) *logprob = (float)((double)(logits[token] * inv - m) - logZ);
    if (entropy) {
        double s = 0.0;   // sum p_i * (z_i - m)
        for (int i = 0; i < V; i++)
            if (prob[i] > 0.0f) s += (double)prob[i] * (double)(logits[i] * inv - m);
        *entropy = (float)(logZ - s / Z);
    }
}

void sampler_logprob_entropy(const float *logits, int V, float T, int token, float *logprob, float *entropy) {
    double m = -INFINITY;
    for (int i = 0; i < V; i++) m = fmax(m, (double)logits[i] / T);
    double Z = 0.0, s = 0.0;
    for (int i = 0; i < V; i++) {
        double z = (double)logits[i] / T - m, e = exp(z);
        Z += e;
        s += e * z;
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
    float m;
    const float T = p->temperature > 0.0f ? p->temperature : 1.0f;
    double Z = tempered_exp(logits, V, T, s->prob, &m);
    double mass;
    int n = kept_set(s->prob, Z, V, p, s->idx, s->tmp, &mass);
    if (!(p->top_k > 0 && p->top_k < V) && !(p->top_p < 1.0f)) sort_by_prob(s->idx, n, s->prob, s->tmp);
    memcpy(out, s->idx, (size_t)n * sizeof(int));
    return n;
}

int sampler_sample(const float *logits, int V, const SamplerParams *p, Rng *rng, SamplerScratch *s,
                   float *logprob, float *entropy) {
    float m;
    if (p->temperature <= 0.0f) {
        int tok = argmax(logits, V);
        if (logprob || entropy) {
            double Z = tempered_exp(logits, V, 1.0f, s->prob, &m);
            stats_from_exp(logits, V, 1.0f, s->prob, Z, m, tok, logprob, entropy);
        }
        return tok;
    }
    const float T = p->temperature;
    double Z = tempered_exp(logits, V, T, s->prob, &m);
    const int truncate = (p->top_k > 0 && p->top_k < V) || p->top_p < 1.0f;
    const double u = rng_uniform_f64(rng);
    int tok = -1;
    if (!truncate) {
        double r = u * Z, cum = 0.0;
        for (int i = 0; i < V; i++) {
            cum += s->prob[i];
            if (r < cum && s->prob[i] > 0.0f) { tok = i; break; }
        }
        if (tok < 0) tok = argmax(logits, V);   // r landed on the rounding gap at the very end
    } else {
        double mass;
        int n = kept_set(s->prob, Z, V, p, s->idx, s->tmp, &mass);
        double r = u * mass, cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += s->prob[s->idx[i]];
            if (r < cum) { tok = s->idx[i]; break; }
        }
        if (tok < 0) tok = s->idx[n - 1];
    }
    stats_from_exp(logits, V, T, s->prob, Z, m, tok, logprob, entropy);
    return tok;
}
