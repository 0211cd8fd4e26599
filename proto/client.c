// Worker client: an I/O thread owns the DEALER (and SUB) sockets; API calls exchange messages with
// it through a mutex-protected outbox / inbox and a wake-up pipe.
#include "proto/client.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/core/check.h"
#include "proto/transport.h"

typedef struct { int64_t version; uint8_t *buf; uint64_t total, got_bytes; uint32_t n_chunks, n_got, crc; uint8_t *got; double t_last; WireDtype dtype; } Assembly;

struct WireClient {
    WireClientConfig cfg;
    pthread_t th;
    int stop;                      // atomic
    int wake[2];
    void *ctx, *dealer, *sub;
    char endpoint[WIRE_ENDPOINT_LEN], pub_connected[WIRE_ENDPOINT_LEN];
    struct timespec rdv_mtime;
    double rdv_checked;

    pthread_mutex_t mu;            // everything below
    pthread_cond_t cv;
    WireBuf *out; size_t out_n, out_cap;      // outbox (encoded messages)
    WireAssign *in; size_t in_head, in_n, in_cap;
    int closed;
    WireWelcome welcome;
    int have_welcome;
    int32_t credits;
    int64_t policy_version;
    int32_t held;
    double hb_due, last_hello;
    int hb_now;
    WireClientStats st;
    // weights
    Assembly as;
    int64_t want_version;          // newest version the coordinator announced
    double last_wreq;
    int ready_kind;                // 0 none, 1 data, 2 path
    int64_t ready_version, taken_version;
    uint8_t *ready_buf; uint64_t ready_bytes; WireDtype ready_dtype;
    char *ready_path; uint64_t ready_nparams;
    uint8_t *taken_buf; char *taken_path;
};

static double wall(void) { return now_seconds(); }

void wire_client_config_default(WireClientConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->software, sizeof cfg->software, "rlvr-c/%d", WIRE_PROTOCOL_VERSION);
    cfg->caps = WIRE_CAP_ENTROPIES | WIRE_CAP_WEIGHTS_CHUNKS | WIRE_CAP_WEIGHTS_HDF5;
    cfg->credits = 4;
    cfg->subscribe_weights = 1;
    cfg->weights_retry_s = 2.0;
    cfg->max_weights_bytes = (uint64_t)1 << 30;
    wire_limits_default(&cfg->lim);
}

int wire_rendezvous_read(const char *path, WireRendezvous *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return rlvr_err(err, errlen, "rendezvous '%s': %s (line %d) (hint: is the learner running with this run directory?)", path, je.text, je.line);
    int rc = 0;
    json_t *proto = json_object_get(j, "protocol"), *ep = json_object_get(j, "endpoint"), *pub = json_object_get(j, "pub_endpoint");
    json_t *pid = json_object_get(j, "pid"), *ses = json_object_get(j, "session"), *key = json_object_get(j, "server_key");
    if (!json_is_object(j) || !json_is_string(ep) || strlen(json_string_value(ep)) >= sizeof r->endpoint) {
        rc = rlvr_err(err, errlen, "rendezvous '%s': key 'endpoint' missing or not a string", path);
    } else if (proto && (!json_is_integer(proto) || json_integer_value(proto) != WIRE_PROTOCOL_VERSION)) {
        rc = rlvr_err(err, errlen, "rendezvous '%s': key 'protocol' is not %d (hint: learner and worker builds differ)", path, WIRE_PROTOCOL_VERSION);
    } else if ((pub && (!json_is_string(pub) || strlen(json_string_value(pub)) >= sizeof r->pub_endpoint)) ||
               (key && (!json_is_string(key) || strlen(json_string_value(key)) != 40)) ||
               (ses && (!json_is_string(ses) || strlen(json_string_value(ses)) >= sizeof r->session))) {
        rc = rlvr_err(err, errlen, "rendezvous '%s': 'pub_endpoint', 'session' or 'server_key' malformed", path);
    } else {
        r->protocol = WIRE_PROTOCOL_VERSION;
        snprintf(r->endpoint, sizeof r->endpoint, "%s", json_string_value(ep));
        if (pub) snprintf(r->pub_endpoint, sizeof r->pub_endpoint, "%s", json_string_value(pub));
        if (json_is_integer(pid)) r->pid = json_integer_value(pid);
        if (ses) snprintf(r->session, sizeof r->session, "%s", json_string_value(ses));
        if (key) snprintf(r->server_key, sizeof r->server_key, "%s", json_string_value(key));
    }
    json_decref(j);
    return rc;
}

