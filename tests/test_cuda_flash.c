// The flash attention kernels (common/engine/cuda/cuda_flash.cu) against the CPU attention_forward /
// attention_backward (common/engine/ops.c), fp32 and bf16, at T = 1, 7, 128, 4096, 8192 (GQA and MHA,
// D 64 / 128 and the padded widths D 40 / 96 / 160), plus the cuBLAS attention (cuda_attention_forward)
// on the same inputs at T 128. Exit 77 (ctest: skipped) without the CUDA backend or a device.
//
//   test_cuda_flash            the checks
//   test_cuda_flash --quick    the checks up to T 300 (the CPU emulation of the kernels, tests/cuda_emu)
//   test_cuda_flash --bench    timings of flash vs the cuBLAS attention (tests/gpu/checks/10_flash.sh)
//
// Tolerances (max_i |gpu_i - cpu_i| <= tol * max_i |cpu_i| per tensor, as tests/test_cuda_ops.c):
// - fp32: 1e-4, the rule of the existing attention tests. Both sides are fp32 and differ in summation
//   order (tiles and the online softmax's rescaling against one normalisation) and expf ulps.
// - bf16: q, k, v, dout are rounded to bf16 first and the CPU runs on the rounded values, so both sides
//   see the same inputs. What remains: (1) the rounding of the stored result to bf16, half an ulp = 2^-9
//   of a value <= max; (2) in the backward, D_i = dout . out from the GPU's bf16-rounded out (each term off
//   by <= 2^-9 relative), entering dS = P (dP - D_i); (3) on the tensor-core path (D 64 / 128), P and dS
//   rounded to bf16 as operands of P V, P^T dO, dS K, dS^T Q (fp32 accumulation), as FlashAttention-2
//   does. A numpy emulation of (1)-(3) against a float64 reference (T 7 .. 4096, D 64 / 128, the inputs
//   used here) gives relative errors <= 2.5e-3 for out and <= 5.1e-3 for dq / dk / dv; the tolerances are
//   2x that: 5e-3 for out, 1e-2 for the gradients. The CUDA-core bf16 path (other D, or unaligned
//   pointers; checked here too) has only (1) and (2) and passes the same bounds.
// - lse: against a double-precision log-sum-exp on sampled rows, |err| <= 1e-5 (1 + |lse|).
// - The fp32 backward accumulates (+=): dq / dk / dv start from random values on both sides. The bf16
//   backward overwrites: its outputs start as garbage on the device, the CPU's from zero.
// - The backward is deterministic: a second run gives bit-identical gradients.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/harness.h"
#include "tests/cuda_test.h"
#include "tests/flash_ref.h"

#ifndef RLVR_CUDA
int main(void) {
    printf("SKIP: no CUDA device (this build has no CUDA backend: configure with -DRLVR_CUDA=ON on a machine with nvcc)\n");
    return 77;
}
#else

#include "common/core/bf16.h"
#include "common/core/rng.h"
#include "common/engine/cuda/cuda_ops.h"
#include "common/engine/ops.h"

#define TOL_FP32 1e-4
#define TOL_BF16_OUT 5e-3
#define TOL_BF16_GRAD 1e-2
#define BF16_GRAD_FLOOR 1e-2
#define TOL_LSE 1e-5
#define LSE_SAMPLES 64            // rows per (b, h) whose lse is checked in double
#define ORACLE_SCRATCH_ROWS 512   // attention_backward wants max(threads, T) rows of T floats
#define BENCH_REPS 3

static Rng rng;

static float *rand_host(size_t n, float scale) { return cuda_test_rand(&rng, n, scale); }
static float *to_dev(const float *h, size_t n) { return cuda_test_to_dev(h, n); }

