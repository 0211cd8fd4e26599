// Every CUDA op (common/engine/cuda/cuda_ops.h), forward and backward, against the CPU fp32 reference
// (common/engine/ops.h, common/engine/optim.h; the head against a double-precision reference written here) on random
// inputs with sizes that are not multiples of the block / warp sizes. Exit 77 (ctest: skipped) when the
// build has no CUDA backend or there is no device.
//
// Tolerances. Both sides are fp32 (cuBLAS with TF32 off) and differ only in summation order and in
// expf/sqrtf/exp ulps, so errors are a few ulps times sqrt(reduction length). Each comparison is
//   max_i |gpu_i - cpu_i| <= tol * max(max_i |cpu_i|, 1e-30)     (error relative to the tensor's magnitude)
// with tol = 1e-5 for elementwise ops (embedding, RoPE, SwiGLU, residual, softmax probabilities, AdamW)
// and 1e-4 for reductions (RMSNorm, GEMMs, attention, head), whose lengths here are <= 1000.
// Backward inputs start from random (not zero) gradients so the += convention is checked too.
// The TF32 switch is checked separately with tol 1e-2 (TF32 products keep 10 mantissa bits).
// The bf16 conversions are bit-exact against the host's (common/core/bf16.h): NaN payloads, infinities,
// denormals, round-half-to-even ties, overflow to infinity, random bit patterns, all 65536 bf16 values.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "tests/cuda_test.h"

#ifndef RLVR_CUDA
int main(void) {
    printf("SKIP: no CUDA device (this build has no CUDA backend: configure with -DRLVR_CUDA=ON on a machine with nvcc)\n");
    return 77;
}
#else

#include "common/core/bf16.h"
#include "common/engine/cuda/cuda_ops.h"
#include "common/engine/ops.h"
#include "common/engine/optim.h"
#include "common/core/rng.h"

static Rng rng;

static float *rand_host(size_t n, float scale) { return cuda_test_rand(&rng, n, scale); }
static float *to_dev(const float *h, size_t n) { return cuda_test_to_dev(h, n); }

static int *to_dev_i(const int *h, size_t n) {
    int *d = cuda_malloc(n * sizeof(int));
    cuda_upload(d, h, n * sizeof(int));
    return d;
}

static float *copy_host(const float *h, size_t n) {
    float *p = malloc(n * sizeof(float));
    memcpy(p, h, n * sizeof(float));
    return p;
}

// Downloads the device tensor and checks it against the CPU one (see the tolerance rule above).
// stride/valid: compare only entries where valid(i) (used for the attention's lower triangle).
static double compare(const char *what, const float *cpu, const float *dev, size_t n, double tol,
                      int (*valid)(size_t i, const void *ctx), const void *ctx) {
    float *g = malloc(n * sizeof(float));
    cuda_download(g, dev, n * sizeof(float));
    double mx = 0.0, err = 0.0;
    size_t worst = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (valid && !valid(i, ctx)) continue;
        if (!isfinite(g[i])) finite = 0;
        const double e = fabs((double)g[i] - (double)cpu[i]);
        if (e > err || isnan(e)) { err = e; worst = i; }
        if (fabs(cpu[i]) > mx) mx = fabs(cpu[i]);
    }
    const double rel = err / (mx > 1e-30 ? mx : 1e-30);
    printf("  %-28s n=%-8zu max|ref| %-10.3g max err %-10.3g rel %.3g (tol %.0e)\n", what, n, mx, err, rel, tol);
    CHECK_MSG(finite && rel <= tol, "%s: relative error %.3g > %.0e (worst index %zu: gpu %.9g cpu %.9g)", what, rel,
              tol, worst, g[worst], cpu[worst]);
    free(g);
    return rel;
}

#define TOL_EW 1e-5
#define TOL_RED 1e-4

