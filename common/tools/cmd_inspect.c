// rlvr inspect FILE: summary of a checkpoint (step, versions, integrity, model shape, norms, state
// sizes, config excerpt), a checkpoint directory (its newest complete checkpoint), a native .h5 model
// file or an HF model directory.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/tools/commands.h"
#include "common/io/checkpoint.h"
#include "common/config/config.h"
#include "common/engine/model.h"
#include "common/engine/tokenizer.h"
#include "common/io/model_io.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlvr inspect FILE [--config] [--tensors] [--no-verify]\n"
               "  FILE         a checkpoint (ckpt_*.h5), a checkpoint directory (its newest complete checkpoint),\n"
               "               a native .h5 model file or an HF model directory\n"
               "  --config     print the checkpoint's whole resolved config\n"
               "  --tensors    print every tensor's shape and L2 norm (and the Adam moments' norms)\n"
               "  --no-verify  skip re-reading every dataset to check its CRC (faster on large checkpoints)\n"
               "exit status: 0 when the file is intact, 1 when it is damaged or unreadable, 2 on bad usage\n");
}

static double l2(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

static void human_bytes(double b, char *buf, size_t n) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1024 && i < 4) { b /= 1024; i++; }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

// The tokenizer the model carries: type, size, special ids, every EOS id, whether a chat template is there.
static void print_tokenizer(const Model *m) {
    Tokenizer t;
    char err[1024];
    if (!m->tokenizer_json && !m->cfg.tokenizer[0]) { printf("tokenizer    (none: no tokenizer.json, no rlvr_tokenizer)\n"); return; }
    if (tokenizer_from_model(&t, m, err, sizeof err) != 0) { printf("tokenizer    FAILED to load: %s\n", err); return; }
    printf("tokenizer    %s, %d ids, bos %d (%s), pad %d, eos", t.type, t.vocab_size, t.bos_id,
           t.add_bos ? "prompts start with it" : "not added", t.pad_id);
    for (int i = 0; i < t.n_eos; i++) printf("%s%d", i ? ", " : " ", t.eos_ids[i]);
    if (t.n_eos == 0) printf(" (none)");
    if (t.bpe) printf("; chat template %s", t.chat_template ? "yes" : "no");
    printf("\n");
    tokenizer_free(&t);
}

static void print_model(const Model *m, int tensors) {
    const ModelConfig *c = &m->cfg;
    char hb[32];
    human_bytes((double)m->num_params * 4, hb, sizeof(hb));
    printf("model        %s: %d layers, hidden %d, heads %d (kv %d, head_dim %d), intermediate %d, vocab %d\n",
           model_arch_name(c->arch), c->num_layers, c->hidden_size, c->num_heads, c->num_kv_heads, c->head_dim,
           c->intermediate_size, c->vocab_size);
    printf("             tied embeddings %s, qkv bias %s, rope_theta %g, max positions %d\n",
           c->tie_word_embeddings ? "yes" : "no", c->qkv_bias ? "yes" : "no", c->rope_theta, c->max_position_embeddings);
    print_tokenizer(m);
    printf("params       %zu (%s float32) in %d tensors\n", m->num_params, hb, m->num_tensors);
    printf("norms (L2)   params %.6g", l2(m->params, m->num_params));
    if (m->adam_m) printf("   adam_m %.6g   adam_v %.6g", l2(m->adam_m, m->num_params), l2(m->adam_v, m->num_params));
    printf("\n");
    if (!tensors) return;
    printf("tensors:\n");
    for (int i = 0; i < m->num_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        char shape[64];
        if (t->ndim == 2) snprintf(shape, sizeof(shape), "(%zu, %zu)", t->shape[0], t->shape[1]);
        else snprintf(shape, sizeof(shape), "(%zu)", t->shape[0]);
        printf("  %-52s %-14s norm %.6g", t->name, shape, l2(m->params + t->offset, t->numel));
        if (m->adam_m) printf("   m %.6g   v %.6g", l2(m->adam_m + t->offset, t->numel), l2(m->adam_v + t->offset, t->numel));
        printf("\n");
    }
}

static const char *EXCERPT[] = {
    "trainer.mode", "trainer.total_training_steps", "model.path", "data.train_files", "data.train_batch_size",
    "data.max_response_length", "rollout.n", "rollout.temperature", "actor.optim.lr", "actor.ppo_mini_batch_size",
    "actor.clip_ratio_low", "actor.clip_ratio_high", "algorithm.ppl_shaping.enable", "algorithm.position_shaping.enable",
    "reward.overlong_buffer.enable",
};

static void print_config(const char *yaml, int full) {
    if (!yaml || !yaml[0]) { printf("config       (none stored)\n"); return; }
    if (full) { printf("config:\n%s", yaml); return; }
    RlvrConfig c;
    config_defaults(&c);
    char err[1024];
    if (config_load_string(&c, yaml, "stored config", CONFIG_IGNORE_UNKNOWN, err, sizeof(err)) != 0) {
        printf("config       (unreadable by this build: %s)\n", err);
        return;
    }
    char v[CONFIG_STR_MAX * 4];
    for (size_t i = 0; i < sizeof(EXCERPT) / sizeof(EXCERPT[0]); i++) {
        config_value_text(&c, EXCERPT[i], v, sizeof(v));
        printf("%-12s %s: %s\n", i == 0 ? "config" : "", EXCERPT[i], v);
    }
    printf("             (--config prints all keys)\n");
}

