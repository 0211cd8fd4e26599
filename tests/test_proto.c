// Wire messages: round trips of every type, and one crafted bad message per validation rule.
//   test_proto                    run the tests
//   test_proto --write-corpus DIR write one valid encoding of every message type (fuzz seed corpus)
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/check.h"
#include "proto/transport.h"
#include "proto/wire.h"
#include "tests/harness.h"

static WireLimits lim;

// ---- sample messages -----------------------------------------------------------------------------
static int32_t toks[3][6] = {{5, 6, 7, 8, 9, 2}, {11, 12, 2, 0, 0, 0}, {1, 2, 3, 4, 0, 0}};
static float lps[3][6] = {{-0.1f, -2.5f, -0.0f, -1e-7f, -30.f, -0.7f}, {-1, -2, -3, 0, 0, 0}, {-0.5f, -0.25f, -0.125f, -1, 0, 0}};
static float ents[3][6] = {{0.1f, 2.0f, 0, 3, 1, 0.5f}, {0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 0, 0}};
static int32_t prompt_toks[4] = {100, 101, 102, 103};

static WireGroup sample_group(WireResponse *rs) {
    int nt[3] = {6, 3, 4};
    for (int i = 0; i < 3; i++) {
        rs[i] = (WireResponse){nt[i], toks[i], lps[i], i == 1 ? NULL : ents[i], i == 0 ? 1.0f : -1.0f, i == 0,
                               i == 2 ? WIRE_FINISH_LENGTH : WIRE_FINISH_STOP, i, i == 1, i == 2, 0.25f * (float)(i + 1)};
    }
    WireGroup g = {0};
    g.prompt_id = 0xFFFFFFFFFFFFFFF0ull;
    g.lease_id = (7ull << 40) | 12345;
    g.seed = 99;
    g.policy_version = 3;
    snprintf(g.worker, sizeof g.worker, "host:1234");
    g.n_responses = 3;
    g.responses = rs;
    return g;
}

