// Private state of the coordinator, shared by its files (not for use outside learner/coordinator/):
//   coordinator.c          the thread, its poll loop and the thread-safe API
//   coordinator_messages.c decoding and answering worker messages (hello, group, ...)
//   coordinator_leases.c   the prompt queue, leases, workers, dispatch and expiry
//   coordinator_weights.c  the weights broadcast on the PUB socket
//   coordinator_state.c    the checkpoint blob, counters as JSON, the rendezvous file
// Functions marked "mu held" expect the caller to hold Coordinator.mu.
#pragma once
#include <pthread.h>
#include <stdint.h>
#include <zmq.h>

#include "common/core/check.h"
#include "common/core/ring.h"
#include "common/core/u64map.h"
#include "learner/coordinator/coordinator.h"

// Lease id = incarnation << COORD_LEASE_SEQ_BITS | seq: ids from before a restore (an older
// incarnation) are told apart from ids never issued.
#define COORD_LEASE_SEQ_BITS 40
#define COORD_LEASE_SEQ_MASK ((1ull << COORD_LEASE_SEQ_BITS) - 1)
#define COORD_INCARNATION_MAX ((1ull << (64 - COORD_LEASE_SEQ_BITS)) - 1)
#define COORD_RETIRED_RING 65536   // retired lease ids remembered to tell duplicates from late results
#define COORD_IDENT_MAX 256        // longest ZeroMQ routing id kept for a worker
#define COORD_RATE_WINDOW_S 1.0    // window of the log and error-reply rate limits
#define COORD_NEVER (-1e30)        // a time long past: "not yet" for rate windows and republishes

enum { RETIRED_DONE = 1, RETIRED_REVOKED = 2 };   // values of Coordinator.retired (cast to pointers)
typedef enum { PUB_NOTHING = 0, PUB_CHUNKS = 1, PUB_PATH = 2 } PubKind;   // what the PUB socket last sent

typedef struct Prompt {
    uint64_t id, seed;
    int32_t n;
    int32_t *tokens;           // (n,)
    char *text, *answer;
    char verifier[WIRE_ID_LEN];
    int32_t G;
    WireSampling s;
    int32_t requeues;
} Prompt;

typedef struct Worker {
    uint8_t ident[COORD_IDENT_MAX];   // ZeroMQ routing id
    size_t ident_len;
    char name[WIRE_ID_LEN];
    int32_t credits, held;
    double last_seen;
    uint32_t caps;
    int64_t version;
    int send_blocked;          // hit the high-water mark during this dispatch round
    int dead;                  // peer gone (EHOSTUNREACH): removed after the dispatch round
    int paused;                // sent a group from weights newer than the current version: no work until
                               // its hello, or a heartbeat reporting a version <= current
    int fd;                    // the connection's socket (ZMQ_SRCFD of its last message), -1 unknown
    uint64_t fd_serial;        // which connection on that fd (Coordinator.fd_serial when it was seen)
    double err_t0;             // error-reply rate limit window
    int err_n;
} Worker;

typedef struct Lease {
    uint64_t id;
    Prompt *p;
    Worker *w;
    double t0;                 // dispatch time
    int64_t version;
} Lease;

struct Coordinator {
    CoordConfig cfg;
    char (*allowed)[41];
    char endpoint[WIRE_ENDPOINT_LEN], pub_endpoint[WIRE_ENDPOINT_LEN];
    uint64_t session;
    uint32_t incarnation;      // bumped by every restore (see COORD_LEASE_SEQ_BITS)
    uint64_t next_seq;

    pthread_mutex_t mu;        // everything below up to the thread section
    pthread_cond_t ready_cv;
    Ring queue;                // Prompt*, the prompts waiting for a worker, front first
    U64Map live;               // prompt id -> Prompt* / CoordGroup* for every prompt not yet taken
    U64Map leases;             // lease id -> Lease*
    U64Map retired;            // lease id -> RETIRED_* (cast to a pointer)
    uint64_t *ring;            // (COORD_RETIRED_RING,) retired ids in order, for eviction
    size_t ring_pos;
    Worker **workers;
    int n_workers, cap_workers, rr;
    Ring ready;                // CoordGroup, finished groups waiting for coord_take, oldest first
    int64_t version;
    CoordCounters k;
    int republish_want;
    double log_t0;
    int log_n;
    uint64_t log_suppressed;
    double unknown_err_t0;
    int unknown_err_n;

    // thread and sockets
    pthread_t th;
    int running;
    int stop;                  // atomic
    void *ctx, *router, *pub, *zap;
    void *mon;                 // PAIR receiving the ROUTER's socket-monitor events (accepted / disconnected)
    uint64_t *fd_serial;       // (n_fd_serial) per file descriptor: connections accepted on it so far
    size_t n_fd_serial;
    struct { int fd; uint64_t serial; } *closed;   // (n_closed) connections closed, applied once the
    size_t n_closed, cap_closed;                   // messages they sent before closing are all handled
    int wake[2];

    // weights (pub_mu also serialises every use of the PUB socket)
    pthread_mutex_t pub_mu;
    uint8_t *weights;          // (n_weights * 4 or 2,) little-endian float32 or bf16 (weights_dtype)
    size_t n_weights;
    WireDtype weights_dtype;
    uint32_t weights_crc;
    char *weights_path;
    uint64_t path_n_params;
    PubKind pub_kind;
    int64_t pub_version;       // -1 before the first publish
    double last_republish;
};

// coordinator.c
void coord_log(Coordinator *c, const char *fmt, ...) RLVR_PRINTF(2, 3);   // rate limited (cfg.log_per_s)
void coord_wake(Coordinator *c);                                          // interrupts the thread's poll

// coordinator_leases.c (mu held)
void coord_prompt_free(Prompt *p);
void coord_queue_push_back(Coordinator *c, Prompt *p);
void coord_queue_push_front(Coordinator *c, Prompt *p);
Prompt *coord_queue_pop_front(Coordinator *c);
int coord_lease_id_past(const Coordinator *c, uint64_t id);
void coord_lease_done(Coordinator *c, Lease *L);      // a result was accepted: retired, freed (not the prompt)
void coord_lease_revoke(Coordinator *c, Lease *L);    // the prompt goes back to the queue's front
void coord_revoke_worker_leases(Coordinator *c, Worker *w);
Worker *coord_worker_add(Coordinator *c, const void *ident, size_t len);
void coord_worker_remove(Coordinator *c, int idx, const char *why);
Worker *coord_worker_find(Coordinator *c, const void *ident, size_t len);
int coord_worker_index(Coordinator *c, const Worker *w);
void coord_dispatch(Coordinator *c, double now);      // hands queued prompts to workers with free credits
void coord_expire(Coordinator *c, double now);        // revokes silent leases, drops silent workers

// coordinator_messages.c (mu held)
int coord_send(Coordinator *c, const void *ident, size_t ident_len, const WireMsg *m);
void coord_handle(Coordinator *c, zmq_msg_t *id, zmq_msg_t *body, int extra, double now);
// A connection was accepted on / closed from fd (mu held). A closed one is remembered, and
// coord_apply_closed (called when the ROUTER has no message left) ends the leases of its worker.
void coord_connection_event(Coordinator *c, int accepted, int fd);
void coord_apply_closed(Coordinator *c);

// coordinator_weights.c
void coord_publish_locked(Coordinator *c);            // pub_mu held: (re)sends the current weights
void coord_republish(Coordinator *c, double now);     // a worker asked: resend, at most every republish_s
