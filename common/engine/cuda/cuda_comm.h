// NCCL between learner ranks, one GPU each. The communicator is bootstrapped through MPI by the caller
// (rank 0 makes the unique id, MPI broadcasts its CUDA_COMM_ID_BYTES bytes, every rank calls
// cuda_comm_init), so this layer needs no MPI. All calls are on the default stream, in-place where
// NCCL allows, and die with file:line, the NCCL reason and a hint on failure.
//
// NCCL refuses two ranks on one GPU: the learner detects that (cuda_device_uuid on every rank) and
// then moves the buffers through host memory with MPI instead (learner/dist.h), with a warning.
//
// Plain C; the functions exist only when RLVR_CUDA is defined.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_COMM_ID_BYTES 128   // sizeof(ncclUniqueId)

typedef enum { CUDA_COMM_F32 = 0, CUDA_COMM_BF16 = 1 } CudaCommType;
typedef struct CudaComm CudaComm;

// Rank 0 only: a fresh NCCL unique id into id (CUDA_COMM_ID_BYTES bytes).
void cuda_comm_unique_id(unsigned char *id);
// Collective over nranks ranks, each on its current device (cuda_set_device first).
CudaComm *cuda_comm_init(const unsigned char *id, int nranks, int rank);
void cuda_comm_free(CudaComm *c);
// In-place sum of count elements of buf (device) over all ranks.
void cuda_comm_allreduce_sum(CudaComm *c, void *buf, size_t count, CudaCommType t);
// send (device, count * nranks elements) summed over ranks; this rank's block of count elements to recv.
void cuda_comm_reduce_scatter_sum(CudaComm *c, const void *send, void *recv, size_t count, CudaCommType t);
// Each rank's count elements of send gathered, rank order, into recv (count * nranks elements).
// send may be recv + rank * count (in place).
void cuda_comm_all_gather(CudaComm *c, const void *send, void *recv, size_t count, CudaCommType t);
void cuda_comm_bcast(CudaComm *c, void *buf, size_t count, CudaCommType t, int root);

#ifdef __cplusplus
}
#endif