static WireMsg sample(WireType t, WireResponse *rs) {
    WireMsg m;
    memset(&m, 0, sizeof m);
    m.type = t;
    switch (t) {
    case WIRE_HELLO:
        snprintf(m.u.hello.worker, sizeof m.u.hello.worker, "gpu-node-3:777");
        snprintf(m.u.hello.software, sizeof m.u.hello.software, "rlvr-c/1");
        m.u.hello.caps = WIRE_CAP_ENTROPIES | WIRE_CAP_WEIGHTS_HDF5;
        m.u.hello.pid = 777;
        break;
    case WIRE_WELCOME:
        m.u.welcome = (WireWelcome){0x1234567890abcdefull, 5, 4, 30.0, 5.0, 1, 1u << 26, ""};
        snprintf(m.u.welcome.pub_endpoint, sizeof m.u.welcome.pub_endpoint, "tcp://127.0.0.1:5556");
        break;
    case WIRE_REQUEST: m.u.request.credits = 8; break;
    case WIRE_ASSIGN: {
        WireAssign *a = &m.u.assign;
        a->prompt_id = 42; a->lease_id = (1ull << 40) | 1; a->seed = 0xdeadbeef;
        a->n_prompt = 4; a->prompt_tokens = prompt_toks;
        a->text = "What is 2+2? Put the answer in \\boxed{}.";
        a->answer = "4";
        snprintf(a->verifier, sizeof a->verifier, "math");
        a->group_size = 8;
        a->sampling = (WireSampling){1.0f, 0.95f, 0, 2048, 2, {2, 151643}};
        a->policy_version = 5;
        a->lease_s = 30.0;
        break;
    }
    case WIRE_GROUP: m.u.group = sample_group(rs); break;
    case WIRE_HEARTBEAT: m.u.heartbeat = (WireHeartbeat){"w1", 4, 2}; break;
    case WIRE_GOODBYE: m.u.goodbye = (WireGoodbye){"w1", "SIGTERM"}; break;
    case WIRE_ERROR:
        snprintf(m.u.error.code, sizeof m.u.error.code, "unknown_worker");
        m.u.error.message = "send hello first";
        m.u.error.prompt_id = 42;
        break;
    case WIRE_WEIGHTS_REQUEST: m.u.weights_request.have_version = 3; break;
    case WIRE_WEIGHTS_CHUNK: {
        static uint8_t payload[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        m.u.chunk = (WireWeightsChunk){9, 48, 16, 1, 3, 0xCAFEBABEu, payload, 16};
        break;
    }
    case WIRE_WEIGHTS_PATH: m.u.path = (WireWeightsPath){9, "/shared/run/weights_v9.h5", 1234567}; break;
    default: break;
    }
    return m;
}

static WireBad decode_buf(const WireBuf *b, WireMsg *out, char *err, size_t n) { return wire_decode(b->data, b->len, &lim, out, err, n); }

// A backing that counts its releases (the buffer itself belongs to the test).
typedef struct { WireBacking b; int released; } TestBacking;
static void test_release(WireBacking *self) { ((TestBacking *)self)->released++; }

// Decodes data with wire_decode, then again in place (wire_decode_backed) from an 8-aligned copy and
// from a copy shifted by `shift` bytes: every path must give the same verdict and error, and the
// same message (compared by re-encoding). Returns wire_decode's result in *out.
static WireBad decode_all_ways(const void *data, size_t len, const WireLimits *L, WireMsg *out, char *err, size_t errlen) {
    WireBad why = wire_decode(data, len, L, out, err, errlen);
    WireBuf ref;
    wire_buf_init(&ref, 64);
    if (why == WIRE_OK) wire_encode(out, &ref);
    for (int shift = 0; shift < 4; shift++) {
        uint8_t *copy = mallocCheck(len + 8);
        memcpy(copy + shift, data, len);
        TestBacking tb = {{test_release}, 0};
        WireMsg d;
        char err2[256] = "";
        int kept = -1;
        WireBad why2 = wire_decode_backed(copy + shift, len, &tb.b, &kept, L, &d, err2, sizeof err2);
        CHECK_MSG(why2 == why, "in-place decode (shift %d) says %s, copying decode %s", shift, wire_bad_name(why2), wire_bad_name(why));
        CHECK_MSG(strcmp(err2, err) == 0, "in-place decode error '%s' differs from '%s'", err2, err);
        CHECK(kept == 0 || kept == 1);
        CHECK(kept == 0 || (why2 == WIRE_OK && d.type == WIRE_GROUP && d.u.group.backing_ == &tb.b));
        if (why2 == WIRE_OK) {
            WireBuf b2;
            wire_buf_init(&b2, 64);
            wire_encode(&d, &b2);
            CHECK_MSG(b2.len == ref.len && memcmp(b2.data, ref.data, ref.len) == 0, "in-place decode (shift %d) re-encodes differently", shift);
            wire_buf_free(&b2);
            wire_msg_free(&d);
        }
        CHECK_MSG(tb.released == kept, "backing released %d times, kept %d", tb.released, kept);
        free(copy);
    }
    wire_buf_free(&ref);
    return why;
}

static void test_round_trips(void) {
    for (int t = 1; t < WIRE_NTYPES; t++) {
        WireResponse rs[3];
        WireMsg m = sample((WireType)t, rs), d;
        WireBuf b;
        wire_buf_init(&b, 64);
        wire_encode(&m, &b);
        char err[256];
        WireBad why = decode_buf(&b, &d, err, sizeof err);
        CHECK_MSG(why == WIRE_OK, "%s: %s", wire_type_name((WireType)t), err);
        if (why != WIRE_OK) { wire_buf_free(&b); continue; }
        CHECK_EQ_INT(d.type, t);
        switch (t) {
        case WIRE_HELLO:
            CHECK(strcmp(d.u.hello.worker, "gpu-node-3:777") == 0 && strcmp(d.u.hello.software, "rlvr-c/1") == 0);
            CHECK_EQ_INT(d.u.hello.caps, WIRE_CAP_ENTROPIES | WIRE_CAP_WEIGHTS_HDF5);
            CHECK_EQ_INT(d.u.hello.pid, 777);
            break;
        case WIRE_WELCOME:
            CHECK(d.u.welcome.session == 0x1234567890abcdefull);
            CHECK_EQ_INT(d.u.welcome.policy_version, 5);
            CHECK_EQ_INT(d.u.welcome.weights_version, 4);
            CHECK_NEAR(d.u.welcome.lease_s, 30.0, 0);
            CHECK_NEAR(d.u.welcome.heartbeat_s, 5.0, 0);
            CHECK_EQ_INT(d.u.welcome.max_msg_bytes, 1u << 26);
            CHECK(strcmp(d.u.welcome.pub_endpoint, "tcp://127.0.0.1:5556") == 0);
            break;
        case WIRE_REQUEST: CHECK_EQ_INT(d.u.request.credits, 8); break;
        case WIRE_ASSIGN: {
            WireAssign *a = &d.u.assign;
            CHECK(a->prompt_id == 42 && a->lease_id == ((1ull << 40) | 1) && a->seed == 0xdeadbeef);
            CHECK_EQ_INT(a->n_prompt, 4);
            CHECK(memcmp(a->prompt_tokens, prompt_toks, sizeof prompt_toks) == 0);
            CHECK(strcmp(a->text, m.u.assign.text) == 0 && strcmp(a->answer, "4") == 0 && strcmp(a->verifier, "math") == 0);
            CHECK_EQ_INT(a->group_size, 8);
            CHECK_NEAR(a->sampling.temperature, 1.0, 0);
            CHECK_NEAR(a->sampling.top_p, 0.95f, 0);
            CHECK_EQ_INT(a->sampling.max_new_tokens, 2048);
            CHECK_EQ_INT(a->sampling.n_stop, 2);
            CHECK_EQ_INT(a->sampling.stop[1], 151643);
            CHECK_EQ_INT(a->policy_version, 5);
            CHECK_NEAR(a->lease_s, 30.0, 0);
            break;
        }
        case WIRE_GROUP: {
            WireGroup *g = &d.u.group;
            CHECK(g->prompt_id == 0xFFFFFFFFFFFFFFF0ull && g->lease_id == ((7ull << 40) | 12345) && g->seed == 99);
            CHECK_EQ_INT(g->policy_version, 3);
            CHECK(strcmp(g->worker, "host:1234") == 0);
            CHECK_EQ_INT(g->n_responses, 3);
            for (int i = 0; i < 3 && g->n_responses == 3; i++) {
                const WireResponse *x = &g->responses[i], *y = &rs[i];
                CHECK_EQ_INT(x->n_tokens, y->n_tokens);
                CHECK(memcmp(x->tokens, y->tokens, 4 * (size_t)y->n_tokens) == 0);
                CHECK(memcmp(x->logprobs, y->logprobs, 4 * (size_t)y->n_tokens) == 0);   // bit-exact, -0.0 included
                CHECK((x->entropies == NULL) == (y->entropies == NULL));
                if (x->entropies && y->entropies) CHECK(memcmp(x->entropies, y->entropies, 4 * (size_t)y->n_tokens) == 0);
                CHECK(x->reward == y->reward && x->correct == y->correct && x->finish == y->finish);
                CHECK(x->boxed_count == y->boxed_count && x->has_cjk == y->has_cjk && x->repetition == y->repetition);
                CHECK(x->gen_seconds == y->gen_seconds);
            }
            break;
        }
        case WIRE_HEARTBEAT:
            CHECK(strcmp(d.u.heartbeat.worker, "w1") == 0 && d.u.heartbeat.policy_version == 4 && d.u.heartbeat.n_held == 2);
            break;
        case WIRE_GOODBYE: CHECK(strcmp(d.u.goodbye.reason, "SIGTERM") == 0); break;
        case WIRE_ERROR:
            CHECK(strcmp(d.u.error.code, "unknown_worker") == 0 && strcmp(d.u.error.message, "send hello first") == 0 && d.u.error.prompt_id == 42);
            break;
        case WIRE_WEIGHTS_REQUEST: CHECK_EQ_INT(d.u.weights_request.have_version, 3); break;
        case WIRE_WEIGHTS_CHUNK:
            CHECK(d.u.chunk.version == 9 && d.u.chunk.total_bytes == 48 && d.u.chunk.offset == 16 && d.u.chunk.index == 1);
            CHECK(d.u.chunk.n_chunks == 3 && d.u.chunk.crc32 == 0xCAFEBABEu && d.u.chunk.len == 16);
            CHECK(memcmp(d.u.chunk.data, m.u.chunk.data, 16) == 0);
            break;
        case WIRE_WEIGHTS_PATH:
            CHECK(d.u.path.version == 9 && strcmp(d.u.path.path, "/shared/run/weights_v9.h5") == 0 && d.u.path.n_params == 1234567);
            break;
        }
        // what decodes also re-encodes to the same bytes (nothing lost or reordered)
        WireBuf b2;
        wire_buf_init(&b2, 64);
        wire_encode(&d, &b2);
        CHECK_MSG(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0, "%s re-encoding differs", wire_type_name((WireType)t));
        wire_buf_free(&b2);
        wire_msg_free(&d);
        wire_buf_free(&b);
    }
}

// ---- crafting bad messages -----------------------------------------------------------------------
typedef struct { msgpack_sbuffer sb; msgpack_packer pk; } Raw;
static void raw_init(Raw *r) { msgpack_sbuffer_init(&r->sb); msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write); }
static void raw_str(Raw *r, const char *s) { msgpack_pack_str(&r->pk, strlen(s)); msgpack_pack_str_body(&r->pk, s, strlen(s)); }

