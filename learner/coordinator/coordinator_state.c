// Coordinator checkpoint blob, counters as JSON, and the rendezvous file.
//
// Blob (msgpack map): {"magic": "RLVR-COORD", "format": 1, "incarnation": u32, "next_seq": u64,
// "policy_version": i64, "counters": {name: u64, ...}, "prompts": [bin, ...], "requeues": bin}
// where each prompt is an encoded "assign" message (so the worker-side validator checks it on
// restore) and "requeues" is an int32 LE blob with one entry per prompt.
#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/core/files.h"
#include "learner/coordinator/coordinator_internal.h"

#define COORD_MAGIC "RLVR-COORD"
#define COORD_FORMAT 1

typedef struct { const char *name; size_t off; } CounterField;
#define CF(x) {#x, offsetof(CoordCounters, x)}
static const CounterField counter_fields[] = {
    CF(prompts_enqueued), CF(assigned), CF(groups_received), CF(groups_accepted), CF(groups_taken), CF(bad_total),
    CF(duplicates_dropped), CF(late_dropped), CF(stale_dropped), CF(requeued), CF(leases_expired), CF(assign_send_failed),
    CF(workers_joined), CF(workers_left), CF(workers_timed_out), CF(workers_disconnected), CF(weights_published), CF(weights_republished),
    CF(errors_received), CF(bytes_received)};
#define N_COUNTER_FIELDS (sizeof counter_fields / sizeof counter_fields[0])
static const CounterField gauge_fields[] = {CF(queued), CF(outstanding), CF(ready), CF(workers)};

static uint64_t *cfield(CoordCounters *k, size_t off) { return (uint64_t *)((char *)k + off); }

int coord_counters_json(Coordinator *c, char *buf, size_t len) {
    CoordCounters k;
    coord_counters(c, &k);
    size_t pos = 0;
    int n = snprintf(buf, len, "{");
    pos = n > 0 ? (size_t)n : 0;
#define APPEND(...) do { if (pos < len) { int w_ = snprintf(buf + pos, len - pos, __VA_ARGS__); if (w_ > 0) pos += (size_t)w_; } } while (0)
    for (size_t i = 0; i < N_COUNTER_FIELDS; i++)
        APPEND("%s\"%s\":%llu", i ? "," : "", counter_fields[i].name, (unsigned long long)*cfield(&k, counter_fields[i].off));
    for (size_t i = 0; i < sizeof gauge_fields / sizeof gauge_fields[0]; i++)
        APPEND(",\"%s\":%llu", gauge_fields[i].name, (unsigned long long)*cfield(&k, gauge_fields[i].off));
    for (int b = 1; b < WIRE_NBAD; b++) APPEND(",\"bad_%s\":%llu", wire_bad_name((WireBad)b), (unsigned long long)k.bad[b]);
    APPEND("}");
#undef APPEND
    return pos < len ? 0 : -1;
}

