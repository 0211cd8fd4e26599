// The group fast path (see wire_internal.h). Groups are nearly all of the coordinator's receive
// traffic; the generic decoder walks each one three times (size pre-check, msgpack-c unpack into a
// zone, field lookup by key) and then scans every value again. This reads each header once, checks
// each blob's values while its bytes are hot, and gives up at the first thing it does not accept, so
// it only ever has to agree with the generic decoder on messages that decoder accepts. Anything it
// reads is bounded by the bytes present and by WireLimits before it allocates.
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "proto/wire_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FAST_HOST_LE 1
#else
#define FAST_HOST_LE 0          // blobs need converting: left to the generic decoder
#endif

// Blob payloads may sit at any address; these types let the compiler load them (and vectorise the
// scans) without assuming 4-byte alignment.
typedef uint32_t u32_una __attribute__((aligned(1), may_alias));
typedef float f32_una __attribute__((aligned(1), may_alias));

enum { K_NIL, K_BOOL, K_UINT, K_NINT, K_FLOAT, K_STR, K_BIN, K_ARRAY, K_MAP };

// One msgpack value as msgpack-c would type it (non-negative signed integers are K_UINT, float32 is
// widened to double): kind, then the scalar, the str/bin payload, or the container's element count.
typedef struct {
    int kind;
    uint64_t u;                 // K_UINT / K_BOOL value, str / bin length, array / map count
    int64_t i;                  // K_NINT
    double f;                   // K_FLOAT
    const uint8_t *s;           // str / bin payload
} Val;

typedef struct {
    const uint8_t *p, *end;
    size_t objects, max_objects;   // the generic pre-check's object cap, counted the same way
} Cur;

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

// Reads the next value's header (and its payload, for scalars / str / bin). Containers leave the
// cursor on their first element. ext types and 0xc1 are refused: never part of a group we accept.
static int rd(Cur *c, Val *v) {
    if (c->p >= c->end || ++c->objects > c->max_objects) return -1;
    uint8_t b = *c->p++;
    size_t left = (size_t)(c->end - c->p);
    int n = 0;                  // big-endian length / value bytes after the tag
    if (b <= 0x7f) { v->kind = K_UINT; v->u = b; return 0; }
    if (b >= 0xe0) { v->kind = K_NINT; v->i = (int8_t)b; return 0; }
    if (b <= 0x8f) { v->kind = K_MAP; v->u = b & 0x0f; goto container; }
    if (b <= 0x9f) { v->kind = K_ARRAY; v->u = b & 0x0f; goto container; }
    if (b <= 0xbf) { v->kind = K_STR; v->u = b & 0x1f; goto payload; }
    switch (b) {
    case 0xc0: v->kind = K_NIL; return 0;
    case 0xc2: case 0xc3: v->kind = K_BOOL; v->u = b & 1; return 0;
    case 0xc4: case 0xc5: case 0xc6: n = 1 << (b - 0xc4); v->kind = K_BIN; break;
    case 0xd9: case 0xda: case 0xdb: n = 1 << (b - 0xd9); v->kind = K_STR; break;
    case 0xdc: case 0xdd: n = 2 << (b - 0xdc); v->kind = K_ARRAY; break;
    case 0xde: case 0xdf: n = 2 << (b - 0xde); v->kind = K_MAP; break;
    case 0xca: {
        if (left < 4) return -1;
        uint32_t x = (uint32_t)be(c->p, 4);
        float f;
        memcpy(&f, &x, 4);
        c->p += 4;
        v->kind = K_FLOAT; v->f = f;
        return 0;
    }
    case 0xcb: {
        if (left < 8) return -1;
        uint64_t x = be(c->p, 8);
        memcpy(&v->f, &x, 8);
        c->p += 8;
        v->kind = K_FLOAT;
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        n = 1 << (b - 0xcc);
        if (left < (size_t)n) return -1;
        v->kind = K_UINT; v->u = be(c->p, n);
        c->p += n;
        return 0;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        n = 1 << (b - 0xd0);
        if (left < (size_t)n) return -1;
        uint64_t x = be(c->p, n);
        c->p += n;
        int64_t s = n == 8 ? (int64_t)x : (int64_t)(x ^ (1ull << (8 * n - 1))) - (int64_t)(1ull << (8 * n - 1));   // sign-extend
        if (s >= 0) { v->kind = K_UINT; v->u = (uint64_t)s; }
        else { v->kind = K_NINT; v->i = s; }
        return 0;
    }
    default: return -1;
    }
    if (left < (size_t)n) return -1;
    v->u = be(c->p, n);
    c->p += n;
    left -= (size_t)n;
    if (v->kind != K_BIN && v->kind != K_STR) goto container;
payload:
    if (v->u > left) return -1;
    v->s = c->p;
    c->p += v->u;
    return 0;
container:
    // every element takes a byte at least: a count beyond the bytes left is a lie (as the pre-check says)
    if ((v->kind == K_MAP ? 2 * v->u : v->u) > (uint64_t)(c->end - c->p)) return -1;
    return 0;
}