typedef void (*ValueFn)(msgpack_packer *pk);
// Re-packs `o`, replacing (fn) or deleting (fn NULL) the value at dotted path (e.g. "responses.0.tokens").
static void repack(msgpack_packer *pk, const msgpack_object *o, const char *path, ValueFn fn) {
    const char *dot = path ? strchr(path, '.') : NULL;
    size_t head = path ? (dot ? (size_t)(dot - path) : strlen(path)) : 0;
    if (path && o->type == MSGPACK_OBJECT_MAP) {
        int del = 0;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (!dot && !fn && k->via.str.size == head && memcmp(k->via.str.ptr, path, head) == 0) del = 1;
        }
        msgpack_pack_map(pk, o->via.map.size - (uint32_t)del);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
            int hit = k->type == MSGPACK_OBJECT_STR && k->via.str.size == head && memcmp(k->via.str.ptr, path, head) == 0;
            if (hit && !dot && !fn) continue;
            msgpack_pack_object(pk, *k);
            if (hit && !dot) fn(pk);
            else if (hit) repack(pk, v, dot + 1, fn);
            else msgpack_pack_object(pk, *v);
        }
    } else if (path && o->type == MSGPACK_OBJECT_ARRAY) {
        uint32_t idx = (uint32_t)atoi(path);
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i == idx && !dot && fn) fn(pk);
            else if (i == idx && dot) repack(pk, &o->via.array.ptr[i], dot + 1, fn);
            else msgpack_pack_object(pk, o->via.array.ptr[i]);
        }
    } else {
        msgpack_pack_object(pk, *o);
    }
}

// Encodes a valid message of type t, mutates it at path, decodes, and expects `want`.
static void expect_mutation(WireType t, const char *path, ValueFn fn, WireBad want, const char *field_in_err) {
    WireResponse rs[3];
    WireMsg m = sample(t, rs), d;
    WireBuf b;
    wire_buf_init(&b, 64);
    wire_encode(&m, &b);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_next(&u, (const char *)b.data, b.len, &off);
    Raw r;
    raw_init(&r);
    repack(&r.pk, &u.data, path, fn);
    char err[256] = "";
    WireBad why = decode_all_ways(r.sb.data, r.sb.size, &lim, &d, err, sizeof err);
    CHECK_MSG(why == want, "%s %s: got %s (%s), want %s", wire_type_name(t), path, wire_bad_name(why), err, wire_bad_name(want));
    if (field_in_err) CHECK_MSG(strstr(err, field_in_err) != NULL, "error '%s' does not name '%s'", err, field_in_err);
    if (why == WIRE_OK) wire_msg_free(&d);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&r.sb);
    wire_buf_free(&b);
}

