// The paper's advantage shaping: perplexity factor (eq. 7, 9) and position bonus (eq. 8, 10).
#include "common/rl/algo.h"
#include "common/core/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- PPL shaping -----------------------------------------------------------------------------------

void ppl_params_from_config(const RlvrConfig *c, PplShapingParams *p) {
    p->alpha = c->algorithm_ppl_shaping_alpha;
    p->iqr_filter = c->algorithm_ppl_shaping_iqr_filter;
    p->has_clamp = c->algorithm_ppl_shaping_clamp.set;
    p->clamp_lo = c->algorithm_ppl_shaping_clamp.v[0];
    p->clamp_hi = c->algorithm_ppl_shaping_clamp.v[1];
    p->sigma_floor = c->algorithm_ppl_shaping_sigma_floor;
    p->sigma_ddof = (int)c->algorithm_ppl_shaping_sigma_ddof;
}

void ppl_params_default(PplShapingParams *p) {
    RlvrConfig c;
    config_defaults(&c);
    ppl_params_from_config(&c, p);
}

int ppl_params_check(const PplShapingParams *p, char *err, size_t errlen) {
    if (!isfinite(p->alpha))
        return rlvr_err(err, errlen, "algorithm.ppl_shaping.alpha must be a finite number (got %g)", p->alpha);
    if (!(p->sigma_floor >= 0) || !isfinite(p->sigma_floor))
        return rlvr_err(err, errlen, "algorithm.ppl_shaping.sigma_floor must be a finite number >= 0 (got %g)",
                        p->sigma_floor);
    if (p->sigma_ddof != 0 && p->sigma_ddof != 1)
        return rlvr_err(err, errlen, "algorithm.ppl_shaping.sigma_ddof must be 0 (population std) or 1 (sample std) (got %d)",
                        p->sigma_ddof);
    if (p->has_clamp && !(isfinite(p->clamp_lo) && isfinite(p->clamp_hi) && p->clamp_lo <= p->clamp_hi))
        return rlvr_err(err, errlen, "algorithm.ppl_shaping.clamp must be [lo, hi] with finite lo <= hi (got [%g, %g])",
                        p->clamp_lo, p->clamp_hi);
    return 0;
}

double response_log_ppl(const float *logp, size_t n) {
    if (n == 0) return 0.0;
    double s = 0.0;
    for (size_t t = 0; t < n; t++) s -= logp[t];
    return s / (double)n;
}

void response_log_ppl_rows(const float *logp, const float *mask, size_t B, size_t T, double *ln_ppl, int *len) {
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        size_t n = 0;
        for (size_t t = 0; t < T; t++)
            if (mask[b * T + t] != 0.0f) { s -= logp[b * T + t]; n++; }
        ln_ppl[b] = n ? s / (double)n : 0.0;
        if (len) len[b] = (int)n;
    }
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y);
}

// Linear-interpolation quantile of sorted v (n >= 1), numpy's default.
static double quantile_sorted(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo + 1 >= n) return v[n - 1];
    double frac = pos - (double)lo;
    return v[lo] + frac * (v[lo + 1] - v[lo]);
}

// mu and sigma (std with p->sigma_ddof) of x (n,), optionally after the 1.5*IQR fence; scratch (n,).
static void group_mu_sigma(const double *x, size_t n, const PplShapingParams *p, double *scratch,
                           double *mu, double *sigma) {
    double lo = -INFINITY, hi = INFINITY;
    if (p->iqr_filter && n >= 2) {
        memcpy(scratch, x, n * sizeof(double));
        qsort(scratch, n, sizeof(double), dbl_cmp);
        double q1 = quantile_sorted(scratch, n, 0.25), q3 = quantile_sorted(scratch, n, 0.75);
        lo = q1 - 1.5 * (q3 - q1);
        hi = q3 + 1.5 * (q3 - q1);
    }
    double s = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] >= lo && x[i] <= hi) { s += x[i]; k++; }
    // k >= 1 for finite input (the fence holds a sample between Q1 and Q3); guard non-finite input anyway.
    if (k == 0) { *mu = 0.0; *sigma = 1.0; return; }
    double m = s / (double)k, sq = 0.0;
    for (size_t i = 0; i < n; i++)
        if (x[i] >= lo && x[i] <= hi) sq += (x[i] - m) * (x[i] - m);
    size_t ddof = p->sigma_ddof > 0 ? (size_t)p->sigma_ddof : 0;
    double sd = k > ddof ? sqrt(sq / (double)(k - ddof)) : 0.0;
    if (sd <= p->sigma_floor) sd = 1.0;
    *mu = m;
    *sigma = sd;
}

