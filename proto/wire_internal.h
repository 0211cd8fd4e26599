// Decoder internals shared by proto/wire_decode.c, proto/wire_decode_fast.c and the tests that
// compare the two decoders (tests/test_proto.c, tests/fuzz/fuzz_wire_decode.c). Not part of the API.
#pragma once
#include <stddef.h>

#include "proto/wire.h"

#define WIRE_MAX_DEPTH 6        // message map > responses array > response map > value
#define WIRE_MAX_MAP_KEYS 64    // no message has more; bounds the duplicate-key check

// Objects a message may hold (msgpack pre-check): a group of max_group responses has ~30 objects
// each, plus headroom. Both decoders must use the same bound or they could disagree.
static inline size_t wire_max_objects(const WireLimits *lim) {
    return 64 + (size_t)(lim->max_group > 0 ? lim->max_group : 1) * 48 + WIRE_MAX_MAP_KEYS * 4;
}

// The group fast path: one bounds-checked walk over the bytes that fills out->u.group exactly as the
// generic decoder would (views: aligned blobs may stay in place, as in wire_decode_backed; *viewed
// says whether any did). Returns 1 on success with err (if any) cleared. Returns 0, with *out zeroed
// and nothing allocated, for anything it does not accept; it never explains why: the generic decoder
// then runs on the same bytes and produces the verdict and the message.
int wire_decode_group_fast(const void *data, size_t len, const WireLimits *lim, int views, int *viewed, WireMsg *out);

// wire_decode / wire_decode_backed without the fast path (the reference the tests compare against).
WireBad wire_decode_generic(const void *data, size_t len, const WireLimits *lim, WireMsg *out, char *err, size_t errlen);
WireBad wire_decode_backed_generic(void *data, size_t len, WireBacking *backing, int *kept, const WireLimits *lim, WireMsg *out,
                                   char *err, size_t errlen);
