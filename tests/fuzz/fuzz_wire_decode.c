// libFuzzer target for the wire decoder (built with clang by tests/CMakeLists.txt).
// Properties checked beyond "no crash, no sanitizer report, bounded memory":
//   - a message that decodes re-encodes to bytes that decode again to the same encoding;
//   - wire_peek_group_ids never disagrees with a successful decode of a group;
//   - decoding in place (wire_decode_backed, aligned and misaligned) gives the same verdict, error
//     and message as wire_decode, and releases its backing exactly when it kept it;
//   - the group fast path changes nothing: wire_decode / wire_decode_backed agree with the generic
//     decoder alone on the verdict, the error and every field (arrays at the same places), and the
//     fast path never accepts what the generic decoder rejects.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"
#include "proto/wire_internal.h"
#include "tests/wire_compare.h"

typedef struct { WireBacking b; int released; } Backing;
static void release(WireBacking *self) { ((Backing *)self)->released++; }

// Decodes data in place from a copy at `shift` bytes past an aligned block; aborts on any difference
// from wire_decode's verdict `why` / error `err` / re-encoding `ref` (NULL when why != WIRE_OK).
static void check_in_place(const uint8_t *data, size_t len, const WireLimits *lim, WireBad why, const char *err, const WireBuf *ref, int shift) {
    uint8_t *copy = malloc(len + 8);
    if (!copy) abort();
    memcpy(copy + shift, data, len);
    Backing bk = {{release}, 0};
    int kept = -1;
    WireMsg m;
    char err2[256];
    WireBad why2 = wire_decode_backed(copy + shift, len, &bk.b, &kept, lim, &m, err2, sizeof err2);
    if (why2 != why || strcmp(err, err2) != 0 || (kept != 0 && kept != 1)) abort();
    Backing gb = {{release}, 0};
    int gkept = -1;
    WireMsg g;
    char gerr[256];
    WireBad gwhy = wire_decode_backed_generic(copy + shift, len, &gb.b, &gkept, lim, &g, gerr, sizeof gerr);
    if (gwhy != why2 || gkept != kept || strcmp(gerr, err2) != 0) abort();
    if (gwhy == WIRE_OK) {
        if (wire_msg_differs(&m, &g, copy + shift, len)) abort();
        wire_msg_free(&g);
    }
    if (gb.released != gkept) abort();
    if (why2 == WIRE_OK) {
        WireBuf b;
        wire_buf_init(&b, 256);
        wire_encode(&m, &b);
        if (b.len != ref->len || memcmp(b.data, ref->data, b.len) != 0) abort();
        wire_buf_free(&b);
        wire_msg_free(&m);
    }
    if (bk.released != kept) abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    WireLimits lim;
    wire_limits_default(&lim);
    lim.max_msg_bytes = 1 << 20;
    lim.max_tokens = 4096;
    lim.max_group = 64;
    lim.vocab_size = 1 << 20;
    WireMsg m;
    char err[256];
    WireBad why = wire_decode(data, len, &lim, &m, err, sizeof err);
    {
        WireMsg g, f;
        char gerr[256];
        int viewed = -1;
        WireBad gwhy = wire_decode_generic(data, len, &lim, &g, gerr, sizeof gerr);
        if (gwhy != why || strcmp(gerr, err) != 0) abort();
        if (gwhy == WIRE_OK && wire_msg_differs(&m, &g, data, len)) abort();
        if (wire_decode_group_fast(data, len, &lim, 0, &viewed, &f)) {
            if (gwhy != WIRE_OK || viewed != 0 || wire_msg_differs(&f, &g, data, len)) abort();
            wire_msg_free(&f);
        }
        if (gwhy == WIRE_OK) wire_msg_free(&g);
    }
    uint64_t pid, lid;
    int peek = wire_peek_group_ids(data, len, &lim, &pid, &lid);
    if (why != WIRE_OK) {
        if (why <= 0 || why >= WIRE_NBAD || err[0] == 0) abort();   // every rejection has a reason and a message
        check_in_place(data, len, &lim, why, err, NULL, 0);
        check_in_place(data, len, &lim, why, err, NULL, 1);
        return 0;
    }
    if (m.type == WIRE_GROUP && (peek != 0 || pid != m.u.group.prompt_id || lid != m.u.group.lease_id)) abort();
    WireBuf a, b;
    wire_buf_init(&a, 256);
    wire_encode(&m, &a);
    check_in_place(data, len, &lim, why, err, &a, 0);
    check_in_place(data, len, &lim, why, err, &a, 1);
    WireMsg m2;
    if (wire_decode(a.data, a.len, &lim, &m2, err, sizeof err) != WIRE_OK) abort();
    wire_buf_init(&b, 256);
    wire_encode(&m2, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
    wire_buf_free(&a);
    wire_buf_free(&b);
    wire_msg_free(&m2);
    wire_msg_free(&m);
    return 0;
}
