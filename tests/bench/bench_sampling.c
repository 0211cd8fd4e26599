// Batched sampling throughput of the KV-cache decoder: G samples of one prompt (shared prefill),
// temperature 1, no stop tokens, exactly N new tokens each. Random weights (speed does not depend on
// them). Compare with tests/bench/bench_sampling.py (PyTorch eager + HF generate, same shape).
// --model PATH loads a real model instead (HF directory, .h5 or GGUF; tests/bench/bench_smollm2.sh)
// and ignores the shape options.
//
//   build/bench/bench_sampling [--C 256 --L 4 --H 4 --KV 4 --I 688 --V 128 --G 8 --prompt 32 --new 128 --reps 3]
//   build/bench/bench_sampling --model runs/smollm2.h5 [--G 8 --prompt 32 --new 128 --reps 3]
// Prints one line per repetition and the best tokens/s (G * N / wall time, prefill included), plus
// tokens per CPU-second of the process (all threads), which is steadier on a shared machine.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/core/check.h"
#include "common/engine/infer.h"
#include "common/engine/model.h"
#include "common/io/model_io.h"

int main(int argc, char **argv) {
    int C = 256, L = 4, H = 4, KV = 4, FF = 688, V = 128, G = 8, P = 32, N = 128, reps = 3;
    float top_p = 1.0f;
    const char *model_path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i];
        int v = atoi(argv[i + 1]);
        if (!strcmp(a, "--model")) model_path = argv[i + 1]; else if (!strcmp(a, "--C")) C = v; else if (!strcmp(a, "--L")) L = v; else if (!strcmp(a, "--H")) H = v;
        else if (!strcmp(a, "--KV")) KV = v; else if (!strcmp(a, "--I")) FF = v; else if (!strcmp(a, "--V")) V = v;
        else if (!strcmp(a, "--G")) G = v; else if (!strcmp(a, "--prompt")) P = v; else if (!strcmp(a, "--new")) N = v;
        else if (!strcmp(a, "--reps")) reps = v; else if (!strcmp(a, "--top-p")) top_p = (float)atof(argv[i + 1]);
        else die("unknown option %s", a);
    }
    Model m;
    char err[512];
    if (model_path) {
        if (model_load(model_path, &m, err, sizeof(err)) != 0) die("%s", err);
        const ModelConfig *c = &m.cfg;
        V = c->vocab_size; C = c->hidden_size; FF = c->intermediate_size; L = c->num_layers;
        H = c->num_heads; KV = c->num_kv_heads;
    } else {
        ModelConfig c;
        model_config_default(&c);
        c.vocab_size = V; c.hidden_size = C; c.intermediate_size = FF; c.num_layers = L; c.num_heads = H;
        c.num_kv_heads = KV; c.head_dim = C / H; c.qkv_bias = 1; c.tie_word_embeddings = 0;
        if (model_init(&m, &c, err, sizeof(err)) != 0) die("%s", err);
        model_init_random(&m, 1, 0.02f);
    }
    Infer s;
    if (infer_init(&s, &m, G, P + N, err, sizeof(err)) != 0) die("%s", err);
    int *prompt = mallocCheck((size_t)P * sizeof(int));
    for (int t = 0; t < P; t++) prompt[t] = (t * 37 + 11) % V;
    GenParams gp;
    gen_params_default(&gp);
    gp.max_new_tokens = N;
    gp.sampler.top_p = top_p;
    GenOutput *out = mallocCheck((size_t)G * sizeof(GenOutput));
    for (int i = 0; i < G; i++) gen_output_alloc(&out[i], N);
    printf("model: V %d C %d I %d L %d H %d KV %d (%.1fM params); G %d, prompt %d, new %d, top_p %.2f\n",
           V, C, FF, L, H, KV, m.num_params / 1e6, G, P, N, top_p);
    double best = 0.0, best_cpu = 0.0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        clock_t c0 = clock();
        if (infer_generate_group(&s, prompt, P, G, 1234, (uint64_t)r, &gp, out, err, sizeof(err)) != 0) die("%s", err);
        double dt = now_seconds() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        long ntok = 0;
        for (int i = 0; i < G; i++) ntok += out[i].n;
        double tps = ntok / dt;
        if (tps > best) best = tps;
        if (ntok / cpu > best_cpu) best_cpu = ntok / cpu;
        printf("rep %d: %ld tokens in %.3f s = %.1f tokens/s (CPU %.3f s, %.1f tokens per CPU-second)\n",
               r, ntok, dt, tps, cpu, ntok / cpu);
    }
    printf("best: %.1f tokens/s, %.1f tokens per CPU-second\n", best, best_cpu);
    for (int i = 0; i < G; i++) gen_output_free(&out[i]);
    free(out); free(prompt);
    infer_free(&s);
    model_free(&m);
    return 0;
}
