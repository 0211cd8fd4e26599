// rlvr algo: the RL formulas as a JSON Lines calculator, so users can check what the learner will do
// with a batch. One request per line: {"op": ..., "params": {...}, "inputs": {...}}; one response per
// request, in order: {"op": ..., "outputs": {...}} or {"op": ..., "error": "..."}. A bad request gives
// an error line and the stream goes on. Unknown keys in params / inputs are errors (a typo must not
// silently fall back to a default). Blank lines are skipped.
//
// Exit status: 0 when every request succeeded, 1 when at least one got an error line, 2 on bad usage.
#include "common/tools/commands.h"
#include "common/core/check.h"
#include "common/rl/token_metrics.h"
#include "common/tasks/quality.h"
#include "common/rl/algo.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALGO_MAX_OUT_ELEMS ((size_t)1 << 26)   // cap on generated outputs (position_shaping rows)
#define ALGO_MAX_LEN 100000000L                // cap on a response length / token count

typedef struct {             // per-request allocations, freed together
    void **p;
    size_t n, cap;
} Pool;

static void *pool_alloc(Pool *pl, size_t bytes) {
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 32;
        pl->p = reallocCheck(pl->p, pl->cap * sizeof(void *));
    }
    void *q = callocCheck(1, bytes ? bytes : 1);
    pl->p[pl->n++] = q;
    return q;
}

static void pool_free(Pool *pl) {
    for (size_t i = 0; i < pl->n; i++) free(pl->p[i]);
    free(pl->p);
    memset(pl, 0, sizeof(*pl));
}

typedef struct {
    json_t *params, *inputs;
    Pool pool;
    char *err;
    size_t errlen;
} Req;

#define FAIL(...) return rlvr_err(rq->err, rq->errlen, __VA_ARGS__)

// ---- keys and parameters ---------------------------------------------------------------------------

static int check_keys(Req *rq, json_t *obj, const char *what, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) if (!strcmp(*a, key)) ok = 1;
        if (!ok) {
            char list[512] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof(list) - strlen(list) - 1);
                if (a[1]) strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            }
            FAIL("unknown key %s.%s (allowed: %s)", what, key, *allowed ? list : "none");
        }
    }
    return 0;
}

// Number param: missing -> def; *was_null (optional) set when the value is JSON null (allowed only then).
static int p_num(Req *rq, const char *key, double def, double *out, int *was_null) {
    json_t *v = json_object_get(rq->params, key);
    *out = def;   // every path leaves a defined value, even on error
    if (was_null) *was_null = 0;
    if (!v) { *out = def; return 0; }
    if (json_is_null(v) && was_null) { *was_null = 1; *out = def; return 0; }
    if (!json_is_number(v)) FAIL("params.%s must be a number%s", key, was_null ? " or null" : "");
    *out = json_number_value(v);
    if (!isfinite(*out)) FAIL("params.%s must be finite", key);
    return 0;
}

static int p_int(Req *rq, const char *key, long def, int required, long lo, long hi, long *out) {
    json_t *v = json_object_get(rq->params, key);
    *out = def;
    if (!v) {
        if (required) FAIL("missing params.%s (an integer in [%ld, %ld])", key, lo, hi);
        *out = def;
        return 0;
    }
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || d != floor(d) || d < (double)lo || d > (double)hi)
        FAIL("params.%s must be an integer in [%ld, %ld]", key, lo, hi);
    *out = (long)d;
    return 0;
}

static int p_bool(Req *rq, const char *key, int def, int *out) {
    json_t *v = json_object_get(rq->params, key);
    *out = def;
    if (!v) { *out = def; return 0; }
    if (!json_is_boolean(v)) FAIL("params.%s must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int p_str(Req *rq, const char *key, const char *def, const char **out) {
    json_t *v = json_object_get(rq->params, key);
    *out = def;
    if (!v) { *out = def; return 0; }
    if (!json_is_string(v)) FAIL("params.%s must be a string", key);
    *out = json_string_value(v);
    return 0;
}

// ---- input arrays ----------------------------------------------------------------------------------

static json_t *in_get(Req *rq, const char *key, int required, int *rc) {
    json_t *v = json_object_get(rq->inputs, key);
    *rc = 0;
    if (!v && required) *rc = rlvr_err(rq->err, rq->errlen, "missing inputs.%s", key);
    return v;
}

// One element as a float. masked: the position is under mask 0, so any number or null is accepted and
// read as 0 (junk there must have no effect).
static int elem_f(Req *rq, json_t *v, int masked, const char *path, float *out) {
    *out = 0.0f;
    if (masked) {
        if (!json_is_number(v) && !json_is_null(v)) FAIL("%s must be a number or null", path);
        *out = 0.0f;
        return 0;
    }
    if (!json_is_number(v)) FAIL("%s must be a number (got %s)", path, json_is_null(v) ? "null" : "a non-number");
    double d = json_number_value(v);
    if (!isfinite(d) || fabs(d) > FLT_MAX) FAIL("%s = %g is outside the float32 range", path, d);
    *out = (float)d;
    return 0;
}

static int elem_int(Req *rq, json_t *v, long lo, long hi, const char *path, long *out) {
    *out = 0;
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || d != floor(d) || d < (double)lo || d > (double)hi)
        FAIL("%s must be an integer in [%ld, %ld]", path, lo, hi);
    *out = (long)d;
    return 0;
}