// x rounded to bf16 in place; returns the bf16 copy on the device, `shift` elements into an allocation
// (*base, for cuda_free): shift 1 makes the pointer 2 bytes off 16-byte alignment.
static void *round_to_bf16_dev_at(float *x, size_t n, int shift, void **base) {
    uint16_t *h = malloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) {
        h[i] = bf16_from_f32(x[i]);
        x[i] = f32_from_bf16(h[i]);
    }
    *base = cuda_malloc((n + (size_t)shift) * sizeof(uint16_t));
    void *d = (uint16_t *)*base + shift;
    cuda_upload(d, h, n * sizeof(uint16_t));
    free(h);
    return d;
}

static void *round_to_bf16_dev(float *x, size_t n) {
    void *base;
    return round_to_bf16_dev_at(x, n, 0, &base);
}

static float *download_f32(const float *d, size_t n) {
    float *g = malloc(n * sizeof(float));
    cuda_download(g, d, n * sizeof(float));
    return g;
}

static float *download_bf16(const void *d, size_t n) {
    uint16_t *h = malloc(n * sizeof(uint16_t));
    float *g = malloc(n * sizeof(float));
    cuda_download(h, d, n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) g[i] = f32_from_bf16(h[i]);
    free(h);
    return g;
}

// Compares host arrays (see the tolerance rule above) with max |cpu| taken as at least `floor`; frees
// nothing.
static void compare_floor(const char *what, const float *cpu, const float *gpu, size_t n, double tol, double floor) {
    double mx = 0.0, err = 0.0;
    size_t worst = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(gpu[i])) finite = 0;
        const double e = fabs((double)gpu[i] - (double)cpu[i]);
        if (e > err || isnan(e)) { err = e; worst = i; }
        if (fabs(cpu[i]) > mx) mx = fabs(cpu[i]);
    }
    const double rel = err / (mx > floor ? mx : floor);
    printf("  %-34s n=%-9zu max|ref| %-9.3g max err %-9.3g rel %.3g (tol %.0e)\n", what, n, mx, err, rel, tol);
    CHECK_MSG(finite && rel <= tol, "%s: relative error %.3g > %.0e (worst index %zu: gpu %.9g cpu %.9g)", what, rel,
              tol, worst, gpu[worst], cpu[worst]);
}

static void compare(const char *what, const float *cpu, const float *gpu, size_t n, double tol) {
    compare_floor(what, cpu, gpu, n, tol, 1e-30);
}


static void check_lse(const char *what, const float *lse_gpu_dev, const float *q, const float *k, int B, int T,
                      int H, int KV, int D) {
    float *lse = download_f32(lse_gpu_dev, (size_t)B * H * T);
    double worst = 0.0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < LSE_SAMPLES && i < T; i++) {
                const int t = T <= LSE_SAMPLES ? i : (int)((long)i * (T - 1) / (LSE_SAMPLES - 1));
                const double ref = flash_ref_lse_double(q, k, b, h, t, T, H, KV, D);
                const double e = fabs(lse[((size_t)b * H + h) * T + t] - ref) / (1.0 + fabs(ref));
                worst = e > worst || isnan(e) ? e : worst;
            }
    printf("  %-34s sampled rows: max |err| / (1 + |lse|) %.3g (tol %.0e)\n", what, worst, TOL_LSE);
    CHECK_MSG(worst <= TOL_LSE, "%s: lse error %.3g > %.0e", what, worst, TOL_LSE);
    free(lse);
}

// CPU oracle: out, att (B, H, T, T) and, from the given dq/dk/dv, the accumulated gradients.
typedef struct {
    float *out, *att, *dq, *dk, *dv;
} Oracle;