static void test_embedding(void) {
    const size_t N = 77;
    const int C = 130, V = 50;
    int tok[77];
    for (size_t n = 0; n < N; n++) tok[n] = (int)(rng_u64(&rng) % (uint64_t)(20));  // many repeats
    float *wte = rand_host((size_t)V * C, 1.0f), *out = malloc(N * C * sizeof(float));
    float *dout = rand_host(N * C, 1.0f), *dwte = rand_host((size_t)V * C, 1.0f);
    float *d_wte = to_dev(wte, (size_t)V * C), *d_out = cuda_malloc(N * C * sizeof(float));
    float *d_dout = to_dev(dout, N * C), *d_dwte = to_dev(dwte, (size_t)V * C);
    int *d_tok = to_dev_i(tok, N);
    embedding_forward(out, tok, wte, N, C);
    cuda_embedding_forward(d_out, d_tok, d_wte, N, C);
    compare("embedding_forward", out, d_out, N * C, TOL_EW, NULL, NULL);
    embedding_backward(dwte, dout, tok, N, C);
    cuda_embedding_backward(d_dwte, d_dout, d_tok, N, C);
    compare("embedding_backward", dwte, d_dwte, (size_t)V * C, TOL_EW * 10, NULL, NULL);  // sums of ~8 repeats
    free(wte); free(out); free(dout); free(dwte);
    cuda_free(d_wte); cuda_free(d_out); cuda_free(d_dout); cuda_free(d_dwte); cuda_free(d_tok);
}

static void test_rmsnorm(void) {
    const size_t N = 131;  // > 64 rows: several column-sum chunks
    const int C = 300;
    const float eps = 1e-6f;
    float *x = rand_host(N * C, 2.0f), *w = rand_host(C, 1.0f), *out = malloc(N * C * sizeof(float));
    float *rstd = malloc(N * sizeof(float));
    float *dout = rand_host(N * C, 1.0f), *dx = rand_host(N * C, 1.0f), *dw = rand_host(C, 1.0f);
    float *d_x = to_dev(x, N * C), *d_w = to_dev(w, C), *d_out = cuda_malloc(N * C * sizeof(float));
    float *d_rstd = cuda_malloc(N * sizeof(float));
    float *d_dout = to_dev(dout, N * C), *d_dx = to_dev(dx, N * C), *d_dw = to_dev(dw, C);
    rmsnorm_forward(out, rstd, x, w, N, C, eps);
    cuda_rmsnorm_forward(d_out, d_rstd, d_x, d_w, N, C, eps);
    compare("rmsnorm_forward out", out, d_out, N * C, TOL_RED, NULL, NULL);
    compare("rmsnorm_forward rstd", rstd, d_rstd, N, TOL_RED, NULL, NULL);
    rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
    cuda_rmsnorm_backward(d_dx, d_dw, d_dout, d_x, d_w, d_rstd, N, C);
    compare("rmsnorm_backward dx", dx, d_dx, N * C, TOL_RED, NULL, NULL);
    compare("rmsnorm_backward dw", dw, d_dw, C, TOL_RED, NULL, NULL);
    free(x); free(w); free(out); free(rstd); free(dout); free(dx); free(dw);
    cuda_free(d_x); cuda_free(d_w); cuda_free(d_out); cuda_free(d_rstd); cuda_free(d_dout); cuda_free(d_dx);
    cuda_free(d_dw);
}

static void test_linear(CudaCtx *cx, int with_bias) {
    const size_t N = 93;
    const int IC = 170, OC = 75;
    float *x = rand_host(N * IC, 1.0f), *W = rand_host((size_t)OC * IC, 0.5f), *b = rand_host(OC, 1.0f);
    float *out = malloc(N * OC * sizeof(float)), *dout = rand_host(N * OC, 1.0f);
    float *dx = rand_host(N * IC, 1.0f), *dW = rand_host((size_t)OC * IC, 1.0f), *db = rand_host(OC, 1.0f);
    float *d_x = to_dev(x, N * IC), *d_W = to_dev(W, (size_t)OC * IC), *d_b = to_dev(b, OC);
    float *d_out = cuda_malloc(N * OC * sizeof(float)), *d_dout = to_dev(dout, N * OC);
    float *d_dx = to_dev(dx, N * IC), *d_dW = to_dev(dW, (size_t)OC * IC), *d_db = to_dev(db, OC);
    linear_forward(out, x, W, with_bias ? b : NULL, N, IC, OC);
    cuda_linear_forward(cx, d_out, d_x, d_W, with_bias ? d_b : NULL, N, IC, OC);
    compare(with_bias ? "linear_forward (bias)" : "linear_forward", out, d_out, N * OC, TOL_RED, NULL, NULL);
    linear_backward(dx, dW, with_bias ? db : NULL, dout, x, W, N, IC, OC);
    cuda_linear_backward(cx, d_dx, d_dW, with_bias ? d_db : NULL, d_dout, d_x, d_W, N, IC, OC);
    compare("linear_backward dx", dx, d_dx, N * IC, TOL_RED, NULL, NULL);
    compare("linear_backward dW", dW, d_dW, (size_t)OC * IC, TOL_RED, NULL, NULL);
    if (with_bias) compare("linear_backward db", db, d_db, OC, TOL_RED, NULL, NULL);
    // dx == NULL skips the input gradient (the first layer's embedding input has none)
    cuda_linear_backward(cx, NULL, d_dW, NULL, d_dout, d_x, d_W, N, IC, OC);
    linear_backward(NULL, dW, NULL, dout, x, W, N, IC, OC);
    compare("linear_backward dW (dx NULL)", dW, d_dW, (size_t)OC * IC, TOL_RED, NULL, NULL);

    if (with_bias) {
        // TF32: much looser, but must still be the same product
        cuda_ctx_set_tf32(cx, 1);
        cuda_linear_forward(cx, d_out, d_x, d_W, d_b, N, IC, OC);
        compare("linear_forward (TF32)", out, d_out, N * OC, 1e-2, NULL, NULL);
        cuda_ctx_set_tf32(cx, 0);
    }
    free(x); free(W); free(b); free(out); free(dout); free(dx); free(dW); free(db);
    cuda_free(d_x); cuda_free(d_W); cuda_free(d_b); cuda_free(d_out); cuda_free(d_dout); cuda_free(d_dx);
    cuda_free(d_dW); cuda_free(d_db);
}

