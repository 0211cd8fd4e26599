// Coordinator thread and its thread-safe API. See coordinator.h for the contract.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/core/check.h"
#include "learner/coordinator/coordinator_internal.h"
#include "proto/transport.h"

// ---- u64 map -------------------------------------------------------------------------------------
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void u64map_init(U64Map *m) { memset(m, 0, sizeof *m); }

void u64map_free(U64Map *m) {
    free(m->keys); free(m->vals); free(m->st);
    memset(m, 0, sizeof *m);
}

static void u64map_rehash(U64Map *m, size_t cap) {
    U64Map o = *m;
    m->cap = cap;
    m->keys = callocCheck(cap, sizeof(uint64_t));
    m->vals = callocCheck(cap, sizeof(void *));
    m->st = callocCheck(cap, 1);
    m->n = m->used = 0;
    for (size_t i = 0; i < o.cap; i++)
        if (o.st[i] == 1) u64map_put(m, o.keys[i], o.vals[i]);
    free(o.keys); free(o.vals); free(o.st);
}

static size_t u64map_find(const U64Map *m, uint64_t k) {   // slot of k, or cap when absent
    if (!m->cap) return 0;
    size_t mask = m->cap - 1;
    for (size_t i = mix64(k) & mask;; i = (i + 1) & mask) {
        if (m->st[i] == 0) return m->cap;
        if (m->st[i] == 1 && m->keys[i] == k) return i;
    }
}

void *u64map_get(const U64Map *m, uint64_t k) {
    size_t i = u64map_find(m, k);
    return (m->cap && i < m->cap) ? m->vals[i] : NULL;
}

void u64map_put(U64Map *m, uint64_t k, void *v) {
    if ((m->used + 1) * 10 >= m->cap * 7) u64map_rehash(m, m->cap ? (m->n * 4 >= m->cap ? m->cap * 2 : m->cap) : 64);
    size_t mask = m->cap - 1, tomb = m->cap;
    for (size_t i = mix64(k) & mask;; i = (i + 1) & mask) {
        if (m->st[i] == 1 && m->keys[i] == k) { m->vals[i] = v; return; }
        if (m->st[i] == 2 && tomb == m->cap) tomb = i;
        if (m->st[i] == 0) {
            if (tomb != m->cap) i = tomb; else m->used++;
            m->st[i] = 1; m->keys[i] = k; m->vals[i] = v; m->n++;
            return;
        }
    }
}

void *u64map_del(U64Map *m, uint64_t k) {
    size_t i = u64map_find(m, k);
    if (!m->cap || i >= m->cap) return NULL;
    void *v = m->vals[i];
    m->st[i] = 2;
    m->vals[i] = NULL;
    m->n--;
    return v;
}

// ---- small helpers -------------------------------------------------------------------------------
static double wall_now(void) { return now_seconds(); }

void coord_config_default(CoordConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->endpoint, sizeof cfg->endpoint, "tcp://127.0.0.1:5555");
    snprintf(cfg->pub_endpoint, sizeof cfg->pub_endpoint, "tcp://127.0.0.1:5556");
    cfg->lease_s = 30.0;
    cfg->heartbeat_s = 5.0;
    cfg->max_lease_s = 0.0;
    cfg->max_staleness = 1;
    cfg->max_credits = 64;
    cfg->chunk_bytes = (size_t)4 << 20;
    cfg->pub_hwm = 100000;
    cfg->republish_s = 1.0;
    wire_limits_default(&cfg->lim);
    cfg->log_per_s = 10;
}

RLVR_PRINTF(2, 3) static void coord_log(Coordinator *c, const char *fmt, ...) {
    // rate limited: bad input from a broken or hostile peer must not flood the learner's log
    double now = wall_now();
    if (now - c->log_t0 >= 1.0) {
        if (c->log_suppressed) fprintf(stderr, "coord: (%llu similar messages suppressed)\n", (unsigned long long)c->log_suppressed);
        c->log_t0 = now;
        c->log_n = 0;
        c->log_suppressed = 0;
    }
    if (c->log_n >= c->cfg.log_per_s) { c->log_suppressed++; return; }
    c->log_n++;
    va_list ap;
    va_start(ap, fmt);
    log_line_v("coord", fmt, ap);
    va_end(ap);
}

void coord_prompt_free(Prompt *p) {
    if (!p) return;
    free(p->tokens); free(p->text); free(p->answer);
    free(p);
}