static void v_int_array(msgpack_packer *pk) { msgpack_pack_array(pk, 2); msgpack_pack_int(pk, 1); msgpack_pack_int(pk, 2); }
static void v_str(msgpack_packer *pk) { msgpack_pack_str(pk, 3); msgpack_pack_str_body(pk, "abc", 3); }
static void v_int1(msgpack_packer *pk) { msgpack_pack_int(pk, 1); }
static void v_neg(msgpack_packer *pk) { msgpack_pack_int(pk, -5); }
static void v_huge(msgpack_packer *pk) { msgpack_pack_uint64(pk, 1ull << 40); }
static void v_bin7(msgpack_packer *pk) { msgpack_pack_bin(pk, 7); msgpack_pack_bin_body(pk, "\1\2\3\4\5\6\7", 7); }
static void v_bin8(msgpack_packer *pk) { msgpack_pack_bin(pk, 8); msgpack_pack_bin_body(pk, "\0\0\0\0\0\0\0\0", 8); }
static void v_v2(msgpack_packer *pk) { msgpack_pack_int(pk, 2); }
static void v_type_foo(msgpack_packer *pk) { msgpack_pack_str(pk, 3); msgpack_pack_str_body(pk, "foo", 3); }
static void v_finish_bad(msgpack_packer *pk) { msgpack_pack_str(pk, 4); msgpack_pack_str_body(pk, "eos!", 4); }
static void v_nul_str(msgpack_packer *pk) { msgpack_pack_str(pk, 3); msgpack_pack_str_body(pk, "a\0b", 3); }
static void v_long_str(msgpack_packer *pk) { char s[100]; memset(s, 'x', sizeof s); msgpack_pack_str(pk, 100); msgpack_pack_str_body(pk, s, 100); }
static void v_empty_array(msgpack_packer *pk) { msgpack_pack_array(pk, 0); }
static void v_nan(msgpack_packer *pk) { msgpack_pack_double(pk, NAN); }
static void v_inf(msgpack_packer *pk) { msgpack_pack_float(pk, INFINITY); }
static void v_f16(msgpack_packer *pk) { msgpack_pack_str(pk, 3); msgpack_pack_str_body(pk, "f16", 3); }
static void v_big_f64(msgpack_packer *pk) { msgpack_pack_double(pk, 1e300); }

static void test_structural(void) {
    WireMsg d;
    char err[256];
    WireResponse rs[3];
    WireMsg m = sample(WIRE_GROUP, rs);
    WireBuf b;
    wire_buf_init(&b, 64);
    wire_encode(&m, &b);
    CHECK_EQ_INT(wire_decode(b.data, 0, &lim, &d, err, sizeof err), WIRE_BAD_SIZE);
    WireLimits small = lim;
    small.max_msg_bytes = b.len - 1;
    CHECK_EQ_INT(wire_decode(b.data, b.len, &small, &d, err, sizeof err), WIRE_BAD_SIZE);
    CHECK(strstr(err, "max_msg_bytes") != NULL);
    // truncated at every length: never accepted, never crashes
    int all_rejected = 1;
    for (size_t n = 1; n < b.len; n++) {
        if (wire_decode(b.data, n, &lim, &d, err, sizeof err) == WIRE_OK) { all_rejected = 0; wire_msg_free(&d); }
    }
    CHECK(all_rejected);
    // trailing garbage after a valid message
    uint8_t *g = mallocCheck(b.len + 3);
    memcpy(g, b.data, b.len);
    g[b.len] = 0x01; g[b.len + 1] = 0x02; g[b.len + 2] = 0x03;
    CHECK_EQ_INT(wire_decode(g, b.len + 3, &lim, &d, err, sizeof err), WIRE_BAD_MSGPACK);
    CHECK(strstr(err, "trailing") != NULL);
    free(g);
    wire_buf_free(&b);

    const uint8_t never[] = {0xc1};
    CHECK_EQ_INT(wire_decode(never, 1, &lim, &d, err, sizeof err), WIRE_BAD_MSGPACK);
    const uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};   // array32 of 2^32-1 elements
    CHECK_EQ_INT(wire_decode(huge_array, sizeof huge_array, &lim, &d, err, sizeof err), WIRE_BAD_MSGPACK);
    const uint8_t huge_map[] = {0xdf, 0x01, 0x00, 0x00, 0x00, 0xa1, 'v', 0x01};   // map32 claiming 2^24 pairs
    CHECK_EQ_INT(wire_decode(huge_map, sizeof huge_map, &lim, &d, err, sizeof err), WIRE_BAD_MSGPACK);
    const uint8_t huge_bin[] = {0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00};
    CHECK_EQ_INT(wire_decode(huge_bin, sizeof huge_bin, &lim, &d, err, sizeof err), WIRE_BAD_MSGPACK);
    uint8_t deep[40];
    for (int i = 0; i < 39; i++) deep[i] = 0x91;   // [[[[...]]]]
    deep[39] = 0xc0;
    CHECK_EQ_INT(wire_decode(deep, sizeof deep, &lim, &d, err, sizeof err), WIRE_BAD_STRUCTURE);
    // many small objects: bounded by the object cap
    size_t nobj = 200000;
    uint8_t *many = mallocCheck(nobj + 5);
    many[0] = 0xdd; many[1] = (uint8_t)(nobj >> 24); many[2] = (uint8_t)(nobj >> 16); many[3] = (uint8_t)(nobj >> 8); many[4] = (uint8_t)nobj;
    memset(many + 5, 0xc0, nobj);
    CHECK_EQ_INT(wire_decode(many, nobj + 5, &lim, &d, err, sizeof err), WIRE_BAD_STRUCTURE);
    free(many);

    Raw r;
    raw_init(&r);
    msgpack_pack_array(&r.pk, 1); msgpack_pack_int(&r.pk, 1);
    CHECK_EQ_INT(wire_decode(r.sb.data, r.sb.size, &lim, &d, err, sizeof err), WIRE_BAD_STRUCTURE);
    msgpack_sbuffer_destroy(&r.sb);
    raw_init(&r);   // integer key
    msgpack_pack_map(&r.pk, 3); raw_str(&r, "v"); msgpack_pack_int(&r.pk, 1); raw_str(&r, "type"); raw_str(&r, "request");
    msgpack_pack_int(&r.pk, 7); msgpack_pack_int(&r.pk, 1);
    CHECK_EQ_INT(wire_decode(r.sb.data, r.sb.size, &lim, &d, err, sizeof err), WIRE_BAD_STRUCTURE);
    msgpack_sbuffer_destroy(&r.sb);
    raw_init(&r);   // duplicate key
    msgpack_pack_map(&r.pk, 4); raw_str(&r, "v"); msgpack_pack_int(&r.pk, 1); raw_str(&r, "type"); raw_str(&r, "request");
    raw_str(&r, "credits"); msgpack_pack_int(&r.pk, 1); raw_str(&r, "credits"); msgpack_pack_int(&r.pk, 1000);
    CHECK_EQ_INT(wire_decode(r.sb.data, r.sb.size, &lim, &d, err, sizeof err), WIRE_BAD_STRUCTURE);
    CHECK(strstr(err, "duplicate") != NULL);
    msgpack_sbuffer_destroy(&r.sb);
    raw_init(&r);   // unknown keys are ignored (forward compatibility)
    msgpack_pack_map(&r.pk, 4); raw_str(&r, "v"); msgpack_pack_int(&r.pk, 1); raw_str(&r, "type"); raw_str(&r, "request");
    raw_str(&r, "credits"); msgpack_pack_int(&r.pk, 3); raw_str(&r, "future_field"); msgpack_pack_nil(&r.pk);
    CHECK_EQ_INT(wire_decode(r.sb.data, r.sb.size, &lim, &d, err, sizeof err), WIRE_OK);
    CHECK_EQ_INT(d.u.request.credits, 3);
    wire_msg_free(&d);
    msgpack_sbuffer_destroy(&r.sb);
    raw_init(&r);   // floats may come as integers (Python packs -1 as an int)
    msgpack_pack_map(&r.pk, 2); raw_str(&r, "v"); msgpack_pack_int(&r.pk, 1); raw_str(&r, "type"); raw_str(&r, "hello");
    CHECK_EQ_INT(wire_decode(r.sb.data, r.sb.size, &lim, &d, err, sizeof err), WIRE_BAD_FIELD);   // worker missing
    CHECK(strstr(err, "'worker'") != NULL);
    msgpack_sbuffer_destroy(&r.sb);
}

