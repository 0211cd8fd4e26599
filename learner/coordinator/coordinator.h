// The coordinator: hands prompts to rollout workers under leases, collects finished groups and
// publishes weights. A worker whose connection closes (the ROUTER's socket monitor tells), or that is
// silent for coord_dead_after_s (COORD_MISSED_HEARTBEATS heartbeat intervals, at most lease_s), is
// gone: its leases end at once and it is no longer counted. It runs as one thread inside learner rank 0 (no MPI calls) serving a ROUTER
// socket; the learner's main thread talks to it through the thread-safe calls below.
//
// Invariant: every enqueued prompt reaches coord_take exactly once. A prompt whose lease expires,
// whose worker says goodbye or vanishes, or whose group is too stale goes back to the front of the
// queue; any later result for the old lease is dropped and counted.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/config/config.h"
#include "proto/wire.h"

typedef struct {
    char endpoint[WIRE_ENDPOINT_LEN];      // ROUTER bind; "tcp://127.0.0.1:*" picks a free port
    char pub_endpoint[WIRE_ENDPOINT_LEN];  // PUB bind for weights; "" = no weights broadcast
    double lease_s;            // a lease expires after its worker is silent this long
    double heartbeat_s;        // interval told to workers (should be well below lease_s)
    double max_lease_s;        // hard lifetime of a lease even with heartbeats (0 = none)
    int64_t max_staleness;     // groups with policy_version < current - max_staleness are re-queued
    int32_t max_credits;       // cap on the credits one worker may ask for
    size_t chunk_bytes;        // weights chunk payload size
    int pub_hwm;               // PUB send high-water mark (messages)
    double republish_s;        // min interval between re-publishes of one version on request
    WireLimits lim;            // limits on received messages (ZMQ_MAXMSGSIZE = lim.max_msg_bytes)
    int curve;                 // 1: CurveZMQ on both sockets (needs curve_secret and allowed keys)
    char curve_public[41], curve_secret[41];
    const char (*allowed_keys)[41];  // client public keys (copied by coord_create)
    int n_allowed_keys;
    int32_t eos_token_id;      // told to workers in the welcome (-1: none)
    char tokenizer[WIRE_ID_LEN];   // ditto ("": not told)
    int log_per_s;             // at most this many bad-message log lines per second (rest summarised)
    int quiet;                 // 1: no informational logging (bad messages are still logged)
} CoordConfig;

// The config's coordinator keys (coordinator.*, rollout.max_staleness, rollout.credits) over fixed
// defaults for the rest; an endpoint's port 0 becomes ZeroMQ's any-free-port "*". The learner then
// sets the limits that depend on the model and the data (lim.vocab_size, lim.max_tokens, ...).
// -1 (err names the key) when an endpoint does not fit.
int coord_config_from_rlvr(const RlvrConfig *rc, CoordConfig *cfg, char *err, size_t errlen);
// coord_config_from_rlvr of the schema's defaults (config_defaults): free loopback ports, staleness 0, ...
void coord_config_default(CoordConfig *cfg);

typedef struct {
    uint64_t prompts_enqueued, assigned, groups_received, groups_accepted, groups_taken;
    uint64_t bad[WIRE_NBAD], bad_total;
    uint64_t duplicates_dropped, late_dropped, stale_dropped;
    uint64_t requeued, leases_expired, assign_send_failed;
    uint64_t workers_joined, workers_left, workers_timed_out, workers_disconnected;
    uint64_t weights_published, weights_republished, errors_received;
    uint64_t bytes_received;
    // gauges, at the time of the call
    uint64_t queued, outstanding, ready, workers;
} CoordCounters;

// One prompt as given to coord_enqueue (copied).
typedef struct {
    uint64_t id;               // unique among prompts not yet taken (e.g. epoch << 32 | index)
    int32_t n_tokens;
    const int32_t *tokens;     // (n_tokens,)
    const char *text;          // may be NULL
    const char *answer;        // gold answer / verifier argument
    const char *verifier;      // "math", "arith", ...
    int32_t group_size;        // G
    WireSampling sampling;
    uint64_t seed;
} CoordPrompt;

