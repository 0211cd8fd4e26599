// Internal to common/engine/cuda/*.cu: checked CUDA / cuBLAS calls and the context definition.
// cudaCheck / cublasCheck print file:line, the library's reason and a hint, then exit(1).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common/engine/cuda/cuda_ops.h"

extern "C" {
#include "common/core/check.h"
}

// The hint names the likely cause for the errors people actually hit.
static inline const char *cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
        return "no CUDA device: run on a GPU machine or build with -DRLVR_CUDA=OFF";
    case cudaErrorMemoryAllocation:
        return "out of GPU memory: lower the micro-batch size (B) or sequence length (T)";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
        return "the binary was built for sm_90 (CMAKE_CUDA_ARCHITECTURES): rebuild with this GPU's architecture";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
        return "a kernel read or wrote out of bounds: rerun under compute-sanitizer to find it";
    default:
        return "see the CUDA error above";
    }
}

static inline void cuda_check_(cudaError_t e, const char *what, const char *file, int line) {
    if (e != cudaSuccess)
        rlvr_die(file, line, "CUDA call %s failed: %s (%s); %s", what, cudaGetErrorName(e),
                 cudaGetErrorString(e), cuda_hint(e));
}

static inline const char *cublas_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
    }
}

static inline void cublas_check_(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        rlvr_die(file, line, "cuBLAS call %s failed: %s (%d); %s", what, cublas_name(s), (int)s,
                 s == CUBLAS_STATUS_NOT_INITIALIZED
                     ? "no usable CUDA device or driver: run on a GPU machine or build with -DRLVR_CUDA=OFF"
                     : s == CUBLAS_STATUS_INVALID_VALUE ? "a GEMM shape or leading dimension is invalid (bug)"
                                                        : "check the GPU state (nvidia-smi)");
}

#define cudaCheck(call) cuda_check_((call), #call, __FILE__, __LINE__)
#define cublasCheck(call) cublas_check_((call), #call, __FILE__, __LINE__)
// After a kernel launch: catches bad launch configurations at once (execution errors surface at the
// next synchronising call, also checked).
#define cudaCheckLaunch() cuda_check_(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

struct CudaCtx {
    cublasHandle_t handle;
    cublasComputeType_t compute;  // CUBLAS_COMPUTE_32F or CUBLAS_COMPUTE_32F_FAST_TF32
};

static inline unsigned int cdiv_u(size_t a, size_t b) { return (unsigned int)((a + b - 1) / b); }
