// Encoding: each message is one msgpack map {"v": 1, "type": "...", <its table's rows>} (the tables
// are in proto/wire_schema.c). Bulk arrays are written straight into the output buffer as
// little-endian bin blobs whose payloads start at a multiple of 4 bytes from the message start, so a
// receiver can read them in place (wire_decode_backed).
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "proto/wire_schema.h"

static void buf_reserve(WireBuf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    b->data = reallocCheck(b->data, cap);
    b->cap = cap;
}

// Grows an empty buffer to exactly `total` bytes without copying its old contents.
static void buf_reserve_total(WireBuf *b, size_t total) {
    if (b->cap >= total) return;
    if (b->len == 0) {
        free(b->data);
        b->data = mallocCheck(total);
    } else {
        b->data = reallocCheck(b->data, total);
    }
    b->cap = total;
}

static int buf_write(void *data, const char *buf, size_t len) {
    WireBuf *b = data;
    buf_reserve(b, len);
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

typedef struct { msgpack_packer pk; WireBuf *b; } Enc;

static void key(Enc *e, const char *k) {
    size_t n = strlen(k);
    msgpack_pack_str(&e->pk, n);
    msgpack_pack_str_body(&e->pk, k, n);
}
static void str_n(Enc *e, const char *s, size_t n) {
    msgpack_pack_str(&e->pk, n);
    if (n) msgpack_pack_str_body(&e->pk, s, n);
}

// ---- aligned blobs ---------------------------------------------------------------------------------
// msgpack lets a str / bin / map header be wider than its length needs (str8 for a 6-byte key, map16
// for 10 pairs) and every decoder reads the wide forms. Before each blob the encoder picks the widths
// of the headers in front of its payload (the enclosing map's, when the blob is its first value, the
// key's and the bin's) so the payload starts 4-byte aligned. The narrowest choice that aligns wins;
// should none align, the narrowest overall (receivers then copy that blob).
static int str_widths(size_t n, int w[4]) {
    int k = 0;
    if (n < 32) w[k++] = 1;
    if (n < 256) w[k++] = 2;
    if (n < 65536) w[k++] = 3;
    w[k++] = 5;
    return k;
}
static int bin_widths(size_t n, int w[3]) {
    int k = 0;
    if (n < 256) w[k++] = 2;
    if (n < 65536) w[k++] = 3;
    w[k++] = 5;
    return k;
}
static int map_widths(size_t n, int w[3]) {
    int k = 0;
    if (n < 16) w[k++] = 1;
    if (n < 65536) w[k++] = 3;
    w[k++] = 5;
    return k;
}

// One header of `width` bytes: fix form (tag | n), or tag byte + big-endian length of 1, 2 or 4 bytes.
static void put_hdr(Enc *e, uint8_t fix, uint8_t t8, uint8_t t16, uint8_t t32, int width, size_t n) {
    uint8_t h[5];
    switch (width) {
    case 1: h[0] = (uint8_t)(fix | n); break;
    case 2: h[0] = t8; h[1] = (uint8_t)n; break;
    case 3: h[0] = t16; h[1] = (uint8_t)(n >> 8); h[2] = (uint8_t)n; break;
    default: h[0] = t32; h[1] = (uint8_t)(n >> 24); h[2] = (uint8_t)(n >> 16); h[3] = (uint8_t)(n >> 8); h[4] = (uint8_t)n; break;
    }
    buf_write(e->b, (const char *)h, (size_t)width);
}

// [header of a map with map_n pairs, if map_n >= 0] + key k + header of a bin of nbytes; the
// caller writes the payload next.
static void blob_head(Enc *e, long map_n, const char *k, size_t nbytes) {
    size_t kl = strlen(k);
    int mw[3] = {0}, kw[4], bw[3];
    int nm = map_n >= 0 ? map_widths((size_t)map_n, mw) : 1;
    int nk = str_widths(kl, kw), nb = bin_widths(nbytes, bw);
    int bm = mw[0], bk = kw[0], bb = bw[0];
    size_t best = 0;
    for (int i = 0; i < nm; i++)
        for (int j = 0; j < nk; j++)
            for (int l = 0; l < nb; l++) {
                size_t tot = (size_t)(mw[i] + kw[j] + bw[l]) + kl;
                if ((e->b->len + tot) % 4 == 0 && (best == 0 || tot < best)) { best = tot; bm = mw[i]; bk = kw[j]; bb = bw[l]; }
            }
    if (map_n >= 0) put_hdr(e, 0x80, 0, 0xde, 0xdf, bm, (size_t)map_n);
    put_hdr(e, 0xa0, 0xd9, 0xda, 0xdb, bk, kl);
    buf_write(e->b, k, kl);
    put_hdr(e, 0, 0xc4, 0xc5, 0xc6, bb, nbytes);
}

static int is_array(const WireField *f) { return f->kind == WK_I32S || f->kind == WK_F32S || f->kind == WK_BYTES; }

// The items of an array row: (n,) 4-byte items for WK_I32S / WK_F32S, n bytes for WK_BYTES. NULL:
// an optional array that is absent (sent as nil). A required one missing is sent empty.
static const void *array_of(const WireField *f, const void *base, size_t *n) {
    const char *p = (const char *)base + f->off;
    if (f->kind == WK_BYTES) memcpy(n, (const char *)base + f->cnt, sizeof *n);
    else {
        int32_t c;
        memcpy(&c, (const char *)base + f->cnt, 4);
        *n = c > 0 ? (size_t)c : 0;
    }
    if (f->flags & WF_INLINE) {
        if (*n > f->size / 4) *n = f->size / 4;
        return p;
    }
    if (wire_absent(f, base)) return NULL;
    const void *a;
    memcpy(&a, p, sizeof a);
    if (a) return a;
    *n = 0;
    return "";
}

// Bytes the fields at base encode to at most (headers at their widest, alignment included), so a
// message is written into one allocation (no growth copies of a ~200 KB group).
static size_t bound(const WireSpec *s, const void *base) {
    size_t b = 8;   // map header
    for (int i = 0; i < s->n_fields; i++) {
        const WireField *f = &s->fields[i];
        const char *p = (const char *)base + f->off;
        b += 5 + f->key_len + 9;   // key, and any scalar value
        if (f->kind == WK_STRBUF) b += strnlen(p, f->size);
        else if (f->kind == WK_STR) { const char *t; memcpy(&t, p, sizeof t); b += t ? strlen(t) : 0; }
        else if (f->kind == WK_ENUM || f->kind == WK_FLAGS) for (int k = 0; f->names[k]; k++) b += 5 + strlen(f->names[k]);
        else if (is_array(f)) { size_t n = 0; array_of(f, base, &n); b += 8 + n * (f->kind == WK_BYTES ? 1 : 4); }
        else if (f->kind == WK_MAP) b += bound(f->sub, p);
        else if (f->kind == WK_MAPS) {
            int32_t n;
            memcpy(&n, (const char *)base + f->cnt, 4);
            const char *a;
            memcpy(&a, p, sizeof a);
            for (int32_t k = 0; k < n; k++) b += bound(f->sub, a + (size_t)k * f->sub->size);
        }
    }
    return b;
}

static void encode_map(Enc *e, const WireSpec *s, const void *base, long map_n);

// One row: key and value. map_n >= 0: the enclosing map's header is still to be written (this is its
// first row); an array writes it with its own headers so that its payload lands aligned.
static void encode_field(Enc *e, const WireField *f, const void *base, long map_n) {
    const char *p = (const char *)base + f->off;
    size_t n = 0;
    const void *items = is_array(f) ? array_of(f, base, &n) : NULL;
    if (items) {
        size_t nbytes = f->kind == WK_BYTES ? n : n * 4;
        blob_head(e, map_n, f->key, nbytes);
        buf_reserve(e->b, nbytes);
        if (f->kind == WK_BYTES) memcpy(e->b->data + e->b->len, items, nbytes);
        else if (n) wire_le_store_i32(e->b->data + e->b->len, items, n);   // a bit-exact 4-byte move, floats alike
        e->b->len += nbytes;
        return;
    }
    if (map_n >= 0) msgpack_pack_map(&e->pk, (size_t)map_n);
    key(e, f->key);
    switch (f->kind) {
    case WK_U64: { uint64_t x; memcpy(&x, p, 8); msgpack_pack_uint64(&e->pk, x); break; }
    case WK_U32: { uint32_t x; memcpy(&x, p, 4); msgpack_pack_uint64(&e->pk, x); break; }
    case WK_I64: { int64_t x; memcpy(&x, p, 8); msgpack_pack_int64(&e->pk, x); break; }
    case WK_I32: { int32_t x; memcpy(&x, p, 4); msgpack_pack_int64(&e->pk, x); break; }
    case WK_F64: { double x; memcpy(&x, p, 8); msgpack_pack_double(&e->pk, x); break; }
    case WK_F32: { float x; memcpy(&x, p, 4); msgpack_pack_float(&e->pk, x); break; }
    case WK_BOOL: {   // a negative value is an optional bool left out (its row's default): nil
        int x;
        memcpy(&x, p, sizeof x);
        if (x < 0) msgpack_pack_nil(&e->pk);
        else if (x) msgpack_pack_true(&e->pk);
        else msgpack_pack_false(&e->pk);
        break;
    }
    case WK_STRBUF: str_n(e, p, strnlen(p, f->size)); break;
    case WK_STR: { const char *s; memcpy(&s, p, sizeof s); str_n(e, s, s ? strlen(s) : 0); break; }
    case WK_ENUM: {
        int x = 0, n_names = 0;
        if (f->size) memcpy(&x, p, sizeof x);
        while (f->names[n_names]) n_names++;
        const char *s = f->names[x >= 0 && x < n_names ? x : 0];
        str_n(e, s, strlen(s));
        break;
    }
    case WK_FLAGS: {
        uint32_t x;
        memcpy(&x, p, 4);
        size_t k = 0;
        for (int i = 0; f->names[i]; i++) k += (x >> i) & 1;
        msgpack_pack_array(&e->pk, k);
        for (int i = 0; f->names[i]; i++)
            if ((x >> i) & 1) str_n(e, f->names[i], strlen(f->names[i]));
        break;
    }
    case WK_MAP: encode_map(e, f->sub, p, f->sub->n_fields); break;
    case WK_MAPS: {
        int32_t c;
        memcpy(&c, (const char *)base + f->cnt, 4);
        const char *a;
        memcpy(&a, p, sizeof a);
        size_t k = c > 0 ? (size_t)c : 0;
        msgpack_pack_array(&e->pk, k);
        for (size_t i = 0; i < k; i++) encode_map(e, f->sub, a + i * f->sub->size, f->sub->n_fields);
        break;
    }
    default: msgpack_pack_nil(&e->pk); break;   // an absent optional array
    }
}

static void encode_map(Enc *e, const WireSpec *s, const void *base, long map_n) {
    for (int i = 0; i < s->n_fields; i++) encode_field(e, &s->fields[i], base, i == 0 ? map_n : -1);
}

int wire_encode(const WireMsg *m, WireBuf *out) {
    if (m->type <= WIRE_NONE || m->type >= WIRE_NTYPES) die("wire_encode: message type %d is not encodable (programming error)", (int)m->type);
    const WireSpec *s = &wire_messages[m->type];
    Enc e;
    e.b = out;
    out->len = 0;
    buf_reserve_total(out, 32 + bound(s, &m->u));
    msgpack_packer_init(&e.pk, out, buf_write);
    msgpack_pack_map(&e.pk, (size_t)s->n_fields + 2);   // every row is sent (see wire_schema.h)
    key(&e, "v");
    msgpack_pack_int64(&e.pk, WIRE_PROTOCOL_VERSION);
    key(&e, "type");
    str_n(&e, s->name, strlen(s->name));
    encode_map(&e, s, &m->u, -1);
    return 0;
}
