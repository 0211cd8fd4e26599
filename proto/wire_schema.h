// The wire schema: every message type's fields, written once (proto/wire_schema.c). The encoder, the
// decoder, the validator and wire_msg_free all walk these tables, so a field's key, type, presence,
// place in the C struct and range cannot drift apart between them. Not part of the API (wire.h is).
//
// A message is a msgpack map {"v": 1, "type": name, <fields in table order>}. Every row is sent, in
// table order (an absent optional array as nil), so a map's key count is its row count. On receipt
// keys may come in any order and unknown keys are ignored; rows are read, and errors reported, in
// table order.
//
// Adding a field: append a row to its message's table below (wire order = row order), with the
// struct member it fills (AT), whether it is required (WF_REQ) and its range; give optional integers
// a default (.def) if 0 is not one. Rules no row can state (one field against another, or against
// every element of an array) go in the message's check function in proto/wire_validate.c.
// docs/protocol.md §3 lists the fields for peers written in other languages.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/wire.h"

typedef enum {
    WK_U64, WK_U32,      // msgpack unsigned integer -> uint64_t / uint32_t
    WK_I64, WK_I32,      // msgpack integer -> int64_t / int32_t
    WK_F64, WK_F32,      // msgpack float32 / float64 or integer (Python packs -1 as an int), finite -> double / float
    WK_BOOL,             // msgpack true / false -> int 0 / 1
    WK_STRBUF,           // str -> char[size], NUL-terminated
    WK_STR,              // str -> malloc'd char * (NULL is sent as "")
    WK_ENUM,             // str, one of names[] -> int index (size 0: nothing stored; names[0] is sent)
    WK_FLAGS,            // array of str -> uint32_t, bit i for names[i] (unknown strings ignored)
    WK_I32S, WK_F32S,    // bin of little-endian int32 / float32 -> array (see WF_INLINE ...), int32_t count at cnt
    WK_BYTES,            // bin of any length -> const uint8_t * into the message, size_t length at cnt
    WK_MAP,              // nested map of sub's fields -> struct at off
    WK_MAPS,             // array of maps of sub's fields -> malloc'd array at off, int32_t count at cnt
} WireKind;

enum {
    WF_REQ = 1 << 0,         // required: missing (or nil) is a `field` error; optional ones may be absent or nil
    WF_SAME_COUNT = 1 << 1,  // an array whose count an earlier array of the map sets: the two must agree
    WF_INLINE = 1 << 2,      // WK_I32S / WK_F32S items in the struct itself (capacity size / 4)
    WF_OWNED = 1 << 3,       //   ... in a malloc'd array the struct owns (freed by wire_msg_free)
    WF_PLACED = 1 << 4,      //   ... in the received message (wire_decode_backed, when 4-byte aligned) or in
                             //   the message's arena (WireSpec.arena_off); an optional one absent is NULL
};

// Which WireLimits member bounds a range from above (WL_NONE: WireRange.hi does).
typedef enum { WL_NONE, WL_MAX_TOKENS, WL_MAX_PROMPT_TOKENS, WL_MAX_GROUP, WL_MAX_TEXT, WL_MAX_CHUNK } WireLim;

// The valid values of a number, or the valid count of a string (bytes), array (items) or map array
// (entries). A bound applies only when set.
typedef struct {
    double lo, hi;
    uint8_t has_lo, has_hi, lo_open;
    uint8_t hi_lim;    // WireLim: the upper bound is this limit of the receiver
} WireRange;

struct WireSpec;

typedef struct {
    const char *key;
    uint16_t key_len;             // strlen(key): K("name") fills both
    uint8_t kind;                 // WireKind
    uint8_t flags;                // WF_*
    uint16_t off, size;           // where the value lives in the struct: offsetof, sizeof
    uint16_t cnt;                 // WK_I32S / WK_F32S / WK_BYTES / WK_MAPS: offsetof the count
    int64_t def;                  // integers and bools: the value of an absent optional field (a bool's -1 encodes as nil)
    WireRange range;
    const struct WireSpec *sub;   // WK_MAP / WK_MAPS: the nested map
    const char *const *names;     // WK_ENUM / WK_FLAGS: NULL-terminated
    const char *hint;             // appended to this field's range, count and enum errors
} WireField;