static void test_field_rules(void) {
    // version and type
    expect_mutation(WIRE_REQUEST, "v", NULL, WIRE_BAD_VERSION, "version");
    expect_mutation(WIRE_REQUEST, "v", v_v2, WIRE_BAD_VERSION, "version");
    expect_mutation(WIRE_REQUEST, "type", NULL, WIRE_BAD_TYPE, "type");
    expect_mutation(WIRE_REQUEST, "type", v_type_foo, WIRE_BAD_TYPE, "foo");
    // missing required fields / wrong msgpack types
    expect_mutation(WIRE_GROUP, "prompt_id", NULL, WIRE_BAD_FIELD, "prompt_id");
    expect_mutation(WIRE_GROUP, "lease_id", NULL, WIRE_BAD_FIELD, "lease_id");
    expect_mutation(WIRE_GROUP, "responses", NULL, WIRE_BAD_FIELD, "responses");
    expect_mutation(WIRE_GROUP, "responses.1.tokens", NULL, WIRE_BAD_FIELD, "responses[1].'tokens'");
    expect_mutation(WIRE_GROUP, "responses.0.tokens", v_int_array, WIRE_BAD_FIELD, "bin");
    expect_mutation(WIRE_GROUP, "responses.0.reward", v_str, WIRE_BAD_FIELD, "reward");
    expect_mutation(WIRE_GROUP, "responses.0.correct", v_int1, WIRE_BAD_FIELD, "correct");
    expect_mutation(WIRE_GROUP, "responses.2", v_int1, WIRE_BAD_FIELD, "responses[2]");
    expect_mutation(WIRE_GROUP, "responses.0.reward", v_int1, WIRE_OK, NULL);   // integers are numbers
    expect_mutation(WIRE_GROUP, "responses.1.entropies", NULL, WIRE_OK, NULL);  // optional
    expect_mutation(WIRE_ASSIGN, "sampling", NULL, WIRE_BAD_FIELD, "sampling");
    expect_mutation(WIRE_ASSIGN, "sampling.temperature", NULL, WIRE_BAD_FIELD, "temperature");
    expect_mutation(WIRE_REQUEST, "credits", v_str, WIRE_BAD_FIELD, "credits");
    // lengths
    expect_mutation(WIRE_GROUP, "responses.0.tokens", v_bin7, WIRE_BAD_LENGTH, "multiple of 4");
    expect_mutation(WIRE_GROUP, "responses.0.logprobs", v_bin8, WIRE_BAD_LENGTH, "logprobs");
    expect_mutation(WIRE_GROUP, "responses.0.entropies", v_bin8, WIRE_BAD_LENGTH, "entropies");
    expect_mutation(WIRE_GROUP, "responses", v_empty_array, WIRE_BAD_LENGTH, "responses");
    expect_mutation(WIRE_HELLO, "worker", v_long_str, WIRE_BAD_LENGTH, "worker");
    // values
    expect_mutation(WIRE_GROUP, "prompt_id", v_neg, WIRE_BAD_VALUE, "prompt_id");
    expect_mutation(WIRE_GROUP, "responses.0.finish", v_finish_bad, WIRE_BAD_VALUE, "finish");
    expect_mutation(WIRE_GROUP, "responses.0.reward", v_nan, WIRE_BAD_VALUE, "reward");
    expect_mutation(WIRE_GROUP, "responses.0.gen_seconds", v_inf, WIRE_BAD_VALUE, "gen_seconds");
    expect_mutation(WIRE_GROUP, "responses.0.reward", v_big_f64, WIRE_BAD_VALUE, "float32");
    expect_mutation(WIRE_ASSIGN, "group_size", v_huge, WIRE_BAD_VALUE, "group_size");
    expect_mutation(WIRE_HELLO, "worker", v_nul_str, WIRE_BAD_VALUE, "NUL");
    expect_mutation(WIRE_WEIGHTS_CHUNK, "dtype", v_f16, WIRE_BAD_VALUE, "dtype");
    expect_mutation(WIRE_WEIGHTS_CHUNK, "data", v_int1, WIRE_BAD_FIELD, "data");
}

