// Wire benchmark: encode + send + receive + decode of finished groups (G = 8, 2048 tokens each, with
// log-probs and entropies) over ZeroMQ DEALER -> ROUTER on loopback tcp, against raw frames of the
// same size over the same sockets. Payload GB/s = encoded message bytes / wall time.
//
//   build/bench/bench_wire [n_messages=2000] [G=8] [tokens=2048] [endpoint=tcp://127.0.0.1:*]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "proto/transport.h"
#include "proto/wire.h"

typedef struct { void *dealer; int n, raw; size_t raw_len; WireGroup *g; } Sender;

static void *send_main(void *arg) {
    Sender *s = arg;
    WireMsg m = {.type = WIRE_GROUP};
    m.u.group = *s->g;
    uint8_t *raw = s->raw ? callocCheck(s->raw_len, 1) : NULL;
    for (int i = 0; i < s->n; i++) {
        if (s->raw) {
            if (zmq_send(s->dealer, raw, s->raw_len, 0) < 0) die("raw send: %s", zmq_strerror(zmq_errno()));
        } else {
            WireBuf b;
            wire_buf_init(&b, s->raw_len ? s->raw_len + 64 : 4096);
            m.u.group.lease_id = (uint64_t)i;
            wire_encode(&m, &b);
            if (wire_send(s->dealer, NULL, 0, &b, 0) != 0) die("send: %s", zmq_strerror(zmq_errno()));
        }
    }
    free(raw);
    return NULL;
}

// Returns seconds for n messages; *bytes = payload bytes received.
static double run(void *router, void *dealer, int n, int raw, size_t raw_len, WireGroup *g, const WireLimits *lim, size_t *bytes) {
    Sender s = {dealer, n, raw, raw_len, g};
    pthread_t th;
    double t0 = now_seconds();
    pthread_create(&th, NULL, send_main, &s);
    *bytes = 0;
    for (int i = 0; i < n; i++) {
        zmq_msg_t id, body;
        int extra;
        if (wire_recv(router, 1, &id, &body, &extra, 0) != 0) die("recv: %s", zmq_strerror(zmq_errno()));
        *bytes += zmq_msg_size(&body);
        if (!raw) {
            WireMsg m;
            char err[256];
            if (wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), lim, &m, err, sizeof err) != WIRE_OK) die("decode: %s", err);
            if (m.u.group.responses[7].logprobs[5] > 0) die("impossible");
            wire_msg_free(&m);
        }
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
    double t = now_seconds() - t0;
    pthread_join(th, NULL);
    return t;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int G = argc > 2 ? atoi(argv[2]) : 8;
    int T = argc > 3 ? atoi(argv[3]) : 2048;
    const char *ep = argc > 4 ? argv[4] : "tcp://127.0.0.1:*";
    WireLimits lim;
    wire_limits_default(&lim);
    // (G, T) synthetic responses
    WireResponse *rs = callocCheck((size_t)G, sizeof *rs);
    int32_t *tok = mallocCheck((size_t)G * T * sizeof(int32_t));
    float *lp = mallocCheck((size_t)G * T * sizeof(float)), *ent = mallocCheck((size_t)G * T * sizeof(float));
    for (size_t i = 0; i < (size_t)G * T; i++) { tok[i] = (int32_t)(i % 151000); lp[i] = -(float)(i % 97) * 0.01f; ent[i] = (float)(i % 13) * 0.1f; }
    for (int i = 0; i < G; i++)
        rs[i] = (WireResponse){T, tok + (size_t)i * T, lp + (size_t)i * T, ent + (size_t)i * T, 1.0f, 1, WIRE_FINISH_STOP, 1, 0, 0, 1.5f};
    WireGroup g = {0};
    g.prompt_id = 1; g.policy_version = 3; g.n_responses = G; g.responses = rs;
    snprintf(g.worker, sizeof g.worker, "bench");
    WireMsg m = {.type = WIRE_GROUP};
    m.u.group = g;
    WireBuf b;
    wire_buf_init(&b, 1024);
    wire_encode(&m, &b);
    size_t msg_len = b.len;
    wire_buf_free(&b);

    void *ctx = wire_ctx_new();
    void *router = wire_socket(ctx, ZMQ_ROUTER, lim.max_msg_bytes, 0);
    void *dealer = wire_socket(ctx, ZMQ_DEALER, 0, 0);
    char actual[256], err[256];
    if (wire_bind(router, ep, actual, sizeof actual, err, sizeof err) || wire_connect(dealer, actual, err, sizeof err)) die("%s", err);
    size_t bytes;
    run(router, dealer, n / 10 + 1, 0, msg_len, &g, &lim, &bytes);   // warm up both paths
    run(router, dealer, n / 10 + 1, 1, msg_len, &g, &lim, &bytes);
    double best_wire = 1e30, best_raw = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double tw = run(router, dealer, n, 0, msg_len, &g, &lim, &bytes);
        double tr = run(router, dealer, n, 1, msg_len, &g, &lim, &bytes);
        if (tw < best_wire) best_wire = tw;
        if (tr < best_raw) best_raw = tr;
    }
    double total = (double)msg_len * n;
    printf("endpoint %s, %d messages of %zu bytes (G=%d, %d tokens, tokens+logprobs+entropies), best of 3\n", actual, n, msg_len, G, T);
    printf("wire (encode+send+recv+decode): %.3f s  %.2f GB/s  %.0f groups/s\n", best_wire, total / best_wire / 1e9, n / best_wire);
    printf("raw zmq frames, same size:      %.3f s  %.2f GB/s\n", best_raw, total / best_raw / 1e9);
    printf("ratio wire/raw: %.1f%%\n", 100.0 * best_raw / best_wire);
    zmq_close(router);
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    free(rs); free(tok); free(lp); free(ent);
    return 0;
}
