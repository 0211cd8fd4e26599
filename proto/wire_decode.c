// Decoding: size pre-check -> msgpack_unpack_next (zero-copy for str/bin) -> the message's table
// (proto/wire_schema.c) read row by row -> wire_validate. Every rejection names the message type and
// field and says what was expected.
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "proto/wire_schema.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WIRE_HOST_LE 1
#else
#define WIRE_HOST_LE 0          // blobs are little-endian: a big-endian host always converts a copy
#endif

#define WIRE_MAX_FLAGS 64       // strings in a WK_FLAGS array (hello caps)
#define PLACED_STACK 64         // arrays to place before the decoder needs the heap (a G = 21 group)

// A WF_PLACED array met while reading: where its pointer goes and the blob it comes from.
typedef struct { void **dst; const uint8_t *src; size_t n; } Placed;

typedef struct {
    WireReport r;
    int views;                  // WF_PLACED arrays may be used in place (wire_decode_backed)
    int viewed;                 // ... and at least one was
    Placed *placed;             // (n_placed,) stack, or the heap once it outgrows it
    size_t n_placed, cap_placed;
    Placed stack[PLACED_STACK];
} Dec;

static int key_is_n(const msgpack_object *k, const char *s, size_t n) {
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

// The value of key k (n bytes) in map, NULL if absent. Peers send the rows in table order, so the
// search starts where row `hint` would be.
static const msgpack_object *get(const msgpack_object *map, const char *k, size_t n, uint32_t hint) {
    const msgpack_object_map *m = &map->via.map;
    for (uint32_t j = 0; j < m->size; j++) {
        uint32_t i = hint + j < m->size ? hint + j : hint + j - m->size;
        if (key_is_n(&m->ptr[i].key, k, n)) return &m->ptr[i].val;
    }
    return NULL;
}

// Why check_map rejects a map, named only then (paths cost a snprintf).
typedef enum { MAP_NOT_MAP, MAP_TOO_MANY, MAP_KEY_NOT_STR, MAP_DUPLICATE } MapProblem;

static int map_fail(Dec *d, const msgpack_object *o, const WirePath *at, MapProblem why, uint32_t i) {
    char where[64];
    wire_path_name(at, where, sizeof where);
    const msgpack_object_map *m = &o->via.map;
    switch (why) {
    case MAP_NOT_MAP: return wire_fail(&d->r, WIRE_BAD_FIELD, NULL, "%s is not a map (msgpack type %d)", where, (int)o->type);
    case MAP_TOO_MANY: return wire_fail(&d->r, WIRE_BAD_STRUCTURE, NULL, "%s has %u keys (at most %d)", where, m->size, WIRE_MAX_MAP_KEYS);
    case MAP_KEY_NOT_STR: return wire_fail(&d->r, WIRE_BAD_STRUCTURE, NULL, "%s: key %u is not a string", where, i);
    default: {
        const msgpack_object *k = &m->ptr[i].key;
        return wire_fail(&d->r, WIRE_BAD_STRUCTURE, NULL, "%s: duplicate key '%.*s'", where, (int)k->via.str.size, k->via.str.ptr);
    }
    }
}

// A map we read fields from: string keys, bounded size, no duplicate keys (which would let two
// readers of the same message disagree about its content).
static int check_map(Dec *d, const msgpack_object *o, const WirePath *at) {
    if (o->type != MSGPACK_OBJECT_MAP) return map_fail(d, o, at, MAP_NOT_MAP, 0);
    const msgpack_object_map *m = &o->via.map;
    if (m->size > WIRE_MAX_MAP_KEYS) return map_fail(d, o, at, MAP_TOO_MANY, 0);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) return map_fail(d, o, at, MAP_KEY_NOT_STR, i);
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object *kj = &m->ptr[j].key;
            // two empty keys are duplicates too (msgpack-c gives them NULL pointers: no memcmp then)
            if (kj->via.str.size == k->via.str.size &&
                (k->via.str.size == 0 || memcmp(kj->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0))
                return map_fail(d, o, at, MAP_DUPLICATE, i);
        }
    }
    return 0;
}

