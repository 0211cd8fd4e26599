// The message tables (see proto/wire_schema.h for the row format and how to add a field).
#include "proto/wire_schema.h"

#include <stddef.h>

// K("key"): the key and its length. AT(Struct, member): where a row's value lives. COUNT(Struct, member): where an array's count lives.
#define K(s) s, sizeof(s) - 1
#define AT(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define COUNT(T, f) .cnt = offsetof(T, f)
#define NO_SUB(T) sizeof(T), 0, 0, 0
// Ranges: >= x, > x, [a, b], (a, b], [a, limit l].
#define GE(x) .range = {.lo = (x), .has_lo = 1}
#define GT(x) .range = {.lo = (x), .has_lo = 1, .lo_open = 1}
#define IN(a, b) .range = {.lo = (a), .hi = (b), .has_lo = 1, .has_hi = 1}
#define IN_OPEN(a, b) .range = {.lo = (a), .hi = (b), .has_lo = 1, .has_hi = 1, .lo_open = 1}
#define UPTO(a, l) .range = {.lo = (a), .has_lo = 1, .hi_lim = (l)}
#define ROWS(a) a, (int)(sizeof a / sizeof a[0])

static const char *const cap_names[] = {"entropies", "weights_chunks", "weights_hdf5", NULL};   // WIRE_CAP_* bits
static const char *const finish_names[] = {"stop", "length", NULL};                            // WireFinish values
static const char *const dtype_names[] = {"f32", "bf16", NULL};                               // WireDtype values

static const WireField hello[] = {
    {K("worker"), WK_STRBUF, WF_REQ, AT(WireHello, worker), GE(1), .hint = "hint: use host:pid"},
    {K("software"), WK_STRBUF, 0, AT(WireHello, software)},
    {K("pid"), WK_I64, 0, AT(WireHello, pid)},
    {K("caps"), WK_FLAGS, 0, AT(WireHello, caps), .names = cap_names},
};

static const WireField welcome[] = {
    {K("session"), WK_U64, WF_REQ, AT(WireWelcome, session)},
    {K("policy_version"), WK_I64, WF_REQ, AT(WireWelcome, policy_version), GE(0)},
    {K("weights_version"), WK_I64, WF_REQ, AT(WireWelcome, weights_version), GE(-1), .hint = "-1: none yet"},
    {K("lease_s"), WK_F64, WF_REQ, AT(WireWelcome, lease_s), GT(0)},
    {K("heartbeat_s"), WK_F64, WF_REQ, AT(WireWelcome, heartbeat_s), GT(0)},
    {K("max_staleness"), WK_I64, WF_REQ, AT(WireWelcome, max_staleness), GE(0)},
    {K("max_msg_bytes"), WK_U64, WF_REQ, AT(WireWelcome, max_msg_bytes)},
    {K("pub_endpoint"), WK_STRBUF, 0, AT(WireWelcome, pub_endpoint)},
    {K("dead_after_s"), WK_F64, 0, AT(WireWelcome, dead_after_s), GE(0)},
    {K("max_credits"), WK_I32, 0, AT(WireWelcome, max_credits), GE(0)},
    {K("max_group"), WK_I32, 0, AT(WireWelcome, max_group), GE(0)},
    {K("max_tokens"), WK_I32, 0, AT(WireWelcome, max_tokens), GE(0)},
    {K("max_prompt_tokens"), WK_I32, 0, AT(WireWelcome, max_prompt_tokens), GE(0)},
    {K("max_objects"), WK_U32, 0, AT(WireWelcome, max_objects)},
    {K("vocab_size"), WK_I32, 0, AT(WireWelcome, vocab_size), GE(0)},
    {K("eos_token_id"), WK_I32, 0, AT(WireWelcome, eos_token_id), GE(-1), .def = -1, .hint = "-1: none"},
    {K("tokenizer"), WK_STRBUF, 0, AT(WireWelcome, tokenizer)},
};

static const WireField request[] = {
    {K("credits"), WK_I32, WF_REQ, AT(WireRequest, credits), IN(0, 65536)},
};

static const WireField sampling[] = {
    {K("temperature"), WK_F32, WF_REQ, AT(WireSampling, temperature), GT(0)},
    {K("top_p"), WK_F32, WF_REQ, AT(WireSampling, top_p), IN_OPEN(0, 1)},
    {K("top_k"), WK_I32, 0, AT(WireSampling, top_k), GE(0), .hint = "0 = off"},
    {K("max_new_tokens"), WK_I32, WF_REQ, AT(WireSampling, max_new_tokens), UPTO(1, WL_MAX_TOKENS)},
    {K("stop"), WK_I32S, WF_INLINE, AT(WireSampling, stop), COUNT(WireSampling, n_stop), IN(0, WIRE_MAX_STOP)},
};
static const WireSpec sampling_map = {"sampling", ROWS(sampling), NO_SUB(WireSampling)};

