#include "common/rl/token_metrics.h"

#include <math.h>

// max of z/T and log-sum-exp of z/T for one row, in double.
static double row_lse(const float *z, size_t V, double invT, double *zmax) {
    double m = -INFINITY;
    for (size_t v = 0; v < V; v++) if ((double)z[v] * invT > m) m = (double)z[v] * invT;
    double s = 0.0;
    for (size_t v = 0; v < V; v++) s += exp((double)z[v] * invT - m);
    *zmax = m;
    return m + log(s);
}

float token_entropy(const float *logits, size_t V, float temperature, int label, float *logp_label) {
    double invT = 1.0 / (double)temperature, m;
    double lse = row_lse(logits, V, invT, &m);
    double pz = 0.0;   // sum_v p_v * z_v / T
    for (size_t v = 0; v < V; v++) {
        double zt = (double)logits[v] * invT;
        pz += exp(zt - lse) * zt;
    }
    if (logp_label) *logp_label = (label >= 0 && (size_t)label < V) ? (float)((double)logits[label] * invT - lse) : 0.0f;
    double H = lse - pz;
    return (float)(H > 0 ? H : 0.0);   // rounding can give -1e-17 for a one-hot distribution
}

void token_entropy_rows(const float *logits, const int *labels, size_t N, size_t V, float temperature,
                        float *entropy, float *logp) {
    #pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)N; i++) {
        float lp = 0.0f;
        entropy[i] = token_entropy(logits + (size_t)i * V, V, temperature, labels ? labels[i] : -1, &lp);
        if (logp) logp[i] = lp;
    }
}

void token_entropy_backward(const float *logits, size_t V, float temperature, float dH, float *dlogits) {
    double invT = 1.0 / (double)temperature, m;
    double lse = row_lse(logits, V, invT, &m);
    double H = 0.0;
    for (size_t v = 0; v < V; v++) {
        double lp = (double)logits[v] * invT - lse;
        H -= exp(lp) * lp;
    }
    for (size_t v = 0; v < V; v++) {
        double lp = (double)logits[v] * invT - lse;
        dlogits[v] += (float)((double)dH * -invT * exp(lp) * (lp + H));
    }
}

float onehot_minus_softmax_norm(const float *logits, size_t V, float temperature, int label) {
    double invT = 1.0 / (double)temperature, m;
    double lse = row_lse(logits, V, invT, &m);
    double sq = 0.0, pl = 0.0;
    for (size_t v = 0; v < V; v++) {
        double p = exp((double)logits[v] * invT - lse);
        sq += p * p;
        if ((int)v == label) pl = p;
    }
    double r = 1.0 - 2.0 * pl + sq;
    return (float)sqrt(r > 0 ? r : 0.0);
}

void grad_norm_proxy(const float *logits, const int *labels, const float *hidden_norm, const float *coef,
                     size_t N, size_t V, float temperature, float *g) {
    #pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)N; i++) {
        double e = onehot_minus_softmax_norm(logits + (size_t)i * V, V, temperature, labels[i]);
        g[i] = (float)(fabs((double)coef[i]) * e * fabs((double)hidden_norm[i]));
    }
}

void logprob_gap(const float *a, const float *b, const float *mask, size_t n, double *mean_abs, double *max_abs) {
    double s = 0.0, mx = 0.0, k = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0.0f) continue;
        double d = fabs((double)a[i] - (double)b[i]);
        s += d;
        if (d > mx) mx = d;
        k += 1;
    }
    if (mean_abs) *mean_abs = k > 0 ? s / k : 0.0;
    if (max_abs) *max_abs = mx;
}
