// The GPU training engine (common/engine/cuda/cuda_model.h) against the CPU engine (common/engine/forward.h,
// common/engine/optim.h) on the committed fixture models (tests/fixtures/*: Qwen2 / LLaMA, GQA / tied) and a
// random GQA config with qkv bias: head outputs (log-probs at temperature 0.8, entropies, ||h||, sum p^2),
// every parameter gradient, then 3 steps of grad-norm clipping + AdamW and the model after them.
// Exit 77 (ctest: skipped) when the build has no CUDA backend or there is no device.
//
// Tolerances (both engines fp32, TF32 off; they differ in summation order and exp/log ulps):
//   head outputs   max |gpu - cpu| <= 1e-4 * max(|cpu|, 1)      (observed ~1e-6 expected)
//   gradients      per tensor ||g - g_ref|| / ||g_ref|| <= 1e-4 and every element within
//                  1e-3 * max|g_ref| + 1e-7 (a wrong term changes a tensor by O(1) relative)
//   grad norms     relative 1e-4 each step
//   after 3 steps  log-probs as above; Adam m and v per-buffer relative 1e-3; parameters: at most 0.1% of
//                  entries differ by > 1e-6 and none by more than 2 * steps * lr (Adam normalises each
//                  coordinate, so a ~0 gradient entry may step with different sign on the two engines).
//
// The options of cuda_model_init_opts (test_options, on the random models):
//   fp32 + flash (+ recompute) vs the CPU: the tolerances above (run_case modes 1, 2);
//   recompute vs none, fp32 and bf16: gradients and log-probs BIT-identical (same kernels in the same
//     order; every reduction of the backward has a fixed order: RMSNorm / bias column sums, the sorted
//     embedding scatter);
//   entropy bonus backward (cuda_model_backward_ent) vs model_backward_ent: the gradient tolerances above;
//   bf16 vs the CPU fp32 engine. bf16 keeps 8 significant bits: unit roundoff u = 2^-8. A layer rounds
//     ~12 tensors on the forward path (ln1, q, k, v, attention out, mid, ln2, gate, up, h, the residual)
//     and the weights once; independent roundings add in quadrature, so the relative error of the
//     residual stream after L layers (+ the head) is about eps_L = 2 u sqrt(12 (L + 1)) (0.054 at L = 3).
//     Log-probs and entropies: max |gpu - cpu| <= eps_L * max(|cpu|, 1); gradients, which go through the
//     same roundings twice: all together ||g - g_ref|| / ||g_ref|| <= eps_L and per tensor <= 2 eps_L (a
//     wrong term is an O(1) relative change);
//   AdamW over ranges (3 pieces, and ZeRO-1 shards of 3 ranks) vs one call: bit-identical parameters,
//     bf16 weights and moments; optimizer shard download -> upload -> download: bit-identical;
//   memory: cuda_acts_bytes_opts == memplan_acts_bytes == the slab allocated, for every layout;
//     cuda_model_bytes_opts == memplan_train's weights + master + grads + adam; the peak of cuda_malloc
//     after init == model + activations exactly, and after a whole step within 64 KiB of it (the grad-norm
//     scratch).
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
#include "common/engine/cuda/cuda_model.h"
#include "common/engine/forward.h"
#include "common/engine/memplan.h"
#include "common/engine/model.h"
#include "common/engine/optim.h"
#include "common/core/rng.h"
#include "common/io/model_io.h"

#define STEPS 3
#define LR 1e-3f

static void compare_vec(const char *model, const char *what, const float *cpu, const float *gpu, size_t n) {
    double err = 0.0, mx = 1.0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)gpu[i] - cpu[i]);
        if (e > err || isnan(e)) err = e;
        if (fabs(cpu[i]) > mx) mx = fabs(cpu[i]);
    }
    printf("  %-12s %-22s max err %.3g (scale %.3g)\n", model, what, err, mx);
    CHECK_MSG(err <= 1e-4 * mx, "%s %s: max error %.3g > %.3g", model, what, err, 1e-4 * mx);
}

