// rlvr convert IN OUT: HF directory <-> native .h5 model file (either direction, or HF -> HF to
// re-save BF16/F16/sharded weights as one float32 model.safetensors), and a llama.cpp GGUF file to
// either (dequantized to float32, its vocabulary made into tokenizer.json). The tokenizer travels along:
// tokenizer.json and tokenizer_config.json (chat template included) go into the .h5 file and come
// back out into an HF directory; generation_config.json's EOS ids join config.json's.
#include <stdio.h>
#include <string.h>

#include "common/tools/commands.h"
#include "common/engine/model.h"
#include "common/engine/tokenizer.h"
#include "common/io/model_io.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlvr convert IN OUT\n"
               "  IN   an HF model directory (config.json + model.safetensors or sharded safetensors with an index),\n"
               "       a native .h5 model file, or a llama.cpp GGUF file (LLaMA / Qwen2; F32, F16, BF16, Q8_0, Q4_0,\n"
               "       Q4_1, Q4_K, Q5_K, Q6_K tensors, dequantized to float32)\n"
               "  OUT  a name ending in .h5 writes a native model file; anything else writes an HF directory\n"
               "       (config.json + float32 model.safetensors, loadable by transformers)\n"
               "The tokenizer goes along: IN's tokenizer.json and tokenizer_config.json (with its chat template) are\n"
               "stored in the .h5 file or written to the directory; it is loaded first, so a broken one is an error.\n");
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
    // The tokenizer must load before it is copied: a model file with a broken tokenizer is no policy.
    Tokenizer tok;
    char tdesc[128] = "no tokenizer";
    if (!m.tokenizer_json && model_is_gguf(in) && model_gguf_tokenizer_error(in, err, sizeof(err)) != 0)
        fprintf(stderr, "rlvr convert: warning: the weights convert without a tokenizer: %s\n", err);
    if (m.tokenizer_json || m.cfg.tokenizer[0]) {
        // From IN's files when it has them, so that an error names the file; a tokenizer made from
        // another format (GGUF) is checked as the model holds it.
        size_t k = strlen(in);
        int from_files = !(k >= 5 && strcmp(in + k - 5, ".gguf") == 0);
        if ((from_files ? model_load_tokenizer(in, &tok, err, sizeof(err)) : tokenizer_from_model(&tok, &m, err, sizeof(err))) != 0) {
            fprintf(stderr, "rlvr convert: %s\n", err);
            model_free(&m);
            return 1;
        }
        snprintf(tdesc, sizeof tdesc, "tokenizer %s with %d ids", tok.type, tok.vocab_size);
        tokenizer_free(&tok);
    }
    size_t n = strlen(out);
    int native = n >= 3 && strcmp(out + n - 3, ".h5") == 0;
    int rc = native ? model_save_native(&m, out, err, sizeof(err)) : model_save_hf(&m, out, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "rlvr convert: %s\n", err);
    else printf("converted %s -> %s (%s, %s, %d layers, %zu parameters, %s)\n", in, out, native ? "native HDF5" : "HF directory",
                model_arch_name(m.cfg.arch), m.cfg.num_layers, m.num_params, tdesc);
    model_free(&m);
    return rc ? 1 : 0;
}