void coord_queue_push_back(Coordinator *c, Prompt *p) {
    if (c->q_n == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 256;
        Prompt **q = mallocCheck(cap * sizeof *q);
        for (size_t i = 0; i < c->q_n; i++) q[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = q; c->q_cap = cap; c->q_head = 0;
    }
    c->q[(c->q_head + c->q_n) % c->q_cap] = p;
    c->q_n++;
}

static void queue_push_front(Coordinator *c, Prompt *p) {
    coord_queue_push_back(c, p);   // grows if needed, then rotate the new element to the front
    c->q_n--;
    c->q_head = (c->q_head + c->q_cap - 1) % c->q_cap;
    c->q[c->q_head] = p;
    c->q_n++;
}

static Prompt *queue_pop_front(Coordinator *c) {
    if (!c->q_n) return NULL;
    Prompt *p = c->q[c->q_head];
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_n--;
    return p;
}

static void ready_push(Coordinator *c, const CoordGroup *g) {
    if (c->r_n == c->r_cap) {
        size_t cap = c->r_cap ? c->r_cap * 2 : 64;
        CoordGroup *r = mallocCheck(cap * sizeof *r);
        for (size_t i = 0; i < c->r_n; i++) r[i] = c->ready[(c->r_head + i) % c->r_cap];
        free(c->ready);
        c->ready = r; c->r_cap = cap; c->r_head = 0;
    }
    c->ready[(c->r_head + c->r_n) % c->r_cap] = *g;
    c->r_n++;
}

static uint64_t lease_id_make(Coordinator *c) { return ((uint64_t)c->incarnation << 40) | (c->next_seq++ & ((1ull << 40) - 1)); }

// True for ids this coordinator (or an earlier incarnation) could have issued.
static int lease_id_past(const Coordinator *c, uint64_t id) {
    uint64_t inc = id >> 40, seq = id & ((1ull << 40) - 1);
    return inc < c->incarnation || (inc == c->incarnation && seq < c->next_seq);
}

static void retire(Coordinator *c, uint64_t lease_id, int how) {
    uint64_t old = c->ring[c->ring_pos];
    if (old) u64map_del(&c->retired, old);
    c->ring[c->ring_pos] = lease_id;
    c->ring_pos = (c->ring_pos + 1) % COORD_RETIRED_RING;
    u64map_put(&c->retired, lease_id, (void *)(uintptr_t)how);
}

// The prompt goes back to the front of the queue; any later result for this lease is late.
static void lease_revoke(Coordinator *c, Lease *L) {
    u64map_del(&c->leases, L->id);
    retire(c, L->id, RETIRED_REVOKED);
    if (L->w) L->w->held--;
    L->p->requeues++;
    queue_push_front(c, L->p);
    c->k.requeued++;
    free(L);
}

static void revoke_worker_leases(Coordinator *c, Worker *w) {
    if (!w->held) return;
    for (size_t i = 0; i < c->leases.cap; i++)
        if (c->leases.st[i] == 1) {
            Lease *L = c->leases.vals[i];
            if (L->w == w) lease_revoke(c, L);
        }
}

static void remove_worker(Coordinator *c, int idx, const char *why) {
    Worker *w = c->workers[idx];
    revoke_worker_leases(c, w);
    if (!c->cfg.quiet) coord_log(c, "worker '%s' left (%s)", w->name, why);
    c->workers[idx] = c->workers[--c->n_workers];
    c->k.workers_left++;
    free(w);
}

static Worker *find_worker(Coordinator *c, const void *ident, size_t len) {
    for (int i = 0; i < c->n_workers; i++)
        if (c->workers[i]->ident_len == len && memcmp(c->workers[i]->ident, ident, len) == 0) return c->workers[i];
    return NULL;
}

static int worker_index(Coordinator *c, const Worker *w) {
    for (int i = 0; i < c->n_workers; i++)
        if (c->workers[i] == w) return i;
    return -1;
}

static int send_msg(Coordinator *c, const void *ident, size_t ident_len, const WireMsg *m) {
    WireBuf b;
    wire_buf_init(&b, 512);
    wire_encode(m, &b);
    return wire_send(c->router, ident, ident_len, &b, ZMQ_DONTWAIT);
}

static void send_error(Coordinator *c, const void *ident, size_t ident_len, Worker *w, const char *code, const char *msg, uint64_t prompt_id) {
    double now = wall_now();
    double *t0 = w ? &w->err_t0 : &c->unknown_err_t0;
    int *n = w ? &w->err_n : &c->unknown_err_n;
    int cap = w ? 5 : 50;   // error replies per second, per worker / for all unknown peers together
    if (now - *t0 >= 1.0) { *t0 = now; *n = 0; }
    if (*n >= cap) return;
    (*n)++;
    WireMsg m = {.type = WIRE_ERROR};
    snprintf(m.u.error.code, sizeof m.u.error.code, "%s", code);
    m.u.error.message = (char *)msg;
    m.u.error.prompt_id = prompt_id;
    send_msg(c, ident, ident_len, &m);
}

static void bad(Coordinator *c, const void *ident, size_t ident_len, Worker *w, WireBad why, const char *msg, uint64_t prompt_id) {
    c->k.bad[why]++;
    c->k.bad_total++;
    coord_log(c, "dropped bad message from worker '%s': %s: %s", w ? w->name : "(unknown peer)", wire_bad_name(why), msg);
    if (ident) send_error(c, ident, ident_len, w, wire_bad_name(why), msg, prompt_id);
}

// ---- dispatch ------------------------------------------------------------------------------------
static int send_assign(Coordinator *c, Worker *w, Prompt *p, uint64_t lease_id) {
    WireMsg m = {.type = WIRE_ASSIGN};
    WireAssign *a = &m.u.assign;
    a->prompt_id = p->id;
    a->lease_id = lease_id;
    a->seed = p->seed;
    a->n_prompt = p->n;
    a->prompt_tokens = p->tokens;
    a->text = p->text;
    a->answer = p->answer;
    memcpy(a->verifier, p->verifier, sizeof a->verifier);
    a->group_size = p->G;
    a->sampling = p->s;
    a->policy_version = c->version;
    a->lease_s = c->cfg.lease_s;
    return send_msg(c, w->ident, w->ident_len, &m);
}

static void dispatch(Coordinator *c, double now) {
    if (!c->q_n || !c->n_workers) return;
    for (int i = 0; i < c->n_workers; i++) c->workers[i]->send_blocked = 0;
    int progress = 1;
    while (c->q_n && progress) {
        progress = 0;
        int n = c->n_workers;
        for (int k = 0; k < n && c->q_n; k++) {
            Worker *w = c->workers[(c->rr + k) % n];
            if (w->dead || w->send_blocked || w->held >= w->credits) continue;
            Prompt *p = queue_pop_front(c);
            uint64_t id = lease_id_make(c);
            if (send_assign(c, w, p, id) != 0) {
                int e = errno;
                queue_push_front(c, p);
                c->k.assign_send_failed++;
                if (e == EHOSTUNREACH) w->dead = 1; else w->send_blocked = 1;
                continue;
            }
            Lease *L = mallocCheck(sizeof *L);
            *L = (Lease){id, p, w, now, c->version};
            u64map_put(&c->leases, id, L);
            w->held++;
            c->k.assigned++;
            progress = 1;
        }
        c->rr++;
    }
    for (int i = c->n_workers - 1; i >= 0; i--)
        if (c->workers[i]->dead) remove_worker(c, i, "connection gone");
}

static void expire(Coordinator *c, double now) {
    double lease = c->cfg.lease_s, maxl = c->cfg.max_lease_s;
    for (size_t i = 0; i < c->leases.cap; i++) {
        if (c->leases.st[i] != 1) continue;
        Lease *L = c->leases.vals[i];
        double since = now - (L->w->last_seen > L->t0 ? L->w->last_seen : L->t0);
        if (since > lease || (maxl > 0 && now - L->t0 > maxl)) {
            coord_log(c, "lease %llu of prompt %llu held by '%s' expired; prompt re-queued", (unsigned long long)L->id,
                      (unsigned long long)L->p->id, L->w->name);
            c->k.leases_expired++;
            lease_revoke(c, L);
        }
    }
    for (int i = c->n_workers - 1; i >= 0; i--)
        if (now - c->workers[i]->last_seen > lease) {
            c->k.workers_timed_out++;
            remove_worker(c, i, "silent longer than the lease");
        }
}

// ---- message handlers (called with mu held) --------------------------------------------------------
static void on_hello(Coordinator *c, const void *ident, size_t len, Worker *w, const WireHello *h, double now) {
    if (w) {
        revoke_worker_leases(c, w);   // the peer restarted its session: whatever it held is forgotten
    } else {
        for (int i = c->n_workers - 1; i >= 0; i--)
            if (strcmp(c->workers[i]->name, h->worker) == 0) remove_worker(c, i, "replaced by a new connection with the same id");
        if (len > sizeof w->ident) { bad(c, NULL, 0, NULL, WIRE_BAD_FRAMES, "routing id longer than 256 bytes", 0); return; }
        w = callocCheck(1, sizeof *w);
        memcpy(w->ident, ident, len);
        w->ident_len = len;
        if (c->n_workers == c->cap_workers) {
            c->cap_workers = c->cap_workers ? c->cap_workers * 2 : 16;
            c->workers = reallocCheck(c->workers, (size_t)c->cap_workers * sizeof *c->workers);
        }
        c->workers[c->n_workers++] = w;
        c->k.workers_joined++;
        if (!c->cfg.quiet) coord_log(c, "worker '%s' joined (%s, pid %lld)", h->worker, h->software, (long long)h->pid);
    }
    snprintf(w->name, sizeof w->name, "%s", h->worker);
    w->caps = h->caps;
    w->credits = 0;
    w->last_seen = now;
    WireMsg m = {.type = WIRE_WELCOME};
    WireWelcome *x = &m.u.welcome;
    x->session = c->session;
    x->policy_version = c->version;
    pthread_mutex_lock(&c->pub_mu);
    x->weights_version = c->pub_kind ? c->pub_version : -1;
    pthread_mutex_unlock(&c->pub_mu);
    x->lease_s = c->cfg.lease_s;
    x->heartbeat_s = c->cfg.heartbeat_s;
    x->max_staleness = c->cfg.max_staleness;
    x->max_msg_bytes = c->cfg.lim.max_msg_bytes;
    snprintf(x->pub_endpoint, sizeof x->pub_endpoint, "%s", c->pub_endpoint);
    send_msg(c, ident, len, &m);
}

static void on_group(Coordinator *c, const void *ident, size_t len, Worker *w, WireGroup *g, double now) {
    char msg[200];
    Lease *L = u64map_get(&c->leases, g->lease_id);
    if (!L) {
        uintptr_t st = (uintptr_t)u64map_get(&c->retired, g->lease_id);
        if (st == RETIRED_DONE) {
            c->k.duplicates_dropped++;
            coord_log(c, "duplicate group for prompt %llu (lease %llu) from '%s' dropped", (unsigned long long)g->prompt_id,
                      (unsigned long long)g->lease_id, w->name);
        } else if (st == RETIRED_REVOKED || lease_id_past(c, g->lease_id)) {
            c->k.late_dropped++;
            coord_log(c, "late group for prompt %llu (lease %llu, re-queued) from '%s' dropped", (unsigned long long)g->prompt_id,
                      (unsigned long long)g->lease_id, w->name);
        } else {
            snprintf(msg, sizeof msg, "group: lease %llu was never issued (hint: echo the lease_id of the assignment)", (unsigned long long)g->lease_id);
            bad(c, ident, len, w, WIRE_BAD_UNKNOWN_PROMPT, msg, g->prompt_id);
        }
        return;
    }
    if (L->p->id != g->prompt_id) {
        snprintf(msg, sizeof msg, "group: prompt_id %llu does not match lease %llu (prompt %llu)", (unsigned long long)g->prompt_id,
                 (unsigned long long)g->lease_id, (unsigned long long)L->p->id);
        bad(c, ident, len, w, WIRE_BAD_UNKNOWN_PROMPT, msg, g->prompt_id);
        return;
    }
    if (L->w != w) {   // the lease belongs to another connection: not this peer's to complete
        c->k.late_dropped++;
        coord_log(c, "group for lease %llu from '%s', which does not hold it, dropped", (unsigned long long)g->lease_id, w->name);
        return;
    }
    if (g->n_responses != L->p->G) {
        snprintf(msg, sizeof msg, "group: %d responses for group_size %d (prompt %llu re-queued)", g->n_responses, L->p->G, (unsigned long long)g->prompt_id);
        bad(c, ident, len, w, WIRE_BAD_GROUP_SIZE, msg, g->prompt_id);
        lease_revoke(c, L);
        return;
    }
    if (g->policy_version > c->version) {
        snprintf(msg, sizeof msg, "group: policy_version %lld is newer than the current %lld (prompt %llu re-queued)",
                 (long long)g->policy_version, (long long)c->version, (unsigned long long)g->prompt_id);
        bad(c, ident, len, w, WIRE_BAD_UNKNOWN_VERSION, msg, g->prompt_id);
        lease_revoke(c, L);
        return;
    }
    if (g->policy_version < c->version - c->cfg.max_staleness) {
        c->k.stale_dropped++;
        coord_log(c, "stale group for prompt %llu (policy %lld, current %lld, max staleness %lld) dropped and re-queued",
                  (unsigned long long)g->prompt_id, (long long)g->policy_version, (long long)c->version, (long long)c->cfg.max_staleness);
        lease_revoke(c, L);
        return;
    }
    // accepted: the prompt leaves the coordinator's custody through the ready list
    Prompt *p = L->p;
    CoordGroup out;
    memset(&out, 0, sizeof out);
    out.group = *g;
    memset(g, 0, sizeof *g);    // ownership of the responses moves to out
    out.prompt_id = p->id;
    out.seed = p->seed;
    out.n_prompt = p->n;
    out.prompt_tokens = p->tokens;
    out.text = p->text;
    out.answer = p->answer;
    memcpy(out.verifier, p->verifier, sizeof out.verifier);
    out.sampling = p->s;
    out.requeues = p->requeues;
    out.latency_s = now - L->t0;
    u64map_del(&c->leases, L->id);
    retire(c, L->id, RETIRED_DONE);
    w->held--;
    free(L);
    free(p);   // fields moved into out
    ready_push(c, &out);
    u64map_put(&c->live, out.prompt_id, (void *)1);   // still live until taken
    c->k.groups_accepted++;
    pthread_cond_broadcast(&c->ready_cv);
}

static void handle(Coordinator *c, zmq_msg_t *id, zmq_msg_t *body, int extra, double now) {
    const void *ident = zmq_msg_data(id);
    size_t ilen = zmq_msg_size(id);
    size_t blen = extra < 0 ? 0 : zmq_msg_size(body);
    c->k.bytes_received += blen;
    Worker *w = find_worker(c, ident, ilen);
    if (w) w->last_seen = now;
    if (extra != 0) {
        bad(c, ident, ilen, w, WIRE_BAD_FRAMES, "expected exactly one frame after the routing id (hint: send the msgpack map as a single frame)", 0);
        return;
    }
    char err[256];
    WireMsg m;
    // a group's arrays may stay in the received message, which then moves into the group (no copy)
    WireBad why = wire_decode_zmq(body, &c->cfg.lim, &m, err, sizeof err);
    if (why != WIRE_OK) {
        // A rejected group still ends its lease when it names one this worker holds: the worker has
        // finished with it, and waiting for expiry would stall the prompt while heartbeats continue.
        uint64_t pid = 0, lid = 0;
        Lease *L;
        int has_ids = w && wire_peek_group_ids(zmq_msg_data(body), blen, &c->cfg.lim, &pid, &lid) == 0;
        bad(c, ident, ilen, w, why, err, has_ids ? pid : 0);
        if (has_ids && (L = u64map_get(&c->leases, lid)) != NULL && L->w == w && L->p->id == pid) lease_revoke(c, L);
        return;
    }
    if (!w && m.type != WIRE_HELLO) {
        if (m.type != WIRE_GOODBYE)
            bad(c, ident, ilen, NULL, WIRE_BAD_UNKNOWN_WORKER, "send hello first (the coordinator may have restarted)",
                m.type == WIRE_GROUP ? m.u.group.prompt_id : 0);
        wire_msg_free(&m);
        return;
    }
    switch (m.type) {
    case WIRE_HELLO: on_hello(c, ident, ilen, w, &m.u.hello, now); break;
    case WIRE_REQUEST: {
        int32_t cr = m.u.request.credits;
        w->credits = cr > c->cfg.max_credits ? c->cfg.max_credits : cr;
        break;
    }
    case WIRE_GROUP:
        c->k.groups_received++;
        on_group(c, ident, ilen, w, &m.u.group, now);
        break;
    case WIRE_HEARTBEAT: w->version = m.u.heartbeat.policy_version; break;
    case WIRE_GOODBYE: {
        int i = worker_index(c, w);
        if (i >= 0) remove_worker(c, i, m.u.goodbye.reason[0] ? m.u.goodbye.reason : "goodbye");
        break;
    }
    case WIRE_WEIGHTS_REQUEST: c->republish_want = 1; break;
    case WIRE_ERROR:
        c->k.errors_received++;
        coord_log(c, "worker '%s' reports error %s: %s", w->name, m.u.error.code, m.u.error.message ? m.u.error.message : "");
        break;
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "a worker may not send '%s' messages", wire_type_name(m.type));
        bad(c, ident, ilen, w, WIRE_BAD_DIRECTION, msg, 0);
    }
    }
    wire_msg_free(&m);
}