// Per-tensor gradient comparison (as tests/test_engine_ref.c does against PyTorch).
static void compare_grads(const char *model, const Model *ref, const Model *got) {
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < ref->num_tensors; i++) {
        const TensorInfo *t = &ref->tensors[i];
        const float *a = ref->grads + t->offset, *b = got->grads + t->offset;
        double d2 = 0.0, r2 = 0.0, mx = 0.0, emax = 0.0;
        for (size_t j = 0; j < t->numel; j++) {
            const double d = (double)b[j] - a[j];
            d2 += d * d;
            r2 += (double)a[j] * a[j];
            if (fabs(a[j]) > mx) mx = fabs(a[j]);
            if (fabs(d) > emax || isnan(d)) emax = fabs(d);
        }
        const double rel = sqrt(d2) / (sqrt(r2) > 1e-30 ? sqrt(r2) : 1e-30);
        if (rel > worst || isnan(rel)) { worst = rel; worst_name = t->name; }
        CHECK_MSG(r2 == 0.0 ? d2 == 0.0 : rel <= 1e-4, "%s grad %s: relative error %.3g > 1e-4", model, t->name, rel);
        CHECK_MSG(emax <= 1e-3 * mx + 1e-7, "%s grad %s: element error %.3g > 1e-3 * max %.3g", model, t->name, emax, mx);
    }
    printf("  %-12s %-22s worst tensor %s rel %.3g\n", model, "gradients", worst_name, worst);
}

static double buf_rel(const float *a, const float *b, size_t n) {
    double d2 = 0.0, r2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)b[i] - a[i];
        d2 += d * d;
        r2 += (double)a[i] * a[i];
    }
    return sqrt(d2) / (sqrt(r2) > 1e-30 ? sqrt(r2) : 1e-30);
}

// One micro-batch on both engines with the same inputs; outputs into the (4, N) stats arrays.
static void step_both(Model *cpu, Acts *a, CudaModel *cm, CudaActs *ca, const int *tokens, const int *targets,
                      const float *dlogp, int B, int T, float temp, float *cs, float *gs, int backward) {
    const size_t N = (size_t)B * T;
    model_forward(cpu, a, tokens, B, T);
    model_head(cpu, a, targets, temp, cs, cs + N, cs + 2 * N, cs + 3 * N);
    cuda_model_forward(cm, ca, tokens, B, T);
    cuda_model_head(cm, ca, targets, temp, gs, gs + N, gs + 2 * N, gs + 3 * N);
    if (backward) {
        model_backward(cpu, a, dlogp);
        cuda_model_backward(cm, ca, dlogp);
    }
}