// Value rules through the struct: the encoder sends whatever it is given.
static void expect_struct(WireMsg *m, WireBad want, const char *field_in_err, const WireLimits *L) {
    WireBuf b;
    wire_buf_init(&b, 64);
    wire_encode(m, &b);
    WireMsg d;
    char err[256] = "";
    WireBad why = decode_all_ways(b.data, b.len, L, &d, err, sizeof err);
    CHECK_MSG(why == want, "%s: got %s (%s), want %s", wire_type_name(m->type), wire_bad_name(why), err, wire_bad_name(want));
    if (field_in_err) CHECK_MSG(strstr(err, field_in_err) != NULL, "error '%s' does not name '%s'", err, field_in_err);
    if (why == WIRE_OK) wire_msg_free(&d);
    wire_buf_free(&b);
}

static void test_value_rules(void) {
    WireResponse rs[3];
    float bad_lp[6] = {-0.1f, 0.5f, -1, -1, -1, -1};
    float nan_lp[6] = {-0.1f, -1, NAN, -1, -1, -1};
    float neg_ent[6] = {0, 0, -1, 0, 0, 0};
    int32_t neg_tok[6] = {5, -3, 7, 8, 9, 2};
    WireMsg m = sample(WIRE_GROUP, rs);
    rs[0].logprobs = bad_lp;
    expect_struct(&m, WIRE_BAD_VALUE, "logprobs[1]", &lim);
    rs[0].logprobs = nan_lp;
    expect_struct(&m, WIRE_BAD_VALUE, "logprobs[2]", &lim);
    rs[0].logprobs = lps[0];
    rs[0].entropies = neg_ent;
    expect_struct(&m, WIRE_BAD_VALUE, "entropies[2]", &lim);
    rs[0].entropies = ents[0];
    rs[0].tokens = neg_tok;
    expect_struct(&m, WIRE_BAD_VALUE, "tokens", &lim);
    rs[0].tokens = toks[0];
    WireLimits v = lim;
    v.vocab_size = 10;   // token 11 in response 1
    expect_struct(&m, WIRE_BAD_VALUE, "vocab_size", &v);
    v = lim;
    v.max_tokens = 5;    // response 0 has 6 tokens
    expect_struct(&m, WIRE_BAD_LENGTH, "tokens", &v);
    v = lim;
    v.max_group = 2;
    expect_struct(&m, WIRE_BAD_LENGTH, "max_group", &v);
    m.u.group.policy_version = -1;
    expect_struct(&m, WIRE_BAD_VALUE, "policy_version", &lim);
    m = sample(WIRE_GROUP, rs);
    rs[2].boxed_count = -1;
    expect_struct(&m, WIRE_BAD_VALUE, "boxed_count", &lim);
    m = sample(WIRE_GROUP, rs);
    m.u.group.worker[0] = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "worker", &lim);
    m = sample(WIRE_GROUP, rs);
    rs[1].n_tokens = 0;
    expect_struct(&m, WIRE_BAD_LENGTH, "responses[1]", &lim);
    m = sample(WIRE_GROUP, rs);
    expect_struct(&m, WIRE_OK, NULL, &lim);

    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.sampling.temperature = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "temperature", &lim);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.sampling.top_p = 1.5f;
    expect_struct(&m, WIRE_BAD_VALUE, "top_p", &lim);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.sampling.top_k = -1;
    expect_struct(&m, WIRE_BAD_VALUE, "top_k", &lim);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.sampling.max_new_tokens = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "max_new_tokens", &lim);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.group_size = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "group_size", &lim);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.n_prompt = 0;
    expect_struct(&m, WIRE_BAD_LENGTH, "prompt_tokens", &lim);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.lease_s = -1;
    expect_struct(&m, WIRE_BAD_VALUE, "lease_s", &lim);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.verifier[0] = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "verifier", &lim);
    m = sample(WIRE_ASSIGN, rs);
    v = lim;
    v.max_text_bytes = 8;
    expect_struct(&m, WIRE_BAD_LENGTH, "text", &v);
    m = sample(WIRE_ASSIGN, rs);
    m.u.assign.sampling.stop[0] = -7;
    expect_struct(&m, WIRE_BAD_VALUE, "sampling.stop", &lim);

    m = sample(WIRE_REQUEST, rs);
    m.u.request.credits = -1;
    expect_struct(&m, WIRE_BAD_VALUE, "credits", &lim);
    m.u.request.credits = 1 << 20;
    expect_struct(&m, WIRE_BAD_VALUE, "credits", &lim);
    m = sample(WIRE_HELLO, rs);
    m.u.hello.worker[0] = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "worker", &lim);
    m = sample(WIRE_HEARTBEAT, rs);
    m.u.heartbeat.n_held = -2;
    expect_struct(&m, WIRE_BAD_VALUE, "held", &lim);
    m = sample(WIRE_WELCOME, rs);
    m.u.welcome.lease_s = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "lease_s", &lim);
    m = sample(WIRE_ERROR, rs);
    m.u.error.code[0] = 0;
    expect_struct(&m, WIRE_BAD_VALUE, "code", &lim);
    m = sample(WIRE_WEIGHTS_REQUEST, rs);
    m.u.weights_request.have_version = -5;
    expect_struct(&m, WIRE_BAD_VALUE, "have_version", &lim);
    m = sample(WIRE_WEIGHTS_CHUNK, rs);
    m.u.chunk.offset = 40;   // 40 + 16 > 48
    expect_struct(&m, WIRE_BAD_LENGTH, "total_bytes", &lim);
    m = sample(WIRE_WEIGHTS_CHUNK, rs);
    m.u.chunk.index = 3;
    expect_struct(&m, WIRE_BAD_VALUE, "index", &lim);
    m = sample(WIRE_WEIGHTS_CHUNK, rs);
    m.u.chunk.total_bytes = 50;
    expect_struct(&m, WIRE_BAD_LENGTH, "total_bytes", &lim);
    m = sample(WIRE_WEIGHTS_CHUNK, rs);
    v = lim;
    v.max_chunk_bytes = 8;
    expect_struct(&m, WIRE_BAD_LENGTH, "max_chunk_bytes", &v);
    m = sample(WIRE_WEIGHTS_PATH, rs);
    m.u.path.path = "";
    expect_struct(&m, WIRE_BAD_VALUE, "path", &lim);
}

