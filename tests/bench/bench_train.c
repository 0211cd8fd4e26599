// Training throughput of the CPU engine (forward + head + backward + clip + AdamW) and the machine's
// sgemm peak. Not a test. Part of the normal build (tests/CMakeLists.txt) -> build/bench/bench_train.
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 build/bench/bench_train --hidden 512 --layers 4 --heads 8 --kv 4
//     --inter 1376 --vocab 8192 --batch 4 --seq 128 --steps 3
//   build/bench/bench_train --peak      (sgemm peak only)
//   build/bench/bench_train --model runs/smollm2.h5 --batch 4 --seq 128 --steps 3
//     (a real model, HF directory / .h5 / GGUF, instead of the shape options; tests/bench/bench_smollm2.sh)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/forward.h"
#include "common/engine/model.h"
#include "common/engine/optim.h"
#include "common/io/model_io.h"
#include "common/core/rng.h"

#undef I  // from <complex.h> via cblas.h

static double sgemm_peak(int n, int reps) {
    float *a = mallocCheck((size_t)n * n * sizeof(float)), *b = mallocCheck((size_t)n * n * sizeof(float)),
          *c = mallocCheck((size_t)n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);  // warm-up
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double gf = 2.0 * n * n * (double)n / (now_seconds() - t0) / 1e9;
        if (gf > best) best = gf;
    }
    free(a); free(b); free(c);
    return best;
}

int main(int argc, char **argv) {
    int C = 512, L = 4, H = 8, KV = 4, I = 1376, V = 8192, B = 4, T = 128, steps = 3, peak_only = 0;
    const char *model_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--peak")) { peak_only = 1; continue; }
        if (i + 1 >= argc) die("%s needs a value", a);
        if (!strcmp(a, "--model")) { model_path = argv[++i]; continue; }
        int v = atoi(argv[++i]);
        if (!strcmp(a, "--hidden")) C = v; else if (!strcmp(a, "--layers")) L = v;
        else if (!strcmp(a, "--heads")) H = v; else if (!strcmp(a, "--kv")) KV = v;
        else if (!strcmp(a, "--inter")) I = v; else if (!strcmp(a, "--vocab")) V = v;
        else if (!strcmp(a, "--batch")) B = v; else if (!strcmp(a, "--seq")) T = v;
        else if (!strcmp(a, "--steps")) steps = v; else die("unknown option %s", a);
    }
    const char *hint = engine_cpu_hint();
    if (hint) fprintf(stderr, "hint: %s\n", hint);
    printf("OpenBLAS core %s, OMP_WAIT_POLICY=%s\n", openblas_get_corename(),
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)");
    const double peak = sgemm_peak(2048, 3);
    printf("sgemm peak (2048^3, best of 3): %.1f GFLOP/s\n", peak);
    if (peak_only) return 0;

    ModelConfig cfg;
    Model m;
    char err[512];
    if (model_path) {
        if (model_load(model_path, &m, err, sizeof(err)) != 0) die("%s", err);
        cfg = m.cfg;
        V = cfg.vocab_size; C = cfg.hidden_size; I = cfg.intermediate_size; L = cfg.num_layers;
        H = cfg.num_heads; KV = cfg.num_kv_heads;
    } else {
        model_config_default(&cfg);
        cfg.vocab_size = V; cfg.hidden_size = C; cfg.intermediate_size = I; cfg.num_layers = L;
        cfg.num_heads = H; cfg.num_kv_heads = KV; cfg.head_dim = C / H; cfg.qkv_bias = 1; cfg.tie_word_embeddings = 0;
        if (model_init(&m, &cfg, err, sizeof(err)) != 0) die("%s", err);
        model_init_random(&m, 1, 0.02f);
    }
    model_alloc_train(&m);
    Acts a;
    acts_init(&a, &cfg, B, T);
    const size_t N = (size_t)B * T;
    int *tokens = mallocCheck(N * sizeof(int)), *targets = mallocCheck(N * sizeof(int));
    Rng rng;
    rng_seed(&rng, 2);
    for (size_t i = 0; i < N; i++) tokens[i] = (int)(rng_u64(&rng) % (uint64_t)V);
    for (size_t i = 0; i < N; i++) targets[i] = (i + 1) % T ? tokens[i + 1] : -100;
    AdamWConfig oc = {0.9f, 0.999f, 1e-8f, 0.1f};
    double t_fwd = 0, t_bwd = 0, t_opt = 0, total = 0, best = 1e30;
    float loss = 0;
    for (int s = 0; s <= steps; s++) {  // step 0 is warm-up (page faults, thread start)
        double t0 = now_seconds();
        memset(m.grads, 0, m.num_params * sizeof(float));
        model_forward(&m, &a, tokens, B, T);
        float *logp = mallocCheck(2 * N * sizeof(float)), *dlogp = logp + N;
        model_head(&m, &a, targets, 1.0f, logp, NULL, NULL, NULL);
        double t1 = now_seconds(), cnt = 0, sum = 0;
        for (size_t i = 0; i < N; i++) if (targets[i] >= 0) { cnt++; sum -= logp[i]; }
        for (size_t i = 0; i < N; i++) dlogp[i] = targets[i] >= 0 ? (float)(-1.0 / cnt) : 0.0f;
        loss = (float)(sum / cnt);
        model_backward(&m, &a, dlogp);
        double t2 = now_seconds();
        const double norm = model_grad_norm(&m);
        model_adamw_step_scaled(&m, &oc, 1e-4f, s + 1, clip_coef(norm, 1.0f));
        double t3 = now_seconds();
        free(logp);
        if (s == 0) continue;
        t_fwd += t1 - t0; t_bwd += t2 - t1; t_opt += t3 - t2; total += t3 - t0;
        if (t3 - t0 < best) best = t3 - t0;
    }
    const double flops_step = 3.0 * model_flops_per_token(&cfg, T) * (double)N;
    printf("model C=%d L=%d H=%d KV=%d I=%d V=%d params=%.1fM batch=%dx%d steps=%d loss=%.4f\n",
           C, L, H, KV, I, V, m.num_params / 1e6, B, T, steps, loss);
    // The machine is shared: the best step is the least disturbed measurement; the mean is shown too.
    printf("step mean %.3f s (fwd+head %.3f, bwd %.3f, clip+adamw %.3f) best %.3f s: %.0f tokens/s (mean %.0f)  "
           "%.1f GFLOP/s = %.0f%% of sgemm peak\n",
           total / steps, t_fwd / steps, t_bwd / steps, t_opt / steps, best, N / best, N * steps / total,
           flops_step / best / 1e9, 100.0 * flops_step / best / 1e9 / peak);
    acts_free(&a);
    model_free(&m);
    free(tokens); free(targets);
    return 0;
}