static Oracle oracle(const float *q, const float *k, const float *v, const float *dout, const float *dq0,
                     const float *dk0, const float *dv0, int B, int T, int H, int KV, int D) {
    const size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * KV * D;
    Oracle o;
    o.out = malloc(nq * sizeof(float));
    o.att = calloc((size_t)B * H * T * T, sizeof(float));
    o.dq = malloc(nq * sizeof(float));
    o.dk = malloc(nk * sizeof(float));
    o.dv = malloc(nk * sizeof(float));
    memcpy(o.dq, dq0, nq * sizeof(float));
    memcpy(o.dk, dk0, nk * sizeof(float));
    memcpy(o.dv, dv0, nk * sizeof(float));
    attention_forward(o.out, o.att, q, k, v, B, T, H, KV, D);
    const size_t rows = (size_t)(T > ORACLE_SCRATCH_ROWS ? T : ORACLE_SCRATCH_ROWS);
    float *scratch = malloc(rows * T * sizeof(float));
    attention_backward(o.dq, o.dk, o.dv, dout, o.att, q, k, v, scratch, B, T, H, KV, D);
    free(scratch);
    return o;
}

static void oracle_free(Oracle *o) { free(o->out); free(o->att); free(o->dq); free(o->dk); free(o->dv); }

static float *flash_scratch(int B, int T, int H, int KV, int D) {
    const size_t n = cuda_flash_scratch_floats(B, T, H, KV, D);
    // the memory plan (common/engine/memplan.h, att_scratch) reserves B*H*T + 2*B*T*H*D floats
    CHECK(n <= (size_t)B * H * T + 2 * (size_t)B * T * H * D);
    return cuda_malloc((n ? n : 1) * sizeof(float));
}

// fp32: forward + backward against the oracle; with cx, the cuBLAS attention on the same inputs too.
static void case_fp32(CudaCtx *cx, int B, int T, int H, int KV, int D, float qk_scale) {
    char name[96];
    const size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * KV * D, nrow = (size_t)B * H * T;
    printf("fp32 B %d T %d H %d KV %d D %d\n", B, T, H, KV, D);
    float *q = rand_host(nq, qk_scale), *k = rand_host(nk, qk_scale), *v = rand_host(nk, 1.0f);
    float *dout = rand_host(nq, 1.0f), *dq0 = rand_host(nq, 1.0f);
    float *dk0 = rand_host(nk, 1.0f), *dv0 = rand_host(nk, 1.0f);
    Oracle o = oracle(q, k, v, dout, dq0, dk0, dv0, B, T, H, KV, D);
    float *d_q = to_dev(q, nq), *d_k = to_dev(k, nk), *d_v = to_dev(v, nk), *d_dout = to_dev(dout, nq);
    float *d_out = cuda_malloc(nq * sizeof(float)), *d_lse = cuda_malloc(nrow * sizeof(float));
    float *d_scr = flash_scratch(B, T, H, KV, D);
    cuda_flash_attention_forward(d_out, d_lse, d_q, d_k, d_v, B, T, H, KV, D);
    float *g = download_f32(d_out, nq);
    snprintf(name, sizeof(name), "flash T%d H%d KV%d D%d out", T, H, KV, D);
    compare(name, o.out, g, nq, TOL_FP32);
    free(g);
    check_lse("lse", d_lse, q, k, B, T, H, KV, D);

    float *d_dq = to_dev(dq0, nq), *d_dk = to_dev(dk0, nk), *d_dv = to_dev(dv0, nk);
    cuda_flash_attention_backward(d_dq, d_dk, d_dv, d_dout, d_out, d_lse, d_q, d_k, d_v, d_scr, B, T, H, KV, D);
    float *gq = download_f32(d_dq, nq), *gk = download_f32(d_dk, nk), *gv = download_f32(d_dv, nk);
    snprintf(name, sizeof(name), "flash T%d H%d KV%d D%d dq", T, H, KV, D);
    compare(name, o.dq, gq, nq, TOL_FP32);
    snprintf(name, sizeof(name), "flash T%d H%d KV%d D%d dk", T, H, KV, D);
    compare(name, o.dk, gk, nk, TOL_FP32);
    snprintf(name, sizeof(name), "flash T%d H%d KV%d D%d dv", T, H, KV, D);
    compare(name, o.dv, gv, nk, TOL_FP32);
    // a second run from the same starting gradients is bit-identical (no atomics)
    cuda_upload(d_dq, dq0, nq * sizeof(float));
    cuda_upload(d_dk, dk0, nk * sizeof(float));
    cuda_upload(d_dv, dv0, nk * sizeof(float));
    cuda_flash_attention_backward(d_dq, d_dk, d_dv, d_dout, d_out, d_lse, d_q, d_k, d_v, d_scr, B, T, H, KV, D);
    float *hq = download_f32(d_dq, nq), *hk = download_f32(d_dk, nk), *hv = download_f32(d_dv, nk);
    CHECK_MSG(!memcmp(gq, hq, nq * sizeof(float)) && !memcmp(gk, hk, nk * sizeof(float)) &&
                  !memcmp(gv, hv, nk * sizeof(float)),
              "flash backward T%d D%d is not bit-reproducible", T, D);
    free(gq); free(gk); free(gv); free(hq); free(hk); free(hv);

    if (cx) {  // the cuBLAS path on the same inputs, for comparison
        float *d_out2 = cuda_malloc(nq * sizeof(float)), *d_att = cuda_malloc((size_t)B * H * T * T * sizeof(float));
        float *d_ascr = cuda_malloc(cuda_attention_scratch_floats(B, T, H, KV, D) * sizeof(float));
        cuda_attention_forward(cx, d_out2, d_att, d_q, d_k, d_v, d_ascr, B, T, H, KV, D);
        float *c = download_f32(d_out2, nq), *f = download_f32(d_out, nq);
        snprintf(name, sizeof(name), "cublas T%d H%d KV%d D%d out", T, H, KV, D);
        compare(name, o.out, c, nq, TOL_FP32);
        compare("flash vs cublas out", c, f, nq, TOL_FP32);
        free(c); free(f);
        cuda_free(d_out2); cuda_free(d_att); cuda_free(d_ascr);
    }
    oracle_free(&o);
    free(q); free(k); free(v); free(dout); free(dq0); free(dk0); free(dv0);
    cuda_free(d_q); cuda_free(d_k); cuda_free(d_v); cuda_free(d_dout); cuda_free(d_out); cuda_free(d_lse);
    cuda_free(d_scr); cuda_free(d_dq); cuda_free(d_dk); cuda_free(d_dv);
}

