// rlvr export FILE DIR: the policy of a checkpoint as an HF model directory (config.json + float32
// model.safetensors, and tokenizer.json + tokenizer_config.json when the policy has an HF tokenizer)
// that transformers and vLLM load. FILE may be a checkpoint directory, in which
// case its newest complete checkpoint is used.
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/tools/commands.h"
#include "common/io/checkpoint.h"
#include "common/engine/model.h"
#include "common/io/model_io.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlvr export FILE DIR\n"
               "  FILE  a checkpoint (ckpt_*.h5) or a checkpoint directory (its newest complete checkpoint is used)\n"
               "  DIR   output HF model directory (config.json + model.safetensors, and the tokenizer's\n"
               "        tokenizer.json + tokenizer_config.json when the checkpoint carries them), created if missing\n"
               "The model's checksums are verified before anything is written. For native .h5 model files use\n"
               "'rlvr convert'.\n");
}

int cmd_export(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
    if (argc != 3) { usage(stderr); return 2; }
    const char *in = argv[1], *out = argv[2];
    char err[2048], path[4096];
    struct stat sb;
    if (stat(in, &sb) != 0) { fprintf(stderr, "rlvr export: '%s' does not exist\n", in); return 1; }
    if (S_ISDIR(sb.st_mode)) {
        int r = checkpoint_find_latest(in, 0, path, sizeof(path), err, sizeof(err));
        if (r <= 0) {
            fprintf(stderr, "rlvr export: %s\n", r < 0 ? err : "no complete ckpt_*.h5 checkpoint in that directory");
            return 1;
        }
    } else {
        snprintf(path, sizeof(path), "%s", in);
        if (!checkpoint_is_checkpoint(path)) {
            fprintf(stderr, "rlvr export: '%s' is not an rlvr checkpoint (native model files: rlvr convert %s DIR)\n", path, path);
            return 1;
        }
    }
    Model m;
    CheckpointState st = {0};
    st.model = &m;
    if (checkpoint_load(path, &st, CKPT_LOAD_MODEL_ONLY, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr export: %s\n", err);
        return 1;
    }
    int rc = model_save_hf(&m, out, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "rlvr export: %s\n", err);
    else printf("exported %s (step %lld) -> %s (%s, %d layers, %zu parameters%s)\n", path, (long long)st.step, out,
                model_arch_name(m.cfg.arch), m.cfg.num_layers, m.num_params, m.tokenizer_json ? ", tokenizer.json" : "");
    checkpoint_state_free(&st);
    model_free(&m);
    return rc ? 1 : 0;
}