static void test_rope(void) {
    const int B = 2, T = 45, NH = 3, D = 16;
    const size_t n = (size_t)B * T * NH * D, nt = (size_t)T * (D / 2);
    float *cs = malloc(nt * sizeof(float)), *sn = malloc(nt * sizeof(float));
    rope_tables(cs, sn, T, D, 10000.0f);
    float *x = rand_host(n, 1.0f), *d_x = to_dev(x, n), *d_cs = to_dev(cs, nt), *d_sn = to_dev(sn, nt);
    rope_forward(x, cs, sn, B, T, NH, D);
    cuda_rope_forward(d_x, d_cs, d_sn, B, T, NH, D);
    compare("rope_forward", x, d_x, n, TOL_EW, NULL, NULL);
    float *dx = rand_host(n, 1.0f), *d_dx = to_dev(dx, n);
    rope_backward(dx, cs, sn, B, T, NH, D);
    cuda_rope_backward(d_dx, d_cs, d_sn, B, T, NH, D);
    compare("rope_backward", dx, d_dx, n, TOL_EW, NULL, NULL);
    free(cs); free(sn); free(x); free(dx);
    cuda_free(d_x); cuda_free(d_cs); cuda_free(d_sn); cuda_free(d_dx);
}

typedef struct { int T; } TriCtx;
static int lower_triangle(size_t i, const void *ctx) {
    const int T = ((const TriCtx *)ctx)->T;
    return (int)(i % T) <= (int)((i / T) % T);
}