// bf16: inputs rounded first (both sides), the backward overwrites (garbage before, zeros for the CPU).
// unaligned: q 2 bytes off 16-byte alignment, which sends D 64 / 128 to the CUDA-core kernels.
static void case_bf16(int B, int T, int H, int KV, int D, float qk_scale, int unaligned) {
    char name[96];
    const size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * KV * D, nrow = (size_t)B * H * T;
    const char *path = unaligned || (D != 64 && D != 128) ? "cuda cores" : "tensor cores";
    printf("bf16 B %d T %d H %d KV %d D %d (%s)\n", B, T, H, KV, D, path);
    float *q = rand_host(nq, qk_scale), *k = rand_host(nk, qk_scale), *v = rand_host(nk, 1.0f);
    float *dout = rand_host(nq, 1.0f);
    void *q_base;
    void *d_q = round_to_bf16_dev_at(q, nq, unaligned ? 1 : 0, &q_base);
    void *d_k = round_to_bf16_dev(k, nk), *d_v = round_to_bf16_dev(v, nk);
    void *d_dout = round_to_bf16_dev(dout, nq);
    float *zq = calloc(nq, sizeof(float)), *zk = calloc(nk, sizeof(float));
    Oracle o = oracle(q, k, v, dout, zq, zk, zk, B, T, H, KV, D);
    void *d_out = cuda_malloc(nq * 2);
    float *d_lse = cuda_malloc(nrow * sizeof(float)), *d_scr = flash_scratch(B, T, H, KV, D);
    cuda_flash_attention_forward_bf16(d_out, d_lse, d_q, d_k, d_v, B, T, H, KV, D);
    float *g = download_bf16(d_out, nq);
    snprintf(name, sizeof(name), "flash bf16 T%d H%d KV%d D%d out", T, H, KV, D);
    compare(name, o.out, g, nq, TOL_BF16_OUT);
    free(g);
    check_lse("lse (bf16 inputs)", d_lse, q, k, B, T, H, KV, D);

    float *junk_q = rand_host(nq, 100.0f), *junk_k = rand_host(nk, 100.0f);
    void *d_dq = round_to_bf16_dev(junk_q, nq), *d_dk = round_to_bf16_dev(junk_k, nk);
    void *d_dv = round_to_bf16_dev(junk_k, nk);
    cuda_flash_attention_backward_bf16(d_dq, d_dk, d_dv, d_dout, d_out, d_lse, d_q, d_k, d_v, d_scr, B, T, H, KV, D);
    float *gq = download_bf16(d_dq, nq), *gk = download_bf16(d_dk, nk), *gv = download_bf16(d_dv, nk);
    // At T = 1 the exact dq and dk are 0 (P = 1, so dS = dout.v - dout.out = 0); the GPU's D_i from its
    // bf16 out leaves ~1e-8. A floor of BF16_GRAD_FLOOR on max |ref| makes that an absolute 1e-4 check.
    snprintf(name, sizeof(name), "flash bf16 T%d H%d KV%d D%d dq", T, H, KV, D);
    compare_floor(name, o.dq, gq, nq, TOL_BF16_GRAD, BF16_GRAD_FLOOR);
    snprintf(name, sizeof(name), "flash bf16 T%d H%d KV%d D%d dk", T, H, KV, D);
    compare_floor(name, o.dk, gk, nk, TOL_BF16_GRAD, BF16_GRAD_FLOOR);
    snprintf(name, sizeof(name), "flash bf16 T%d H%d KV%d D%d dv", T, H, KV, D);
    compare_floor(name, o.dv, gv, nk, TOL_BF16_GRAD, BF16_GRAD_FLOOR);
    free(gq); free(gk); free(gv);
    oracle_free(&o);
    free(q); free(k); free(v); free(dout); free(zq); free(zk); free(junk_q); free(junk_k);
    cuda_free(q_base); cuda_free(d_k); cuda_free(d_v); cuda_free(d_dout); cuda_free(d_out); cuda_free(d_lse);
    cuda_free(d_scr); cuda_free(d_dq); cuda_free(d_dk); cuda_free(d_dv);
}

