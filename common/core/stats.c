#include "common/core/stats.h"

#include <math.h>
#include <stdlib.h>

#include "common/core/check.h"

double stats_quantile_sorted(const double *sorted, size_t n, double q) {
    if (n == 0) return NAN;
    if (q <= 0) return sorted[0];
    if (q >= 1) return sorted[n - 1];
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (h - (double)lo) * (sorted[hi] - sorted[lo]);
}

// qsort has no context argument: sort (value, index) pairs so ties fall back to the index.
typedef struct { double v; size_t i; } ValIdx;

static int cmp_validx(const void *pa, const void *pb) {
    const ValIdx *a = pa, *b = pb;
    if (a->v < b->v) return -1;
    if (a->v > b->v) return 1;
    return (a->i > b->i) - (a->i < b->i);
}

static ValIdx *sorted_pairs(const double *x, size_t n) {
    ValIdx *p = mallocCheck((n ? n : 1) * sizeof(ValIdx));   // (n)
    for (size_t i = 0; i < n; i++) { p[i].v = x[i]; p[i].i = i; }
    qsort(p, n, sizeof(ValIdx), cmp_validx);
    return p;
}

void stats_rank_bins(const double *x, size_t n, int nbins, int *bin) {
    ValIdx *p = sorted_pairs(x, n);
    for (size_t r = 0; r < n; r++) bin[p[r].i] = (int)((double)r * nbins / (double)n);
    free(p);
}

void stats_ranks(const double *x, size_t n, double *rank) {
    ValIdx *p = sorted_pairs(x, n);
    for (size_t r = 0; r < n;) {
        size_t e = r + 1;
        while (e < n && p[e].v == p[r].v) e++;
        double avg = 0.5 * (double)(r + 1 + e);   // mean of ranks r+1 .. e
        for (size_t k = r; k < e; k++) rank[p[k].i] = avg;
        r = e;
    }
    free(p);
}

double stats_pearson(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return NAN;
    return sxy / sqrt(sxx * syy);
}

double stats_spearman(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double *rx = mallocCheck(n * sizeof(double)), *ry = mallocCheck(n * sizeof(double));   // (n) each
    stats_ranks(x, n, rx);
    stats_ranks(y, n, ry);
    double r = stats_pearson(rx, ry, n);
    free(rx); free(ry);
    return r;
}
