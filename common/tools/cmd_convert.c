// rlvr convert IN OUT: HF directory <-> native .h5 model file (either direction, or HF -> HF to
// re-save BF16/F16/sharded weights as one float32 model.safetensors), and a llama.cpp GGUF file to
// either (dequantized to float32, with its tokenizer and chat template).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tools/commands.h"
#include "common/core/check.h"
#include "common/engine/model.h"
#include "common/io/gguf.h"
#include "common/io/gguf_model.h"
#include "common/io/gguf_tokenizer.h"
#include "common/io/model_io.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlvr convert IN OUT\n"
               "  IN   an HF model directory (config.json + model.safetensors or sharded safetensors with an index),\n"
               "       a native .h5 model file, or a llama.cpp GGUF file (LLaMA / Qwen2; F32, F16, BF16, Q8_0, Q4_0,\n"
               "       Q4_1, Q4_K, Q5_K, Q6_K tensors, dequantized to float32)\n"
               "  OUT  a name ending in .h5 writes a native model file; anything else writes an HF directory\n"
               "       (config.json + float32 model.safetensors, loadable by transformers; from a GGUF also\n"
               "       tokenizer.json and tokenizer_config.json with the chat template)\n");
}

static int write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rlvr_err(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        rlvr_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

// GGUF IN: the model from the tensors and metadata, the tokenizer text from the vocabulary. A
// tokenizer that cannot be reproduced exactly is a warning: the weights still convert.
static int convert_gguf(const char *in, const char *out, int native) {
    Gguf g;
    Model m;
    char err[1024];
    if (gguf_open(&g, in, err, sizeof(err)) != 0 || gguf_load_model(&g, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr convert: %s\n", err);
        if (g.map) gguf_close(&g);
        return 1;
    }
    char terr[1024] = "";
    char *tok = gguf_tokenizer_json(&g, terr, sizeof(terr));
    char *tok_cfg = tok ? gguf_tokenizer_config_json(&g, terr, sizeof(terr)) : NULL;
    if (!tok || !tok_cfg) fprintf(stderr, "rlvr convert: warning: no tokenizer written: %s\n", terr);
    int rc = native ? model_save_native(&m, out, err, sizeof(err)) : model_save_hf(&m, out, err, sizeof(err));
    if (rc == 0 && !native && tok && tok_cfg)
        rc = write_text(out, "tokenizer.json", tok, err, sizeof(err)) || write_text(out, "tokenizer_config.json", tok_cfg, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "rlvr convert: %s\n", err);
    else printf("converted %s -> %s (GGUF v%u -> %s, %s, %d layers, %zu parameters, tokenizer %s)\n", in, out, g.version,
                native ? "native HDF5" : "HF directory", model_arch_name(m.cfg.arch), m.cfg.num_layers, m.num_params,
                !(tok && tok_cfg) ? "not converted" : native ? "not stored in .h5" : "tokenizer.json + tokenizer_config.json");
    free(tok);
    free(tok_cfg);
    model_free(&m);
    gguf_close(&g);
    return rc ? 1 : 0;
}

int cmd_convert(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
    if (argc != 3) { usage(stderr); return 2; }
    const char *in = argv[1], *out = argv[2];
    size_t n = strlen(out);
    int native = n >= 3 && strcmp(out + n - 3, ".h5") == 0;
    if (gguf_is_gguf(in)) return convert_gguf(in, out, native);
    Model m;
    char err[1024];
    if (model_load(in, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr convert: %s\n", err);
        return 1;
    }
    int rc = native ? model_save_native(&m, out, err, sizeof(err)) : model_save_hf(&m, out, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "rlvr convert: %s\n", err);
    else printf("converted %s -> %s (%s, %s, %d layers, %zu parameters)\n", in, out, native ? "native HDF5" : "HF directory",
                model_arch_name(m.cfg.arch), m.cfg.num_layers, m.num_params);
    model_free(&m);
    return rc ? 1 : 0;
}