static void test_helpers(void) {
    // CRC-32 check value of the zlib polynomial, and incremental use
    CHECK(wire_crc32(0, "123456789", 9) == 0xCBF43926u);
    uint32_t a = wire_crc32(0, "12345", 5);
    CHECK(wire_crc32(a, "6789", 4) == 0xCBF43926u);
    uint8_t le[8];
    int32_t x[2] = {1, -2}, y[2];
    wire_le_store_i32(le, x, 2);
    CHECK(le[0] == 1 && le[1] == 0 && le[4] == 0xfe && le[7] == 0xff);
    wire_le_load_i32(y, le, 2);
    CHECK(y[0] == 1 && y[1] == -2);
    float f = -1.0f, g;
    wire_le_store_f32(le, &f, 1);
    CHECK(le[3] == 0xbf && le[2] == 0x80);
    wire_le_load_f32(&g, le, 1);
    CHECK(g == -1.0f);
    for (int b = 0; b < WIRE_NBAD; b++) CHECK(strcmp(wire_bad_name((WireBad)b), "?") != 0);
}

// Every bin payload of an encoded message starts at a multiple of 4 bytes; returns the number of blobs.
static int count_aligned_blobs(const msgpack_object *o, const uint8_t *base, int *misaligned) {
    int n = 0;
    if (o->type == MSGPACK_OBJECT_BIN) {
        n = 1;
        if (((const uint8_t *)o->via.bin.ptr - base) % 4) (*misaligned)++;
    } else if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) n += count_aligned_blobs(&o->via.array.ptr[i], base, misaligned);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) n += count_aligned_blobs(&o->via.map.ptr[i].val, base, misaligned);
    }
    return n;
}

