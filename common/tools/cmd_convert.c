// rlvr convert IN OUT: HF directory <-> native .h5 model file (either direction, or HF -> HF to
// re-save BF16/F16/sharded weights as one float32 model.safetensors).
#include <stdio.h>
#include <string.h>

#include "common/tools/commands.h"
#include "common/engine/model.h"
#include "common/io/model_io.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlvr convert IN OUT\n"
               "  IN   an HF model directory (config.json + model.safetensors or sharded safetensors with an index)\n"
               "       or a native .h5 model file\n"
               "  OUT  a name ending in .h5 writes a native model file; anything else writes an HF directory\n"
               "       (config.json + float32 model.safetensors, loadable by transformers)\n");
}

int cmd_convert(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
    if (argc != 3) { usage(stderr); return 2; }
    const char *in = argv[1], *out = argv[2];
    Model m;
    char err[1024];
    if (model_load(in, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr convert: %s\n", err);
        return 1;
    }
    size_t n = strlen(out);
    int native = n >= 3 && strcmp(out + n - 3, ".h5") == 0;
    int rc = native ? model_save_native(&m, out, err, sizeof(err)) : model_save_hf(&m, out, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "rlvr convert: %s\n", err);
    else printf("converted %s -> %s (%s, %s, %d layers, %zu parameters)\n", in, out, native ? "native HDF5" : "HF directory",
                model_arch_name(m.cfg.arch), m.cfg.num_layers, m.num_params);
    model_free(&m);
    return rc ? 1 : 0;
}
