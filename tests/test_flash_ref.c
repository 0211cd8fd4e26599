// The tiled flash-attention algorithm (tests/flash_ref.c, the C twin of common/engine/cuda/cuda_flash.cu)
// against the engine's attention_forward / attention_backward (common/engine/ops.c), which store the
// full probability matrix. Sizes: T = 1, 7, 33, 128, 300 (1 tile, partial tiles, several tiles with a
// tail), GQA (H 4 / KV 2) and MHA (H = KV = 2), D 8 and 64 (tile 64) and D 160 (tile 32, the wide path).
//
// Tolerance: both sides are fp32 and differ only in summation order (the tiles' online softmax rescales
// partial sums by exp(m_old - m_new); the oracle normalises once) and in expf ulps, so errors are a few
// ulps times sqrt(reduction length <= 300): max |flash - ref| <= 1e-4 * max |ref| per tensor, the rule of
// the CUDA attention tests. lse is checked against a double-precision log-sum-exp at 1e-5 absolute (it is
// O(log T) in size). Backward outputs start from the same random values on both sides, so the +=
// convention is checked too.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/rng.h"
#include "common/engine/ops.h"
#include "tests/flash_ref.h"
#include "tests/harness.h"

#define TOL_REL 1e-4
#define TOL_LSE 1e-5
#define ORACLE_SCRATCH_ROWS 512  // attention_backward wants max(threads, T) rows of T floats

static Rng rng;

static float *rand_buf(size_t n) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * rng_uniform(&rng) - 1.0f;
    return p;
}

static float *copy_buf(const float *x, size_t n) {
    float *p = malloc(n * sizeof(float));
    memcpy(p, x, n * sizeof(float));
    return p;
}

static void compare(const char *what, const float *ref, const float *got, size_t n) {
    double mx = 0.0, err = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - (double)ref[i]);
        if (e > err || isnan(e)) { err = e; worst = i; }
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    }
    const double rel = err / (mx > 1e-30 ? mx : 1e-30);
    printf("  %-30s n=%-7zu max|ref| %-9.3g max err %-9.3g rel %.3g\n", what, n, mx, err, rel);
    CHECK_MSG(rel <= TOL_REL, "%s: relative error %.3g > %.0e (index %zu: flash %.9g ref %.9g)", what, rel,
              TOL_REL, worst, got[worst], ref[worst]);
}


static void test_case(int B, int T, int H, int KV, int D) {
    char name[96];
    const size_t N = (size_t)B * T, nq = N * H * D, nk = N * KV * D, nrow = (size_t)B * H * T;
    printf("B %d T %d H %d KV %d D %d (tile %d)\n", B, T, H, KV, D, flash_ref_tile(D));
    float *q = rand_buf(nq), *k = rand_buf(nk), *v = rand_buf(nk), *dout = rand_buf(nq);
    float *out_ref = malloc(nq * sizeof(float)), *att = calloc((size_t)B * H * T * T, sizeof(float));
    float *out = malloc(nq * sizeof(float)), *lse = malloc(nrow * sizeof(float));
    attention_forward(out_ref, att, q, k, v, B, T, H, KV, D);
    flash_ref_forward(out, lse, q, k, v, B, T, H, KV, D);
    snprintf(name, sizeof(name), "T%d H%d KV%d D%d out", T, H, KV, D);
    compare(name, out_ref, out, nq);
    double lse_err = 0.0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const double e = fabs(lse[((size_t)b * H + h) * T + t] - flash_ref_lse_double(q, k, b, h, t, T, H, KV, D));
                lse_err = e > lse_err || isnan(e) ? e : lse_err;
            }
    printf("  %-30s max |lse - lse_double| %.3g\n", "lse", lse_err);
    CHECK_MSG(lse_err <= TOL_LSE, "T%d D%d lse error %.3g > %.0e", T, D, lse_err, TOL_LSE);

    float *dq_ref = rand_buf(nq), *dk_ref = rand_buf(nk), *dv_ref = rand_buf(nk);
    float *dq = copy_buf(dq_ref, nq), *dk = copy_buf(dk_ref, nk), *dv = copy_buf(dv_ref, nk);
    const size_t rows = (size_t)(T > ORACLE_SCRATCH_ROWS ? T : ORACLE_SCRATCH_ROWS);
    float *scratch = malloc(rows * T * sizeof(float));
    float *fscratch = malloc(flash_ref_scratch_floats(B, T, H, D) * sizeof(float));
    attention_backward(dq_ref, dk_ref, dv_ref, dout, att, q, k, v, scratch, B, T, H, KV, D);
    flash_ref_backward(dq, dk, dv, dout, out, lse, q, k, v, fscratch, B, T, H, KV, D);
    snprintf(name, sizeof(name), "T%d H%d KV%d D%d dq", T, H, KV, D);
    compare(name, dq_ref, dq, nq);
    snprintf(name, sizeof(name), "T%d H%d KV%d D%d dk", T, H, KV, D);
    compare(name, dk_ref, dk, nk);
    snprintf(name, sizeof(name), "T%d H%d KV%d D%d dv", T, H, KV, D);
    compare(name, dv_ref, dv, nk);
    free(q); free(k); free(v); free(dout); free(out_ref); free(att); free(out); free(lse);
    free(dq_ref); free(dk_ref); free(dv_ref); free(dq); free(dk); free(dv); free(scratch); free(fscratch);
}

int main(void) {
    rng_seed(&rng, 20261203);
    const int Ts[] = {1, 7, 33, 128, 300};
    const int Ds[] = {8, 64};
    for (size_t ti = 0; ti < sizeof(Ts) / sizeof(Ts[0]); ti++)
        for (size_t di = 0; di < sizeof(Ds) / sizeof(Ds[0]); di++) {
            test_case(1, Ts[ti], 4, 2, Ds[di]);  // GQA
            test_case(2, Ts[ti], 2, 2, Ds[di]);  // MHA, two sequences
        }
    test_case(1, 100, 4, 1, 160);  // D > 128: the 32-row tiles
    CHECK_EQ_INT(flash_ref_tile(64), 64);
    CHECK_EQ_INT(flash_ref_tile(160), 32);
    return tests_done();
}