// Skips a value of a key we do not know, `depth` containers deep (the pre-check's nesting rule).
static int skip(Cur *c, int depth) {
    Val v;
    if (rd(c, &v)) return -1;
    if (v.kind != K_ARRAY && v.kind != K_MAP) return 0;
    uint64_t n = v.kind == K_MAP ? 2 * v.u : v.u;
    if (n == 0) return 0;
    if (depth >= WIRE_MAX_DEPTH) return -1;
    for (uint64_t i = 0; i < n; i++)
        if (skip(c, depth + 1)) return -1;
    return 0;
}

// Known keys of one map; a duplicate known key shows as a bit already set, and an unknown key can
// only duplicate another unknown one, so only those are compared with each other.
typedef struct { const char *name; size_t len; } Key;

static int key_id(const Key *keys, int nkeys, const Val *k) {
    for (int i = 0; i < nkeys; i++)
        if (keys[i].len == k->u && memcmp(keys[i].name, k->s, k->u) == 0) return i;
    return -1;
}

typedef struct { const uint8_t *s[WIRE_MAX_MAP_KEYS]; uint64_t n[WIRE_MAX_MAP_KEYS]; int count; } Unknown;

static int unknown_is_new(Unknown *u, const Val *k) {
    for (int i = 0; i < u->count; i++)
        if (u->n[i] == k->u && memcmp(u->s[i], k->s, k->u) == 0) return 0;
    u->s[u->count] = k->s;
    u->n[u->count++] = k->u;
    return 1;
}

// A map key: str, not seen before in this map. Returns the known key's index, -1 for unknown, -2 bad.
static int next_key(Cur *c, const Key *keys, int nkeys, uint32_t *seen, Unknown *u) {
    Val k;
    if (rd(c, &k) || k.kind != K_STR) return -2;
    int id = key_id(keys, nkeys, &k);
    if (id >= 0) {
        if (*seen & (1u << id)) return -2;
        *seen |= 1u << id;
        return id;
    }
    return unknown_is_new(u, &k) ? -1 : -2;
}

// Numbers as the generic decoder reads a float field: float32/64 or integer, finite as a double,
// then stored as float32 (which must be finite too). Integers go through double, as there.
static int f32_of(const Val *v, float *out) {
    double x;
    if (v->kind == K_FLOAT) x = v->f;
    else if (v->kind == K_UINT) x = (double)v->u;
    else if (v->kind == K_NINT) x = (double)v->i;
    else return -1;
    if (!isfinite(x) || !isfinite((float)x)) return -1;
    *out = (float)x;
    return 0;
}

// ---- value scans (branch-free: they vectorise; a bad value just means giving up) -----------------
static int scan_tokens(const uint8_t *p, size_t n, int32_t vocab) {
    uint32_t lim = vocab > 0 ? (uint32_t)vocab : 0x80000000u;   // negative ids wrap to >= 2^31
    const u32_una *t = (const u32_una *)p;
    uint32_t mx = 0;
    for (size_t i = 0; i < n; i++) mx = t[i] > mx ? t[i] : mx;
    return mx < lim;
}

static int scan_floats(const uint8_t *p, size_t n, float lo, float hi) {   // NaN fails both compares
    const f32_una *x = (const f32_una *)p;
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= (x[i] >= lo) & (x[i] <= hi);
    return ok;
}

// A bin of 4-byte items, at most max_items of them; *n = item count.
static int blob4_of(const Val *v, size_t max_items, const uint8_t **p, size_t *n) {
    if (v->kind != K_BIN || v->u % 4 || v->u / 4 > max_items) return -1;
    *p = v->s;
    *n = (size_t)(v->u / 4);
    return 0;
}

static int in_place(int views, const uint8_t *p) { return views && ((uintptr_t)p & 3u) == 0; }