// A finished group as handed to the trainer: the worker's responses plus the prompt they answer.
typedef struct {
    WireGroup group;           // responses (owned)
    uint64_t prompt_id, seed;
    int32_t n_prompt;
    int32_t *prompt_tokens;    // (n_prompt,) owned
    char *text, *answer;       // owned
    char verifier[WIRE_ID_LEN];
    WireSampling sampling;
    int32_t requeues;          // how often this prompt went back to the queue before this result
    double latency_s;          // dispatch -> receipt of this lease
} CoordGroup;

typedef struct Coordinator Coordinator;

#define COORD_MISSED_HEARTBEATS 3   // heartbeat intervals of silence after which a worker counts as dead
// min(lease_s, COORD_MISSED_HEARTBEATS * heartbeat_s): the longest a dead worker holds its leases.
double coord_dead_after_s(const CoordConfig *cfg);

Coordinator *coord_create(const CoordConfig *cfg, char *err, size_t errlen);
int coord_start(Coordinator *c, char *err, size_t errlen);   // binds both sockets and starts the thread
void coord_stop(Coordinator *c);    // stops the thread and closes the sockets; state is kept
void coord_free(Coordinator *c);    // stops if running, frees everything (untaken groups included)

const char *coord_endpoint(const Coordinator *c);       // resolved after coord_start
const char *coord_pub_endpoint(const Coordinator *c);
uint64_t coord_session(const Coordinator *c);

// Adds a prompt at the back of the queue. -1 (err filled) if its id is already queued, leased or
// waiting to be taken, or if it fails the limits a worker would check.
int coord_enqueue(Coordinator *c, const CoordPrompt *p, char *err, size_t errlen);

// Moves up to max_n finished groups into out (oldest first), waiting up to timeout_s for the first.
// Returns how many; the caller frees each with coord_group_free.
int coord_take(Coordinator *c, CoordGroup *out, int max_n, double timeout_s);
void coord_group_free(CoordGroup *g);
// Puts a taken group's prompt back at the back of the queue as coord_enqueue would (same id, seed,
// verifier, sampling and group size; the responses are discarded) and frees the group either way.
// -1 (err) when coord_enqueue refuses it.
int coord_requeue(Coordinator *c, CoordGroup *g, char *err, size_t errlen);

void coord_set_policy_version(Coordinator *c, int64_t version);  // monotonic; older values ignored
int64_t coord_policy_version(Coordinator *c);

// Weights broadcast. Both also raise the policy version to `version`. The float buffer is copied
// (re-published on a worker's request) and sent as CRC-checked chunks; the path form announces an
// HDF5 snapshot on a shared filesystem. Return -1 (err) without a PUB socket.
int coord_publish_weights(Coordinator *c, int64_t version, const float *w, size_t n, char *err, size_t errlen);
// The same from a bf16 learner: n bf16 values (common/core/bf16.h), sent as dtype "bf16" (2 n bytes,
// CRC over them); workers widen them to fp32 (CPU) or load them as they are (GPU, bf16 mode).
int coord_publish_weights_bf16(Coordinator *c, int64_t version, const uint16_t *w, size_t n, char *err, size_t errlen);
int coord_publish_weights_path(Coordinator *c, int64_t version, const char *path, uint64_t n_params, char *err, size_t errlen);

void coord_counters(Coordinator *c, CoordCounters *out);
int coord_counters_json(Coordinator *c, char *buf, size_t len);   // one-line JSON object

// Checkpointing. The blob (msgpack, magic "RLVR-COORD" + format version) holds every prompt not yet
// taken (queued, leased, or finished but untaken), counters, ids and the policy version. Restore
// (before coord_start, into a coordinator with an empty queue) puts them all back in the queue: leases
// outstanding at save time are re-generated, and results for them are dropped as late.
int coord_save_state(Coordinator *c, uint8_t **blob, size_t *len);
int coord_restore_state(Coordinator *c, const uint8_t *blob, size_t len, char *err, size_t errlen);

// Writes the rendezvous file workers read: {"protocol":1,"endpoint":...,"pub_endpoint":...,"pid":...,
// "session":...,"server_key":...,"model":...} at once (file_write_atomic). 0.0.0.0 / * hosts are
// replaced by this host's name. model: a model file giving the architecture, or NULL (no "model").
int coord_write_rendezvous(Coordinator *c, const char *path, const char *model, char *err, size_t errlen);