static void test_attention(CudaCtx *cx, int B, int T, int H, int KV, int D) {
    char name[64];
    const size_t N = (size_t)B * T, nq = N * H * D, nk = N * KV * D, na = (size_t)B * H * T * T;
    float *q = rand_host(nq, 1.0f), *k = rand_host(nk, 1.0f), *v = rand_host(nk, 1.0f);
    float *out = malloc(nq * sizeof(float)), *att = calloc(na, sizeof(float));
    float *d_q = to_dev(q, nq), *d_k = to_dev(k, nk), *d_v = to_dev(v, nk);
    float *d_out = cuda_malloc(nq * sizeof(float)), *d_att = cuda_malloc(na * sizeof(float));
    float *d_scr = cuda_malloc(cuda_attention_scratch_floats(B, T, H, KV, D) * sizeof(float));
    attention_forward(out, att, q, k, v, B, T, H, KV, D);
    cuda_attention_forward(cx, d_out, d_att, d_q, d_k, d_v, d_scr, B, T, H, KV, D);
    TriCtx tc = {T};
    snprintf(name, sizeof(name), "attention T%d H%d KV%d out", T, H, KV);
    compare(name, out, d_out, nq, TOL_RED, NULL, NULL);
    snprintf(name, sizeof(name), "attention T%d H%d KV%d att", T, H, KV);
    compare(name, att, d_att, na, TOL_EW * 10, lower_triangle, &tc);
    // the GPU backward relies on zeros above the diagonal
    float *ga = malloc(na * sizeof(float));
    cuda_download(ga, d_att, na * sizeof(float));
    int upper_zero = 1;
    for (size_t i = 0; i < na; i++)
        if (!lower_triangle(i, &tc) && ga[i] != 0.0f) upper_zero = 0;
    CHECK_MSG(upper_zero, "attention: GPU att must be zero above the diagonal");
    free(ga);

    float *dout = rand_host(nq, 1.0f), *dq = rand_host(nq, 1.0f), *dk = rand_host(nk, 1.0f), *dv = rand_host(nk, 1.0f);
    float *d_dout = to_dev(dout, nq), *d_dq = to_dev(dq, nq), *d_dk = to_dev(dk, nk), *d_dv = to_dev(dv, nk);
    float *scratch = malloc((size_t)64 * T * sizeof(float) * 8);  // generous for any OpenMP thread count <= 512
    attention_backward(dq, dk, dv, dout, att, q, k, v, scratch, B, T, H, KV, D);
    cuda_attention_backward(cx, d_dq, d_dk, d_dv, d_dout, d_att, d_q, d_k, d_v, d_scr, B, T, H, KV, D);
    snprintf(name, sizeof(name), "attention T%d H%d KV%d dq", T, H, KV);
    compare(name, dq, d_dq, nq, TOL_RED, NULL, NULL);
    snprintf(name, sizeof(name), "attention T%d H%d KV%d dk", T, H, KV);
    compare(name, dk, d_dk, nk, TOL_RED, NULL, NULL);
    snprintf(name, sizeof(name), "attention T%d H%d KV%d dv", T, H, KV);
    compare(name, dv, d_dv, nk, TOL_RED, NULL, NULL);
    free(q); free(k); free(v); free(out); free(att); free(dout); free(dq); free(dk); free(dv); free(scratch);
    cuda_free(d_q); cuda_free(d_k); cuda_free(d_v); cuda_free(d_out); cuda_free(d_att); cuda_free(d_scr);
    cuda_free(d_dout); cuda_free(d_dq); cuda_free(d_dk); cuda_free(d_dv);
}

static void test_swiglu_residual(void) {
    const size_t n = 5003;
    float *g = rand_host(n, 6.0f), *u = rand_host(n, 2.0f), *out = malloc(n * sizeof(float));
    float *dout = rand_host(n, 1.0f), *dg = malloc(n * sizeof(float)), *du = malloc(n * sizeof(float));
    float *d_g = to_dev(g, n), *d_u = to_dev(u, n), *d_out = cuda_malloc(n * sizeof(float)), *d_dout = to_dev(dout, n);
    float *d_dg = to_dev(dout, n), *d_du = to_dev(dout, n);  // garbage: backward must overwrite
    swiglu_forward(out, g, u, n);
    cuda_swiglu_forward(d_out, d_g, d_u, n);
    compare("swiglu_forward", out, d_out, n, TOL_EW, NULL, NULL);
    swiglu_backward(dg, du, dout, g, u, n);
    cuda_swiglu_backward(d_dg, d_du, d_dout, d_g, d_u, n);
    compare("swiglu_backward dgate", dg, d_dg, n, TOL_EW, NULL, NULL);
    compare("swiglu_backward dup", du, d_du, n, TOL_EW, NULL, NULL);
    residual_forward(out, g, u, n);
    cuda_residual_forward(d_out, d_g, d_u, n);
    compare("residual_forward", out, d_out, n, TOL_EW, NULL, NULL);
    free(g); free(u); free(out); free(dout); free(dg); free(du);
    cuda_free(d_g); cuda_free(d_u); cuda_free(d_out); cuda_free(d_dout); cuda_free(d_dg); cuda_free(d_du);
}

