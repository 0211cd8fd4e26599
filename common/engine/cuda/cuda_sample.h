// The device sampler of cuda_infer.h as a function on device logits (cuda_infer_step calls it; the
// tests drive it with crafted rows). Conventions: cuda_infer.h and the comment of cuda_sample.cu.
// Plain C; exists only when RLVR_CUDA is defined.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// One sampled row's result; copied back to the host in one transfer per step.
typedef struct {
    int token;
    float logp;      // log softmax(logits / T)[token] over the full vocabulary (T 1 when greedy)
    float entropy;   // entropy of that distribution (nats)
} CudaSampleResult;

// out (n) device: for row j of logits (n, V) fp32 device, one token drawn with the uniform
// philox_uniform(seeds[j], draws[j]) (seeds, draws (n) device). temperature 0: greedy. V < 2^19.
void cuda_sample_rows(CudaSampleResult *out, const float *logits, int n, int V, float temperature, int top_k,
                      float top_p, const uint64_t *seeds, const uint64_t *draws);

#ifdef __cplusplus
}
#endif