// ---- outbox --------------------------------------------------------------------------------------
static void wake(WireClient *c) {
    char b = 1;
    ssize_t r = write(c->wake[1], &b, 1);
    (void)r;
}

static void push_locked(WireClient *c, const WireMsg *m) {
    if (c->out_n == c->out_cap) {
        c->out_cap = c->out_cap ? c->out_cap * 2 : 16;
        c->out = reallocCheck(c->out, c->out_cap * sizeof *c->out);
    }
    WireBuf *b = &c->out[c->out_n++];
    wire_buf_init(b, 256);
    wire_encode(m, b);
}

static void push(WireClient *c, const WireMsg *m) {
    pthread_mutex_lock(&c->mu);
    push_locked(c, m);
    pthread_mutex_unlock(&c->mu);
    wake(c);
}

static void push_hello_locked(WireClient *c) {
    WireMsg m = {.type = WIRE_HELLO};
    snprintf(m.u.hello.worker, sizeof m.u.hello.worker, "%s", c->cfg.worker_id);
    snprintf(m.u.hello.software, sizeof m.u.hello.software, "%s", c->cfg.software);
    m.u.hello.caps = c->cfg.caps;
    m.u.hello.pid = getpid();
    push_locked(c, &m);
    WireMsg r = {.type = WIRE_REQUEST};
    r.u.request.credits = c->credits;
    push_locked(c, &r);
    c->held = 0;
    c->st.hellos++;
    c->last_hello = wall();
}

// ---- sockets -------------------------------------------------------------------------------------
static int open_dealer(WireClient *c, char *err, size_t errlen) {
    c->dealer = wire_socket(c->ctx, ZMQ_DEALER, c->cfg.lim.max_msg_bytes, 1000);
    int ivl = 100;
    zmqCheck(zmq_setsockopt(c->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl));
    if (c->cfg.curve_server_key[0]) {
        if (strlen(c->cfg.curve_public) != 40 || strlen(c->cfg.curve_secret) != 40)
            return rlvr_err(err, errlen, "client: the coordinator uses CurveZMQ; set curve_public and curve_secret (40-char Z85)");
        wire_curve_client(c->dealer, c->cfg.curve_server_key, c->cfg.curve_public, c->cfg.curve_secret);
    }
    return wire_connect(c->dealer, c->endpoint, err, errlen);
}

static void open_sub(WireClient *c, const char *ep) {
    if (!c->cfg.subscribe_weights || !ep[0] || strcmp(ep, c->pub_connected) == 0) return;
    if (c->sub) zmq_close(c->sub);
    c->sub = wire_socket(c->ctx, ZMQ_SUB, c->cfg.lim.max_chunk_bytes + 4096, 0);
    int hwm = 0;   // a version's chunks must not be dropped on the receiving side
    zmqCheck(zmq_setsockopt(c->sub, ZMQ_RCVHWM, &hwm, sizeof hwm));
    zmqCheck(zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, "", 0));
    if (c->cfg.curve_server_key[0]) wire_curve_client(c->sub, c->cfg.curve_server_key, c->cfg.curve_public, c->cfg.curve_secret);
    char err[256];
    if (wire_connect(c->sub, ep, err, sizeof err) != 0) {
        if (!c->cfg.quiet) fprintf(stderr, "client: %s\n", err);
        zmq_close(c->sub);
        c->sub = NULL;
        return;
    }
    snprintf(c->pub_connected, sizeof c->pub_connected, "%s", ep);
}

