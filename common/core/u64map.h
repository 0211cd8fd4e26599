// u64 -> pointer hash map: open addressing, linear probing, tombstones. Any u64 is a valid key;
// a NULL value cannot be told from an absent key by u64map_get, so store non-NULL values.
//
//     U64Map m;
//     u64map_init(&m);
//     u64map_put(&m, id, p);
//     for (size_t i = u64map_next(&m, 0); i < m.cap; i = u64map_next(&m, i + 1)) use(m.keys[i], m.vals[i]);
//     u64map_free(&m);
//
// The walk visits slots in table order; u64map_del may be called on the entry being visited (a
// delete never moves entries), u64map_put may not (it can rehash).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *keys;    // (cap,)
    void **vals;       // (cap,)
    uint8_t *st;       // (cap,) slot state, U64MAP_*
    size_t cap;        // 0 or a power of two
    size_t n;          // entries
    size_t used;       // entries + tombstones (what the probe chains cross)
} U64Map;

enum { U64MAP_EMPTY = 0, U64MAP_FULL = 1, U64MAP_TOMB = 2 };

void u64map_init(U64Map *m);
void u64map_free(U64Map *m);
void *u64map_get(const U64Map *m, uint64_t k);   // NULL when absent
void u64map_put(U64Map *m, uint64_t k, void *v); // inserts or replaces
void *u64map_del(U64Map *m, uint64_t k);         // the removed value, NULL when absent
// First full slot at index >= i, or m->cap when there is none.
size_t u64map_next(const U64Map *m, size_t i);

// The splitmix64 finaliser the map hashes keys with (a good 64-bit mixer for other uses too).
uint64_t u64_mix(uint64_t x);
