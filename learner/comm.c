// Gradient and weight communication of the learner ranks; see comm.h.
#include "learner/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/memplan.h"

#ifdef RLVR_CUDA
#include "common/engine/cuda/cuda_comm.h"
#include "common/engine/cuda/cuda_ops.h"
#endif

#define UUID_LEN 64   // bytes of a device UUID as text ("GPU-" + 36), padded

// memplan_zero_shard's equal blocks, of whole GRAD_SQNORM_BLOCKs: the planned buffer is padded to
// nranks x GRAD_SQNORM_BLOCK floats, so every shard starts on a norm block boundary and the shards'
// block sums are the whole buffer's (comm_grad_sqnorm). The padding is < nranks x 16 KiB.
static void shard_of(size_t n, int nranks, int r, size_t *off, size_t *len, size_t *block, size_t *cap) {
    const size_t R = nranks > 0 ? (size_t)nranks : 1, unit = R * GRAD_SQNORM_BLOCK;
    const size_t padded = (n + unit - 1) / unit * unit;
    memplan_zero_shard(padded, nranks, r, off, len, block, cap);
    *off = *off < n ? *off : n;
    *len = *off + *len < n ? *len : n - *off;
}

void comm_shard(size_t n, int nranks, int r, size_t *off, size_t *len) {
    size_t block = 0, cap = 0;
    shard_of(n, nranks, r, off, len, &block, &cap);
}

void comm_engine_range(int zero_stage, size_t n, const Dist *d, EngineOpts *o) {
    if (zero_stage == 0 || d->size == 1) {
        o->opt_off = 0;
        o->opt_len = n;
        o->capacity = n;
        return;
    }
    size_t block = 0, cap = 0;
    shard_of(n, d->size, d->rank, &o->opt_off, &o->opt_len, &block, &cap);
    o->capacity = cap;   // equal blocks for the device reduce-scatter; the padding stays zero
}

const char *comm_path_name(CommPath p) {
    return p == COMM_NCCL ? "NCCL" : p == COMM_HOST ? "MPI through host memory" : "MPI";
}

int comm_pick_device(const Dist *d, int *device, int *sharing, char *err, size_t errlen) {
    *device = 0;
    *sharing = 1;
#ifdef RLVR_CUDA
    int count = cuda_device_count();
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    if (count <= 0)
        return rlvr_err(err, errlen, "trainer.device = cuda but rank %d sees no CUDA device (CUDA_VISIBLE_DEVICES=%s; check "
                        "nvidia-smi, the job's GPU request, or set trainer.device=cpu)", d->rank, vis ? vis : "unset");
    *device = d->local_rank % count;
    *sharing = d->local_size / count + (*device < d->local_size % count ? 1 : 0);
    if (d->local_size > count && d->local_rank == 0)
        fprintf(stderr, "learner: warning: %d ranks on this node share %d visible GPU%s (CUDA_VISIBLE_DEVICES=%s): ranks on the "
                "same GPU exchange gradients through host memory (slower; one rank per GPU is the fast layout)\n",
                d->local_size, count, count > 1 ? "s" : "", vis ? vis : "unset");
    return 0;
#else
    (void)d;
    return rlvr_err(err, errlen, "trainer.device = cuda but this build has no CUDA backend; rebuild with "
                    "launch/build.sh build -DRLVR_CUDA=ON (docs/cuda.md), or set trainer.device=cpu");
#endif
}

