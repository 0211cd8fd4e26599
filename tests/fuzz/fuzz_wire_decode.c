// libFuzzer target for the wire decoder (built with clang by tests/CMakeLists.txt).
// Properties checked beyond "no crash, no sanitizer report, no leak, bounded memory":
//   - every rejection has a reason and a message;
//   - a message that decodes passes wire_validate, re-encodes, and the encoding decodes again to the
//     same fields and re-encodes to the same bytes;
//   - wire_peek_group_ids never disagrees with a successful decode of a group;
//   - decoding in place (wire_decode_backed, from an aligned and a misaligned copy) gives the same
//     verdict, error and fields as wire_decode; arrays it uses in place lie inside the copy, 4-byte
//     aligned; it keeps and releases its backing exactly when it used it.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"
#include "tests/wire_compare.h"

typedef struct { WireBacking b; int released; } Backing;
static void release(WireBacking *self) { ((Backing *)self)->released++; }

// Decodes data in place from a copy at `shift` bytes past an aligned block; aborts on any difference
// from wire_decode's verdict `why` / error `err` / message `ref` (unused when why != WIRE_OK).
static void check_in_place(const uint8_t *data, size_t len, const WireLimits *lim, WireBad why, const char *err, const WireMsg *ref, int shift) {
    uint8_t *copy = malloc(len + 8);
    if (!copy) abort();
    memcpy(copy + shift, data, len);
    Backing bk = {{release}, 0};
    int kept = -1;
    WireMsg m;
    char err2[256];
    WireBad why2 = wire_decode_backed(copy + shift, len, &bk.b, &kept, lim, &m, err2, sizeof err2);
    if (why2 != why || strcmp(err, err2) != 0 || (kept != 0 && kept != 1)) abort();
    if (why2 == WIRE_OK) {
        if (wire_msg_differs(&m, ref)) abort();
        int inside = m.type == WIRE_GROUP ? wire_arrays_inside(&m.u.group, copy + shift, len) : 0;
        if (inside < 0 || (inside > 0) != kept || (kept && m.u.group.backing_ != &bk.b)) abort();
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
    uint64_t pid, lid;
    int peek = wire_peek_group_ids(data, len, &lim, &pid, &lid);
    if (why != WIRE_OK) {
        if (why <= 0 || why >= WIRE_NBAD || err[0] == 0) abort();
        check_in_place(data, len, &lim, why, err, NULL, 0);
        check_in_place(data, len, &lim, why, err, NULL, 1);
        return 0;
    }
    if (m.type == WIRE_GROUP && (peek != 0 || pid != m.u.group.prompt_id || lid != m.u.group.lease_id)) abort();
    if (m.type == WIRE_GROUP && wire_arrays_inside(&m.u.group, data, len) != 0) abort();   // wire_decode copies
    if (wire_validate(&m, &lim, err, sizeof err) != WIRE_OK) abort();
    check_in_place(data, len, &lim, why, err, &m, 0);
    check_in_place(data, len, &lim, why, err, &m, 1);
    WireBuf a, b;
    wire_buf_init(&a, 256);
    wire_encode(&m, &a);
    WireMsg m2;
    if (wire_decode(a.data, a.len, &lim, &m2, err, sizeof err) != WIRE_OK || wire_msg_differs(&m, &m2)) abort();
    wire_buf_init(&b, 256);
    wire_encode(&m2, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
    wire_buf_free(&a);
    wire_buf_free(&b);
    wire_msg_free(&m2);
    wire_msg_free(&m);
    return 0;
}
