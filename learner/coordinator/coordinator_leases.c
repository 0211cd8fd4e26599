// The coordinator's bookkeeping: the prompt queue, leases (who holds which prompt since when),
// retired lease ids, the worker table, dispatch and expiry. Every function here runs with mu held.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "learner/coordinator/coordinator_internal.h"

#define WORKERS_INIT_CAP 16
#define STR__(x) #x
#define STR_(x) STR__(x)

// ---- queue ---------------------------------------------------------------------------------------
void coord_prompt_free(Prompt *p) {
    if (!p) return;
    free(p->tokens); free(p->text); free(p->answer);
    free(p);
}

void coord_queue_push_back(Coordinator *c, Prompt *p) { ring_push_back(&c->queue, &p); }
void coord_queue_push_front(Coordinator *c, Prompt *p) { ring_push_front(&c->queue, &p); }

Prompt *coord_queue_pop_front(Coordinator *c) {
    Prompt *p = NULL;
    ring_pop_front(&c->queue, &p);
    return p;
}

// ---- leases --------------------------------------------------------------------------------------
static uint64_t lease_id_make(Coordinator *c) {
    return ((uint64_t)c->incarnation << COORD_LEASE_SEQ_BITS) | (c->next_seq++ & COORD_LEASE_SEQ_MASK);
}

// True for ids this coordinator (or an earlier incarnation) could have issued. Incarnations and
// sequence numbers start at 1, so an id with either part 0 never was; an earlier incarnation may have
// issued any sequence number before it died (more than its last checkpoint knows of).
int coord_lease_id_past(const Coordinator *c, uint64_t id) {
    uint64_t inc = id >> COORD_LEASE_SEQ_BITS, seq = id & COORD_LEASE_SEQ_MASK;
    if (inc == 0 || seq == 0) return 0;
    return inc < c->incarnation || (inc == c->incarnation && seq < c->next_seq);
}

// Remembers how a lease ended; the oldest of the last COORD_RETIRED_RING is forgotten.
static void retire(Coordinator *c, uint64_t lease_id, int how) {
    uint64_t old = c->ring[c->ring_pos];
    if (old) u64map_del(&c->retired, old);
    c->ring[c->ring_pos] = lease_id;
    c->ring_pos = (c->ring_pos + 1) % COORD_RETIRED_RING;
    u64map_put(&c->retired, lease_id, (void *)(uintptr_t)how);
}

void coord_lease_done(Coordinator *c, Lease *L) {
    u64map_del(&c->leases, L->id);
    retire(c, L->id, RETIRED_DONE);
    L->w->held--;
    free(L);
}

// Any later result for this lease is late.
void coord_lease_revoke(Coordinator *c, Lease *L) {
    u64map_del(&c->leases, L->id);
    retire(c, L->id, RETIRED_REVOKED);
    if (L->w) L->w->held--;
    L->p->requeues++;
    coord_queue_push_front(c, L->p);
    c->k.requeued++;
    free(L);
}

void coord_revoke_worker_leases(Coordinator *c, Worker *w) {
    if (!w->held) return;
    for (size_t i = u64map_next(&c->leases, 0); i < c->leases.cap; i = u64map_next(&c->leases, i + 1)) {
        Lease *L = c->leases.vals[i];
        if (L->w == w) coord_lease_revoke(c, L);
    }
}

// ---- workers -------------------------------------------------------------------------------------
Worker *coord_worker_add(Coordinator *c, const void *ident, size_t len) {
    Worker *w = callocCheck(1, sizeof *w);
    w->fd = -1;
    memcpy(w->ident, ident, len);
    w->ident_len = len;
    if (c->n_workers == c->cap_workers) {
        c->cap_workers = c->cap_workers ? c->cap_workers * 2 : WORKERS_INIT_CAP;
        c->workers = reallocCheck(c->workers, (size_t)c->cap_workers * sizeof *c->workers);
    }
    c->workers[c->n_workers++] = w;
    c->k.workers_joined++;
    return w;
}

void coord_worker_remove(Coordinator *c, int idx, const char *why) {
    Worker *w = c->workers[idx];
    coord_revoke_worker_leases(c, w);
    if (!c->cfg.quiet) coord_log(c, "worker '%s' left (%s)", w->name, why);
    c->workers[idx] = c->workers[--c->n_workers];
    c->k.workers_left++;
    free(w);
}

Worker *coord_worker_find(Coordinator *c, const void *ident, size_t len) {
    for (int i = 0; i < c->n_workers; i++)
        if (c->workers[i]->ident_len == len && memcmp(c->workers[i]->ident, ident, len) == 0) return c->workers[i];
    return NULL;
}

int coord_worker_index(Coordinator *c, const Worker *w) {
    for (int i = 0; i < c->n_workers; i++)
        if (c->workers[i] == w) return i;
    return -1;
}

// ---- dispatch and expiry -------------------------------------------------------------------------
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
    return coord_send(c, w->ident, w->ident_len, &m);
}

// Round-robin over the workers, one prompt per worker per pass, while credits and prompts last.
void coord_dispatch(Coordinator *c, double now) {
    if (!c->queue.n || !c->n_workers) return;
    for (int i = 0; i < c->n_workers; i++) c->workers[i]->send_blocked = 0;
    int progress = 1;
    while (c->queue.n && progress) {
        progress = 0;
        int n = c->n_workers;
        for (int k = 0; k < n && c->queue.n; k++) {
            Worker *w = c->workers[(c->rr + k) % n];
            if (w->dead || w->paused || w->send_blocked || w->held >= w->credits) continue;
            Prompt *p = coord_queue_pop_front(c);
            uint64_t id = lease_id_make(c);
            if (send_assign(c, w, p, id) != 0) {
                int e = errno;
                coord_queue_push_front(c, p);
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
        if (c->workers[i]->dead) coord_worker_remove(c, i, "connection gone");
}

// A worker silent for dead_after (a few heartbeat intervals) is dead, whether it crashed, was SIGKILLed
// or closed its connection without a goodbye: all its leases end at once and it is removed. A lease
// whose worker still heartbeats ends only at max_lease_s.
void coord_expire(Coordinator *c, double now) {
    double lease = coord_dead_after_s(&c->cfg), maxl = c->cfg.max_lease_s;
    for (size_t i = u64map_next(&c->leases, 0); i < c->leases.cap; i = u64map_next(&c->leases, i + 1)) {
        Lease *L = c->leases.vals[i];
        double since = now - (L->w->last_seen > L->t0 ? L->w->last_seen : L->t0);
        if (since > lease || (maxl > 0 && now - L->t0 > maxl)) {
            coord_log(c, "lease %llu of prompt %llu held by '%s' expired; prompt re-queued", (unsigned long long)L->id,
                      (unsigned long long)L->p->id, L->w->name);
            c->k.leases_expired++;
            coord_lease_revoke(c, L);
        }
    }
    for (int i = c->n_workers - 1; i >= 0; i--)
        if (now - c->workers[i]->last_seen > lease) {
            c->k.workers_timed_out++;
            coord_worker_remove(c, i, "silent for " STR_(COORD_MISSED_HEARTBEATS) " heartbeat intervals: presumed dead");
        }
}
