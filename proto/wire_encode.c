// Encoding: each message is one msgpack map {"v": 1, "type": "...", ...}. Bulk arrays are written
// straight into the output buffer as little-endian bin blobs whose payloads start at a multiple of 4
// bytes from the message start, so a receiver can read them in place (wire_decode_backed).
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "proto/wire.h"

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
static void str(Enc *e, const char *s) {
    size_t n = s ? strlen(s) : 0;
    msgpack_pack_str(&e->pk, n);
    if (n) msgpack_pack_str_body(&e->pk, s, n);
}
static void kstr(Enc *e, const char *k, const char *s) { key(e, k); str(e, s); }
static void ku64(Enc *e, const char *k, uint64_t v) { key(e, k); msgpack_pack_uint64(&e->pk, v); }
static void ki64(Enc *e, const char *k, int64_t v) { key(e, k); msgpack_pack_int64(&e->pk, v); }
static void kf32(Enc *e, const char *k, float v) { key(e, k); msgpack_pack_float(&e->pk, v); }
static void kf64(Enc *e, const char *k, double v) { key(e, k); msgpack_pack_double(&e->pk, v); }
static void kbool(Enc *e, const char *k, int v) { key(e, k); if (v) msgpack_pack_true(&e->pk); else msgpack_pack_false(&e->pk); }

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

static void blob_i32(Enc *e, long map_n, const char *k, const int32_t *x, size_t n) {
    blob_head(e, map_n, k, n * 4);
    buf_reserve(e->b, n * 4);
    if (n) wire_le_store_i32(e->b->data + e->b->len, x, n);
    e->b->len += n * 4;
}
static void blob_f32(Enc *e, long map_n, const char *k, const float *x, size_t n) {
    blob_head(e, map_n, k, n * 4);
    buf_reserve(e->b, n * 4);
    if (n) wire_le_store_f32(e->b->data + e->b->len, x, n);
    e->b->len += n * 4;
}

// Bytes a group encodes to at most: blobs + per-response fields + padding headers, so the buffer is
// sized once (no growth copies of a ~200 KB message).
static size_t group_bound(const WireGroup *g) {
    size_t b = 256 + strlen(g->worker);
    for (int i = 0; i < g->n_responses; i++) {
        const WireResponse *r = &g->responses[i];
        size_t n = r->n_tokens > 0 ? (size_t)r->n_tokens : 0;
        b += 256 + n * 4 * (r->entropies ? 3 : 2);
    }
    return b;
}

static void header(Enc *e, WireType t, size_t nfields) {
    msgpack_pack_map(&e->pk, nfields + 2);
    ki64(e, "v", WIRE_PROTOCOL_VERSION);
    kstr(e, "type", wire_type_name(t));
}

static void sampling(Enc *e, const WireSampling *s) {
    msgpack_pack_map(&e->pk, 5);
    kf32(e, "temperature", s->temperature);
    kf32(e, "top_p", s->top_p);
    ki64(e, "top_k", s->top_k);
    ki64(e, "max_new_tokens", s->max_new_tokens);
    int n = s->n_stop < 0 ? 0 : (s->n_stop > WIRE_MAX_STOP ? WIRE_MAX_STOP : s->n_stop);
    blob_i32(e, -1, "stop", s->stop, (size_t)n);
}

static void response(Enc *e, const WireResponse *r) {
    size_t n = r->n_tokens > 0 ? (size_t)r->n_tokens : 0;
    blob_i32(e, 10, "tokens", r->tokens, n);   // opens the response map of 10 pairs
    blob_f32(e, -1, "logprobs", r->logprobs, n);
    if (r->entropies) blob_f32(e, -1, "entropies", r->entropies, n);
    else { key(e, "entropies"); msgpack_pack_nil(&e->pk); }
    kf32(e, "reward", r->reward);
    kbool(e, "correct", r->correct);
    kstr(e, "finish", r->finish == WIRE_FINISH_LENGTH ? "length" : "stop");
    ki64(e, "boxed_count", r->boxed_count);
    kbool(e, "has_cjk", r->has_cjk);
    kbool(e, "repetition", r->repetition);
    kf32(e, "gen_seconds", r->gen_seconds);
}

