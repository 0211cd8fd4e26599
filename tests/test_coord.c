// Coordinator over real sockets (tcp on loopback, ephemeral ports): credits, leases that expire and
// come back, heartbeats, duplicates, staleness, bad messages, a SIGKILLed worker process, checkpoint
// save/restore, weights broadcast, CurveZMQ, and a coordinator restart the client survives.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/core/bf16.h"
#include "common/core/check.h"
#include "learner/coordinator/coordinator.h"
#include "proto/client.h"
#include "proto/transport.h"
#include "tests/harness.h"

#ifndef RLVR_WIRE_TEST_PEER
#define RLVR_WIRE_TEST_PEER "build/tests/wire_test_peer"
#endif

#define COORD_TEST_SEQ_MASK ((1ull << 40) - 1)   // lease id = incarnation << 40 | sequence number

static void sleep_s(double s) { usleep((useconds_t)(s * 1e6)); }

static void test_config(CoordConfig *cfg, double lease_s, int64_t staleness) {
    coord_config_default(cfg);
    snprintf(cfg->endpoint, sizeof cfg->endpoint, "tcp://127.0.0.1:*");
    snprintf(cfg->pub_endpoint, sizeof cfg->pub_endpoint, "tcp://127.0.0.1:*");
    cfg->lease_s = lease_s;
    cfg->heartbeat_s = lease_s / 4;
    cfg->max_staleness = staleness;
    cfg->quiet = 1;
    cfg->log_per_s = 3;
}

static Coordinator *create(const CoordConfig *cfg) {
    char err[256];
    Coordinator *c = coord_create(cfg, err, sizeof err);
    if (!c) die("coord_create: %s", err);
    return c;
}

static Coordinator *make_coord(double lease_s, int64_t staleness, CoordConfig *cfg_out) {
    CoordConfig cfg;
    test_config(&cfg, lease_s, staleness);
    if (cfg_out) *cfg_out = cfg;
    return create(&cfg);
}

static void start(Coordinator *c) {
    char err[256];
    if (coord_start(c, err, sizeof err) != 0) die("coord_start: %s", err);
}

static void enqueue_n(Coordinator *c, uint64_t first_id, int n, int G) {
    for (int i = 0; i < n; i++) {
        int32_t toks[3] = {10 + i, 11, 12};
        CoordPrompt p = {first_id + (uint64_t)i, 3, toks, "question", "42", "math", G, {1.0f, 1.0f, 0, 16, 1, {2}}, 1000 + (uint64_t)i};
        char err[256];
        if (coord_enqueue(c, &p, err, sizeof err) != 0) die("enqueue: %s", err);
    }
}

static CoordCounters counters(Coordinator *c) {
    CoordCounters k;
    coord_counters(c, &k);
    return k;
}

#define WAIT_FOR(c, cond, timeout) do { \
    double end_ = now_seconds() + (timeout); \
    for (;;) { k = counters(c); if ((cond) || now_seconds() > end_) break; sleep_s(0.01); } \
    CHECK_MSG(cond, "timed out waiting for %s", #cond); } while (0)

// Takes groups until `want` arrived (or timeout); records how often each prompt id came back.
static int take_all(Coordinator *c, int want, uint64_t first_id, int *seen, int n_ids, double timeout) {
    int got = 0;
    double end = now_seconds() + timeout;
    CoordGroup g[16];
    while (got < want && now_seconds() < end) {
        int n = coord_take(c, g, 16, 0.05);
        for (int i = 0; i < n; i++) {
            uint64_t k = g[i].prompt_id - first_id;
            if (k < (uint64_t)n_ids) seen[k]++;
            coord_group_free(&g[i]);
        }
        got += n;
    }
    return got;
}

// ---- synthetic groups ----------------------------------------------------------------------------
typedef struct { WireResponse rs[16]; int32_t tok[4]; float lp[4]; } GroupStore;

static WireGroup synth(const WireAssign *a, int64_t version, GroupStore *s) {
    WireGroup g = {0};
    g.prompt_id = a->prompt_id;
    g.lease_id = a->lease_id;
    g.seed = a->seed;
    g.policy_version = version;
    snprintf(g.worker, sizeof g.worker, "raw");
    g.n_responses = a->group_size;
    g.responses = s->rs;
    for (int i = 0; i < 4; i++) { s->tok[i] = (int32_t)a->prompt_id + i; s->lp[i] = -0.25f * (float)(i + 1); }
    for (int i = 0; i < a->group_size && i < 16; i++)
        s->rs[i] = (WireResponse){4, s->tok, s->lp, NULL, 1.0f, 1, WIRE_FINISH_STOP, 1, 0, 0, 0.5f};
    return g;
}

// A client-library worker that answers every assignment until told to stop.
typedef struct { WireClient *cl; int served; int stop; int64_t version; } Serve;

static void *serve_main(void *arg) {
    Serve *s = arg;
    GroupStore st;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        WireAssign a;
        int rc = wire_client_next(s->cl, &a, 0.05);
        if (rc < 0) break;
        if (rc == 0) continue;
        WireGroup g = synth(&a, s->version >= 0 ? s->version : a.policy_version, &st);
        char err[256];
        if (wire_client_send_group(s->cl, &g, err, sizeof err) != 0) fprintf(stderr, "serve: %s\n", err);
        wire_assign_free(&a);
        s->served++;
    }
    return NULL;
}

static WireClient *open_client(const char *endpoint, const char *rdv, const char *name, int credits, int weights) {
    WireClientConfig cfg;
    wire_client_config_default(&cfg);
    if (endpoint) snprintf(cfg.endpoint, sizeof cfg.endpoint, "%s", endpoint);
    if (rdv) snprintf(cfg.rendezvous, sizeof cfg.rendezvous, "%s", rdv);
    snprintf(cfg.worker_id, sizeof cfg.worker_id, "%s", name);
    cfg.credits = credits;
    cfg.subscribe_weights = weights;
    cfg.weights_retry_s = 0.3;
    cfg.quiet = 1;
    char err[256];
    WireClient *cl = wire_client_open(&cfg, err, sizeof err);
    if (!cl) die("client: %s", err);
    return cl;
}