// Head vs a double-precision reference: z = lnf W^T / temp, p = softmax(z).
static void test_head(CudaCtx *cx) {
    const size_t N = 29, chunk = 8;  // several chunks, the last one partial
    const int C = 40, V = 1001;
    const float temp = 0.7f;
    float *lnf = rand_host(N * C, 1.0f), *W = rand_host((size_t)V * C, 0.3f);
    int tg[29];
    for (size_t n = 0; n < N; n++) tg[n] = (int)(rng_u64(&rng) % (uint64_t)(V));
    tg[3] = -1; tg[10] = -100; tg[17] = V;  // "no target": logp 0, no one-hot term (the model passes -1 only)
    float *logp = malloc(N * sizeof(float)), *ent = malloc(N * sizeof(float)), *hn = malloc(N * sizeof(float));
    float *ss = malloc(N * sizeof(float)), *lse = malloc(N * sizeof(float));
    float *dlogp = rand_host(N, 1.0f);
    for (size_t n = 8; n < 16; n++) dlogp[n] = 0.0f;  // one whole chunk masked (skipped via the host copy)
    dlogp[3] = dlogp[10] = dlogp[17] = 0.0f;
    dlogp[20] = 0.0f;
    float *dlnf = malloc(N * C * sizeof(float)), *dW = rand_host((size_t)V * C, 1.0f);
    double *z = malloc((size_t)V * sizeof(double));
    memset(dlnf, 0, N * C * sizeof(float));
    float *dW0 = copy_host(dW, (size_t)V * C);
    for (size_t n = 0; n < N; n++) {
        double mx = -INFINITY, se = 0, sez = 0, se2 = 0, h = 0;
        for (int j = 0; j < V; j++) {
            double s = 0;
            for (int c = 0; c < C; c++) s += (double)lnf[n * C + c] * W[(size_t)j * C + c];
            z[j] = s / temp;
            if (z[j] > mx) mx = z[j];
        }
        for (int j = 0; j < V; j++) { double e = exp(z[j] - mx); se += e; sez += e * (z[j] - mx); se2 += e * e; }
        for (int c = 0; c < C; c++) h += (double)lnf[n * C + c] * lnf[n * C + c];
        const double ls = log(se);
        lse[n] = (float)(mx + ls);
        const int t = tg[n] >= 0 && tg[n] < V ? tg[n] : -1;
        logp[n] = t >= 0 ? (float)(z[t] - mx - ls) : 0.0f;
        ent[n] = (float)(ls - sez / se);
        ss[n] = (float)(se2 / (se * se));
        hn[n] = (float)sqrt(h);
        const double g = dlogp[n] / temp;
        if (g == 0.0) continue;
        for (int j = 0; j < V; j++) {
            const double dz = g * ((j == t ? 1.0 : 0.0) - exp(z[j] - mx - ls));
            for (int c = 0; c < C; c++) {
                dlnf[n * C + c] += (float)(dz * W[(size_t)j * C + c]);
                dW[(size_t)j * C + c] += (float)(dz * lnf[n * C + c]);
            }
        }
    }
    float *d_lnf = to_dev(lnf, N * C), *d_W = to_dev(W, (size_t)V * C), *d_dW = to_dev(dW0, (size_t)V * C);
    int *d_tg = to_dev_i(tg, N);
    float *d_out = cuda_malloc(5 * N * sizeof(float)), *d_logits = cuda_malloc(chunk * V * sizeof(float));
    float *d_dlogp = to_dev(dlogp, N), *d_dlnf = to_dev(dW0, N * C);  // garbage: must be overwritten
    cuda_head_forward(cx, d_out, d_out + N, d_out + 2 * N, d_out + 3 * N, d_out + 4 * N, d_logits, chunk, d_lnf, d_W,
                      d_tg, N, C, V, temp);
    compare("head logp", logp, d_out, N, TOL_RED, NULL, NULL);
    compare("head entropy", ent, d_out + N, N, TOL_RED, NULL, NULL);
    compare("head hnorm", hn, d_out + 2 * N, N, TOL_RED, NULL, NULL);
    compare("head sumsq", ss, d_out + 3 * N, N, TOL_RED, NULL, NULL);
    compare("head lse", lse, d_out + 4 * N, N, TOL_RED, NULL, NULL);
    cuda_head_backward(cx, d_dlnf, d_dW, d_dlogp, dlogp, d_lnf, d_W, d_tg, d_out + 4 * N, d_logits, chunk, N, C, V,
                       temp);
    compare("head_backward dlnf", dlnf, d_dlnf, N * C, TOL_RED, NULL, NULL);
    compare("head_backward dW", dW, d_dW, (size_t)V * C, TOL_RED, NULL, NULL);
    // without the host copy (no chunk skipping) the result is the same
    cuda_upload(d_dW, dW0, (size_t)V * C * sizeof(float));
    cuda_head_backward(cx, d_dlnf, d_dW, d_dlogp, NULL, d_lnf, d_W, d_tg, d_out + 4 * N, d_logits, chunk, N, C, V,
                       temp);
    compare("head_backward dlnf (no skip)", dlnf, d_dlnf, N * C, TOL_RED, NULL, NULL);
    compare("head_backward dW (no skip)", dW, d_dW, (size_t)V * C, TOL_RED, NULL, NULL);
    free(lnf); free(W); free(logp); free(ent); free(hn); free(ss); free(lse); free(dlogp); free(dlnf); free(dW);
    free(dW0); free(z);
    cuda_free(d_lnf); cuda_free(d_W); cuda_free(d_dW); cuda_free(d_tg); cuda_free(d_out); cuda_free(d_logits);
    cuda_free(d_dlogp); cuda_free(d_dlnf);
}

