// Finite-difference gradient checks of every op and of the whole model, plus the optimizer formulas.
//
// Each op check builds the scalar L = sum_i out_i * R_i (R fixed random, sum in double), runs the op's
// backward with dout = R, and compares every input gradient with the central difference
// (L(x + e) - L(x - e)) / 2e, e = 1e-2 (ops are smooth; the fp32 forward's rounding, ~1e-7 * |L| / e,
// stays below 1e-4). Tolerance: |analytic - fd| <= 2e-3 + 1e-2 * |fd|, which catches any wrong term or
// factor (errors of those are O(|grad|)) while admitting the O(e^2) truncation of non-linear ops.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/forward.h"
#include "common/engine/model.h"
#include "common/engine/ops.h"
#include "common/engine/optim.h"
#include "common/core/rng.h"
#include "tests/harness.h"

typedef double (*LossFn)(void *ctx);

static Rng rng;

static float *rand_buf(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * rng_normal(&rng);
    return p;
}

static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// Compares analytic[i] with the central difference of f over x[i], for every i (stride 1) or a sample.
static void fd_check(const char *name, float *x, size_t n, const float *analytic, LossFn f, void *ctx,
                     float eps, double atol, double rtol, size_t stride) {
    double worst = 0.0;
    size_t bad = 0, worst_i = 0;
    for (size_t i = 0; i < n; i += stride) {
        const float x0 = x[i];
        x[i] = x0 + eps; const double lp = f(ctx);
        x[i] = x0 - eps; const double lm = f(ctx);
        x[i] = x0;
        const double fd = (lp - lm) / (2.0 * (double)eps);
        const double err = fabs(fd - analytic[i]);
        if (err > atol + rtol * fabs(fd)) bad++;
        if (err > worst) { worst = err; worst_i = i; }
    }
    CHECK_MSG(bad == 0, "%s: %zu gradients off, worst |diff| %.3g at %zu (analytic %.6g)", name, bad, worst,
              worst_i, (double)analytic[worst_i]);
}

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 1e-2

// ---- per-op contexts ------------------------------------------------------------------------------

typedef struct { float *x, *w, *out, *rstd, *R; size_t N; int C; } RmsCtx;
static double rms_loss(void *p) {
    RmsCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return dot_d(c->out, c->R, c->N * c->C);
}

static void test_rmsnorm(void) {
    RmsCtx c = {.N = 3, .C = 8};
    c.x = rand_buf(24, 1.0f); c.w = rand_buf(8, 1.0f); c.R = rand_buf(24, 1.0f);
    c.out = malloc(24 * sizeof(float)); c.rstd = malloc(3 * sizeof(float));
    float *dx = calloc(24, sizeof(float)), *dw = calloc(8, sizeof(float));
    rms_loss(&c);
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.C);
    fd_check("rmsnorm dx", c.x, 24, dx, rms_loss, &c, EPS, ATOL, RTOL, 1);
    fd_check("rmsnorm dw", c.w, 8, dw, rms_loss, &c, EPS, ATOL, RTOL, 1);
    // accumulate semantics: a second backward doubles the gradients
    float dx0 = dx[5];
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.C);
    CHECK_NEAR(dx[5], 2 * dx0, 1e-6);
    free(c.x); free(c.w); free(c.R); free(c.out); free(c.rstd); free(dx); free(dw);
}

typedef struct { float *x, *W, *b, *out, *R; size_t N; int IC, OC; } LinCtx;
static double lin_loss(void *p) {
    LinCtx *c = p;
    linear_forward(c->out, c->x, c->W, c->b, c->N, c->IC, c->OC);
    return dot_d(c->out, c->R, c->N * c->OC);
}