// The encoder aligns blobs (wide headers where needed); the receiver then reads them in place.
static void test_zero_copy(void) {
    // group blobs stay aligned whatever precedes them: worker names of every length mod 4, token
    // counts that need bin8 / bin16 / bin32 headers, odd integer widths in front
    int counts[] = {1, 3, 63, 64, 65, 200, 16383, 16384, 20000};
    int32_t *tk = callocCheck(20000, sizeof *tk);
    float *lp = callocCheck(20000, sizeof *lp), *en = callocCheck(20000, sizeof *en);
    for (int i = 0; i < 20000; i++) { tk[i] = i; lp[i] = -0.001f * (float)i; en[i] = 0.5f; }
    WireLimits L = lim;
    for (int ci = 0; ci < (int)(sizeof counts / sizeof counts[0]); ci++)
        for (int wl = 1; wl <= 8; wl++) {
            WireResponse rs[3];
            for (int i = 0; i < 3; i++)
                rs[i] = (WireResponse){counts[ci] - i > 0 ? counts[ci] - i : 1, tk, lp, i == 1 ? NULL : en, 0.5f, 1, WIRE_FINISH_STOP, 200 * i, 0, 0, 0.1f};
            WireMsg m = {.type = WIRE_GROUP};
            m.u.group.prompt_id = 1ull << (8 * wl - 1);
            m.u.group.lease_id = (uint64_t)wl;
            m.u.group.policy_version = 1;
            memset(m.u.group.worker, 'w', (size_t)wl);
            m.u.group.n_responses = 3;
            m.u.group.responses = rs;
            WireBuf b;
            wire_buf_init(&b, 16);
            wire_encode(&m, &b);
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            CHECK(msgpack_unpack_next(&u, (const char *)b.data, b.len, &off) == MSGPACK_UNPACK_SUCCESS && off == b.len);
            int mis = 0, nb = count_aligned_blobs(&u.data, b.data, &mis);
            CHECK_MSG(nb == 8 && mis == 0, "%d tokens, worker of %d: %d of %d blobs misaligned", counts[ci], wl, mis, nb);
            msgpack_unpacked_destroy(&u);
            // in place: every array points into the buffer and the backing is released exactly once
            TestBacking tb = {{test_release}, 0};
            WireMsg d;
            char err[256];
            int kept = 0;
            CHECK(wire_decode_backed(b.data, b.len, &tb.b, &kept, &L, &d, err, sizeof err) == WIRE_OK && kept == 1);
            if (kept) {
                const WireGroup *g = &d.u.group;
                CHECK(g->arena_ == NULL && g->backing_ == &tb.b);
                for (int i = 0; i < 3; i++) {
                    const WireResponse *r = &g->responses[i];
                    CHECK((const uint8_t *)r->tokens > b.data && (const uint8_t *)r->tokens < b.data + b.len);
                    CHECK((uintptr_t)r->tokens % 4 == 0 && (uintptr_t)r->logprobs % 4 == 0);
                    CHECK(r->n_tokens == rs[i].n_tokens && memcmp(r->tokens, tk, 4 * (size_t)r->n_tokens) == 0 &&
                          memcmp(r->logprobs, lp, 4 * (size_t)r->n_tokens) == 0);
                    CHECK((r->entropies != NULL) == (i != 1));
                }
                wire_msg_free(&d);
                CHECK(tb.released == 1);
            }
            // plain wire_decode always copies: the result outlives the buffer
            CHECK(wire_decode(b.data, b.len, &L, &d, err, sizeof err) == WIRE_OK);
            CHECK(d.u.group.backing_ == NULL && d.u.group.arena_ != NULL);
            CHECK((const uint8_t *)d.u.group.responses[0].tokens < b.data || (const uint8_t *)d.u.group.responses[0].tokens >= b.data + b.len);
            wire_msg_free(&d);
            // misaligned by 2: everything is copied, nothing kept
            uint8_t *shifted = mallocCheck(b.len + 2);
            memcpy(shifted + 2, b.data, b.len);
            TestBacking tb2 = {{test_release}, 0};
            CHECK(wire_decode_backed(shifted + 2, b.len, &tb2.b, &kept, &L, &d, err, sizeof err) == WIRE_OK && kept == 0);
            CHECK(d.u.group.backing_ == NULL && d.u.group.arena_ != NULL);
            CHECK(memcmp(d.u.group.responses[0].logprobs, lp, 4 * (size_t)rs[0].n_tokens) == 0);
            wire_msg_free(&d);
            CHECK(tb2.released == 0);
            free(shifted);
            wire_buf_free(&b);
        }
    // assign prompt tokens and weights chunk data are aligned too
    for (int t = WIRE_ASSIGN; t <= WIRE_WEIGHTS_CHUNK; t += WIRE_WEIGHTS_CHUNK - WIRE_ASSIGN) {
        WireResponse rs[3];
        WireMsg m = sample((WireType)t, rs);
        WireBuf b;
        wire_buf_init(&b, 16);
        wire_encode(&m, &b);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        msgpack_unpack_next(&u, (const char *)b.data, b.len, &off);
        int mis = 0, nb = count_aligned_blobs(&u.data, b.data, &mis);
        CHECK_MSG(nb >= 1 && mis == 0, "%s: %d of %d blobs misaligned", wire_type_name((WireType)t), mis, nb);
        msgpack_unpacked_destroy(&u);
        wire_buf_free(&b);
    }
    // a rejected group never keeps the backing
    {
        WireResponse rs[3];
        WireGroup g = sample_group(rs);
        float bad[6] = {-1, -1, 0.25f, -1, -1, -1};
        rs[0].logprobs = bad;
        WireMsg m = {.type = WIRE_GROUP};
        m.u.group = g;
        WireBuf b;
        wire_buf_init(&b, 16);
        wire_encode(&m, &b);
        TestBacking tb = {{test_release}, 0};
        WireMsg d;
        char err[256];
        int kept = 1;
        CHECK(wire_decode_backed(b.data, b.len, &tb.b, &kept, &lim, &d, err, sizeof err) == WIRE_BAD_VALUE && kept == 0);
        CHECK(strstr(err, "responses[0].logprobs[2]") != NULL);
        CHECK(tb.released == 0);
        wire_buf_free(&b);
    }
    // wire_decode_zmq: a large group moves its message into the group; small ones and failures leave it
    for (int big = 0; big < 2; big++)
        for (int bad = 0; bad < 2; bad++) {
            WireResponse rs[2];
            int n = big ? 4096 : 4;
            for (int i = 0; i < 2; i++) rs[i] = (WireResponse){n, tk, lp, en, 0, 0, WIRE_FINISH_STOP, 0, 0, 0, 0};
            float save = lp[1];
            if (bad) lp[1] = NAN;
            WireMsg m = {.type = WIRE_GROUP};
            m.u.group.policy_version = 1;
            snprintf(m.u.group.worker, sizeof m.u.group.worker, "w");
            m.u.group.n_responses = 2;
            m.u.group.responses = rs;
            WireBuf b;
            wire_buf_init(&b, 16);
            wire_encode(&m, &b);
            lp[1] = save;
            zmq_msg_t body;
            CHECK(zmq_msg_init_size(&body, b.len) == 0);
            memcpy(zmq_msg_data(&body), b.data, b.len);
            WireMsg d;
            char err[256];
            WireBad why = wire_decode_zmq(&body, &lim, &d, err, sizeof err);
            CHECK_MSG(why == (bad ? WIRE_BAD_VALUE : WIRE_OK), "decode_zmq big=%d bad=%d: %s", big, bad, err);
            int moved = big && !bad;
            CHECK_MSG(zmq_msg_size(&body) == (moved ? 0 : b.len), "big=%d bad=%d: body has %zu bytes", big, bad, zmq_msg_size(&body));
            if (!moved) CHECK(memcmp(zmq_msg_data(&body), b.data, b.len) == 0);
            if (why == WIRE_OK) {
                CHECK((d.u.group.backing_ != NULL) == moved);
                CHECK(d.u.group.responses[1].logprobs[4095 % n] == lp[4095 % n]);
                wire_msg_free(&d);   // releases the moved message (ASan would report a leak otherwise)
            }
            zmq_msg_close(&body);
            wire_buf_free(&b);
        }
    free(tk); free(lp); free(en);
}

static int write_corpus(const char *dir) {
    mkdir(dir, 0755);
    for (int t = 1; t < WIRE_NTYPES; t++) {
        WireResponse rs[3];
        WireMsg m = sample((WireType)t, rs);
        WireBuf b;
        wire_buf_init(&b, 64);
        wire_encode(&m, &b);
        char path[1024];
        snprintf(path, sizeof path, "%s/%02d_%s.msgpack", dir, t, wire_type_name((WireType)t));
        FILE *f = fopenCheck(path, "wb");
        fwriteCheck(b.data, 1, b.len, f);
        fcloseCheck(f);
        wire_buf_free(&b);
    }
    return 0;
}

int main(int argc, char **argv) {
    wire_limits_default(&lim);
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return write_corpus(argv[2]);
    test_round_trips();
    test_structural();
    test_field_rules();
    test_value_rules();
    test_helpers();
    test_zero_copy();
    return tests_done();
}
