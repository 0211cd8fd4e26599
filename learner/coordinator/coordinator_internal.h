// Private state of the coordinator, shared by coordinator.c (thread + API) and coordinator_state.c
// (checkpoint blob, rendezvous file, counters JSON). Not for use outside learner/coordinator*.c.
#pragma once
#include <pthread.h>
#include <stdint.h>

#include "learner/coordinator/coordinator.h"

// u64 -> pointer hash map (open addressing, linear probing, tombstones).
typedef struct { uint64_t *keys; void **vals; uint8_t *st; size_t cap, n, used; } U64Map;
void u64map_init(U64Map *m);
void u64map_free(U64Map *m);
void *u64map_get(const U64Map *m, uint64_t k);
void u64map_put(U64Map *m, uint64_t k, void *v);
void *u64map_del(U64Map *m, uint64_t k);

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
    uint8_t ident[256];        // ZeroMQ routing id
    size_t ident_len;
    char name[WIRE_ID_LEN];
    int32_t credits, held;
    double last_seen;
    uint32_t caps;
    int64_t version;
    int send_blocked;          // hit the high-water mark during this dispatch round
    int dead;                  // peer gone (EHOSTUNREACH): removed after the dispatch round
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

#define COORD_RETIRED_RING 65536   // retired lease ids remembered to tell duplicates from late results
enum { RETIRED_DONE = 1, RETIRED_REVOKED = 2 };

struct Coordinator {
    CoordConfig cfg;
    char (*allowed)[41];
    char endpoint[WIRE_ENDPOINT_LEN], pub_endpoint[WIRE_ENDPOINT_LEN];
    uint64_t session;
    uint32_t incarnation;      // lease id = incarnation << 40 | seq; bumped by every restore
    uint64_t next_seq;

    pthread_mutex_t mu;        // everything below up to the thread section
    pthread_cond_t ready_cv;
    Prompt **q;                // FIFO ring of queued prompts
    size_t q_head, q_n, q_cap;
    U64Map live;               // prompt id -> Prompt* / CoordGroup* for every prompt not yet taken
    U64Map leases;             // lease id -> Lease*
    U64Map retired;            // lease id -> RETIRED_* (cast to a pointer)
    uint64_t *ring;            // (COORD_RETIRED_RING,) retired ids in order, for eviction
    size_t ring_pos;
    Worker **workers;
    int n_workers, cap_workers, rr;
    CoordGroup *ready;         // FIFO ring of finished groups
    size_t r_head, r_n, r_cap;
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
    int wake[2];

    // weights (pub_mu also serialises every use of the PUB socket)
    pthread_mutex_t pub_mu;
    uint8_t *weights;          // (n_weights * 4,) little-endian float32
    size_t n_weights;
    uint32_t weights_crc;
    char *weights_path;
    uint64_t path_n_params;
    int pub_kind;              // 0 nothing published, 1 chunks, 2 HDF5 path
    int64_t pub_version;       // -1 before the first publish
    double last_republish;
};

void coord_prompt_free(Prompt *p);
void coord_queue_push_back(Coordinator *c, Prompt *p);