enum { R_TOKENS, R_LOGPROBS, R_ENTROPIES, R_REWARD, R_CORRECT, R_FINISH, R_BOXED, R_CJK, R_REP, R_GEN, R_NKEYS };
static const Key resp_keys[R_NKEYS] = {
    {"tokens", 6}, {"logprobs", 8}, {"entropies", 9}, {"reward", 6}, {"correct", 7},
    {"finish", 6}, {"boxed_count", 11}, {"has_cjk", 7}, {"repetition", 10}, {"gen_seconds", 11}};

// One response map. Blobs that stay in place are stored in r now; the others are left in src (3
// per response) for the arena that is filled once every response has been accepted.
static int response(Cur *c, const WireLimits *lim, int views, WireResponse *r, const uint8_t *src[3], size_t *arena_bytes, int *viewed) {
    Val v;
    if (rd(c, &v) || v.kind != K_MAP || v.u > WIRE_MAX_MAP_KEYS) return -1;
    uint32_t seen = 0;
    Unknown unk;
    unk.count = 0;
    size_t maxt = (size_t)(lim->max_tokens > 0 ? lim->max_tokens : 0);
    size_t n[3] = {0, 0, 0};
    int has_ent = 0;
    for (uint64_t k = 0; k < v.u; k++) {
        int id = next_key(c, resp_keys, R_NKEYS, &seen, &unk);
        if (id == -2) return -1;
        if (id == -1) {
            if (skip(c, 3)) return -1;
            continue;
        }
        Val x;
        if (rd(c, &x)) return -1;
        switch (id) {
        case R_TOKENS:
            if (blob4_of(&x, maxt, &src[0], &n[0]) || !scan_tokens(src[0], n[0], lim->vocab_size)) return -1;
            break;
        case R_LOGPROBS:
            if (blob4_of(&x, maxt, &src[1], &n[1]) || !scan_floats(src[1], n[1], -FLT_MAX, 0.0f)) return -1;
            break;
        case R_ENTROPIES:
            if (x.kind == K_NIL) break;
            if (blob4_of(&x, maxt, &src[2], &n[2]) || !scan_floats(src[2], n[2], 0.0f, FLT_MAX)) return -1;
            has_ent = 1;
            break;
        case R_REWARD:
            if (f32_of(&x, &r->reward)) return -1;
            break;
        case R_FINISH:
            if (x.kind == K_STR && x.u == 4 && memcmp(x.s, "stop", 4) == 0) r->finish = WIRE_FINISH_STOP;
            else if (x.kind == K_STR && x.u == 6 && memcmp(x.s, "length", 6) == 0) r->finish = WIRE_FINISH_LENGTH;
            else return -1;
            break;
        case R_BOXED:
            if (x.kind == K_NIL) break;
            if (x.kind != K_UINT || x.u > INT32_MAX) return -1;   // negative counts are rejected too
            r->boxed_count = (int32_t)x.u;
            break;
        case R_GEN:
            if (x.kind == K_NIL) break;
            if (f32_of(&x, &r->gen_seconds) || r->gen_seconds < 0) return -1;
            break;
        case R_CORRECT: case R_CJK: case R_REP: {
            int *dst = id == R_CORRECT ? &r->correct : id == R_CJK ? &r->has_cjk : &r->repetition;
            if (x.kind == K_NIL) break;
            if (x.kind != K_BOOL) return -1;
            *dst = (int)x.u;
            break;
        }
        default: return -1;
        }
    }
    const uint32_t required = 1u << R_TOKENS | 1u << R_LOGPROBS | 1u << R_REWARD | 1u << R_FINISH;
    if ((seen & required) != required || n[0] < 1 || n[1] != n[0] || (has_ent && n[2] != n[0])) return -1;
    r->n_tokens = (int32_t)n[0];
    if (!has_ent) src[2] = NULL;
    for (int k = 0; k < 2 + has_ent; k++) {
        if (!in_place(views, src[k])) { *arena_bytes += n[0] * 4; continue; }
        if (k == 0) r->tokens = (int32_t *)(uintptr_t)src[k];
        else if (k == 1) r->logprobs = (float *)(uintptr_t)src[k];
        else r->entropies = (float *)(uintptr_t)src[k];
        src[k] = NULL;
        *viewed = 1;
    }
    return 0;
}