static void test_linear(void) {
    LinCtx c = {.N = 4, .IC = 5, .OC = 3};
    c.x = rand_buf(20, 1.0f); c.W = rand_buf(15, 1.0f); c.b = rand_buf(3, 1.0f); c.R = rand_buf(12, 1.0f);
    c.out = malloc(12 * sizeof(float));
    float *dx = calloc(20, sizeof(float)), *dW = calloc(15, sizeof(float)), *db = calloc(3, sizeof(float));
    lin_loss(&c);
    // explicit check of one output against the definition y = x W^T + b
    double y = c.b[2];
    for (int i = 0; i < 5; i++) y += (double)c.x[1 * 5 + i] * c.W[2 * 5 + i];
    CHECK_NEAR(c.out[1 * 3 + 2], y, 1e-5);
    linear_backward(dx, dW, db, c.R, c.x, c.W, c.N, c.IC, c.OC);
    fd_check("linear dx", c.x, 20, dx, lin_loss, &c, EPS, ATOL, RTOL, 1);
    fd_check("linear dW", c.W, 15, dW, lin_loss, &c, EPS, ATOL, RTOL, 1);
    fd_check("linear db", c.b, 3, db, lin_loss, &c, EPS, ATOL, RTOL, 1);
    free(c.x); free(c.W); free(c.b); free(c.R); free(c.out); free(dx); free(dW); free(db);
}

typedef struct { float *x, *y, *cs, *sn, *R; int B, T, NH, D; } RopeCtx;
static double rope_loss(void *p) {
    RopeCtx *c = p;
    const size_t n = (size_t)c->B * c->T * c->NH * c->D;
    memcpy(c->y, c->x, n * sizeof(float));
    rope_forward(c->y, c->cs, c->sn, c->B, c->T, c->NH, c->D);
    return dot_d(c->y, c->R, n);
}

static void test_rope(void) {
    RopeCtx c = {.B = 2, .T = 5, .NH = 2, .D = 6};
    const size_t n = 2 * 5 * 2 * 6;
    c.x = rand_buf(n, 1.0f); c.R = rand_buf(n, 1.0f); c.y = malloc(n * sizeof(float));
    c.cs = malloc(5 * 3 * sizeof(float)); c.sn = malloc(5 * 3 * sizeof(float));
    rope_tables(c.cs, c.sn, 5, 6, 500.0f);
    // table values: angle(t=3, i=1) = 3 * 500^(-2/6)
    CHECK_NEAR(c.cs[3 * 3 + 1], cos(3.0 * pow(500.0, -2.0 / 6.0)), 1e-6);
    rope_loss(&c);
    // position 0 is the identity; rotation keeps each (i, i + D/2) pair's norm
    CHECK_NEAR(c.y[0], c.x[0], 0);
    const size_t o = ((size_t)(1 * 5 + 4) * 2 + 1) * 6;  // b=1, t=4, h=1
    CHECK_NEAR(hypot(c.y[o + 1], c.y[o + 4]), hypot(c.x[o + 1], c.x[o + 4]), 1e-5);
    // rotate_half convention: y[i] = x[i] cos - x[i+D/2] sin
    const double ang = 4.0 * pow(500.0, -2.0 / 6.0);
    CHECK_NEAR(c.y[o + 1], c.x[o + 1] * cos(ang) - c.x[o + 4] * sin(ang), 1e-5);
    float *dx = malloc(n * sizeof(float));
    memcpy(dx, c.R, n * sizeof(float));
    rope_backward(dx, c.cs, c.sn, c.B, c.T, c.NH, c.D);
    fd_check("rope dx", c.x, n, dx, rope_loss, &c, EPS, ATOL, RTOL, 1);
    free(c.x); free(c.R); free(c.y); free(c.cs); free(c.sn); free(dx);
}

typedef struct { float *q, *k, *v, *out, *att, *R; int B, T, H, KV, D; } AttCtx;
static int att_gemm = 0;  // 1: test the GEMM versions instead of the loops
static double att_loss(void *p) {
    AttCtx *c = p;
    (att_gemm ? attention_forward_gemm : attention_forward_loops)(c->out, c->att, c->q, c->k, c->v, c->B, c->T, c->H, c->KV, c->D);
    return dot_d(c->out, c->R, (size_t)c->B * c->T * c->H * c->D);
}