// ---- timing (--bench) -----------------------------------------------------------------------------------

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef enum { FLASH_F32_FWD, FLASH_F32_BWD, FLASH_BF16_FWD, FLASH_BF16_BWD, CUBLAS_FWD, CUBLAS_BWD } BenchOp;

typedef struct {
    CudaCtx *cx;
    float *q, *k, *v, *dout, *out, *lse, *dq, *dk, *dv, *scr, *att, *ascr;
    void *bq, *bk, *bv, *bdout, *bout, *bdq, *bdk, *bdv;
    int B, T, H, KV, D;
} Bench;

static void bench_run(Bench *b, BenchOp op) {
    const int B = b->B, T = b->T, H = b->H, KV = b->KV, D = b->D;
    switch (op) {
    case FLASH_F32_FWD: cuda_flash_attention_forward(b->out, b->lse, b->q, b->k, b->v, B, T, H, KV, D); break;
    case FLASH_F32_BWD:
        cuda_flash_attention_backward(b->dq, b->dk, b->dv, b->dout, b->out, b->lse, b->q, b->k, b->v, b->scr,
                                      B, T, H, KV, D);
        break;
    case FLASH_BF16_FWD: cuda_flash_attention_forward_bf16(b->bout, b->lse, b->bq, b->bk, b->bv, B, T, H, KV, D); break;
    case FLASH_BF16_BWD:
        cuda_flash_attention_backward_bf16(b->bdq, b->bdk, b->bdv, b->bdout, b->bout, b->lse, b->bq, b->bk, b->bv,
                                           b->scr, B, T, H, KV, D);
        break;
    case CUBLAS_FWD: cuda_attention_forward(b->cx, b->out, b->att, b->q, b->k, b->v, b->ascr, B, T, H, KV, D); break;
    case CUBLAS_BWD:
        cuda_attention_backward(b->cx, b->dq, b->dk, b->dv, b->dout, b->att, b->q, b->k, b->v, b->ascr, B, T, H, KV, D);
        break;
    }
}

