// Checkpoint throughput: save (write + CRC + fsync + rename), full verify, load, for a ~90M-parameter
// model with Adam moments (~1.1 GB file). Not a ctest.
//   build/bench/bench_checkpoint [DIR]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/io/checkpoint.h"

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/rlvr_bench_ckpt";
    ModelConfig c;
    model_config_default(&c);
    c.vocab_size = 32000; c.hidden_size = 768; c.intermediate_size = 2048; c.num_layers = 6;
    c.num_heads = 12; c.num_kv_heads = 4; c.head_dim = 64; c.max_position_embeddings = 2048; c.qkv_bias = 1;
    Model m;
    char err[1024], path[4096];
    if (model_init(&m, &c, err, sizeof(err)) != 0) die("%s", err);
    model_init_random(&m, 1, 0.02f);
    model_alloc_train(&m);
    for (size_t i = 0; i < m.num_params; i++) { m.adam_m[i] = m.params[i] * 0.1f; m.adam_v[i] = m.params[i] * m.params[i]; }
    uint64_t rng[64] = {0};
    CheckpointState st = {.step = 1, .policy_version = 1, .optimizer_step = 16, .model = &m, .rng = rng, .rng_len = 64, .config_yaml = ""};
    double gb = 3.0 * m.num_params * 4 / 1e9;
    printf("model %zu params, file %.2f GB\n", m.num_params, gb);
    double t = now_seconds();
    uint32_t crc = checkpoint_crc32c(0, m.params, m.num_params * 4);
    double tc = now_seconds() - t;
    printf("crc32c (1 thread)  %.2f GB/s (crc %08x)\n", m.num_params * 4 / 1e9 / tc, crc);
    for (int rep = 0; rep < 2; rep++) {
        st.step = rep + 1;
        t = now_seconds();
        if (checkpoint_save(dir, &st, 1, path, sizeof(path), err, sizeof(err)) != 0) die("%s", err);
        double ts = now_seconds() - t;
        t = now_seconds();
        CheckpointInfo info;
        if (checkpoint_verify(path, 1, &info, err, sizeof(err)) != 0) die("%s", err);
        double tv = now_seconds() - t;
        Model m2;
        CheckpointState ld = {.model = &m2};
        t = now_seconds();
        if (checkpoint_load(path, &ld, 0, err, sizeof(err)) != 0) die("%s", err);
        double tl = now_seconds() - t;
        int same = memcmp(m2.adam_v, m.adam_v, m.num_params * 4) == 0;
        printf("save %.2f s (%.2f GB/s)   verify %.2f s (%.2f GB/s)   load %.2f s (%.2f GB/s)   identical %s\n",
               ts, gb / ts, tv, gb / tv, tl, gb / tl, same ? "yes" : "NO");
        checkpoint_state_free(&ld);
        model_free(&m2);
    }
    model_free(&m);
    return 0;
}
