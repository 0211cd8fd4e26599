// MPI wrappers for the learner ranks. Every MPI call goes through MPI_CHECK, which names file:line
// and the MPI error string before aborting the job (a failed collective leaves the ranks out of step,
// so there is nothing to recover).
//
// Waiting ranks poll (MPI_I* + MPI_Test + a short sleep) instead of blocking: Open MPI's blocking
// collectives spin a core at 100%, and on a small machine that core belongs to the rollout workers
// rank 0 is waiting for.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

void dist_check_fail(int rc, const char *what, const char *file, int line);
#define MPI_CHECK(call) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) dist_check_fail(rc_, #call, __FILE__, __LINE__); } while (0)

typedef struct {
    int rank, size;
    int local_rank, local_size;   // this rank among the ranks of its node (MPI_COMM_TYPE_SHARED)
    int initialized_here;   // 1: dist_init called MPI_Init_thread (so dist_finalize finalizes)
} Dist;

// MPI_Init_thread with MPI_THREAD_FUNNELED (only the main thread calls MPI; the coordinator thread
// never does). Errors are returned to us (MPI_ERRORS_RETURN) so MPI_CHECK can name the call.
void dist_init(Dist *d, int *argc, char ***argv);
void dist_finalize(Dist *d);
void dist_abort(int code);

#define DIST_POLL_US 1000   // sleep_us for ranks that may wait long (rank 0 is collecting rollouts)
#define DIST_BLOCKING 0     // sleep_us for calls every rank reaches together: plain blocking MPI

// Broadcast from rank 0, polling with sleep_us between tests (DIST_BLOCKING: plain MPI_Bcast).
void dist_bcast(void *buf, size_t bytes, int sleep_us);
// In-place sums / maxima over all ranks (blocking: all ranks arrive together at these points).
void dist_allreduce_sum_f32(float *buf, size_t n);
void dist_allreduce_sum_f64(double *buf, size_t n);
void dist_allreduce_max_f64(double *buf, size_t n);
void dist_allreduce_max_i32(int32_t *buf, size_t n, int sleep_us);
void dist_barrier(int sleep_us);
// Sum of n floats of every rank into root's buf (other ranks' buf unchanged), in 1 GiB pieces.
void dist_reduce_sum_f32(float *buf, size_t n, int root);
// Broadcast of bytes from root (blocking), in 1 GiB pieces.
void dist_bcast_from(void *buf, size_t bytes, int root);
// Rank `from`'s buf (n floats) into rank `to`'s buf; other ranks do nothing. from == to: nothing.
void dist_move_f32(float *buf, size_t n, int from, int to);
// Every rank's `bytes` bytes of mine, in rank order, into all (size * bytes).
void dist_allgather_bytes(const void *mine, size_t bytes, void *all);
// Bitwise checksum of a float buffer (for the debug "params identical on all ranks" check).
uint64_t dist_checksum_f32(const float *buf, size_t n);
// 1 when every rank holds the same 64-bit value.
int dist_all_equal_u64(uint64_t v);