// ---- weights -------------------------------------------------------------------------------------
// With pub_mu held.
static void publish_locked(Coordinator *c) {
    if (!c->pub || !c->pub_kind) return;
    WireBuf b;
    if (c->pub_kind == 2) {
        WireMsg m = {.type = WIRE_WEIGHTS_PATH};
        m.u.path.version = c->pub_version;
        m.u.path.path = c->weights_path;
        m.u.path.n_params = c->path_n_params;
        wire_buf_init(&b, 256);
        wire_encode(&m, &b);
        wire_send(c->pub, NULL, 0, &b, 0);
        return;
    }
    size_t total = c->n_weights * 4, chunk = c->cfg.chunk_bytes & ~(size_t)3;
    if (chunk == 0) chunk = 4;
    uint32_t n_chunks = (uint32_t)((total + chunk - 1) / chunk);
    for (uint32_t i = 0; i < n_chunks; i++) {
        WireMsg m = {.type = WIRE_WEIGHTS_CHUNK};
        WireWeightsChunk *x = &m.u.chunk;
        x->version = c->pub_version;
        x->total_bytes = total;
        x->offset = (uint64_t)i * chunk;
        x->index = i;
        x->n_chunks = n_chunks;
        x->crc32 = c->weights_crc;
        x->data = c->weights + x->offset;
        x->len = total - x->offset < chunk ? total - x->offset : chunk;
        wire_buf_init(&b, x->len + 256);
        wire_encode(&m, &b);
        if (wire_send(c->pub, NULL, 0, &b, 0) != 0) coord_log(c, "weights chunk %u of version %lld not sent: %s", i, (long long)c->pub_version, zmq_strerror(errno));
    }
}

