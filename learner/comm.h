// Gradient and weight communication between the learner ranks, for both stages of trainer.zero_stage:
//
//   stage 0  every rank: all-reduce of the whole gradient buffer, AdamW on all parameters.
//   stage 1  (ZeRO-1) reduce-scatter: rank r gets the summed gradients of its shard (memplan_zero_shard:
//            equal blocks of `block` floats, rank order), AdamW on its shard only, then every shard's new
//            weights go to every rank (an all-gather, as one broadcast per owner).
//
// Shards are memplan_zero_shard's equal blocks, made of whole GRAD_SQNORM_BLOCKs (common/engine/optim.h).
// The global gradient norm is the same sum in both stages: on the CPU the 4096-float block sums of
// grad_sqnorm added in block order (stage 1 gathers its shards' block sums), on the device the shards'
// squared norms added in rank order (stage 0 computes them locally). So on the CPU, with two ranks,
// where the reduced gradients are a + b in both stages, the parameters, the Adam state and the norms
// of the two stages are bit-identical (tests/test_zero.py).
//
// Paths: COMM_MPI (CPU engine, host buffers), COMM_NCCL (CUDA engine, device buffers; communicator
// bootstrapped through MPI), COMM_HOST (CUDA engine when two ranks share one GPU, which NCCL refuses:
// the buffers go through host memory with MPI; a warning says so).
#pragma once
#include <stddef.h>

#include "learner/dist.h"
#include "learner/engine.h"

typedef enum { COMM_MPI = 0, COMM_NCCL = 1, COMM_HOST = 2 } CommPath;

typedef struct {
    const Dist *d;
    int zero_stage;
    size_t n;                 // parameters
    size_t block, capacity;   // shard block (floats) and block * ranks
    size_t off, len;          // this rank's optimizer range ([0, n) in stage 0)
    CommPath path;
    void *nccl;               // CudaComm *, COMM_NCCL
    float *host_grads;        // COMM_HOST: (n) staging
    unsigned char *host_w;    // COMM_HOST: (n * weight element bytes) staging
} Comm;

// Rank r's block of n parameters over nranks ranks (memplan_zero_shard).
void comm_shard(size_t n, int nranks, int r, size_t *off, size_t *len);
// The engine options' optimizer range and gradient capacity for this rank and stage.
void comm_engine_range(int zero_stage, size_t n, const Dist *d, EngineOpts *o);
// cuda: this rank's device (local rank modulo the devices visible; a warning when a node has more ranks
// than devices) and how many ranks of the node use it (*sharing). 0, or -1 with err (no device, or a
// build without CUDA).
int comm_pick_device(const Dist *d, int *device, int *sharing, char *err, size_t errlen);

// After engine_init. Picks the path (the CUDA engine compares device UUIDs across ranks) and, for NCCL,
// makes the communicator. 0, or -1 with err.
int comm_init(Comm *c, const Dist *d, int zero_stage, const Engine *e, char *err, size_t errlen);
void comm_free(Comm *c);
const char *comm_path_name(CommPath p);

// Rank 0's compute weights to every rank (start of a CUDA run; the CPU ranks build identical models).
void comm_bcast_weights(Comm *c, Engine *e);
// Sums the gradients over the ranks: all of them (stage 0), this rank's shard (stage 1).
void comm_reduce_grads(Comm *c, Engine *e);
// Squared global norm of the summed gradients (after comm_reduce_grads), the same on every rank.
double comm_grad_sqnorm(Comm *c, Engine *e);
// Stage 1: every shard's updated weights to every rank (after engine_adamw on the shards).
void comm_gather_weights(Comm *c, Engine *e);
// Rank 0's host Model gets the whole training state (parameters, Adam m / v of every shard; bf16
// masters of every shard) for a checkpoint. Every rank calls it.
void comm_gather_state(Comm *c, Engine *e);
