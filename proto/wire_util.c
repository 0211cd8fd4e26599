// Reason names, limits, the output buffer, CRC-32, little-endian blobs and the msgpack size pre-check.
#include "proto/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

static const char *const bad_names[WIRE_NBAD] = {
    "ok", "size", "msgpack", "structure", "version", "type", "field", "length", "value", "frames",
    "direction", "unknown_worker", "unknown_prompt", "unknown_version", "group_size", "auth"};

const char *wire_bad_name(WireBad b) { return (b >= 0 && b < WIRE_NBAD) ? bad_names[b] : "?"; }

void wire_limits_default(WireLimits *l) {
    l->max_msg_bytes = (size_t)64 << 20;
    l->max_tokens = 32768;
    l->max_prompt_tokens = 32768;
    l->max_group = 1024;
    l->max_text_bytes = (size_t)1 << 20;
    l->max_chunk_bytes = (size_t)16 << 20;
    l->vocab_size = 0;
}

void wire_buf_init(WireBuf *b, size_t reserve) {
    b->len = 0;
    b->cap = reserve ? reserve : 256;
    b->data = mallocCheck(b->cap);
}

void wire_buf_free(WireBuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

// ---- CRC-32 (reflected 0xEDB88320, init/final xor 0xFFFFFFFF), slicing by 8 -----------------------
static uint32_t crc_table[8][256];
static int crc_ready = 0;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t wire_crc32(uint32_t crc, const void *data, size_t len) {
    // Building the table twice from two threads is harmless: both write identical values.
    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE)) crc_init();
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

// ---- little-endian blobs -------------------------------------------------------------------------
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WIRE_HOST_LE 1
#else
#define WIRE_HOST_LE 0
#endif

static void store_u32(uint8_t *dst, const uint32_t *src, size_t n) {
    if (WIRE_HOST_LE) { memcpy(dst, src, n * 4); return; }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = src[i];
        dst[4 * i] = (uint8_t)v; dst[4 * i + 1] = (uint8_t)(v >> 8);
        dst[4 * i + 2] = (uint8_t)(v >> 16); dst[4 * i + 3] = (uint8_t)(v >> 24);
    }
}

static void load_u32(uint32_t *dst, const uint8_t *src, size_t n) {
    if (WIRE_HOST_LE) { memcpy(dst, src, n * 4); return; }
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 | (uint32_t)src[4 * i + 2] << 16 |
                 (uint32_t)src[4 * i + 3] << 24;
}

void wire_le_store_i32(uint8_t *dst, const int32_t *src, size_t n) { store_u32(dst, (const uint32_t *)src, n); }
void wire_le_load_i32(int32_t *dst, const uint8_t *src, size_t n) { load_u32((uint32_t *)dst, src, n); }
void wire_le_store_f32(uint8_t *dst, const float *src, size_t n) { store_u32(dst, (const uint32_t *)src, n); }
void wire_le_load_f32(float *dst, const uint8_t *src, size_t n) { load_u32((uint32_t *)dst, src, n); }

void wire_le_store_u16(uint8_t *dst, const uint16_t *src, size_t n) {
    if (WIRE_HOST_LE) { memcpy(dst, src, n * 2); return; }
    for (size_t i = 0; i < n; i++) { dst[2 * i] = (uint8_t)src[i]; dst[2 * i + 1] = (uint8_t)(src[i] >> 8); }
}

void wire_le_load_u16(uint16_t *dst, const uint8_t *src, size_t n) {
    if (WIRE_HOST_LE) { memcpy(dst, src, n * 2); return; }
    for (size_t i = 0; i < n; i++) dst[i] = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
}

// ---- msgpack pre-check ---------------------------------------------------------------------------
static uint64_t be_read(const uint8_t *p, int nbytes) {
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) v = (v << 8) | p[i];
    return v;
}

// Records why the pre-check failed and returns the kind of failure.
RLVR_PRINTF(4, 5) static WireBad precheck_fail(char *err, size_t errlen, WireBad b, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return b;
}

WireBad wire_msgpack_precheck(const uint8_t *data, size_t len, int max_depth, size_t max_objects, char *err, size_t errlen) {
    if (max_depth > 64) max_depth = 64;
    uint64_t open[64];   // children still expected by each open container
    int depth = 0;
    size_t pos = 0, objects = 0;
    int top_done = 0;
    while (!top_done) {
        if (pos >= len) return precheck_fail(err, errlen, WIRE_BAD_MSGPACK, "msgpack: data ends at byte %zu inside a value (truncated message)", pos);
        if (++objects > max_objects)
            return precheck_fail(err, errlen, WIRE_BAD_STRUCTURE, "msgpack: more than %zu objects (limit; the sender packs too many fields)", max_objects);
        uint8_t b = data[pos++];
        uint64_t skip = 0;          // payload bytes after the header
        uint64_t children = 0;
        int container = 0;
        size_t need = 0;            // header length bytes still to read
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        } else if (b >= 0x80 && b <= 0x8f) { container = 1; children = 2u * (b & 0x0f);
        } else if (b >= 0x90 && b <= 0x9f) { container = 1; children = b & 0x0f;
        } else if (b >= 0xa0 && b <= 0xbf) { skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc1: return precheck_fail(err, errlen, WIRE_BAD_MSGPACK, "msgpack: byte 0xc1 (never used) at offset %zu", pos - 1);
            case 0xc4: case 0xd9: need = 1; break;
            case 0xc5: case 0xda: need = 2; break;
            case 0xc6: case 0xdb: need = 4; break;
            case 0xc7: need = 1; skip = 1; break;
            case 0xc8: need = 2; skip = 1; break;
            case 0xc9: need = 4; skip = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: need = 2; container = 1; break;
            case 0xdd: case 0xdf: need = 4; container = 1; break;
            default: return precheck_fail(err, errlen, WIRE_BAD_MSGPACK, "msgpack: unexpected byte 0x%02x at offset %zu", b, pos - 1);
            }
            if (need) {
                if (len - pos < need) return precheck_fail(err, errlen, WIRE_BAD_MSGPACK, "msgpack: header at offset %zu truncated", pos - 1);
                uint64_t n = be_read(data + pos, (int)need);
                pos += need;
                if (container) children = (b == 0xde || b == 0xdf) ? 2 * n : n;
                else skip += n;
            }
        }
        if (container) {
            // every child takes at least one byte, so a header claiming more children than bytes left lies
            if (children > len - pos)
                return precheck_fail(err, errlen, WIRE_BAD_MSGPACK, "msgpack: container at offset %zu claims %llu elements but only %zu bytes follow",
                                pos - 1, (unsigned long long)children, len - pos);
            if (children > 0) {
                if (depth >= max_depth) return precheck_fail(err, errlen, WIRE_BAD_STRUCTURE, "msgpack: nested deeper than %d levels", max_depth);
                open[depth++] = children;
                continue;
            }
        } else {
            if (skip > len - pos)
                return precheck_fail(err, errlen, WIRE_BAD_MSGPACK, "msgpack: value at offset %zu needs %llu bytes, %zu left (truncated)", pos - 1,
                                (unsigned long long)skip, len - pos);
            pos += skip;
        }
        // a value completed: close every container it completes
        for (;;) {
            if (depth == 0) { top_done = 1; break; }
            if (--open[depth - 1] > 0) break;
            depth--;
        }
    }
    if (pos != len) return precheck_fail(err, errlen, WIRE_BAD_MSGPACK, "msgpack: %zu trailing bytes after the message", len - pos);
    return WIRE_OK;
}
