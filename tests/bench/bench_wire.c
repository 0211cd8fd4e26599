// Wire benchmark: encode + send + receive + decode of finished groups (G = 8, 2048 tokens each, with
// log-probs and entropies) over ZeroMQ DEALER -> ROUTER on loopback tcp, against raw frames of the
// same size over the same sockets. Payload GB/s = encoded message bytes / wall time.
//
//   build/bench/bench_wire [n_messages=2000] [G=8] [tokens=2048] [reps=15] [endpoint=tcp://127.0.0.1:*] [inplace|copy|floor]
//
// Both paths use the same two sockets (the coordinator's options: ROUTER with ZMQ_MAXMSGSIZE and
// ROUTER_MANDATORY), the same message count and size, and alternate run by run (wire, raw, wire, ...)
// so load on a shared machine hits both alike. The raw sender zmq_send()s a buffer holding the very
// bytes of an encoded group (one copy into a new ZeroMQ message per send, as encoding is one write
// pass into a new buffer); the receiver only receives. The wire path encodes each group into a fresh
// buffer handed to ZeroMQ without a copy (wire_send) and the receiver decodes and validates each one
// as the coordinator does (wire_decode_zmq: blobs read in place when aligned; `copy` uses
// wire_decode instead, which copies every blob into memory the group owns, for comparison).
// `floor` is not a decoder: the receiver of the wire path only reads every 8-byte word of each
// message once (an OR over it) and checks nothing. It measures what any receiver that must look at
// every value costs on this machine, i.e. the ceiling of the ratio for a validating decoder.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "proto/transport.h"
#include "proto/wire.h"
#include "tests/bench/bench_group.h"

typedef struct { void *dealer; int n, raw; const uint8_t *raw_msg; size_t raw_len; const WireGroup *g; } Sender;

static void *send_main(void *arg) {
    Sender *s = arg;
    WireMsg m = {.type = WIRE_GROUP};
    m.u.group = *s->g;
    for (int i = 0; i < s->n; i++) {
        if (s->raw) {
            if (zmq_send(s->dealer, s->raw_msg, s->raw_len, 0) < 0) die("raw send: %s", zmq_strerror(zmq_errno()));
        } else {
            WireBuf b;
            wire_buf_init(&b, 256);   // wire_encode sizes it for the group
            m.u.group.lease_id = (uint64_t)i;
            wire_encode(&m, &b);
            if (wire_send(s->dealer, NULL, 0, &b, 0) != 0) die("send: %s", zmq_strerror(zmq_errno()));
        }
    }
    return NULL;
}