// ---- raw DEALER peer for crafted traffic -----------------------------------------------------------
typedef struct { void *ctx, *s; } Peer;

static void peer_open(Peer *p, const char *ep) {
    p->ctx = wire_ctx_new();
    p->s = wire_socket(p->ctx, ZMQ_DEALER, 0, 0);
    char err[256];
    if (wire_connect(p->s, ep, err, sizeof err)) die("%s", err);
}
static void peer_close(Peer *p) { zmq_close(p->s); zmq_ctx_term(p->ctx); }
static void peer_send(Peer *p, const WireMsg *m) {
    WireBuf b;
    wire_buf_init(&b, 256);
    wire_encode(m, &b);
    if (wire_send(p->s, NULL, 0, &b, 0)) die("peer send: %s", zmq_strerror(errno));
}
// Receives the next message of type `want` (others skipped) within timeout: 1, or 0.
static int peer_recv(Peer *p, WireType want, WireMsg *out, double timeout) {
    double end = now_seconds() + timeout;
    WireLimits lim;
    wire_limits_default(&lim);
    while (now_seconds() < end) {
        zmq_pollitem_t it = {p->s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20) <= 0) continue;
        zmq_msg_t id, body;
        int extra;
        if (wire_recv(p->s, 0, &id, &body, &extra, 0)) continue;
        char err[256];
        WireBad why = wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), &lim, out, err, sizeof err);
        zmq_msg_close(&body);
        if (why != WIRE_OK) continue;
        if (out->type == want) return 1;
        wire_msg_free(out);
    }
    return 0;
}
static void peer_hello(Peer *p, const char *name, int credits) {
    WireMsg m = {.type = WIRE_HELLO};
    snprintf(m.u.hello.worker, sizeof m.u.hello.worker, "%s", name);
    peer_send(p, &m);
    WireMsg w;
    CHECK(peer_recv(p, WIRE_WELCOME, &w, 2.0));
    WireMsg r = {.type = WIRE_REQUEST};
    r.u.request.credits = credits;
    peer_send(p, &r);
}
static void peer_heartbeat(Peer *p, const char *name) {
    WireMsg m = {.type = WIRE_HEARTBEAT};
    snprintf(m.u.heartbeat.worker, sizeof m.u.heartbeat.worker, "%s", name);
    peer_send(p, &m);
}

// ---- tests ---------------------------------------------------------------------------------------
static void test_credits_and_flow(void) {
    Coordinator *c = make_coord(2.0, 1, NULL);
    start(c);
    enqueue_n(c, 100, 10, 2);
    // a worker that asks for 3 credits and answers nothing holds exactly 3 leases
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "stingy", 3);
    WireMsg a[4];
    int n = 0;
    while (n < 4 && peer_recv(&p, WIRE_ASSIGN, &a[n], n < 3 ? 2.0 : 0.3)) n++;
    CHECK_EQ_INT(n, 3);
    CoordCounters k = counters(c);
    CHECK_EQ_INT(k.outstanding, 3);
    CHECK_EQ_INT(k.queued, 7);
    // returning one frees one credit: exactly one more assignment follows
    GroupStore st;
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&a[0].u.assign, 0, &st);
    peer_send(&p, &g);
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a[3], 2.0));
    WireMsg extra;
    CHECK(!peer_recv(&p, WIRE_ASSIGN, &extra, 0.3));
    CoordGroup out;
    CHECK_EQ_INT(coord_take(c, &out, 1, 2.0), 1);
    CHECK(out.prompt_id == a[0].u.assign.prompt_id);
    CHECK_EQ_INT(out.n_prompt, 3);
    CHECK_EQ_INT(out.prompt_tokens[0], 10 + (int)(out.prompt_id - 100));
    CHECK(strcmp(out.answer, "42") == 0 && strcmp(out.verifier, "math") == 0);
    CHECK_EQ_INT(out.group.n_responses, 2);
    CHECK_NEAR(out.group.responses[1].logprobs[3], -1.0, 0);
    coord_group_free(&out);
    for (int i = 0; i < 4; i++) wire_msg_free(&a[i]);
    // duplicate enqueue of a live id is refused
    int32_t t1 = 1;
    CoordPrompt dup = {105, 1, &t1, "", "1", "math", 2, {1.0f, 1.0f, 0, 16, 0, {0}}, 0};
    char err[256];
    CHECK(coord_enqueue(c, &dup, err, sizeof err) == -1 && strstr(err, "already") != NULL);
    dup.id = 999;
    dup.sampling.temperature = 0;
    CHECK(coord_enqueue(c, &dup, err, sizeof err) == -1 && strstr(err, "temperature") != NULL);
    // goodbye returns the leases; a library client then drains everything
    WireMsg bye = {.type = WIRE_GOODBYE};
    snprintf(bye.u.goodbye.worker, sizeof bye.u.goodbye.worker, "stingy");
    peer_send(&p, &bye);
    WAIT_FOR(c, k.workers_left == 1 && k.outstanding == 0, 2.0);
    CHECK_EQ_INT(k.requeued, 3);
    Serve s = {open_client(coord_endpoint(c), NULL, "good", 4, 0), 0, 0, -1};
    pthread_t th;
    pthread_create(&th, NULL, serve_main, &s);
    int seen[10] = {0};
    seen[a[0].u.assign.prompt_id - 100 < 10 ? 0 : 0] += 0;
    int got = take_all(c, 9, 100, seen, 10, 5.0);
    CHECK_EQ_INT(got, 9);
    int ones = 0;
    for (int i = 0; i < 10; i++) ones += seen[i] == 1;
    CHECK_EQ_INT(ones, 9);   // the 10th was taken above
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    wire_client_close(s.cl, "test done");
    k = counters(c);
    CHECK_EQ_INT(k.groups_accepted, 10);
    CHECK_EQ_INT(k.groups_taken, 10);
    CHECK_EQ_INT(k.bad_total, 0);
    peer_close(&p);
    coord_free(c);
}

