#include "proto/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

void wire_zmq_die_if(int failed, const char *what, const char *file, int line) {
    if (failed)
        rlvr_die(file, line, "%s failed: %s (hint: check the endpoint syntax, e.g. tcp://127.0.0.1:5555, and that libzmq is 4.3+)",
                 what, zmq_strerror(zmq_errno()));
}

void *wire_ctx_new(void) {
    void *ctx = zmq_ctx_new();
    if (!ctx) die("zmq_ctx_new failed: %s", zmq_strerror(zmq_errno()));
    return ctx;
}

void *wire_socket(void *ctx, int type, size_t max_msg_bytes, int linger_ms) {
    void *s = zmq_socket(ctx, type);
    if (!s) die("zmq_socket(type %d) failed: %s", type, zmq_strerror(zmq_errno()));
    zmqCheck(zmq_setsockopt(s, ZMQ_LINGER, &linger_ms, sizeof linger_ms));
    if (max_msg_bytes) {
        int64_t mx = (int64_t)max_msg_bytes;
        zmqCheck(zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &mx, sizeof mx));
    }
    if (type == ZMQ_ROUTER) {
        int one = 1;
        zmqCheck(zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one));
    }
    return s;
}

int wire_bind(void *sock, const char *endpoint, char *actual, size_t actual_len, char *err, size_t errlen) {
    if (zmq_bind(sock, endpoint) != 0)
        return rlvr_err(err, errlen, "cannot bind '%s': %s (hint: the port may be in use; use tcp://127.0.0.1:* for a free port)",
                        endpoint, zmq_strerror(zmq_errno()));
    if (actual && actual_len) {
        size_t n = actual_len;
        if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, actual, &n) != 0)
            return rlvr_err(err, errlen, "ZMQ_LAST_ENDPOINT after binding '%s': %s", endpoint, zmq_strerror(zmq_errno()));
    }
    return 0;
}

int wire_connect(void *sock, const char *endpoint, char *err, size_t errlen) {
    if (zmq_connect(sock, endpoint) != 0)
        return rlvr_err(err, errlen, "cannot connect to '%s': %s (hint: endpoints look like tcp://host:port or ipc:///path)",
                        endpoint, zmq_strerror(zmq_errno()));
    return 0;
}

static void free_hint(void *data, void *hint) {
    (void)hint;
    free(data);
}

int wire_send(void *sock, const void *ident, size_t ident_len, WireBuf *buf, int flags) {
    zmq_msg_t body;
    int rc = -1, saved = 0;
    if (ident) {
        if (zmq_send(sock, ident, ident_len, flags | ZMQ_SNDMORE) < 0) { saved = errno; goto out; }
    }
    if (zmq_msg_init_data(&body, buf->data, buf->len, free_hint, NULL) != 0) { saved = errno; goto out; }
    buf->data = NULL;   // owned by the message now (freed by zmq when sent, or by zmq_msg_close below)
    if (zmq_msg_send(&body, sock, flags) < 0) {
        saved = errno;
        zmq_msg_close(&body);
        goto out;
    }
    rc = 0;
out:
    if (buf->data) free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
    if (rc) errno = saved;
    return rc;
}

static void drain(void *sock, int *extra) {
    int more = 0;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) { zmq_msg_close(&m); break; }
        zmq_msg_close(&m);
        (*extra)++;
        sz = sizeof more;
    }
}

int wire_recv(void *sock, int has_ident, zmq_msg_t *ident, zmq_msg_t *body, int *extra_frames, int flags) {
    *extra_frames = 0;
    if (has_ident) {
        zmq_msg_init(ident);
        if (zmq_msg_recv(ident, sock, flags) < 0) { int e = errno; zmq_msg_close(ident); errno = e; return -1; }
        if (!zmq_msg_more(ident)) {
            // a ROUTER always prefixes the identity; a lone frame means the peer sent an empty message
            zmq_msg_init(body);
            *extra_frames = -1;
            return 0;
        }
    }
    zmq_msg_init(body);
    // the rest of a multipart message is already queued once its first frame arrived
    if (zmq_msg_recv(body, sock, has_ident ? 0 : flags) < 0) {
        int e = errno;
        zmq_msg_close(body);
        if (has_ident) zmq_msg_close(ident);
        errno = e;
        return -1;
    }
    if (zmq_msg_more(body)) drain(sock, extra_frames);
    return 0;
}

