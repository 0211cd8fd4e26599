// The rollout worker loop: find the coordinator (endpoint or run-directory rendezvous file), say
// hello, take assignments within its credits, make sure the weights are recent enough, generate and
// score groups (rollout/rollout_gen.h), send them, and say goodbye when told to stop.
//
// Rounds: the oldest assignment and the compatible ones that fit the engine's slots are committed (and
// generated even if a stop comes); while they decode, every slot that frees up takes the next
// compatible pending assignment (newly arrived ones included: a group's slot is refilled at once), and
// each group is sent as soon as its samples are done. The round ends when nothing decodes; assignments
// with other sampling settings wait for the next round.
//
// Weights: the worker installs every newer version the coordinator announces (CRC-checked chunks or
// an HDF5 snapshot path) between rounds, never while one is being generated (a version that arrives
// mid-round stops new groups from starting; it is installed once the round drains), and records the
// version that produced each group. Before generating an assignment it needs weights no older than
// assignment.policy_version - max_staleness (from the welcome): with max_staleness 0 (on-policy) it
// waits for exactly the version the coordinator is on.
//
// Credits (prompt groups held at once): with --credits N, N. Otherwise the worker starts with
// rollout.credits' default and, once the first assignment tells it the group size G, asks for
// ceil(slots / G) + 1: enough groups to fill every engine slot plus one more queued, so the next
// batch is in hand when this one ends (capped by the welcome's max_credits, 4 x the learner's
// rollout.credits). With --max-batch 0 on a GPU the slots are counted once its engine exists, at the
// second round.
//
// Where the model architecture comes from (the broadcast carries only the float buffer): --model PATH,
// else a "model" key in the rendezvous file, else the first HDF5 snapshot the coordinator announces.
#pragma once
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config/config.h"
#include "rollout/rollout_gen.h"

typedef struct {
    char run_dir[1024];          // waits for run_dir/rendezvous.json ("" -> endpoint)
    char endpoint[WIRE_ENDPOINT_LEN];
    char id[WIRE_ID_LEN];        // "" -> host:pid
    char model[1024];            // architecture + fallback weights ("" -> see above)
    int64_t model_version;       // policy version assumed for --model weights (default 0)
    int credits;                 // leases held at once (prefetch); 0: derived, see below
    int threads;                 // OpenMP threads for the engine (0: leave OMP_NUM_THREADS alone)
    double status_interval;      // seconds between status lines on stderr (0: none)
    long max_prompts;            // stop after this many groups (0: no limit)
    double rendezvous_timeout;   // seconds to wait for the rendezvous file (0: forever)
    double weights_timeout;      // seconds to wait for a needed weights version before warning again
    double gen_delay;            // testing aid: sleep this long before each batch (simulates a slow model)
    int quiet;
    RolloutGenOpts gen;
    char stats_path[1024];       // write final stats JSON here ("" -> none)
} WorkerConfig;

void worker_config_default(WorkerConfig *c);   // derived credits, rollout.* defaults, status every 5 s, model_version 0
// The same with rollout.max_batch / device / precision / gpu_memory_fraction from a loaded config (the
// run's YAML: `rollout --config FILE [key=value ...]`), so a pool started with the learner's file
// generates the way that file says; command-line flags override it.
void worker_config_from(WorkerConfig *c, const RlvrConfig *rc);

typedef struct {
    RolloutTimers t;
    double wall_s;         // whole run
    double recv_s;         // waiting for assignments (idle or blocked on the coordinator)
    double send_s;         // encoding + queueing groups
    double weights_wait_s; // waiting for a weights version an assignment needs
    // The active window, from the start of the first generation to the last group sent (what
    // throughput and the time split are measured over: start-up, the first weights fetch and the idle
    // tail after the last group are left out).
    double active_s, active_recv_s, active_send_s, active_weights_wait_s;
    uint64_t groups_sent, groups_failed, weights_installed, rewinds;
    uint64_t groups_streamed;   // started in free slots while a round's earlier groups decoded
    int64_t policy_version;
    char stop_reason[64];
} WorkerStats;

// Runs until *stop becomes non-zero (signal handler), max_prompts groups are done, or a fatal error.
// On stop it finishes the groups in hand (no new one starts), sends them, and says goodbye (the coordinator re-queues any
// assignment not yet started). Returns 0, or -1 with err (no rendezvous, unusable model, ...).
int worker_run(const WorkerConfig *cfg, volatile sig_atomic_t *stop, WorkerStats *st, char *err, size_t errlen);

// One-line JSON of the stats (for logs, --stats and the benchmark).
int worker_stats_json(const WorkerStats *st, char *buf, size_t len);
