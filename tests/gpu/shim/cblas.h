// Stand-in for <cblas.h> used ONLY by tests/gpu/device_check.sh's fallback build, when the GPU machine
// has no BLAS development package: the CPU reference of the CUDA tests then runs this plain,
// OpenMP-parallel SGEMM (slow but exact fp32, fine for the small test shapes). Only what common/engine/ops.c and
// common/engine/forward.c use.
#pragma once

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