static int dec_map(Dec *d, const WireSpec *s, const msgpack_object *o, void *base, const WirePath *at, uint32_t lead);

// ---- one value per kind ----------------------------------------------------------------------------
static int dec_int(Dec *d, const WireField *f, const msgpack_object *v, char *p, const WirePath *at) {
    int is_unsigned = f->kind == WK_U64 || f->kind == WK_U32;
    if (is_unsigned) {
        if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' = %lld must be >= 0", f->key, (long long)v->via.i64);
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be an unsigned integer (msgpack type %d)", f->key, (int)v->type);
        uint64_t u = v->via.u64;
        if (f->kind == WK_U64) { memcpy(p, &u, 8); return 0; }
        if (u > UINT32_MAX) return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' = %llu is out of range [0, %u]", f->key, (unsigned long long)u, UINT32_MAX);
        uint32_t x = (uint32_t)u;
        memcpy(p, &x, 4);
        return 0;
    }
    int64_t lo = f->kind == WK_I32 ? INT32_MIN : INT64_MIN, hi = f->kind == WK_I32 ? INT32_MAX : INT64_MAX, x;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (v->via.u64 > (uint64_t)INT64_MAX)
            return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' = %llu is out of range [%lld, %lld]", f->key, (unsigned long long)v->via.u64, (long long)lo, (long long)hi);
        x = (int64_t)v->via.u64;
    } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        x = v->via.i64;
    } else {
        return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be an integer (msgpack type %d)", f->key, (int)v->type);
    }
    if (x < lo || x > hi) return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' = %lld is out of range [%lld, %lld]", f->key, (long long)x, (long long)lo, (long long)hi);
    if (f->kind == WK_I64) memcpy(p, &x, 8);
    else { int32_t y = (int32_t)x; memcpy(p, &y, 4); }
    return 0;
}

// Numbers may arrive as float32, float64 or an integer (Python packs -1 as an int).
static int dec_float(Dec *d, const WireField *f, const msgpack_object *v, char *p, const WirePath *at) {
    double x;
    switch (v->type) {
    case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: x = v->via.f64; break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: x = (double)v->via.u64; break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: x = (double)v->via.i64; break;
    default: return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be a number (msgpack type %d)", f->key, (int)v->type);
    }
    if (!isfinite(x)) return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' is not finite", f->key);
    if (f->kind == WK_F64) { memcpy(p, &x, 8); return 0; }
    float y = (float)x;
    if (!isfinite(y)) return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' = %g overflows float32", f->key, x);
    memcpy(p, &y, 4);
    return 0;
}

// A str of at most the row's byte count, without NUL bytes.
static int dec_str(Dec *d, const WireField *f, const msgpack_object *v, const WirePath *at) {
    if (v->type != MSGPACK_OBJECT_STR) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be a string (msgpack type %d)", f->key, (int)v->type);
    if (wire_check_count(&d->r, at, f, v->via.str.size, "bytes", 1)) return -1;
    if (v->via.str.size && memchr(v->via.str.ptr, 0, v->via.str.size)) return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' contains a NUL byte", f->key);
    return 0;
}

static int dec_enum(Dec *d, const WireField *f, const msgpack_object *v, char *p, const WirePath *at) {
    if (v->type != MSGPACK_OBJECT_STR) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be a string (msgpack type %d)", f->key, (int)v->type);
    for (int i = 0; f->names[i]; i++)
        if (key_is_n(v, f->names[i], strlen(f->names[i]))) {
            if (f->size) memcpy(p, &i, sizeof i);
            return 0;
        }
    int shown = v->via.str.size > 40 ? 40 : (int)v->via.str.size;
    return wire_fail(&d->r, WIRE_BAD_VALUE, at, "'%s' = '%.*s' (%s)", f->key, shown, v->via.str.ptr, f->hint);
}