// mode: 0 = cuda_model_init / cuda_acts_init (cuBLAS attention); 1 = cuda_model_init_opts, fp32, flash;
// 2 = the same with activation recompute.
static void run_case(const char *name, const Model *m0, int B, int T, uint64_t seed, int mode) {
    const ModelConfig *cfg = &m0->cfg;
    const size_t N = (size_t)B * T;
    const int V = cfg->vocab_size;
    printf("%s: V %d C %d I %d L %d H %d KV %d D %d bias %d tied %d, B %d T %d\n", name, V, cfg->hidden_size,
           cfg->intermediate_size, cfg->num_layers, cfg->num_heads, cfg->num_kv_heads, cfg->head_dim, cfg->qkv_bias,
           cfg->tie_word_embeddings, B, T);
    Rng rng;
    rng_seed(&rng, seed);
    int *tokens = malloc(N * sizeof(int)), *targets = malloc(N * sizeof(int));
    float *dlogp = malloc(N * sizeof(float));
    for (size_t n = 0; n < N; n++) tokens[n] = (int)(rng_u64(&rng) % (uint64_t)V);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t n = (size_t)b * T + t;
            targets[n] = t + 1 < T ? tokens[n + 1] : -1;
            // the first 3 positions are the "prompt" (masked), as is the position without a target
            dlogp[n] = (t < 3 || targets[n] < 0) ? 0.0f : (rng_uniform(&rng) - 0.5f) / (float)N;
        }
    float *cs = malloc(4 * N * sizeof(float)), *gs = malloc(4 * N * sizeof(float));

    Model cpu, got;
    model_copy(&cpu, m0);
    model_alloc_train(&cpu);
    model_copy(&got, m0);
    model_alloc_train(&got);
    Acts a;
    acts_init(&a, cfg, B, T);
    CudaModel cm;
    CudaActs ca;
    if (mode == 0) {
        cuda_model_init(&cm, &cpu, 1, 0);
        cuda_acts_init(&ca, cfg, B, T);
    } else {
        CudaModelOpts o;
        cuda_model_opts_default(&o, cpu.num_params);
        o.flash = 1;
        o.recompute = mode == 2;
        cuda_model_init_opts(&cm, &cpu, &o);
        cuda_acts_init_opts(&ca, &cm, B, T, 0);
        printf("  (opts: fp32, flash attention%s)\n", mode == 2 ? ", recompute" : "");
    }

    const float temp = 0.8f;
    step_both(&cpu, &a, &cm, &ca, tokens, targets, dlogp, B, T, temp, cs, gs, 1);
    compare_vec(name, "logp", cs, gs, N);
    compare_vec(name, "entropy", cs + N, gs + N, N);
    compare_vec(name, "hnorm", cs + 2 * N, gs + 2 * N, N);
    compare_vec(name, "sumsq", cs + 3 * N, gs + 3 * N, N);
    cuda_model_download(&cm, &got);
    compare_grads(name, &cpu, &got);

    // A second, different micro-batch (temperature 1) accumulates into the same gradients (grads += on both
    // sides).
    int *tokens2 = malloc(N * sizeof(int)), *targets2 = malloc(N * sizeof(int));
    for (size_t n = 0; n < N; n++) tokens2[n] = (int)(rng_u64(&rng) % (uint64_t)V);
    for (size_t n = 0; n < N; n++) targets2[n] = (n + 1) % (size_t)T ? tokens2[n + 1] : -1;
    step_both(&cpu, &a, &cm, &ca, tokens2, targets2, dlogp, B, T, 1.0f, cs, gs, 1);
    free(tokens2);
    free(targets2);
    cuda_model_download(&cm, &got);
    compare_grads(name, &cpu, &got);

    // STEPS optimizer steps: clip (max_norm below the first norm so that clipping happens), AdamW.
    const AdamWConfig ac = adamw_default();
    float max_norm = 0.0f;
    for (long step = 1; step <= STEPS; step++) {
        if (step > 1) {
            memset(cpu.grads, 0, cpu.num_params * sizeof(float));
            cuda_model_zero_grad(&cm);
            step_both(&cpu, &a, &cm, &ca, tokens, targets, dlogp, B, T, temp, cs, gs, 1);
        }
        if (step == 1) max_norm = 0.5f * (float)sqrt(grad_sqnorm(cpu.grads, cpu.num_params));
        const double n_cpu = model_clip_grad_norm(&cpu, max_norm), n_gpu = cuda_model_clip_grad_norm(&cm, max_norm);
        printf("  %-12s step %ld grad norm cpu %.9g gpu %.9g\n", name, step, n_cpu, n_gpu);
        CHECK_MSG(fabs(n_gpu - n_cpu) <= 1e-4 * n_cpu, "%s step %ld: grad norm %.9g vs %.9g", name, step, n_gpu, n_cpu);
        model_adamw_step(&cpu, &ac, LR, step);
        cuda_model_adamw_step(&cm, &ac, LR, step);
    }
    cuda_model_download(&cm, &got);
    size_t off = 0;
    double pmax = 0.0;
    for (size_t i = 0; i < cpu.num_params; i++) {
        const double d = fabs((double)got.params[i] - cpu.params[i]);
        if (d > 1e-6 || isnan(d)) off++;
        if (d > pmax || isnan(d)) pmax = d;
    }
    const double rm = buf_rel(cpu.adam_m, got.adam_m, cpu.num_params), rv = buf_rel(cpu.adam_v, got.adam_v, cpu.num_params);
    printf("  %-12s after %d steps: params max diff %.3g, %zu of %zu > 1e-6; adam m rel %.3g, v rel %.3g\n", name,
           STEPS, pmax, off, cpu.num_params, rm, rv);
    CHECK_MSG(pmax <= 2.0 * STEPS * LR, "%s: parameter differs by %.3g after %d steps", name, pmax, STEPS);
    CHECK_MSG(off <= cpu.num_params / 1000, "%s: %zu parameters differ by > 1e-6", name, off);
    CHECK_MSG(rm <= 1e-3 && rv <= 1e-3, "%s: Adam state differs (m rel %.3g, v rel %.3g)", name, rm, rv);
    step_both(&cpu, &a, &cm, &ca, tokens, targets, dlogp, B, T, temp, cs, gs, 0);
    compare_vec(name, "logp after steps", cs, gs, N);
    compare_vec(name, "entropy after steps", cs + N, gs + N, N);

    cuda_acts_free(&ca);
    cuda_model_free(&cm);
    acts_free(&a);
    model_free(&cpu);
    model_free(&got);
    free(tokens); free(targets); free(dlogp); free(cs); free(gs);
}

// ---- the options of cuda_model_init_opts --------------------------------------------------------------

typedef struct {
    int B, T;
    int *tokens, *targets;
    float *dlogp, *dent;   // dent != 0 also on rows where dlogp == 0 (the entropy bonus reaches the prompt)
} Batch;

static void batch_make(Batch *b, const ModelConfig *cfg, int B, int T, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    const size_t N = (size_t)B * T;
    b->B = B; b->T = T;
    b->tokens = malloc(N * sizeof(int)); b->targets = malloc(N * sizeof(int));
    b->dlogp = malloc(N * sizeof(float)); b->dent = malloc(N * sizeof(float));
    for (size_t n = 0; n < N; n++) b->tokens[n] = (int)(rng_u64(&rng) % (uint64_t)cfg->vocab_size);
    for (size_t n = 0; n < N; n++) {
        const int t = (int)(n % (size_t)T);
        b->targets[n] = t + 1 < T ? b->tokens[n + 1] : -1;
        b->dlogp[n] = (t < 3 || b->targets[n] < 0) ? 0.0f : (rng_uniform(&rng) - 0.5f) / (float)N;
        b->dent[n] = t == 1 || t % 3 == 2 ? 0.5f * (rng_uniform(&rng) - 0.5f) / (float)N : 0.0f;
    }
}