static void wake(Coordinator *c) {
    if (c->wake[1] >= 0) {
        char b = 1;
        ssize_t r = write(c->wake[1], &b, 1);   // a full pipe already means "wake up"
        (void)r;
    }
}

int coord_publish_weights(Coordinator *c, int64_t version, const float *w, size_t n, char *err, size_t errlen) {
    if (!c->pub) return rlvr_err(err, errlen, "coord_publish_weights: no PUB socket (set pub_endpoint and call coord_start first)");
    if (n == 0) return rlvr_err(err, errlen, "coord_publish_weights: empty weights");
    pthread_mutex_lock(&c->pub_mu);
    if (n != c->n_weights) {
        free(c->weights);
        c->weights = mallocCheck(n * 4);
        c->n_weights = n;
    }
    wire_le_store_f32(c->weights, w, n);
    c->weights_crc = wire_crc32(0, c->weights, n * 4);
    c->pub_kind = 1;
    c->pub_version = version;
    publish_locked(c);
    pthread_mutex_unlock(&c->pub_mu);
    pthread_mutex_lock(&c->mu);
    c->k.weights_published++;
    pthread_mutex_unlock(&c->mu);
    coord_set_policy_version(c, version);
    return 0;
}

int coord_publish_weights_path(Coordinator *c, int64_t version, const char *path, uint64_t n_params, char *err, size_t errlen) {
    if (!c->pub) return rlvr_err(err, errlen, "coord_publish_weights_path: no PUB socket (set pub_endpoint and call coord_start first)");
    if (!path || !path[0] || strlen(path) > c->cfg.lim.max_text_bytes) return rlvr_err(err, errlen, "coord_publish_weights_path: empty or too long path");
    pthread_mutex_lock(&c->pub_mu);
    free(c->weights_path);
    c->weights_path = strdupCheck(path);
    c->path_n_params = n_params;
    c->pub_kind = 2;
    c->pub_version = version;
    publish_locked(c);
    pthread_mutex_unlock(&c->pub_mu);
    pthread_mutex_lock(&c->mu);
    c->k.weights_published++;
    pthread_mutex_unlock(&c->mu);
    coord_set_policy_version(c, version);
    return 0;
}