static int dec_flags(Dec *d, const WireField *f, const msgpack_object *v, char *p, const WirePath *at) {
    if (v->type != MSGPACK_OBJECT_ARRAY) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be an array of strings", f->key);
    if (v->via.array.size > WIRE_MAX_FLAGS) return wire_fail(&d->r, WIRE_BAD_LENGTH, at, "'%s' has %u entries (at most %d)", f->key, v->via.array.size, WIRE_MAX_FLAGS);
    uint32_t bits = 0;
    for (uint32_t i = 0; i < v->via.array.size; i++) {
        const msgpack_object *c = &v->via.array.ptr[i];
        if (c->type != MSGPACK_OBJECT_STR) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s[%u]' must be a string", f->key, i);
        for (int k = 0; f->names[k]; k++)
            if (key_is_n(c, f->names[k], strlen(f->names[k]))) bits |= 1u << k;
    }
    memcpy(p, &bits, 4);
    return 0;
}

static int in_place(const Dec *d, const uint8_t *p) { return d->views && WIRE_HOST_LE && ((uintptr_t)p & 3u) == 0; }

// A bin of 4-byte items. The first array of a count sets it; a WF_SAME_COUNT one must agree with it.
static int dec_items(Dec *d, const WireSpec *s, const WireField *f, const msgpack_object *v, void *base, const WirePath *at) {
    if (v->type != MSGPACK_OBJECT_BIN)
        return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be a bin blob of little-endian 4-byte items, not msgpack type %d (hint: send bytes, not a list)",
                         f->key, (int)v->type);
    if (v->via.bin.size % 4) return wire_fail(&d->r, WIRE_BAD_LENGTH, at, "'%s' is %u bytes, not a multiple of 4", f->key, v->via.bin.size);
    size_t n = v->via.bin.size / 4;
    if (wire_check_count(&d->r, at, f, (int64_t)n, "items", 1)) return -1;
    if ((f->flags & WF_INLINE) && n > f->size / 4) return wire_fail(&d->r, WIRE_BAD_LENGTH, at, "'%s' has %zu items (at most %zu)", f->key, n, (size_t)f->size / 4);
    int32_t *count = (int32_t *)((char *)base + f->cnt);
    if (f->flags & WF_SAME_COUNT) {
        const WireField *first = s->fields;
        while (first->cnt != f->cnt || (first->flags & WF_SAME_COUNT)) first++;
        if ((int64_t)n != *count)
            return wire_fail(&d->r, WIRE_BAD_LENGTH, at, "'%s' has %zu values for %d %s (%s)", f->key, n, *count, first->key, f->hint);
    }
    *count = (int32_t)n;
    const uint8_t *src = (const uint8_t *)v->via.bin.ptr;
    char *p = (char *)base + f->off;
    if (f->flags & WF_INLINE) {
        wire_le_load_i32((int32_t *)(void *)p, src, n);   // a bit-exact 4-byte move, floats alike
    } else if (f->flags & WF_OWNED) {
        int32_t *a = mallocCheck(n * 4);
        wire_le_load_i32(a, src, n);
        memcpy(p, &a, sizeof a);
    } else {   // WF_PLACED: once the whole message has been read (place_arrays)
        if (d->n_placed == d->cap_placed) {
            d->cap_placed *= 2;
            if (d->placed == d->stack) {
                d->placed = mallocCheck(d->cap_placed * sizeof *d->placed);
                memcpy(d->placed, d->stack, sizeof d->stack);
            } else {
                d->placed = reallocCheck(d->placed, d->cap_placed * sizeof *d->placed);
            }
        }
        d->placed[d->n_placed++] = (Placed){(void **)(void *)p, src, n};
    }
    return 0;
}

static int dec_maps(Dec *d, const WireField *f, const msgpack_object *v, void *base, const WirePath *at) {
    if (v->type != MSGPACK_OBJECT_ARRAY) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be an array (msgpack type %d)", f->key, (int)v->type);
    uint32_t n = v->via.array.size;
    if (wire_check_count(&d->r, at, f, n, "entries", 1)) return -1;
    char *a = callocCheck(n, f->sub->size);
    memcpy((char *)base + f->off, &a, sizeof a);
    int32_t cnt = (int32_t)n;
    memcpy((char *)base + f->cnt, &cnt, 4);
    for (uint32_t i = 0; i < n; i++) {
        WirePath in = {at, f->key, (long)i};
        if (check_map(d, &v->via.array.ptr[i], &in) || dec_map(d, f->sub, &v->via.array.ptr[i], a + (size_t)i * f->sub->size, &in, 0)) return -1;
    }
    return 0;
}