// ---- save ----------------------------------------------------------------------------------------
static int sbuf_write(void *data, const char *buf, size_t len) {
    WireBuf *b = data;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len) cap *= 2;
        b->data = reallocCheck(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

static void pk_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

typedef struct { uint64_t id, seed; int32_t n; const int32_t *tokens; const char *text, *answer, *verifier; int32_t G; WireSampling s; int32_t requeues; } PromptView;

static void pack_prompt(msgpack_packer *pk, const PromptView *p) {
    WireMsg m = {.type = WIRE_ASSIGN};
    WireAssign *a = &m.u.assign;
    a->prompt_id = p->id; a->lease_id = 0; a->seed = p->seed; a->n_prompt = p->n; a->prompt_tokens = (int32_t *)p->tokens;
    a->text = (char *)p->text; a->answer = (char *)p->answer;
    snprintf(a->verifier, sizeof a->verifier, "%s", p->verifier);
    a->group_size = p->G; a->sampling = p->s; a->policy_version = 0; a->lease_s = 1.0;
    WireBuf b;
    wire_buf_init(&b, 256);
    wire_encode(&m, &b);
    msgpack_pack_bin(pk, b.len);
    msgpack_pack_bin_body(pk, b.data, b.len);
    wire_buf_free(&b);
}

int coord_save_state(Coordinator *c, uint8_t **blob, size_t *len) {
    WireBuf out;
    wire_buf_init(&out, 4096);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, sbuf_write);
    pthread_mutex_lock(&c->mu);
    // order of restore: results the trainer had not taken and leased prompts (older), then the queue
    size_t n = c->ready.n + c->leases.n + c->queue.n;
    int32_t *requeues = mallocCheck((n ? n : 1) * sizeof(int32_t));
    msgpack_pack_map(&pk, 8);
    pk_str(&pk, "magic"); pk_str(&pk, COORD_MAGIC);
    pk_str(&pk, "format"); msgpack_pack_int(&pk, COORD_FORMAT);
    pk_str(&pk, "incarnation"); msgpack_pack_uint32(&pk, c->incarnation);
    pk_str(&pk, "next_seq"); msgpack_pack_uint64(&pk, c->next_seq);
    pk_str(&pk, "policy_version"); msgpack_pack_int64(&pk, c->version);
    pk_str(&pk, "counters");
    msgpack_pack_map(&pk, N_COUNTER_FIELDS + WIRE_NBAD - 1);
    for (size_t i = 0; i < N_COUNTER_FIELDS; i++) {
        pk_str(&pk, counter_fields[i].name);
        msgpack_pack_uint64(&pk, *cfield(&c->k, counter_fields[i].off));
    }
    for (int b = 1; b < WIRE_NBAD; b++) {
        char name[48];
        snprintf(name, sizeof name, "bad_%s", wire_bad_name((WireBad)b));
        pk_str(&pk, name);
        msgpack_pack_uint64(&pk, c->k.bad[b]);
    }
    pk_str(&pk, "prompts");
    msgpack_pack_array(&pk, n);
    size_t j = 0;
    for (size_t i = 0; i < c->ready.n; i++) {
        const CoordGroup *g = ring_at(&c->ready, i);
        PromptView v = {g->prompt_id, g->seed, g->n_prompt, g->prompt_tokens, g->text, g->answer, g->verifier, g->group.n_responses, g->sampling, g->requeues};
        pack_prompt(&pk, &v);
        requeues[j++] = g->requeues;
    }
    for (size_t i = u64map_next(&c->leases, 0); i < c->leases.cap; i = u64map_next(&c->leases, i + 1)) {
        const Prompt *p = ((Lease *)c->leases.vals[i])->p;
        PromptView v = {p->id, p->seed, p->n, p->tokens, p->text, p->answer, p->verifier, p->G, p->s, p->requeues + 1};
        pack_prompt(&pk, &v);
        requeues[j++] = p->requeues + 1;
    }
    for (size_t i = 0; i < c->queue.n; i++) {
        const Prompt *p = *(Prompt **)ring_at(&c->queue, i);
        PromptView v = {p->id, p->seed, p->n, p->tokens, p->text, p->answer, p->verifier, p->G, p->s, p->requeues};
        pack_prompt(&pk, &v);
        requeues[j++] = p->requeues;
    }
    pthread_mutex_unlock(&c->mu);
    pk_str(&pk, "requeues");
    msgpack_pack_bin(&pk, n * sizeof(int32_t));
    uint8_t *tmp = mallocCheck(n * sizeof(int32_t) + 1);
    wire_le_store_i32(tmp, requeues, n);
    sbuf_write(&out, (const char *)tmp, n * sizeof(int32_t));
    free(tmp);
    free(requeues);
    *blob = out.data;
    *len = out.len;
    return 0;
}