static void test_attention(int H, int KV) {
    AttCtx c = {.B = 2, .T = 5, .H = H, .KV = KV, .D = 4};
    const size_t nq = (size_t)c.B * c.T * H * c.D, nk = (size_t)c.B * c.T * KV * c.D;
    c.q = rand_buf(nq, 1.0f); c.k = rand_buf(nk, 1.0f); c.v = rand_buf(nk, 1.0f); c.R = rand_buf(nq, 1.0f);
    c.out = malloc(nq * sizeof(float)); c.att = calloc((size_t)c.B * H * c.T * c.T, sizeof(float));
    att_loss(&c);
    // causal: the first position attends only to itself, so its output is v[0] of its kv head
    const int G = H / KV, h = H - 1;
    for (int d = 0; d < c.D; d++) CHECK_NEAR(c.out[h * c.D + d], c.v[(h / G) * c.D + d], 1e-6);
    // a late key change must not affect earlier outputs
    float before = c.out[(size_t)(0 * c.T + 2) * H * c.D];
    c.k[(size_t)(0 * c.T + 4) * KV * c.D] += 3.0f;
    att_loss(&c);
    CHECK_NEAR(c.out[(size_t)(0 * c.T + 2) * H * c.D], before, 0);
    c.k[(size_t)(0 * c.T + 4) * KV * c.D] -= 3.0f;
    att_loss(&c);
    float *dq = calloc(nq, sizeof(float)), *dk = calloc(nk, sizeof(float)), *dv = calloc(nk, sizeof(float));
    float *scratch = malloc(64 * (size_t)c.T * sizeof(float));
    (att_gemm ? attention_backward_gemm : attention_backward_loops)(dq, dk, dv, c.R, c.att, c.q, c.k, c.v, scratch, c.B, c.T, H, KV, c.D);
    char name[64];
    snprintf(name, sizeof(name), "attention%s H=%d KV=%d dq", att_gemm ? " gemm" : "", H, KV);
    fd_check(name, c.q, nq, dq, att_loss, &c, EPS, ATOL, RTOL, 1);
    snprintf(name, sizeof(name), "attention%s H=%d KV=%d dk", att_gemm ? " gemm" : "", H, KV);
    fd_check(name, c.k, nk, dk, att_loss, &c, EPS, ATOL, RTOL, 1);
    snprintf(name, sizeof(name), "attention%s H=%d KV=%d dv", att_gemm ? " gemm" : "", H, KV);
    fd_check(name, c.v, nk, dv, att_loss, &c, EPS, ATOL, RTOL, 1);
    free(c.q); free(c.k); free(c.v); free(c.R); free(c.out); free(c.att); free(dq); free(dk); free(dv); free(scratch);
}

// The GEMM and loop versions agree at a length that takes the GEMM path in the model (T >= 64).
static void test_attention_paths(void) {
    const int B = 2, T = 70, H = 4, KV = 2, D = 8;
    const size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * KV * D, na = (size_t)B * H * T * T;
    float *q = rand_buf(nq, 1.0f), *k = rand_buf(nk, 1.0f), *v = rand_buf(nk, 1.0f), *dout = rand_buf(nq, 1.0f);
    float *o1 = malloc(nq * sizeof(float)), *o2 = malloc(nq * sizeof(float));
    float *a1 = calloc(na, sizeof(float)), *a2 = calloc(na, sizeof(float)), *scratch = malloc((size_t)T * T * sizeof(float));
    float *g1 = calloc(nq + 2 * nk, sizeof(float)), *g2 = calloc(nq + 2 * nk, sizeof(float));
    attention_forward_loops(o1, a1, q, k, v, B, T, H, KV, D);
    attention_forward_gemm(o2, a2, q, k, v, B, T, H, KV, D);
    attention_backward_loops(g1, g1 + nq, g1 + nq + nk, dout, a1, q, k, v, scratch, B, T, H, KV, D);
    attention_backward_gemm(g2, g2 + nq, g2 + nq + nk, dout, a2, q, k, v, scratch, B, T, H, KV, D);
    double wo = 0.0, wg = 0.0, gmax = 0.0;
    for (size_t i = 0; i < nq; i++) wo = fmax(wo, fabs(o1[i] - o2[i]));
    for (size_t i = 0; i < nq + 2 * nk; i++) { wg = fmax(wg, fabs(g1[i] - g2[i])); gmax = fmax(gmax, fabs(g1[i])); }
    CHECK_MSG(wo < 1e-5 && wg < 1e-5 * (1.0 + gmax), "attention loops vs gemm: out %g, grads %g (max %g)", wo, wg, gmax);
    free(q); free(k); free(v); free(dout); free(o1); free(o2); free(a1); free(a2); free(scratch); free(g1); free(g2);
}

typedef struct { float *g, *u, *out, *R; size_t n; } SwiCtx;
static double swi_loss(void *p) {
    SwiCtx *c = p;
    swiglu_forward(c->out, c->g, c->u, c->n);
    return dot_d(c->out, c->R, c->n);
}