static int inspect_checkpoint(const char *path, int show_config, int tensors, int verify) {
    char err[2048];
    CheckpointInfo info;
    int damaged = 0;
    printf("checkpoint   %s\n", path);
    if (checkpoint_verify(path, verify, &info, err, sizeof(err)) != 0) {
        printf("integrity    FAILED: %s\n", err);
        damaged = 1;
        if (checkpoint_verify(path, 0, &info, err, sizeof(err)) != 0) return 1;   // nothing more to show
    }
    printf("format       %s v%d, complete\n", CKPT_MAGIC, info.format_version);
    printf("step         %lld   policy_version %lld   optimizer_step %lld\n", (long long)info.step,
           (long long)info.policy_version, (long long)info.optimizer_step);
    if (!damaged) {
        char hb[32];
        human_bytes((double)info.bytes_checked, hb, sizeof(hb));
        if (verify) printf("integrity    OK (crc32c of %zu datasets, %s)\n", info.datasets_checked, hb);
        else printf("integrity    header OK (datasets not re-read: --no-verify)\n");
    }
    Model m;
    CheckpointState st = {0};
    st.model = &m;
    if (checkpoint_load(path, &st, 0, err, sizeof(err)) != 0) {
        printf("load         FAILED: %s\n", err);
        // The damage may be outside the model: show the model if it alone still loads.
        if (checkpoint_load(path, &st, CKPT_LOAD_MODEL_ONLY, err, sizeof(err)) != 0) return 1;
        damaged = 1;
    }
    print_model(&m, tensors);
    printf("optimizer    %s\n", !info.has_optimizer ? "none stored" : m.adam_m ? "AdamW moments present" : "AdamW moments present (damaged, not loaded)");
    printf("state        rng %zu uint64, data cursor %zu uint64", st.rng_len, st.data_len);
    if (st.data_len) {
        printf(" [");
        for (size_t i = 0; i < st.data_len && i < 6; i++) printf("%s%llu", i ? ", " : "", (unsigned long long)st.data[i]);
        printf(st.data_len > 6 ? ", ...]" : "]");
    }
    printf(", coordinator %zu bytes\n", st.coordinator_len);
    if (st.metrics) {
        int lines = 0;
        const char *last = st.metrics, *p;
        for (p = st.metrics; *p; p++)
            if (*p == '\n' && p[1]) { lines++; last = p + 1; }
        printf("metrics      %d records; last: %.*s\n", lines + 1, (int)strcspn(last, "\n"), last);
    }
    print_config(st.config_yaml, show_config);
    checkpoint_state_free(&st);
    model_free(&m);
    return damaged;
}

int cmd_inspect(int argc, char **argv) {
    const char *file = NULL;
    int show_config = 0, tensors = 0, verify = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--config")) show_config = 1;
        else if (!strcmp(argv[i], "--tensors")) tensors = 1;
        else if (!strcmp(argv[i], "--no-verify")) verify = 0;
        else if (argv[i][0] == '-' || file) { fprintf(stderr, "rlvr inspect: unexpected argument '%s'\n", argv[i]); usage(stderr); return 2; }
        else file = argv[i];
    }
    if (!file) { usage(stderr); return 2; }
    char err[2048], latest[4096];
    struct stat sb;
    if (stat(file, &sb) != 0) { fprintf(stderr, "rlvr inspect: '%s' does not exist\n", file); return 1; }
    const int is_dir = S_ISDIR(sb.st_mode);
    if (is_dir) {
        char cj[4096];
        snprintf(cj, sizeof(cj), "%s/config.json", file);
        if (stat(cj, &sb) != 0) {   // not an HF directory: a checkpoint directory
            int r = checkpoint_find_latest(file, 0, latest, sizeof(latest), err, sizeof(err));
            if (r < 0) { fprintf(stderr, "rlvr inspect: %s\n", err); return 1; }
            if (r == 0) {
                fprintf(stderr, "rlvr inspect: '%s' holds neither config.json (HF model) nor a complete ckpt_*.h5 checkpoint\n", file);
                return 1;
            }
            printf("directory    %s: newest complete checkpoint\n", file);
            return inspect_checkpoint(latest, show_config, tensors, verify);
        }
    } else if (checkpoint_is_checkpoint(file)) {
        return inspect_checkpoint(file, show_config, tensors, verify);
    }
    Model m;
    if (model_load(file, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr inspect: %s\n", err);
        return 1;
    }
    printf("model file   %s (%s)\n", file, is_dir ? "HF directory" : "native HDF5 model");
    printf("integrity    loaded OK (model files carry no checksums)\n");
    print_model(&m, tensors);
    model_free(&m);
    return 0;
}