static void test_lease_expiry_late_and_heartbeat(void) {
    Coordinator *c = make_coord(0.4, 1, NULL);
    start(c);
    enqueue_n(c, 200, 3, 1);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "sleepy", 2);
    WireMsg a1, a2;
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a1, 2.0));
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a2, 2.0));
    // heartbeats keep the leases alive well past lease_s
    for (int i = 0; i < 8; i++) { peer_heartbeat(&p, "sleepy"); sleep_s(0.1); }
    CoordCounters k = counters(c);
    CHECK_EQ_INT(k.leases_expired, 0);
    CHECK_EQ_INT(k.outstanding, 2);
    // silence: both leases expire and the prompts come back to the queue
    WAIT_FOR(c, k.leases_expired == 2 && k.requeued == 2, 2.0);
    CHECK_EQ_INT(k.queued, 3);
    WAIT_FOR(c, k.workers_timed_out == 1, 2.0);
    // the same peer comes back: hello again; its old lease's result is late and dropped
    peer_hello(&p, "sleepy", 0);
    GroupStore st;
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&a1.u.assign, 0, &st);
    peer_send(&p, &g);
    WAIT_FOR(c, k.late_dropped == 1, 2.0);
    CoordGroup out;
    CHECK_EQ_INT(coord_take(c, &out, 1, 0.1), 0);
    // a fresh worker gets all three prompts, each delivered once
    Serve s = {open_client(coord_endpoint(c), NULL, "fresh", 2, 0), 0, 0, -1};
    pthread_t th;
    pthread_create(&th, NULL, serve_main, &s);
    int seen[3] = {0};
    CHECK_EQ_INT(take_all(c, 3, 200, seen, 3, 5.0), 3);
    CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    wire_client_close(s.cl, NULL);
    wire_msg_free(&a1);
    wire_msg_free(&a2);
    peer_close(&p);
    coord_free(c);
}

// coordinator.max_lease_s: a lease ends at its hard limit even while its worker heartbeats (a stuck
// generation), the prompt goes back to the queue, and the worker itself stays connected.
static void test_max_lease(void) {
    CoordConfig cfg;
    test_config(&cfg, 5.0, 1);
    cfg.heartbeat_s = 0.5;
    cfg.max_lease_s = 0.6;
    Coordinator *c = create(&cfg);
    start(c);
    enqueue_n(c, 300, 1, 1);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "stuck", 1);
    WireMsg a;
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    double t0 = now_seconds();
    CoordCounters k = counters(c);
    for (int i = 0; i < 5; i++) { peer_heartbeat(&p, "stuck"); sleep_s(0.08); }   // 0.4 s: still inside the limit
    k = counters(c);
    CHECK_EQ_INT(k.leases_expired, 0);
    int expired = 0;
    while (now_seconds() - t0 < 3.0 && !expired) {   // heartbeats go on; the hard limit ends the lease anyway
        peer_heartbeat(&p, "stuck");
        sleep_s(0.05);
        k = counters(c);
        expired = k.leases_expired == 1;
    }
    CHECK(expired);
    CHECK(now_seconds() - t0 >= 0.5);
    CHECK_EQ_INT(k.requeued, 1);
    CHECK_EQ_INT(k.workers_timed_out, 0);
    CHECK_EQ_INT(k.workers, 1);
    wire_msg_free(&a);
    peer_close(&p);
    coord_free(c);
}

static void test_duplicates_and_staleness(void) {
    Coordinator *c = make_coord(2.0, 1, NULL);
    start(c);
    enqueue_n(c, 300, 2, 1);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "dup", 1);
    WireMsg a;
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    GroupStore st;
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&a.u.assign, 0, &st);
    peer_send(&p, &g);
    peer_send(&p, &g);   // the same result again
    CoordCounters k;
    WAIT_FOR(c, k.groups_accepted == 1 && k.duplicates_dropped == 1, 2.0);
    CoordGroup out[2];
    CHECK_EQ_INT(coord_take(c, out, 2, 0.5), 1);
    coord_group_free(&out[0]);
    wire_msg_free(&a);

    // staleness: the second prompt was leased at version 0; the policy moves to 5
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    CHECK_EQ_INT(a.u.assign.policy_version, 0);
    coord_set_policy_version(c, 5);
    coord_set_policy_version(c, 3);   // older values are ignored
    CHECK_EQ_INT(coord_policy_version(c), 5);
    g.u.group = synth(&a.u.assign, 0, &st);
    peer_send(&p, &g);
    WAIT_FOR(c, k.stale_dropped == 1 && k.requeued == 1, 2.0);
    wire_msg_free(&a);
    // re-dispatched under a new lease at the current version
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    CHECK_EQ_INT(a.u.assign.policy_version, 5);
    CHECK(a.u.assign.prompt_id == 301);
    // a version from the future is a bad message; the prompt is re-queued, not lost
    g.u.group = synth(&a.u.assign, 6, &st);
    peer_send(&p, &g);
    WireMsg e;
    CHECK(peer_recv(&p, WIRE_ERROR, &e, 2.0));
    CHECK(strcmp(e.u.error.code, "unknown_version") == 0);
    wire_msg_free(&e);
    WAIT_FOR(c, k.bad[WIRE_BAD_UNKNOWN_VERSION] == 1 && k.requeued == 2, 2.0);
    wire_msg_free(&a);
    // no work until the worker reports weights the coordinator knows
    WireMsg hb = {.type = WIRE_HEARTBEAT};
    snprintf(hb.u.heartbeat.worker, sizeof hb.u.heartbeat.worker, "dup");
    hb.u.heartbeat.policy_version = 5;
    peer_send(&p, &hb);
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    g.u.group = synth(&a.u.assign, 4, &st);   // 4 >= 5 - 1: fresh enough
    peer_send(&p, &g);
    CHECK_EQ_INT(coord_take(c, out, 2, 2.0), 1);
    CHECK(out[0].prompt_id == 301 && out[0].group.policy_version == 4 && out[0].requeues == 2);
    coord_group_free(&out[0]);
    wire_msg_free(&a);
    peer_close(&p);
    coord_free(c);
}