static void test_swiglu(void) {
    SwiCtx c = {.n = 16};
    c.g = rand_buf(16, 2.0f); c.u = rand_buf(16, 1.0f); c.R = rand_buf(16, 1.0f); c.out = malloc(16 * sizeof(float));
    swi_loss(&c);
    CHECK_NEAR(c.out[3], c.g[3] / (1.0 + exp(-c.g[3])) * c.u[3], 1e-6);
    float *dg = malloc(16 * sizeof(float)), *du = malloc(16 * sizeof(float));
    swiglu_backward(dg, du, c.R, c.g, c.u, 16);
    fd_check("swiglu dgate", c.g, 16, dg, swi_loss, &c, EPS, ATOL, RTOL, 1);
    fd_check("swiglu dup", c.u, 16, du, swi_loss, &c, EPS, ATOL, RTOL, 1);
    free(c.g); free(c.u); free(c.R); free(c.out); free(dg); free(du);
}

static void test_embedding(void) {
    const int tokens[5] = {2, 0, 2, 3, 2};  // repeats must accumulate
    float *wte = rand_buf(4 * 3, 1.0f), *dout = rand_buf(5 * 3, 1.0f), out[15];
    float dwte[12] = {0};
    embedding_forward(out, tokens, wte, 5, 3);
    CHECK(memcmp(out + 3 * 3, wte + 3 * 3, 3 * sizeof(float)) == 0);
    embedding_backward(dwte, dout, tokens, 5, 3);
    CHECK_NEAR(dwte[2 * 3 + 1], dout[0 * 3 + 1] + dout[2 * 3 + 1] + dout[4 * 3 + 1], 1e-6);
    CHECK_NEAR(dwte[1 * 3 + 0], 0, 0);
    CHECK_NEAR(dwte[0 * 3 + 2], dout[1 * 3 + 2], 0);
    free(wte); free(dout);
}

// ---- whole model ----------------------------------------------------------------------------------

typedef struct {
    Model *m; Acts *a; const int *tokens, *targets; const float *mask, *coef;
    int B, T; float temperature;
    const float *coef_h;   // (B, T) entropy coefficients (loss C), or NULL
} ModelCtx;

// Loss A: mean masked cross-entropy (temperature 1). Loss B: sum_t coef_t logp_t at a temperature.
static double model_ce_loss(void *p) {
    ModelCtx *c = p;
    return model_ce(c->m, c->a, c->tokens, c->targets, c->mask, c->B, c->T, 0);
}
static double model_temp_loss(void *p) {
    ModelCtx *c = p;
    float logp[64];
    model_forward(c->m, c->a, c->tokens, c->B, c->T);
    model_head(c->m, c->a, c->targets, c->temperature, logp, NULL, NULL, NULL);
    return dot_d(logp, c->coef, (size_t)c->B * c->T);
}

// Loss C: sum_t coef_t logp_t + coef_h_t H_t at a temperature (H the entropy model_head reports):
// what the learner's entropy bonus back-propagates through model_backward_ent.
static double model_ent_loss(void *p) {
    ModelCtx *c = p;
    float logp[64], ent[64];
    model_forward(c->m, c->a, c->tokens, c->B, c->T);
    model_head(c->m, c->a, c->targets, c->temperature, logp, ent, NULL, NULL);
    return dot_d(logp, c->coef, (size_t)c->B * c->T) + dot_d(ent, c->coef_h, (size_t)c->B * c->T);
}

