// Validation of message values, run on every decoded message and usable on messages built locally:
// the ranges of the schema tables (proto/wire_schema.c), then each message's cross-field checks.
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/wire_schema.h"

static size_t path_prefix(const WirePath *at, char *dst, size_t cap, int trailing_dot) {
    if (!at) return 0;
    size_t k = path_prefix(at->up, dst, cap, 1);
    int n = at->index >= 0 ? snprintf(dst + k, cap - k, "%s[%ld]%s", at->key, at->index, trailing_dot ? "." : "")
                           : snprintf(dst + k, cap - k, "%s%s", at->key, trailing_dot ? "." : "");
    if (n > 0) k += (size_t)n;
    return k < cap ? k : cap - 1;
}

void wire_path_name(const WirePath *at, char *dst, size_t cap) {
    if (!at) snprintf(dst, cap, "top level");
    else path_prefix(at, dst, cap, 0);
}

int wire_fail(WireReport *r, WireBad b, const WirePath *at, const char *fmt, ...) {
    r->bad = b;
    if (r->err && r->errlen) {
        int k = snprintf(r->err, r->errlen, "%s: ", r->msg);
        size_t n = k > 0 && (size_t)k < r->errlen ? (size_t)k : 0;
        n += path_prefix(at, r->err + n, r->errlen - n, 1);
        if (n < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errlen - n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

const char *wire_lim_name(int l) {
    static const char *const names[] = {"", "max_tokens", "max_prompt_tokens", "max_group", "max_text_bytes", "max_chunk_bytes"};
    return l >= 0 && l < (int)(sizeof names / sizeof names[0]) ? names[l] : "?";
}

// "in [1, max_group=1024]", ">= 0", "in (0, 1]": what the range admits.
static void range_text(const WireRange *g, const WireLimits *lim, char *dst, size_t cap) {
    char hi[64] = "";
    if (g->hi_lim) snprintf(hi, sizeof hi, "%s=%lld", wire_lim_name(g->hi_lim), (long long)wire_lim_value(lim, g->hi_lim));
    else if (g->has_hi) snprintf(hi, sizeof hi, "%g", g->hi);
    if (g->has_lo && hi[0]) snprintf(dst, cap, "in %c%g, %s]", g->lo_open ? '(' : '[', g->lo, hi);
    else if (g->has_lo) snprintf(dst, cap, "%s %g", g->lo_open ? ">" : ">=", g->lo);
    else snprintf(dst, cap, "<= %s", hi);
}

static int in_range(const WireRange *g, const WireLimits *lim, double x) {
    if (g->has_lo && (g->lo_open ? !(x > g->lo) : !(x >= g->lo))) return 0;
    if (g->hi_lim) return x <= (double)wire_lim_value(lim, g->hi_lim);
    return !g->has_hi || x <= g->hi;
}

static int value_fail(WireReport *r, const WirePath *at, const WireField *f, const char *value) {
    char want[96];
    range_text(&f->range, r->lim, want, sizeof want);
    return wire_fail(r, WIRE_BAD_VALUE, at, "'%s' = %s must be %s%s%s%s", f->key, value, want, f->hint ? " (" : "", f->hint ? f->hint : "",
                     f->hint ? ")" : "");
}

int wire_check_count(WireReport *r, const WirePath *at, const WireField *f, int64_t n, const char *unit, int upper_only) {
    const WireRange *g = &f->range;
    int64_t lo = g->has_lo ? (int64_t)g->lo : 0;
    int64_t hi = g->hi_lim ? wire_lim_value(r->lim, g->hi_lim) : g->has_hi ? (int64_t)g->hi : INT64_MAX;
    if (f->kind == WK_STRBUF) hi = (int64_t)f->size - 1;   // room for the NUL
    if ((upper_only || n >= lo) && n <= hi) return 0;
    if (n == 0 && (f->kind == WK_STRBUF || f->kind == WK_STR))
        return wire_fail(r, WIRE_BAD_VALUE, at, "'%s' is empty%s%s%s", f->key, f->hint ? " (" : "", f->hint ? f->hint : "", f->hint ? ")" : "");
    WireRange shown = *g;   // both bounds, in the error
    shown.has_lo = 1;
    shown.lo = (double)lo;
    if (f->kind == WK_STRBUF) { shown.has_hi = 1; shown.hi = (double)hi; }
    char want[96];
    range_text(&shown, r->lim, want, sizeof want);
    return wire_fail(r, WIRE_BAD_LENGTH, at, "'%s' has %lld %s (must be %s)", f->key, (long long)n, unit, want);
}

static int check_field(WireReport *r, const WireField *f, const void *base, const WirePath *at) {
    const char *p = (const char *)base + f->off;
    const WireRange *g = &f->range;
    int ranged = g->has_lo || g->has_hi || g->hi_lim;
    char v[64];
    switch (f->kind) {
    case WK_I64: case WK_I32: {
        int64_t x;
        if (f->kind == WK_I64) memcpy(&x, p, 8);
        else { int32_t y; memcpy(&y, p, 4); x = y; }
        if (ranged && !in_range(g, r->lim, (double)x)) { snprintf(v, sizeof v, "%lld", (long long)x); return value_fail(r, at, f, v); }
        return 0;
    }
    case WK_F64: case WK_F32: {
        double x;
        if (f->kind == WK_F64) memcpy(&x, p, 8);
        else { float y; memcpy(&y, p, 4); x = y; }
        if (!isfinite(x)) return wire_fail(r, WIRE_BAD_VALUE, at, "'%s' is not finite", f->key);
        if (ranged && !in_range(g, r->lim, x)) { snprintf(v, sizeof v, "%g", x); return value_fail(r, at, f, v); }
        return 0;
    }
    case WK_STRBUF: return wire_check_count(r, at, f, (int64_t)strnlen(p, f->size), "bytes", 0);
    case WK_STR: {
        const char *s;
        memcpy(&s, p, sizeof s);
        return wire_check_count(r, at, f, s ? (int64_t)strlen(s) : 0, "bytes", 0);
    }
    case WK_ENUM: {
        if (!f->size) return 0;
        int x;
        memcpy(&x, p, sizeof x);
        int n = 0;
        while (f->names[n]) n++;
        if (x < 0 || x >= n) return wire_fail(r, WIRE_BAD_VALUE, at, "'%s' = %d is not a known value (%s)", f->key, x, f->hint);
        return 0;
    }
    case WK_I32S: case WK_F32S: case WK_MAPS: {
        int32_t n;
        memcpy(&n, (const char *)base + f->cnt, 4);
        if (wire_absent(f, base) || (f->flags & WF_SAME_COUNT)) return 0;   // absent, or its count was checked already
        if (f->kind != WK_MAPS) return wire_check_count(r, at, f, n, "items", 0);
        if (wire_check_count(r, at, f, n, "entries", 0)) return -1;
        const char *a;
        memcpy(&a, p, sizeof a);
        for (int32_t i = 0; i < n; i++) {
            WirePath in = {at, f->key, i};
            if (wire_check_fields(r, f->sub, a + (size_t)i * f->sub->size, &in)) return -1;
        }
        return 0;
    }
    case WK_BYTES: {
        size_t n;
        memcpy(&n, (const char *)base + f->cnt, sizeof n);
        return wire_check_count(r, at, f, n > INT64_MAX ? INT64_MAX : (int64_t)n, "bytes", 0);
    }
    case WK_MAP: {
        WirePath in = {at, f->key, -1};
        return wire_check_fields(r, f->sub, p, &in);
    }
    default: return 0;   // WK_U64, WK_U32, WK_BOOL, WK_FLAGS: any value is valid
    }
}

int wire_check_fields(WireReport *r, const WireSpec *spec, const void *base, const WirePath *at) {
    for (int i = 0; i < spec->n_fields; i++)
        if (check_field(r, &spec->fields[i], base, at)) return -1;
    return 0;
}

// ---- cross-field checks, one function per message type that has any ---------------------------------
static int tokens_ok(WireReport *r, const int32_t *t, size_t n, const char *where) {
    int32_t vocab = r->lim->vocab_size;
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0 || (vocab > 0 && t[i] >= vocab))
            return wire_fail(r, WIRE_BAD_VALUE, NULL, "%s[%zu] = %d is not a token id (vocab_size %d)", where, i, t[i], vocab);
    return 0;
}

// Branch-free scans (they vectorise); the slow loops only run to name the offending index.
static int tokens_all_ok(const int32_t *t, size_t n, int32_t vocab) {
    uint32_t lim = vocab > 0 ? (uint32_t)vocab : 0x80000000u;   // negative ids wrap to >= 2^31
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= (uint32_t)t[i] < lim;
    return ok;
}

static int floats_all_in(const float *x, size_t n, float lo, float hi) {   // NaN fails both compares
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= (x[i] >= lo) & (x[i] <= hi);
    return ok;
}

static int check_assign(WireReport *r, const WireMsg *m) {
    const WireAssign *a = &m->u.assign;
    if (tokens_ok(r, a->prompt_tokens, (size_t)a->n_prompt, "prompt_tokens")) return -1;
    return tokens_ok(r, a->sampling.stop, (size_t)a->sampling.n_stop, "sampling.stop");
}

// The verdict and the score are one thing: reward 1 is correct, 0 or -1 (the two reward formats) is
// not; a `correct` that is sent must agree with it.
static int check_verdict(WireReport *r, int i, const WireResponse *x) {
    int says = x->reward == 1.0f ? 1 : (x->reward == 0.0f || x->reward == -1.0f) ? 0 : -1;
    if (says < 0)
        return wire_fail(r, WIRE_BAD_VALUE, NULL, "responses[%d].reward = %g must be 1 (correct), or 0 or -1 (incorrect)", i, (double)x->reward);
    if (x->correct != WIRE_CORRECT_ABSENT && x->correct != says)
        return wire_fail(r, WIRE_BAD_VALUE, NULL, "responses[%d]: reward %g contradicts correct = %s (reward 1 is correct; 0 or -1 is not)",
                         i, (double)x->reward, x->correct ? "true" : "false");
    return 0;
}

// Every token id below vocab_size, every log-prob in [WIRE_LOGPROB_MIN, 0] (what a float32 softmax
// can give a sampled token), every entropy finite and >= 0, reward and verdict in agreement.
static int check_group(WireReport *r, const WireMsg *m) {
    const WireGroup *g = &m->u.group;
    for (int i = 0; i < g->n_responses; i++) {
        const WireResponse *x = &g->responses[i];
        size_t nt = (size_t)x->n_tokens;
        if (check_verdict(r, i, x)) return -1;
        if (!tokens_all_ok(x->tokens, nt, r->lim->vocab_size)) {
            char where[48];
            snprintf(where, sizeof where, "responses[%d].tokens", i);
            if (tokens_ok(r, x->tokens, nt, where)) return -1;
        }
        if (floats_all_in(x->logprobs, nt, WIRE_LOGPROB_MIN, 0.0f) && (!x->entropies || floats_all_in(x->entropies, nt, 0.0f, FLT_MAX))) continue;
        for (size_t t = 0; t < nt; t++) {
            float lp = x->logprobs[t];
            if (!(lp >= WIRE_LOGPROB_MIN && lp <= 0.0f))
                return wire_fail(r, WIRE_BAD_VALUE, NULL, "responses[%d].logprobs[%zu] = %g (a sampled token's log-prob lies in [%g, 0]: "
                                 "log of the smallest positive float32 to 0)", i, t, (double)lp, (double)WIRE_LOGPROB_MIN);
            if (x->entropies && (!isfinite(x->entropies[t]) || x->entropies[t] < 0.0f))
                return wire_fail(r, WIRE_BAD_VALUE, NULL, "responses[%d].entropies[%zu] = %g (must be finite and >= 0)", i, t, (double)x->entropies[t]);
        }
    }
    return 0;
}

void wire_group_settle_verdicts(WireGroup *g) {
    for (int i = 0; i < g->n_responses; i++)
        if (g->responses[i].correct == WIRE_CORRECT_ABSENT) g->responses[i].correct = g->responses[i].reward == 1.0f;
}

size_t wire_dtype_bytes(WireDtype d) { return d == WIRE_DTYPE_BF16 ? 2 : 4; }

// The chunk lies inside the buffer, in whole elements of its dtype.
static int check_chunk(WireReport *r, const WireMsg *m) {
    const WireWeightsChunk *c = &m->u.chunk;
    const size_t es = wire_dtype_bytes(c->dtype);
    const char *what = c->dtype == WIRE_DTYPE_BF16 ? "bf16 values" : "floats";
    if (c->total_bytes == 0 || c->total_bytes % es)
        return wire_fail(r, WIRE_BAD_LENGTH, NULL, "'total_bytes' = %llu must be a positive multiple of %zu (dtype %s)",
                         (unsigned long long)c->total_bytes, es, c->dtype == WIRE_DTYPE_BF16 ? "bf16" : "f32");
    if (c->n_chunks < 1 || c->index >= c->n_chunks) return wire_fail(r, WIRE_BAD_VALUE, NULL, "chunk 'index' %u of 'n_chunks' %u", c->index, c->n_chunks);
    if (c->len % es || c->offset % es || c->offset > c->total_bytes || c->len > c->total_bytes - c->offset)
        return wire_fail(r, WIRE_BAD_LENGTH, NULL, "chunk [%llu, +%zu) does not fit in 'total_bytes' %llu in whole %s",
                         (unsigned long long)c->offset, c->len, (unsigned long long)c->total_bytes, what);
    return 0;
}

static int (*const cross_checks[WIRE_NTYPES])(WireReport *, const WireMsg *) = {
    [WIRE_ASSIGN] = check_assign, [WIRE_GROUP] = check_group, [WIRE_WEIGHTS_CHUNK] = check_chunk};

WireBad wire_validate(const WireMsg *m, const WireLimits *lim, char *err, size_t errlen) {
    WireReport r = {lim, err, errlen, WIRE_OK, wire_type_name(m->type)};
    if (err && errlen) err[0] = 0;
    if (m->type <= WIRE_NONE || m->type >= WIRE_NTYPES) {
        wire_fail(&r, WIRE_BAD_TYPE, NULL, "unknown message type %d", (int)m->type);
        return r.bad;
    }
    if (wire_check_fields(&r, &wire_messages[m->type], &m->u, NULL) == 0 && cross_checks[m->type]) cross_checks[m->type](&r, m);
    return r.bad;
}