static void test_bad_messages(void) {
    CoordConfig cfg;
    coord_config_default(&cfg);
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "tcp://127.0.0.1:*");
    cfg.pub_endpoint[0] = 0;
    cfg.lease_s = 2.0;
    cfg.heartbeat_s = 0.5;
    cfg.lim.max_msg_bytes = 65536;
    cfg.quiet = 1;
    cfg.log_per_s = 2;
    char err[256];
    Coordinator *c = coord_create(&cfg, err, sizeof err);
    start(c);
    enqueue_n(c, 400, 1, 2);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    // before hello: unknown worker, answered with an error telling the peer to say hello
    WireMsg hb = {.type = WIRE_HEARTBEAT};
    snprintf(hb.u.heartbeat.worker, sizeof hb.u.heartbeat.worker, "x");
    peer_send(&p, &hb);
    WireMsg e;
    CHECK(peer_recv(&p, WIRE_ERROR, &e, 2.0));
    CHECK(strcmp(e.u.error.code, "unknown_worker") == 0);
    wire_msg_free(&e);
    peer_hello(&p, "bad", 1);
    WireMsg a;
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    // garbage bytes
    zmq_send(p.s, "\xc1\x00garbage", 9, 0);
    CHECK(peer_recv(&p, WIRE_ERROR, &e, 2.0));
    CHECK(strcmp(e.u.error.code, "msgpack") == 0);
    wire_msg_free(&e);
    // two frames
    zmq_send(p.s, "a", 1, ZMQ_SNDMORE);
    zmq_send(p.s, "b", 1, 0);
    // a coordinator-only message type
    WireMsg w = {.type = WIRE_ASSIGN};
    w.u.assign = a.u.assign;
    peer_send(&p, &w);
    // a lease that was never issued, a prompt id that does not match the lease, a wrong group size
    GroupStore st;
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&a.u.assign, 0, &st);
    g.u.group.lease_id = (1ull << 40) | 999999;
    peer_send(&p, &g);
    g.u.group = synth(&a.u.assign, 0, &st);
    g.u.group.prompt_id = 12345;
    peer_send(&p, &g);
    g.u.group = synth(&a.u.assign, 0, &st);
    g.u.group.n_responses = 1;   // G is 2
    peer_send(&p, &g);
    // a log-prob > 0
    float pos[4] = {-1, 0.5f, -1, -1};
    g.u.group = synth(&a.u.assign, 0, &st);
    st.rs[1].logprobs = pos;
    peer_send(&p, &g);
    CoordCounters k;
    WAIT_FOR(c, k.bad[WIRE_BAD_FRAMES] == 1 && k.bad[WIRE_BAD_DIRECTION] == 1 && k.bad[WIRE_BAD_UNKNOWN_PROMPT] == 2 &&
                    k.bad[WIRE_BAD_GROUP_SIZE] == 1 && k.bad[WIRE_BAD_VALUE] == 1 && k.bad[WIRE_BAD_MSGPACK] == 1 &&
                    k.bad[WIRE_BAD_UNKNOWN_WORKER] == 1, 2.0);
    CHECK_EQ_INT(k.bad_total, 8);
    CHECK_EQ_INT(k.requeued, 1);   // the wrong-size group gave its lease back
    // an oversized message: libzmq drops it and resets that connection; the coordinator keeps serving
    size_t big = 200000;
    char *blob = callocCheck(big, 1);
    zmq_send(p.s, blob, big, 0);
    free(blob);
    wire_msg_free(&a);
    Serve s = {open_client(coord_endpoint(c), NULL, "after", 2, 0), 0, 0, -1};
    pthread_t th;
    pthread_create(&th, NULL, serve_main, &s);
    CoordGroup out;
    CHECK_EQ_INT(coord_take(c, &out, 1, 5.0), 1);
    if (out.group.n_responses) coord_group_free(&out);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    wire_client_close(s.cl, NULL);
    char js[2048];
    CHECK(coord_counters_json(c, js, sizeof js) == 0);
    CHECK(strstr(js, "\"bad_frames\":1") != NULL && strstr(js, "\"bad_group_size\":1") != NULL);
    peer_close(&p);
    coord_free(c);
}