// 1-D number array. want: required length or 0 for any.
static int in_vec(Req *rq, const char *key, size_t want, int required, float **out, size_t *n) {
    int rc;
    json_t *a = in_get(rq, key, required, &rc);
    *out = NULL;
    if (n) *n = 0;
    if (rc) return rc;
    if (!a) return 0;
    if (!json_is_array(a)) FAIL("inputs.%s must be an array of numbers", key);
    size_t len = json_array_size(a);
    if (want && len != want) FAIL("inputs.%s has %zu entries, expected %zu (one per response/row)", key, len, want);
    float *v = pool_alloc(&rq->pool, len * sizeof(float));
    char path[128];
    for (size_t i = 0; i < len; i++) {
        snprintf(path, sizeof(path), "inputs.%s[%zu]", key, i);
        if (elem_f(rq, json_array_get(a, i), 0, path, &v[i])) return -1;
    }
    *out = v;
    if (n) *n = len;
    return 0;
}

static int in_ivec(Req *rq, const char *key, size_t want, long lo, long hi, int **out, size_t *n) {
    int rc;
    json_t *a = in_get(rq, key, 1, &rc);
    if (rc) return rc;
    if (!json_is_array(a)) FAIL("inputs.%s must be an array of integers", key);
    size_t len = json_array_size(a);
    if (want && len != want) FAIL("inputs.%s has %zu entries, expected %zu", key, len, want);
    int *v = pool_alloc(&rq->pool, len * sizeof(int));
    char path[128];
    for (size_t i = 0; i < len; i++) {
        long x;
        snprintf(path, sizeof(path), "inputs.%s[%zu]", key, i);
        if (elem_int(rq, json_array_get(a, i), lo, hi, path, &x)) return -1;
        v[i] = (int)x;
    }
    *out = v;
    if (n) *n = len;
    return 0;
}

// Checks that a is a [rows][width] list of lists and returns rows / width (width of row 0 unless given).
static int shape2(Req *rq, json_t *a, const char *key, size_t want_rows, size_t want_width, size_t *rows, size_t *width) {
    if (!json_is_array(a)) FAIL("inputs.%s must be a list of rows ([row][token])", key);
    size_t R = json_array_size(a);
    if (want_rows != (size_t)-1 && R != want_rows) FAIL("inputs.%s has %zu rows, expected %zu", key, R, want_rows);
    size_t W = want_width;
    for (size_t b = 0; b < R; b++) {
        json_t *row = json_array_get(a, b);
        if (!json_is_array(row)) FAIL("inputs.%s[%zu] must be a list (rows are padded to one width)", key, b);
        if (W == (size_t)-1) W = json_array_size(row);
        if (json_array_size(row) != W)
            FAIL("inputs.%s[%zu] has %zu entries, expected %zu (pad every row to one width and mark padding with mask 0)",
                 key, b, json_array_size(row), W);
    }
    *rows = R;
    *width = W == (size_t)-1 ? 0 : W;
    return 0;
}

// The 0/1 mask (B, T); numbers 0/1 or booleans.
static int in_mask(Req *rq, const char *key, size_t want_B, size_t want_T, float **out, size_t *B, size_t *T) {
    int rc;
    json_t *a = in_get(rq, key, 1, &rc);
    if (rc) return rc;
    if (shape2(rq, a, key, want_B, want_T, B, T)) return -1;
    float *m = pool_alloc(&rq->pool, *B * *T * sizeof(float));
    for (size_t b = 0; b < *B; b++)
        for (size_t t = 0; t < *T; t++) {
            json_t *v = json_array_get(json_array_get(a, b), t);
            if (json_is_boolean(v)) m[b * *T + t] = json_is_true(v);
            else if (json_is_number(v) && (json_number_value(v) == 0 || json_number_value(v) == 1))
                m[b * *T + t] = (float)json_number_value(v);
            else FAIL("inputs.%s[%zu][%zu] must be 0 or 1", key, b, t);
        }
    *out = m;
    return 0;
}

// A (B, T) number matrix matching the mask; positions under mask 0 may hold anything numeric or null.
static int in_mat(Req *rq, const char *key, size_t B, size_t T, const float *mask, float **out) {
    int rc;
    json_t *a = in_get(rq, key, 1, &rc);
    if (rc) return rc;
    size_t R, W;
    if (shape2(rq, a, key, B, T, &R, &W)) return -1;
    float *v = pool_alloc(&rq->pool, B * T * sizeof(float));
    char path[160];
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++) {
            snprintf(path, sizeof(path), "inputs.%s[%zu][%zu]", key, b, t);
            if (elem_f(rq, json_array_get(json_array_get(a, b), t), mask && mask[b * T + t] == 0.0f, path, &v[b * T + t]))
                return -1;
        }
    *out = v;
    return 0;
}

// Group ids: strings or integers -> int64 keys (equal ids get equal keys). orig (R,) borrowed values.
typedef struct { const char *s; size_t i; } StrIdx;
static int stridx_cmp(const void *a, const void *b) {
    const StrIdx *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->i < y->i ? -1 : (x->i > y->i));
}