static const WireField assign[] = {
    {K("prompt_id"), WK_U64, WF_REQ, AT(WireAssign, prompt_id)},
    {K("lease_id"), WK_U64, WF_REQ, AT(WireAssign, lease_id)},
    {K("seed"), WK_U64, WF_REQ, AT(WireAssign, seed)},
    {K("prompt_tokens"), WK_I32S, WF_REQ | WF_OWNED, AT(WireAssign, prompt_tokens), COUNT(WireAssign, n_prompt), UPTO(1, WL_MAX_PROMPT_TOKENS)},
    {K("text"), WK_STR, 0, AT(WireAssign, text), UPTO(0, WL_MAX_TEXT)},
    {K("answer"), WK_STR, WF_REQ, AT(WireAssign, answer), UPTO(0, WL_MAX_TEXT)},
    {K("verifier"), WK_STRBUF, WF_REQ, AT(WireAssign, verifier), GE(1), .hint = "e.g. \"math\""},
    {K("group_size"), WK_I32, WF_REQ, AT(WireAssign, group_size), UPTO(1, WL_MAX_GROUP)},
    {K("sampling"), WK_MAP, WF_REQ, AT(WireAssign, sampling), .sub = &sampling_map},
    {K("policy_version"), WK_I64, WF_REQ, AT(WireAssign, policy_version), GE(0)},
    {K("lease_s"), WK_F64, WF_REQ, AT(WireAssign, lease_s), GT(0)},
};

static const WireField response[] = {
    {K("tokens"), WK_I32S, WF_REQ | WF_PLACED, AT(WireResponse, tokens), COUNT(WireResponse, n_tokens), UPTO(1, WL_MAX_TOKENS)},
    {K("logprobs"), WK_F32S, WF_REQ | WF_PLACED | WF_SAME_COUNT, AT(WireResponse, logprobs), COUNT(WireResponse, n_tokens),
     UPTO(1, WL_MAX_TOKENS), .hint = "one log-prob per token"},
    {K("entropies"), WK_F32S, WF_PLACED | WF_SAME_COUNT, AT(WireResponse, entropies), COUNT(WireResponse, n_tokens),
     UPTO(1, WL_MAX_TOKENS), .hint = "one per token, or nil"},
    {K("reward"), WK_F32, WF_REQ, AT(WireResponse, reward)},
    {K("correct"), WK_BOOL, 0, AT(WireResponse, correct), .def = WIRE_CORRECT_ABSENT, .hint = "absent: from reward"},
    {K("finish"), WK_ENUM, WF_REQ, AT(WireResponse, finish), .names = finish_names, .hint = "expected \"stop\" or \"length\""},
    {K("boxed_count"), WK_I32, 0, AT(WireResponse, boxed_count), GE(0)},
    {K("has_cjk"), WK_BOOL, 0, AT(WireResponse, has_cjk)},
    {K("repetition"), WK_BOOL, 0, AT(WireResponse, repetition)},
    {K("gen_seconds"), WK_F32, 0, AT(WireResponse, gen_seconds), GE(0)},
};
static const WireSpec response_map = {"response", ROWS(response), NO_SUB(WireResponse)};

static const WireField group[] = {
    {K("prompt_id"), WK_U64, WF_REQ, AT(WireGroup, prompt_id)},
    {K("lease_id"), WK_U64, WF_REQ, AT(WireGroup, lease_id)},
    {K("seed"), WK_U64, 0, AT(WireGroup, seed)},
    {K("policy_version"), WK_I64, WF_REQ, AT(WireGroup, policy_version), GE(0)},
    {K("worker"), WK_STRBUF, WF_REQ, AT(WireGroup, worker), GE(1)},
    {K("responses"), WK_MAPS, WF_REQ, AT(WireGroup, responses), COUNT(WireGroup, n_responses), UPTO(1, WL_MAX_GROUP), .sub = &response_map},
};

static const WireField heartbeat[] = {
    {K("worker"), WK_STRBUF, WF_REQ, AT(WireHeartbeat, worker), GE(1)},
    {K("policy_version"), WK_I64, 0, AT(WireHeartbeat, policy_version), GE(-1), .def = -1, .hint = "-1: none loaded"},
    {K("held"), WK_I32, 0, AT(WireHeartbeat, n_held), GE(0)},
};