// ---- thread --------------------------------------------------------------------------------------
static void *coord_main(void *arg) {
    Coordinator *c = arg;
    int tick_ms = (int)(c->cfg.lease_s * 1000 / 10);
    if (tick_ms > 50) tick_ms = 50;
    if (tick_ms < 1) tick_ms = 1;
    while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        zmq_pollitem_t items[3] = {{c->router, 0, ZMQ_POLLIN, 0}, {NULL, c->wake[0], ZMQ_POLLIN, 0}, {c->zap, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, c->zap ? 3 : 2, tick_ms);
        if (rc < 0) {
            if (zmq_errno() == ETERM) break;
            continue;   // EINTR
        }
        if (c->zap && (items[2].revents & ZMQ_POLLIN)) {
            int ok = wire_zap_handle(c->zap, (const char (*)[41])c->allowed, c->cfg.n_allowed_keys);
            if (ok != 1) {
                pthread_mutex_lock(&c->mu);
                c->k.bad[WIRE_BAD_AUTH]++;
                c->k.bad_total++;
                coord_log(c, "CurveZMQ client rejected (public key not in the allowed list)");
                pthread_mutex_unlock(&c->mu);
            }
        }
        if (items[1].revents & ZMQ_POLLIN) {
            char buf[64];
            while (read(c->wake[0], buf, sizeof buf) > 0) {}
        }
        for (int i = 0; i < 4096; i++) {
            zmq_msg_t id, body;
            int extra;
            if (wire_recv(c->router, 1, &id, &body, &extra, ZMQ_DONTWAIT) != 0) break;
            pthread_mutex_lock(&c->mu);
            handle(c, &id, &body, extra, wall_now());
            dispatch(c, wall_now());
            pthread_mutex_unlock(&c->mu);
            zmq_msg_close(&id);
            zmq_msg_close(&body);
        }
        pthread_mutex_lock(&c->mu);
        double now = wall_now();
        expire(c, now);
        dispatch(c, now);
        int want = c->republish_want;
        c->republish_want = 0;
        pthread_mutex_unlock(&c->mu);
        if (want) {
            pthread_mutex_lock(&c->pub_mu);
            if (c->pub_kind && now - c->last_republish >= c->cfg.republish_s) {
                c->last_republish = now;
                publish_locked(c);
                pthread_mutex_lock(&c->mu);
                c->k.weights_republished++;
                pthread_mutex_unlock(&c->mu);
            }
            pthread_mutex_unlock(&c->pub_mu);
        }
    }
    return NULL;
}