static void test_model(int qkv_bias, int tie, int H, int KV) {
    ModelConfig cfg;
    model_config_default(&cfg);
    cfg.vocab_size = 11; cfg.hidden_size = 8; cfg.intermediate_size = 12; cfg.num_layers = 2;
    cfg.num_heads = H; cfg.num_kv_heads = KV; cfg.head_dim = 4; cfg.qkv_bias = qkv_bias;
    cfg.tie_word_embeddings = tie; cfg.rope_theta = 1000.0f; cfg.rms_norm_eps = 1e-5f;
    Model m;
    char err[256];
    CHECK(model_init(&m, &cfg, err, sizeof(err)) == 0);
    model_init_random(&m, 7 + qkv_bias + 2 * tie, 0.4f);
    // non-trivial norm weights and biases so their gradients are exercised away from 1 / 0
    for (int i = 0; i < m.num_tensors; i++)
        if (m.tensors[i].ndim == 1)
            for (size_t j = 0; j < m.tensors[i].numel; j++) m.params[m.tensors[i].offset + j] += 0.3f * rng_normal(&rng);
    model_alloc_train(&m);
    enum { B = 2, T = 6 };
    const int tokens[B * T] = {1, 5, 7, 3, 9, 10, 4, 4, 2, 8, 0, 0};          // row 1 padded after 10 tokens... (pad = 0)
    int targets[B * T];
    float mask[B * T], coef[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            targets[b * T + t] = t + 1 < T ? tokens[b * T + t + 1] : -100;
            mask[b * T + t] = (t + 1 < T) && !(b == 1 && t >= 3);  // row 1: 4 real tokens, then padding
            coef[b * T + t] = mask[b * T + t] * (0.5f + 0.25f * (float)((b * T + t) % 3) - 0.4f);
        }
    Acts a;
    acts_init(&a, &cfg, B + 1, T + 2);  // larger capacity than used: strides must follow the actual shape
    if (tie) a.head_cols = 4;  // vocabulary slices 4 + 4 + 3: online softmax across slices
    ModelCtx ctx = {&m, &a, tokens, targets, mask, coef, B, T, 0.7f, NULL};
    char name[96];

    memset(m.grads, 0, m.num_params * sizeof(float));
    float loss = model_ce(&m, &a, tokens, targets, mask, B, T, 1);
    CHECK(loss > 1.0f && loss < 5.0f);
    float *g = malloc(m.num_params * sizeof(float));
    memcpy(g, m.grads, m.num_params * sizeof(float));
    // the 7 active rows of 12 are fewer than 2/3: the recompute path ran
    snprintf(name, sizeof(name), "model CE bias=%d tie=%d H=%d KV=%d", qkv_bias, tie, H, KV);
    fd_check(name, m.params, m.num_params, g, model_ce_loss, &ctx, 1e-2f, 1e-3, 2e-2, 1);

    // padding: changing a token after row 1's end changes nothing in the loss
    int tok2[B * T];
    memcpy(tok2, tokens, sizeof(tok2));
    tok2[1 * T + 5] = 9;
    CHECK_NEAR(model_ce(&m, &a, tok2, targets, mask, B, T, 0), loss, 0);

    // grads accumulate: a second backward doubles them
    model_ce(&m, &a, tokens, targets, mask, B, T, 1);
    double maxdiff = 0.0;
    for (size_t i = 0; i < m.num_params; i++) maxdiff = fmax(maxdiff, fabs(m.grads[i] - 2 * g[i]));
    CHECK_MSG(maxdiff < 1e-6, "accumulated grads differ from 2x by %g", maxdiff);

    // no mask: 10 of 12 rows active, so with one vocabulary slice (tie == 0 here) the backward reuses
    // model_head's logits instead of recomputing them; with slices (tie == 1) it recomputes
    memset(m.grads, 0, m.num_params * sizeof(float));
    model_ce(&m, &a, tokens, targets, NULL, B, T, 1);
    memcpy(g, m.grads, m.num_params * sizeof(float));
    ModelCtx ctx_nomask = ctx;
    ctx_nomask.mask = NULL;
    snprintf(name, sizeof(name), "model CE no mask bias=%d tie=%d", qkv_bias, tie);
    fd_check(name, m.params, m.num_params, g, model_ce_loss, &ctx_nomask, 1e-2f, 1e-3, 2e-2, 1);


    // temperature head, arbitrary per-token coefficients
    memset(m.grads, 0, m.num_params * sizeof(float));
    float logp[B * T], ent[B * T], hn[B * T], s2[B * T];
    model_forward(&m, &a, tokens, B, T);
    model_head(&m, &a, targets, 0.7f, logp, ent, hn, s2);
    model_backward(&m, &a, coef);
    memcpy(g, m.grads, m.num_params * sizeof(float));
    snprintf(name, sizeof(name), "model temperature bias=%d tie=%d", qkv_bias, tie);
    fd_check(name, m.params, m.num_params, g, model_temp_loss, &ctx, 1e-2f, 1e-3, 2e-2, 1);

    // entropy term: per-token entropy coefficients, on rows with and without a log-prob coefficient
    // (row 1's padding has coef 0 but coef_h != 0 on two positions: rows active through dent alone)
    float coef_h[B * T];
    for (int n = 0; n < B * T; n++) coef_h[n] = (n % 4 == 1) ? 0.0f : 0.3f - 0.15f * (float)(n % 5);
    memset(m.grads, 0, m.num_params * sizeof(float));
    model_forward(&m, &a, tokens, B, T);
    model_head(&m, &a, targets, 0.7f, logp, ent, NULL, NULL);
    model_backward_ent(&m, &a, coef, coef_h);
    memcpy(g, m.grads, m.num_params * sizeof(float));
    ModelCtx ctx_ent = ctx;
    ctx_ent.coef_h = coef_h;
    snprintf(name, sizeof(name), "model entropy term bias=%d tie=%d", qkv_bias, tie);
    fd_check(name, m.params, m.num_params, g, model_ent_loss, &ctx_ent, 1e-2f, 1e-3, 2e-2, 1);
    // dent = NULL and dent = 0 are both the plain backward, bit for bit
    float zero_h[B * T] = {0};
    memset(m.grads, 0, m.num_params * sizeof(float));
    model_forward(&m, &a, tokens, B, T);
    model_head(&m, &a, targets, 0.7f, logp, ent, NULL, NULL);
    model_backward_ent(&m, &a, coef, zero_h);
    float *g0 = malloc(m.num_params * sizeof(float));
    memcpy(g0, m.grads, m.num_params * sizeof(float));
    memset(m.grads, 0, m.num_params * sizeof(float));
    model_forward(&m, &a, tokens, B, T);
    model_head(&m, &a, targets, 0.7f, logp, ent, NULL, NULL);
    model_backward(&m, &a, coef);
    CHECK(memcmp(g0, m.grads, m.num_params * sizeof(float)) == 0);
    free(g0);

    // head statistics against a direct double-precision computation from full logits
    model_forward(&m, &a, tokens, B, T);
    float logits[B * T * 11];
    model_logits(&m, &a, logits);
    double worst = 0.0;
    for (int n = 0; n < B * T; n++) {
        const float *z = logits + n * 11;
        double mx = -1e30, se = 0.0, h = 0.0, q2 = 0.0, hh = 0.0;
        for (int j = 0; j < 11; j++) mx = fmax(mx, z[j] / 0.7);
        for (int j = 0; j < 11; j++) se += exp(z[j] / 0.7 - mx);
        for (int j = 0; j < 11; j++) {
            const double pj = exp(z[j] / 0.7 - mx) / se;
            h -= pj * log(pj);
            q2 += pj * pj;
        }
        for (int c = 0; c < 8; c++) hh += (double)a.lnf[n * 8 + c] * a.lnf[n * 8 + c];
        const double lp = targets[n] >= 0 ? z[targets[n]] / 0.7 - mx - log(se) : 0.0;
        worst = fmax(worst, fabs(lp - logp[n]));
        worst = fmax(worst, fabs(h - ent[n]));
        worst = fmax(worst, fabs(q2 - s2[n]));
        worst = fmax(worst, fabs(sqrt(hh) - hn[n]));
    }
    CHECK_MSG(worst < 2e-5, "head statistics off by %g", worst);

    // forward-only activations (one layer stored) give bit-identical logits
    Acts ae;
    acts_init_eval(&ae, &cfg, B, T);
    CHECK(acts_bytes_eval(&cfg, B, T) < acts_bytes(&cfg, B, T));
    float logits_e[B * T * 11];
    model_forward(&m, &ae, tokens, B, T);
    model_logits(&m, &ae, logits_e);
    CHECK(memcmp(logits, logits_e, sizeof(logits)) == 0);
    acts_free(&ae);

    // determinism: identical inputs give bit-identical losses and gradients
    memset(m.grads, 0, m.num_params * sizeof(float));
    float l1 = model_ce(&m, &a, tokens, targets, mask, B, T, 1);
    memcpy(g, m.grads, m.num_params * sizeof(float));
    memset(m.grads, 0, m.num_params * sizeof(float));
    float l2 = model_ce(&m, &a, tokens, targets, mask, B, T, 1);
    CHECK(memcmp(&l1, &l2, sizeof(float)) == 0);
    CHECK(memcmp(g, m.grads, m.num_params * sizeof(float)) == 0);

    free(g);
    acts_free(&a);
    model_free(&m);
}