static void batch_free(Batch *b) { free(b->tokens); free(b->targets); free(b->dlogp); free(b->dent); }

static CudaModelOpts opts_for(const Model *m, CudaPrecision p, int recompute, int flash) {
    CudaModelOpts o;
    cuda_model_opts_default(&o, m->num_params);
    o.precision = p;
    o.recompute = recompute;
    o.flash = flash;
    return o;
}

#define TEMP 0.9f

// forward, head (logp, entropy), backward with the entropy bonus; gradients into host grads (num_params).
static void gpu_step(CudaModel *cm, CudaActs *ca, const Batch *b, float *logp, float *ent, float *grads) {
    cuda_model_zero_grad(cm);
    cuda_model_forward(cm, ca, b->tokens, b->B, b->T);
    cuda_model_head(cm, ca, b->targets, TEMP, logp, ent, NULL, NULL);
    cuda_model_backward_ent(cm, ca, b->dlogp, b->dent);
    cuda_download(grads, cuda_model_grads(cm), cm->num_params * sizeof(float));
}

// The CPU reference of gpu_step: model_backward_ent.
static void cpu_step(Model *cpu, const Batch *b, float *logp, float *ent) {
    Acts a;
    acts_init(&a, &cpu->cfg, b->B, b->T);
    memset(cpu->grads, 0, cpu->num_params * sizeof(float));
    model_forward(cpu, &a, b->tokens, b->B, b->T);
    model_head(cpu, &a, b->targets, TEMP, logp, ent, NULL, NULL);
    model_backward_ent(cpu, &a, b->dlogp, b->dent);
    acts_free(&a);
}

static void test_recompute_bitwise(const char *name, const Model *m0, const Batch *b, CudaPrecision p, int flash) {
    const size_t N = (size_t)b->B * b->T, P = m0->num_params;
    float *lp[2], *en[2], *g[2];
    for (int r = 0; r < 2; r++) {
        lp[r] = malloc(N * sizeof(float)); en[r] = malloc(N * sizeof(float)); g[r] = malloc(P * sizeof(float));
        const CudaModelOpts o = opts_for(m0, p, r, flash);
        CudaModel cm;
        CudaActs ca;
        cuda_model_init_opts(&cm, m0, &o);
        cuda_acts_init_opts(&ca, &cm, b->B, b->T, 0);
        gpu_step(&cm, &ca, b, lp[r], en[r], g[r]);
        cuda_acts_free(&ca);
        cuda_model_free(&cm);
    }
    size_t diff = 0;
    for (size_t i = 0; i < P; i++) diff += memcmp(&g[0][i], &g[1][i], sizeof(float)) != 0;
    const int same_lp = memcmp(lp[0], lp[1], N * sizeof(float)) == 0 && memcmp(en[0], en[1], N * sizeof(float)) == 0;
    printf("  %-12s recompute vs none (%s, %s): %zu of %zu gradients differ in any bit, log-probs %s\n", name,
           p == CUDA_PREC_BF16 ? "bf16" : "fp32", flash ? "flash" : "cuBLAS attention", diff, P,
           same_lp ? "identical" : "DIFFER");
    CHECK_MSG(diff == 0, "%s: recompute changes %zu gradient entries (%s)", name, diff, flash ? "flash" : "cuBLAS");
    CHECK_MSG(same_lp, "%s: recompute changes the forward", name);
    for (int r = 0; r < 2; r++) { free(lp[r]); free(en[r]); free(g[r]); }
}

