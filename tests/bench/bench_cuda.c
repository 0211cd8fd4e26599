// GPU benchmark: cuBLAS SGEMM TFLOP/s (fp32 and TF32, 4096^3) for reference, then training throughput
// (forward + head + backward + grad clip + AdamW, tokens/s) of the CUDA engine on a hidden-1024 and a
// hidden-2048 model, each with fp32 and TF32 GEMMs.
//
//   build-gpu/bin/bench_cuda [timed_steps]      (default 3 timed steps after 1 warm-up step)
//   build-gpu/bin/bench_cuda train [timed_steps] [7b]
//       bf16 training steps (flash attention, fp32 master + Adam) of Qwen2.5-0.5B- and 1.5B-shaped random
//       models at T 4096: tokens/s, MFU against the dense bf16 peak of an H100 / H200 SXM (989 TFLOP/s),
//       time per phase (GEMMs, attention, head, optimizer, the rest), the memory plan against the
//       measured peak; with "7b", whether a Qwen2.5-7B-shaped step (T 8192, recompute, ZeRO-1 shard of
//       rank 0 of 8) fits on this GPU, and its time.
//
// Parameters are a cheap deterministic fill (values do not change the speed); tokens are random.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

#ifndef RLVR_CUDA
int main(void) {
    fprintf(stderr, "bench_cuda: this build has no CUDA backend (configure with -DRLVR_CUDA=ON)\n");
    return 1;
}
#else

#include "common/engine/cuda/cuda_model.h"
#include "common/engine/forward.h"
#include "common/engine/memplan.h"

// Dense bf16 tensor-core peak of the H100 / H200 SXM (NVIDIA's datasheet figure without sparsity).
#define PEAK_BF16_FLOPS 989e12
#define GiB (1024.0 * 1024.0 * 1024.0)

