// Worker messages: decoding checks, hello / request / group / heartbeat / goodbye / error, and
// the rate-limited error replies. Every function here runs with mu held (called from the thread).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "learner/coordinator/coordinator_internal.h"
#include "proto/transport.h"
#include "proto/wire_schema.h"

#define MSG_BUF_INIT 512                // initial encode buffer (it grows)
#define ERR_REPLIES_PER_S_WORKER 5      // error replies per second to one worker
#define ERR_REPLIES_PER_S_UNKNOWN 50    // ... and to all peers that never said hello, together

int coord_send(Coordinator *c, const void *ident, size_t ident_len, const WireMsg *m) {
    WireBuf b;
    wire_buf_init(&b, MSG_BUF_INIT);
    wire_encode(m, &b);
    return wire_send(c->router, ident, ident_len, &b, ZMQ_DONTWAIT);
}

static void send_error(Coordinator *c, const void *ident, size_t ident_len, Worker *w, const char *code, const char *msg, uint64_t prompt_id) {
    double now = now_seconds();
    double *t0 = w ? &w->err_t0 : &c->unknown_err_t0;
    int *n = w ? &w->err_n : &c->unknown_err_n;
    int cap = w ? ERR_REPLIES_PER_S_WORKER : ERR_REPLIES_PER_S_UNKNOWN;
    if (now - *t0 >= COORD_RATE_WINDOW_S) { *t0 = now; *n = 0; }
    if (*n >= cap) return;
    (*n)++;
    WireMsg m = {.type = WIRE_ERROR};
    snprintf(m.u.error.code, sizeof m.u.error.code, "%s", code);
    m.u.error.message = (char *)msg;
    m.u.error.prompt_id = prompt_id;
    coord_send(c, ident, ident_len, &m);
}

// Counts and logs a rejected message and, when ident is known, tells the peer why.
static void bad(Coordinator *c, const void *ident, size_t ident_len, Worker *w, WireBad why, const char *msg, uint64_t prompt_id) {
    c->k.bad[why]++;
    c->k.bad_total++;
    coord_log(c, "dropped bad message from worker '%s': %s: %s", w ? w->name : "(unknown peer)", wire_bad_name(why), msg);
    if (ident) send_error(c, ident, ident_len, w, wire_bad_name(why), msg, prompt_id);
}

static void on_hello(Coordinator *c, const void *ident, size_t len, Worker *w, const WireHello *h, double now) {
    if (w) {
        coord_revoke_worker_leases(c, w);   // the peer restarted its session: whatever it held is forgotten
    } else {
        for (int i = c->n_workers - 1; i >= 0; i--)
            if (strcmp(c->workers[i]->name, h->worker) == 0) coord_worker_remove(c, i, "replaced by a new connection with the same id");
        if (len > COORD_IDENT_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "routing id longer than %d bytes", COORD_IDENT_MAX);
            bad(c, NULL, 0, NULL, WIRE_BAD_FRAMES, msg, 0);
            return;
        }
        w = coord_worker_add(c, ident, len);
        if (!c->cfg.quiet) coord_log(c, "worker '%s' joined (%s, pid %lld)", h->worker, h->software, (long long)h->pid);
    }
    snprintf(w->name, sizeof w->name, "%s", h->worker);
    w->caps = h->caps;
    w->credits = 0;
    w->paused = 0;
    w->last_seen = now;
    WireMsg m = {.type = WIRE_WELCOME};
    WireWelcome *x = &m.u.welcome;
    x->session = c->session;
    x->policy_version = c->version;
    pthread_mutex_lock(&c->pub_mu);
    x->weights_version = c->pub_kind != PUB_NOTHING ? c->pub_version : -1;
    pthread_mutex_unlock(&c->pub_mu);
    x->lease_s = c->cfg.lease_s;
    x->heartbeat_s = c->cfg.heartbeat_s;
    x->max_staleness = c->cfg.max_staleness;
    x->max_msg_bytes = c->cfg.lim.max_msg_bytes;
    snprintf(x->pub_endpoint, sizeof x->pub_endpoint, "%s", c->pub_endpoint);
    x->dead_after_s = coord_dead_after_s(&c->cfg);
    x->max_credits = c->cfg.max_credits;
    x->max_group = c->cfg.lim.max_group;
    x->max_tokens = c->cfg.lim.max_tokens;
    x->max_prompt_tokens = c->cfg.lim.max_prompt_tokens;
    x->max_objects = (uint32_t)wire_max_objects(&c->cfg.lim);
    x->vocab_size = c->cfg.lim.vocab_size;
    x->eos_token_id = c->cfg.eos_token_id;
    snprintf(x->tokenizer, sizeof x->tokenizer, "%s", c->cfg.tokenizer);
    coord_send(c, ident, len, &m);
}

