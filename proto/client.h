// Worker-side client of the coordinator protocol. A background I/O thread owns the sockets, so
// heartbeats keep flowing while the worker spends minutes generating; the calls below are
// thread-safe and never block on the network except where a timeout is given.
//
//   WireClientConfig cfg; wire_client_config_default(&cfg);
//   snprintf(cfg.rendezvous, sizeof cfg.rendezvous, "%s/rendezvous.json", run_dir);
//   WireClient *cl = wire_client_open(&cfg, err, sizeof err);
//   WireAssign a;
//   while (wire_client_next(cl, &a, 1.0) >= 0) { ...generate G responses...; wire_client_send_group(cl, &g); wire_assign_free(&a); }
//   wire_client_close(cl, "done");
//
// Reconnection: ZeroMQ reconnects the socket by itself; when the coordinator answers
// "unknown_worker" (it restarted) the client says hello again and re-sends its credits. When the
// rendezvous file changes (a restarted learner bound a new port) the client reconnects to the new
// endpoints. Leases from before a coordinator restart are void (the coordinator re-queued them).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

// The rendezvous file the learner writes into its run directory (JSON, see docs/protocol.md):
// {"protocol": 1, "endpoint": "tcp://host:5555", "pub_endpoint": "tcp://host:5556", "pid": 1234,
//  "session": "0123456789abcdef", "server_key": "<Z85, only with CurveZMQ>"}
typedef struct {
    int protocol;
    char endpoint[WIRE_ENDPOINT_LEN], pub_endpoint[WIRE_ENDPOINT_LEN];
    int64_t pid;
    char session[24];
    char server_key[41];
} WireRendezvous;

int wire_rendezvous_read(const char *path, WireRendezvous *r, char *err, size_t errlen);

typedef struct {
    char endpoint[WIRE_ENDPOINT_LEN];      // coordinator ROUTER; "" -> read from rendezvous
    char rendezvous[1024];                 // rendezvous file path ("" -> endpoint must be set)
    char pub_endpoint[WIRE_ENDPOINT_LEN];  // "" -> from the welcome / rendezvous
    char worker_id[WIRE_ID_LEN];           // "" -> "<hostname>:<pid>"
    char software[WIRE_ID_LEN];
    uint32_t caps;                         // WIRE_CAP_*
    int32_t credits;                       // leases to hold at once
    int subscribe_weights;                 // 1: receive weights over PUB/SUB
    double heartbeat_s;                    // 0 -> the coordinator's value from the welcome
    double weights_retry_s;                // re-request a missed weights version after this long
    uint64_t max_weights_bytes;            // refuse weight versions larger than this
    WireLimits lim;                        // limits on what the coordinator sends
    char curve_server_key[41];             // set (or server_key in the rendezvous) -> CurveZMQ
    char curve_public[41], curve_secret[41];
    int quiet;
} WireClientConfig;

void wire_client_config_default(WireClientConfig *cfg);   // 4 credits, weights on, 1 GiB weights max

typedef struct WireClient WireClient;

typedef struct {
    uint64_t assigns, groups_sent, errors_received, hellos, sessions_seen, reconnects;
    uint64_t weights_complete, weights_bad_crc, weights_requests, bad_msgs;
} WireClientStats;

// A complete, CRC-verified weights version (data when it came as f32, bf16 when it came as bf16; n
// values, host byte order) or an HDF5 snapshot announcement (path).
// Pointers stay valid until the next wire_client_weights call or wire_client_close.
typedef struct {
    int64_t version;
    const float *data;
    size_t n;
    const char *path;
    uint64_t n_params;
    const uint16_t *bf16;
} WireWeights;

WireClient *wire_client_open(const WireClientConfig *cfg, char *err, size_t errlen);   // sends hello + credits

// Next assignment: 1 (caller owns *out; free with wire_assign_free), 0 on timeout, -1 once closed.
int wire_client_next(WireClient *c, WireAssign *out, double timeout_s);

// Queues a finished group (worker id filled in from the config). 0, or -1 if it fails wire_validate
// against cfg.lim (err says why) — a message the coordinator would drop is not sent.
int wire_client_send_group(WireClient *c, const WireGroup *g, char *err, size_t errlen);

int wire_client_set_credits(WireClient *c, int32_t credits);
void wire_client_set_policy_version(WireClient *c, int64_t version);   // reported in heartbeats
int wire_client_heartbeat(WireClient *c);                             // send one now
int wire_client_send_error(WireClient *c, const char *code, const char *message, uint64_t prompt_id);

// Waits up to timeout_s for a weights version newer than the last one returned: 1 (out filled), 0.
int wire_client_weights(WireClient *c, WireWeights *out, double timeout_s);

int wire_client_welcome(WireClient *c, WireWelcome *out);   // 1 once a welcome arrived (latest one)
void wire_client_stats(WireClient *c, WireClientStats *out);

// Sends goodbye (reason may be NULL), flushes for up to one second, stops the thread, frees.
void wire_client_close(WireClient *c, const char *reason);
