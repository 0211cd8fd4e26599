// The weights broadcast: the current policy as CRC-checked chunks (float32 from an fp32 learner, bf16
// from a bf16 learner: the wire carries what the learner computes with), or the path of an HDF5
// snapshot, on the PUB socket; re-sent when a worker asks (it joined late or lost a chunk).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "learner/coordinator/coordinator_internal.h"
#include "proto/transport.h"

#define MSG_HEADROOM 256   // encode buffer bytes beyond the payload (the message's other fields)

void coord_publish_locked(Coordinator *c) {
    if (!c->pub || c->pub_kind == PUB_NOTHING) return;
    WireBuf b;
    if (c->pub_kind == PUB_PATH) {
        WireMsg m = {.type = WIRE_WEIGHTS_PATH};
        m.u.path.version = c->pub_version;
        m.u.path.path = c->weights_path;
        m.u.path.n_params = c->path_n_params;
        wire_buf_init(&b, MSG_HEADROOM);
        wire_encode(&m, &b);
        wire_send(c->pub, NULL, 0, &b, 0);
        return;
    }
    // chunks hold whole values of the dtype
    const size_t es = wire_dtype_bytes(c->weights_dtype);
    size_t total = c->n_weights * es, chunk = c->cfg.chunk_bytes / es * es;
    if (chunk == 0) chunk = es;
    uint32_t n_chunks = (uint32_t)((total + chunk - 1) / chunk);
    for (uint32_t i = 0; i < n_chunks; i++) {
        WireMsg m = {.type = WIRE_WEIGHTS_CHUNK};
        WireWeightsChunk *x = &m.u.chunk;
        x->version = c->pub_version;
        x->total_bytes = total;
        x->offset = (uint64_t)i * chunk;
        x->index = i;
        x->n_chunks = n_chunks;
        x->crc32 = c->weights_crc;
        x->dtype = c->weights_dtype;
        x->data = c->weights + x->offset;
        x->len = total - x->offset < chunk ? total - x->offset : chunk;
        wire_buf_init(&b, x->len + MSG_HEADROOM);
        wire_encode(&m, &b);
        if (wire_send(c->pub, NULL, 0, &b, 0) != 0) coord_log(c, "weights chunk %u of version %lld not sent: %s", i, (long long)c->pub_version, zmq_strerror(errno));
    }
}

// Publishes the n values the learner stored in c->weights (es bytes each, little-endian).
static void publish_buffer(Coordinator *c, int64_t version, size_t n) {
    c->weights_crc = wire_crc32(0, c->weights, n * wire_dtype_bytes(c->weights_dtype));
    c->pub_kind = PUB_CHUNKS;
    c->pub_version = version;
    coord_publish_locked(c);
    pthread_mutex_unlock(&c->pub_mu);
    pthread_mutex_lock(&c->mu);
    c->k.weights_published++;
    pthread_mutex_unlock(&c->mu);
    coord_set_policy_version(c, version);
}

// pub_mu held: c->weights sized for n values of dtype d.
static void weights_buffer(Coordinator *c, size_t n, WireDtype d) {
    if (n != c->n_weights || d != c->weights_dtype) {
        free(c->weights);
        c->weights = mallocCheck(n * wire_dtype_bytes(d));
        c->n_weights = n;
        c->weights_dtype = d;
    }
}

int coord_publish_weights(Coordinator *c, int64_t version, const float *w, size_t n, char *err, size_t errlen) {
    if (!c->pub) return rlvr_err(err, errlen, "coord_publish_weights: no PUB socket (set pub_endpoint and call coord_start first)");
    if (n == 0) return rlvr_err(err, errlen, "coord_publish_weights: empty weights");
    pthread_mutex_lock(&c->pub_mu);
    weights_buffer(c, n, WIRE_DTYPE_F32);
    wire_le_store_f32(c->weights, w, n);
    publish_buffer(c, version, n);   // unlocks pub_mu
    return 0;
}

int coord_publish_weights_bf16(Coordinator *c, int64_t version, const uint16_t *w, size_t n, char *err, size_t errlen) {
    if (!c->pub) return rlvr_err(err, errlen, "coord_publish_weights_bf16: no PUB socket (set pub_endpoint and call coord_start first)");
    if (n == 0) return rlvr_err(err, errlen, "coord_publish_weights_bf16: empty weights");
    pthread_mutex_lock(&c->pub_mu);
    weights_buffer(c, n, WIRE_DTYPE_BF16);
    wire_le_store_u16(c->weights, w, n);
    publish_buffer(c, version, n);   // unlocks pub_mu
    return 0;
}

int coord_publish_weights_path(Coordinator *c, int64_t version, const char *path, uint64_t n_params, char *err, size_t errlen) {
    if (!c->pub) return rlvr_err(err, errlen, "coord_publish_weights_path: no PUB socket (set pub_endpoint and call coord_start first)");
    if (!path || !path[0] || strlen(path) > c->cfg.lim.max_text_bytes) return rlvr_err(err, errlen, "coord_publish_weights_path: empty or too long path");
    pthread_mutex_lock(&c->pub_mu);
    free(c->weights_path);
    c->weights_path = strdupCheck(path);
    c->path_n_params = n_params;
    c->pub_kind = PUB_PATH;
    c->pub_version = version;
    coord_publish_locked(c);
    pthread_mutex_unlock(&c->pub_mu);
    pthread_mutex_lock(&c->mu);
    c->k.weights_published++;
    pthread_mutex_unlock(&c->mu);
    coord_set_policy_version(c, version);
    return 0;
}


void coord_republish(Coordinator *c, double now) {
    pthread_mutex_lock(&c->pub_mu);
    if (c->pub_kind != PUB_NOTHING && now - c->last_republish >= c->cfg.republish_s) {
        c->last_republish = now;
        coord_publish_locked(c);
        pthread_mutex_lock(&c->mu);
        c->k.weights_republished++;
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&c->pub_mu);
}