static void test_sigkill_worker(void) {
    Coordinator *c = make_coord(0.5, 1, NULL);
    start(c);
    enqueue_n(c, 500, 6, 2);
    int fds[2];
    if (pipe(fds) != 0) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(RLVR_WIRE_TEST_PEER, RLVR_WIRE_TEST_PEER, coord_endpoint(c), "doomed", "3", "hold", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[64] = "";
    CHECK_MSG(fgets(line, sizeof line, f) && strncmp(line, "HELD 3", 6) == 0, "peer said '%s' (path %s)", line, RLVR_WIRE_TEST_PEER);
    // the separate process heartbeats from its I/O thread: leases survive 2 x lease_s
    sleep_s(1.0);
    CoordCounters k = counters(c);
    CHECK_EQ_INT(k.outstanding, 3);
    CHECK_EQ_INT(k.leases_expired, 0);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    fclose(f);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    WAIT_FOR(c, k.requeued == 3 && k.outstanding == 0 && k.workers == 0, 3.0);   // its connection closed with it
    Serve s = {open_client(coord_endpoint(c), NULL, "survivor", 3, 0), 0, 0, -1};
    pthread_t th;
    pthread_create(&th, NULL, serve_main, &s);
    int seen[6] = {0};
    CHECK_EQ_INT(take_all(c, 6, 500, seen, 6, 5.0), 6);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(seen[i], 1);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    wire_client_close(s.cl, NULL);
    CHECK_EQ_INT(coord_take(c, NULL, 0, 0), 0);
    k = counters(c);
    CHECK_EQ_INT(k.queued + k.outstanding + k.ready, 0);
    coord_free(c);
}

static void test_save_restore(void) {
    Coordinator *c = make_coord(2.0, 1, NULL);
    start(c);
    enqueue_n(c, 600, 6, 1);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "holder", 3);
    WireMsg a[3];
    for (int i = 0; i < 3; i++) CHECK(peer_recv(&p, WIRE_ASSIGN, &a[i], 2.0));
    GroupStore st;
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&a[0].u.assign, 0, &st);
    peer_send(&p, &g);
    CoordCounters k;
    WAIT_FOR(c, k.groups_accepted == 1 && k.outstanding == 3, 2.0);   // 1 ready, 3 leased (credit refilled), 2 queued
    coord_set_policy_version(c, 7);
    uint8_t *blob;
    size_t len;
    CHECK(coord_save_state(c, &blob, &len) == 0);
    CHECK(len > 10 && memcmp(blob + 1, "\xa5magic", 6) == 0);
    coord_free(c);
    peer_close(&p);

    // damaged blobs are refused and change nothing
    Coordinator *d = make_coord(2.0, 1, NULL);
    char err[256];
    CHECK(coord_restore_state(d, blob, len - 1, err, sizeof err) == -1);
    uint8_t *bad = mallocCheck(len);
    memcpy(bad, blob, len);
    bad[8] ^= 0x20;   // inside "magic"
    CHECK(coord_restore_state(d, bad, len, err, sizeof err) == -1);
    free(bad);
    CHECK_EQ_INT(counters(d).queued, 0);
    CHECK_MSG(coord_restore_state(d, blob, len, err, sizeof err) == 0, "%s", err);
    k = counters(d);
    CHECK_EQ_INT(k.queued, 6);
    CHECK_EQ_INT(k.prompts_enqueued, 6);
    CHECK_EQ_INT(k.groups_accepted, 1);
    CHECK_EQ_INT(coord_policy_version(d), 7);
    // a prompt id restored into the queue is live: enqueueing it again is refused
    int32_t t1 = 1;
    CoordPrompt dup = {603, 1, &t1, "", "1", "math", 1, {1.0f, 1.0f, 0, 16, 0, {0}}, 0};
    CHECK(coord_enqueue(d, &dup, err, sizeof err) == -1);
    start(d);
    // a result for a lease of the saved run is late, not accepted
    Peer q;
    peer_open(&q, coord_endpoint(d));
    peer_hello(&q, "old-worker", 0);
    g.u.group = synth(&a[1].u.assign, 7, &st);
    peer_send(&q, &g);
    WAIT_FOR(d, k.late_dropped == 1, 2.0);
    Serve s = {open_client(coord_endpoint(d), NULL, "after-restore", 3, 0), 0, 0, 7};
    pthread_t th;
    pthread_create(&th, NULL, serve_main, &s);
    int seen[6] = {0};
    CHECK_EQ_INT(take_all(d, 6, 600, seen, 6, 5.0), 6);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(seen[i], 1);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    wire_client_close(s.cl, NULL);
    for (int i = 0; i < 3; i++) wire_msg_free(&a[i]);
    free(blob);
    peer_close(&q);
    coord_free(d);
}

static void test_weights(void) {
    CoordConfig cfg;
    Coordinator *c = make_coord(2.0, 1, &cfg);
    coord_free(c);
    cfg.chunk_bytes = 256 * 1024;
    char err[256];
    c = coord_create(&cfg, err, sizeof err);
    start(c);
    size_t n = 300000;   // 1.2 MB -> 5 chunks, the last partial
    float *w = mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) w[i] = (float)i * 0.5f - 7.0f;
    WireClient *cl = open_client(coord_endpoint(c), NULL, "weights-1", 1, 1);
    WireWelcome wel;
    double end = now_seconds() + 3.0;
    while (!wire_client_welcome(cl, &wel) && now_seconds() < end) sleep_s(0.01);
    sleep_s(0.3);   // let the SUB subscription reach the publisher
    CHECK(coord_publish_weights(c, 3, w, n, err, sizeof err) == 0);
    WireWeights ww;
    CHECK(wire_client_weights(cl, &ww, 3.0) == 1);
    CHECK_EQ_INT(ww.version, 3);
    CHECK_EQ_INT(ww.n, n);
    CHECK(ww.data && memcmp(ww.data, w, n * sizeof(float)) == 0);
    CHECK_EQ_INT(coord_policy_version(c), 3);
    // a worker joining after the broadcast asks for a re-publish and still gets the version
    WireClient *late = open_client(coord_endpoint(c), NULL, "weights-late", 1, 1);
    CHECK(wire_client_weights(late, &ww, 5.0) == 1);
    CHECK(ww.version == 3 && ww.n == n && memcmp(ww.data, w, n * sizeof(float)) == 0);
    CoordCounters k = counters(c);
    CHECK(k.weights_republished >= 1);
    // the HDF5 path form
    CHECK(coord_publish_weights_path(c, 4, "/shared/run/weights_v4.h5", n, err, sizeof err) == 0);
    CHECK(wire_client_weights(cl, &ww, 3.0) == 1);
    CHECK(ww.version == 4 && ww.data == NULL && ww.path && strcmp(ww.path, "/shared/run/weights_v4.h5") == 0 && ww.n_params == n);
    // bf16 from a bf16 learner: 2 bytes a value on the wire, handed over as bf16 (the worker widens)
    uint16_t *h = mallocCheck(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) h[i] = bf16_from_f32(w[i]);
    CHECK(coord_publish_weights_bf16(c, 5, h, n, err, sizeof err) == 0);
    CHECK(wire_client_weights(cl, &ww, 3.0) == 1);
    CHECK(ww.version == 5 && ww.n == n && ww.data == NULL && ww.path == NULL);
    CHECK(ww.bf16 && memcmp(ww.bf16, h, n * sizeof(uint16_t)) == 0);
    // and back to f32 (the buffer changes dtype and size)
    CHECK(coord_publish_weights(c, 6, w, n, err, sizeof err) == 0);
    CHECK(wire_client_weights(cl, &ww, 3.0) == 1);
    CHECK(ww.version == 6 && ww.bf16 == NULL && ww.data && memcmp(ww.data, w, n * sizeof(float)) == 0);
    WireClientStats cs;
    wire_client_stats(cl, &cs);
    CHECK_EQ_INT(cs.weights_bad_crc, 0);
    wire_client_close(cl, NULL);
    wire_client_close(late, NULL);
    free(h);
    free(w);
    coord_free(c);
}

