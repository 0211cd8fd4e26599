// Wire messages between rollout workers and the coordinator (learner rank 0): msgpack maps carrying a
// protocol version, with token / float arrays as little-endian binary blobs. docs/protocol.md is the
// normative description; this header is the C view of it, and proto/wire_schema.c maps one onto the
// other: one table per message type (keys, kinds, struct members, ranges) that encoding, decoding,
// validation and freeing all follow.
//
// Decoding never trusts its input: sizes are capped before msgpack-c allocates anything, every field
// is type- and range-checked, and a bad message yields a reason code + a message naming the field.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define WIRE_PROTOCOL_VERSION 1
#define WIRE_MAX_STOP 16         // stop token ids per sampling spec
#define WIRE_ID_LEN 64           // worker ids, software strings, verifier names (incl. NUL)
#define WIRE_ENDPOINT_LEN 256
// The smallest log-prob a float32 softmax can give a token it can sample: log of the smallest positive
// float32 (2^-149). A log-prob below it, or above 0, did not come from a softmax.
#define WIRE_LOGPROB_MIN (-103.27893f)
// WireResponse.correct when the sender left it out: the verdict then follows from `reward`.
#define WIRE_CORRECT_ABSENT (-1)

typedef enum {
    WIRE_NONE = 0,
    WIRE_HELLO,            // worker -> coordinator
    WIRE_WELCOME,          // coordinator -> worker
    WIRE_REQUEST,          // worker -> coordinator: credits
    WIRE_ASSIGN,           // coordinator -> worker: one prompt under a lease
    WIRE_GROUP,            // worker -> coordinator: G finished responses for one lease
    WIRE_HEARTBEAT,        // worker -> coordinator
    WIRE_GOODBYE,          // worker -> coordinator
    WIRE_ERROR,            // either direction
    WIRE_WEIGHTS_REQUEST,  // worker -> coordinator: please re-publish the current weights
    WIRE_WEIGHTS_CHUNK,    // coordinator PUB -> workers
    WIRE_WEIGHTS_PATH,     // coordinator PUB -> workers
    WIRE_NTYPES
} WireType;

const char *wire_type_name(WireType t);   // "hello", "group", ... (the "type" value on the wire)

// Why a message was rejected. Decoder reasons first, then those only the coordinator can judge.
typedef enum {
    WIRE_OK = 0,
    WIRE_BAD_SIZE,          // empty or larger than max_msg_bytes
    WIRE_BAD_MSGPACK,       // not msgpack, truncated, trailing bytes, container bigger than the data
    WIRE_BAD_STRUCTURE,     // too deep / too many objects / top level not a map / non-string key / duplicate key
    WIRE_BAD_VERSION,       // "v" missing or not WIRE_PROTOCOL_VERSION
    WIRE_BAD_TYPE,          // "type" missing or unknown
    WIRE_BAD_FIELD,         // required field missing or of the wrong msgpack type
    WIRE_BAD_LENGTH,        // blob length not a multiple of 4, arrays disagree, over a configured maximum
    WIRE_BAD_VALUE,         // non-finite float, log-prob > 0, out-of-range integer, unknown enum string
    WIRE_BAD_FRAMES,        // transport: wrong number of ZeroMQ frames
    WIRE_BAD_DIRECTION,     // a message type the receiver never accepts (e.g. a worker sending "assign")
    WIRE_BAD_UNKNOWN_WORKER,// no hello from this peer (yet, or the coordinator restarted)
    WIRE_BAD_UNKNOWN_PROMPT,// prompt id / lease id never issued, or prompt id does not match the lease
    WIRE_BAD_UNKNOWN_VERSION,// policy version newer than the coordinator's current one
    WIRE_BAD_GROUP_SIZE,    // number of responses != the G of the assignment
    WIRE_BAD_AUTH,          // reserved: CurveZMQ rejects unauthenticated peers before they reach us
    WIRE_NBAD
} WireBad;

const char *wire_bad_name(WireBad b);     // "size", "msgpack", ... (also the "code" of an error message)

// Receiver-side limits. Sizes are checked before any allocation proportional to them.
typedef struct {
    size_t max_msg_bytes;     // whole message (also used for ZMQ_MAXMSGSIZE)
    int32_t max_tokens;       // tokens per response
    int32_t max_prompt_tokens;
    int32_t max_group;        // G
    size_t max_text_bytes;    // prompt text, answer spec, paths, error messages
    size_t max_chunk_bytes;   // one weights chunk payload
    int32_t vocab_size;       // token ids must be < vocab_size (0: only >= 0 is checked)
} WireLimits;

void wire_limits_default(WireLimits *l);   // 64 MiB messages, 32768 tokens, G <= 1024, 1 MiB text, 16 MiB chunks

typedef enum { WIRE_FINISH_STOP = 0, WIRE_FINISH_LENGTH = 1 } WireFinish;

