// ZeroMQ transport for wire messages: checked socket set-up, zero-copy sends of encoded buffers,
// multipart receives that count unexpected frames, CurveZMQ set-up and a ZAP handler for allowed keys.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "proto/wire.h"

// Dies with file:line, the zmq error and a hint when a set-up call fails (socket creation, options).
void wire_zmq_die_if(int failed, const char *what, const char *file, int line);
#define zmqCheck(expr) wire_zmq_die_if((expr) != 0, #expr, __FILE__, __LINE__)

void *wire_ctx_new(void);   // checked zmq_ctx_new

// A socket of `type` with LINGER = linger_ms and ZMQ_MAXMSGSIZE = max_msg_bytes (0: no limit).
// ROUTER sockets also get ROUTER_MANDATORY so sends to vanished peers fail with EHOSTUNREACH.
void *wire_socket(void *ctx, int type, size_t max_msg_bytes, int linger_ms);

// Binds (tcp://host:* picks a free port) and writes the resolved endpoint into actual.
int wire_bind(void *sock, const char *endpoint, char *actual, size_t actual_len, char *err, size_t errlen);
int wire_connect(void *sock, const char *endpoint, char *err, size_t errlen);

// Sends [ident] + buf->data as one message. The buffer's memory is handed to ZeroMQ (no copy) and
// *buf is left empty but reusable. Returns 0, or -1 with errno (EAGAIN at the high-water mark,
// EHOSTUNREACH for a ROUTER peer that is gone); buf is emptied either way.
int wire_send(void *sock, const void *ident, size_t ident_len, WireBuf *buf, int flags);

// Receives one message: for ROUTER sockets (has_ident) the identity frame into ident, then the body.
// Extra frames are drained and reported through *extra_frames (the caller counts them as bad).
// Returns 0, or -1 with errno (EAGAIN when nothing is waiting under ZMQ_DONTWAIT). Close body/ident
// with zmq_msg_close after a successful receive.
int wire_recv(void *sock, int has_ident, zmq_msg_t *ident, zmq_msg_t *body, int *extra_frames, int flags);

// wire_decode of a received body without copying a group's blobs (wire_decode_backed): when the
// decoded group points into the message, the message moves into the group (body is left empty, still
// to be closed) and wire_msg_free releases it. Otherwise, and on every failure, body is untouched.
// Bodies under WIRE_VIEW_MIN_BYTES are always copied: small messages may share a ZeroMQ receive
// buffer, which a view would keep alive.
#define WIRE_VIEW_MIN_BYTES 16384
WireBad wire_decode_zmq(zmq_msg_t *body, const WireLimits *lim, WireMsg *out, char *err, size_t errlen);

// CurveZMQ. Keys are 40-character Z85 strings.
int wire_has_curve(void);
int wire_curve_keypair(char public_key[41], char secret_key[41]);
void wire_curve_server(void *sock, const char *secret_key);
void wire_curve_client(void *sock, const char *server_public, const char *public_key, const char *secret_key);

// ZAP handler for CurveZMQ: answers one request waiting on zap_sock (a REP socket bound to
// inproc://zeromq.zap.01 in the same context), allowing only the listed client public keys.
// Returns 1 if the client was allowed, 0 if denied, -1 on a malformed request.
int wire_zap_handle(void *zap_sock, const char (*allowed)[41], int n_allowed);