// Returns seconds for n messages; *in_place counts groups decoded without copying their blobs.
static double run(void *router, void *dealer, int n, int raw, int copy, int floor_only, const uint8_t *raw_msg, size_t raw_len, const WireGroup *g,
                  const WireLimits *lim, int *in_place) {
    Sender s = {dealer, n, raw, raw_msg, raw_len, g};
    pthread_t th;
    double t0 = now_seconds();
    if (pthread_create(&th, NULL, send_main, &s) != 0) die("pthread_create failed");
    *in_place = 0;
    for (int i = 0; i < n; i++) {
        zmq_msg_t id, body;
        int extra;
        if (wire_recv(router, 1, &id, &body, &extra, 0) != 0) die("recv: %s", zmq_strerror(zmq_errno()));
        if (zmq_msg_size(&body) != raw_len) die("received %zu bytes, sent %zu", zmq_msg_size(&body), raw_len);
        if (!raw && floor_only) {
            const uint8_t *p = zmq_msg_data(&body);
            const size_t nw = zmq_msg_size(&body) / 8;
            uint64_t acc = 0;
            for (size_t j = 0; j < nw; j++) {
                uint64_t w;
                memcpy(&w, p + 8 * j, 8);
                acc |= w;
            }
            if (acc == 0) die("impossible: an all-zero message");
        } else if (!raw) {
            WireMsg m;
            char err[256];
            WireBad why = copy ? wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), lim, &m, err, sizeof err)
                               : wire_decode_zmq(&body, lim, &m, err, sizeof err);
            if (why != WIRE_OK) die("decode: %s", err);
            const WireGroup *d = &m.u.group;
            if (d->n_responses != g->n_responses || d->responses[d->n_responses - 1].logprobs[5] > 0) die("impossible");
            *in_place += d->backing_ != NULL && d->arena_ == NULL;
            wire_msg_free(&m);
        }
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
    double t = now_seconds() - t0;
    pthread_join(th, NULL);
    return t;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int G = argc > 2 ? atoi(argv[2]) : 8;
    int T = argc > 3 ? atoi(argv[3]) : 2048;
    int reps = argc > 4 ? atoi(argv[4]) : 15;
    const char *ep = argc > 5 ? argv[5] : "tcp://127.0.0.1:*";
    int copy = argc > 6 && strcmp(argv[6], "copy") == 0, floor_only = argc > 6 && strcmp(argv[6], "floor") == 0;
    if (argc > 6 && !copy && !floor_only && strcmp(argv[6], "inplace") != 0) die("mode '%s': use inplace, copy or floor", argv[6]);
    if (n < 1 || G < 1 || T < 6 || reps < 1 || reps > 100) die("usage: bench_wire [n >= 1] [G >= 1] [tokens >= 6] [reps 1..100] [endpoint]");
    WireLimits lim;
    wire_limits_default(&lim);
    BenchGroup bg;
    bench_group_make(&bg, G, T);
    const WireGroup g = bg.g;
    WireMsg m = {.type = WIRE_GROUP};
    m.u.group = g;
    WireBuf raw;   // the raw path sends these very bytes
    wire_buf_init(&raw, 1024);
    wire_encode(&m, &raw);
    size_t msg_len = raw.len;

    void *ctx = wire_ctx_new();
    void *router = wire_socket(ctx, ZMQ_ROUTER, lim.max_msg_bytes, 0);
    void *dealer = wire_socket(ctx, ZMQ_DEALER, 0, 0);
    char actual[256], err[256];
    if (wire_bind(router, ep, actual, sizeof actual, err, sizeof err) || wire_connect(dealer, actual, err, sizeof err)) die("%s", err);
    int in_place;
    run(router, dealer, n / 10 + 1, 0, copy, floor_only, raw.data, msg_len, &g, &lim, &in_place);   // warm up both paths
    run(router, dealer, n / 10 + 1, 1, copy, floor_only, raw.data, msg_len, &g, &lim, &in_place);
    double *tw = mallocCheck((size_t)reps * sizeof *tw), *tr = mallocCheck((size_t)reps * sizeof *tr);
    double *ratio = mallocCheck((size_t)reps * sizeof *ratio);
    double best_wire = 1e30, best_raw = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        // alternate which path goes first so neither always follows the other
        int first_raw = rep % 2;
        for (int k = 0; k < 2; k++) {
            int is_raw = k == 0 ? first_raw : !first_raw;
            int ip;
            double t = run(router, dealer, n, is_raw, copy, floor_only, raw.data, msg_len, &g, &lim, &ip);
            if (is_raw) tr[rep] = t; else { tw[rep] = t; in_place = ip; }
        }
        ratio[rep] = tr[rep] / tw[rep];
        if (tw[rep] < best_wire) best_wire = tw[rep];
        if (tr[rep] < best_raw) best_raw = tr[rep];
        printf("  run %d: wire %.3f s  raw %.3f s  ratio %.1f%%\n", rep + 1, tw[rep], tr[rep], 100.0 * ratio[rep]);
    }
    double total = (double)msg_len * n;
    double med_w = median(tw, reps), med_r = median(tr, reps), med_ratio = median(ratio, reps);
    printf("endpoint %s, %d messages of %zu bytes (G=%d, %d tokens, tokens+logprobs+entropies), %d runs each, %s decode\n", actual, n,
           msg_len, G, T, reps, floor_only ? "NO (floor: one read of every word)" : copy ? "copying" : "in-place");
    if (floor_only)
        printf("floor (encode+send+recv+one read of every word, nothing decoded): best %.3f s  %.2f GB/s; median %.2f GB/s\n",
               best_wire, total / best_wire / 1e9, total / med_w / 1e9);
    else
        printf("wire (encode+send+recv+decode): best %.3f s  %.2f GB/s  %.0f groups/s; median %.2f GB/s; %d/%d decoded in place\n",
               best_wire, total / best_wire / 1e9, n / best_wire, total / med_w / 1e9, in_place, n);
    printf("raw zmq frames, same bytes:     best %.3f s  %.2f GB/s; median %.2f GB/s\n", best_raw, total / best_raw / 1e9, total / med_r / 1e9);
    printf("ratio %s/raw: best-of-runs %.1f%%, median of paired runs %.1f%%\n", floor_only ? "floor" : "wire", 100.0 * best_raw / best_wire, 100.0 * med_ratio);
    zmq_close(router);
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    wire_buf_free(&raw);
    free(tw); free(tr); free(ratio);
    bench_group_free(&bg);
    return 0;
}