// A changed rendezvous file means a restarted learner, possibly on other ports.
static void check_rendezvous(WireClient *c, double now) {
    if (!c->cfg.rendezvous[0] || now - c->rdv_checked < 1.0) return;
    c->rdv_checked = now;
    struct stat sb;
    if (stat(c->cfg.rendezvous, &sb) != 0) return;
    if (sb.st_mtim.tv_sec == c->rdv_mtime.tv_sec && sb.st_mtim.tv_nsec == c->rdv_mtime.tv_nsec) return;
    WireRendezvous r;
    char err[256];
    if (wire_rendezvous_read(c->cfg.rendezvous, &r, err, sizeof err) != 0) return;   // half-written: next time
    c->rdv_mtime = sb.st_mtim;
    if (strcmp(r.endpoint, c->endpoint) != 0) {
        if (!c->cfg.quiet) fprintf(stderr, "client: coordinator moved to %s; reconnecting\n", r.endpoint);
        zmq_close(c->dealer);
        snprintf(c->endpoint, sizeof c->endpoint, "%s", r.endpoint);
        if (r.server_key[0]) snprintf(c->cfg.curve_server_key, sizeof c->cfg.curve_server_key, "%s", r.server_key);
        if (open_dealer(c, err, sizeof err) != 0) {
            if (!c->cfg.quiet) fprintf(stderr, "client: %s\n", err);
            return;
        }
        pthread_mutex_lock(&c->mu);
        c->st.reconnects++;
        push_hello_locked(c);
        pthread_mutex_unlock(&c->mu);
    }
    if (r.pub_endpoint[0] && !c->cfg.pub_endpoint[0]) open_sub(c, r.pub_endpoint);
}

// ---- weights assembly (mu held) --------------------------------------------------------------------
static void asm_reset(Assembly *a) {
    free(a->buf); free(a->got);
    memset(a, 0, sizeof *a);
    a->version = -1;
}

static void on_chunk(WireClient *c, const WireWeightsChunk *ch, double now) {
    Assembly *a = &c->as;
    int64_t have = c->ready_kind ? c->ready_version : c->taken_version;
    if (ch->version <= have) return;
    if (ch->version > c->want_version) c->want_version = ch->version;
    if (a->version != ch->version || a->total != ch->total_bytes || a->n_chunks != ch->n_chunks || a->crc != ch->crc32 || a->dtype != ch->dtype) {
        if (ch->total_bytes > c->cfg.max_weights_bytes) {
            c->st.bad_msgs++;
            if (!c->cfg.quiet) fprintf(stderr, "client: weights version %lld is %llu bytes, over max_weights_bytes; ignored\n", (long long)ch->version, (unsigned long long)ch->total_bytes);
            return;
        }
        asm_reset(a);
        a->version = ch->version;
        a->total = ch->total_bytes;
        a->n_chunks = ch->n_chunks;
        a->crc = ch->crc32;
        a->dtype = ch->dtype;
        a->buf = mallocCheck(a->total);
        a->got = callocCheck(a->n_chunks, 1);
    }
    a->t_last = now;
    if (a->got[ch->index]) return;
    a->got[ch->index] = 1;
    a->n_got++;
    a->got_bytes += ch->len;
    memcpy(a->buf + ch->offset, ch->data, ch->len);
    if (a->n_got < a->n_chunks) return;
    if (a->got_bytes != a->total || wire_crc32(0, a->buf, a->total) != a->crc) {
        c->st.weights_bad_crc++;
        if (!c->cfg.quiet) fprintf(stderr, "client: weights version %lld failed its CRC-32 check; discarded, asking again\n", (long long)a->version);
        asm_reset(a);
        c->last_wreq = 0;
        return;
    }
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    for (uint64_t i = 0; a->dtype == WIRE_DTYPE_F32 && i < a->total / 4; i++) {
        float f;
        wire_le_load_f32(&f, a->buf + 4 * i, 1);
        memcpy(a->buf + 4 * i, &f, 4);
    }
    for (uint64_t i = 0; a->dtype == WIRE_DTYPE_BF16 && i < a->total / 2; i++) {
        uint16_t h;
        wire_le_load_u16(&h, a->buf + 2 * i, 1);
        memcpy(a->buf + 2 * i, &h, 2);
    }
#endif
    free(c->ready_buf); free(c->ready_path);
    c->ready_path = NULL;
    c->ready_buf = a->buf;
    c->ready_bytes = a->total;
    c->ready_dtype = a->dtype;
    a->buf = NULL;
    c->ready_kind = 1;
    c->ready_version = a->version;
    c->st.weights_complete++;
    asm_reset(a);
    pthread_cond_broadcast(&c->cv);
}

