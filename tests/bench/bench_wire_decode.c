// In-process decode timing (no sockets): microseconds per message to decode and free the group
// tests/bench/bench_wire.c sends (G = 8 responses x 2048 tokens, tokens + log-probs + entropies),
// in place (wire_decode_backed, as wire_decode_zmq does) and copying (wire_decode), against one plain
// read of the same bytes (the floor: what merely touching each received byte costs).
//
//   build/bench/bench_wire_decode [iters=2000] [G=8] [tokens=2048] [reps=9] [buffers=1]
//
// buffers > 1 cycles through that many copies of the message so each decode starts with its bytes
// out of L1/L2 (as a freshly received message may be); 1 keeps them cache-hot. Methods alternate
// within each rep; reported: the median over reps of each method's mean.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "proto/wire.h"
#include "tests/bench/bench_group.h"

static void no_release(WireBacking *self) { (void)self; }
static WireBacking backing = {no_release};
static volatile uint64_t sink;

// The floor: one pass that reads every byte (summed as 8-byte words so it vectorises like a scan).
static void read_once(const uint8_t *p, size_t n) {
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc += w;
    }
    for (; i < n; i++) acc += p[i];
    sink = acc;
}

enum { M_FLOOR, M_INPLACE, M_COPY, M_N };
static const char *names[M_N] = {"one read of the bytes (floor)", "in place", "copying"};

static void one(int method, uint8_t *data, size_t len, const WireLimits *lim) {
    if (method == M_FLOOR) { read_once(data, len); return; }
    WireMsg m;
    char err[256];
    int kept = 0;
    WireBad why = method == M_INPLACE ? wire_decode_backed(data, len, &backing, &kept, lim, &m, err, sizeof err)
                                      : wire_decode(data, len, lim, &m, err, sizeof err);
    if (why != WIRE_OK) die("decode: %s", err);
    if (method == M_INPLACE && !kept) die("%s did not decode in place", names[method]);
    sink = (uint64_t)m.u.group.responses[0].tokens[1];
    wire_msg_free(&m);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 2000;
    int G = argc > 2 ? atoi(argv[2]) : 8;
    int T = argc > 3 ? atoi(argv[3]) : 2048;
    int reps = argc > 4 ? atoi(argv[4]) : 9;
    int nbuf = argc > 5 ? atoi(argv[5]) : 1;
    if (iters < 1 || G < 1 || T < 2 || reps < 1 || reps > 100 || nbuf < 1 || nbuf > 4096)
        die("usage: bench_wire_decode [iters >= 1] [G >= 1] [tokens >= 2] [reps 1..100] [buffers 1..4096]");
    WireLimits lim;
    wire_limits_default(&lim);
    // the group bench_wire sends
    BenchGroup bg;
    bench_group_make(&bg, G, T);
    WireMsg m = {.type = WIRE_GROUP};
    m.u.group = bg.g;
    WireBuf b;
    wire_buf_init(&b, 1024);
    wire_encode(&m, &b);
    uint8_t **bufs = mallocCheck((size_t)nbuf * sizeof *bufs);
    for (int i = 0; i < nbuf; i++) {
        bufs[i] = mallocCheck(b.len);   // malloc's alignment keeps the encoder's aligned blobs aligned
        memcpy(bufs[i], b.data, b.len);
    }

    double *t = mallocCheck((size_t)M_N * reps * sizeof *t);
    for (int k = 0; k < M_N; k++)   // warm-up
        for (int i = 0; i < iters / 10 + 1; i++) one(k, bufs[i % nbuf], b.len, &lim);
    for (int r = 0; r < reps; r++)
        for (int j = 0; j < M_N; j++) {
            int k = (j + r) % M_N;   // rotate the order so no method always follows another
            double t0 = now_seconds();
            for (int i = 0; i < iters; i++) one(k, bufs[i % nbuf], b.len, &lim);
            t[k * reps + r] = (now_seconds() - t0) / iters * 1e6;
        }
    printf("%d-byte group (G=%d, %d tokens, tokens+logprobs+entropies), %d buffer(s), %d decodes x %d reps; us per message, median (min):\n",
           (int)b.len, G, T, nbuf, iters, reps);
    double med[M_N];
    for (int k = 0; k < M_N; k++) {
        qsort(t + k * reps, (size_t)reps, sizeof *t, cmp_double);
        med[k] = reps % 2 ? t[k * reps + reps / 2] : 0.5 * (t[k * reps + reps / 2 - 1] + t[k * reps + reps / 2]);
        printf("  %-32s %8.2f  (%.2f)   %.2f GB/s\n", names[k], med[k], t[k * reps], (double)b.len / med[k] / 1e3);
    }
    printf("in place %.2fx the floor, copying %.2fx\n", med[M_INPLACE] / med[M_FLOOR], med[M_COPY] / med[M_FLOOR]);
    for (int i = 0; i < nbuf; i++) free(bufs[i]);
    free(bufs); free(t); bench_group_free(&bg);
    wire_buf_free(&b);
    return 0;
}