void ppl_shaping(const float *adv_in, const int64_t *group, const double *ln_ppl, const int *len, size_t R,
                 const PplShapingParams *p, float *weights, float *adv_out) {
    if (R == 0) return;
    int *gid = mallocCheck(R * sizeof(int));
    size_t G = group_compact(group, R, gid);
    // Members of each group gathered contiguously: order (R,) sorted by gid, start (G+1,).
    size_t *start = callocCheck(G + 1, sizeof(size_t));
    size_t *order = mallocCheck(R * sizeof(size_t));
    for (size_t i = 0; i < R; i++) start[gid[i] + 1]++;
    for (size_t g = 0; g < G; g++) start[g + 1] += start[g];
    size_t *fill = mallocCheck((G + 1) * sizeof(size_t));
    memcpy(fill, start, (G + 1) * sizeof(size_t));
    for (size_t i = 0; i < R; i++) order[fill[gid[i]]++] = i;
    double *x = mallocCheck(R * sizeof(double)), *scratch = mallocCheck(R * sizeof(double));
    for (size_t g = 0; g < G; g++) {
        size_t n = 0;
        int all_equal = 1;
        for (size_t j = start[g]; j < start[g + 1]; j++) {
            size_t i = order[j];
            if (len && len[i] <= 0) continue;
            x[n] = ln_ppl[i];
            if (n > 0 && x[n] != x[0]) all_equal = 0;
            n++;
        }
        double mu = 0.0, sigma = 1.0;
        if (n > 0) group_mu_sigma(x, n, p, scratch, &mu, &sigma);
        for (size_t j = start[g]; j < start[g + 1]; j++) {
            size_t i = order[j];
            double w = 0.0;
            if (!(len && len[i] <= 0) && !all_equal) w = (ln_ppl[i] - mu) / sigma;
            double f = 1.0 - p->alpha * w;
            if (p->has_clamp) f = f < p->clamp_lo ? p->clamp_lo : (f > p->clamp_hi ? p->clamp_hi : f);
            if (weights) weights[i] = (float)w;
            adv_out[i] = (float)((double)adv_in[i] * f);
        }
    }
    free(scratch); free(x); free(fill); free(order); free(start); free(gid);
}

// ---- position shaping ------------------------------------------------------------------------------

void position_params_from_config(const RlvrConfig *c, PositionShapingParams *p) {
    p->gamma = c->algorithm_position_shaping_gamma;
    p->m = c->algorithm_position_shaping_m;
    p->n = c->algorithm_position_shaping_n;
    p->d = c->algorithm_position_shaping_d;
    p->has_cap = c->algorithm_position_shaping_cap.set;
    p->cap = c->algorithm_position_shaping_cap.v;
    p->start_step = c->algorithm_position_shaping_start_step;
    p->end_step = c->algorithm_position_shaping_end_step;
    p->start_at_plateau = c->algorithm_position_shaping_start_at_plateau;
}

void position_params_default(PositionShapingParams *p) {
    RlvrConfig c;
    config_defaults(&c);
    position_params_from_config(&c, p);
}

int position_params_check(const PositionShapingParams *p, char *err, size_t errlen) {
    if (!isfinite(p->gamma) || !isfinite(p->m) || !isfinite(p->n) || !isfinite(p->d))
        return rlvr_err(err, errlen, "algorithm.position_shaping.{gamma,m,n,d} must be finite numbers (got %g, %g, %g, %g)",
                        p->gamma, p->m, p->n, p->d);
    if (p->has_cap && !(p->cap >= 0 && isfinite(p->cap)))
        return rlvr_err(err, errlen, "algorithm.position_shaping.cap must be a finite number >= 0 or null (got %g)", p->cap);
    if (p->end_step >= 0 && p->end_step <= p->start_step)
        return rlvr_err(err, errlen, "algorithm.position_shaping.end_step (%ld) must be > start_step (%ld), or -1 for no end",
                        p->end_step, p->start_step);
    return 0;
}

int position_shaping_active(const PositionShapingParams *p, long step, long plateau_step) {
    long start = p->start_step, end = p->end_step;
    if (p->start_at_plateau) {
        if (plateau_step < 0) return 0;
        start = plateau_step - 1;   // so that the plateau step itself is the first active one
        end = p->end_step < 0 ? -1 : start + (p->end_step - p->start_step);
    }
    return step > start && (end < 0 || step < end);
}

void position_shaping_row(float adv, size_t len, const PositionShapingParams *p, float *out) {
    double a = adv, abs_a = fabs(a);
    double sgn = a > 0 ? 1.0 : (a < 0 ? -1.0 : 0.0);
    for (size_t t = 0; t < len; t++) {
        double l = (double)t / (double)len;   // (t-1)/|o| with 1-indexed t
        double r = p->m * (l - p->n);
        double b = p->gamma / (1.0 + exp(-p->d * r));
        if (p->has_cap && b > p->cap * abs_a) b = p->cap * abs_a;
        out[t] = (float)(a + sgn * b);
    }
}

void token_advantages(const float *adv, const int *len, size_t B, size_t T, const PositionShapingParams *p,
                      float *tok_adv) {
    for (size_t b = 0; b < B; b++) {
        size_t L = len[b] < 0 ? 0 : (size_t)len[b];
        if (L > T) L = T;
        float *row = tok_adv + b * T;
        if (p) position_shaping_row(adv[b], L, p, row);
        else for (size_t t = 0; t < L; t++) row[t] = adv[b];
        for (size_t t = L; t < T; t++) row[t] = 0.0f;
    }
}