// Large vocabulary: several head chunks, extreme logits (stable log-sum-exp), no NaN.
static void test_head_chunks(void) {
    ModelConfig cfg;
    model_config_default(&cfg);
    cfg.vocab_size = 70000; cfg.hidden_size = 8; cfg.intermediate_size = 8; cfg.num_layers = 1;
    cfg.num_heads = 2; cfg.num_kv_heads = 1; cfg.head_dim = 4; cfg.tie_word_embeddings = 1;
    Model m;
    char err[256];
    CHECK(model_init(&m, &cfg, err, sizeof(err)) == 0);
    model_init_random(&m, 3, 0.02f);
    m.params[5 * 8 + 0] = 400.0f;  // token 5 gets a huge logit wherever lnf[0] is large
    Acts a;
    acts_init(&a, &cfg, 2, 80);
    CHECK(a.head_cols < 70000);  // the slice loop really runs more than once
    int tokens[160], targets[160];
    for (int i = 0; i < 160; i++) { tokens[i] = (i * 7919) % 70000; targets[i] = (i * 104729) % 70000; }
    float logp[160], ent[160];
    model_forward(&m, &a, tokens, 2, 80);
    model_head(&m, &a, targets, 1.0f, logp, ent, NULL, NULL);
    int finite = 1;
    for (int i = 0; i < 160; i++) finite &= isfinite(logp[i]) && isfinite(ent[i]) && logp[i] <= 0 && ent[i] >= -1e-4f;
    CHECK(finite);
    // a few rows against a direct double computation over the full logits
    float *lg = malloc((size_t)160 * 70000 * sizeof(float));
    model_logits(&m, &a, lg);
    double worst = 0.0, maxz = 0.0;
    for (int n = 0; n < 160; n += 13) {
        const float *z = lg + (size_t)n * 70000;
        double mx = -1e30, se = 0.0, ez = 0.0;
        for (int j = 0; j < 70000; j++) mx = fmax(mx, z[j]);
        for (int j = 0; j < 70000; j++) { const double e = exp(z[j] - mx); se += e; ez += e * (z[j] - mx); }
        worst = fmax(worst, fabs(z[targets[n]] - mx - log(se) - logp[n]));
        worst = fmax(worst, fabs(log(se) - ez / se - ent[n]));
        maxz = fmax(maxz, mx);
    }
    CHECK_MSG(worst < 1e-4, "multi-slice head off by %g", worst);
    CHECK(maxz > 50);  // the huge-logit rows were really exercised
    free(lg);
    acts_free(&a);
    model_free(&m);
}