static void test_curve(void) {
    if (!wire_has_curve()) { printf("test_curve: libzmq without CURVE, skipped\n"); return; }
    char spub[41], ssec[41], cpub[41], csec[41], xpub[41], xsec[41];
    CHECK(wire_curve_keypair(spub, ssec) == 0 && wire_curve_keypair(cpub, csec) == 0 && wire_curve_keypair(xpub, xsec) == 0);
    CoordConfig cfg;
    coord_config_default(&cfg);
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "tcp://127.0.0.1:*");
    cfg.pub_endpoint[0] = 0;
    cfg.lease_s = 2.0;
    cfg.heartbeat_s = 0.5;
    cfg.quiet = 1;
    cfg.curve = 1;
    memcpy(cfg.curve_public, spub, 41);
    memcpy(cfg.curve_secret, ssec, 41);
    char allowed[1][41];
    memcpy(allowed[0], cpub, 41);
    cfg.allowed_keys = (const char (*)[41])allowed;
    cfg.n_allowed_keys = 1;
    char err[256];
    Coordinator *c = coord_create(&cfg, err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    if (!c) return;
    start(c);
    enqueue_n(c, 700, 2, 1);
    char rdv[256];
    snprintf(rdv, sizeof rdv, "/tmp/rlvr_test_coord_%d_curve.json", (int)getpid());
    CHECK(coord_write_rendezvous(c, rdv, NULL, err, sizeof err) == 0);
    WireRendezvous r;
    CHECK(wire_rendezvous_read(rdv, &r, err, sizeof err) == 0 && strcmp(r.server_key, spub) == 0);
    WireClientConfig ccfg;
    wire_client_config_default(&ccfg);
    snprintf(ccfg.rendezvous, sizeof ccfg.rendezvous, "%s", rdv);   // server key comes from the file
    snprintf(ccfg.worker_id, sizeof ccfg.worker_id, "intruder");
    memcpy(ccfg.curve_public, xpub, 41);
    memcpy(ccfg.curve_secret, xsec, 41);
    ccfg.subscribe_weights = 0;
    ccfg.quiet = 1;
    WireClient *bad = wire_client_open(&ccfg, err, sizeof err);
    WireAssign a;
    CHECK_EQ_INT(wire_client_next(bad, &a, 0.5), 0);
    CoordCounters k;
    WAIT_FOR(c, k.bad[WIRE_BAD_AUTH] >= 1 && k.workers == 0, 2.0);
    snprintf(ccfg.worker_id, sizeof ccfg.worker_id, "friend");
    memcpy(ccfg.curve_public, cpub, 41);
    memcpy(ccfg.curve_secret, csec, 41);
    WireClient *good = wire_client_open(&ccfg, err, sizeof err);
    CHECK_EQ_INT(wire_client_next(good, &a, 3.0), 1);
    wire_assign_free(&a);
    wire_client_close(bad, NULL);
    wire_client_close(good, NULL);
    unlink(rdv);
    coord_free(c);
}

// The learner restarts on a new port: the client follows the rendezvous file and says hello again.
static void test_restart(void) {
    char rdv[256], err[256];
    snprintf(rdv, sizeof rdv, "/tmp/rlvr_test_coord_%d_rdv.json", (int)getpid());
    Coordinator *c = make_coord(1.0, 1, NULL);
    start(c);
    CHECK(coord_write_rendezvous(c, rdv, NULL, err, sizeof err) == 0);
    enqueue_n(c, 800, 1, 1);
    WireClient *cl = open_client(NULL, rdv, "phoenix", 1, 0);
    WireAssign a;
    CHECK_EQ_INT(wire_client_next(cl, &a, 3.0), 1);
    wire_assign_free(&a);
    uint8_t *blob;
    size_t len;
    coord_save_state(c, &blob, &len);
    WireWelcome w1;
    CHECK(wire_client_welcome(cl, &w1));
    coord_free(c);
    Coordinator *d = make_coord(1.0, 1, NULL);
    CHECK(coord_restore_state(d, blob, len, err, sizeof err) == 0);
    free(blob);
    start(d);
    sleep_s(0.05);   // a different mtime for the rendezvous file
    CHECK(coord_write_rendezvous(d, rdv, NULL, err, sizeof err) == 0);
    CHECK_EQ_INT(wire_client_next(cl, &a, 5.0), 1);   // prompt 800 again, now from d
    CHECK(a.prompt_id == 800);
    WireWelcome w2;
    CHECK(wire_client_welcome(cl, &w2) && w2.session != w1.session && w2.session == coord_session(d));
    WireClientStats cs;
    wire_client_stats(cl, &cs);
    CHECK(cs.reconnects >= 1 && cs.sessions_seen >= 2);
    GroupStore st;
    WireGroup g = synth(&a, 0, &st);
    CHECK(wire_client_send_group(cl, &g, err, sizeof err) == 0);
    CoordGroup out;
    CHECK_EQ_INT(coord_take(d, &out, 1, 3.0), 1);
    if (out.group.n_responses) coord_group_free(&out);
    wire_assign_free(&a);
    // same endpoint, restarted in place: the coordinator answers "unknown_worker" and the client re-hellos
    char ep[256];
    snprintf(ep, sizeof ep, "%s", coord_endpoint(d));
    coord_free(d);
    CoordConfig cfg;
    coord_config_default(&cfg);
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "%s", ep);
    cfg.pub_endpoint[0] = 0;
    cfg.lease_s = 1.0;
    cfg.heartbeat_s = 0.1;
    cfg.quiet = 1;
    Coordinator *e = coord_create(&cfg, err, sizeof err);
    CHECK(coord_start(e, err, sizeof err) == 0);
    enqueue_n(e, 900, 1, 1);
    CHECK_EQ_INT(wire_client_next(cl, &a, 5.0), 1);
    CHECK(a.prompt_id == 900);
    wire_assign_free(&a);
    wire_client_close(cl, NULL);
    unlink(rdv);
    coord_free(e);
}