// ---- restore -------------------------------------------------------------------------------------
static const msgpack_object *mget(const msgpack_object *map, const char *k) {
    size_t n = strlen(k);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *key = &map->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == n && memcmp(key->via.str.ptr, k, n) == 0) return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int coord_restore_state(Coordinator *c, const uint8_t *blob, size_t len, char *err, size_t errlen) {
    if (c->running) return rlvr_err(err, errlen, "coordinator state: restore before coord_start");
    pthread_mutex_lock(&c->mu);
    int busy = c->queue.n || c->leases.n || c->ready.n;
    pthread_mutex_unlock(&c->mu);
    if (busy) return rlvr_err(err, errlen, "coordinator state: restore into a coordinator that already holds prompts");
    char perr[160];
    if (wire_msgpack_precheck(blob, len, 4, len + 1, perr, sizeof perr))
        return rlvr_err(err, errlen, "coordinator state: %s (hint: the checkpoint's coordinator blob is damaged)", perr);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&u, (const char *)blob, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
        rlvr_err(err, errlen, "coordinator state: not one msgpack value");
        goto done;
    }
    const msgpack_object *o = &u.data;
    const msgpack_object *magic, *fmt, *inc, *seq, *ver, *ctr, *prompts, *req;
    if (o->type != MSGPACK_OBJECT_MAP || !(magic = mget(o, "magic")) || magic->type != MSGPACK_OBJECT_STR ||
        magic->via.str.size != strlen(COORD_MAGIC) || memcmp(magic->via.str.ptr, COORD_MAGIC, strlen(COORD_MAGIC)) != 0) {
        rlvr_err(err, errlen, "coordinator state: magic '%s' missing (not a coordinator state blob)", COORD_MAGIC);
        goto done;
    }
    if (!(fmt = mget(o, "format")) || fmt->type != MSGPACK_OBJECT_POSITIVE_INTEGER || fmt->via.u64 != COORD_FORMAT) {
        rlvr_err(err, errlen, "coordinator state: format %llu, this build reads %d (hint: resume with the matching version)",
                 fmt && fmt->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (unsigned long long)fmt->via.u64 : 0ull, COORD_FORMAT);
        goto done;
    }
    if (!(inc = mget(o, "incarnation")) || inc->type != MSGPACK_OBJECT_POSITIVE_INTEGER || inc->via.u64 >= COORD_INCARNATION_MAX ||
        !(seq = mget(o, "next_seq")) || seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        !(ver = mget(o, "policy_version")) || (ver->type != MSGPACK_OBJECT_POSITIVE_INTEGER && ver->type != MSGPACK_OBJECT_NEGATIVE_INTEGER) ||
        !(ctr = mget(o, "counters")) || ctr->type != MSGPACK_OBJECT_MAP || !(prompts = mget(o, "prompts")) ||
        prompts->type != MSGPACK_OBJECT_ARRAY || !(req = mget(o, "requeues")) || req->type != MSGPACK_OBJECT_BIN ||
        req->via.bin.size != sizeof(int32_t) * (uint64_t)prompts->via.array.size) {
        rlvr_err(err, errlen, "coordinator state: a field (incarnation, next_seq, policy_version, counters, prompts, requeues) is missing or mistyped");
        goto done;
    }
    // decode every prompt before touching the coordinator, so a bad blob changes nothing
    uint32_t n = prompts->via.array.size;
    Prompt **ps = callocCheck(n ? n : 1, sizeof *ps);
    U64Map seen;
    u64map_init(&seen);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *b = &prompts->via.array.ptr[i];
        WireMsg m;
        char derr[200];
        WireBad why = b->type == MSGPACK_OBJECT_BIN ? wire_decode(b->via.bin.ptr, b->via.bin.size, &c->cfg.lim, &m, derr, sizeof derr) : WIRE_BAD_FIELD;
        if (why == WIRE_OK && m.type != WIRE_ASSIGN) { wire_msg_free(&m); why = WIRE_BAD_TYPE; }
        if (why != WIRE_OK || u64map_get(&seen, m.u.assign.prompt_id)) {
            rlvr_err(err, errlen, "coordinator state: prompt %u: %s", i, why != WIRE_OK ? (b->type == MSGPACK_OBJECT_BIN ? derr : "not a bin") : "duplicate prompt id");
            if (why == WIRE_OK) wire_msg_free(&m);
            for (uint32_t k = 0; k < i; k++) coord_prompt_free(ps[k]);
            free(ps);
            u64map_free(&seen);
            goto done;
        }
        WireAssign *a = &m.u.assign;
        Prompt *p = callocCheck(1, sizeof *p);
        p->id = a->prompt_id; p->seed = a->seed; p->n = a->n_prompt; p->tokens = a->prompt_tokens; p->text = a->text; p->answer = a->answer;
        memcpy(p->verifier, a->verifier, sizeof p->verifier);
        p->G = a->group_size; p->s = a->sampling;
        int32_t rq;
        wire_le_load_i32(&rq, (const uint8_t *)req->via.bin.ptr + sizeof(int32_t) * i, 1);
        p->requeues = rq < 0 ? 0 : rq;
        ps[i] = p;
        u64map_put(&seen, p->id, p);
    }
    u64map_free(&seen);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < N_COUNTER_FIELDS; i++) {
        const msgpack_object *v = mget(ctr, counter_fields[i].name);
        if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) *cfield(&c->k, counter_fields[i].off) = v->via.u64;
    }
    for (int b = 1; b < WIRE_NBAD; b++) {
        char name[48];
        snprintf(name, sizeof name, "bad_%s", wire_bad_name((WireBad)b));
        const msgpack_object *v = mget(ctr, name);
        if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) c->k.bad[b] = v->via.u64;
    }
    c->incarnation = (uint32_t)inc->via.u64 + 1;   // lease ids of the saved run are all "past" now
    c->next_seq = 1;
    c->version = ver->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)ver->via.u64 : ver->via.i64;
    for (uint32_t i = 0; i < n; i++) {
        u64map_put(&c->live, ps[i]->id, ps[i]);
        coord_queue_push_back(c, ps[i]);
    }
    pthread_mutex_unlock(&c->mu);
    free(ps);
    rc = 0;