// Row i of spec from map. Absent optional fields keep the struct's zero, or take their default.
static int dec_field(Dec *d, const WireSpec *s, int i, const msgpack_object *map, uint32_t lead, void *base, const WirePath *at) {
    const WireField *f = &s->fields[i];
    char *p = (char *)base + f->off;
    const msgpack_object *v = get(map, f->key, f->key_len, lead + (uint32_t)i);
    int req = f->flags & WF_REQ;
    if (!v && req) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' missing (required)", f->key);
    if (!v || (!req && v->type == MSGPACK_OBJECT_NIL)) {
        if (f->kind == WK_I64) memcpy(p, &f->def, 8);
        else if (f->kind == WK_I32) { int32_t x = (int32_t)f->def; memcpy(p, &x, 4); }
        else if (f->kind == WK_BOOL) { int x = (int)f->def; memcpy(p, &x, sizeof x); }
        else if (f->kind == WK_STR) { char *e = strdupCheck(""); memcpy(p, &e, sizeof e); }
        return 0;
    }
    switch (f->kind) {
    case WK_U64: case WK_U32: case WK_I64: case WK_I32: return dec_int(d, f, v, p, at);
    case WK_F64: case WK_F32: return dec_float(d, f, v, p, at);
    case WK_BOOL: {
        if (v->type != MSGPACK_OBJECT_BOOLEAN) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be a boolean (msgpack type %d)", f->key, (int)v->type);
        int x = v->via.boolean ? 1 : 0;
        memcpy(p, &x, sizeof x);
        return 0;
    }
    case WK_STRBUF:
        if (dec_str(d, f, v, at)) return -1;
        memcpy(p, v->via.str.ptr, v->via.str.size);
        p[v->via.str.size] = 0;
        return 0;
    case WK_STR: {
        if (dec_str(d, f, v, at)) return -1;
        char *t = mallocCheck(v->via.str.size + 1);
        memcpy(t, v->via.str.ptr, v->via.str.size);
        t[v->via.str.size] = 0;
        memcpy(p, &t, sizeof t);
        return 0;
    }
    case WK_ENUM: return dec_enum(d, f, v, p, at);
    case WK_FLAGS: return dec_flags(d, f, v, p, at);
    case WK_I32S: case WK_F32S: return dec_items(d, s, f, v, base, at);
    case WK_BYTES: {
        if (v->type != MSGPACK_OBJECT_BIN) return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' must be a bin blob (msgpack type %d)", f->key, (int)v->type);
        const uint8_t *b = (const uint8_t *)v->via.bin.ptr;
        size_t n = v->via.bin.size;
        memcpy(p, &b, sizeof b);
        memcpy((char *)base + f->cnt, &n, sizeof n);
        return 0;
    }
    case WK_MAP: {
        WirePath in = {at, f->key, -1};
        return check_map(d, v, &in) || dec_map(d, f->sub, v, p, &in, 0) ? -1 : 0;
    }
    case WK_MAPS: return dec_maps(d, f, v, base, at);
    default: return wire_fail(&d->r, WIRE_BAD_FIELD, at, "'%s' has no decoder (kind %d)", f->key, f->kind);
    }
}

// Every row of s, in table order; `lead` pairs come before the first row in a well-ordered map.
static int dec_map(Dec *d, const WireSpec *s, const msgpack_object *o, void *base, const WirePath *at, uint32_t lead) {
    for (int i = 0; i < s->n_fields; i++)
        if (dec_field(d, s, i, o, lead, base, at)) return -1;
    return 0;
}

// Points each WF_PLACED array at its blob where allowed and aligned for int32_t / float loads, and
// converts the others into one arena. Validation then reads whichever each array got.
static void place_arrays(Dec *d, const WireSpec *s, void *base) {
    size_t bytes = 0;
    for (size_t i = 0; i < d->n_placed; i++)
        if (!in_place(d, d->placed[i].src)) bytes += d->placed[i].n * 4;
    uint8_t *arena = bytes ? mallocCheck(bytes) : NULL;
    memcpy((char *)base + s->arena_off, &arena, sizeof arena);
    for (size_t i = 0; i < d->n_placed; i++) {
        const Placed *q = &d->placed[i];
        if (in_place(d, q->src)) {
            d->viewed = 1;
            *q->dst = (void *)(uintptr_t)q->src;
        } else {
            *q->dst = arena;
            if (q->n) wire_le_load_i32((int32_t *)(void *)arena, q->src, q->n);
            arena += q->n * 4;
        }
    }
}

