// FIFO ring of fixed-size elements that grows by doubling: push at either end, pop at the front,
// index from the front. Elements are copied in and out by value (store pointers for shared objects).
//
//     Ring q;
//     ring_init(&q, sizeof(Item *), 256);
//     ring_push_back(&q, &item);
//     Item *it;
//     while (ring_pop_front(&q, &it) == 0) use(it);
//     ring_free(&q);
#pragma once
#include <stddef.h>

typedef struct {
    unsigned char *data;   // (cap, elem)
    size_t elem;           // bytes per element
    size_t init_cap;       // capacity of the first allocation
    size_t head;           // slot of the front element
    size_t n, cap;
} Ring;

void ring_init(Ring *r, size_t elem_size, size_t init_cap);
void ring_free(Ring *r);
void ring_push_back(Ring *r, const void *e);
void ring_push_front(Ring *r, const void *e);
// Copies the front element to out (when non-NULL) and removes it; -1 when the ring is empty.
int ring_pop_front(Ring *r, void *out);
// The i-th element from the front (i < r->n); valid until the next push.
void *ring_at(const Ring *r, size_t i);