static void test_optim(void) {
    const size_t n = 300001;  // > one grid pass of the norm kernel (1024 blocks x 256 threads)
    float *p = rand_host(n, 1.0f), *g = rand_host(n, 0.01f), *m = rand_host(n, 0.001f), *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = 1e-6f * rng_uniform(&rng);
    float *d_p = to_dev(p, n), *d_g = to_dev(g, n), *d_m = to_dev(m, n), *d_v = to_dev(v, n);
    const AdamWConfig c = adamw_default();
    for (long step = 1; step <= 3; step++) {
        adamw_update(p, g, m, v, n, &c, 1e-3f, step);
        cuda_adamw_update(d_p, d_g, d_m, d_v, n, c.beta1, c.beta2, c.eps, c.weight_decay, 1e-3f, step);
    }
    compare("adamw params", p, d_p, n, TOL_EW, NULL, NULL);
    compare("adamw m", m, d_m, n, TOL_EW, NULL, NULL);
    compare("adamw v", v, d_v, n, TOL_EW, NULL, NULL);
    const double sq = grad_sqnorm(g, n), dsq = cuda_grad_sqnorm(d_g, n);
    printf("  grad_sqnorm cpu %.17g gpu %.17g\n", sq, dsq);
    CHECK_NEAR(dsq / sq, 1.0, 1e-12);
    CHECK_NEAR(cuda_grad_sqnorm(d_g, n), dsq, 0.0);  // deterministic
    const double norm = sqrt(sq);
    const float f = grad_clip(g, n, norm, 0.5f * (float)norm), df = cuda_grad_clip(d_g, n, norm, 0.5f * (float)norm);
    CHECK_NEAR(df, f, 0.0);
    CHECK(f < 0.51f && f > 0.49f);
    compare("grad_clip", g, d_g, n, TOL_EW, NULL, NULL);
    CHECK_NEAR(cuda_grad_clip(d_g, n, norm, 10.0f * (float)norm), 1.0, 0.0);  // below the limit: untouched
    CHECK_NEAR(cuda_grad_clip(d_g, n, NAN, 1.0f), 0.0, 0.0);                // non-finite: skip the step
    compare("grad_clip (no-ops)", g, d_g, n, 0.0, NULL, NULL);
    free(p); free(g); free(m); free(v);
    cuda_free(d_p); cuda_free(d_g); cuda_free(d_m); cuda_free(d_v);
}