// ---- API -----------------------------------------------------------------------------------------
Coordinator *coord_create(const CoordConfig *cfg, char *err, size_t errlen) {
    if (!(cfg->lease_s > 0) || !(cfg->heartbeat_s > 0)) { rlvr_err(err, errlen, "coordinator: lease_s and heartbeat_s must be > 0"); return NULL; }
    if (cfg->heartbeat_s >= cfg->lease_s) { rlvr_err(err, errlen, "coordinator: heartbeat_s (%g) must be below lease_s (%g), or live workers lose their leases", cfg->heartbeat_s, cfg->lease_s); return NULL; }
    if (cfg->max_staleness < 0 || cfg->max_credits < 1) { rlvr_err(err, errlen, "coordinator: max_staleness must be >= 0 and max_credits >= 1"); return NULL; }
    if (!cfg->endpoint[0]) { rlvr_err(err, errlen, "coordinator: endpoint is empty (e.g. tcp://127.0.0.1:5555)"); return NULL; }
    if (cfg->curve) {
        if (!wire_has_curve()) { rlvr_err(err, errlen, "coordinator: CurveZMQ requested but this libzmq lacks it (hint: install libzmq built with libsodium, or turn curve off)"); return NULL; }
        if (strlen(cfg->curve_secret) != 40 || strlen(cfg->curve_public) != 40) { rlvr_err(err, errlen, "coordinator: curve keys must be 40-character Z85 strings"); return NULL; }
        if (cfg->n_allowed_keys < 1) { rlvr_err(err, errlen, "coordinator: curve on but no allowed client keys"); return NULL; }
    }
    Coordinator *c = callocCheck(1, sizeof *c);
    c->cfg = *cfg;
    if (cfg->n_allowed_keys > 0) {
        c->allowed = callocCheck((size_t)cfg->n_allowed_keys, 41);
        memcpy(c->allowed, cfg->allowed_keys, (size_t)cfg->n_allowed_keys * 41);
    }
    c->cfg.allowed_keys = NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->session = mix64((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ mix64((uint64_t)getpid() << 20 ^ (uint64_t)(uintptr_t)c);
    c->incarnation = 1;
    c->next_seq = 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->ready_cv, NULL);
    pthread_mutex_init(&c->pub_mu, NULL);
    u64map_init(&c->live);
    u64map_init(&c->leases);
    u64map_init(&c->retired);
    c->ring = callocCheck(COORD_RETIRED_RING, sizeof(uint64_t));
    c->pub_version = -1;
    c->wake[0] = c->wake[1] = -1;
    c->last_republish = -1e30;
    c->log_t0 = -1e30;
    return c;
}

int coord_start(Coordinator *c, char *err, size_t errlen) {
    if (c->running) return rlvr_err(err, errlen, "coordinator already running");
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) return rlvr_err(err, errlen, "coordinator: pipe2 failed: %s", strerror(errno));
    c->ctx = wire_ctx_new();
    if (c->cfg.curve) {
        c->zap = wire_socket(c->ctx, ZMQ_REP, 0, 0);
        if (wire_bind(c->zap, "inproc://zeromq.zap.01", NULL, 0, err, errlen)) goto fail;
    }
    c->router = wire_socket(c->ctx, ZMQ_ROUTER, c->cfg.lim.max_msg_bytes, 0);
    if (c->cfg.curve) wire_curve_server(c->router, c->cfg.curve_secret);
    if (wire_bind(c->router, c->cfg.endpoint, c->endpoint, sizeof c->endpoint, err, errlen)) goto fail;
    if (c->cfg.pub_endpoint[0]) {
        c->pub = wire_socket(c->ctx, ZMQ_PUB, 0, 0);
        zmqCheck(zmq_setsockopt(c->pub, ZMQ_SNDHWM, &c->cfg.pub_hwm, sizeof c->cfg.pub_hwm));
        if (c->cfg.curve) wire_curve_server(c->pub, c->cfg.curve_secret);
        if (wire_bind(c->pub, c->cfg.pub_endpoint, c->pub_endpoint, sizeof c->pub_endpoint, err, errlen)) goto fail;
    }
    __atomic_store_n(&c->stop, 0, __ATOMIC_RELEASE);
    if (pthread_create(&c->th, NULL, coord_main, c) != 0) { rlvr_err(err, errlen, "coordinator: pthread_create failed"); goto fail; }
    c->running = 1;
    if (!c->cfg.quiet) fprintf(stderr, "coord: serving %s (weights on %s)\n", c->endpoint, c->pub_endpoint[0] ? c->pub_endpoint : "-");
    return 0;
fail:
    if (c->router) zmq_close(c->router);
    if (c->pub) zmq_close(c->pub);
    if (c->zap) zmq_close(c->zap);
    c->router = c->pub = c->zap = NULL;
    zmq_ctx_term(c->ctx);
    c->ctx = NULL;
    close(c->wake[0]); close(c->wake[1]);
    c->wake[0] = c->wake[1] = -1;
    return -1;
}

