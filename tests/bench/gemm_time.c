// LD_PRELOAD shim that times every cblas_sgemm call of a program and prints the total at exit:
// how much of a training step is spent inside the BLAS the engine is built on (issue: GEMMs
// through OpenBLAS), as opposed to our own code. Calls of exactly 2048^3 (bench_train's sgemm-peak
// measurement) are passed through untimed.
//
//   LD_PRELOAD=build/bench/libgemm_time.so build/bench/bench_train --hidden 512 ... --steps 8
//
// Prints "[gemm_time] N calls, S s in cblas_sgemm, G GFLOP, R GFLOP/s" on stderr. Divide S by the
// number of steps the program ran (bench_train runs steps + 1: one warm-up) to compare with its
// step time.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

static double total_s, total_flop;
static long n_calls;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// The CBLAS enums are ints in every implementation's ABI; declared here as int to avoid a cblas.h
// whose prototype would clash with this definition.
void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc) {
    static sgemm_fn real;
    if (!real) {
        real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
        if (!real) {
            fprintf(stderr, "[gemm_time] cblas_sgemm not found after the shim (hint: the program must link a CBLAS)\n");
            abort();
        }
    }
    if (M == 2048 && N == 2048 && K == 2048) {
        real(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const double t0 = now_s();
    real(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    total_s += now_s() - t0;
    total_flop += 2.0 * M * N * K;
    n_calls++;
}

__attribute__((destructor)) static void report(void) {
    fprintf(stderr, "[gemm_time] %ld calls, %.3f s in cblas_sgemm, %.1f GFLOP, %.1f GFLOP/s\n", n_calls, total_s,
            total_flop / 1e9, total_s > 0 ? total_flop / total_s / 1e9 : 0.0);
}
