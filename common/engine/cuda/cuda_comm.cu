// NCCL between learner ranks: thin checked wrappers. See cuda_comm.h.
#include <limits.h>
#include <nccl.h>
#include <string.h>

#include "common/engine/cuda/cuda_common.cuh"

extern "C" {
#include "common/engine/cuda/cuda_comm.h"
}

static_assert(sizeof(ncclUniqueId) == CUDA_COMM_ID_BYTES, "CUDA_COMM_ID_BYTES must be sizeof(ncclUniqueId)");

// Elements per NCCL call: counts beyond INT_MAX have tripped NCCL versions and proxies, so long buffers
// go in slices of at most this many elements.
#define COMM_SLICE ((size_t)1 << 30)

struct CudaComm {
    ncclComm_t comm;
    int nranks, rank;
};

static const char *nccl_hint(ncclResult_t r) {
    switch (r) {
    case ncclInvalidUsage:
        return "NCCL refuses two ranks on one GPU (check CUDA_VISIBLE_DEVICES / the local-rank device choice); "
               "set NCCL_DEBUG=INFO for details";
    case ncclSystemError:
    case ncclRemoteError:
        return "a peer or the network failed (a rank died, or the interfaces differ): set NCCL_DEBUG=INFO and check "
               "NCCL_SOCKET_IFNAME";
    case ncclUnhandledCudaError:
        return "a CUDA call inside NCCL failed (out of memory?): set NCCL_DEBUG=INFO";
    default:
        return "set NCCL_DEBUG=INFO for details";
    }
}

static void nccl_check_(ncclResult_t r, const char *what, const char *file, int line) {
    if (r != ncclSuccess && r != ncclInProgress)
        rlvr_die(file, line, "NCCL call %s failed: %s (%d); %s", what, ncclGetErrorString(r), (int)r, nccl_hint(r));
}
#define ncclCheck(call) nccl_check_((call), #call, __FILE__, __LINE__)

static ncclDataType_t nccl_type(CudaCommType t) { return t == CUDA_COMM_BF16 ? ncclBfloat16 : ncclFloat32; }
static size_t type_bytes(CudaCommType t) { return t == CUDA_COMM_BF16 ? 2 : 4; }

extern "C" void cuda_comm_unique_id(unsigned char *id) {
    ncclUniqueId u;
    ncclCheck(ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof(u));
}

extern "C" CudaComm *cuda_comm_init(const unsigned char *id, int nranks, int rank) {
    if (nranks < 1 || rank < 0 || rank >= nranks) die("cuda_comm_init: rank %d of %d ranks is invalid", rank, nranks);
    ncclUniqueId u;
    memcpy(&u, id, sizeof(u));
    CudaComm *c = (CudaComm *)mallocCheck(sizeof(CudaComm));
    c->nranks = nranks;
    c->rank = rank;
    ncclCheck(ncclCommInitRank(&c->comm, nranks, u, rank));
    return c;
}

extern "C" void cuda_comm_free(CudaComm *c) {
    if (!c) return;
    ncclCheck(ncclCommDestroy(c->comm));
    free(c);
}

extern "C" void cuda_comm_allreduce_sum(CudaComm *c, void *buf, size_t count, CudaCommType t) {
    const size_t eb = type_bytes(t);
    ncclCheck(ncclGroupStart());
    for (size_t i = 0; i < count; i += COMM_SLICE) {
        const size_t k = count - i < COMM_SLICE ? count - i : COMM_SLICE;
        char *p = (char *)buf + i * eb;
        ncclCheck(ncclAllReduce(p, p, k, nccl_type(t), ncclSum, c->comm, 0));
    }
    ncclCheck(ncclGroupEnd());
}

extern "C" void cuda_comm_bcast(CudaComm *c, void *buf, size_t count, CudaCommType t, int root) {
    if (root < 0 || root >= c->nranks) die("cuda_comm_bcast: root %d outside the %d ranks", root, c->nranks);
    const size_t eb = type_bytes(t);
    ncclCheck(ncclGroupStart());
    for (size_t i = 0; i < count; i += COMM_SLICE) {
        const size_t k = count - i < COMM_SLICE ? count - i : COMM_SLICE;
        char *p = (char *)buf + i * eb;
        ncclCheck(ncclBroadcast(p, p, k, nccl_type(t), root, c->comm, 0));
    }
    ncclCheck(ncclGroupEnd());
}

// A block of count elements per rank. One call when the block fits a slice; otherwise each rank's block
// is reduced to (gathered from) its owner in slices inside one group, which is the same collective.
extern "C" void cuda_comm_reduce_scatter_sum(CudaComm *c, const void *send, void *recv, size_t count, CudaCommType t) {
    const size_t eb = type_bytes(t);
    if (count <= COMM_SLICE) {
        ncclCheck(ncclReduceScatter(send, recv, count, nccl_type(t), ncclSum, c->comm, 0));
        return;
    }
    ncclCheck(ncclGroupStart());
    for (int r = 0; r < c->nranks; r++)
        for (size_t i = 0; i < count; i += COMM_SLICE) {
            const size_t k = count - i < COMM_SLICE ? count - i : COMM_SLICE;
            const char *s = (const char *)send + ((size_t)r * count + i) * eb;
            char *d = (char *)recv + i * eb;
            ncclCheck(ncclReduce(s, r == c->rank ? (void *)d : NULL, k, nccl_type(t), ncclSum, r, c->comm, 0));
        }
    ncclCheck(ncclGroupEnd());
}

extern "C" void cuda_comm_all_gather(CudaComm *c, const void *send, void *recv, size_t count, CudaCommType t) {
    const size_t eb = type_bytes(t);
    if (count <= COMM_SLICE) {
        ncclCheck(ncclAllGather(send, recv, count, nccl_type(t), c->comm, 0));
        return;
    }
    ncclCheck(ncclGroupStart());
    for (int r = 0; r < c->nranks; r++)
        for (size_t i = 0; i < count; i += COMM_SLICE) {
            const size_t k = count - i < COMM_SLICE ? count - i : COMM_SLICE;
            char *d = (char *)recv + ((size_t)r * count + i) * eb;
            const char *s = r == c->rank ? (const char *)send + i * eb : d;
            ncclCheck(ncclBroadcast(s, d, k, nccl_type(t), r, c->comm, 0));
        }
    ncclCheck(ncclGroupEnd());
}
