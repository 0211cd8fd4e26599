// MPI wrappers; see dist.h.
#include "learner/dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/core/check.h"

void dist_check_fail(int rc, const char *what, const char *file, int line) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "error: %s:%d: rank %d: %s failed: %s (hint: another rank probably died first; "
            "look for its error above)\n", file, line, rank, what, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

void dist_init(Dist *d, int *argc, char ***argv) {
    int inited = 0;
    MPI_Initialized(&inited);
    d->initialized_here = 0;
    if (!inited) {
        int provided = 0;
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) die("MPI_Init_thread failed (is this run under mpirun, and is Open MPI installed?)");
        if (provided < MPI_THREAD_FUNNELED)
            die("MPI provides thread level %d < MPI_THREAD_FUNNELED; the coordinator thread needs it", provided);
        d->initialized_here = 1;
    }
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &d->size));
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_rank(node, &d->local_rank));
    MPI_CHECK(MPI_Comm_size(node, &d->local_size));
    MPI_CHECK(MPI_Comm_free(&node));
}

void dist_finalize(Dist *d) {
    if (d->initialized_here) MPI_CHECK(MPI_Finalize());
}

void dist_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static void sleep_us_(int us) {
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

static void wait_poll(MPI_Request *req, int sleep_us) {
    for (;;) {
        int done = 0;
        MPI_CHECK(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done) return;
        sleep_us_(sleep_us);
    }
}

void dist_bcast(void *buf, size_t bytes, int sleep_us) {
    // MPI counts are int: send big buffers in 1 GiB pieces
    uint8_t *p = buf;
    while (bytes > 0) {
        int n = bytes > (1u << 30) ? (1 << 30) : (int)bytes;
        if (sleep_us > 0) {
            MPI_Request req;
            MPI_CHECK(MPI_Ibcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD, &req));
            wait_poll(&req, sleep_us);
        } else {
            MPI_CHECK(MPI_Bcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD));
        }
        p += n;
        bytes -= (size_t)n;
    }
}

void dist_allreduce_sum_f32(float *buf, size_t n) {
    while (n > 0) {
        int k = n > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)n;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
        buf += k;
        n -= (size_t)k;
    }
}

void dist_allreduce_sum_f64(double *buf, size_t n) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
}

void dist_allreduce_max_f64(double *buf, size_t n) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
}

void dist_allreduce_max_i32(int32_t *buf, size_t n, int sleep_us) {
    if (sleep_us > 0) {
        MPI_Request req;
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT32_T, MPI_MAX, MPI_COMM_WORLD, &req));
        wait_poll(&req, sleep_us);
    } else {
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT32_T, MPI_MAX, MPI_COMM_WORLD));
    }
}

void dist_barrier(int sleep_us) {
    if (sleep_us > 0) {
        MPI_Request req;
        MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &req));
        wait_poll(&req, sleep_us);
    } else {
        MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    }
}

#define DIST_PIECE_BYTES ((size_t)1 << 30)   // MPI counts are int: big buffers go in pieces

void dist_reduce_sum_f32(float *buf, size_t n, int root) {
    int rank = 0;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    const size_t piece = DIST_PIECE_BYTES / sizeof(float);
    for (size_t i = 0; i < n; i += piece) {
        int k = (int)(n - i < piece ? n - i : piece);
        if (rank == root) MPI_CHECK(MPI_Reduce(MPI_IN_PLACE, buf + i, k, MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD));
        else MPI_CHECK(MPI_Reduce(buf + i, NULL, k, MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD));
    }
}

void dist_bcast_from(void *buf, size_t bytes, int root) {
    uint8_t *p = buf;
    for (size_t i = 0; i < bytes; i += DIST_PIECE_BYTES) {
        int k = (int)(bytes - i < DIST_PIECE_BYTES ? bytes - i : DIST_PIECE_BYTES);
        MPI_CHECK(MPI_Bcast(p + i, k, MPI_BYTE, root, MPI_COMM_WORLD));
    }
}

void dist_move_f32(float *buf, size_t n, int from, int to) {
    int rank = 0;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    if (from == to || (rank != from && rank != to)) return;
    const size_t piece = DIST_PIECE_BYTES / sizeof(float);
    for (size_t i = 0; i < n; i += piece) {
        int k = (int)(n - i < piece ? n - i : piece);
        if (rank == from) MPI_CHECK(MPI_Send(buf + i, k, MPI_FLOAT, to, 0, MPI_COMM_WORLD));
        else MPI_CHECK(MPI_Recv(buf + i, k, MPI_FLOAT, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    }
}

void dist_allgather_bytes(const void *mine, size_t bytes, void *all) {
    MPI_CHECK(MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD));
}

uint64_t dist_checksum_f32(const float *buf, size_t n) {
    // FNV-1a over the raw bytes: any bit difference changes it
    const uint8_t *p = (const uint8_t *)buf;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n * sizeof(float); i++) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
}

int dist_all_equal_u64(uint64_t v) {
    uint64_t mn = v, mx = v;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &mn, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD));
    return mn == mx;
}
