// libFuzzer target for the wire decoder (built with clang by tests/fuzz.cmake).
// Properties checked beyond "no crash, no sanitizer report, bounded memory":
//   - a message that decodes re-encodes to bytes that decode again to the same encoding;
//   - wire_peek_group_ids never disagrees with a successful decode of a group.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

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
        if (why <= 0 || why >= WIRE_NBAD || err[0] == 0) abort();   // every rejection has a reason and a message
        return 0;
    }
    if (m.type == WIRE_GROUP && (peek != 0 || pid != m.u.group.prompt_id || lid != m.u.group.lease_id)) abort();
    WireBuf a, b;
    wire_buf_init(&a, 256);
    wire_encode(&m, &a);
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