static WireType type_from(const msgpack_object *v) {
    for (int t = 1; t < WIRE_NTYPES; t++)
        if (key_is_n(v, wire_messages[t].name, strlen(wire_messages[t].name))) return (WireType)t;
    return WIRE_NONE;
}

// views: WF_PLACED arrays may point into data (*viewed says whether any does).
static WireBad decode(const void *data, size_t len, const WireLimits *lim, int views, int *viewed, WireMsg *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    *viewed = 0;
    Dec d;
    d.r = (WireReport){lim, err, errlen, WIRE_OK, "message"};
    d.views = views;
    d.viewed = 0;
    d.placed = d.stack;
    d.n_placed = 0;
    d.cap_placed = PLACED_STACK;
    if (err && errlen) err[0] = 0;
    if (len == 0) { wire_fail(&d.r, WIRE_BAD_SIZE, NULL, "empty (0 bytes)"); return d.r.bad; }
    if (len > lim->max_msg_bytes) {
        wire_fail(&d.r, WIRE_BAD_SIZE, NULL, "%zu bytes exceeds max_msg_bytes=%zu (hint: raise the limit on both sides or send smaller groups)", len,
                  lim->max_msg_bytes);
        return d.r.bad;
    }
    char perr[160];
    WireBad pre = wire_msgpack_precheck(data, len, WIRE_MAX_DEPTH, wire_max_objects(lim), perr, sizeof perr);
    if (pre != WIRE_OK) { wire_fail(&d.r, pre, NULL, "%s", perr); return d.r.bad; }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&u, data, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        wire_fail(&d.r, WIRE_BAD_MSGPACK, NULL, "msgpack_unpack_next returned %d after %zu of %zu bytes", (int)ur, off, len);
        msgpack_unpacked_destroy(&u);
        return d.r.bad;
    }
    const msgpack_object *o = &u.data;
    if (o->type != MSGPACK_OBJECT_MAP) {
        wire_fail(&d.r, WIRE_BAD_STRUCTURE, NULL, "top level is msgpack type %d, not a map", (int)o->type);
    } else if (check_map(&d, o, NULL) == 0) {
        int64_t v = -1;
        const msgpack_object *vo = get(o, "v", 1, 0), *to = get(o, "type", 4, 1);
        if (!vo || vo->type != MSGPACK_OBJECT_POSITIVE_INTEGER || (v = (int64_t)vo->via.u64) != WIRE_PROTOCOL_VERSION) {
            wire_fail(&d.r, WIRE_BAD_VERSION, NULL, "protocol version 'v' is %s%lld, this side speaks %d (hint: upgrade the older peer)",
                      vo ? "" : "missing, ", (long long)v, WIRE_PROTOCOL_VERSION);
        } else if (!to || (out->type = type_from(to)) == WIRE_NONE) {
            if (to && to->type == MSGPACK_OBJECT_STR)
                wire_fail(&d.r, WIRE_BAD_TYPE, NULL, "unknown 'type' '%.*s'", (int)(to->via.str.size > 40 ? 40 : to->via.str.size), to->via.str.ptr);
            else
                wire_fail(&d.r, WIRE_BAD_TYPE, NULL, "'type' missing or not a string");
        } else {
            const WireSpec *s = &wire_messages[out->type];
            d.r.msg = s->name;
            if (dec_map(&d, s, o, &out->u, NULL, 2) == 0) {
                if (s->placed) place_arrays(&d, s, &out->u);
                WireBad b = wire_validate(out, lim, err, errlen);
                if (b != WIRE_OK) d.r.bad = b;
                else if (out->type == WIRE_GROUP) wire_group_settle_verdicts(&out->u.group);
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    if (d.placed != d.stack) free(d.placed);
    if (d.r.bad != WIRE_OK) wire_msg_free(out);   // no backing attached yet: only what decode allocated
    else *viewed = d.viewed;
    return d.r.bad;
}

WireBad wire_decode(const void *data, size_t len, const WireLimits *lim, WireMsg *out, char *err, size_t errlen) {
    int viewed;
    return decode(data, len, lim, 0, &viewed, out, err, errlen);
}

WireBad wire_decode_backed(void *data, size_t len, WireBacking *backing, int *kept, const WireLimits *lim, WireMsg *out,
                           char *err, size_t errlen) {
    int viewed;
    WireBad b = decode(data, len, lim, backing != NULL, &viewed, out, err, errlen);
    *kept = b == WIRE_OK && viewed;
    if (*kept) memcpy((char *)&out->u + wire_messages[out->type].backing_off, &backing, sizeof backing);
    return b;
}

int wire_peek_group_ids(const void *data, size_t len, const WireLimits *lim, uint64_t *prompt_id, uint64_t *lease_id) {
    if (len == 0 || len > lim->max_msg_bytes) return -1;
    if (wire_msgpack_precheck(data, len, WIRE_MAX_DEPTH, wire_max_objects(lim), NULL, 0) != WIRE_OK) return -1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *t = get(&u.data, "type", 4, 1), *p = get(&u.data, "prompt_id", 9, 2), *l = get(&u.data, "lease_id", 8, 3);
        if (t && key_is_n(t, "group", 5) && p && l && p->type == MSGPACK_OBJECT_POSITIVE_INTEGER && l->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            *prompt_id = p->via.u64;
            *lease_id = l->via.u64;
            rc = 0;
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

// ---- freeing: what the tables say a struct owns -----------------------------------------------------
static int owns_memory(const WireSpec *s) {
    for (int i = 0; i < s->n_fields; i++) {
        const WireField *f = &s->fields[i];
        if (f->kind == WK_STR || f->kind == WK_MAPS || (f->flags & WF_OWNED) || (f->kind == WK_MAP && owns_memory(f->sub))) return 1;
    }
    return 0;
}

static void free_fields(const WireSpec *s, void *base) {
    for (int i = 0; i < s->n_fields; i++) {
        const WireField *f = &s->fields[i];
        char *p = (char *)base + f->off;
        if (f->kind == WK_STR || ((f->kind == WK_I32S || f->kind == WK_F32S) && (f->flags & WF_OWNED))) {
            void *a;
            memcpy(&a, p, sizeof a);
            free(a);
            memset(p, 0, sizeof(void *));
        } else if (f->kind == WK_MAP) {
            free_fields(f->sub, p);
        } else if (f->kind == WK_MAPS) {
            char *a;
            int32_t n;
            memcpy(&a, p, sizeof a);
            memcpy(&n, (char *)base + f->cnt, 4);
            if (a && owns_memory(f->sub))
                for (int32_t k = 0; k < n; k++) free_fields(f->sub, a + (size_t)k * f->sub->size);
            free(a);
            memset(p, 0, sizeof(void *));
            memset((char *)base + f->cnt, 0, 4);
        }
    }
}

// Frees what the struct at base owns: its arena and backing (placed arrays), then its fields.
static void free_message(const WireSpec *s, void *base) {
    if (s->placed) {
        void *arena;
        WireBacking *backing;
        memcpy(&arena, (char *)base + s->arena_off, sizeof arena);
        memcpy(&backing, (char *)base + s->backing_off, sizeof backing);
        free(arena);
        if (backing) backing->release(backing);
        memset((char *)base + s->arena_off, 0, sizeof arena);
        memset((char *)base + s->backing_off, 0, sizeof backing);
    }
    free_fields(s, base);
}

void wire_assign_free(WireAssign *a) { free_message(&wire_messages[WIRE_ASSIGN], a); }
void wire_group_free(WireGroup *g) { free_message(&wire_messages[WIRE_GROUP], g); }

void wire_msg_free(WireMsg *m) {
    if (m->type > WIRE_NONE && m->type < WIRE_NTYPES) free_message(&wire_messages[m->type], &m->u);
    memset(m, 0, sizeof *m);
}