void coord_stop(Coordinator *c) {
    if (!c->running) return;
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    wake(c);
    pthread_join(c->th, NULL);
    c->running = 0;
    pthread_mutex_lock(&c->pub_mu);
    zmq_close(c->router);
    if (c->pub) zmq_close(c->pub);
    if (c->zap) zmq_close(c->zap);
    c->router = c->pub = c->zap = NULL;
    pthread_mutex_unlock(&c->pub_mu);
    zmq_ctx_term(c->ctx);
    c->ctx = NULL;
    close(c->wake[0]); close(c->wake[1]);
    c->wake[0] = c->wake[1] = -1;
    // Leases cannot be renewed without the thread; they stay recorded so a save returns them to the queue.
}

void coord_group_free(CoordGroup *g) {
    wire_group_free(&g->group);
    free(g->prompt_tokens); free(g->text); free(g->answer);
    memset(g, 0, sizeof *g);
}

void coord_free(Coordinator *c) {
    if (!c) return;
    coord_stop(c);
    for (size_t i = 0; i < c->leases.cap; i++)
        if (c->leases.st[i] == 1) {
            Lease *L = c->leases.vals[i];
            coord_prompt_free(L->p);
            free(L);
        }
    while (c->q_n) coord_prompt_free(queue_pop_front(c));
    for (size_t i = 0; i < c->r_n; i++) coord_group_free(&c->ready[(c->r_head + i) % c->r_cap]);
    for (int i = 0; i < c->n_workers; i++) free(c->workers[i]);
    free(c->workers); free(c->q); free(c->ready); free(c->ring); free(c->allowed);
    free(c->weights); free(c->weights_path);
    u64map_free(&c->live); u64map_free(&c->leases); u64map_free(&c->retired);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->pub_mu);
    pthread_cond_destroy(&c->ready_cv);
    free(c);
}

const char *coord_endpoint(const Coordinator *c) { return c->endpoint; }
const char *coord_pub_endpoint(const Coordinator *c) { return c->pub_endpoint; }
uint64_t coord_session(const Coordinator *c) { return c->session; }

