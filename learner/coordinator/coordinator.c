// The coordinator thread, its poll loop and the thread-safe API. See coordinator.h for the contract
// and coordinator_internal.h for how the work is split over the files.
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/core/check.h"
#include "learner/coordinator/coordinator_internal.h"
#include "proto/transport.h"

#define QUEUE_INIT_CAP 256          // prompts
#define READY_INIT_CAP 64           // finished groups
// The thread wakes at least every lease_s / TICKS_PER_LEASE (clamped to [TICK_MIN_MS, TICK_MAX_MS])
// to expire leases and dispatch.
#define TICKS_PER_LEASE 10
#define TICK_MIN_MS 1
#define TICK_MAX_MS 50
#define RECV_BATCH 4096             // messages handled per wake-up before expiry and dispatch run
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"   // where libzmq asks for CurveZMQ client approval
#define MONITOR_EVENT_BYTES 6       // a socket-monitor event frame: uint16 event, uint32 value (the fd)

// The knobs the config schema does not have.
#define DEFAULT_CHUNK_BYTES ((size_t)4 << 20)
#define DEFAULT_PUB_HWM 100000
#define DEFAULT_REPUBLISH_S 1.0
#define DEFAULT_LOG_PER_S 10
#define CREDITS_CAP_FACTOR 4        // a worker may ask for this many times rollout.credits
#define MIN_HEARTBEATS_PER_LEASE 3  // heartbeat_s is lowered to lease_s / this when above it

// ---- config and logging --------------------------------------------------------------------------
// "tcp://host:0" -> "tcp://host:*" (ZeroMQ's any-free-port syntax). -1 when it does not fit.
static int endpoint_any_port(const char *in, char *out, size_t cap) {
    size_t n = strlen(in);
    int w = n >= 2 && strcmp(in + n - 2, ":0") == 0 ? snprintf(out, cap, "%.*s:*", (int)(n - 2), in) : snprintf(out, cap, "%s", in);
    return w >= 0 && (size_t)w < cap ? 0 : -1;
}

int coord_config_from_rlvr(const RlvrConfig *rc, CoordConfig *cfg, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    if (endpoint_any_port(rc->coordinator_endpoint, cfg->endpoint, sizeof cfg->endpoint) != 0)
        return rlvr_err(err, errlen, "coordinator.endpoint is longer than %d characters", WIRE_ENDPOINT_LEN - 1);
    if (endpoint_any_port(rc->coordinator_pub_endpoint, cfg->pub_endpoint, sizeof cfg->pub_endpoint) != 0)
        return rlvr_err(err, errlen, "coordinator.pub_endpoint is longer than %d characters", WIRE_ENDPOINT_LEN - 1);
    cfg->lease_s = rc->coordinator_lease_s;
    cfg->max_lease_s = rc->coordinator_max_lease_s;
    double hb_max = rc->coordinator_lease_s / MIN_HEARTBEATS_PER_LEASE;
    cfg->heartbeat_s = rc->coordinator_heartbeat_s < hb_max ? rc->coordinator_heartbeat_s : hb_max;
    cfg->max_staleness = rc->rollout_max_staleness;
    cfg->max_credits = (int32_t)(rc->rollout_credits * CREDITS_CAP_FACTOR);
    cfg->chunk_bytes = DEFAULT_CHUNK_BYTES;
    cfg->pub_hwm = DEFAULT_PUB_HWM;
    cfg->republish_s = DEFAULT_REPUBLISH_S;
    wire_limits_default(&cfg->lim);
    cfg->lim.max_msg_bytes = (size_t)rc->coordinator_max_message_mb << 20;
    cfg->log_per_s = DEFAULT_LOG_PER_S;
    cfg->eos_token_id = -1;
    return 0;
}

double coord_dead_after_s(const CoordConfig *cfg) {
    double hb = COORD_MISSED_HEARTBEATS * cfg->heartbeat_s;
    return hb < cfg->lease_s ? hb : cfg->lease_s;
}

void coord_config_default(CoordConfig *cfg) {
    RlvrConfig rc;
    config_defaults(&rc);
    char err[128];
    if (coord_config_from_rlvr(&rc, cfg, err, sizeof err) != 0) die("config schema: %s", err);
}

