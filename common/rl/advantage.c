// Rewards, the DAPO overlong penalty, the dynamic-sampling group filter and GRPO group advantages.
#include "common/rl/algo.h"
#include "common/core/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int reward_format_parse(const char *s, RewardFormat *out) {
    if (!s) return -1;
    if (!strcmp(s, "pm1")) { *out = REWARD_PM1; return 0; }
    if (!strcmp(s, "01")) { *out = REWARD_01; return 0; }
    return -1;
}

float reward_from_correct(int correct, RewardFormat fmt) {
    if (fmt == REWARD_01) return correct ? 1.0f : 0.0f;
    return correct ? 1.0f : -1.0f;
}

void overlong_params_from_config(const RlvrConfig *c, OverlongParams *p) {
    p->max_len = (int)c->data_max_response_length;
    p->cache_len = (int)c->reward_overlong_buffer_len;
    p->factor = c->reward_overlong_buffer_penalty_factor;
}

int overlong_params_check(const OverlongParams *p, char *err, size_t errlen) {
    if (p->max_len <= 0)
        return rlvr_err(err, errlen, "data.max_response_length must be > 0 (got %d)", p->max_len);
    if (p->cache_len <= 0 || p->cache_len > p->max_len)
        return rlvr_err(err, errlen, "reward.overlong_buffer.len must be in (0, max_response_length=%d] (got %d)",
                        p->max_len, p->cache_len);
    if (!(p->factor >= 0) || !isfinite(p->factor))
        return rlvr_err(err, errlen, "reward.overlong_buffer.penalty_factor must be a finite number >= 0 (got %g)",
                        p->factor);
    return 0;
}

double overlong_penalty(long length, const OverlongParams *p) {
    double exceed = (double)length - (double)(p->max_len - p->cache_len);
    double pen = -exceed / (double)p->cache_len * p->factor;
    return pen < 0 ? pen : 0.0;
}

// ---- groups ----------------------------------------------------------------------------------------

typedef struct { int64_t key; size_t idx; } KeyIdx;

static int keyidx_cmp(const void *a, const void *b) {
    const KeyIdx *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int size_cmp(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : (x > y);
}

size_t group_compact(const int64_t *group, size_t R, int *gid) {
    if (R == 0) return 0;
    // Sort (key, index) so each group is one run; the run's first index is where the key first
    // appears; ordering groups by that index gives first-appearance ids. O(R log R).
    KeyIdx *ki = mallocCheck(R * sizeof(KeyIdx));
    for (size_t i = 0; i < R; i++) { ki[i].key = group[i]; ki[i].idx = i; }
    qsort(ki, R, sizeof(KeyIdx), keyidx_cmp);
    size_t *first = mallocCheck(R * sizeof(size_t));   // (G,) first index of each run
    size_t G = 0;
    for (size_t i = 0; i < R; i++)
        if (i == 0 || ki[i].key != ki[i - 1].key) first[G++] = ki[i].idx;
    qsort(first, G, sizeof(size_t), size_cmp);
    // gid of a run's members = rank of its first index among all firsts (binary search).
    size_t run_first = 0;
    for (size_t i = 0; i < R; i++) {
        if (i == 0 || ki[i].key != ki[i - 1].key) run_first = ki[i].idx;
        size_t lo = 0, hi = G;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (first[mid] < run_first) lo = mid + 1; else hi = mid;
        }
        gid[ki[i].idx] = (int)lo;
    }
    free(first);
    free(ki);
    return G;
}

size_t filter_groups(const int64_t *group, const float *metric, size_t R, uint8_t *keep, int *kept_groups) {
    if (R == 0) return 0;
    int *gid = mallocCheck(R * sizeof(int));
    size_t G = group_compact(group, R, gid);
    size_t *count = callocCheck(G, sizeof(size_t));
    float *firstval = mallocCheck(G * sizeof(float));
    uint8_t *varied = callocCheck(G, 1);
    for (size_t i = 0; i < R; i++) {
        int g = gid[i];
        if (count[g] == 0) firstval[g] = metric[i];
        else if (metric[i] != firstval[g]) varied[g] = 1;
        count[g]++;
    }
    size_t kept = 0;
    for (size_t g = 0; g < G; g++) {
        if (count[g] == 1) varied[g] = 1;   // verl keeps single-member groups
        if (varied[g] && kept_groups) kept_groups[kept] = (int)g;
        if (varied[g]) kept++;
    }
    for (size_t i = 0; i < R; i++) keep[i] = varied[gid[i]];
    free(varied); free(firstval); free(count); free(gid);
    return kept;
}

// ---- GRPO ------------------------------------------------------------------------------------------

void grpo_params_from_config(const RlvrConfig *c, GrpoParams *p) {
    p->epsilon = c->algorithm_epsilon;
    p->norm_by_std = c->algorithm_norm_adv_by_std_in_grpo;
}

void grpo_params_default(GrpoParams *p) {
    RlvrConfig c;
    config_defaults(&c);
    grpo_params_from_config(&c, p);
}

void grpo_advantage(const float *scores, const int64_t *group, size_t R, const GrpoParams *p, float *adv) {
    if (R == 0) return;
    int *gid = mallocCheck(R * sizeof(int));
    size_t G = group_compact(group, R, gid);
    double *sum = callocCheck(G, sizeof(double));     // (G,)
    double *sq = callocCheck(G, sizeof(double));      // (G,) sum of squared deviations
    size_t *cnt = callocCheck(G, sizeof(size_t));     // (G,)
    float *first = mallocCheck(G * sizeof(float));    // (G,)
    uint8_t *varied = callocCheck(G, 1);              // (G,)
    for (size_t i = 0; i < R; i++) {
        int g = gid[i];
        if (cnt[g] == 0) first[g] = scores[i];
        else if (scores[i] != first[g]) varied[g] = 1;
        sum[g] += scores[i];
        cnt[g]++;
    }
    for (size_t i = 0; i < R; i++) {  // two-pass variance: no cancellation for large rewards
        int g = gid[i];
        double d = scores[i] - sum[g] / (double)cnt[g];
        sq[g] += d * d;
    }
    for (size_t i = 0; i < R; i++) {
        int g = gid[i];
        double mean, sd;
        if (cnt[g] == 1) { mean = 0.0; sd = 1.0; }
        else if (!varied[g]) { adv[i] = 0.0f; continue; }   // exactly 0, not (x - mean(x)) rounding
        else { mean = sum[g] / (double)cnt[g]; sd = sqrt(sq[g] / (double)(cnt[g] - 1)); }
        double a = (double)scores[i] - mean;
        if (p->norm_by_std) a /= sd + p->epsilon;
        adv[i] = (float)a;
    }
    free(varied); free(first); free(cnt); free(sq); free(sum); free(gid);
}