int coord_enqueue(Coordinator *c, const CoordPrompt *p, char *err, size_t errlen) {
    const WireLimits *L = &c->cfg.lim;
    if (p->n_tokens < 1 || p->n_tokens > L->max_prompt_tokens || !p->tokens)
        return rlvr_err(err, errlen, "enqueue prompt %llu: %d prompt tokens (1 to max_prompt_tokens=%d)", (unsigned long long)p->id, p->n_tokens, L->max_prompt_tokens);
    if (p->group_size < 1 || p->group_size > L->max_group)
        return rlvr_err(err, errlen, "enqueue prompt %llu: group_size %d (1 to max_group=%d)", (unsigned long long)p->id, p->group_size, L->max_group);
    if (!p->answer || strlen(p->answer) > L->max_text_bytes || (p->text && strlen(p->text) > L->max_text_bytes))
        return rlvr_err(err, errlen, "enqueue prompt %llu: answer missing or text/answer over max_text_bytes=%zu", (unsigned long long)p->id, L->max_text_bytes);
    if (!p->verifier || !p->verifier[0] || strlen(p->verifier) >= WIRE_ID_LEN)
        return rlvr_err(err, errlen, "enqueue prompt %llu: verifier name empty or longer than %d", (unsigned long long)p->id, WIRE_ID_LEN - 1);
    // the same checks a worker's decoder applies, so a prompt that would be rejected there fails here
    WireMsg m = {.type = WIRE_ASSIGN};
    WireAssign *a = &m.u.assign;
    a->n_prompt = p->n_tokens; a->prompt_tokens = (int32_t *)p->tokens; a->text = (char *)p->text; a->answer = (char *)p->answer;
    snprintf(a->verifier, sizeof a->verifier, "%s", p->verifier);
    a->group_size = p->group_size; a->sampling = p->sampling; a->policy_version = 0; a->lease_s = c->cfg.lease_s;
    char verr[200];
    if (wire_validate(&m, L, verr, sizeof verr) != WIRE_OK) return rlvr_err(err, errlen, "enqueue prompt %llu: %s", (unsigned long long)p->id, verr);
    Prompt *q = callocCheck(1, sizeof *q);
    q->id = p->id; q->seed = p->seed; q->n = p->n_tokens;
    q->tokens = mallocCheck((size_t)p->n_tokens * sizeof(int32_t));
    memcpy(q->tokens, p->tokens, (size_t)p->n_tokens * sizeof(int32_t));
    q->text = strdupCheck(p->text ? p->text : "");
    q->answer = strdupCheck(p->answer);
    snprintf(q->verifier, sizeof q->verifier, "%s", p->verifier);
    q->G = p->group_size; q->s = p->sampling;
    pthread_mutex_lock(&c->mu);
    if (u64map_get(&c->live, p->id)) {
        pthread_mutex_unlock(&c->mu);
        coord_prompt_free(q);
        return rlvr_err(err, errlen, "enqueue prompt %llu: id already queued, leased or waiting to be taken (hint: make ids unique per epoch, e.g. epoch << 32 | index)", (unsigned long long)p->id);
    }
    u64map_put(&c->live, q->id, q);
    coord_queue_push_back(c, q);
    c->k.prompts_enqueued++;
    pthread_mutex_unlock(&c->mu);
    wake(c);
    return 0;
}

int coord_take(Coordinator *c, CoordGroup *out, int max_n, double timeout_s) {
    if (max_n <= 0) return 0;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double t = dl.tv_sec + dl.tv_nsec * 1e-9 + (timeout_s > 0 ? timeout_s : 0);
    dl.tv_sec = (time_t)t;
    dl.tv_nsec = (long)((t - (double)dl.tv_sec) * 1e9);
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&c->mu);
    while (c->r_n == 0 && timeout_s > 0) {
        if (pthread_cond_timedwait(&c->ready_cv, &c->mu, &dl) == ETIMEDOUT) break;
    }
    int n = 0;
    while (c->r_n && n < max_n) {
        out[n] = c->ready[c->r_head];
        c->r_head = (c->r_head + 1) % c->r_cap;
        c->r_n--;
        u64map_del(&c->live, out[n].prompt_id);
        n++;
    }
    c->k.groups_taken += (uint64_t)n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void coord_set_policy_version(Coordinator *c, int64_t version) {
    pthread_mutex_lock(&c->mu);
    if (version > c->version) c->version = version;
    pthread_mutex_unlock(&c->mu);
    wake(c);
}

int64_t coord_policy_version(Coordinator *c) {
    pthread_mutex_lock(&c->mu);
    int64_t v = c->version;
    pthread_mutex_unlock(&c->mu);
    return v;
}

void coord_counters(Coordinator *c, CoordCounters *out) {
    pthread_mutex_lock(&c->mu);
    *out = c->k;
    out->queued = c->q_n;
    out->outstanding = c->leases.n;
    out->ready = c->r_n;
    out->workers = (uint64_t)c->n_workers;
    pthread_mutex_unlock(&c->mu);
}
