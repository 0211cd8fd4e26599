// u64 -> pointer hash map; see u64map.h.
#include "common/core/u64map.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

#define U64MAP_INIT_CAP 64
// Rehash when entries + tombstones reach 7/10 of the slots: linear probing slows sharply past that.
#define U64MAP_LOAD_NUM 7
#define U64MAP_LOAD_DEN 10
// On a rehash the table doubles when at least 1/4 of it holds live entries; below that the
// rehash only clears tombstones at the same size.
#define U64MAP_GROW_DIV 4

uint64_t u64_mix(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void u64map_init(U64Map *m) { memset(m, 0, sizeof *m); }

void u64map_free(U64Map *m) {
    free(m->keys); free(m->vals); free(m->st);
    memset(m, 0, sizeof *m);
}

static void u64map_rehash(U64Map *m, size_t cap) {
    U64Map o = *m;
    m->cap = cap;
    m->keys = callocCheck(cap, sizeof(uint64_t));
    m->vals = callocCheck(cap, sizeof(void *));
    m->st = callocCheck(cap, 1);
    m->n = m->used = 0;
    for (size_t i = 0; i < o.cap; i++)
        if (o.st[i] == U64MAP_FULL) u64map_put(m, o.keys[i], o.vals[i]);
    free(o.keys); free(o.vals); free(o.st);
}

static size_t u64map_find(const U64Map *m, uint64_t k) {   // slot of k, or cap when absent
    if (!m->cap) return 0;
    size_t mask = m->cap - 1;
    for (size_t i = u64_mix(k) & mask;; i = (i + 1) & mask) {
        if (m->st[i] == U64MAP_EMPTY) return m->cap;
        if (m->st[i] == U64MAP_FULL && m->keys[i] == k) return i;
    }
}

void *u64map_get(const U64Map *m, uint64_t k) {
    size_t i = u64map_find(m, k);
    return (m->cap && i < m->cap) ? m->vals[i] : NULL;
}

void u64map_put(U64Map *m, uint64_t k, void *v) {
    if ((m->used + 1) * U64MAP_LOAD_DEN >= m->cap * U64MAP_LOAD_NUM) {
        size_t cap = !m->cap ? U64MAP_INIT_CAP : m->n * U64MAP_GROW_DIV >= m->cap ? m->cap * 2 : m->cap;
        u64map_rehash(m, cap);
    }
    size_t mask = m->cap - 1, tomb = m->cap;
    for (size_t i = u64_mix(k) & mask;; i = (i + 1) & mask) {
        if (m->st[i] == U64MAP_FULL && m->keys[i] == k) { m->vals[i] = v; return; }
        if (m->st[i] == U64MAP_TOMB && tomb == m->cap) tomb = i;
        if (m->st[i] == U64MAP_EMPTY) {
            if (tomb != m->cap) i = tomb; else m->used++;
            m->st[i] = U64MAP_FULL; m->keys[i] = k; m->vals[i] = v; m->n++;
            return;
        }
    }
}

void *u64map_del(U64Map *m, uint64_t k) {
    size_t i = u64map_find(m, k);
    if (!m->cap || i >= m->cap) return NULL;
    void *v = m->vals[i];
    m->st[i] = U64MAP_TOMB;
    m->vals[i] = NULL;
    m->n--;
    return v;
}

size_t u64map_next(const U64Map *m, size_t i) {
    while (i < m->cap && m->st[i] != U64MAP_FULL) i++;
    return i < m->cap ? i : m->cap;
}
