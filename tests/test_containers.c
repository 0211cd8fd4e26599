// common/core containers: the u64 hash map (against a plain array as the reference, through growth,
// tombstones and deletes during a walk) and the FIFO ring (against an array deque, across wraparound
// and growth).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/core/rng.h"
#include "common/core/ring.h"
#include "common/core/u64map.h"
#include "tests/harness.h"

static void test_map_basics(void) {
    U64Map m;
    u64map_init(&m);
    CHECK(u64map_get(&m, 0) == NULL && u64map_del(&m, 7) == NULL && u64map_next(&m, 0) == m.cap);
    int a, b;
    u64map_put(&m, 0, &a);            // key 0 is an ordinary key
    u64map_put(&m, UINT64_MAX, &b);
    CHECK(u64map_get(&m, 0) == &a && u64map_get(&m, UINT64_MAX) == &b && m.n == 2);
    u64map_put(&m, 0, &b);            // replace
    CHECK(u64map_get(&m, 0) == &b && m.n == 2);
    CHECK(u64map_del(&m, 0) == &b && u64map_get(&m, 0) == NULL && m.n == 1);
    CHECK(u64map_del(&m, 0) == NULL);
    size_t used = m.used;
    u64map_put(&m, 0, &a);            // reuses the tombstone on its probe path
    CHECK(u64map_get(&m, 0) == &a && m.used == used && m.n == 2);
    u64map_free(&m);
    CHECK(m.cap == 0 && m.n == 0);
}

// Random puts and deletes over a small key range, checked against vals[] (NULL = absent).
static void test_map_random(void) {
    enum { K = 3000, OPS = 200000 };
    static void *ref[K];
    memset(ref, 0, sizeof ref);
    U64Map m;
    u64map_init(&m);
    Rng r;
    rng_seed(&r, 42);
    size_t live = 0;
    int bad = 0;
    for (int op = 0; op < OPS; op++) {
        uint64_t k = rng_u64(&r) % K;
        uint64_t key = k * 0x10000000001ull;   // spread, with collisions in the low bits
        if (rng_u64(&r) % 3) {
            void *v = (void *)(uintptr_t)(op + 1);
            if (!ref[k]) live++;
            ref[k] = v;
            u64map_put(&m, key, v);
        } else {
            void *got = u64map_del(&m, key);
            if (got != ref[k]) bad++;
            if (ref[k]) live--;
            ref[k] = NULL;
        }
        if (m.n != live) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(m.used * 10 < m.cap * 7 + 10);
    for (int k = 0; k < K; k++)
        if (u64map_get(&m, (uint64_t)k * 0x10000000001ull) != ref[k]) bad++;
    CHECK_EQ_INT(bad, 0);
    // the walk visits every entry once
    size_t seen = 0;
    for (size_t i = u64map_next(&m, 0); i < m.cap; i = u64map_next(&m, i + 1)) {
        uint64_t k = m.keys[i] / 0x10000000001ull;
        if (k >= K || ref[k] != m.vals[i]) bad++;
        seen++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(seen, live);
    // deleting the visited entry during the walk: every entry is still visited exactly once
    seen = 0;
    for (size_t i = u64map_next(&m, 0); i < m.cap; i = u64map_next(&m, i + 1)) {
        if (u64map_del(&m, m.keys[i]) == NULL) bad++;
        seen++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(seen, live);
    CHECK(m.n == 0 && u64map_next(&m, 0) == m.cap);
    u64map_free(&m);
}

static void test_ring(void) {
    Ring q;
    ring_init(&q, sizeof(int), 4);
    int x;
    CHECK(ring_pop_front(&q, &x) == -1);
    // reference deque: ref[lo..hi)
    enum { N = 4000 };
    static int ref[3 * N];
    int lo = N, hi = N, bad = 0;
    Rng r;
    rng_seed(&r, 7);
    for (int op = 0; op < 2 * N; op++) {
        int v = op;
        uint64_t u = rng_u64(&r) % 5;
        if (u < 2) { ring_push_back(&q, &v); ref[hi++] = v; }
        else if (u < 3) { ring_push_front(&q, &v); ref[--lo] = v; }
        else if (hi > lo) {
            if (ring_pop_front(&q, &x) != 0 || x != ref[lo]) bad++;
            lo++;
        }
        if (q.n != (size_t)(hi - lo)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    for (size_t i = 0; i < q.n; i++)
        if (*(int *)ring_at(&q, i) != ref[lo + (int)i]) bad++;
    CHECK_EQ_INT(bad, 0);
    while (ring_pop_front(&q, &x) == 0) {
        if (x != ref[lo++]) bad++;
    }
    CHECK(bad == 0 && lo == hi && q.n == 0);
    ring_free(&q);
    // elements larger than a pointer, and a push_front into a full ring that wrapped
    typedef struct { double a; char s[24]; } Big;
    ring_init(&q, sizeof(Big), 2);
    Big b1 = {1.5, "one"}, b2 = {2.5, "two"}, b3 = {3.5, "three"}, out;
    ring_push_back(&q, &b1);
    ring_push_back(&q, &b2);
    ring_pop_front(&q, NULL);
    ring_push_back(&q, &b3);      // wraps: slot 0
    ring_push_front(&q, &b1);     // full: grows, then goes in front
    CHECK(q.n == 3 && q.cap == 4);
    CHECK(ring_pop_front(&q, &out) == 0 && out.a == 1.5 && strcmp(out.s, "one") == 0);
    CHECK(ring_pop_front(&q, &out) == 0 && out.a == 2.5 && strcmp(out.s, "two") == 0);
    CHECK(ring_pop_front(&q, &out) == 0 && out.a == 3.5 && strcmp(out.s, "three") == 0);
    ring_free(&q);
}

int main(void) {
    test_map_basics();
    test_map_random();
    test_ring();
    return tests_done();
}