int comm_init(Comm *c, const Dist *d, int zero_stage, const Engine *e, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->d = d;
    c->zero_stage = d->size > 1 ? zero_stage : 0;
    c->n = e->m->num_params;
    size_t off = 0, len = 0;
    shard_of(c->n, d->size, d->rank, &off, &len, &c->block, &c->capacity);
    c->off = c->zero_stage ? off : 0;
    c->len = c->zero_stage ? len : c->n;
    if (c->off != e->o.opt_off || c->len != e->o.opt_len)
        return rlvr_err(err, errlen, "comm: the engine's optimizer range [%zu, %zu) is not this rank's shard [%zu, %zu)",
                        e->o.opt_off, e->o.opt_off + e->o.opt_len, c->off, c->off + c->len);
    c->path = COMM_MPI;
    if (!engine_on_device(e) || d->size == 1) return 0;
#ifdef RLVR_CUDA
    // NCCL refuses two ranks on one device: compare the devices' UUIDs first
    char mine[UUID_LEN];
    memset(mine, 0, sizeof mine);
    cuda_device_uuid(mine, sizeof mine);
    char *all = callocCheck((size_t)d->size, UUID_LEN);
    dist_allgather_bytes(mine, UUID_LEN, all);
    int shared = 0;
    for (int i = 0; i < d->size && !shared; i++)
        for (int j = i + 1; j < d->size; j++)
            if (!memcmp(all + (size_t)i * UUID_LEN, all + (size_t)j * UUID_LEN, UUID_LEN)) { shared = 1; break; }
    free(all);
    if (shared) {
        c->path = COMM_HOST;
        size_t elem = 0;
        engine_weights(e, &elem);
        c->host_grads = mallocCheck(c->n * sizeof(float));
        c->host_w = mallocCheck(c->n * elem);
        if (d->rank == 0)
            fprintf(stderr, "learner: warning: two or more ranks share one GPU (same device UUID), which NCCL does not "
                    "support: gradients and weights go through host memory with MPI (slower; give each rank its own GPU)\n");
        return 0;
    }
    unsigned char id[CUDA_COMM_ID_BYTES];
    memset(id, 0, sizeof id);
    if (d->rank == 0) cuda_comm_unique_id(id);
    dist_bcast_from(id, sizeof id, 0);
    c->nccl = cuda_comm_init(id, d->size, d->rank);
    c->path = COMM_NCCL;
    return 0;
#else
    return rlvr_err(err, errlen, "comm: a device engine in a build without CUDA");
#endif
}

void comm_free(Comm *c) {
#ifdef RLVR_CUDA
    if (c->nccl) cuda_comm_free((CudaComm *)c->nccl);
#endif
    free(c->host_grads);
    free(c->host_w);
    memset(c, 0, sizeof *c);
}

// ---- the MPI collectives on host buffers (the CPU engine, and the device engine's host fallback) ----

static void host_reduce(const Comm *c, float *g) {
    if (c->zero_stage == 0) { dist_allreduce_sum_f32(g, c->n); return; }
    // reduce-scatter as one reduce per owner: every rank's block summed into its owner
    for (int r = 0; r < c->d->size; r++) {
        size_t off = 0, len = 0;
        comm_shard(c->n, c->d->size, r, &off, &len);
        if (len > 0) dist_reduce_sum_f32(g + off, len, r);
    }
}

static void host_gather(const Comm *c, unsigned char *w, size_t elem) {
    for (int r = 0; r < c->d->size; r++) {
        size_t off = 0, len = 0;
        comm_shard(c->n, c->d->size, r, &off, &len);
        if (len > 0) dist_bcast_from(w + off * elem, len * elem, r);
    }
}

void comm_bcast_weights(Comm *c, Engine *e) {
    if (c->d->size == 1 || c->path == COMM_MPI) return;   // CPU ranks build the same model from the same seed / file
#ifdef RLVR_CUDA
    size_t elem = 0;
    void *w = engine_weights(e, &elem);
    if (c->path == COMM_NCCL) {
        cuda_comm_bcast((CudaComm *)c->nccl, w, c->n, elem == 2 ? CUDA_COMM_BF16 : CUDA_COMM_F32, 0);
    } else {
        cuda_download(c->host_w, w, c->n * elem);
        dist_bcast_from(c->host_w, c->n * elem, 0);
        cuda_upload(w, c->host_w, c->n * elem);
    }
#else
    (void)e;
#endif
}

