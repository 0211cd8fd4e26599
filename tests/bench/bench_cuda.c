// GPU benchmark: cuBLAS SGEMM TFLOP/s (fp32 and TF32, 4096^3) for reference, then training throughput
// (forward + head + backward + grad clip + AdamW, tokens/s) of the CUDA engine on a hidden-1024 and a
// hidden-2048 model, each with fp32 and TF32 GEMMs.
//
//   build-gpu/bin/bench_cuda [timed_steps]      (default 3 timed steps after 1 warm-up step)
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

int main(int argc, char **argv) {
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