static void on_path(WireClient *c, const WireWeightsPath *p) {
    int64_t have = c->ready_kind ? c->ready_version : c->taken_version;
    if (p->version <= have) return;
    if (p->version > c->want_version) c->want_version = p->version;
    free(c->ready_buf); free(c->ready_path);
    c->ready_buf = NULL;
    c->ready_path = strdupCheck(p->path);
    c->ready_nparams = p->n_params;
    c->ready_kind = 2;
    c->ready_version = p->version;
    c->st.weights_complete++;
    pthread_cond_broadcast(&c->cv);
}

// ---- I/O thread ----------------------------------------------------------------------------------
static void on_dealer_msg(WireClient *c, const void *data, size_t len, double now) {
    WireMsg m;
    char err[256];
    WireBad why = wire_decode(data, len, &c->cfg.lim, &m, err, sizeof err);
    pthread_mutex_lock(&c->mu);
    if (why != WIRE_OK) {
        c->st.bad_msgs++;
        pthread_mutex_unlock(&c->mu);
        if (!c->cfg.quiet) fprintf(stderr, "client: dropped bad message from the coordinator: %s\n", err);
        return;
    }
    switch (m.type) {
    case WIRE_WELCOME:
        if (!c->have_welcome || c->welcome.session != m.u.welcome.session) c->st.sessions_seen++;
        c->welcome = m.u.welcome;
        c->have_welcome = 1;
        if (m.u.welcome.weights_version > c->want_version) c->want_version = m.u.welcome.weights_version;
        pthread_cond_broadcast(&c->cv);
        break;
    case WIRE_ASSIGN:
        if (c->in_n == c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 16;
            WireAssign *in = mallocCheck(cap * sizeof *in);
            for (size_t i = 0; i < c->in_n; i++) in[i] = c->in[(c->in_head + i) % c->in_cap];
            free(c->in);
            c->in = in; c->in_cap = cap; c->in_head = 0;
        }
        c->in[(c->in_head + c->in_n) % c->in_cap] = m.u.assign;
        c->in_n++;
        memset(&m, 0, sizeof m);   // ownership moved to the inbox
        c->held++;
        c->st.assigns++;
        pthread_cond_broadcast(&c->cv);
        break;
    case WIRE_ERROR:
        c->st.errors_received++;
        if (strcmp(m.u.error.code, "unknown_worker") == 0) {
            if (now - c->last_hello > 0.5) push_hello_locked(c);   // the coordinator restarted
        } else if (!c->cfg.quiet) {
            fprintf(stderr, "client: coordinator error %s: %s\n", m.u.error.code, m.u.error.message ? m.u.error.message : "");
        }
        break;
    default:
        c->st.bad_msgs++;
    }
    pthread_mutex_unlock(&c->mu);
    wire_msg_free(&m);
}