static void bench_sgemm(CudaCtx *cx, int tf32) {
    const int n = 4096, iters = 10;
    const size_t bytes = (size_t)n * n * sizeof(float);
    float *h = mallocCheck(bytes);
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)n * n; i++) { s = s * 1664525u + 1013904223u; h[i] = (float)(s >> 8) / 16777216.0f - 0.5f; }
    float *A = cuda_malloc(bytes), *B = cuda_malloc(bytes), *C = cuda_malloc(bytes);
    cuda_upload(A, h, bytes);
    cuda_upload(B, h, bytes);
    cuda_ctx_set_tf32(cx, tf32);
    for (int i = 0; i < 2; i++) cuda_sgemm_rm(cx, 0, 1, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
    cuda_sync();
    const double t0 = now_seconds();
    for (int i = 0; i < iters; i++) cuda_sgemm_rm(cx, 0, 1, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
    cuda_sync();
    const double dt = (now_seconds() - t0) / iters;
    printf("sgemm %dx%dx%d %-4s: %.2f ms, %.1f TFLOP/s\n", n, n, n, tf32 ? "tf32" : "fp32", dt * 1e3,
           2.0 * n * n * (double)n / dt / 1e12);
    cuda_free(A); cuda_free(B); cuda_free(C);
    free(h);
}

// Deterministic small-valued fill: weights uniform in +-0.02, norm weights 1, biases 0.
static void fill_params(Model *m) {
    uint32_t s = 2024;
    for (int i = 0; i < m->num_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        float *p = m->params + t->offset;
        const int is_norm = strstr(t->name, "norm") != NULL, is_bias = strstr(t->name, "bias") != NULL;
        for (size_t j = 0; j < t->numel; j++) {
            s = s * 1664525u + 1013904223u;
            p[j] = is_norm ? 1.0f : is_bias ? 0.0f : 0.04f * ((float)(s >> 8) / 16777216.0f - 0.5f);
        }
    }
}

static void bench_model(const char *name, const ModelConfig *c, int B, int T, int steps) {
    char err[256];
    Model m;
    if (model_init(&m, c, err, sizeof(err)) != 0) die("bench_cuda: %s", err);
    fill_params(&m);
    const size_t N = (size_t)B * T;
    int *tokens = mallocCheck(N * sizeof(int)), *targets = mallocCheck(N * sizeof(int));
    float *logp = mallocCheck(N * sizeof(float)), *ent = mallocCheck(N * sizeof(float));
    float *dlogp = mallocCheck(N * sizeof(float));
    uint32_t s = 7;
    for (size_t n = 0; n < N; n++) { s = s * 1664525u + 1013904223u; tokens[n] = (int)((s >> 8) % (uint32_t)c->vocab_size); }
    for (size_t n = 0; n < N; n++) {
        targets[n] = (n + 1) % (size_t)T ? tokens[n + 1] : -1;
        dlogp[n] = targets[n] >= 0 ? -1.0f / (float)N : 0.0f;
    }
    CudaModel cm;
    cuda_model_init(&cm, &m, 1, 0);
    CudaActs ca;
    cuda_acts_init(&ca, c, B, T);
    printf("%s: %.1fM params, L %d C %d I %d H %d KV %d D %d V %d, B %d T %d; device memory params+grads+adam %.2f GiB, "
           "activations %.2f GiB\n", name, m.num_params / 1e6, c->num_layers, c->hidden_size, c->intermediate_size,
           c->num_heads, c->num_kv_heads, c->head_dim, c->vocab_size, B, T,
           4.0 * m.num_params * sizeof(float) / (1 << 30), (double)ca.slab_bytes / (1 << 30));
    const AdamWConfig ac = adamw_default();
    const double flops_tok = 3.0 * model_flops_per_token(c, T);
    for (int tf32 = 0; tf32 <= 1; tf32++) {
        cuda_ctx_set_tf32(cm.cx, tf32);
        double t_total = 0.0, t_fwd = 0.0;
        for (int it = 0; it <= steps; it++) {  // it 0 is the warm-up
            cuda_sync();
            const double t0 = now_seconds();
            cuda_model_zero_grad(&cm);
            cuda_model_forward(&cm, &ca, tokens, B, T);
            cuda_model_head(&cm, &ca, targets, 1.0f, logp, ent, NULL, NULL);  // synchronises (download)
            const double t1 = now_seconds();
            cuda_model_backward(&cm, &ca, dlogp);
            cuda_model_clip_grad_norm(&cm, 1.0f);                        // synchronises (download)
            cuda_model_adamw_step(&cm, &ac, 1e-5f, it + 1);
            cuda_sync();
            const double t2 = now_seconds();
            if (it > 0) { t_total += t2 - t0; t_fwd += t1 - t0; }
        }
        const double st = t_total / steps;
        printf("  %-4s: step %.1f ms (forward+head %.1f ms), %.0f tokens/s, %.1f TFLOP/s (matmul FLOPs, training = 3x forward); "
               "logp[0] %.4f\n", tf32 ? "tf32" : "fp32", st * 1e3, t_fwd / steps * 1e3, N / st, flops_tok * N / st / 1e12,
               logp[0]);
    }
    cuda_acts_free(&ca);
    cuda_model_free(&cm);
    model_free(&m);
    free(tokens); free(targets); free(logp); free(ent); free(dlogp);
}


// ---- bf16 training of Qwen2.5 shapes ----------------------------------------------------------------------

// Fast fill for billions of parameters: each weight tensor gets a 4096-float block of +-0.02 values
// repeated (values do not change the speed), norms 1, biases 0.
static void fill_fast(Model *m) {
    enum { BLK = 4096 };
    static float blk[BLK];
    uint32_t s = 99;
    for (int i = 0; i < BLK; i++) { s = s * 1664525u + 1013904223u; blk[i] = 0.04f * ((float)(s >> 8) / 16777216.0f - 0.5f); }
    for (int i = 0; i < m->num_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        float *p = m->params + t->offset;
        if (strstr(t->name, "norm")) { for (size_t j = 0; j < t->numel; j++) p[j] = 1.0f; continue; }
        if (strstr(t->name, "bias")) continue;  // zeros from model_init
        for (size_t j = 0; j < t->numel; j += BLK) memcpy(p + j, blk, (t->numel - j < BLK ? t->numel - j : BLK) * sizeof(float));
    }
}

static void qwen_shape(ModelConfig *c, int C, int L, int H, int KV, int I, int V, int tied) {
    model_config_default(c);
    c->arch = ARCH_QWEN2;
    c->hidden_size = C; c->num_layers = L; c->num_heads = H; c->num_kv_heads = KV; c->head_dim = C / H;
    c->intermediate_size = I; c->vocab_size = V; c->tie_word_embeddings = tied; c->qkv_bias = 1;
    c->max_position_embeddings = 32768; c->rope_theta = 1e6f; c->rms_norm_eps = 1e-6f;
}

static const char *phase_name[CUDA_PHASES] = {"GEMMs", "attention", "head", "optimizer"};

// zero_ranks > 1: this process is rank 0 of a ZeRO-1 group (its optimizer shard only; no communication).
static void bench_train_shape(const char *name, const ModelConfig *c, int B, int T, int recompute, int zero_ranks,
                              int steps) {
    char err[256];
    Model m;
    if (model_init(&m, c, err, sizeof(err)) != 0) die("bench_cuda: %s", err);
    fill_fast(&m);
    const size_t N = (size_t)B * T, P = m.num_params;
    MemPlanOpts mo;
    memset(&mo, 0, sizeof(mo));
    mo.precision = MEMPLAN_BF16; mo.recompute = recompute; mo.flash = 1; mo.eval = 0;
    mo.zero_stage = zero_ranks > 1; mo.nranks = zero_ranks; mo.micro_batch = B; mo.seq_len = T;
    MemPlan plan;
    memplan_train(c, P, &mo, &plan);
    size_t free0 = 0, total = 0;
    cuda_mem_info(&free0, &total);
    printf("%s: %.1fM params, L %d C %d I %d H %d KV %d D %d V %d%s, B %d T %d, bf16, flash%s%s\n", name, P / 1e6,
           c->num_layers, c->hidden_size, c->intermediate_size, c->num_heads, c->num_kv_heads, c->head_dim,
           c->vocab_size, c->tie_word_embeddings ? " tied" : "", B, T, recompute ? ", recompute" : "",
           zero_ranks > 1 ? ", ZeRO-1 shard of rank 0" : "");
    printf("  plan: weights %.2f + master %.2f + grads %.2f + adam %.2f + activations %.2f GiB (recompute %.2f, "
           "full %.2f) = %.2f GiB + %.2f GiB runtime reserve = %.2f GiB; device has %.2f GiB free of %.2f\n",
           plan.weights / GiB, plan.master / GiB, plan.grads / GiB, plan.adam / GiB, plan.acts / GiB,
           plan.acts_recompute / GiB, plan.acts_full / GiB, (plan.total - plan.reserve) / GiB, plan.reserve / GiB,
           plan.total / GiB, free0 / GiB, total / GiB);
    if (plan.total > free0) {
        printf("  does NOT fit on this GPU by the plan (%.2f GiB > %.2f GiB free): not run\n", plan.total / GiB,
               free0 / GiB);
        model_free(&m);
        return;
    }
    int *tokens = mallocCheck(N * sizeof(int)), *targets = mallocCheck(N * sizeof(int));
    float *logp = mallocCheck(N * sizeof(float)), *ent = mallocCheck(N * sizeof(float)), *dlogp = mallocCheck(N * sizeof(float));
    uint32_t s = 7;
    for (size_t n = 0; n < N; n++) { s = s * 1664525u + 1013904223u; tokens[n] = (int)((s >> 8) % (uint32_t)c->vocab_size); }
    for (size_t n = 0; n < N; n++) {
        targets[n] = (n + 1) % (size_t)T ? tokens[n + 1] : -1;
        dlogp[n] = targets[n] >= 0 ? -1.0f / (float)N : 0.0f;
    }
    CudaModelOpts o;
    cuda_model_opts_default(&o, P);
    o.precision = CUDA_PREC_BF16; o.flash = 1; o.recompute = recompute; o.device = cuda_get_device();
    if (zero_ranks > 1) {
        size_t block;
        memplan_zero_shard(P, zero_ranks, 0, &o.opt_off, &o.opt_len, &block, &o.capacity);
    }
    cuda_reset_peak_allocated();
    const size_t base = cuda_peak_allocated();
    const double ti = now_seconds();
    CudaModel cm;
    cuda_model_init_opts(&cm, &m, &o);
    CudaActs ca;
    cuda_acts_init_opts(&ca, &cm, B, T, 0);
    printf("  init (upload + bf16 rounding) %.1f s\n", now_seconds() - ti);
    const AdamWConfig ac = adamw_default();
    double t_total = 0.0, ms[CUDA_PHASES], step_prof = 0.0;
    size_t free_min = free0;
    for (int it = 0; it <= steps + 1; it++) {  // it 0: warm-up; 1..steps: timed; steps + 1: profiled
        const int prof = it == steps + 1;
        cuda_model_profile(prof);
        cuda_sync();
        const double t0 = now_seconds();
        cuda_model_zero_grad(&cm);
        cuda_model_forward(&cm, &ca, tokens, B, T);
        cuda_model_head(&cm, &ca, targets, 1.0f, logp, ent, NULL, NULL);
        cuda_model_backward(&cm, &ca, dlogp);
        cuda_model_clip_grad_norm(&cm, 1.0f);
        cuda_model_adamw_range(&cm, &ac, 1e-6f, it + 1, o.opt_off, o.opt_len);
        cuda_sync();
        const double dt = now_seconds() - t0;
        if (it >= 1 && !prof) t_total += dt;
        if (prof) { cuda_model_profile_take(ms); step_prof = dt; }
        size_t fr = 0;
        cuda_mem_info(&fr, NULL);
        if (fr < free_min) free_min = fr;
    }
    cuda_model_profile(0);
    const double st = t_total / steps, flops = 3.0 * model_flops_per_token(c, T) * (double)N;
    printf("  step %.1f ms: %.0f tokens/s, %.1f TFLOP/s model FLOPs (3 x forward, causal attention), MFU %.1f%% of "
           "%.0f TFLOP/s dense bf16 (H100/H200 SXM assumed); logp[1] %.4f\n", st * 1e3, N / st, flops / st / 1e12,
           100.0 * flops / st / PEAK_BF16_FLOPS, PEAK_BF16_FLOPS / 1e12, logp[1]);
    double known = 0.0;
    printf("  profiled step %.1f ms (events add a little):", step_prof * 1e3);
    for (int p = 0; p < CUDA_PHASES; p++) { printf(" %s %.1f ms (%.0f%%),", phase_name[p], ms[p], 100.0 * ms[p] / (step_prof * 1e3)); known += ms[p]; }
    printf(" the rest (norms, RoPE, SwiGLU, residuals, embedding, copies) %.1f ms\n", step_prof * 1e3 - known);
    const size_t peak = cuda_peak_allocated() - base, planned = plan.total - plan.reserve;
    printf("  memory: plan %.3f GiB (without the reserve), cuda_malloc peak %.3f GiB (%s); device in use at the "
           "fullest %.2f GiB (cudaMemGetInfo, includes the CUDA context, cuBLAS workspace) vs plan with reserve %.2f GiB\n",
           planned / GiB, peak / GiB, peak <= planned + 65536 ? "== plan" : "ABOVE the plan", (total - free_min) / GiB,
           plan.total / GiB);
    cuda_acts_free(&ca);
    cuda_model_free(&cm);
    model_free(&m);
    free(tokens); free(targets); free(logp); free(ent); free(dlogp);
}

static int bench_train_main(int steps, int with_7b) {
    ModelConfig c;
    qwen_shape(&c, 896, 24, 14, 2, 4864, 151936, 1);
    bench_train_shape("Qwen2.5-0.5B shape", &c, 2, 4096, 0, 1, steps);
    qwen_shape(&c, 1536, 28, 12, 2, 8960, 151936, 1);
    bench_train_shape("Qwen2.5-1.5B shape", &c, 1, 4096, 0, 1, steps);
    bench_train_shape("Qwen2.5-1.5B shape", &c, 2, 4096, 1, 1, steps);
    if (with_7b) {
        qwen_shape(&c, 3584, 28, 28, 4, 18944, 152064, 0);
        bench_train_shape("Qwen2.5-7B shape", &c, 1, 8192, 1, 8, 1);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "train")) {
        const int steps = argc > 2 ? atoi(argv[2]) : 3;
        if (steps < 1) die("bench_cuda train: timed steps must be >= 1 (got %s)", argv[2]);
        char desc[256];
        cuda_device_describe(desc, sizeof(desc));
        printf("device: %s\n", desc);
        if (cuda_device_count() == 0) die("bench_cuda: no CUDA device: run on a GPU machine");
        return bench_train_main(steps, argc > 3 && !strcmp(argv[3], "7b"));
    }
    const int steps = argc > 1 ? atoi(argv[1]) : 3;
    if (steps < 1) die("bench_cuda: timed steps must be >= 1 (got %s)", argv[1]);
    char desc[256];
    cuda_device_describe(desc, sizeof(desc));
    printf("device: %s\n", desc);
    if (cuda_device_count() == 0) die("bench_cuda: no CUDA device: run on a GPU machine");
    CudaCtx *cx = cuda_ctx_create(0);
    bench_sgemm(cx, 0);
    bench_sgemm(cx, 1);
    cuda_ctx_destroy(cx);

    ModelConfig c;
    model_config_default(&c);
    c.arch = ARCH_QWEN2;  // hidden 1024, Qwen2-style qkv bias, GQA 16/4
    c.vocab_size = 32000; c.hidden_size = 1024; c.intermediate_size = 2816; c.num_layers = 12;
    c.num_heads = 16; c.num_kv_heads = 4; c.head_dim = 64; c.qkv_bias = 1; c.tie_word_embeddings = 1;
    c.max_position_embeddings = 4096; c.rope_theta = 1e6f;
    bench_model("hidden1024", &c, 8, 512, steps);

    c.arch = ARCH_LLAMA;  // hidden 2048, LLaMA-style, GQA 16/4, head_dim 128
    c.hidden_size = 2048; c.intermediate_size = 5632; c.num_layers = 8; c.head_dim = 128; c.qkv_bias = 0;
    c.tie_word_embeddings = 0; c.rope_theta = 10000.0f;
    bench_model("hidden2048", &c, 8, 512, steps);
    return 0;
}
#endif