void coord_log(Coordinator *c, const char *fmt, ...) {
    // rate limited: bad input from a broken or hostile peer must not flood the learner's log
    double now = now_seconds();
    if (now - c->log_t0 >= COORD_RATE_WINDOW_S) {
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

void coord_wake(Coordinator *c) {
    if (c->wake[1] >= 0) {
        char b = 1;
        ssize_t r = write(c->wake[1], &b, 1);   // a full pipe already means "wake up"
        (void)r;
    }
}

// ---- thread --------------------------------------------------------------------------------------
// A CurveZMQ client asks to connect: approve its key or count the rejection.
static void handle_zap(Coordinator *c) {
    int ok = wire_zap_handle(c->zap, (const char (*)[41])c->allowed, c->cfg.n_allowed_keys);
    if (ok == 1) return;
    pthread_mutex_lock(&c->mu);
    c->k.bad[WIRE_BAD_AUTH]++;
    c->k.bad_total++;
    coord_log(c, "CurveZMQ client rejected (public key not in the allowed list)");
    pthread_mutex_unlock(&c->mu);
}

static void drain_wake_pipe(Coordinator *c) {
    char buf[64];
    while (read(c->wake[0], buf, sizeof buf) > 0) {}
}

// Applies the ROUTER's pending socket-monitor events in order: a connection accepted on an fd, or
// closed (its worker's leases end at once, not after dead_after_s).
static void handle_monitor(Coordinator *c) {
    if (!c->mon) return;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, c->mon, ZMQ_DONTWAIT) < 0) { zmq_msg_close(&ev); return; }
        int more = zmq_msg_more(&ev);
        if (more) {   // the endpoint frame: not needed
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, c->mon, 0);
            zmq_msg_close(&addr);
        }
        if (zmq_msg_size(&ev) >= MONITOR_EVENT_BYTES) {
            const uint8_t *p = zmq_msg_data(&ev);
            uint16_t e = (uint16_t)(p[0] | p[1] << 8);
            int32_t fd = (int32_t)((uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24);
            if (e == ZMQ_EVENT_ACCEPTED || e == ZMQ_EVENT_DISCONNECTED) {
                pthread_mutex_lock(&c->mu);
                coord_connection_event(c, e == ZMQ_EVENT_ACCEPTED, fd);
                pthread_mutex_unlock(&c->mu);
            }
        }
        zmq_msg_close(&ev);
    }
}

