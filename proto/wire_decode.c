// Decoding: size pre-check -> msgpack_unpack_next (zero-copy for str/bin) -> typed field extraction
// -> wire_validate. Every rejection names the message type and field and says what was expected.
#include <float.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "proto/wire_internal.h"

typedef struct {
    const WireLimits *lim;
    char *err;
    size_t errlen;
    WireBad bad;
    const char *msg;            // message type name, for errors
    int views;                  // a group's aligned blobs may be used in place (wire_decode_backed)
    int viewed;                 // ... and at least one was
} Dec;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WIRE_HOST_LE 1
#else
#define WIRE_HOST_LE 0          // blobs are little-endian: a big-endian host always converts a copy
#endif

RLVR_PRINTF(3, 4) static int fail(Dec *d, WireBad b, const char *fmt, ...) {
    d->bad = b;
    if (d->err && d->errlen) {
        int k = snprintf(d->err, d->errlen, "%s: ", d->msg);
        if (k < 0) k = 0;
        if ((size_t)k < d->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(d->err + k, d->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int key_is_n(const msgpack_object *k, const char *s, size_t n) {
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}
static int key_is(const msgpack_object *k, const char *s) { return key_is_n(k, s, strlen(s)); }

// A map we read fields from: string keys, bounded size, no duplicate keys (which would let two
// readers of the same message disagree about its content).
static int check_map(Dec *d, const msgpack_object *o, const char *where) {
    if (o->type != MSGPACK_OBJECT_MAP) return fail(d, WIRE_BAD_FIELD, "%s is not a map (msgpack type %d)", where, (int)o->type);
    const msgpack_object_map *m = &o->via.map;
    if (m->size > WIRE_MAX_MAP_KEYS) return fail(d, WIRE_BAD_STRUCTURE, "%s has %u keys (at most %d)", where, m->size, WIRE_MAX_MAP_KEYS);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) return fail(d, WIRE_BAD_STRUCTURE, "%s: key %u is not a string", where, i);
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object *kj = &m->ptr[j].key;
            if (kj->via.str.size == k->via.str.size && memcmp(kj->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0)
                return fail(d, WIRE_BAD_STRUCTURE, "%s: duplicate key '%.*s'", where, (int)k->via.str.size, k->via.str.ptr);
        }
    }
    return 0;
}

static const msgpack_object *get(const msgpack_object *map, const char *k) {
    const msgpack_object_map *m = &map->via.map;
    size_t n = strlen(k);
    for (uint32_t i = 0; i < m->size; i++)
        if (key_is_n(&m->ptr[i].key, k, n)) return &m->ptr[i].val;
    return NULL;
}

// Each getter: required fields missing -> WIRE_BAD_FIELD; absent optional fields keep *out.
static const msgpack_object *field(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, int *absent) {
    const msgpack_object *v = get(map, k);
    *absent = (v == NULL || (!required && v->type == MSGPACK_OBJECT_NIL));
    if (v == NULL && required) fail(d, WIRE_BAD_FIELD, "%s'%s' missing (required)", where, k);
    return v;
}

static int f_i64(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, int64_t lo, int64_t hi, int64_t *out) {
    int absent;
    const msgpack_object *v = field(d, map, where, k, required, &absent);
    if (!v && required) return -1;
    if (absent) return 0;
    int64_t x;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (v->via.u64 > (uint64_t)INT64_MAX) return fail(d, WIRE_BAD_VALUE, "%s'%s' = %llu is out of range [%lld, %lld]", where, k, (unsigned long long)v->via.u64, (long long)lo, (long long)hi);
        x = (int64_t)v->via.u64;
    } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        x = v->via.i64;
    } else {
        return fail(d, WIRE_BAD_FIELD, "%s'%s' must be an integer (msgpack type %d)", where, k, (int)v->type);
    }
    if (x < lo || x > hi) return fail(d, WIRE_BAD_VALUE, "%s'%s' = %lld is out of range [%lld, %lld]", where, k, (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

static int f_i32(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, int32_t *out) {
    int64_t x = *out;
    if (f_i64(d, map, where, k, required, INT32_MIN, INT32_MAX, &x)) return -1;
    *out = (int32_t)x;
    return 0;
}

static int f_u64(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, uint64_t *out) {
    int absent;
    const msgpack_object *v = field(d, map, where, k, required, &absent);
    if (!v && required) return -1;
    if (absent) return 0;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return fail(d, WIRE_BAD_VALUE, "%s'%s' = %lld must be >= 0", where, k, (long long)v->via.i64);
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return fail(d, WIRE_BAD_FIELD, "%s'%s' must be an unsigned integer (msgpack type %d)", where, k, (int)v->type);
    *out = v->via.u64;
    return 0;
}

// Floats may arrive as float32, float64 or an integer (Python packs -1 as an int).
static int f_f64(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, double *out) {
    int absent;
    const msgpack_object *v = field(d, map, where, k, required, &absent);
    if (!v && required) return -1;
    if (absent) return 0;
    double x;
    switch (v->type) {
    case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: x = v->via.f64; break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: x = (double)v->via.u64; break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: x = (double)v->via.i64; break;
    default: return fail(d, WIRE_BAD_FIELD, "%s'%s' must be a number (msgpack type %d)", where, k, (int)v->type);
    }
    if (!isfinite(x)) return fail(d, WIRE_BAD_VALUE, "%s'%s' is not finite", where, k);
    *out = x;
    return 0;
}

static int f_f32(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, float *out) {
    double x = *out;
    if (f_f64(d, map, where, k, required, &x)) return -1;
    if (!isfinite((float)x)) return fail(d, WIRE_BAD_VALUE, "%s'%s' = %g overflows float32", where, k, x);
    *out = (float)x;
    return 0;
}

static int f_bool(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, int *out) {
    int absent;
    const msgpack_object *v = field(d, map, where, k, required, &absent);
    if (!v && required) return -1;
    if (absent) return 0;
    if (v->type != MSGPACK_OBJECT_BOOLEAN) return fail(d, WIRE_BAD_FIELD, "%s'%s' must be a boolean (msgpack type %d)", where, k, (int)v->type);
    *out = v->via.boolean ? 1 : 0;
    return 0;
}

static int str_obj(Dec *d, const msgpack_object *v, const char *where, const char *k, size_t max) {
    if (v->type != MSGPACK_OBJECT_STR) return fail(d, WIRE_BAD_FIELD, "%s'%s' must be a string (msgpack type %d)", where, k, (int)v->type);
    if (v->via.str.size > max) return fail(d, WIRE_BAD_LENGTH, "%s'%s' is %u bytes (at most %zu)", where, k, v->via.str.size, max);
    if (v->via.str.size && memchr(v->via.str.ptr, 0, v->via.str.size)) return fail(d, WIRE_BAD_VALUE, "%s'%s' contains a NUL byte", where, k);
    return 0;
}

static int f_strbuf(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, char *dst, size_t cap) {
    int absent;
    const msgpack_object *v = field(d, map, where, k, required, &absent);
    if (!v && required) return -1;
    if (absent) return 0;
    if (str_obj(d, v, where, k, cap - 1)) return -1;
    memcpy(dst, v->via.str.ptr, v->via.str.size);
    dst[v->via.str.size] = 0;
    return 0;
}

static int f_strdup(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, char **dst) {
    int absent;
    const msgpack_object *v = field(d, map, where, k, required, &absent);
    if (!v && required) return -1;
    if (absent) { *dst = strdupCheck(""); return 0; }
    if (str_obj(d, v, where, k, d->lim->max_text_bytes)) return -1;
    *dst = mallocCheck(v->via.str.size + 1);
    memcpy(*dst, v->via.str.ptr, v->via.str.size);
    (*dst)[v->via.str.size] = 0;
    return 0;
}

// A bin blob of 4-byte items; *n_items = -1 when an optional blob is absent or nil.
static int f_blob4(Dec *d, const msgpack_object *map, const char *where, const char *k, int required, size_t max_items,
                   const uint8_t **p, int64_t *n_items) {
    int absent;
    *n_items = -1;
    const msgpack_object *v = field(d, map, where, k, required, &absent);
    if (!v && required) return -1;
    if (absent) return 0;
    if (v->type != MSGPACK_OBJECT_BIN)
        return fail(d, WIRE_BAD_FIELD, "%s'%s' must be a bin blob of little-endian 4-byte items, not msgpack type %d (hint: send bytes, not a list)", where, k, (int)v->type);
    if (v->via.bin.size % 4) return fail(d, WIRE_BAD_LENGTH, "%s'%s' is %u bytes, not a multiple of 4", where, k, v->via.bin.size);
    if (v->via.bin.size / 4 > max_items) return fail(d, WIRE_BAD_LENGTH, "%s'%s' has %u items (at most %zu)", where, k, v->via.bin.size / 4, max_items);
    *p = (const uint8_t *)v->via.bin.ptr;
    *n_items = v->via.bin.size / 4;
    return 0;
}

static WireType type_from(const msgpack_object *v) {
    for (int t = 1; t < WIRE_NTYPES; t++)
        if (key_is(v, wire_type_name((WireType)t))) return (WireType)t;
    return WIRE_NONE;
}

static int dec_sampling(Dec *d, const msgpack_object *o, WireSampling *s) {
    const char *w = "sampling.";
    if (check_map(d, o, "sampling")) return -1;
    double t = 0, p = 0;
    if (f_f64(d, o, w, "temperature", 1, &t) || f_f64(d, o, w, "top_p", 1, &p)) return -1;
    s->temperature = (float)t;
    s->top_p = (float)p;
    s->top_k = 0;
    if (f_i32(d, o, w, "top_k", 0, &s->top_k) || f_i32(d, o, w, "max_new_tokens", 1, &s->max_new_tokens)) return -1;
    const uint8_t *sp = NULL;
    int64_t n = 0;
    if (f_blob4(d, o, w, "stop", 0, WIRE_MAX_STOP, &sp, &n)) return -1;
    s->n_stop = n > 0 ? (int32_t)n : 0;
    if (s->n_stop) wire_le_load_i32(s->stop, sp, (size_t)s->n_stop);
    return 0;
}

static int in_place(const Dec *d, const uint8_t *p) { return d->views && WIRE_HOST_LE && ((uintptr_t)p & 3u) == 0; }

// The (n,) array of 4-byte items a blob holds: the blob itself when in_place, else a converted copy
// at *arena (which advances).
static void *place(Dec *d, const uint8_t *p, size_t n, uint8_t **arena) {
    if (in_place(d, p)) {
        d->viewed = 1;
        return (void *)(uintptr_t)p;
    }
    void *dst = *arena;
    if (n) {
        *arena += n * 4;
        wire_le_load_i32(dst, p, n);   // a bit-exact 4-byte move; the same for floats
    }
    return dst;
}

// dst = pre + decimal i + post (dst holds 48 bytes; pre and post are short literals). Every response
// needs its name for error messages, so this runs per response on the accepting path: no snprintf.
static void index_name(char dst[48], const char *pre, uint32_t i, const char *post) {
    char dig[10];
    int nd = 0;
    do { dig[nd++] = (char)('0' + i % 10); i /= 10; } while (i);
    size_t k = strlen(pre);
    memcpy(dst, pre, k);
    while (nd) dst[k++] = dig[--nd];
    size_t np = strlen(post);
    memcpy(dst + k, post, np + 1);
}

static int dec_group(Dec *d, const msgpack_object *o, WireGroup *g) {
    const char *w = "";
    int64_t pv = 0;
    if (f_u64(d, o, w, "prompt_id", 1, &g->prompt_id) || f_u64(d, o, w, "lease_id", 1, &g->lease_id) ||
        f_u64(d, o, w, "seed", 0, &g->seed) || f_i64(d, o, w, "policy_version", 1, INT64_MIN, INT64_MAX, &pv) ||
        f_strbuf(d, o, w, "worker", 1, g->worker, sizeof g->worker))
        return -1;
    g->policy_version = pv;
    const msgpack_object *rs = get(o, "responses");
    if (!rs) return fail(d, WIRE_BAD_FIELD, "'responses' missing (required)");
    if (rs->type != MSGPACK_OBJECT_ARRAY) return fail(d, WIRE_BAD_FIELD, "'responses' must be an array (msgpack type %d)", (int)rs->type);
    uint32_t n = rs->via.array.size;
    if (n == 0 || (int64_t)n > d->lim->max_group)
        return fail(d, WIRE_BAD_LENGTH, "'responses' has %u entries (1 to max_group=%d)", n, d->lim->max_group);
    g->responses = callocCheck(n, sizeof(WireResponse));
    g->n_responses = (int32_t)n;
    // (n, 3) blob pointers; used in place or copied into one arena once every response has been checked
    const uint8_t **blob = callocCheck((size_t)n * 3, sizeof(uint8_t *));
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const msgpack_object *r = &rs->via.array.ptr[i];
        WireResponse *x = &g->responses[i];
        char where[48];
        index_name(where, "responses[", i, "].");
        if (check_map(d, r, where)) { rc = -1; break; }
        int64_t nt, nl, ne;
        size_t maxt = (size_t)(d->lim->max_tokens > 0 ? d->lim->max_tokens : 0);
        if (f_blob4(d, r, where, "tokens", 1, maxt, &blob[3 * i], &nt) || f_blob4(d, r, where, "logprobs", 1, maxt, &blob[3 * i + 1], &nl) ||
            f_blob4(d, r, where, "entropies", 0, maxt, &blob[3 * i + 2], &ne)) { rc = -1; break; }
        if (nl != nt) { rc = fail(d, WIRE_BAD_LENGTH, "%s'logprobs' has %lld values for %lld tokens (one log-prob per token)", where, (long long)nl, (long long)nt); break; }
        if (ne >= 0 && ne != nt) { rc = fail(d, WIRE_BAD_LENGTH, "%s'entropies' has %lld values for %lld tokens (one per token, or nil)", where, (long long)ne, (long long)nt); break; }
        x->n_tokens = (int32_t)nt;
        x->entropies = ne >= 0 ? (float *)1 : NULL;   // marks presence until the arrays are placed
        char finish[16] = "";
        if (f_f32(d, r, where, "reward", 1, &x->reward) || f_bool(d, r, where, "correct", 0, &x->correct) ||
            f_strbuf(d, r, where, "finish", 1, finish, sizeof finish) || f_i32(d, r, where, "boxed_count", 0, &x->boxed_count) ||
            f_bool(d, r, where, "has_cjk", 0, &x->has_cjk) || f_bool(d, r, where, "repetition", 0, &x->repetition) ||
            f_f32(d, r, where, "gen_seconds", 0, &x->gen_seconds)) { rc = -1; break; }
        if (strcmp(finish, "stop") == 0) x->finish = WIRE_FINISH_STOP;
        else if (strcmp(finish, "length") == 0) x->finish = WIRE_FINISH_LENGTH;
        else { rc = fail(d, WIRE_BAD_VALUE, "%s'finish' = '%s' (expected \"stop\" or \"length\")", where, finish); break; }
    }
    if (rc == 0) {
        // A blob is used where it lies when allowed and aligned for int32_t / float loads; the
        // others are converted into one arena. Validation later reads whichever the group got.
        size_t arena_bytes = 0;
        for (uint32_t i = 0; i < n; i++)
            for (int k = 0; k < 3; k++)
                if ((k < 2 || g->responses[i].entropies) && !in_place(d, blob[3 * i + k])) arena_bytes += (size_t)g->responses[i].n_tokens * 4;
        uint8_t *arena = arena_bytes ? mallocCheck(arena_bytes) : NULL;
        g->arena_ = arena;
        for (uint32_t i = 0; i < n; i++) {
            WireResponse *x = &g->responses[i];
            size_t nt = (size_t)x->n_tokens;
            x->tokens = (int32_t *)place(d, blob[3 * i], nt, &arena);
            x->logprobs = (float *)place(d, blob[3 * i + 1], nt, &arena);
            if (x->entropies) x->entropies = (float *)place(d, blob[3 * i + 2], nt, &arena);
        }
    } else {
        for (uint32_t i = 0; i < n; i++) g->responses[i].entropies = NULL;
    }
    free(blob);
    return rc;
}

static int dec_body(Dec *d, const msgpack_object *o, WireMsg *m) {
    const char *w = "";
    const WireLimits *L = d->lim;
    switch (m->type) {
    case WIRE_HELLO: {
        WireHello *h = &m->u.hello;
        if (f_strbuf(d, o, w, "worker", 1, h->worker, sizeof h->worker) || f_strbuf(d, o, w, "software", 0, h->software, sizeof h->software) ||
            f_i64(d, o, w, "pid", 0, INT64_MIN, INT64_MAX, &h->pid))
            return -1;
        const msgpack_object *caps = get(o, "caps");
        if (caps && caps->type != MSGPACK_OBJECT_NIL) {
            if (caps->type != MSGPACK_OBJECT_ARRAY) return fail(d, WIRE_BAD_FIELD, "'caps' must be an array of strings");
            if (caps->via.array.size > 64) return fail(d, WIRE_BAD_LENGTH, "'caps' has %u entries (at most 64)", caps->via.array.size);
            for (uint32_t i = 0; i < caps->via.array.size; i++) {
                const msgpack_object *c = &caps->via.array.ptr[i];
                if (c->type != MSGPACK_OBJECT_STR) return fail(d, WIRE_BAD_FIELD, "'caps[%u]' must be a string", i);
                if (key_is(c, "entropies")) h->caps |= WIRE_CAP_ENTROPIES;
                else if (key_is(c, "weights_chunks")) h->caps |= WIRE_CAP_WEIGHTS_CHUNKS;
                else if (key_is(c, "weights_hdf5")) h->caps |= WIRE_CAP_WEIGHTS_HDF5;
            }
        }
        return 0;
    }
    case WIRE_WELCOME: {
        WireWelcome *x = &m->u.welcome;
        int64_t mm = 0;
        if (f_u64(d, o, w, "session", 1, &x->session) || f_i64(d, o, w, "policy_version", 1, INT64_MIN, INT64_MAX, &x->policy_version) ||
            f_i64(d, o, w, "weights_version", 1, INT64_MIN, INT64_MAX, &x->weights_version) || f_f64(d, o, w, "lease_s", 1, &x->lease_s) ||
            f_f64(d, o, w, "heartbeat_s", 1, &x->heartbeat_s) || f_i64(d, o, w, "max_staleness", 1, INT64_MIN, INT64_MAX, &x->max_staleness) ||
            f_i64(d, o, w, "max_msg_bytes", 1, 0, INT64_MAX, &mm) || f_strbuf(d, o, w, "pub_endpoint", 0, x->pub_endpoint, sizeof x->pub_endpoint))
            return -1;
        x->max_msg_bytes = (uint64_t)mm;
        return 0;
    }
    case WIRE_REQUEST:
        return f_i32(d, o, w, "credits", 1, &m->u.request.credits);
    case WIRE_ASSIGN: {
        WireAssign *a = &m->u.assign;
        const uint8_t *tp = NULL;
        int64_t nt = 0;
        if (f_u64(d, o, w, "prompt_id", 1, &a->prompt_id) || f_u64(d, o, w, "lease_id", 1, &a->lease_id) || f_u64(d, o, w, "seed", 1, &a->seed) ||
            f_blob4(d, o, w, "prompt_tokens", 1, (size_t)(L->max_prompt_tokens > 0 ? L->max_prompt_tokens : 0), &tp, &nt) ||
            f_strdup(d, o, w, "text", 0, &a->text) || f_strdup(d, o, w, "answer", 1, &a->answer) ||
            f_strbuf(d, o, w, "verifier", 1, a->verifier, sizeof a->verifier) || f_i32(d, o, w, "group_size", 1, &a->group_size) ||
            f_i64(d, o, w, "policy_version", 1, INT64_MIN, INT64_MAX, &a->policy_version) || f_f64(d, o, w, "lease_s", 1, &a->lease_s))
            return -1;
        a->n_prompt = (int32_t)nt;
        a->prompt_tokens = mallocCheck((size_t)nt * 4);
        wire_le_load_i32(a->prompt_tokens, tp, (size_t)nt);
        const msgpack_object *s = get(o, "sampling");
        if (!s) return fail(d, WIRE_BAD_FIELD, "'sampling' missing (required)");
        return dec_sampling(d, s, &a->sampling);
    }
    case WIRE_GROUP:
        return dec_group(d, o, &m->u.group);
    case WIRE_HEARTBEAT:
        m->u.heartbeat.policy_version = -1;
        return f_strbuf(d, o, w, "worker", 1, m->u.heartbeat.worker, sizeof m->u.heartbeat.worker) ||
               f_i64(d, o, w, "policy_version", 0, INT64_MIN, INT64_MAX, &m->u.heartbeat.policy_version) ||
               f_i32(d, o, w, "held", 0, &m->u.heartbeat.n_held) ? -1 : 0;
    case WIRE_GOODBYE:
        return f_strbuf(d, o, w, "worker", 1, m->u.goodbye.worker, sizeof m->u.goodbye.worker) ||
               f_strbuf(d, o, w, "reason", 0, m->u.goodbye.reason, sizeof m->u.goodbye.reason) ? -1 : 0;
    case WIRE_ERROR:
        return f_strbuf(d, o, w, "code", 1, m->u.error.code, sizeof m->u.error.code) ||
               f_strdup(d, o, w, "message", 0, &m->u.error.message) || f_u64(d, o, w, "prompt_id", 0, &m->u.error.prompt_id) ? -1 : 0;
    case WIRE_WEIGHTS_REQUEST:
        m->u.weights_request.have_version = -1;
        return f_i64(d, o, w, "have_version", 0, INT64_MIN, INT64_MAX, &m->u.weights_request.have_version);
    case WIRE_WEIGHTS_CHUNK: {
        WireWeightsChunk *c = &m->u.chunk;
        uint64_t idx = 0, nch = 0, crc = 0;
        char dtype[8] = "";
        if (f_i64(d, o, w, "version", 1, INT64_MIN, INT64_MAX, &c->version) || f_u64(d, o, w, "total_bytes", 1, &c->total_bytes) ||
            f_u64(d, o, w, "offset", 1, &c->offset) || f_u64(d, o, w, "index", 1, &idx) || f_u64(d, o, w, "n_chunks", 1, &nch) ||
            f_u64(d, o, w, "crc32", 1, &crc) || f_strbuf(d, o, w, "dtype", 1, dtype, sizeof dtype))
            return -1;
        if (idx > UINT32_MAX || nch > UINT32_MAX || crc > UINT32_MAX) return fail(d, WIRE_BAD_VALUE, "'index', 'n_chunks' and 'crc32' must fit in 32 bits");
        if (strcmp(dtype, "f32") != 0) return fail(d, WIRE_BAD_VALUE, "'dtype' = '%s' (only \"f32\" is defined)", dtype);
        c->index = (uint32_t)idx;
        c->n_chunks = (uint32_t)nch;
        c->crc32 = (uint32_t)crc;
        const msgpack_object *v = get(o, "data");
        if (!v) return fail(d, WIRE_BAD_FIELD, "'data' missing (required)");
        if (v->type != MSGPACK_OBJECT_BIN) return fail(d, WIRE_BAD_FIELD, "'data' must be a bin blob (msgpack type %d)", (int)v->type);
        c->data = (const uint8_t *)v->via.bin.ptr;
        c->len = v->via.bin.size;
        return 0;
    }
    case WIRE_WEIGHTS_PATH:
        return f_i64(d, o, w, "version", 1, INT64_MIN, INT64_MAX, &m->u.path.version) || f_strdup(d, o, w, "path", 1, &m->u.path.path) ||
               f_u64(d, o, w, "n_params", 0, &m->u.path.n_params) ? -1 : 0;
    default:
        return fail(d, WIRE_BAD_TYPE, "not decodable");
    }
}

static WireBad decode(const void *data, size_t len, const WireLimits *lim, int fast, int views, int *viewed, WireMsg *out, char *err,
                      size_t errlen) {
    // Groups take the one-pass reader; whatever it does not accept is judged (and explained) below.
    if (fast && wire_decode_group_fast(data, len, lim, views, viewed, out)) {
        if (err && errlen) err[0] = 0;
        return WIRE_OK;
    }
    memset(out, 0, sizeof *out);
    *viewed = 0;
    Dec d = {lim, err, errlen, WIRE_OK, "message", views, 0};
    if (err && errlen) err[0] = 0;
    if (len == 0) { fail(&d, WIRE_BAD_SIZE, "empty (0 bytes)"); return d.bad; }
    if (len > lim->max_msg_bytes) {
        fail(&d, WIRE_BAD_SIZE, "%zu bytes exceeds max_msg_bytes=%zu (hint: raise the limit on both sides or send smaller groups)", len, lim->max_msg_bytes);
        return d.bad;
    }
    char perr[160];
    if (wire_msgpack_precheck(data, len, WIRE_MAX_DEPTH, wire_max_objects(lim), perr, sizeof perr)) {
        WireBad b = strstr(perr, "objects") || strstr(perr, "nested") ? WIRE_BAD_STRUCTURE : WIRE_BAD_MSGPACK;
        fail(&d, b, "%s", perr);
        return d.bad;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, data, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        fail(&d, WIRE_BAD_MSGPACK, "msgpack_unpack_next returned %d after %zu of %zu bytes", (int)r, off, len);
        msgpack_unpacked_destroy(&u);
        return d.bad;
    }
    const msgpack_object *o = &u.data;
    if (o->type != MSGPACK_OBJECT_MAP) {
        fail(&d, WIRE_BAD_STRUCTURE, "top level is msgpack type %d, not a map", (int)o->type);
    } else if (check_map(&d, o, "top level") == 0) {
        int64_t v = -1;
        const msgpack_object *vo = get(o, "v");
        const msgpack_object *to = get(o, "type");
        if (!vo || vo->type != MSGPACK_OBJECT_POSITIVE_INTEGER || (v = (int64_t)vo->via.u64) != WIRE_PROTOCOL_VERSION) {
            fail(&d, WIRE_BAD_VERSION, "protocol version 'v' is %s%lld, this side speaks %d (hint: upgrade the older peer)",
                 vo ? "" : "missing, ", (long long)v, WIRE_PROTOCOL_VERSION);
        } else if (!to || (out->type = type_from(to)) == WIRE_NONE) {
            if (to && to->type == MSGPACK_OBJECT_STR)
                fail(&d, WIRE_BAD_TYPE, "unknown 'type' '%.*s'", (int)(to->via.str.size > 40 ? 40 : to->via.str.size), to->via.str.ptr);
            else
                fail(&d, WIRE_BAD_TYPE, "'type' missing or not a string");
        } else {
            d.msg = wire_type_name(out->type);
            if (dec_body(&d, o, out) == 0) {
                WireBad b = wire_validate(out, lim, err, errlen);
                if (b != WIRE_OK) d.bad = b;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    if (d.bad != WIRE_OK) wire_msg_free(out);   // no backing attached yet: only what decode allocated
    else *viewed = d.viewed;
    return d.bad;
}

static WireBad decode_backed(void *data, size_t len, WireBacking *backing, int *kept, const WireLimits *lim, int fast, WireMsg *out,
                             char *err, size_t errlen) {
    int viewed;
    WireBad b = decode(data, len, lim, fast, backing != NULL, &viewed, out, err, errlen);
    *kept = b == WIRE_OK && viewed;
    if (*kept) out->u.group.backing_ = backing;   // only groups view their input
    return b;
}

WireBad wire_decode(const void *data, size_t len, const WireLimits *lim, WireMsg *out, char *err, size_t errlen) {
    int viewed;
    return decode(data, len, lim, 1, 0, &viewed, out, err, errlen);
}

WireBad wire_decode_generic(const void *data, size_t len, const WireLimits *lim, WireMsg *out, char *err, size_t errlen) {
    int viewed;
    return decode(data, len, lim, 0, 0, &viewed, out, err, errlen);
}

WireBad wire_decode_backed(void *data, size_t len, WireBacking *backing, int *kept, const WireLimits *lim, WireMsg *out,
                           char *err, size_t errlen) {
    return decode_backed(data, len, backing, kept, lim, 1, out, err, errlen);
}

WireBad wire_decode_backed_generic(void *data, size_t len, WireBacking *backing, int *kept, const WireLimits *lim, WireMsg *out,
                                   char *err, size_t errlen) {
    return decode_backed(data, len, backing, kept, lim, 0, out, err, errlen);
}

int wire_peek_group_ids(const void *data, size_t len, const WireLimits *lim, uint64_t *prompt_id, uint64_t *lease_id) {
    if (len == 0 || len > lim->max_msg_bytes) return -1;
    if (wire_msgpack_precheck(data, len, WIRE_MAX_DEPTH, wire_max_objects(lim), NULL, 0)) return -1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *t = get(&u.data, "type"), *p = get(&u.data, "prompt_id"), *l = get(&u.data, "lease_id");
        if (t && key_is(t, "group") && p && l && p->type == MSGPACK_OBJECT_POSITIVE_INTEGER && l->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            *prompt_id = p->via.u64;
            *lease_id = l->via.u64;
            rc = 0;
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

// ---- validation of values (also usable on messages built locally) -------------------------------
static int tokens_ok(Dec *d, const int32_t *t, size_t n, const char *where) {
    int32_t vocab = d->lim->vocab_size;
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0 || (vocab > 0 && t[i] >= vocab))
            return fail(d, WIRE_BAD_VALUE, "%s[%zu] = %d is not a token id (vocab_size %d)", where, i, t[i], vocab);
    return 0;
}

// Branch-free scans (they vectorise); the slow loops above only run to name the offending index.
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

static int check_group(Dec *d, const WireGroup *g) {
    const WireLimits *L = d->lim;
    if (g->policy_version < 0) return fail(d, WIRE_BAD_VALUE, "'policy_version' = %lld must be >= 0", (long long)g->policy_version);
    if (!g->worker[0]) return fail(d, WIRE_BAD_VALUE, "'worker' is empty");
    if (g->n_responses < 1 || g->n_responses > L->max_group) return fail(d, WIRE_BAD_LENGTH, "%d responses (1 to max_group=%d)", g->n_responses, L->max_group);
    for (int i = 0; i < g->n_responses; i++) {
        const WireResponse *r = &g->responses[i];
        if (r->n_tokens < 1 || r->n_tokens > L->max_tokens)
            return fail(d, WIRE_BAD_LENGTH, "responses[%d] has %d tokens (1 to max_tokens=%d)", i, r->n_tokens, L->max_tokens);
        size_t nt = (size_t)r->n_tokens;
        if (!tokens_all_ok(r->tokens, nt, L->vocab_size)) {
            char where[48];
            snprintf(where, sizeof where, "responses[%d].tokens", i);
            if (tokens_ok(d, r->tokens, nt, where)) return -1;
        }
        if (floats_all_in(r->logprobs, nt, -FLT_MAX, 0.0f) && (!r->entropies || floats_all_in(r->entropies, nt, 0.0f, FLT_MAX))) {
        } else for (int t = 0; t < r->n_tokens; t++) {
            float lp = r->logprobs[t];
            if (!isfinite(lp) || lp > 0.0f)
                return fail(d, WIRE_BAD_VALUE, "responses[%d].logprobs[%d] = %g (log-probs must be finite and <= 0)", i, t, (double)lp);
            if (r->entropies && (!isfinite(r->entropies[t]) || r->entropies[t] < 0.0f))
                return fail(d, WIRE_BAD_VALUE, "responses[%d].entropies[%d] = %g (must be finite and >= 0)", i, t, (double)r->entropies[t]);
        }
        if (!isfinite(r->reward)) return fail(d, WIRE_BAD_VALUE, "responses[%d].reward is not finite", i);
        if (r->boxed_count < 0) return fail(d, WIRE_BAD_VALUE, "responses[%d].boxed_count = %d must be >= 0", i, r->boxed_count);
        if (!isfinite(r->gen_seconds) || r->gen_seconds < 0) return fail(d, WIRE_BAD_VALUE, "responses[%d].gen_seconds must be finite and >= 0", i);
        if (r->finish != WIRE_FINISH_STOP && r->finish != WIRE_FINISH_LENGTH) return fail(d, WIRE_BAD_VALUE, "responses[%d].finish unknown", i);
    }
    return 0;
}

static int check_sampling(Dec *d, const WireSampling *s, int32_t max_tokens) {
    if (!isfinite(s->temperature) || s->temperature <= 0) return fail(d, WIRE_BAD_VALUE, "sampling.temperature = %g must be > 0", (double)s->temperature);
    if (!isfinite(s->top_p) || s->top_p <= 0 || s->top_p > 1) return fail(d, WIRE_BAD_VALUE, "sampling.top_p = %g must be in (0, 1]", (double)s->top_p);
    if (s->top_k < 0) return fail(d, WIRE_BAD_VALUE, "sampling.top_k = %d must be >= 0 (0 = off)", s->top_k);
    if (s->max_new_tokens < 1 || s->max_new_tokens > max_tokens)
        return fail(d, WIRE_BAD_VALUE, "sampling.max_new_tokens = %d must be in [1, max_tokens=%d]", s->max_new_tokens, max_tokens);
    if (s->n_stop < 0 || s->n_stop > WIRE_MAX_STOP) return fail(d, WIRE_BAD_LENGTH, "sampling.stop has %d ids (at most %d)", s->n_stop, WIRE_MAX_STOP);
    return tokens_ok(d, s->stop, (size_t)s->n_stop, "sampling.stop");
}

WireBad wire_validate(const WireMsg *m, const WireLimits *lim, char *err, size_t errlen) {
    Dec d = {lim, err, errlen, WIRE_OK, wire_type_name(m->type), 0, 0};
    const WireLimits *L = lim;
    switch (m->type) {
    case WIRE_HELLO:
        if (!m->u.hello.worker[0]) fail(&d, WIRE_BAD_VALUE, "'worker' is empty (hint: use host:pid)");
        break;
    case WIRE_WELCOME: {
        const WireWelcome *w = &m->u.welcome;
        if (w->lease_s <= 0 || w->heartbeat_s <= 0) fail(&d, WIRE_BAD_VALUE, "'lease_s' and 'heartbeat_s' must be > 0");
        else if (w->policy_version < 0 || w->weights_version < -1 || w->max_staleness < 0)
            fail(&d, WIRE_BAD_VALUE, "versions must be >= 0 (weights_version >= -1), max_staleness >= 0");
        break;
    }
    case WIRE_REQUEST:
        if (m->u.request.credits < 0 || m->u.request.credits > 65536) fail(&d, WIRE_BAD_VALUE, "'credits' = %d must be in [0, 65536]", m->u.request.credits);
        break;
    case WIRE_ASSIGN: {
        const WireAssign *a = &m->u.assign;
        if (a->n_prompt < 1 || a->n_prompt > L->max_prompt_tokens) fail(&d, WIRE_BAD_LENGTH, "'prompt_tokens' has %d tokens (1 to %d)", a->n_prompt, L->max_prompt_tokens);
        else if (tokens_ok(&d, a->prompt_tokens, (size_t)a->n_prompt, "prompt_tokens")) break;
        else if (a->group_size < 1 || a->group_size > L->max_group) fail(&d, WIRE_BAD_VALUE, "'group_size' = %d must be in [1, max_group=%d]", a->group_size, L->max_group);
        else if (a->policy_version < 0) fail(&d, WIRE_BAD_VALUE, "'policy_version' = %lld must be >= 0", (long long)a->policy_version);
        else if (!(a->lease_s > 0) || !isfinite(a->lease_s)) fail(&d, WIRE_BAD_VALUE, "'lease_s' must be finite and > 0");
        else if (!a->verifier[0]) fail(&d, WIRE_BAD_VALUE, "'verifier' is empty (e.g. \"math\")");
        else if ((a->text && strlen(a->text) > L->max_text_bytes) || (a->answer && strlen(a->answer) > L->max_text_bytes))
            fail(&d, WIRE_BAD_LENGTH, "'text' or 'answer' longer than max_text_bytes=%zu", L->max_text_bytes);
        else check_sampling(&d, &a->sampling, L->max_tokens);
        break;
    }
    case WIRE_GROUP:
        check_group(&d, &m->u.group);
        break;
    case WIRE_HEARTBEAT:
        if (m->u.heartbeat.policy_version < -1 || m->u.heartbeat.n_held < 0) fail(&d, WIRE_BAD_VALUE, "'policy_version' must be >= -1 and 'held' >= 0");
        else if (!m->u.heartbeat.worker[0]) fail(&d, WIRE_BAD_VALUE, "'worker' is empty");
        break;
    case WIRE_GOODBYE:
        if (!m->u.goodbye.worker[0]) fail(&d, WIRE_BAD_VALUE, "'worker' is empty");
        break;
    case WIRE_ERROR:
        if (!m->u.error.code[0]) fail(&d, WIRE_BAD_VALUE, "'code' is empty");
        break;
    case WIRE_WEIGHTS_REQUEST:
        if (m->u.weights_request.have_version < -1) fail(&d, WIRE_BAD_VALUE, "'have_version' must be >= -1");
        break;
    case WIRE_WEIGHTS_CHUNK: {
        const WireWeightsChunk *c = &m->u.chunk;
        if (c->version < 0) fail(&d, WIRE_BAD_VALUE, "'version' must be >= 0");
        else if (c->total_bytes == 0 || c->total_bytes % 4) fail(&d, WIRE_BAD_LENGTH, "'total_bytes' = %llu must be a positive multiple of 4", (unsigned long long)c->total_bytes);
        else if (c->n_chunks < 1 || c->index >= c->n_chunks) fail(&d, WIRE_BAD_VALUE, "chunk 'index' %u of 'n_chunks' %u", c->index, c->n_chunks);
        else if (c->len > L->max_chunk_bytes) fail(&d, WIRE_BAD_LENGTH, "chunk of %zu bytes exceeds max_chunk_bytes=%zu", c->len, L->max_chunk_bytes);
        else if (c->len % 4 || c->offset % 4 || c->offset > c->total_bytes || c->len > c->total_bytes - c->offset)
            fail(&d, WIRE_BAD_LENGTH, "chunk [%llu, +%zu) does not fit in 'total_bytes' %llu in whole floats", (unsigned long long)c->offset, c->len, (unsigned long long)c->total_bytes);
        break;
    }
    case WIRE_WEIGHTS_PATH:
        if (m->u.path.version < 0) fail(&d, WIRE_BAD_VALUE, "'version' must be >= 0");
        else if (!m->u.path.path || !m->u.path.path[0]) fail(&d, WIRE_BAD_VALUE, "'path' is empty");
        break;
    default:
        fail(&d, WIRE_BAD_TYPE, "unknown message type %d", (int)m->type);
    }
    return d.bad;
}

void wire_assign_free(WireAssign *a) {
    free(a->prompt_tokens);
    free(a->text);
    free(a->answer);
    a->prompt_tokens = NULL;
    a->text = a->answer = NULL;
}

void wire_group_free(WireGroup *g) {
    free(g->arena_);
    if (g->backing_) g->backing_->release(g->backing_);
    free(g->responses);
    g->arena_ = NULL;
    g->backing_ = NULL;
    g->responses = NULL;
    g->n_responses = 0;
}

void wire_msg_free(WireMsg *m) {
    switch (m->type) {
    case WIRE_ASSIGN: wire_assign_free(&m->u.assign); break;
    case WIRE_GROUP: wire_group_free(&m->u.group); break;
    case WIRE_ERROR: free(m->u.error.message); break;
    case WIRE_WEIGHTS_PATH: free(m->u.path.path); break;
    default: break;
    }
    memset(m, 0, sizeof *m);
}