// Device fp32 -> bf16 -> fp32 against bf16_from_f32 / f32_from_bf16, bit for bit.
static void test_bf16_convert(void) {
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u, 0x3f800000u, 0xbf800000u,          // +-0, +-1
        0x7f800000u, 0xff800000u,                                   // +-inf
        0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfffffu, 0xffffffffu, 0x7f80ffffu,  // quiet / signalling NaNs
        0x00000001u, 0x807fffffu, 0x00008000u, 0x00018000u, 0x00017fffu, 0x00008001u,  // denormals, their ties
        0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f807fffu,          // ties to even (down, up), above, below
        0x7f7fffffu, 0xff7fffffu, 0x7f7f8000u, 0x7f7f7fffu,          // max float rounds to inf; ties near it
        0x00800000u, 0x007fffffu, 0x4b7fffffu, 0xc2f6e979u,
    };
    const size_t ns = sizeof(special) / sizeof(special[0]), nr = 200000, n = ns + nr;
    uint32_t *bits = malloc(n * sizeof(uint32_t));
    memcpy(bits, special, sizeof(special));
    for (size_t i = ns; i < n; i++) bits[i] = (uint32_t)rng_u64(&rng);
    float *f = malloc(n * sizeof(float));
    memcpy(f, bits, n * sizeof(float));
    float *d_f = to_dev(f, n);
    uint16_t *d_h = cuda_malloc(n * sizeof(uint16_t)), *h = malloc(n * sizeof(uint16_t));
    cuda_f32_to_bf16(d_h, d_f, n);
    cuda_download(h, d_h, n * sizeof(uint16_t));
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (h[i] != bf16_from_f32(f[i])) { bad++; if (first == n) first = i; }
    printf("  bf16 from f32: %zu values (%zu special), %zu differ from the host\n", n, ns, bad);
    CHECK_MSG(bad == 0, "cuda_f32_to_bf16: %zu of %zu differ; first 0x%08x -> gpu 0x%04x host 0x%04x", bad, n,
              first < n ? bits[first] : 0u, first < n ? h[first] : 0u, first < n ? bf16_from_f32(f[first]) : 0u);
    // every bf16 pattern widened
    const size_t nb = 65536;
    uint16_t *all = malloc(nb * sizeof(uint16_t));
    for (size_t i = 0; i < nb; i++) all[i] = (uint16_t)i;
    uint16_t *d_all = cuda_malloc(nb * sizeof(uint16_t));
    float *d_w = cuda_malloc(nb * sizeof(float)), *w = malloc(nb * sizeof(float));
    cuda_upload(d_all, all, nb * sizeof(uint16_t));
    cuda_bf16_to_f32(d_w, d_all, nb);
    cuda_download(w, d_w, nb * sizeof(float));
    bad = 0;
    for (size_t i = 0; i < nb; i++) {
        const float e = f32_from_bf16(all[i]);
        if (memcmp(&e, &w[i], sizeof(float)) != 0) bad++;
    }
    printf("  bf16 to f32: all 65536 patterns, %zu differ from the host\n", bad);
    CHECK_MSG(bad == 0, "cuda_bf16_to_f32: %zu of 65536 patterns differ from f32_from_bf16", bad);
    free(bits); free(f); free(h); free(all); free(w);
    cuda_free(d_f); cuda_free(d_h); cuda_free(d_all); cuda_free(d_w);
}

// Device selection, memory info, UUID, and the peak of cuda_malloc'd bytes.
static void test_device_helpers(void) {
    cuda_set_device(0);
    CHECK_EQ_INT(cuda_get_device(), 0);
    size_t fr = 0, tot = 0;
    cuda_mem_info(&fr, &tot);
    printf("  device memory: %.2f GiB free of %.2f GiB\n", fr / 1073741824.0, tot / 1073741824.0);
    CHECK(tot > 0 && fr <= tot);
    char uuid[64];
    cuda_device_uuid(uuid, sizeof(uuid));
    printf("  uuid %s\n", uuid);
    CHECK_MSG(strncmp(uuid, "GPU-", 4) == 0 && strlen(uuid) == 40, "uuid '%s' is not GPU-xxxxxxxx-xxxx-...", uuid);
    const size_t MB = (size_t)1 << 20;
    cuda_reset_peak_allocated();
    const size_t base = cuda_peak_allocated();
    void *a = cuda_malloc(1 * MB), *b = cuda_malloc(3 * MB);
    cuda_free(a);
    void *c = cuda_malloc(MB / 2);
    CHECK_EQ_INT(cuda_peak_allocated(), base + 4 * MB);   // a + b live together; c fits in a's place
    cuda_free(b);
    cuda_free(c);
    cuda_reset_peak_allocated();
    CHECK_EQ_INT(cuda_peak_allocated(), base);             // everything freed: back to what was live
}

int main(void) {
    if (!cuda_test_device()) return CUDA_TEST_SKIPPED;
    rng_seed(&rng, 1234);
    CudaCtx *cx = cuda_ctx_create(0);
    test_embedding();
    test_rmsnorm();
    test_linear(cx, 0);
    test_linear(cx, 1);
    test_rope();
    test_attention(cx, 2, 37, 6, 2, 16);   // GQA, T > 32 (several lanes per row)
    test_attention(cx, 1, 70, 4, 4, 32);   // MHA
    test_attention(cx, 3, 1, 2, 1, 8);     // T = 1
    test_swiglu_residual();
    test_head(cx);
    test_optim();
    test_bf16_convert();
    test_device_helpers();
    cuda_ctx_destroy(cx);
    return tests_done();
}
#endif