static void test_entropy_and_bf16(const char *name, const Model *m0, const Batch *b) {
    const size_t N = (size_t)b->B * b->T, P = m0->num_params;
    Model cpu, got;
    model_copy(&cpu, m0);
    model_alloc_train(&cpu);
    model_copy(&got, m0);
    model_alloc_train(&got);
    float *clp = malloc(N * sizeof(float)), *cen = malloc(N * sizeof(float));
    float *glp = malloc(N * sizeof(float)), *gen = malloc(N * sizeof(float));
    cpu_step(&cpu, b, clp, cen);

    // fp32 + flash: the entropy-bonus backward at the CPU tolerances
    CudaModelOpts o = opts_for(m0, CUDA_PREC_FP32, 0, 1);
    CudaModel cm;
    CudaActs ca;
    cuda_model_init_opts(&cm, m0, &o);
    cuda_acts_init_opts(&ca, &cm, b->B, b->T, 0);
    gpu_step(&cm, &ca, b, glp, gen, got.grads);
    compare_vec(name, "logp (ent run)", clp, glp, N);
    compare_vec(name, "entropy (ent run)", cen, gen, N);
    printf("  %-12s entropy-bonus backward (fp32, flash) vs model_backward_ent:\n", name);
    compare_grads(name, &cpu, &got);
    cuda_acts_free(&ca);
    cuda_model_free(&cm);

    // bf16 vs the CPU fp32 engine within eps_L (see the header)
    const int L = m0->cfg.num_layers;
    const double u = 1.0 / 256.0, eps = 2.0 * u * sqrt(12.0 * (L + 1));
    o = opts_for(m0, CUDA_PREC_BF16, 0, 1);
    cuda_model_init_opts(&cm, m0, &o);
    cuda_acts_init_opts(&ca, &cm, b->B, b->T, 0);
    gpu_step(&cm, &ca, b, glp, gen, got.grads);
    double e_lp = 0.0, s_lp = 1.0, e_en = 0.0, s_en = 1.0;
    for (size_t n = 0; n < N; n++) {
        const double dl = fabs((double)glp[n] - clp[n]), de = fabs((double)gen[n] - cen[n]);
        if (dl > e_lp || isnan(dl)) e_lp = dl;
        if (de > e_en || isnan(de)) e_en = de;
        if (fabs(clp[n]) > s_lp) s_lp = fabs(clp[n]);
        if (fabs(cen[n]) > s_en) s_en = fabs(cen[n]);
    }
    printf("  %-12s bf16 (L %d, eps_L %.3g): logp max err %.3g (scale %.3g), entropy max err %.3g (scale %.3g)\n",
           name, L, eps, e_lp, s_lp, e_en, s_en);
    CHECK_MSG(e_lp <= eps * s_lp, "%s bf16 logp: max error %.3g > %.3g", name, e_lp, eps * s_lp);
    CHECK_MSG(e_en <= eps * s_en, "%s bf16 entropy: max error %.3g > %.3g", name, e_en, eps * s_en);
    double d2 = 0.0, r2 = 0.0, worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < cpu.num_tensors; i++) {
        const TensorInfo *t = &cpu.tensors[i];
        double td = 0.0, tr = 0.0;
        for (size_t j = 0; j < t->numel; j++) {
            const double d = (double)got.grads[t->offset + j] - cpu.grads[t->offset + j];
            td += d * d;
            tr += (double)cpu.grads[t->offset + j] * cpu.grads[t->offset + j];
        }
        d2 += td; r2 += tr;
        const double rel = tr > 0.0 ? sqrt(td / tr) : (td > 0.0 ? INFINITY : 0.0);
        if (rel > worst || isnan(rel)) { worst = rel; worst_name = t->name; }
        CHECK_MSG(rel <= 2.0 * eps, "%s bf16 grad %s: relative error %.3g > %.3g", name, t->name, rel, 2.0 * eps);
    }
    const double rel_all = sqrt(d2 / (r2 > 0.0 ? r2 : 1e-300));
    printf("  %-12s bf16 gradients: all together rel %.3g (tol %.3g), worst tensor %s rel %.3g (tol %.3g)\n", name,
           rel_all, eps, worst_name, worst, 2.0 * eps);
    CHECK_MSG(rel_all <= eps, "%s bf16 gradients: relative error %.3g > %.3g", name, rel_all, eps);
    cuda_acts_free(&ca);
    cuda_model_free(&cm);
    (void)P;
    model_free(&cpu);
    model_free(&got);
    free(clp); free(cen); free(glp); free(gen);
}