void comm_reduce_grads(Comm *c, Engine *e) {
    if (c->d->size == 1) return;
    float *g = engine_grads(e);
    if (c->path == COMM_MPI) { host_reduce(c, g); return; }
#ifdef RLVR_CUDA
    if (c->path == COMM_NCCL) {
        CudaComm *nc = (CudaComm *)c->nccl;
        if (c->zero_stage == 0) cuda_comm_allreduce_sum(nc, g, c->n, CUDA_COMM_F32);
        else cuda_comm_reduce_scatter_sum(nc, g, g + (size_t)c->d->rank * c->block, c->block, CUDA_COMM_F32);
        return;
    }
    cuda_download(c->host_grads, g, c->n * sizeof(float));
    host_reduce(c, c->host_grads);
    cuda_upload(g + c->off, c->host_grads + c->off, c->len * sizeof(float));
#endif
}

// CPU engine: the norm blocks of the shards, gathered and added in order, are exactly grad_sqnorm of
// the whole buffer (stage 0's norm).
static double host_sqnorm(const Comm *c, const Engine *e) {
    if (c->zero_stage == 0) return engine_grad_sqnorm(e, 0, c->n);
    const size_t per = c->block / GRAD_SQNORM_BLOCK, R = (size_t)c->d->size;
    double *mine = callocCheck(per, sizeof(double));   // an empty or short last shard adds zeros
    double *all = mallocCheck(per * R * sizeof(double));
    if (c->len > 0) grad_sqnorm_blocks(engine_grads(e) + c->off, c->len, mine);
    dist_allgather_bytes(mine, per * sizeof(double), all);
    double s = 0.0;
    for (size_t i = 0; i < per * R; i++) s += all[i];
    free(mine); free(all);
    return s;
}

double comm_grad_sqnorm(Comm *c, Engine *e) {
    if (!engine_on_device(e)) return host_sqnorm(c, e);
    const int R = c->d->size;
    double *part = mallocCheck((size_t)R * sizeof(double));
    if (c->zero_stage == 0) {
        for (int r = 0; r < R; r++) {
            size_t off = 0, len = 0;
            comm_shard(c->n, R, r, &off, &len);
            part[r] = len > 0 ? engine_grad_sqnorm(e, off, len) : 0.0;
        }
    } else {
        double mine = c->len > 0 ? engine_grad_sqnorm(e, c->off, c->len) : 0.0;
        dist_allgather_bytes(&mine, sizeof mine, part);
    }
    // device: the shards' sums in rank order, on every rank and in both stages
    double s = 0.0;
    for (int r = 0; r < R; r++) s += part[r];
    free(part);
    return s;
}

void comm_gather_weights(Comm *c, Engine *e) {
    if (c->zero_stage == 0 || c->d->size == 1) return;
    size_t elem = 0;
    void *w = engine_weights(e, &elem);
    if (c->path == COMM_MPI) { host_gather(c, w, elem); return; }
#ifdef RLVR_CUDA
    if (c->path == COMM_NCCL) {
        CudaCommType t = elem == 2 ? CUDA_COMM_BF16 : CUDA_COMM_F32;
        // one broadcast per owner: the weights buffer holds n elements, not the padded capacity
        for (int r = 0; r < c->d->size; r++) {
            size_t off = 0, len = 0;
            comm_shard(c->n, c->d->size, r, &off, &len);
            if (len > 0) cuda_comm_bcast((CudaComm *)c->nccl, (unsigned char *)w + off * elem, len, t, r);
        }
        return;
    }
    cuda_download(c->host_w + c->off * elem, (unsigned char *)w + c->off * elem, c->len * elem);
    host_gather(c, c->host_w, elem);
    cuda_upload(w, c->host_w, c->n * elem);
#endif
}

void comm_gather_state(Comm *c, Engine *e) {
    engine_state_to_host(e);
    if (c->zero_stage == 0 || c->d->size == 1) return;
    Model *m = e->m;
    for (int r = 1; r < c->d->size; r++) {
        size_t off = 0, len = 0;
        comm_shard(c->n, c->d->size, r, &off, &len);
        if (len == 0) continue;
        dist_move_f32(m->adam_m + off, len, r, 0);
        dist_move_f32(m->adam_v + off, len, r, 0);
        if (e->o.bf16) dist_move_f32(m->params + off, len, r, 0);   // the exact fp32 masters live on their owner
    }
}
