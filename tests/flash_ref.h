// Test support (not product code): the tiled flash-attention algorithm of common/engine/cuda/cuda_flash.cu
// written as plain C loops, so the algorithm (tiling, online softmax, lse, the backward from lse) is
// checked on the CPU against attention_forward / attention_backward of common/engine/ops.h. Each
// function below corresponds to one kernel of cuda_flash.cu and walks its tiles in the same order with
// the same tile sizes; what a CUDA thread block keeps in registers / shared memory is a local tile here.
//
// Layouts as attention_forward: q (B, T, H, D), k / v (B, T, KV, D), out (B, T, H, D), lse (B, H, T);
// query head h reads KV head h / (H / KV); scale 1/sqrt(D); causal. D <= FLASH_REF_MAX_D.
#pragma once
#include <math.h>
#include <stddef.h>

#define FLASH_REF_MAX_D 256

// Rows of a query tile = keys of a KV tile: 64 for D <= 128, 32 above (shared memory on the GPU).
int flash_ref_tile(int D);

// out overwritten; lse (B, H, T) = log sum_s exp(scale q_t . k_s) over s <= t.
void flash_ref_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int H, int KV, int D);

// dq, dk, dv += ... from out and lse of the forward (no probabilities stored). scratch:
// flash_ref_scratch_floats() floats: per-row D_i = sum_d dout * out (B, H, T), then the fp32 dK and dV
// partials of every query head (B, T, H, D) each, summed over the heads of a group at the end.
size_t flash_ref_scratch_floats(int B, int T, int H, int D);
void flash_ref_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                        const float *lse, const float *q, const float *k, const float *v, float *scratch,
                        int B, int T, int H, int KV, int D);

// lse of row (b, h, t) in double, straight from the definition (the oracle for both the C twin and the
// kernels' lse; inline, so a test can use it without linking flash_ref.c).
static inline double flash_ref_lse_double(const float *q, const float *k, int b, int h, int t, int T, int H,
                                          int KV, int D) {
    const int kh = h / (H / KV);
    const double scale = 1.0 / sqrt((double)D);
    double mx = -INFINITY, sum = 0.0;
    for (int pass = 0; pass < 2; pass++)
        for (int s = 0; s <= t; s++) {
            double dot = 0.0;
            for (int d = 0; d < D; d++)
                dot += (double)q[(((size_t)b * T + t) * H + h) * D + d] * k[(((size_t)b * T + s) * KV + kh) * D + d];
            dot *= scale;
            if (pass == 0) mx = dot > mx ? dot : mx;
            else sum += exp(dot - mx);
        }
    return mx + log(sum);
}
