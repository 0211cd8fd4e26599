// Shared by the CUDA tests (tests/test_cuda_*.c, on a GPU or through tests/cuda_emu): the device-or-skip
// opening of main, and random host arrays uploaded to the device.
#pragma once
#include <stdio.h>
#include <stdlib.h>

#include "common/core/rng.h"
#include "common/engine/cuda/cuda_ops.h"

#define CUDA_TEST_SKIPPED 77   // ctest's SKIP_RETURN_CODE for these tests: "Skipped", never "Passed"

// Prints "device: ..." and returns 1, or prints "SKIP: why" and returns 0 when no device is usable.
static inline int cuda_test_device(void) {
    char desc[256];
    cuda_device_describe(desc, sizeof(desc));
    if (cuda_device_count() == 0) {
        printf("SKIP: %s\n", desc);
        return 0;
    }
    printf("device: %s\n", desc);
    return 1;
}

// (n) uniform in [-scale, scale), host memory (free it).
static inline float *cuda_test_rand(Rng *rng, size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    if (!p) { fprintf(stderr, "out of host memory (%zu floats)\n", n); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = scale * (2.0f * rng_uniform(rng) - 1.0f);
    return p;
}

// A device copy of h (n floats).
static inline float *cuda_test_to_dev(const float *h, size_t n) {
    float *d = cuda_malloc(n * sizeof(float));
    cuda_upload(d, h, n * sizeof(float));
    return d;
}
