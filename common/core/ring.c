// FIFO ring; see ring.h.
#include "common/core/ring.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

void ring_init(Ring *r, size_t elem_size, size_t init_cap) {
    memset(r, 0, sizeof *r);
    r->elem = elem_size;
    r->init_cap = init_cap ? init_cap : 1;
}

void ring_free(Ring *r) {
    free(r->data);
    size_t elem = r->elem, init_cap = r->init_cap;
    memset(r, 0, sizeof *r);
    r->elem = elem;
    r->init_cap = init_cap;
}

void *ring_at(const Ring *r, size_t i) { return r->data + ((r->head + i) % r->cap) * r->elem; }

// Full: move the elements, front first, to the start of a buffer twice the size.
static void ring_grow(Ring *r) {
    size_t cap = r->cap ? r->cap * 2 : r->init_cap;
    unsigned char *d = mallocCheck(cap * r->elem);
    for (size_t i = 0; i < r->n; i++) memcpy(d + i * r->elem, ring_at(r, i), r->elem);
    free(r->data);
    r->data = d;
    r->cap = cap;
    r->head = 0;
}

void ring_push_back(Ring *r, const void *e) {
    if (r->n == r->cap) ring_grow(r);
    memcpy(r->data + ((r->head + r->n) % r->cap) * r->elem, e, r->elem);
    r->n++;
}

void ring_push_front(Ring *r, const void *e) {
    if (r->n == r->cap) ring_grow(r);
    r->head = (r->head + r->cap - 1) % r->cap;
    memcpy(r->data + r->head * r->elem, e, r->elem);
    r->n++;
}

int ring_pop_front(Ring *r, void *out) {
    if (!r->n) return -1;
    if (out) memcpy(out, r->data + r->head * r->elem, r->elem);
    r->head = (r->head + 1) % r->cap;
    r->n--;
    return 0;
}