// Handles the waiting worker messages (up to RECV_BATCH), dispatching after each. When the ROUTER is
// empty, the connections whose close was seen before that last look end their workers' leases: a
// connection's messages enter the ROUTER before its close is reported, so every message it sent
// (a group sent just before exiting included) has been handled by then.
static void handle_messages(Coordinator *c) {
    handle_monitor(c);
    for (int i = 0; i < RECV_BATCH; i++) {
        zmq_msg_t id, body;
        int extra;
        if (wire_recv(c->router, 1, &id, &body, &extra, ZMQ_DONTWAIT) != 0) {
            pthread_mutex_lock(&c->mu);
            coord_apply_closed(c);
            pthread_mutex_unlock(&c->mu);
            break;
        }
        // Every connection event before this message is applied first: its connection's "accepted"
        // was queued before the message could arrive, so the worker is tied to the right connection.
        handle_monitor(c);
        pthread_mutex_lock(&c->mu);
        coord_handle(c, &id, &body, extra, now_seconds());
        coord_dispatch(c, now_seconds());
        pthread_mutex_unlock(&c->mu);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
}

// Every tick: expire silent leases, hand out what is queued, re-send weights when asked.
static void housekeeping(Coordinator *c) {
    pthread_mutex_lock(&c->mu);
    double now = now_seconds();
    coord_expire(c, now);
    coord_dispatch(c, now);
    int want = c->republish_want;
    c->republish_want = 0;
    pthread_mutex_unlock(&c->mu);
    if (want) coord_republish(c, now);
}

static void *coord_main(void *arg) {
    Coordinator *c = arg;
    int tick_ms = (int)(c->cfg.lease_s * 1000 / TICKS_PER_LEASE);
    if (tick_ms > TICK_MAX_MS) tick_ms = TICK_MAX_MS;
    if (tick_ms < TICK_MIN_MS) tick_ms = TICK_MIN_MS;
    while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        zmq_pollitem_t items[4] = {{c->router, 0, ZMQ_POLLIN, 0}, {NULL, c->wake[0], ZMQ_POLLIN, 0}, {c->mon, 0, ZMQ_POLLIN, 0},
                                   {c->zap, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, c->zap ? 4 : 3, tick_ms);
        if (rc < 0) {
            if (zmq_errno() == ETERM) break;
            continue;   // EINTR
        }
        if (c->zap && (items[3].revents & ZMQ_POLLIN)) handle_zap(c);
        if (items[1].revents & ZMQ_POLLIN) drain_wake_pipe(c);
        handle_messages(c);
        housekeeping(c);
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
    c->session = u64_mix((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ u64_mix((uint64_t)getpid() << 20 ^ (uint64_t)(uintptr_t)c);
    c->incarnation = 1;
    c->next_seq = 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->ready_cv, NULL);
    pthread_mutex_init(&c->pub_mu, NULL);
    ring_init(&c->queue, sizeof(Prompt *), QUEUE_INIT_CAP);
    ring_init(&c->ready, sizeof(CoordGroup), READY_INIT_CAP);
    u64map_init(&c->live);
    u64map_init(&c->leases);
    u64map_init(&c->retired);
    c->ring = callocCheck(COORD_RETIRED_RING, sizeof(uint64_t));
    c->pub_version = -1;
    c->wake[0] = c->wake[1] = -1;
    c->last_republish = COORD_NEVER;
    c->log_t0 = COORD_NEVER;
    return c;
}

int coord_start(Coordinator *c, char *err, size_t errlen) {
    if (c->running) return rlvr_err(err, errlen, "coordinator already running");
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) return rlvr_err(err, errlen, "coordinator: pipe2 failed: %s", strerror(errno));
    c->ctx = wire_ctx_new();
    if (c->cfg.curve) {
        c->zap = wire_socket(c->ctx, ZMQ_REP, 0, 0);
        if (wire_bind(c->zap, ZAP_ENDPOINT, NULL, 0, err, errlen)) goto fail;
    }
    c->router = wire_socket(c->ctx, ZMQ_ROUTER, c->cfg.lim.max_msg_bytes, 0);
    if (c->cfg.curve) wire_curve_server(c->router, c->cfg.curve_secret);
    {   // connection events of the ROUTER: a worker whose connection closes loses its leases at once
        char mon_ep[64];
        snprintf(mon_ep, sizeof mon_ep, "inproc://coord-monitor-%p", (void *)c);
        zmqCheck(zmq_socket_monitor(c->router, mon_ep, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED));
        c->mon = zmq_socket(c->ctx, ZMQ_PAIR);
        if (!c->mon || zmq_connect(c->mon, mon_ep) != 0) { rlvr_err(err, errlen, "coordinator: socket monitor: %s", zmq_strerror(zmq_errno())); goto fail; }
    }
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
    if (c->mon) zmq_close(c->mon);
    if (c->router) zmq_close(c->router);
    if (c->pub) zmq_close(c->pub);
    if (c->zap) zmq_close(c->zap);
    c->router = c->pub = c->zap = c->mon = NULL;
    zmq_ctx_term(c->ctx);
    c->ctx = NULL;
    close(c->wake[0]); close(c->wake[1]);
    c->wake[0] = c->wake[1] = -1;
    return -1;
}

void coord_stop(Coordinator *c) {
    if (!c->running) return;
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    coord_wake(c);
    pthread_join(c->th, NULL);
    c->running = 0;
    pthread_mutex_lock(&c->pub_mu);
    zmq_socket_monitor(c->router, NULL, 0);
    zmq_close(c->mon);
    zmq_close(c->router);
    if (c->pub) zmq_close(c->pub);
    if (c->zap) zmq_close(c->zap);
    c->router = c->pub = c->zap = c->mon = NULL;
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

int coord_requeue(Coordinator *c, CoordGroup *g, char *err, size_t errlen) {
    CoordPrompt p;
    memset(&p, 0, sizeof p);
    p.id = g->prompt_id;
    p.n_tokens = g->n_prompt;
    p.tokens = g->prompt_tokens;
    p.text = g->text;
    p.answer = g->answer;
    p.verifier = g->verifier;
    p.group_size = g->group.n_responses;   // the decoder holds every accepted group to its prompt's G
    p.sampling = g->sampling;
    p.seed = g->seed;
    int rc = coord_enqueue(c, &p, err, errlen);
    coord_group_free(g);
    return rc;
}

void coord_free(Coordinator *c) {
    if (!c) return;
    coord_stop(c);
    for (size_t i = u64map_next(&c->leases, 0); i < c->leases.cap; i = u64map_next(&c->leases, i + 1)) {
        Lease *L = c->leases.vals[i];
        coord_prompt_free(L->p);
        free(L);
    }
    while (c->queue.n) coord_prompt_free(coord_queue_pop_front(c));
    for (size_t i = 0; i < c->ready.n; i++) coord_group_free(ring_at(&c->ready, i));
    for (int i = 0; i < c->n_workers; i++) free(c->workers[i]);
    ring_free(&c->queue); ring_free(&c->ready);
    free(c->workers); free(c->ring); free(c->allowed); free(c->fd_serial); free(c->closed);
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
    coord_wake(c);
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
    while (c->ready.n == 0 && timeout_s > 0) {
        if (pthread_cond_timedwait(&c->ready_cv, &c->mu, &dl) == ETIMEDOUT) break;
    }
    int n = 0;
    while (n < max_n && ring_pop_front(&c->ready, &out[n]) == 0) {
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
    coord_wake(c);
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
    out->queued = c->queue.n;
    out->outstanding = c->leases.n;
    out->ready = c->ready.n;
    out->workers = (uint64_t)c->n_workers;
    pthread_mutex_unlock(&c->mu);
}