// ---- optimizer ------------------------------------------------------------------------------------

static void test_adamw(void) {
    const size_t n = 5;
    float p[5] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f}, g[5], mm[5] = {0}, vv[5] = {0};
    double pd[5], md[5] = {0}, vd[5] = {0};
    for (size_t i = 0; i < n; i++) pd[i] = p[i];
    AdamWConfig c = {0.9f, 0.999f, 1e-8f, 0.1f};
    for (long step = 1; step <= 4; step++) {
        for (size_t i = 0; i < n; i++) g[i] = (float)(0.1 * (double)(i + 1) * (step % 2 ? 1 : -2));
        adamw_update(p, g, mm, vv, n, &c, 1e-2f, step);
        for (size_t i = 0; i < n; i++) {  // reference in double
            pd[i] *= 1.0 - 1e-2 * 0.1;
            md[i] = 0.9 * md[i] + 0.1 * g[i];
            vd[i] = 0.999 * vd[i] + 0.001 * (double)g[i] * g[i];
            const double mh = md[i] / (1 - pow(0.9, step)), vh = vd[i] / (1 - pow(0.999, step));
            pd[i] -= 1e-2 * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (size_t i = 0; i < n; i++) CHECK_NEAR(p[i], pd[i], 1e-6);
    // grad_scale equals scaling the gradients first (clip folded into the update), bit for bit
    float p1[5] = {1, 2, 3, 4, 5}, p2[5] = {1, 2, 3, 4, 5}, m1[5] = {0}, m2[5] = {0}, v1[5] = {0}, v2[5] = {0};
    float gs[5] = {0.3f, -0.2f, 0.7f, 0.01f, -1.5f}, gs2[5];
    for (int i = 0; i < 5; i++) gs2[i] = gs[i] * 0.37f;
    adamw_update_scaled(p1, gs, m1, v1, 5, &c, 1e-2f, 1, 0.37f);
    adamw_update(p2, gs2, m2, v2, 5, &c, 1e-2f, 1);
    CHECK(memcmp(p1, p2, sizeof(p1)) == 0 && memcmp(v1, v2, sizeof(v1)) == 0);
    // weight decay applies to every entry: zero gradient still shrinks the parameter by lr * wd
    float pz = 2.0f, gz = 0.0f, mz = 0.0f, vz = 0.0f;
    adamw_update(&pz, &gz, &mz, &vz, 1, &c, 1e-2f, 1);
    CHECK_NEAR(pz, 2.0 * (1.0 - 1e-2 * 0.1), 1e-7);

    float gc[4] = {3.0f, 4.0f, 0.0f, 0.0f};
    const double norm = sqrt(grad_sqnorm(gc, 4));
    CHECK_NEAR(norm, 5.0, 1e-12);
    float f = grad_clip(gc, 4, norm, 1.0f);
    CHECK_NEAR(f, 1.0 / (5.0 + 1e-6), 1e-7);
    CHECK_NEAR(gc[1], 4.0 / (5.0 + 1e-6), 1e-6);
    CHECK_NEAR(grad_clip(gc, 4, 0.5, 1.0f), 1.0, 0);
    CHECK_NEAR(grad_clip(gc, 4, NAN, 1.0f), 0.0, 0);
    CHECK_NEAR(clip_coef(10.0, 0.0f), 1.0, 0);
    CHECK_NEAR(clip_coef(10.0, 2.0f), 2.0 / (10.0 + 1e-6), 1e-7);
    // the blocked sum of squares matches a plain one on a long vector
    float *big = rand_buf(100003, 1.0f);
    double plain = 0.0;
    for (size_t i = 0; i < 100003; i++) plain += (double)big[i] * big[i];
    CHECK_NEAR(grad_sqnorm(big, 100003), plain, 1e-9 * plain);
    free(big);

    LrSchedule s = {.lr = 1.0f, .warmup_steps = 10, .total_steps = 110, .decay = LR_CONSTANT, .min_lr_ratio = 0.1f};
    CHECK_NEAR(lr_at(&s, 0), 0.0, 0);
    CHECK_NEAR(lr_at(&s, 5), 0.5, 1e-7);
    CHECK_NEAR(lr_at(&s, 10), 1.0, 0);
    CHECK_NEAR(lr_at(&s, 1000), 1.0, 0);
    s.decay = LR_COSINE;
    CHECK_NEAR(lr_at(&s, 10), 1.0, 1e-7);
    CHECK_NEAR(lr_at(&s, 60), 0.1 + 0.9 * 0.5, 1e-6);
    CHECK_NEAR(lr_at(&s, 110), 0.1, 1e-6);
    CHECK_NEAR(lr_at(&s, 500), 0.1, 1e-6);
    s.warmup_steps = 0;
    CHECK_NEAR(lr_at(&s, 0), 1.0, 1e-7);
}

static void test_vexpf(void) {
    double worst = 0.0;
    for (int i = 0; i <= 200000; i++) {
        const float x = -87.0f + 175.0f * (float)i / 200000.0f;
        worst = fmax(worst, fabs(vexpf(x) - exp((double)x)) / exp((double)x));
    }
    CHECK_MSG(worst < 3e-7, "vexpf relative error %g", worst);  // ~2.5 ulp
    CHECK(vexpf(0.0f) == 1.0f);
    CHECK(vexpf(-1000.0f) > 0.0f && vexpf(-1000.0f) < 1e-37f);   // clamped, no NaN / denormal
    CHECK(isfinite(vexpf(1000.0f)) && vexpf(1000.0f) > 1e38f);
}

int main(void) {
    rng_seed(&rng, 1234);
    test_vexpf();
    test_embedding();
    test_rmsnorm();
    test_linear();
    test_rope();
    test_attention(4, 2);
    test_attention(2, 2);
    test_attention(4, 1);
    att_gemm = 1;
    test_attention(4, 2);
    test_attention(4, 1);
    att_gemm = 0;
    test_attention_paths();
    test_swiglu();
    test_model(1, 0, 4, 2);
    test_model(0, 1, 2, 2);
    test_head_chunks();
    test_adamw();
    return tests_done();
}