static int in_groups(Req *rq, const char *key, size_t want, int64_t **keys, json_t ***orig, size_t *n) {
    int rc;
    json_t *a = in_get(rq, key, 1, &rc);
    if (rc) return rc;
    if (!json_is_array(a)) FAIL("inputs.%s must be an array of group ids (strings or integers)", key);
    size_t R = json_array_size(a);
    if (want && R != want) FAIL("inputs.%s has %zu entries, expected %zu", key, R, want);
    StrIdx *si = pool_alloc(&rq->pool, R * sizeof(StrIdx));
    json_t **o = pool_alloc(&rq->pool, R * sizeof(json_t *));
    for (size_t i = 0; i < R; i++) {
        json_t *v = json_array_get(a, i);
        o[i] = v;
        char *s;
        if (json_is_string(v)) {
            size_t L = json_string_length(v);
            s = pool_alloc(&rq->pool, L + 2);
            s[0] = 's';
            memcpy(s + 1, json_string_value(v), L);
        } else if (json_is_integer(v)) {
            s = pool_alloc(&rq->pool, 32);
            snprintf(s, 32, "i%lld", (long long)json_integer_value(v));
        } else FAIL("inputs.%s[%zu] must be a string or an integer group id", key, i);
        si[i].s = s;
        si[i].i = i;
    }
    qsort(si, R, sizeof(StrIdx), stridx_cmp);
    int64_t *k = pool_alloc(&rq->pool, R * sizeof(int64_t));
    int64_t cur = -1;
    for (size_t j = 0; j < R; j++) {
        if (j == 0 || strcmp(si[j].s, si[j - 1].s)) cur++;
        k[si[j].i] = cur;
    }
    *keys = k;
    if (orig) *orig = o;
    if (n) *n = R;
    return 0;
}

// ---- outputs ---------------------------------------------------------------------------------------

static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *jvec(const float *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, jnum(v[i]));
    return a;
}

static json_t *jmat(const float *v, size_t B, size_t T) {
    json_t *a = json_array();
    for (size_t b = 0; b < B; b++) json_array_append_new(a, jvec(v + b * T, T));
    return a;
}

// ---- ops -------------------------------------------------------------------------------------------

static int op_reward(Req *rq, json_t *out) {
    static const char *const pk[] = {"format", NULL}, *const ik[] = {"correct", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    const char *fs;
    RewardFormat fmt;
    if (p_str(rq, "format", "pm1", &fs)) return -1;
    if (reward_format_parse(fs, &fmt)) FAIL("params.format must be \"pm1\" (+1/-1) or \"01\" (1/0), got \"%s\"", fs);
    int rc;
    json_t *a = in_get(rq, "correct", 1, &rc);
    if (rc) return rc;
    if (!json_is_array(a)) FAIL("inputs.correct must be an array of booleans (or 0/1)");
    json_t *sc = json_array();
    json_object_set_new(out, "scores", sc);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        int c;
        if (json_is_boolean(v)) c = json_is_true(v);
        else if (json_is_number(v) && (json_number_value(v) == 0 || json_number_value(v) == 1)) c = json_number_value(v) == 1;
        else FAIL("inputs.correct[%zu] must be true/false or 0/1", i);
        json_array_append_new(sc, jnum(reward_from_correct(c, fmt)));
    }
    return 0;
}