done:
    msgpack_unpacked_destroy(&u);
    return rc;
}

// ---- rendezvous file -----------------------------------------------------------------------------
static void advertise(const char *ep, char *out, size_t len) {
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    const char *p;
    if ((p = strstr(ep, "://0.0.0.0:")) || (p = strstr(ep, "://*:"))) {
        const char *port = strchr(p + 3, ':');
        snprintf(out, len, "%.*s://%s%s", (int)(p - ep), ep, host, port);
    } else {
        snprintf(out, len, "%s", ep);
    }
}

int coord_write_rendezvous(Coordinator *c, const char *path, const char *model, char *err, size_t errlen) {
    if (!c->running) return rlvr_err(err, errlen, "rendezvous: start the coordinator before writing %s", path);
    char ep[WIRE_ENDPOINT_LEN + 256], pub[WIRE_ENDPOINT_LEN + 256], session[24];
    advertise(c->endpoint, ep, sizeof ep);
    advertise(c->pub_endpoint, pub, sizeof pub);
    snprintf(session, sizeof session, "%016llx", (unsigned long long)c->session);
    json_t *j = json_object();
    json_object_set_new(j, "protocol", json_integer(WIRE_PROTOCOL_VERSION));
    json_object_set_new(j, "endpoint", json_string(ep));
    json_object_set_new(j, "pub_endpoint", json_string(pub));
    json_object_set_new(j, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(j, "session", json_string(session));
    if (c->cfg.curve) json_object_set_new(j, "server_key", json_string(c->cfg.curve_public));
    if (model) json_object_set_new(j, "model", json_string(model));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) die("rendezvous: cannot serialise the JSON (out of memory)");
    char werr[1024];
    int rc = file_write_atomic(path, text, strlen(text), werr, sizeof werr);
    free(text);
    return rc ? rlvr_err(err, errlen, "rendezvous: %s", werr) : 0;
}