typedef struct { WireBacking b; zmq_msg_t msg; } MsgBacking;

static void msg_release(WireBacking *self) {
    MsgBacking *m = (MsgBacking *)self;
    zmq_msg_close(&m->msg);
    free(m);
}

WireBad wire_decode_zmq(zmq_msg_t *body, const WireLimits *lim, WireMsg *out, char *err, size_t errlen) {
    size_t len = zmq_msg_size(body);
    if (len < WIRE_VIEW_MIN_BYTES) return wire_decode(zmq_msg_data(body), len, lim, out, err, errlen);
    MsgBacking *m = mallocCheck(sizeof *m);
    m->b.release = msg_release;
    // move first, decode from the moved message: its data pointer is the one the views will use
    zmq_msg_init(&m->msg);
    zmqCheck(zmq_msg_move(&m->msg, body));
    int kept = 0;
    WireBad b = wire_decode_backed(zmq_msg_data(&m->msg), len, &m->b, &kept, lim, out, err, errlen);
    if (!kept) {
        zmqCheck(zmq_msg_move(body, &m->msg));   // the caller may still read it (e.g. wire_peek_group_ids)
        zmq_msg_close(&m->msg);
        free(m);
    }
    return b;
}

int wire_has_curve(void) { return zmq_has("curve"); }

int wire_curve_keypair(char public_key[41], char secret_key[41]) { return zmq_curve_keypair(public_key, secret_key); }

void wire_curve_server(void *sock, const char *secret_key) {
    int one = 1;
    zmqCheck(zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one));
    zmqCheck(zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_key, 40));
}

void wire_curve_client(void *sock, const char *server_public, const char *public_key, const char *secret_key) {
    zmqCheck(zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_public, 40));
    zmqCheck(zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, public_key, 40));
    zmqCheck(zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_key, 40));
}

// ZAP request frames (RFC 27): version, request id, domain, address, routing id, mechanism, then
// mechanism credentials (CURVE: the client's 32-byte public key).
int wire_zap_handle(void *zap_sock, const char (*allowed)[41], int n_allowed) {
    zmq_msg_t f[8];
    int n = 0, more = 1;
    while (more && n < 8) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], zap_sock, 0) < 0) { zmq_msg_close(&f[n]); break; }
        more = zmq_msg_more(&f[n]);
        n++;
    }
    while (more) {   // more frames than any valid request: drain
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, zap_sock, 0) < 0) { zmq_msg_close(&x); break; }
        more = zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    int ok = 0, malformed = n < 7;
    if (!malformed && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 && zmq_msg_size(&f[6]) == 32) {
        char z85[41];
        if (zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32)) {
            for (int i = 0; i < n_allowed && !ok; i++) ok = memcmp(z85, allowed[i], 40) == 0;
        }
    }
    // reply: version, request id, status code, status text, user id, metadata (request id echoed)
    const char *code = ok ? "200" : "400";
    const char *text = ok ? "OK" : "client key not allowed";
    zmq_send(zap_sock, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2) zmq_send(zap_sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else zmq_send(zap_sock, "", 0, ZMQ_SNDMORE);
    zmq_send(zap_sock, code, 3, ZMQ_SNDMORE);
    zmq_send(zap_sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap_sock, "", 0, ZMQ_SNDMORE);
    zmq_send(zap_sock, "", 0, 0);
    for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    return malformed ? -1 : ok;
}