// Groups above WIRE_VIEW_MIN_BYTES are decoded in place: the accepted group owns the received
// message until coord_group_free (ASan checks the hand-over), and a rejected one still ends its lease
// (the message is intact for wire_peek_group_ids).
static void test_large_groups(void) {
    Coordinator *c = make_coord(5.0, 1, NULL);
    start(c);
    enqueue_n(c, 1000, 1, 2);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "big", 1);
    enum { NT = 4096 };   // 2 x 4096 x 12 bytes: ~98 KB
    int32_t *tok = mallocCheck(NT * sizeof *tok);
    float *lp = mallocCheck(NT * sizeof *lp), *ent = mallocCheck(NT * sizeof *ent);
    for (int i = 0; i < NT; i++) { tok[i] = i % 1000; lp[i] = -0.1f * (float)(i % 7); ent[i] = 0.5f; }
    for (int round = 0; round < 2; round++) {
        WireMsg a;
        CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 3.0));
        CHECK(a.u.assign.prompt_id == 1000);
        WireResponse rs[2];
        for (int i = 0; i < 2; i++) rs[i] = (WireResponse){NT - i, tok, lp, ent, 1.0f, 1, WIRE_FINISH_STOP, 1, 0, 0, 0.5f};
        WireMsg g = {.type = WIRE_GROUP};
        g.u.group.prompt_id = a.u.assign.prompt_id;
        g.u.group.lease_id = a.u.assign.lease_id;
        g.u.group.policy_version = a.u.assign.policy_version;
        snprintf(g.u.group.worker, sizeof g.u.group.worker, "big");
        g.u.group.n_responses = 2;
        g.u.group.responses = rs;
        if (round == 0) {   // one log-prob > 0 deep inside: rejected, lease ended, prompt re-queued to us
            lp[4000] = 0.25f;
            peer_send(&p, &g);
            lp[4000] = -0.5f;
            CoordCounters k;
            WAIT_FOR(c, k.bad[WIRE_BAD_VALUE] == 1 && k.requeued == 1, 3.0);
            CHECK_EQ_INT(k.bad[WIRE_BAD_VALUE], 1);
            CHECK_EQ_INT(k.requeued, 1);
        } else {
            peer_send(&p, &g);
            CoordGroup out;
            CHECK_EQ_INT(coord_take(c, &out, 1, 3.0), 1);
            CHECK(out.prompt_id == 1000 && out.group.n_responses == 2);
            if (out.group.n_responses == 2) {
                CHECK(out.group.backing_ != NULL && out.group.arena_ == NULL);   // decoded in place
                CHECK_EQ_INT(out.group.responses[1].n_tokens, NT - 1);
                CHECK(memcmp(out.group.responses[0].tokens, tok, sizeof(int32_t) * NT) == 0);
                CHECK(memcmp(out.group.responses[1].logprobs, lp, sizeof(float) * (NT - 1)) == 0);
                CHECK_NEAR(out.group.responses[0].entropies[NT - 1], 0.5, 0);
                coord_group_free(&out);
            }
        }
        wire_msg_free(&a);
    }
    free(tok); free(lp); free(ent);
    peer_close(&p);
    coord_free(c);
}

// Lease ids with incarnation 0 or sequence 0 were never issued, whatever their size: unknown_prompt
// (an error reply), not a silent "late".
static void test_never_issued_lease_ids(void) {
    Coordinator *c = make_coord(2.0, 1, NULL);
    start(c);
    enqueue_n(c, 900, 1, 1);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "liar", 1);
    WireMsg a;
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    uint64_t fakes[3] = {5, (uint64_t)a.u.assign.lease_id & ~COORD_TEST_SEQ_MASK, 12345};   // incarnation 0; sequence 0; incarnation 0
    GroupStore st;
    for (int i = 0; i < 3; i++) {
        WireMsg g = {.type = WIRE_GROUP};
        g.u.group = synth(&a.u.assign, 0, &st);
        g.u.group.lease_id = fakes[i];
        peer_send(&p, &g);
        WireMsg e;
        CHECK_MSG(peer_recv(&p, WIRE_ERROR, &e, 2.0) && strcmp(e.u.error.code, "unknown_prompt") == 0, "lease id %llu",
                  (unsigned long long)fakes[i]);
        if (e.type == WIRE_ERROR) wire_msg_free(&e);
    }
    CoordCounters k;
    WAIT_FOR(c, k.bad[WIRE_BAD_UNKNOWN_PROMPT] == 3, 2.0);
    CHECK_EQ_INT(k.late_dropped, 0);
    // the real lease is still held and completes
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&a.u.assign, 0, &st);
    peer_send(&p, &g);
    CoordGroup out;
    CHECK_EQ_INT(coord_take(c, &out, 1, 2.0), 1);
    coord_group_free(&out);
    wire_msg_free(&a);
    peer_close(&p);
    coord_free(c);
}