static const WireField goodbye[] = {
    {K("worker"), WK_STRBUF, WF_REQ, AT(WireGoodbye, worker), GE(1)},
    {K("reason"), WK_STRBUF, 0, AT(WireGoodbye, reason)},
};

static const WireField error[] = {
    {K("code"), WK_STRBUF, WF_REQ, AT(WireError, code), GE(1)},
    {K("message"), WK_STR, 0, AT(WireError, message), UPTO(0, WL_MAX_TEXT)},
    {K("prompt_id"), WK_U64, 0, AT(WireError, prompt_id)},
};

static const WireField weights_request[] = {
    {K("have_version"), WK_I64, 0, AT(WireWeightsRequest, have_version), GE(-1), .def = -1, .hint = "-1: none"},
};

static const WireField weights_chunk[] = {
    {K("version"), WK_I64, WF_REQ, AT(WireWeightsChunk, version), GE(0)},
    {K("total_bytes"), WK_U64, WF_REQ, AT(WireWeightsChunk, total_bytes)},
    {K("offset"), WK_U64, WF_REQ, AT(WireWeightsChunk, offset)},
    {K("index"), WK_U32, WF_REQ, AT(WireWeightsChunk, index)},
    {K("n_chunks"), WK_U32, WF_REQ, AT(WireWeightsChunk, n_chunks)},
    {K("crc32"), WK_U32, WF_REQ, AT(WireWeightsChunk, crc32)},
    {K("dtype"), WK_ENUM, WF_REQ, AT(WireWeightsChunk, dtype), .names = dtype_names, .hint = "expected \"f32\" or \"bf16\""},
    {K("data"), WK_BYTES, WF_REQ, AT(WireWeightsChunk, data), COUNT(WireWeightsChunk, len), UPTO(0, WL_MAX_CHUNK)},
};

static const WireField weights_path[] = {
    {K("version"), WK_I64, WF_REQ, AT(WireWeightsPath, version), GE(0)},
    {K("path"), WK_STR, WF_REQ, AT(WireWeightsPath, path), UPTO(1, WL_MAX_TEXT)},
    {K("n_params"), WK_U64, 0, AT(WireWeightsPath, n_params)},
};

const WireSpec wire_messages[WIRE_NTYPES] = {
    [WIRE_NONE] = {"none", NULL, 0, 0, 0, 0, 0},
    [WIRE_HELLO] = {"hello", ROWS(hello), NO_SUB(WireHello)},
    [WIRE_WELCOME] = {"welcome", ROWS(welcome), NO_SUB(WireWelcome)},
    [WIRE_REQUEST] = {"request", ROWS(request), NO_SUB(WireRequest)},
    [WIRE_ASSIGN] = {"assign", ROWS(assign), NO_SUB(WireAssign)},
    [WIRE_GROUP] = {"group", ROWS(group), sizeof(WireGroup), 1, offsetof(WireGroup, arena_), offsetof(WireGroup, backing_)},
    [WIRE_HEARTBEAT] = {"heartbeat", ROWS(heartbeat), NO_SUB(WireHeartbeat)},
    [WIRE_GOODBYE] = {"goodbye", ROWS(goodbye), NO_SUB(WireGoodbye)},
    [WIRE_ERROR] = {"error", ROWS(error), NO_SUB(WireError)},
    [WIRE_WEIGHTS_REQUEST] = {"weights_request", ROWS(weights_request), NO_SUB(WireWeightsRequest)},
    [WIRE_WEIGHTS_CHUNK] = {"weights_chunk", ROWS(weights_chunk), NO_SUB(WireWeightsChunk)},
    [WIRE_WEIGHTS_PATH] = {"weights_path", ROWS(weights_path), NO_SUB(WireWeightsPath)},
};

_Static_assert(WIRE_CAP_ENTROPIES == 1 << 0 && WIRE_CAP_WEIGHTS_CHUNKS == 1 << 1 && WIRE_CAP_WEIGHTS_HDF5 == 1 << 2,
               "cap_names[i] is bit i");
_Static_assert(WIRE_FINISH_STOP == 0 && WIRE_FINISH_LENGTH == 1, "finish_names[i] is WireFinish i");

const char *wire_type_name(WireType t) { return (t >= 0 && t < WIRE_NTYPES) ? wire_messages[t].name : "?"; }