static void *client_main(void *arg) {
    WireClient *c = arg;
    while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        zmq_pollitem_t items[3] = {{NULL, c->wake[0], ZMQ_POLLIN, 0}, {c->dealer, 0, ZMQ_POLLIN, 0}, {c->sub, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, c->sub ? 3 : 2, 20);
        if (rc < 0 && zmq_errno() == ETERM) break;
        double now = wall();
        if (items[0].revents & ZMQ_POLLIN) {
            char b[64];
            while (read(c->wake[0], b, sizeof b) > 0) {}
        }
        for (int i = 0; i < 256 && (items[1].revents & ZMQ_POLLIN); i++) {
            zmq_msg_t id, body;
            int extra;
            if (wire_recv(c->dealer, 0, &id, &body, &extra, ZMQ_DONTWAIT) != 0) break;
            if (extra == 0) on_dealer_msg(c, zmq_msg_data(&body), zmq_msg_size(&body), now);
            zmq_msg_close(&body);
        }
        for (int i = 0; c->sub && i < 256 && (items[2].revents & ZMQ_POLLIN); i++) {
            zmq_msg_t id, body;
            int extra;
            if (wire_recv(c->sub, 0, &id, &body, &extra, ZMQ_DONTWAIT) != 0) break;
            WireMsg m;
            char err[256];
            WireBad why = extra ? WIRE_BAD_FRAMES : wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), &c->cfg.lim, &m, err, sizeof err);
            pthread_mutex_lock(&c->mu);
            if (why != WIRE_OK) c->st.bad_msgs++;
            else if (m.type == WIRE_WEIGHTS_CHUNK) on_chunk(c, &m.u.chunk, now);
            else if (m.type == WIRE_WEIGHTS_PATH) on_path(c, &m.u.path);
            else c->st.bad_msgs++;
            pthread_mutex_unlock(&c->mu);
            if (why == WIRE_OK) wire_msg_free(&m);
            zmq_msg_close(&body);
        }
        check_rendezvous(c, now);
        pthread_mutex_lock(&c->mu);
        if (c->have_welcome && c->sub == NULL && c->cfg.subscribe_weights && !c->cfg.pub_endpoint[0]) {
            char ep[WIRE_ENDPOINT_LEN];
            snprintf(ep, sizeof ep, "%s", c->welcome.pub_endpoint);
            pthread_mutex_unlock(&c->mu);
            open_sub(c, ep);
            pthread_mutex_lock(&c->mu);
            c->last_wreq = now;   // give the fresh subscription a moment before asking for a re-publish
        }
        double hb = c->cfg.heartbeat_s > 0 ? c->cfg.heartbeat_s : (c->have_welcome ? c->welcome.heartbeat_s : 1.0);
        if (c->hb_due > now + hb) c->hb_due = now + hb;   // the welcome may shorten the interval
        if (c->hb_now || now >= c->hb_due) {
            c->hb_now = 0;
            c->hb_due = now + hb;
            WireMsg m = {.type = WIRE_HEARTBEAT};
            snprintf(m.u.heartbeat.worker, sizeof m.u.heartbeat.worker, "%s", c->cfg.worker_id);
            m.u.heartbeat.policy_version = c->policy_version;
            m.u.heartbeat.n_held = c->held > 0 ? c->held : 0;
            push_locked(c, &m);
        }
        int64_t have = c->ready_kind ? c->ready_version : c->taken_version;
        if (c->sub && c->want_version > have && now - c->last_wreq >= c->cfg.weights_retry_s &&
            (c->as.version < 0 || now - c->as.t_last > c->cfg.weights_retry_s)) {
            c->last_wreq = now;
            WireMsg m = {.type = WIRE_WEIGHTS_REQUEST};
            m.u.weights_request.have_version = have;
            push_locked(c, &m);
            c->st.weights_requests++;
        }
        // send the outbox; at the high-water mark keep the rest for the next round
        size_t sent = 0;
        while (sent < c->out_n) {
            // wire_send gives the buffer away even when it fails, so ask first whether it would block
            int ev = 0;
            size_t evlen = sizeof ev;
            if (zmq_getsockopt(c->dealer, ZMQ_EVENTS, &ev, &evlen) != 0 || !(ev & ZMQ_POLLOUT)) break;
            if (wire_send(c->dealer, NULL, 0, &c->out[sent], ZMQ_DONTWAIT) != 0 && !c->cfg.quiet)
                fprintf(stderr, "client: send failed: %s\n", zmq_strerror(errno));
            sent++;
        }
        if (sent) {
            memmove(c->out, c->out + sent, (c->out_n - sent) * sizeof *c->out);
            c->out_n -= sent;
            pthread_cond_broadcast(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

// ---- API -----------------------------------------------------------------------------------------
WireClient *wire_client_open(const WireClientConfig *cfg, char *err, size_t errlen) {
    WireClient *c = callocCheck(1, sizeof *c);
    c->cfg = *cfg;
    if (!c->cfg.worker_id[0]) {
        char host[128] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(c->cfg.worker_id, sizeof c->cfg.worker_id, "%.50s:%d", host, (int)getpid());
    }
    if (cfg->endpoint[0]) {
        snprintf(c->endpoint, sizeof c->endpoint, "%s", cfg->endpoint);
    } else if (cfg->rendezvous[0]) {
        WireRendezvous r;
        if (wire_rendezvous_read(cfg->rendezvous, &r, err, errlen) != 0) { free(c); return NULL; }
        snprintf(c->endpoint, sizeof c->endpoint, "%s", r.endpoint);
        if (!c->cfg.curve_server_key[0] && r.server_key[0]) snprintf(c->cfg.curve_server_key, sizeof c->cfg.curve_server_key, "%s", r.server_key);
        struct stat sb;
        if (stat(cfg->rendezvous, &sb) == 0) c->rdv_mtime = sb.st_mtim;
    } else {
        rlvr_err(err, errlen, "client: set endpoint or rendezvous (the learner writes <run_dir>/rendezvous.json)");
        free(c);
        return NULL;
    }
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) { rlvr_err(err, errlen, "client: pipe2: %s", strerror(errno)); free(c); return NULL; }
    c->ctx = wire_ctx_new();
    if (open_dealer(c, err, errlen) != 0) {
        if (c->dealer) zmq_close(c->dealer);
        zmq_ctx_term(c->ctx);
        close(c->wake[0]); close(c->wake[1]);
        free(c);
        return NULL;
    }
    if (cfg->pub_endpoint[0]) open_sub(c, cfg->pub_endpoint);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->credits = cfg->credits;
    c->policy_version = -1;
    c->as.version = -1;
    c->want_version = -1;
    c->ready_version = c->taken_version = -1;
    c->hb_due = wall();
    c->rdv_checked = wall();
    push_hello_locked(c);
    if (pthread_create(&c->th, NULL, client_main, c) != 0) die("client: pthread_create failed");
    return c;
}

int wire_client_next(WireClient *c, WireAssign *out, double timeout_s) {
    double end = wall() + timeout_s;
    pthread_mutex_lock(&c->mu);
    while (!c->in_n && !c->closed) {
        double left = end - wall();
        if (left <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = ts.tv_sec + ts.tv_nsec * 1e-9 + (left < 0.05 ? left : 0.05);
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    int rc = 0;
    if (c->in_n) {
        *out = c->in[c->in_head];
        c->in_head = (c->in_head + 1) % c->in_cap;
        c->in_n--;
        rc = 1;
    } else if (c->closed) {
        rc = -1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int wire_client_send_group(WireClient *c, const WireGroup *g, char *err, size_t errlen) {
    WireMsg m = {.type = WIRE_GROUP};
    m.u.group = *g;
    snprintf(m.u.group.worker, sizeof m.u.group.worker, "%s", c->cfg.worker_id);
    if (wire_validate(&m, &c->cfg.lim, err, errlen) != WIRE_OK) return -1;
    WireBuf b;
    wire_buf_init(&b, 1024);
    wire_encode(&m, &b);
    pthread_mutex_lock(&c->mu);
    if (c->out_n == c->out_cap) {
        c->out_cap = c->out_cap ? c->out_cap * 2 : 16;
        c->out = reallocCheck(c->out, c->out_cap * sizeof *c->out);
    }
    c->out[c->out_n++] = b;
    c->held--;
    c->st.groups_sent++;
    pthread_mutex_unlock(&c->mu);
    wake(c);
    return 0;
}

int wire_client_set_credits(WireClient *c, int32_t credits) {
    WireMsg m = {.type = WIRE_REQUEST};
    m.u.request.credits = credits;
    pthread_mutex_lock(&c->mu);
    c->credits = credits;
    push_locked(c, &m);
    pthread_mutex_unlock(&c->mu);
    wake(c);
    return 0;
}

void wire_client_set_policy_version(WireClient *c, int64_t version) {
    pthread_mutex_lock(&c->mu);
    c->policy_version = version;
    pthread_mutex_unlock(&c->mu);
}

int wire_client_heartbeat(WireClient *c) {
    pthread_mutex_lock(&c->mu);
    c->hb_now = 1;
    pthread_mutex_unlock(&c->mu);
    wake(c);
    return 0;
}

int wire_client_send_error(WireClient *c, const char *code, const char *message, uint64_t prompt_id) {
    WireMsg m = {.type = WIRE_ERROR};
    snprintf(m.u.error.code, sizeof m.u.error.code, "%s", code);
    m.u.error.message = (char *)message;
    m.u.error.prompt_id = prompt_id;
    push(c, &m);
    return 0;
}

int wire_client_weights(WireClient *c, WireWeights *out, double timeout_s) {
    double end = wall() + timeout_s;
    pthread_mutex_lock(&c->mu);
    while (!c->ready_kind && !c->closed) {
        double left = end - wall();
        if (left <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = ts.tv_sec + ts.tv_nsec * 1e-9 + (left < 0.05 ? left : 0.05);
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    int rc = 0;
    if (c->ready_kind) {
        free(c->taken_buf); free(c->taken_path);
        c->taken_buf = c->ready_buf;
        c->taken_path = c->ready_path;
        memset(out, 0, sizeof *out);
        out->version = c->ready_version;
        if (c->ready_kind == 1) {
            out->n = c->ready_bytes / wire_dtype_bytes(c->ready_dtype);
            if (c->ready_dtype == WIRE_DTYPE_BF16) out->bf16 = (const uint16_t *)c->taken_buf;
            else out->data = (const float *)c->taken_buf;
        } else {
            out->path = c->taken_path;
            out->n_params = c->ready_nparams;
        }
        c->taken_version = c->ready_version;
        c->ready_buf = NULL;
        c->ready_path = NULL;
        c->ready_kind = 0;
        rc = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int wire_client_welcome(WireClient *c, WireWelcome *out) {
    pthread_mutex_lock(&c->mu);
    int have = c->have_welcome;
    if (have) *out = c->welcome;
    pthread_mutex_unlock(&c->mu);
    return have;
}

void wire_client_stats(WireClient *c, WireClientStats *out) {
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}

void wire_client_close(WireClient *c, const char *reason) {
    if (!c) return;
    WireMsg m = {.type = WIRE_GOODBYE};
    snprintf(m.u.goodbye.worker, sizeof m.u.goodbye.worker, "%s", c->cfg.worker_id);
    snprintf(m.u.goodbye.reason, sizeof m.u.goodbye.reason, "%s", reason ? reason : "");
    push(c, &m);
    double end = wall() + 1.0;
    pthread_mutex_lock(&c->mu);
    while (c->out_n && wall() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    c->closed = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    wake(c);
    pthread_join(c->th, NULL);
    zmq_close(c->dealer);
    if (c->sub) zmq_close(c->sub);
    zmq_ctx_term(c->ctx);
    close(c->wake[0]); close(c->wake[1]);
    for (size_t i = 0; i < c->out_n; i++) wire_buf_free(&c->out[i]);
    free(c->out);
    for (size_t i = 0; i < c->in_n; i++) wire_assign_free(&c->in[(c->in_head + i) % c->in_cap]);
    free(c->in);
    asm_reset(&c->as);
    free(c->ready_buf); free(c->ready_path); free(c->taken_buf); free(c->taken_path);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