// A worker that goes silent with its connection open (hung, or its host gone without closing it)
// gives its leases back within COORD_MISSED_HEARTBEATS heartbeat intervals, not lease_s, and is no
// longer counted as connected.
static void test_dead_worker_bound(void) {
    CoordConfig cfg;
    test_config(&cfg, 60.0, 0);
    cfg.heartbeat_s = 0.2;
    Coordinator *c = create(&cfg);
    start(c);
    CHECK(coord_dead_after_s(&cfg) > 0.59 && coord_dead_after_s(&cfg) < 0.61);
    enqueue_n(c, 950, 4, 1);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "taker", 64);
    WireMsg a;
    for (int i = 0; i < 4; i++) { CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0)); wire_msg_free(&a); }
    CoordCounters k = counters(c);
    CHECK_EQ_INT(k.outstanding, 4);
    CHECK_EQ_INT(k.workers, 1);
    double t0 = now_seconds();
    // silent from here on, its connection still open (a hung process, a host gone without a FIN)
    WAIT_FOR(c, k.outstanding == 0 && k.workers == 0 && k.queued == 4, 5.0);
    double dt = now_seconds() - t0;
    CHECK_MSG(dt < 1.5, "the dead worker held its leases %.2f s (heartbeat 0.2 s, lease 60 s)", dt);
    CHECK_EQ_INT(k.workers_timed_out, 1);
    peer_close(&p);
    coord_free(c);
}

// A closed connection (a SIGKILLed process's sockets close with it) ends its worker's leases at once,
// through the ROUTER's socket monitor, long before dead_after_s; a worker on another connection stays.
static void test_closed_connection(void) {
    CoordConfig cfg;
    test_config(&cfg, 60.0, 0);
    cfg.heartbeat_s = 5.0;   // dead_after_s 15 s: only the disconnect notice can be this fast
    Coordinator *c = create(&cfg);
    start(c);
    enqueue_n(c, 990, 4, 1);
    Peer keep, gone;
    peer_open(&keep, coord_endpoint(c));
    peer_hello(&keep, "keeper", 1);
    WireMsg a;
    CHECK(peer_recv(&keep, WIRE_ASSIGN, &a, 2.0));
    wire_msg_free(&a);
    peer_open(&gone, coord_endpoint(c));
    peer_hello(&gone, "closer", 3);
    WireMsg last;
    CHECK(peer_recv(&gone, WIRE_ASSIGN, &last, 2.0));
    for (int i = 0; i < 2; i++) { CHECK(peer_recv(&gone, WIRE_ASSIGN, &a, 2.0)); wire_msg_free(&a); }
    CoordCounters k = counters(c);
    CHECK_EQ_INT(k.outstanding, 4);
    // its last group, sent right before the close, is still taken: the close is acted on after it
    GroupStore st;
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&last.u.assign, 0, &st);
    peer_send(&gone, &g);
    wire_msg_free(&last);
    double t0 = now_seconds();
    peer_close(&gone);
    WAIT_FOR(c, k.outstanding == 1 && k.workers == 1 && k.queued == 2 && k.groups_accepted == 1, 5.0);
    double dt = now_seconds() - t0;
    CHECK_MSG(dt < 2.0, "a closed connection held its leases %.2f s (dead_after_s 15 s)", dt);
    CHECK_EQ_INT(k.workers_timed_out, 0);
    CHECK_EQ_INT(k.workers_disconnected, 1);
    peer_close(&keep);
    coord_free(c);
}

// A group from weights newer than the coordinator's (it restarted from an older checkpoint): refused
// with unknown_version, the weights are re-published, and the worker gets no work until a heartbeat
// reports weights the coordinator knows; other workers take the prompt meanwhile.
static void test_newer_weights_paused(void) {
    Coordinator *c = make_coord(2.0, 0, NULL);
    start(c);
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    char err[256];
    CHECK(coord_publish_weights(c, 3, w, 8, err, sizeof err) == 0);
    enqueue_n(c, 970, 2, 1);
    Peer p;
    peer_open(&p, coord_endpoint(c));
    peer_hello(&p, "ahead", 1);
    WireMsg a;
    CHECK(peer_recv(&p, WIRE_ASSIGN, &a, 2.0));
    GroupStore st;
    WireMsg g = {.type = WIRE_GROUP};
    g.u.group = synth(&a.u.assign, 9, &st);   // sampled from version 9; the coordinator is at 3
    peer_send(&p, &g);
    WireMsg e;
    CHECK(peer_recv(&p, WIRE_ERROR, &e, 2.0) && strcmp(e.u.error.code, "unknown_version") == 0);
    wire_msg_free(&e);
    CoordCounters k;
    WAIT_FOR(c, k.weights_republished == 1, 2.0);
    WireMsg b;
    CHECK_MSG(!peer_recv(&p, WIRE_ASSIGN, &b, 0.5), "a paused worker got work");
    WireMsg hb = {.type = WIRE_HEARTBEAT};
    snprintf(hb.u.heartbeat.worker, sizeof hb.u.heartbeat.worker, "ahead");
    hb.u.heartbeat.policy_version = -1;   // no weights loaded yet: still paused
    peer_send(&p, &hb);
    CHECK(!peer_recv(&p, WIRE_ASSIGN, &b, 0.3));
    hb.u.heartbeat.policy_version = 3;
    peer_send(&p, &hb);
    CHECK(peer_recv(&p, WIRE_ASSIGN, &b, 2.0));
    g.u.group = synth(&b.u.assign, 3, &st);
    peer_send(&p, &g);
    CoordGroup out;
    CHECK_EQ_INT(coord_take(c, &out, 1, 2.0), 1);
    coord_group_free(&out);
    wire_msg_free(&a);
    wire_msg_free(&b);
    peer_close(&p);
    coord_free(c);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    test_never_issued_lease_ids();
    test_dead_worker_bound();
    test_closed_connection();
    test_newer_weights_paused();
    test_credits_and_flow();
    test_lease_expiry_late_and_heartbeat();
    test_max_lease();
    test_duplicates_and_staleness();
    test_bad_messages();
    test_sigkill_worker();
    test_save_restore();
    test_weights();
    test_curve();
    test_restart();
    test_large_groups();
    return tests_done();
}
