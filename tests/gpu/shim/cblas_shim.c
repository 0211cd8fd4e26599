// See cblas.h beside this file: a plain SGEMM for the fallback build of tests/gpu/device_check.sh.
#include "cblas.h"

#include <stdlib.h>

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (order != CblasRowMajor) abort();  // the engine only calls row-major
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                const float a = ta == CblasNoTrans ? A[(size_t)i * lda + k] : A[(size_t)k * lda + i];
                const float b = tb == CblasNoTrans ? B[(size_t)k * ldb + j] : B[(size_t)j * ldb + k];
                s += a * b;
            }
            C[(size_t)i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j]);
        }
}
