// Compares two decodings of the same bytes field by field (tests/test_proto.c and the fuzz target use
// it to hold the group fast path to the generic decoder). Groups must agree on every field, on where
// each array lives (at the same offset into the message, or at the same offset into the group's
// arena) and on its contents; other types are compared by re-encoding them.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/wire.h"

// Where an array lives: 1 + offset into the message, -(1 + offset) into the arena, 0 elsewhere.
static long long wire_cmp_where_(const void *p, const void *data, size_t len, const void *arena) {
    uintptr_t q = (uintptr_t)p, d = (uintptr_t)data, a = (uintptr_t)arena;
    if (q >= d && q - d < len) return 1 + (long long)(q - d);
    if (a && q >= a) return -1 - (long long)(q - a);
    return 0;
}

static int wire_cmp_array_(const void *x, const void *y, size_t n, const void *data, size_t len, const WireGroup *a, const WireGroup *b) {
    if ((x == NULL) != (y == NULL)) return -1;
    if (!x) return 0;
    long long wx = wire_cmp_where_(x, data, len, a->arena_), wy = wire_cmp_where_(y, data, len, b->arena_);
    if (wx != wy || wx == 0) return -1;
    return memcmp(x, y, n * 4) != 0 ? -1 : 0;
}

// Returns NULL when a and b (decoded from data[0..len)) are the same message, else what differs.
static const char *wire_msg_differs(const WireMsg *a, const WireMsg *b, const void *data, size_t len) {
    static char why[160];
    if (a->type != b->type) return "type";
    if (a->type != WIRE_GROUP) {
        WireBuf x, y;
        wire_buf_init(&x, 256);
        wire_buf_init(&y, 256);
        wire_encode(a, &x);
        wire_encode(b, &y);
        int same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
        wire_buf_free(&x);
        wire_buf_free(&y);
        return same ? NULL : "re-encoding";
    }
    const WireGroup *g = &a->u.group, *h = &b->u.group;
    if (g->prompt_id != h->prompt_id || g->lease_id != h->lease_id || g->seed != h->seed || g->policy_version != h->policy_version) return "ids";
    if (memcmp(g->worker, h->worker, sizeof g->worker) != 0) return "worker";
    if (g->n_responses != h->n_responses) return "n_responses";
    if ((g->arena_ == NULL) != (h->arena_ == NULL) || (g->backing_ == NULL) != (h->backing_ == NULL)) return "arena_ / backing_";
    for (int32_t i = 0; i < g->n_responses; i++) {
        const WireResponse *x = &g->responses[i], *y = &h->responses[i];
        size_t n = x->n_tokens > 0 ? (size_t)x->n_tokens : 0;
        const char *what = NULL;
        if (x->n_tokens != y->n_tokens) what = "n_tokens";
        else if (memcmp(&x->reward, &y->reward, sizeof x->reward) != 0) what = "reward";
        else if (x->correct != y->correct || x->finish != y->finish || x->boxed_count != y->boxed_count) what = "correct / finish / boxed_count";
        else if (x->has_cjk != y->has_cjk || x->repetition != y->repetition) what = "has_cjk / repetition";
        else if (memcmp(&x->gen_seconds, &y->gen_seconds, sizeof x->gen_seconds) != 0) what = "gen_seconds";
        else if (wire_cmp_array_(x->tokens, y->tokens, n, data, len, g, h)) what = "tokens";
        else if (wire_cmp_array_(x->logprobs, y->logprobs, n, data, len, g, h)) what = "logprobs";
        else if (wire_cmp_array_(x->entropies, y->entropies, n, data, len, g, h)) what = "entropies";
        if (what) {
            snprintf(why, sizeof why, "responses[%d].%s", (int)i, what);
            return why;
        }
    }
    return NULL;
}