// Milliseconds per call (one warm-up, the best of BENCH_REPS).
static double bench_ms(Bench *b, BenchOp op) {
    bench_run(b, op);
    cuda_sync();
    double best = 1e30;
    for (int r = 0; r < BENCH_REPS; r++) {
        const double t0 = now_s();
        bench_run(b, op);
        cuda_sync();
        const double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    return best * 1e3;
}

static void bench_shape(CudaCtx *cx, int B, int T, int H, int KV, int D) {
    const size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * KV * D, nrow = (size_t)B * H * T;
    Bench b = {.cx = cx, .B = B, .T = T, .H = H, .KV = KV, .D = D};
    float *hq = rand_host(nq, 1.0f), *hk = rand_host(nk, 1.0f), *hv = rand_host(nk, 1.0f);
    b.q = to_dev(hq, nq); b.k = to_dev(hk, nk); b.v = to_dev(hv, nk); b.dout = to_dev(hq, nq);
    b.bq = round_to_bf16_dev(hq, nq); b.bk = round_to_bf16_dev(hk, nk); b.bv = round_to_bf16_dev(hv, nk);
    b.bdout = round_to_bf16_dev(hq, nq);
    b.out = cuda_malloc(nq * 4); b.dq = cuda_malloc(nq * 4); b.dk = cuda_malloc(nk * 4); b.dv = cuda_malloc(nk * 4);
    b.bout = cuda_malloc(nq * 2); b.bdq = cuda_malloc(nq * 2); b.bdk = cuda_malloc(nk * 2); b.bdv = cuda_malloc(nk * 2);
    cuda_zero(b.dq, nq * 4); cuda_zero(b.dk, nk * 4); cuda_zero(b.dv, nk * 4);
    b.lse = cuda_malloc(nrow * 4);
    b.scr = cuda_malloc(cuda_flash_scratch_floats(B, T, H, KV, D) * 4);
    b.att = cuda_malloc((size_t)B * H * T * T * 4);
    b.ascr = cuda_malloc(cuda_attention_scratch_floats(B, T, H, KV, D) * 4);
    // causal FLOPs: forward Q K^T and P V over the lower triangle, 2 * 2 * B H (T^2 / 2) D; backward 2.5x
    const double ffwd = 2.0 * B * H * (double)T * T * D, fbwd = 2.5 * ffwd;
    const double t_ff = bench_ms(&b, FLASH_F32_FWD), t_fb = bench_ms(&b, FLASH_F32_BWD);
    const double t_hf = bench_ms(&b, FLASH_BF16_FWD), t_hb = bench_ms(&b, FLASH_BF16_BWD);
    cuda_ctx_set_tf32(cx, 0);
    const double t_cf = bench_ms(&b, CUBLAS_FWD), t_cb = bench_ms(&b, CUBLAS_BWD);
    cuda_ctx_set_tf32(cx, 1);
    const double t_tf = bench_ms(&b, CUBLAS_FWD), t_tb = bench_ms(&b, CUBLAS_BWD);
    cuda_ctx_set_tf32(cx, 0);
#define ROW(label, f, bw) printf("  %-22s fwd %8.3f ms %6.1f TFLOP/s   bwd %8.3f ms %6.1f TFLOP/s\n", label, f, \
                                 ffwd / (f * 1e9), bw, fbwd / (bw * 1e9))
    printf("B %d T %d H %d KV %d D %d (causal GFLOP fwd %.1f, bwd %.1f)\n", B, T, H, KV, D, ffwd / 1e9, fbwd / 1e9);
    ROW("flash fp32", t_ff, t_fb);
    ROW("flash bf16", t_hf, t_hb);
    ROW("cublas fp32 (T x T)", t_cf, t_cb);
    ROW("cublas tf32 (T x T)", t_tf, t_tb);
#undef ROW
    free(hq); free(hk); free(hv);
    float *all[] = {b.q, b.k, b.v, b.dout, b.out, b.lse, b.dq, b.dk, b.dv, b.scr, b.att, b.ascr};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) cuda_free(all[i]);
    void *allb[] = {b.bq, b.bk, b.bv, b.bdout, b.bout, b.bdq, b.bdk, b.bdv};
    for (size_t i = 0; i < sizeof(allb) / sizeof(allb[0]); i++) cuda_free(allb[i]);
}