static int bits_equal(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

// AdamW over ranges and ZeRO-1 shards against one whole call; optimizer shard round trip.
static void test_adamw_ranges(const char *name, const Model *m0, CudaPrecision p) {
    const size_t P = m0->num_params;
    const char *pn = p == CUDA_PREC_BF16 ? "bf16" : "fp32";
    Model h;
    model_copy(&h, m0);
    model_alloc_train(&h);
    Rng rng;
    rng_seed(&rng, 99);
    for (size_t i = 0; i < P; i++) h.grads[i] = 1e-2f * (rng_uniform(&rng) - 0.5f);
    const AdamWConfig ac = adamw_default();
    CudaModelOpts o = opts_for(m0, p, 0, 1);
    CudaModel full, pieces;
    cuda_model_init_opts(&full, &h, &o);
    cuda_model_init_opts(&pieces, &h, &o);
    const size_t k1 = P / 3 + 5, k2 = 2 * P / 3 + 1;
    for (long step = 1; step <= 2; step++) {
        cuda_model_adamw_step(&full, &ac, LR, step);
        cuda_model_adamw_range(&pieces, &ac, LR, step, 0, k1);
        cuda_model_adamw_range(&pieces, &ac, LR, step, k1, k2 - k1);
        cuda_model_adamw_range(&pieces, &ac, LR, step, k2, P - k2);
    }
    float *pa = malloc(P * sizeof(float)), *pb = malloc(P * sizeof(float));
    uint16_t *wa = malloc(P * sizeof(uint16_t)), *wb = malloc(P * sizeof(uint16_t));
    float *ma = malloc(P * sizeof(float)), *va = malloc(P * sizeof(float)), *xa = malloc(P * sizeof(float));
    cuda_model_download_params(&full, pa, 0, P);
    cuda_model_download_params(&pieces, pb, 0, P);
    cuda_model_download_weights_bf16(&full, wa, 0, P);
    cuda_model_download_weights_bf16(&pieces, wb, 0, P);
    cuda_model_download_opt(&full, ma, va, xa);
    CHECK_MSG(bits_equal(pa, pb, P * sizeof(float)) && bits_equal(wa, wb, P * sizeof(uint16_t)),
              "%s %s: AdamW in 3 ranges differs from one call", name, pn);
    // bf16: the compute weights are the master rounded; fp32: params are the master
    size_t off_round = 0;
    for (size_t i = 0; i < P; i++) off_round += wa[i] != bf16_from_f32(xa[i]);
    CHECK_MSG(off_round == 0, "%s %s: %zu bf16 weights are not the rounded master", name, pn, off_round);
    printf("  %-12s %s AdamW: 3 ranges == one call (params, bf16 weights); weights == rounded master\n", name, pn);

    // ZeRO-1 over 3 ranks: each shard updated alone matches the full model's slice; the shard's state
    // survives download -> upload into a fresh model.
    const int R = 3;
    for (int r = 0; r < R; r++) {
        size_t off, len, block, cap;
        memplan_zero_shard(P, R, r, &off, &len, &block, &cap);
        CudaModelOpts so = o;
        so.opt_off = off; so.opt_len = len; so.capacity = cap;
        CudaModel sh, fresh;
        cuda_model_init_opts(&sh, &h, &so);
        for (long step = 1; step <= 2; step++) cuda_model_adamw_range(&sh, &ac, LR, step, off, len);
        float *ps = malloc((len + 1) * sizeof(float)), *ms = malloc((len + 1) * sizeof(float));
        float *vs = malloc((len + 1) * sizeof(float)), *xs = malloc((len + 1) * sizeof(float));
        uint16_t *ws = malloc((len + 1) * sizeof(uint16_t)), *ws2 = malloc((len + 1) * sizeof(uint16_t));
        cuda_model_download_params(&sh, ps, off, len);
        cuda_model_download_weights_bf16(&sh, ws, off, len);
        cuda_model_download_opt(&sh, ms, vs, xs);
        const int ok = bits_equal(ps, pa + off, len * sizeof(float)) && bits_equal(ws, wa + off, len * sizeof(uint16_t)) &&
                       bits_equal(ms, ma + off, len * sizeof(float)) && bits_equal(vs, va + off, len * sizeof(float)) &&
                       bits_equal(xs, xa + off, len * sizeof(float));
        CHECK_MSG(ok, "%s %s: ZeRO-1 shard %d of %d [%zu, %zu) differs from the full step", name, pn, r, R, off, off + len);
        cuda_model_init_opts(&fresh, &h, &so);
        cuda_model_upload_opt(&fresh, ms, vs, xs);
        float *m2 = malloc((len + 1) * sizeof(float)), *v2 = malloc((len + 1) * sizeof(float)), *x2 = malloc((len + 1) * sizeof(float));
        cuda_model_download_opt(&fresh, m2, v2, x2);
        cuda_model_download_weights_bf16(&fresh, ws2, off, len);
        const int rt = bits_equal(m2, ms, len * sizeof(float)) && bits_equal(v2, vs, len * sizeof(float)) &&
                       bits_equal(x2, xs, len * sizeof(float)) && bits_equal(ws2, ws, len * sizeof(uint16_t));
        CHECK_MSG(rt, "%s %s: shard %d optimizer state changed through download -> upload", name, pn, r);
        printf("  %-12s %s ZeRO-1 shard %d/%d [%zu, %zu): %s; round trip %s\n", name, pn, r, R, off, off + len,
               ok ? "== full step" : "DIFFERS", rt ? "exact" : "CHANGED");
        cuda_model_free(&fresh);
        cuda_model_free(&sh);
        free(ps); free(ms); free(vs); free(xs); free(ws); free(ws2); free(m2); free(v2); free(x2);
    }
    cuda_model_free(&full);
    cuda_model_free(&pieces);
    model_free(&h);
    free(pa); free(pb); free(wa); free(wb); free(ma); free(va); free(xa);
}

static MemPlanOpts plan_of(CudaPrecision p, int recompute, int flash, int eval, int B, int T) {
    MemPlanOpts mo;
    memset(&mo, 0, sizeof(mo));
    mo.precision = p == CUDA_PREC_BF16 ? MEMPLAN_BF16 : MEMPLAN_FP32;
    mo.recompute = recompute; mo.flash = flash; mo.eval = eval;
    mo.zero_stage = 0; mo.nranks = 1; mo.micro_batch = B; mo.seq_len = T;
    return mo;
}

// The allocation is the plan: slab sizes for every layout, model bytes, the cuda_malloc peak.
static void test_plan(const char *name, const Model *m0, const Batch *b) {
    const ModelConfig *cfg = &m0->cfg;
    const size_t P = m0->num_params;
    for (int p = 0; p <= 1; p++)
        for (int flash = p; flash <= 1; flash++)    // bf16 needs flash
            for (int rc = 0; rc <= 1; rc++)
                for (int ev = 0; ev <= 1; ev++) {
                    const CudaModelOpts o = opts_for(m0, (CudaPrecision)p, rc, flash);
                    const MemPlanOpts mo = plan_of((CudaPrecision)p, rc, flash, ev, b->B, b->T);
                    const size_t want = memplan_acts_bytes(cfg, &mo), got = cuda_acts_bytes_opts(cfg, &o, b->B, b->T, ev);
                    CudaModel cm;
                    CudaActs ca;
                    cuda_model_init_opts(&cm, m0, &o);
                    cuda_acts_init_opts(&ca, &cm, b->B, b->T, ev);
                    CHECK_MSG(got == want && ca.slab_bytes == want,
                              "%s acts (%s, flash %d, recompute %d, eval %d): bytes_opts %zu, slab %zu, memplan %zu",
                              name, p ? "bf16" : "fp32", flash, rc, ev, got, ca.slab_bytes, want);
                    cuda_acts_free(&ca);
                    cuda_model_free(&cm);
                }
    // bf16, recompute, ZeRO-1 shard of rank 0 of 2: init allocates exactly the plan; a whole step stays there
    // (plus the grad-norm scratch).
    size_t off, len, block, cap;
    memplan_zero_shard(P, 2, 0, &off, &len, &block, &cap);
    CudaModelOpts o = opts_for(m0, CUDA_PREC_BF16, 1, 1);
    o.opt_off = off; o.opt_len = len; o.capacity = cap;
    MemPlanOpts mo = plan_of(CUDA_PREC_BF16, 1, 1, 0, b->B, b->T);
    mo.zero_stage = 1; mo.nranks = 2;
    MemPlan plan;
    memplan_train(cfg, P, &mo, &plan);
    const size_t model_bytes = cuda_model_bytes_opts(cfg, P, &o), acts_bytes = cuda_acts_bytes_opts(cfg, &o, b->B, b->T, 0);
    CHECK_EQ_INT(model_bytes, plan.weights + plan.master + plan.grads + plan.adam);
    CHECK_EQ_INT(acts_bytes, plan.acts);
    cuda_reset_peak_allocated();
    const size_t base = cuda_peak_allocated();
    CudaModel cm;
    CudaActs ca;
    cuda_model_init_opts(&cm, m0, &o);
    cuda_acts_init_opts(&ca, &cm, b->B, b->T, 0);
    const size_t at_init = cuda_peak_allocated() - base;
    const size_t N = (size_t)b->B * b->T;
    float *lp = malloc(N * sizeof(float)), *en = malloc(N * sizeof(float)), *g = malloc(cap * sizeof(float));
    gpu_step(&cm, &ca, b, lp, en, g);
    cuda_model_clip_grad_norm(&cm, 1.0f);
    const AdamWConfig ac = adamw_default();
    cuda_model_adamw_range(&cm, &ac, LR, 1, off, len);
    const size_t at_step = cuda_peak_allocated() - base;
    printf("  %-12s plan (bf16, recompute, ZeRO-1 1/2): model %zu + acts %zu = %zu bytes; peak at init %zu, after a step %zu\n",
           name, model_bytes, acts_bytes, model_bytes + acts_bytes, at_init, at_step);
    CHECK_EQ_INT(at_init, model_bytes + acts_bytes);
    CHECK_MSG(at_step <= model_bytes + acts_bytes + 65536, "%s: a step allocated %zu bytes beyond the plan", name,
              at_step - (model_bytes + acts_bytes));
    // eval activations: smaller, and forward + head give the training layout's log-probs bit for bit
    CudaActs ev;
    cuda_acts_init_opts(&ev, &cm, b->B, b->T, 1);
    CHECK(ev.slab_bytes < ca.slab_bytes);
    float *lp2 = malloc(N * sizeof(float)), *en2 = malloc(N * sizeof(float));
    cuda_model_forward(&cm, &ca, b->tokens, b->B, b->T);
    cuda_model_head(&cm, &ca, b->targets, TEMP, lp, en, NULL, NULL);
    cuda_model_forward(&cm, &ev, b->tokens, b->B, b->T);
    cuda_model_head(&cm, &ev, b->targets, TEMP, lp2, en2, NULL, NULL);
    CHECK_MSG(bits_equal(lp, lp2, N * sizeof(float)) && bits_equal(en, en2, N * sizeof(float)),
              "%s: eval activations give other log-probs than the training layout", name);
    cuda_acts_free(&ev);
    cuda_acts_free(&ca);
    cuda_model_free(&cm);
    free(lp); free(en); free(g); free(lp2); free(en2);
}

static void test_options(const Model *m) {
    const char *name = m->cfg.tie_word_embeddings ? "random_tied" : "random_gqa";
    printf("%s: options of cuda_model_init_opts\n", name);
    Batch b;
    batch_make(&b, &m->cfg, 2, 41, 31);
    test_recompute_bitwise(name, m, &b, CUDA_PREC_FP32, 0);
    test_recompute_bitwise(name, m, &b, CUDA_PREC_FP32, 1);
    test_recompute_bitwise(name, m, &b, CUDA_PREC_BF16, 1);
    test_entropy_and_bf16(name, m, &b);
    test_adamw_ranges(name, m, CUDA_PREC_FP32);
    test_adamw_ranges(name, m, CUDA_PREC_BF16);
    test_plan(name, m, &b);
    batch_free(&b);
}

int main(void) {
    char err[512];
    if (!cuda_test_device()) return CUDA_TEST_SKIPPED;

#ifndef RLVR_CUDA_MINIMAL
    // (tests/gpu/device_check.sh's fallback build defines RLVR_CUDA_MINIMAL when the machine lacks the
    // libraries of model_load; the random configs below still cover both architectures.)
    static const char *fixtures[] = {"qwen2_gqa", "qwen2_tied", "llama_gqa", "llama_tied"};
    for (int i = 0; i < 4; i++) {
        char dir[256];
        snprintf(dir, sizeof(dir), "tests/fixtures/%s", fixtures[i]);
        Model m;
        if (model_load(dir, &m, err, sizeof(err)) != 0) {
            CHECK_MSG(0, "model_load %s: %s", dir, err);
            continue;
        }
        run_case(fixtures[i], &m, 2, 37, 100 + (uint64_t)i, 0);
        if (i == 0) run_case(fixtures[i], &m, 2, 37, 100, 1);
        model_free(&m);
    }
#endif

    // A random GQA model with qkv bias and untied head, T > 32 (several warp passes per attention row).
    ModelConfig c;
    model_config_default(&c);
    c.arch = ARCH_QWEN2;
    c.vocab_size = 301; c.hidden_size = 96; c.intermediate_size = 200; c.num_layers = 3;
    c.num_heads = 6; c.num_kv_heads = 2; c.head_dim = 16; c.qkv_bias = 1; c.tie_word_embeddings = 0;
    c.max_position_embeddings = 128; c.rope_theta = 1e6f;
    Model m;
    if (model_init(&m, &c, err, sizeof(err)) != 0) {
        CHECK_MSG(0, "model_init: %s", err);
        return tests_done();
    }
    model_init_random(&m, 7, 0.05f);
    run_case("random_gqa", &m, 3, 45, 7, 0);
    run_case("random_gqa", &m, 3, 45, 7, 1);
    run_case("random_gqa", &m, 3, 45, 7, 2);
    test_options(&m);
    model_free(&m);

    // LLaMA, tied embeddings, multi-head (KV = H), no bias.
    c.arch = ARCH_LLAMA; c.qkv_bias = 0; c.tie_word_embeddings = 1; c.num_kv_heads = 6; c.rope_theta = 10000.0f;
    c.num_layers = 2; c.intermediate_size = 136;
    if (model_init(&m, &c, err, sizeof(err)) != 0) {
        CHECK_MSG(0, "model_init: %s", err);
        return tests_done();
    }
    model_init_random(&m, 8, 0.05f);
    run_case("random_tied", &m, 2, 33, 8, 0);
    run_case("random_tied", &m, 2, 33, 8, 2);
    test_options(&m);
    model_free(&m);
    return tests_done();
}
#endif
