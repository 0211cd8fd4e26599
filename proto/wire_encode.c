// Encoding: each message is one msgpack map {"v": 1, "type": "...", ...}. Bulk arrays are written
// straight into the output buffer as little-endian bin blobs.
#include <msgpack.h>
#include <string.h>

#include "common/check.h"
#include "proto/wire.h"

static void buf_reserve(WireBuf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    b->data = reallocCheck(b->data, cap);
    b->cap = cap;
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

static void blob_i32(Enc *e, const int32_t *x, size_t n) {
    msgpack_pack_bin(&e->pk, n * 4);
    buf_reserve(e->b, n * 4);
    if (n) wire_le_store_i32(e->b->data + e->b->len, x, n);
    e->b->len += n * 4;
}
static void blob_f32(Enc *e, const float *x, size_t n) {
    msgpack_pack_bin(&e->pk, n * 4);
    buf_reserve(e->b, n * 4);
    if (n) wire_le_store_f32(e->b->data + e->b->len, x, n);
    e->b->len += n * 4;
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
    key(e, "stop");
    int n = s->n_stop < 0 ? 0 : (s->n_stop > WIRE_MAX_STOP ? WIRE_MAX_STOP : s->n_stop);
    blob_i32(e, s->stop, (size_t)n);
}

static void response(Enc *e, const WireResponse *r) {
    msgpack_pack_map(&e->pk, 10);
    size_t n = r->n_tokens > 0 ? (size_t)r->n_tokens : 0;
    key(e, "tokens"); blob_i32(e, r->tokens, n);
    key(e, "logprobs"); blob_f32(e, r->logprobs, n);
    key(e, "entropies");
    if (r->entropies) blob_f32(e, r->entropies, n); else msgpack_pack_nil(&e->pk);
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
        key(&e, "prompt_tokens"); blob_i32(&e, a->prompt_tokens, a->n_prompt > 0 ? (size_t)a->n_prompt : 0);
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
        header(&e, m->type, 8);
        ki64(&e, "version", c->version);
        ku64(&e, "total_bytes", c->total_bytes);
        ku64(&e, "offset", c->offset);
        ku64(&e, "index", c->index);
        ku64(&e, "n_chunks", c->n_chunks);
        ku64(&e, "crc32", c->crc32);
        kstr(&e, "dtype", "f32");
        key(&e, "data");
        msgpack_pack_bin(&e.pk, c->len);
        if (c->len) msgpack_pack_bin_body(&e.pk, c->data, c->len);
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