enum { T_V, T_TYPE, T_PROMPT, T_LEASE, T_SEED, T_POLICY, T_WORKER, T_RESPONSES, T_NKEYS };
static const Key top_keys[T_NKEYS] = {
    {"v", 1}, {"type", 4}, {"prompt_id", 9}, {"lease_id", 8}, {"seed", 4}, {"policy_version", 14}, {"worker", 6}, {"responses", 9}};

static int group(Cur *c, const WireLimits *lim, int views, WireGroup *g, const uint8_t ***src, size_t *arena_bytes, int *viewed) {
    Val v;
    if (rd(c, &v) || v.kind != K_MAP || v.u > WIRE_MAX_MAP_KEYS) return -1;
    uint32_t seen = 0;
    Unknown unk;
    unk.count = 0;
    for (uint64_t k = 0; k < v.u; k++) {
        int id = next_key(c, top_keys, T_NKEYS, &seen, &unk);
        Val x;
        if (id == -2) return -1;
        if (id == -1) {
            if (skip(c, 1)) return -1;
            continue;
        }
        if (id == T_RESPONSES) {
            if (rd(c, &x) || x.kind != K_ARRAY || x.u < 1 || x.u > (uint64_t)(lim->max_group > 0 ? lim->max_group : 0)) return -1;
            size_t n = (size_t)x.u;
            g->responses = callocCheck(n, sizeof(WireResponse));
            g->n_responses = (int32_t)n;
            *src = callocCheck(3 * n, sizeof(const uint8_t *));
            for (size_t i = 0; i < n; i++)
                if (response(c, lim, views, &g->responses[i], &(*src)[3 * i], arena_bytes, viewed)) return -1;
            continue;
        }
        if (rd(c, &x)) return -1;
        switch (id) {
        case T_V: if (x.kind != K_UINT || x.u != WIRE_PROTOCOL_VERSION) return -1; break;
        case T_TYPE: if (x.kind != K_STR || x.u != 5 || memcmp(x.s, "group", 5) != 0) return -1; break;
        case T_PROMPT: if (x.kind != K_UINT) return -1; g->prompt_id = x.u; break;
        case T_LEASE: if (x.kind != K_UINT) return -1; g->lease_id = x.u; break;
        case T_SEED:
            if (x.kind == K_NIL) break;
            if (x.kind != K_UINT) return -1;
            g->seed = x.u;
            break;
        case T_POLICY: if (x.kind != K_UINT || x.u > INT64_MAX) return -1; g->policy_version = (int64_t)x.u; break;
        case T_WORKER:
            if (x.kind != K_STR || x.u < 1 || x.u >= sizeof g->worker || memchr(x.s, 0, x.u)) return -1;
            memcpy(g->worker, x.s, x.u);
            break;
        default: return -1;
        }
    }
    const uint32_t all = (1u << T_NKEYS) - 1 - (1u << T_SEED);
    return (seen & all) == all && c->p == c->end ? 0 : -1;
}

int wire_decode_group_fast(const void *data, size_t len, const WireLimits *lim, int views, int *viewed, WireMsg *out) {
    memset(out, 0, sizeof *out);
    *viewed = 0;
    if (!FAST_HOST_LE || len == 0 || len > lim->max_msg_bytes) return 0;
    Cur c = {data, (const uint8_t *)data + len, 0, wire_max_objects(lim)};
    out->type = WIRE_GROUP;
    WireGroup *g = &out->u.group;
    const uint8_t **src = NULL;
    size_t arena_bytes = 0;
    if (group(&c, lim, views, g, &src, &arena_bytes, viewed)) {
        free(src);
        free(g->responses);
        memset(out, 0, sizeof *out);
        *viewed = 0;
        return 0;
    }
    // the copies, in the generic decoder's order: response by response, tokens / logprobs / entropies
    uint8_t *arena = arena_bytes ? mallocCheck(arena_bytes) : NULL;
    g->arena_ = arena;
    for (int32_t i = 0; i < g->n_responses && arena; i++) {
        WireResponse *r = &g->responses[i];
        size_t nb = (size_t)r->n_tokens * 4;
        for (int k = 0; k < 3; k++) {
            const uint8_t *s = src[3 * i + k];
            if (!s) continue;
            memcpy(arena, s, nb);
            if (k == 0) r->tokens = (int32_t *)(void *)arena;
            else if (k == 1) r->logprobs = (float *)(void *)arena;
            else r->entropies = (float *)(void *)arena;
            arena += nb;
        }
    }
    free(src);
    return 1;
}
