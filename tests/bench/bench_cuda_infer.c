// GPU generation benchmark (common/engine/cuda/cuda_infer.h): decode tokens/s of Qwen2.5-0.5B- and
// 1.5B-shaped models (random weights, bf16; vocab 151,936, tied head, qkv bias) at batch 1, 16, 64, 256,
// against the roofline.
//
//   build/bench/bench_cuda_infer [steps]     (default 64 timed decode steps per window)
//
// The workload of 512-token prompts and 2k-token responses is measured as steady-state decode steps in
// two windows: `steps` steps starting at context 512 and `steps` starting at context 2432 (every slot's
// prompt prefilled once, its prefix copied to the other slots). A step's time is affine in the context
// (weights are fixed, the KV read grows linearly), so the mean of the two windows is the mean step time
// of a 512 -> 2560 generation. Sampling is T 1 over the full vocabulary, its cost included.
//
// Roofline per step: bytes = weights (num_params bf16) + KV cache read (rows x context x L x KV x D x 2 x
// 2 bytes) over the memory bandwidth (H200 4.8 TB/s, H100 SXM 3.35 TB/s, picked from the device name);
// FLOPs = rows x (2 x projection and head weights + 4 x context x H x D x L) over the bf16 dense peak
// (989 TFLOP/s, H100 SXM / H200).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

#ifndef RLVR_CUDA
int main(void) {
    fprintf(stderr, "bench_cuda_infer: this build has no CUDA backend (configure with -DRLVR_CUDA=ON)\n");
    return 1;
}
#else

#include "common/engine/cuda/cuda_infer.h"

#define PROMPT 512
#define CTX_LATE 2432          // start of the second window: 512 + 2048 - 128
#define MAX_SEQ 2576
#define BF16_PEAK 989e12
#define WARMUP_STEPS 2

typedef struct { const char *name; int C, L, H, KV, I; } Shape;

// Small values from an index hash (weights uniform in +-0.02, norms 1, biases 0): values do not change
// the speed, and this fills 1.5B floats in a second or two.
static void fill_params(Model *m) {
    for (int t = 0; t < m->num_tensors; t++) {
        const TensorInfo *ti = &m->tensors[t];
        float *p = m->params + ti->offset;
        const int is_norm = strstr(ti->name, "norm") != NULL, is_bias = strstr(ti->name, "bias") != NULL;
        #pragma omp parallel for schedule(static)
        for (size_t j = 0; j < ti->numel; j++) {
            uint32_t h = (uint32_t)(j * 2654435761u) ^ (uint32_t)(t * 40503u);
            h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
            p[j] = is_norm ? 1.0f : is_bias ? 0.0f : 0.04f * ((float)(h >> 8) / 16777216.0f - 0.5f);
        }
    }
}

// Mean seconds per decode step of `b` slots over `steps` steps starting at context ctx.
static double time_window(CudaInfer *g, int V, int b, int ctx, int steps, double *prefill_s) {
    int *sl = mallocCheck((size_t)ctx * sizeof(int)), *ps = mallocCheck((size_t)ctx * sizeof(int));
    int *tk = mallocCheck((size_t)ctx * sizeof(int));
    for (int s = 0; s < b; s++) cuda_infer_reset_slot(g, s);
    for (int t = 0; t < ctx; t++) { sl[t] = 0; ps[t] = t; tk[t] = (int)((t * 7919u) % (unsigned)V); }
    const SamplerParams sp = {1.0f, 1.0f, 0};
    int *tok = mallocCheck((size_t)b * sizeof(int)), *outr = mallocCheck((size_t)b * sizeof(int));
    uint64_t *seeds = mallocCheck((size_t)b * sizeof(uint64_t)), *draws = mallocCheck((size_t)b * sizeof(uint64_t));
    float *lp = mallocCheck((size_t)b * sizeof(float)), *en = mallocCheck((size_t)b * sizeof(float));
    for (int s = 0; s < b; s++) { seeds[s] = 1000 + (uint64_t)s; draws[s] = 0; }
    const int last = ctx - 1;
    double t0 = now_seconds();
    cuda_infer_step(g, ctx, sl, ps, tk, 1, &last, &sp, seeds, draws, tok, lp, en, NULL);
    *prefill_s = now_seconds() - t0;
    for (int s = 1; s < b; s++) cuda_infer_copy_prefix(g, s, 0, ctx);
    for (int s = 0; s < b; s++) { sl[s] = s; ps[s] = ctx; tk[s] = tok[0]; outr[s] = s; }
    double t_start = 0.0;
    for (int step = 0; step < WARMUP_STEPS + steps; step++) {
        if (step == WARMUP_STEPS) t_start = now_seconds();
        for (int s = 0; s < b; s++) draws[s] = (uint64_t)step + 1;
        cuda_infer_step(g, b, sl, ps, tk, b, outr, &sp, seeds, draws, tok, lp, en, NULL);
        for (int s = 0; s < b; s++) { ps[s]++; tk[s] = tok[s]; }
    }
    const double dt = (now_seconds() - t_start) / steps;
    free(sl); free(ps); free(tk); free(tok); free(outr); free(seeds); free(draws); free(lp); free(en);
    return dt;
}