static void on_group(Coordinator *c, const void *ident, size_t len, Worker *w, WireGroup *g, double now) {
    char msg[400];
    Lease *L = u64map_get(&c->leases, g->lease_id);
    if (!L) {
        uintptr_t st = (uintptr_t)u64map_get(&c->retired, g->lease_id);
        if (st == RETIRED_DONE) {
            c->k.duplicates_dropped++;
            coord_log(c, "duplicate group for prompt %llu (lease %llu) from '%s' dropped", (unsigned long long)g->prompt_id,
                      (unsigned long long)g->lease_id, w->name);
        } else if (st == RETIRED_REVOKED || coord_lease_id_past(c, g->lease_id)) {
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
        coord_lease_revoke(c, L);
        return;
    }
    if (g->policy_version > c->version) {
        // Weights newer than the coordinator's: it restarted from an older checkpoint. The worker gets
        // no work until it has loaded the current weights (re-published now) and says so in a
        // heartbeat, or says hello again; other workers take the prompt meanwhile, so nothing stalls.
        snprintf(msg, sizeof msg, "group: policy_version %lld is newer than the coordinator's %lld (it restarted from an older "
                 "checkpoint): load its weights (re-published now) and report them in a heartbeat; no work until then (prompt %llu re-queued)",
                 (long long)g->policy_version, (long long)c->version, (unsigned long long)g->prompt_id);
        bad(c, ident, len, w, WIRE_BAD_UNKNOWN_VERSION, msg, g->prompt_id);
        coord_lease_revoke(c, L);
        w->paused = 1;
        c->republish_want = 1;
        return;
    }
    if (g->policy_version < c->version - c->cfg.max_staleness) {
        c->k.stale_dropped++;
        coord_log(c, "stale group for prompt %llu (policy %lld, current %lld, max staleness %lld) dropped and re-queued",
                  (unsigned long long)g->prompt_id, (long long)g->policy_version, (long long)c->version, (long long)c->cfg.max_staleness);
        coord_lease_revoke(c, L);
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
    coord_lease_done(c, L);
    free(p);   // fields moved into out
    ring_push_back(&c->ready, &out);
    u64map_put(&c->live, out.prompt_id, (void *)1);   // still live until taken
    c->k.groups_accepted++;
    pthread_cond_broadcast(&c->ready_cv);
}

void coord_handle(Coordinator *c, zmq_msg_t *id, zmq_msg_t *body, int extra, double now) {
    const void *ident = zmq_msg_data(id);
    size_t ilen = zmq_msg_size(id);
    size_t blen = extra < 0 ? 0 : zmq_msg_size(body);
    c->k.bytes_received += blen;
    Worker *w = coord_worker_find(c, ident, ilen);
    if (w) w->last_seen = now;
    int fd = extra < 0 ? -1 : zmq_msg_get(body, ZMQ_SRCFD);   // before the body may move into a group
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
        if (has_ids && (L = u64map_get(&c->leases, lid)) != NULL && L->w == w && L->p->id == pid) coord_lease_revoke(c, L);
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
    case WIRE_HELLO:
        on_hello(c, ident, ilen, w, &m.u.hello, now);
        w = coord_worker_find(c, ident, ilen);
        break;
    case WIRE_REQUEST: {
        int32_t cr = m.u.request.credits;
        w->credits = cr > c->cfg.max_credits ? c->cfg.max_credits : cr;
        break;
    }
    case WIRE_GROUP:
        c->k.groups_received++;
        on_group(c, ident, ilen, w, &m.u.group, now);
        break;
    case WIRE_HEARTBEAT:
        w->version = m.u.heartbeat.policy_version;
        if (w->paused && w->version >= 0 && w->version <= c->version) w->paused = 0;
        break;
    case WIRE_GOODBYE: {
        int i = coord_worker_index(c, w);
        if (i >= 0) coord_worker_remove(c, i, m.u.goodbye.reason[0] ? m.u.goodbye.reason : "goodbye");
        w = NULL;   // freed
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
    if (w && fd >= 0) {   // the connection this worker speaks on now (a reconnect changes it)
        w->fd = fd;
        w->fd_serial = (size_t)fd < c->n_fd_serial ? c->fd_serial[fd] : 0;
    }
    wire_msg_free(&m);
}

void coord_connection_event(Coordinator *c, int accepted, int fd) {
    if (fd < 0) return;
    if ((size_t)fd >= c->n_fd_serial) {
        size_t n = c->n_fd_serial ? c->n_fd_serial : 64;
        while (n <= (size_t)fd) n *= 2;
        c->fd_serial = reallocCheck(c->fd_serial, n * sizeof *c->fd_serial);
        memset(c->fd_serial + c->n_fd_serial, 0, (n - c->n_fd_serial) * sizeof *c->fd_serial);
        c->n_fd_serial = n;
    }
    if (accepted) { c->fd_serial[fd]++; return; }
    // The connection that closed is the newest one accepted on fd (events arrive in order, and an fd is
    // reused only after its close). Its last messages may still wait in the ROUTER: act after them.
    if (c->n_closed == c->cap_closed) {
        c->cap_closed = c->cap_closed ? 2 * c->cap_closed : 16;
        c->closed = reallocCheck(c->closed, c->cap_closed * sizeof *c->closed);
    }
    c->closed[c->n_closed].fd = fd;
    c->closed[c->n_closed].serial = c->fd_serial[fd];
    c->n_closed++;
}

void coord_apply_closed(Coordinator *c) {
    for (size_t k = 0; k < c->n_closed; k++)
        for (int i = c->n_workers - 1; i >= 0; i--) {
            Worker *w = c->workers[i];
            if (w->fd == c->closed[k].fd && w->fd_serial == c->closed[k].serial) {   // gone without a goodbye
                c->k.workers_disconnected++;
                coord_worker_remove(c, i, "connection closed without a goodbye");
            }
        }
    c->n_closed = 0;
}