typedef struct WireSpec {
    const char *name;             // message type on the wire ("group"), or the nested map's role
    const WireField *fields;      // in wire order
    int n_fields;
    size_t size;                  // sizeof the struct the fields live in
    int placed;                   // has WF_PLACED arrays (at any depth): arena_ / backing_ below
    uint16_t arena_off, backing_off;
} WireSpec;

// Indexed by WireType; wire_messages[WIRE_NONE].fields is NULL.
extern const WireSpec wire_messages[WIRE_NTYPES];

// Whether field f of the struct at base is absent: only an optional array held by pointer can be (the
// pointer is NULL). The encoder sends it as nil; the decoder leaves the pointer NULL for nil or a
// missing key; the validator skips it. Every other field always has a value.
static inline int wire_absent(const WireField *f, const void *base) {
    if ((f->flags & (WF_REQ | WF_INLINE)) || !(f->kind == WK_I32S || f->kind == WK_F32S || f->kind == WK_BYTES)) return 0;
    const void *a;
    memcpy(&a, (const char *)base + f->off, sizeof a);
    return a == NULL;
}

// ---- shared by the decoder and the validator ------------------------------------------------------
#define WIRE_MAX_DEPTH 6        // message map > responses array > response map > value
#define WIRE_MAX_MAP_KEYS 64    // no message has more; bounds the duplicate-key check

// Objects a message may hold (msgpack pre-check): a group of max_group responses has ~30 objects
// each, plus headroom.
static inline size_t wire_max_objects(const WireLimits *lim) {
    return 64 + (size_t)(lim->max_group > 0 ? lim->max_group : 1) * 48 + WIRE_MAX_MAP_KEYS * 4;
}

// Where a field sits, for error messages: "responses[2]." is {up: top, key: "responses", index: 2}.
typedef struct WirePath { const struct WirePath *up; const char *key; long index; } WirePath;

// The verdict and message of one decode or validation: the first failure wins.
typedef struct {
    const WireLimits *lim;
    char *err;
    size_t errlen;
    WireBad bad;
    const char *msg;              // message type name, first in every error
} WireReport;

// Records the failure `b`: "<msg>: <path prefix><formatted>". Returns -1.
int wire_fail(WireReport *r, WireBad b, const WirePath *at, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;
// "sampling" / "responses[2]" / "top level": the map at `at`, for errors about the map itself.
void wire_path_name(const WirePath *at, char *dst, size_t cap);
// The value of limit `l` (negative limits count as 0; WL_NONE: no limit) and its name ("max_tokens").
static inline int64_t wire_lim_value(const WireLimits *lim, int l) {
    int64_t v;
    switch (l) {
    case WL_MAX_TOKENS: v = lim->max_tokens; break;
    case WL_MAX_PROMPT_TOKENS: v = lim->max_prompt_tokens; break;
    case WL_MAX_GROUP: v = lim->max_group; break;
    case WL_MAX_TEXT: v = lim->max_text_bytes > INT64_MAX ? INT64_MAX : (int64_t)lim->max_text_bytes; break;
    case WL_MAX_CHUNK: v = lim->max_chunk_bytes > INT64_MAX ? INT64_MAX : (int64_t)lim->max_chunk_bytes; break;
    default: v = INT64_MAX; break;
    }
    return v > 0 ? v : 0;
}
const char *wire_lim_name(int l);
// Checks a count (string bytes, array items, map entries) against f's range: `length` error if outside.
int wire_check_count(WireReport *r, const WirePath *at, const WireField *f, int64_t n, const char *unit, int upper_only);
// Checks the values of every field of spec in the struct at base against the table (ranges, counts,
// non-empty strings, enums), depth first in table order.
int wire_check_fields(WireReport *r, const WireSpec *spec, const void *base, const WirePath *at);