// Capabilities a worker announces in hello (unknown strings are ignored).
enum { WIRE_CAP_ENTROPIES = 1u << 0, WIRE_CAP_WEIGHTS_CHUNKS = 1u << 1, WIRE_CAP_WEIGHTS_HDF5 = 1u << 2 };

typedef struct {
    float temperature;        // > 0
    float top_p;              // (0, 1]
    int32_t top_k;            // 0 = off
    int32_t max_new_tokens;   // >= 1
    int32_t n_stop;
    int32_t stop[WIRE_MAX_STOP];
} WireSampling;

typedef struct {
    char worker[WIRE_ID_LEN];     // stable worker name chosen by the operator / host:pid
    char software[WIRE_ID_LEN];
    uint32_t caps;                // WIRE_CAP_* bits
    int64_t pid;
} WireHello;

typedef struct {
    uint64_t session;             // changes whenever the coordinator (re)starts
    int64_t policy_version;       // current
    int64_t weights_version;      // newest published weights (-1: none yet)
    double lease_s, heartbeat_s;
    int64_t max_staleness;
    uint64_t max_msg_bytes;
    char pub_endpoint[WIRE_ENDPOINT_LEN];
    // optional: what the coordinator enforces and what a worker must generate with (0 / "": not sent)
    double dead_after_s;          // a worker silent this long is dead: its leases end (min(lease_s, 3 heartbeats))
    int32_t max_credits;          // credits above this are capped
    int32_t max_group, max_tokens, max_prompt_tokens;   // the receiver's limits on a group
    uint32_t max_objects;         // msgpack objects one message may hold
    int32_t vocab_size;           // token ids must be below it
    int32_t eos_token_id;         // the end-of-sequence token (also in every assignment's sampling.stop)
    char tokenizer[WIRE_ID_LEN];  // the tokenizer of prompt_tokens and responses, e.g. "char"
} WireWelcome;

typedef struct { int32_t credits; } WireRequest;

typedef struct {
    uint64_t prompt_id, lease_id, seed;
    int32_t n_prompt;
    int32_t *prompt_tokens;       // (n_prompt,) owned
    char *text;                   // owned, NUL-terminated
    char *answer;                 // gold answer, owned
    char verifier[WIRE_ID_LEN];   // "math", "arith", ...
    int32_t group_size;           // G
    WireSampling sampling;
    int64_t policy_version;
    double lease_s;               // the lease deadline, relative to receipt (clocks are not shared)
} WireAssign;

typedef struct {
    int32_t n_tokens;
    int32_t *tokens;              // (n_tokens,)
    float *logprobs;              // (n_tokens,) each in [WIRE_LOGPROB_MIN, 0]
    float *entropies;             // (n_tokens,) each >= 0, or NULL when the worker did not compute them
    float reward;                 // the worker's score: 1 correct; 0 or -1 incorrect (it must agree with correct)
    int correct;                  // the verdict (decoded: 0 / 1, from reward when absent; built: 0 / 1 or WIRE_CORRECT_ABSENT)
    WireFinish finish;
    int32_t boxed_count;
    int has_cjk, repetition;
    float gen_seconds;
} WireResponse;

// Memory a decoded message may point into instead of copying from it (a received ZeroMQ message,
// see wire_decode_zmq in transport.h). release(self) frees the backing and the struct itself.
typedef struct WireBacking { void (*release)(struct WireBacking *self); } WireBacking;

// Build groups zero-initialised: wire_group_free reads arena_ and backing_.
typedef struct {
    uint64_t prompt_id, lease_id, seed;
    int64_t policy_version;       // the weights the responses were sampled from
    char worker[WIRE_ID_LEN];
    int32_t n_responses;
    WireResponse *responses;      // (n_responses,) owned
    // Where the responses' token / float arrays live (both released by wire_group_free). Either array
    // may point into either; every array is 4-byte aligned, so reading it as int32_t / float is safe.
    void *arena_;                 // one malloc'd block (free()d): arrays the decoder copied, or a sender's own
    WireBacking *backing_;        // the received message, for arrays decoded in place (NULL: none)
} WireGroup;

typedef struct { char worker[WIRE_ID_LEN]; int64_t policy_version; int32_t n_held; } WireHeartbeat;
typedef struct { char worker[WIRE_ID_LEN]; char reason[WIRE_ID_LEN]; } WireGoodbye;
typedef struct { char code[WIRE_ID_LEN]; char *message; uint64_t prompt_id; } WireError;
typedef struct { int64_t have_version; } WireWeightsRequest;

// Element type of a weights broadcast: what the learner computes with (fp32 learners send f32, bf16
// learners bf16: the upper half of the fp32 bits, rounded to nearest even; common/core/bf16.h).
typedef enum { WIRE_DTYPE_F32 = 0, WIRE_DTYPE_BF16 = 1 } WireDtype;
size_t wire_dtype_bytes(WireDtype d);   // 4 or 2