int wire_encode(const WireMsg *m, WireBuf *out) {
    Enc e;
    e.b = out;
    out->len = 0;
    msgpack_packer_init(&e.pk, out, buf_write);
    switch (m->type) {
    case WIRE_HELLO: {
        const WireHello *h = &m->u.hello;
        header(&e, m->type, 4);
        kstr(&e, "worker", h->worker);
        kstr(&e, "software", h->software);
        ki64(&e, "pid", h->pid);
        key(&e, "caps");
        int n = __builtin_popcount(h->caps & (WIRE_CAP_ENTROPIES | WIRE_CAP_WEIGHTS_CHUNKS | WIRE_CAP_WEIGHTS_HDF5));
        msgpack_pack_array(&e.pk, (size_t)n);
        if (h->caps & WIRE_CAP_ENTROPIES) str(&e, "entropies");
        if (h->caps & WIRE_CAP_WEIGHTS_CHUNKS) str(&e, "weights_chunks");
        if (h->caps & WIRE_CAP_WEIGHTS_HDF5) str(&e, "weights_hdf5");
        break;
    }
    case WIRE_WELCOME: {
        const WireWelcome *w = &m->u.welcome;
        header(&e, m->type, 8);
        ku64(&e, "session", w->session);
        ki64(&e, "policy_version", w->policy_version);
        ki64(&e, "weights_version", w->weights_version);
        kf64(&e, "lease_s", w->lease_s);
        kf64(&e, "heartbeat_s", w->heartbeat_s);
        ki64(&e, "max_staleness", w->max_staleness);
        ku64(&e, "max_msg_bytes", w->max_msg_bytes);
        kstr(&e, "pub_endpoint", w->pub_endpoint);
        break;
    }
    case WIRE_REQUEST:
        header(&e, m->type, 1);
        ki64(&e, "credits", m->u.request.credits);
        break;
    case WIRE_ASSIGN: {
        const WireAssign *a = &m->u.assign;
        header(&e, m->type, 11);
        ku64(&e, "prompt_id", a->prompt_id);
        ku64(&e, "lease_id", a->lease_id);
        ku64(&e, "seed", a->seed);
        blob_i32(&e, -1, "prompt_tokens", a->prompt_tokens, a->n_prompt > 0 ? (size_t)a->n_prompt : 0);
        kstr(&e, "text", a->text);
        kstr(&e, "answer", a->answer);
        kstr(&e, "verifier", a->verifier);
        ki64(&e, "group_size", a->group_size);
        key(&e, "sampling"); sampling(&e, &a->sampling);
        ki64(&e, "policy_version", a->policy_version);
        kf64(&e, "lease_s", a->lease_s);
        break;
    }
    case WIRE_GROUP: {
        const WireGroup *g = &m->u.group;
        buf_reserve_total(out, group_bound(g));
        header(&e, m->type, 6);
        ku64(&e, "prompt_id", g->prompt_id);
        ku64(&e, "lease_id", g->lease_id);
        ku64(&e, "seed", g->seed);
        ki64(&e, "policy_version", g->policy_version);
        kstr(&e, "worker", g->worker);
        key(&e, "responses");
        int n = g->n_responses > 0 ? g->n_responses : 0;
        msgpack_pack_array(&e.pk, (size_t)n);
        for (int i = 0; i < n; i++) response(&e, &g->responses[i]);
        break;
    }
    case WIRE_HEARTBEAT:
        header(&e, m->type, 3);
        kstr(&e, "worker", m->u.heartbeat.worker);
        ki64(&e, "policy_version", m->u.heartbeat.policy_version);
        ki64(&e, "held", m->u.heartbeat.n_held);
        break;
    case WIRE_GOODBYE:
        header(&e, m->type, 2);
        kstr(&e, "worker", m->u.goodbye.worker);
        kstr(&e, "reason", m->u.goodbye.reason);
        break;
    case WIRE_ERROR:
        header(&e, m->type, 3);
        kstr(&e, "code", m->u.error.code);
        kstr(&e, "message", m->u.error.message);
        ku64(&e, "prompt_id", m->u.error.prompt_id);
        break;
    case WIRE_WEIGHTS_REQUEST:
        header(&e, m->type, 1);
        ki64(&e, "have_version", m->u.weights_request.have_version);
        break;
    case WIRE_WEIGHTS_CHUNK: {
        const WireWeightsChunk *c = &m->u.chunk;
        buf_reserve_total(out, c->len + 512);
        header(&e, m->type, 8);
        ki64(&e, "version", c->version);
        ku64(&e, "total_bytes", c->total_bytes);
        ku64(&e, "offset", c->offset);
        ku64(&e, "index", c->index);
        ku64(&e, "n_chunks", c->n_chunks);
        ku64(&e, "crc32", c->crc32);
        kstr(&e, "dtype", "f32");
        blob_head(&e, -1, "data", c->len);
        buf_write(out, (const char *)c->data, c->len);
        break;
    }
    case WIRE_WEIGHTS_PATH:
        header(&e, m->type, 3);
        ki64(&e, "version", m->u.path.version);
        kstr(&e, "path", m->u.path.path);
        ku64(&e, "n_params", m->u.path.n_params);
        break;
    default:
        die("wire_encode: message type %d is not encodable (programming error)", (int)m->type);
    }
    return 0;
}