static void bench_shape(const Shape *sh, int steps, double bw) {
    ModelConfig c;
    char err[512];
    model_config_default(&c);
    c.arch = ARCH_QWEN2; c.vocab_size = 151936; c.hidden_size = sh->C; c.intermediate_size = sh->I;
    c.num_layers = sh->L; c.num_heads = sh->H; c.num_kv_heads = sh->KV; c.head_dim = sh->C / sh->H;
    c.qkv_bias = 1; c.tie_word_embeddings = 1; c.rope_theta = 1e6f; c.max_position_embeddings = 32768;
    Model m;
    if (model_init(&m, &c, err, sizeof(err)) != 0) die("%s", err);
    fill_params(&m);
    CudaInferOpts o = {CUDA_PREC_BF16, 256, MAX_SEQ, 0.6, 0};
    CudaInfer *g = NULL;
    if (cuda_infer_init(&g, &m, &o, err, sizeof(err)) != 0) die("%s", err);
    const double D = c.head_dim, QD = c.num_heads * D, KD = c.num_kv_heads * D;
    const double proj = (double)c.num_layers * (c.hidden_size * QD + 2.0 * c.hidden_size * KD + QD * c.hidden_size +
                                                3.0 * c.hidden_size * c.intermediate_size) + (double)c.vocab_size * c.hidden_size;
    printf("\n%s: %.0fM params (bf16 %.2f GB), C %d L %d H %d KV %d D %d I %d, engine %.1f GiB, %d slots\n", sh->name,
           m.num_params / 1e6, m.num_params * 2 / 1e9, c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim,
           c.intermediate_size, cuda_infer_device_bytes(g) / 1073741824.0, cuda_infer_max_batch(g));
    printf("%6s %11s %11s %11s %10s %10s %10s %12s\n", "batch", "ms/step@512", "ms/step@2.4k", "tokens/s", "GB/step",
           "% bw roof", "TFLOP/s", "% bf16 peak");
    static const int batches[4] = {1, 16, 64, 256};
    for (int bi = 0; bi < 4; bi++) {
        const int b = batches[bi];
        if (b > cuda_infer_max_batch(g)) break;
        double pf0, pf1;
        const double t0 = time_window(g, c.vocab_size, b, PROMPT, steps, &pf0);
        const double t1 = time_window(g, c.vocab_size, b, CTX_LATE, steps, &pf1);
        const double t = 0.5 * (t0 + t1);
        double bytes = 0.0, flops = 0.0;
        for (int w = 0; w < 2; w++) {
            const double ctx = (w ? CTX_LATE : PROMPT) + WARMUP_STEPS + steps / 2.0;
            bytes += 0.5 * (m.num_params * 2.0 + b * ctx * c.num_layers * KD * 2.0 * 2.0);
            flops += 0.5 * b * (2.0 * proj + 4.0 * ctx * QD * c.num_layers);
        }
        printf("%6d %11.3f %11.3f %11.0f %10.3f %9.1f%% %10.1f %11.1f%%\n", b, t0 * 1e3, t1 * 1e3, b / t, bytes / 1e9,
               100.0 * bytes / bw / t, flops / t / 1e12, 100.0 * flops / t / BF16_PEAK);
        if (bi == 0) printf("       (prefill of one %d-token prompt: %.1f ms, %.0f tokens/s)\n", CTX_LATE, pf1 * 1e3, CTX_LATE / pf1);
    }
    cuda_infer_free(g);
    model_free(&m);
}

int main(int argc, char **argv) {
    const int steps = argc > 1 ? atoi(argv[1]) : 64;
    if (steps < 1 || CTX_LATE + WARMUP_STEPS + steps > MAX_SEQ) die("steps = %d must be in 1..%d", steps, MAX_SEQ - CTX_LATE - WARMUP_STEPS);
    if (cuda_device_count() == 0) {
        fprintf(stderr, "bench_cuda_infer: no CUDA device\n");
        return 1;
    }
    char desc[256];
    cuda_device_describe(desc, sizeof(desc));
    double bw = 3.35e12;
    const char *which = "H100 SXM 3.35 TB/s (device not recognised: assumed)";
    if (strstr(desc, "H200")) { bw = 4.8e12; which = "H200 4.8 TB/s"; }
    else if (strstr(desc, "H100")) { bw = 3.35e12; which = "H100 SXM 3.35 TB/s"; }
    printf("device: %s\nroofline: memory bandwidth %s; bf16 dense peak %.0f TFLOP/s\n", desc, which, BF16_PEAK / 1e12);
    printf("decode: %d timed steps at context %d and at %d (mean = a %d -> %d generation), T 1 sampling included\n", steps,
           PROMPT, CTX_LATE, PROMPT, PROMPT + 2048);
    static const Shape shapes[2] = {{"Qwen2.5-0.5B shape", 896, 24, 14, 2, 4864}, {"Qwen2.5-1.5B shape", 1536, 28, 12, 2, 8960}};
    for (int i = 0; i < 2; i++) bench_shape(&shapes[i], steps, bw);
    return 0;
}
#endif
