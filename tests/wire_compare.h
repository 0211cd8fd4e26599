// Compares two decodings of the same bytes field by field (tests/test_proto.c and the fuzz target
// hold wire_decode_backed, whose arrays may point into the message, to wire_decode, which copies them).
// Groups must agree on every field and on the contents of every array, bit for bit; other types are
// compared by re-encoding them. wire_arrays_inside checks where a decoded group's arrays live.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/wire.h"

static int wire_cmp_array_(const void *x, const void *y, size_t n) {
    if ((x == NULL) != (y == NULL)) return -1;
    return x && n && memcmp(x, y, n * 4) != 0 ? -1 : 0;
}

// Returns NULL when a and b are the same message, else what differs.
static const char *wire_msg_differs(const WireMsg *a, const WireMsg *b) {
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
    for (int32_t i = 0; i < g->n_responses; i++) {
        const WireResponse *x = &g->responses[i], *y = &h->responses[i];
        size_t n = x->n_tokens > 0 ? (size_t)x->n_tokens : 0;
        const char *what = NULL;
        if (x->n_tokens != y->n_tokens) what = "n_tokens";
        else if (memcmp(&x->reward, &y->reward, sizeof x->reward) != 0) what = "reward";
        else if (x->correct != y->correct || x->finish != y->finish || x->boxed_count != y->boxed_count) what = "correct / finish / boxed_count";
        else if (x->has_cjk != y->has_cjk || x->repetition != y->repetition) what = "has_cjk / repetition";
        else if (memcmp(&x->gen_seconds, &y->gen_seconds, sizeof x->gen_seconds) != 0) what = "gen_seconds";
        else if (wire_cmp_array_(x->tokens, y->tokens, n)) what = "tokens";
        else if (wire_cmp_array_(x->logprobs, y->logprobs, n)) what = "logprobs";
        else if (wire_cmp_array_(x->entropies, y->entropies, n)) what = "entropies";
        if (what) {
            snprintf(why, sizeof why, "responses[%d].%s", (int)i, what);
            return why;
        }
    }
    return NULL;
}

// Arrays of a decoded group that point into data[0, len) (1 each), -1 if one of them is not 4-byte
// aligned there or reaches past its end.
static int wire_arrays_inside(const WireGroup *g, const void *data, size_t len) {
    int inside = 0;
    uintptr_t d = (uintptr_t)data;
    for (int32_t i = 0; i < g->n_responses; i++) {
        const WireResponse *r = &g->responses[i];
        const void *a[3] = {r->tokens, r->logprobs, r->entropies};
        for (int k = 0; k < 3; k++) {
            uintptr_t q = (uintptr_t)a[k];
            if (!a[k] || q < d || q >= d + len) continue;
            if (q % 4 || (size_t)r->n_tokens * 4 > d + len - q) return -1;
            inside++;
        }
    }
    return inside;
}