typedef struct {
    int64_t version;
    uint64_t total_bytes;         // whole buffer: n_params * wire_dtype_bytes(dtype), little-endian
    uint64_t offset;              // of this chunk, in bytes (whole elements)
    uint32_t index, n_chunks;
    uint32_t crc32;               // CRC-32 (zlib) of the whole buffer's bytes as sent
    const uint8_t *data;          // chunk bytes; points into the received message when decoded
    size_t len;
    WireDtype dtype;              // "f32" or "bf16"
} WireWeightsChunk;

typedef struct { int64_t version; char *path; uint64_t n_params; } WireWeightsPath;

typedef struct {
    WireType type;
    union {
        WireHello hello; WireWelcome welcome; WireRequest request; WireAssign assign; WireGroup group;
        WireHeartbeat heartbeat; WireGoodbye goodbye; WireError error; WireWeightsRequest weights_request;
        WireWeightsChunk chunk; WireWeightsPath path;
    } u;
} WireMsg;

void wire_msg_free(WireMsg *m);           // frees what decode allocated; leaves m zeroed
void wire_group_free(WireGroup *g);
void wire_assign_free(WireAssign *a);

// Growable output buffer. Ownership of data may be handed to ZeroMQ (see transport.h).
typedef struct { uint8_t *data; size_t len, cap; } WireBuf;
void wire_buf_init(WireBuf *b, size_t reserve);
void wire_buf_free(WireBuf *b);

// Encodes any message exactly as given (no validation, so tests can craft bad ones). Appends to out
// after clearing it. Returns 0.
int wire_encode(const WireMsg *m, WireBuf *out);

// Parses + validates one complete message. On success returns WIRE_OK and fills *out (free with
// wire_msg_free). Otherwise returns the reason and writes a message naming the field into err.
// A decoded weights chunk's data points into `data`, which must outlive *out.
WireBad wire_decode(const void *data, size_t len, const WireLimits *lim, WireMsg *out, char *err, size_t errlen);

// wire_decode without copying a group's blobs: on a little-endian host, a group's tokens / logprobs /
// entropies point straight into `data` wherever the blob's payload is 4-byte aligned in memory (the C
// encoder aligns them, see docs/protocol.md); a misaligned blob is copied as wire_decode would. The
// same validation runs on the result either way. If any array points into data, the group takes
// `backing` (the owner of data; wire_msg_free releases it) and *kept = 1; otherwise, and on every
// failure, *kept = 0 and the caller still owns backing. Other message types decode as wire_decode.
WireBad wire_decode_backed(void *data, size_t len, WireBacking *backing, int *kept, const WireLimits *lim, WireMsg *out,
                           char *err, size_t errlen);

// For a message that failed wire_decode: if it is still a well-formed msgpack map of type "group"
// with unsigned prompt_id and lease_id, returns 0 and sets them (so the receiver can end that lease
// instead of waiting for it to expire); -1 otherwise.
int wire_peek_group_ids(const void *data, size_t len, const WireLimits *lim, uint64_t *prompt_id, uint64_t *lease_id);

// A validated group's responses that left `correct` out get the verdict their reward states (1:
// correct), so a decoded group's `correct` is always 0 or 1. wire_decode calls it.
void wire_group_settle_verdicts(WireGroup *g);

// Field checks shared by decode and by senders that want to check what they are about to send.
WireBad wire_validate(const WireMsg *m, const WireLimits *lim, char *err, size_t errlen);

// Checks that `data` is exactly one msgpack value whose containers fit in the bytes present, nested at
// most max_depth deep with at most max_objects objects in total. msgpack-c reserves memory from
// container headers before reading their contents; this bounds that. Returns WIRE_OK, or the kind of
// failure with the reason in err: WIRE_BAD_STRUCTURE (too deep, too many objects) or WIRE_BAD_MSGPACK
// (anything else: truncated, trailing bytes, a container larger than the data, byte 0xc1).
WireBad wire_msgpack_precheck(const uint8_t *data, size_t len, int max_depth, size_t max_objects, char *err, size_t errlen);

// CRC-32 (the zlib / IEEE polynomial) so a Python peer can use zlib.crc32. crc = 0 to start.
uint32_t wire_crc32(uint32_t crc, const void *data, size_t len);

// Little-endian blob helpers (memcpy on little-endian hosts).
void wire_le_store_i32(uint8_t *dst, const int32_t *src, size_t n);
void wire_le_load_i32(int32_t *dst, const uint8_t *src, size_t n);
void wire_le_store_f32(uint8_t *dst, const float *src, size_t n);
void wire_le_store_u16(uint8_t *dst, const uint16_t *src, size_t n);   // bf16 weights
void wire_le_load_u16(uint16_t *dst, const uint8_t *src, size_t n);
void wire_le_load_f32(float *dst, const uint8_t *src, size_t n);