static int op_grpo(Req *rq, json_t *out) {
    static const char *const pk[] = {"epsilon", "norm_by_std", NULL}, *const ik[] = {"scores", "group", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    GrpoParams p;
    grpo_params_default(&p);
    if (p_num(rq, "epsilon", p.epsilon, &p.epsilon, NULL) || p_bool(rq, "norm_by_std", 1, &p.norm_by_std)) return -1;
    if (p.epsilon < 0) FAIL("params.epsilon must be >= 0");
    float *scores;
    size_t R;
    int64_t *g;
    if (in_vec(rq, "scores", 0, 1, &scores, &R) || in_groups(rq, "group", R, &g, NULL, NULL)) return -1;
    float *adv = pool_alloc(&rq->pool, R * sizeof(float));
    grpo_advantage(scores, g, R, &p, adv);
    json_object_set_new(out, "advantages", jvec(adv, R));
    return 0;
}

static int op_overlong(Req *rq, json_t *out) {
    static const char *const pk[] = {"max_len", "cache_len", "factor", NULL}, *const ik[] = {"lengths", "scores", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    long ml, cl;
    OverlongParams p;
    if (p_int(rq, "max_len", 0, 1, 1, ALGO_MAX_LEN, &ml) || p_int(rq, "cache_len", 0, 1, 1, ALGO_MAX_LEN, &cl) ||
        p_num(rq, "factor", 1.0, &p.factor, NULL))
        return -1;
    p.max_len = (int)ml;
    p.cache_len = (int)cl;
    if (overlong_params_check(&p, rq->err, rq->errlen)) return -1;
    int *len;
    size_t R;
    float *scores;
    if (in_ivec(rq, "lengths", 0, 0, ALGO_MAX_LEN, &len, &R) || in_vec(rq, "scores", R, 1, &scores, NULL)) return -1;
    json_t *pen = json_array(), *rew = json_array();
    json_object_set_new(out, "penalty", pen);
    json_object_set_new(out, "reward", rew);
    for (size_t i = 0; i < R; i++) {
        double pe = overlong_penalty(len[i], &p);
        json_array_append_new(pen, jnum(pe));
        json_array_append_new(rew, jnum((double)scores[i] + pe));
    }
    return 0;
}

static int op_filter_groups(Req *rq, json_t *out) {
    static const char *const pk[] = {NULL}, *const ik[] = {"group", "metric", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    int64_t *g;
    json_t **orig;
    size_t R;
    float *metric;
    if (in_groups(rq, "group", 0, &g, &orig, &R) || in_vec(rq, "metric", R, 1, &metric, NULL)) return -1;
    uint8_t *keep = pool_alloc(&rq->pool, R);
    int *kept = pool_alloc(&rq->pool, R * sizeof(int));
    int *gid = pool_alloc(&rq->pool, R * sizeof(int));
    size_t nk = filter_groups(g, metric, R, keep, kept);
    size_t G = group_compact(g, R, gid);
    // Original id of each compact group: its first member's value.
    json_t **gval = pool_alloc(&rq->pool, (G ? G : 1) * sizeof(json_t *));
    for (size_t i = R; i-- > 0;) gval[gid[i]] = orig[i];
    json_t *kg = json_array(), *ki = json_array();
    json_object_set_new(out, "kept_groups", kg);
    json_object_set_new(out, "kept_index", ki);
    for (size_t j = 0; j < nk; j++) json_array_append(kg, gval[kept[j]]);
    for (size_t i = 0; i < R; i++) if (keep[i]) json_array_append_new(ki, json_integer((json_int_t)i));
    return 0;
}

static int op_ppl_shaping(Req *rq, json_t *out) {
    static const char *const pk[] = {"alpha", "iqr_filter", "clamp", "sigma_floor", "sigma_ddof", NULL},
                             *const ik[] = {"advantages", "group", "logprobs", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    PplShapingParams p;
    ppl_params_default(&p);
    if (p_num(rq, "alpha", p.alpha, &p.alpha, NULL) || p_bool(rq, "iqr_filter", 0, &p.iqr_filter) ||
        p_num(rq, "sigma_floor", p.sigma_floor, &p.sigma_floor, NULL))
        return -1;
    long ddof;
    if (p_int(rq, "sigma_ddof", p.sigma_ddof, 0, 0, 1, &ddof)) return -1;
    p.sigma_ddof = (int)ddof;
    json_t *c = json_object_get(rq->params, "clamp");
    p.has_clamp = 0;
    if (c && !json_is_null(c)) {
        if (!json_is_array(c) || json_array_size(c) != 2 || !json_is_number(json_array_get(c, 0)) ||
            !json_is_number(json_array_get(c, 1)))
            FAIL("params.clamp must be [lo, hi] (e.g. [0.8, 1.2]) or null");
        p.has_clamp = 1;
        p.clamp_lo = json_number_value(json_array_get(c, 0));
        p.clamp_hi = json_number_value(json_array_get(c, 1));
    }
    if (ppl_params_check(&p, rq->err, rq->errlen)) return -1;
    float *adv;
    size_t R;
    int64_t *g;
    if (in_vec(rq, "advantages", 0, 1, &adv, &R) || in_groups(rq, "group", R, &g, NULL, NULL)) return -1;
    int rc;
    json_t *lp = in_get(rq, "logprobs", 1, &rc);
    if (rc) return rc;
    if (!json_is_array(lp) || json_array_size(lp) != R)
        FAIL("inputs.logprobs must be a list of %zu rows (one unpadded list of token log-probs per response)", R);
    double *ln_ppl = pool_alloc(&rq->pool, R * sizeof(double));
    int *len = pool_alloc(&rq->pool, R * sizeof(int));
    char path[128];
    for (size_t i = 0; i < R; i++) {
        json_t *row = json_array_get(lp, i);
        if (!json_is_array(row)) FAIL("inputs.logprobs[%zu] must be a list of numbers", i);
        size_t n = json_array_size(row);
        double s = 0.0;
        for (size_t t = 0; t < n; t++) {
            float x;
            snprintf(path, sizeof(path), "inputs.logprobs[%zu][%zu]", i, t);
            if (elem_f(rq, json_array_get(row, t), 0, path, &x)) return -1;
            s -= x;
        }
        ln_ppl[i] = n ? s / (double)n : 0.0;
        len[i] = (int)(n < (size_t)ALGO_MAX_LEN ? n : ALGO_MAX_LEN);
    }
    float *w = pool_alloc(&rq->pool, R * sizeof(float)), *aout = pool_alloc(&rq->pool, R * sizeof(float));
    ppl_shaping(adv, g, ln_ppl, len, R, &p, w, aout);
    json_object_set_new(out, "weights", jvec(w, R));
    json_object_set_new(out, "advantages", jvec(aout, R));
    return 0;
}

static int op_position_shaping(Req *rq, json_t *out) {
    static const char *const pk[] = {"gamma", "m", "n", "d", "cap", "step", "start_step", "end_step",
                                     "start_at_plateau", "plateau_step", NULL},
                             *const ik[] = {"advantages", "lengths", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    PositionShapingParams p;
    position_params_default(&p);
    int cap_null;
    long step, plateau;
    if (p_num(rq, "gamma", p.gamma, &p.gamma, NULL) || p_num(rq, "m", p.m, &p.m, NULL) ||
        p_num(rq, "n", p.n, &p.n, NULL) || p_num(rq, "d", p.d, &p.d, NULL) ||
        p_num(rq, "cap", p.cap, &p.cap, &cap_null) ||
        p_int(rq, "start_step", p.start_step, 0, -1000000000L, 1000000000L, &p.start_step) ||
        p_int(rq, "end_step", p.end_step, 0, -1, 1000000000L, &p.end_step) ||
        p_bool(rq, "start_at_plateau", 0, &p.start_at_plateau) ||
        p_int(rq, "step", -1, 0, -1, 1000000000L, &step) ||
        p_int(rq, "plateau_step", -1, 0, -1, 1000000000L, &plateau))
        return -1;
    p.has_cap = !cap_null;
    if (position_params_check(&p, rq->err, rq->errlen)) return -1;
    float *adv;
    size_t R;
    int *len;
    if (in_vec(rq, "advantages", 0, 1, &adv, &R) || in_ivec(rq, "lengths", R, 0, ALGO_MAX_LEN, &len, NULL)) return -1;
    size_t total = 0;
    for (size_t i = 0; i < R; i++) total += (size_t)len[i];
    if (total > ALGO_MAX_OUT_ELEMS) FAIL("inputs.lengths sum to %zu tokens, more than this tool outputs (%zu)", total, ALGO_MAX_OUT_ELEMS);
    // With params.step the step window decides; without it the bonus is applied (a pure formula check).
    int active = step < 0 ? 1 : position_shaping_active(&p, step, plateau);
    json_t *rows = json_array();
    json_object_set_new(out, "advantages", rows);
    json_object_set_new(out, "active", json_boolean(active));
    for (size_t i = 0; i < R; i++) {
        float *row = pool_alloc(&rq->pool, (size_t)len[i] * sizeof(float));
        if (active) position_shaping_row(adv[i], (size_t)len[i], &p, row);
        else for (int t = 0; t < len[i]; t++) row[t] = adv[i];
        json_array_append_new(rows, jvec(row, (size_t)len[i]));
    }
    return 0;
}

static int read_agg(Req *rq, AggParams *a, double ntok_local, double nseq_local) {
    const char *mode;
    if (p_str(rq, "loss_agg_mode", "token-mean", &mode)) return -1;
    if (loss_agg_parse(mode, &a->mode))
        FAIL("params.loss_agg_mode must be token-mean, seq-mean-token-sum or seq-mean-token-mean (got \"%s\")", mode);
    int gt_null, gs_null;
    if (p_num(rq, "global_tokens", 0, &a->global_tokens, &gt_null) || p_num(rq, "global_seqs", 0, &a->global_seqs, &gs_null))
        return -1;
    if (json_object_get(rq->params, "global_tokens") && !gt_null && a->global_tokens < ntok_local)
        FAIL("params.global_tokens (%g) must be >= the valid tokens in this batch (%g): it counts them over all ranks",
             a->global_tokens, ntok_local);
    if (json_object_get(rq->params, "global_seqs") && !gs_null && a->global_seqs < nseq_local)
        FAIL("params.global_seqs (%g) must be >= the non-empty rows in this batch (%g)", a->global_seqs, nseq_local);
    return 0;
}

static void count_mask(const float *mask, size_t B, size_t T, double *ntok, double *nseq) {
    *ntok = 0;
    *nseq = 0;
    for (size_t b = 0; b < B; b++) {
        double l = 0;
        for (size_t t = 0; t < T; t++) l += mask[b * T + t] != 0.0f;
        *ntok += l;
        *nseq += l > 0;
    }
}

static int op_policy_loss(Req *rq, json_t *out) {
    static const char *const pk[] = {"clip_ratio_low", "clip_ratio_high", "clip_ratio_c", "loss_agg_mode",
                                     "global_tokens", "global_seqs", NULL},
                             *const ik[] = {"log_prob", "old_log_prob", "advantages", "mask", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    PolicyLossParams p;
    policy_loss_params_default(&p);
    int c_null;
    if (p_num(rq, "clip_ratio_low", p.clip_ratio_low, &p.clip_ratio_low, NULL) ||
        p_num(rq, "clip_ratio_high", p.clip_ratio_high, &p.clip_ratio_high, NULL) ||
        p_num(rq, "clip_ratio_c", p.clip_ratio_c, &p.clip_ratio_c, &c_null))
        return -1;
    p.dual_clip = !c_null;
    float *mask, *lp, *old, *adv;
    size_t B, T;
    if (in_mask(rq, "mask", (size_t)-1, (size_t)-1, &mask, &B, &T)) return -1;
    double ntok, nseq;
    count_mask(mask, B, T, &ntok, &nseq);
    if (read_agg(rq, &p.agg, ntok, nseq) || policy_loss_params_check(&p, rq->err, rq->errlen)) return -1;
    if (in_mat(rq, "log_prob", B, T, mask, &lp) || in_mat(rq, "old_log_prob", B, T, mask, &old) ||
        in_mat(rq, "advantages", B, T, mask, &adv))
        return -1;
    size_t n = B * T;
    PolicyLossOut o = {pool_alloc(&rq->pool, n * sizeof(float)), pool_alloc(&rq->pool, n * sizeof(float)),
                       pool_alloc(&rq->pool, n * sizeof(float)), pool_alloc(&rq->pool, n * sizeof(float))};
    PolicyLossStats st;
    policy_loss(lp, old, adv, mask, B, T, &p, &o, &st);
    json_object_set_new(out, "loss", jnum(st.pg_loss));
    json_object_set_new(out, "clipfrac", jnum(st.pg_clipfrac));
    json_object_set_new(out, "clipfrac_lower", jnum(st.pg_clipfrac_lower));
    json_object_set_new(out, "ppo_kl", jnum(st.ppo_kl));
    json_object_set_new(out, "token_loss", jmat(o.token_loss, B, T));
    json_object_set_new(out, "ratio", jmat(o.ratio, B, T));
    json_object_set_new(out, "grad", jmat(o.dlogp, B, T));
    json_object_set_new(out, "coef", jmat(o.coef, B, T));
    return 0;
}

static int op_agg_loss(Req *rq, json_t *out) {
    static const char *const pk[] = {"loss_agg_mode", "global_tokens", "global_seqs", NULL},
                             *const ik[] = {"loss", "mask", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    float *mask, *loss;
    size_t B, T;
    AggParams a;
    if (in_mask(rq, "mask", (size_t)-1, (size_t)-1, &mask, &B, &T)) return -1;
    double ntok, nseq;
    count_mask(mask, B, T, &ntok, &nseq);
    if (read_agg(rq, &a, ntok, nseq) || in_mat(rq, "loss", B, T, mask, &loss)) return -1;
    json_object_set_new(out, "loss", jnum(agg_loss(loss, mask, B, T, &a)));
    return 0;
}

static int read_temperature(Req *rq, float *T) {
    double t;
    *T = 1.0f;
    if (p_num(rq, "temperature", 1.0, &t, NULL)) return -1;
    if (!(t >= 1e-4 && t <= 1e4)) FAIL("params.temperature must be in [1e-4, 1e4] (got %g)", t);
    *T = (float)t;
    return 0;
}

static int op_entropy(Req *rq, json_t *out) {
    static const char *const pk[] = {"temperature", NULL}, *const ik[] = {"logits", "labels", "mask", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    float temp;
    if (read_temperature(rq, &temp)) return -1;
    int rc;
    json_t *lg = in_get(rq, "logits", 1, &rc);
    if (rc) return rc;
    size_t B, T;
    if (shape2(rq, lg, "logits", (size_t)-1, (size_t)-1, &B, &T)) return -1;
    float *mask = NULL;
    if (json_object_get(rq->inputs, "mask")) {
        size_t mb, mt;
        if (in_mask(rq, "mask", B, T, &mask, &mb, &mt)) return -1;
    }
    // Vocabulary width from the first valid position; every valid position must match it.
    size_t V = 0;
    for (size_t i = 0; i < B * T && V == 0; i++)
        if (!mask || mask[i] != 0.0f) {
            json_t *cell = json_array_get(json_array_get(lg, i / T), i % T);
            if (!json_is_array(cell) || json_array_size(cell) == 0)
                FAIL("inputs.logits[%zu][%zu] must be a non-empty list of V logits", i / T, i % T);
            V = json_array_size(cell);
        }
    float *logits = pool_alloc(&rq->pool, B * T * (V ? V : 1) * sizeof(float));
    int *labels = pool_alloc(&rq->pool, B * T * sizeof(int));
    json_t *la = in_get(rq, "labels", 1, &rc);
    if (rc) return rc;
    size_t lb, lt;
    if (shape2(rq, la, "labels", B, T, &lb, &lt)) return -1;
    char path[160];
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++) {
            size_t i = b * T + t;
            if (mask && mask[i] == 0.0f) continue;   // junk under mask 0: never read
            json_t *cell = json_array_get(json_array_get(lg, b), t);
            if (!json_is_array(cell) || json_array_size(cell) != V)
                FAIL("inputs.logits[%zu][%zu] must be a list of %zu logits (one vocabulary width)", b, t, V);
            for (size_t v = 0; v < V; v++) {
                snprintf(path, sizeof(path), "inputs.logits[%zu][%zu][%zu]", b, t, v);
                if (elem_f(rq, json_array_get(cell, v), 0, path, &logits[i * V + v])) return -1;
            }
            long x;
            snprintf(path, sizeof(path), "inputs.labels[%zu][%zu]", b, t);
            if (elem_int(rq, json_array_get(json_array_get(la, b), t), 0, (long)V - 1, path, &x)) return -1;
            labels[i] = (int)x;
        }
    float *H = pool_alloc(&rq->pool, B * T * sizeof(float)), *lp = pool_alloc(&rq->pool, B * T * sizeof(float));
    if (V > 0) token_entropy_rows(logits, labels, B * T, V, temp, H, lp);
    if (mask) for (size_t i = 0; i < B * T; i++) if (mask[i] == 0.0f) H[i] = lp[i] = 0.0f;
    json_object_set_new(out, "entropy", jmat(H, B, T));
    json_object_set_new(out, "log_prob", jmat(lp, B, T));
    return 0;
}

static int op_kl(Req *rq, json_t *out) {
    static const char *const pk[] = {"kl_type", NULL}, *const ik[] = {"log_prob", "ref_log_prob", "mask", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    const char *ks;
    KlType k;
    if (p_str(rq, "kl_type", "k3", &ks)) return -1;
    if (kl_type_parse(ks, &k)) FAIL("params.kl_type must be k1 (kl), abs, k2 (mse) or k3 (low_var_kl), got \"%s\"", ks);
    int rc;
    json_t *a = in_get(rq, "log_prob", 1, &rc);
    if (rc) return rc;
    size_t B, T;
    if (shape2(rq, a, "log_prob", (size_t)-1, (size_t)-1, &B, &T)) return -1;
    float *mask = NULL, *lp, *ref;
    if (json_object_get(rq->inputs, "mask")) {
        size_t mb, mt;
        if (in_mask(rq, "mask", B, T, &mask, &mb, &mt)) return -1;
    }
    if (in_mat(rq, "log_prob", B, T, mask, &lp) || in_mat(rq, "ref_log_prob", B, T, mask, &ref)) return -1;
    float *kl = pool_alloc(&rq->pool, B * T * sizeof(float)), *g = pool_alloc(&rq->pool, B * T * sizeof(float));
    kl_penalty(lp, ref, mask, B * T, k, kl, g);
    json_object_set_new(out, "kl", jmat(kl, B, T));
    json_object_set_new(out, "grad", jmat(g, B, T));
    return 0;
}

static int op_grad_norm_proxy(Req *rq, json_t *out) {
    static const char *const pk[] = {"temperature", NULL},
                             *const ik[] = {"logits", "labels", "hidden_norm", "coef", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    float temp;
    if (read_temperature(rq, &temp)) return -1;
    int rc;
    json_t *lg = in_get(rq, "logits", 1, &rc);
    if (rc) return rc;
    size_t N, V;
    if (shape2(rq, lg, "logits", (size_t)-1, (size_t)-1, &N, &V)) return -1;
    if (N > 0 && V == 0) FAIL("inputs.logits rows must hold at least one logit");
    float *logits = pool_alloc(&rq->pool, N * V * sizeof(float)), *hn, *coef;
    int *labels;
    char path[128];
    for (size_t i = 0; i < N; i++)
        for (size_t v = 0; v < V; v++) {
            snprintf(path, sizeof(path), "inputs.logits[%zu][%zu]", i, v);
            if (elem_f(rq, json_array_get(json_array_get(lg, i), v), 0, path, &logits[i * V + v])) return -1;
        }
    if (in_ivec(rq, "labels", N, 0, V ? (long)V - 1 : 0, &labels, NULL) || in_vec(rq, "hidden_norm", N, 1, &hn, NULL) ||
        in_vec(rq, "coef", N, 1, &coef, NULL))
        return -1;
    if (N > 0 && (json_array_size(json_object_get(rq->inputs, "labels")) != N)) FAIL("inputs.labels must have %zu entries", N);
    for (size_t i = 0; i < N; i++) if (hn[i] < 0) FAIL("inputs.hidden_norm[%zu] must be >= 0 (it is a norm)", i);
    float *g = pool_alloc(&rq->pool, N * sizeof(float));
    grad_norm_proxy(logits, labels, hn, coef, N, V, temp, g);
    json_object_set_new(out, "g", jvec(g, N));
    return 0;
}

static int op_quality(Req *rq, json_t *out) {
    static const char *const pk[] = {"ngram", "max_repeats", NULL}, *const ik[] = {"text", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    QualityParams p;
    quality_params_default(&p);
    long ng, mr;
    if (p_int(rq, "ngram", p.ngram, 0, 1, 1024, &ng) || p_int(rq, "max_repeats", p.max_repeats, 0, 2, 1000000, &mr)) return -1;
    p.ngram = (int)ng;
    p.max_repeats = (int)mr;
    int rc;
    json_t *a = in_get(rq, "text", 1, &rc);
    if (rc) return rc;
    if (!json_is_array(a)) FAIL("inputs.text must be an array of strings (one per response)");
    const char *names[] = {"boxed_count", "bad_boxed", "cjk_count", "has_cjk", "max_ngram_count", "repeat_frac",
                           "repetitive", "any"};
    json_t *col[8];
    for (int j = 0; j < 8; j++) { col[j] = json_array(); json_object_set_new(out, names[j], col[j]); }
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s)) FAIL("inputs.text[%zu] must be a string", i);
        QualityFlags f;
        quality_check_text(json_string_value(s), json_string_length(s), &p, &f);
        json_array_append_new(col[0], json_integer(f.boxed_count));
        json_array_append_new(col[1], json_boolean(f.bad_boxed));
        json_array_append_new(col[2], json_integer(f.cjk_count));
        json_array_append_new(col[3], json_boolean(f.has_cjk));
        json_array_append_new(col[4], json_integer(f.max_ngram_count));
        json_array_append_new(col[5], jnum(f.repeat_frac));
        json_array_append_new(col[6], json_boolean(f.repetitive));
        json_array_append_new(col[7], json_boolean(f.any));
    }
    return 0;
}

static int op_stage(Req *rq, json_t *out) {
    static const char *const pk[] = {"window", "acc_slope_max", "ent_drop_max", "patience", "min_step", NULL},
                             *const ik[] = {"accuracy", "entropy", NULL};
    if (check_keys(rq, rq->params, "params", pk) || check_keys(rq, rq->inputs, "inputs", ik)) return -1;
    StageParams p;
    stage_params_default(&p);
    long w, pa;
    if (p_int(rq, "window", p.window, 0, 2, 1000000, &w) || p_num(rq, "acc_slope_max", p.acc_slope_max, &p.acc_slope_max, NULL) ||
        p_num(rq, "ent_drop_max", p.ent_drop_max, &p.ent_drop_max, NULL) ||
        p_int(rq, "patience", p.patience, 0, 1, 1000000, &pa) || p_int(rq, "min_step", 0, 0, 0, 1000000000L, &p.min_step))
        return -1;
    p.window = (int)w;
    p.patience = (int)pa;
    float *acc, *ent;
    size_t na, ne;
    if (in_vec(rq, "accuracy", 0, 0, &acc, &na) || in_vec(rq, "entropy", 0, 0, &ent, &ne)) return -1;
    if (!acc && !ent) FAIL("inputs need accuracy [N] and/or entropy [N] (histories, oldest first)");
    if (acc && ent && na != ne) FAIL("inputs.accuracy (%zu) and inputs.entropy (%zu) must have the same length", na, ne);
    size_t n = acc ? na : ne;
    double *da = acc ? pool_alloc(&rq->pool, n * sizeof(double)) : NULL;
    double *de = ent ? pool_alloc(&rq->pool, n * sizeof(double)) : NULL;
    for (size_t i = 0; i < n; i++) { if (da) da[i] = acc[i]; if (de) de[i] = ent[i]; }
    long at;
    TrainStage s = stage_detect(da, de, n, &p, &at);
    json_object_set_new(out, "stage", json_string(s == STAGE_PLATEAU ? "plateau" : "rising"));
    json_object_set_new(out, "plateau_index", at < 0 ? json_null() : json_integer(at));
    return 0;
}

typedef int (*OpFn)(Req *, json_t *);
static const struct { const char *name; OpFn fn; } OPS[] = {
    {"reward", op_reward}, {"grpo_advantage", op_grpo}, {"overlong", op_overlong},
    {"filter_groups", op_filter_groups}, {"ppl_shaping", op_ppl_shaping}, {"position_shaping", op_position_shaping},
    {"policy_loss", op_policy_loss}, {"agg_loss", op_agg_loss}, {"entropy", op_entropy}, {"kl", op_kl},
    {"grad_norm_proxy", op_grad_norm_proxy}, {"quality", op_quality}, {"stage", op_stage},
};

// Handles one request line; returns the response object (never NULL).
static json_t *handle_line(const char *line, size_t len, long lineno) {
    char err[1024] = "";
    json_error_t jerr;
    json_t *resp = json_object();
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        json_object_set_new(resp, "op", json_null());
        snprintf(err, sizeof(err), "line %ld: not JSON: %s (column %d); send one JSON object per line", lineno,
                 jerr.text, jerr.column);
        json_object_set_new(resp, "error", json_string(err));
        return resp;
    }
    json_t *op = json_is_object(req) ? json_object_get(req, "op") : NULL;
    json_object_set(resp, "op", op && json_is_string(op) ? op : json_null());
    Req rq = {0};
    rq.err = err;
    rq.errlen = sizeof(err);
    int rc = -1;
    json_t *outputs = json_object();
    if (!json_is_object(req)) rlvr_err(err, sizeof(err), "request must be an object {\"op\", \"params\", \"inputs\"}");
    else if (!op || !json_is_string(op)) rlvr_err(err, sizeof(err), "missing \"op\" (a string naming the operation)");
    else {
        const char *name = json_string_value(op);
        OpFn fn = NULL;
        for (size_t i = 0; i < sizeof(OPS) / sizeof(OPS[0]); i++) if (!strcmp(OPS[i].name, name)) fn = OPS[i].fn;
        static const char *const top[] = {"op", "params", "inputs", NULL};
        rq.params = json_object_get(req, "params");
        rq.inputs = json_object_get(req, "inputs");
        if (!fn) rlvr_err(err, sizeof(err), "unknown op \"%s\" (run 'rlvr algo --help' for the list)", name);
        else if (check_keys(&rq, req, "request", top)) {}
        else if (rq.params && !json_is_object(rq.params)) rlvr_err(err, sizeof(err), "\"params\" must be an object");
        else if (!rq.inputs || !json_is_object(rq.inputs)) rlvr_err(err, sizeof(err), "missing \"inputs\" object");
        else {
            json_t *empty = NULL;
            if (!rq.params) rq.params = empty = json_object();
            rc = fn(&rq, outputs);
            json_decref(empty);
        }
    }
    pool_free(&rq.pool);
    if (rc == 0) json_object_set_new(resp, "outputs", outputs);
    else {
        json_decref(outputs);
        char msg[1100];
        snprintf(msg, sizeof(msg), "line %ld: %s", lineno, err);
        json_object_set_new(resp, "error", json_string(msg));
    }
    json_decref(req);
    return resp;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: rlvr algo [FILE|-]\n"
        "Reads JSON Lines requests {\"op\", \"params\", \"inputs\"} (FILE or stdin) and writes one response\n"
        "line per request: {\"op\", \"outputs\"} or {\"op\", \"error\"}. 2-D inputs are [row][token] lists\n"
        "padded to one width with a 0/1 \"mask\"; values under mask 0 have no effect.\n\n"
        "ops (docs/algorithms.md has every formula, default and paper equation):\n"
        "  reward            correct[R] ; format pm1|01 -> scores\n"
        "  grpo_advantage    scores[R], group[R] ; epsilon, norm_by_std -> advantages\n"
        "  overlong          lengths[R], scores[R] ; max_len, cache_len, factor -> penalty, reward\n"
        "  filter_groups     group[R], metric[R] -> kept_groups, kept_index\n"
        "  ppl_shaping       advantages[R], group[R], logprobs[R][*] ; alpha, iqr_filter, clamp, sigma_floor,\n"
        "                    sigma_ddof\n"
        "                    -> weights, advantages\n"
        "  position_shaping  advantages[R], lengths[R] ; gamma, m, n, d, cap, [step, start_step, end_step,\n"
        "                    start_at_plateau, plateau_step] -> advantages[R][len], active\n"
        "  policy_loss       log_prob, old_log_prob, advantages, mask [B][T] ; clip_ratio_low, clip_ratio_high,\n"
        "                    clip_ratio_c, loss_agg_mode, global_tokens, global_seqs\n"
        "                    -> loss, clipfrac, clipfrac_lower, ppo_kl, token_loss, ratio, grad, coef\n"
        "  agg_loss          loss, mask [B][T] ; loss_agg_mode, global_tokens, global_seqs -> loss\n"
        "  entropy           logits[B][T][V], labels[B][T], [mask] ; temperature -> entropy, log_prob\n"
        "  kl                log_prob, ref_log_prob [B][T], [mask] ; kl_type k1|abs|k2|k3 -> kl, grad\n"
        "  grad_norm_proxy   logits[N][V], labels[N], hidden_norm[N], coef[N] ; temperature -> g\n"
        "  quality           text[R] ; ngram, max_repeats -> boxed_count, bad_boxed, cjk_count, has_cjk,\n"
        "                    max_ngram_count, repeat_frac, repetitive, any\n"
        "  stage             accuracy[N], entropy[N] ; window, acc_slope_max, ent_drop_max, patience, min_step\n"
        "                    -> stage, plateau_index\n\n"
        "exit status: 0 all requests answered, 1 some got an error line, 2 bad usage\n");
}

int cmd_algo(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (path) { fprintf(stderr, "rlvr algo: one input file at most (got '%s' and '%s')\n", path, argv[i]); return 2; }
        path = argv[i];
    }
    FILE *in = stdin;
    if (path && strcmp(path, "-")) {
        in = fopen(path, "rb");
        if (!in) { fprintf(stderr, "rlvr algo: cannot open '%s': %s (hint: check the path)\n", path, strerror(errno)); return 2; }
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int failed = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == len) continue;   // blank line: not a request
        json_t *resp = handle_line(line, len, lineno);
        if (json_object_get(resp, "error")) failed = 1;
        char *s = json_dumps(resp, JSON_COMPACT | JSON_REAL_PRECISION(9));
        if (!s) die("rlvr algo: could not serialise the response to line %ld", lineno);
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
        json_decref(resp);
    }
    free(line);
    if (in != stdin) fclose(in);
    return failed ? 1 : 0;
}