static int bench(CudaCtx *cx) {
    printf("flash attention vs cuBLAS attention (TFLOP/s on causal FLOPs; the cuBLAS path computes the full square)\n");
    const int Ts[] = {2048, 4096}, Bs[] = {1, 4}, Ds[] = {128, 64};
    for (int di = 0; di < 2; di++)
        for (int ti = 0; ti < 2; ti++)
            for (int bi = 0; bi < 2; bi++) bench_shape(cx, Bs[bi], Ts[ti], 12, 2, Ds[di]);
    return 0;
}

int main(int argc, char **argv) {
    if (!cuda_test_device()) return CUDA_TEST_SKIPPED;
    rng_seed(&rng, 4242);
    CudaCtx *cx = cuda_ctx_create(0);
    const int quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (argc > 1 && !strcmp(argv[1], "--bench")) {
        const int rc = bench(cx);
        cuda_ctx_destroy(cx);
        return rc;
    }
    // short T: GQA and MHA, the fast widths and the padded ones, B > 1
    case_fp32(NULL, 2, 1, 4, 2, 64, 1.0f);
    case_fp32(NULL, 2, 7, 4, 2, 64, 1.0f);
    case_fp32(NULL, 2, 7, 3, 3, 128, 1.0f);
    case_fp32(cx, 2, 128, 4, 2, 64, 1.0f);
    case_fp32(cx, 1, 128, 4, 1, 128, 1.0f);
    case_fp32(NULL, 2, 77, 4, 2, 40, 1.0f);   // padded to 64
    case_fp32(NULL, 1, 130, 2, 1, 96, 1.0f);  // padded to 128, tail of 2 rows
    case_fp32(NULL, 1, 100, 2, 2, 160, 1.0f); // padded to 256 (32-row tiles)
    // long T, B 1, few heads so the CPU oracle stays quick; larger q/k so the softmax is peaked
    if (!quick) {
        case_fp32(NULL, 1, 4096, 2, 1, 128, 2.0f);
        case_fp32(NULL, 1, 4096, 2, 2, 64, 2.0f);
        case_fp32(NULL, 1, 8192, 2, 1, 128, 2.0f);
    }
    case_bf16(2, 1, 4, 2, 64, 1.0f, 0);
    case_bf16(2, 7, 4, 2, 128, 1.0f, 0);
    case_bf16(2, 128, 4, 2, 64, 1.0f, 0);
    case_bf16(1, 128, 4, 1, 128, 1.0f, 0);
    case_bf16(1, 200, 3, 1, 128, 1.0f, 0);   // tail of 8 rows
    case_bf16(1, 200, 3, 1, 128, 1.0f, 1);   // the same on the CUDA-core kernels
    case_bf16(2, 77, 4, 2, 64, 1.0f, 1);
    case_bf16(1, 100, 2, 1, 160, 1.0f, 0);
    if (!quick) {
        case_bf16(1, 4096, 2, 1, 128, 2.0f, 0);
        case_bf16(1, 8192, 2, 1, 64, 2.0f, 0);
        case_bf16(1, 8192, 2, 1, 128, 2.0f, 0);
    }
    cuda_ctx_destroy(cx);
    return tests_done();
}
#endif
