// rlvr generate --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K]
//               [--seed S] [-n G] [--batch B] [--device cpu|cuda] [--precision fp32|bf16] [--gpu-memory-fraction F]
// Samples G continuations of one prompt with the KV-cache decoder (common/engine/infer.h) and prints them.
// With G = 1 only the continuation is printed; with G > 1 each one follows a header line
// "=== sample i: N tokens, finish stop|length, mean logprob X ===". The samples are seeded per sample
// (sampler_seed(seed, 0, i)), so sample i is the same whatever G is. On the GPU the draws come from
// Philox instead of the CPU's xoshiro (common/engine/cuda/cuda_gen_backend.h): same seeds, other samples;
// greedy is the same.
// Exit codes: 0 ok, 2 bad arguments / model / prompt, 1 internal error (output write failure).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tools/commands.h"
#include "common/core/check.h"
#include "common/core/cli.h"
#include "common/engine/infer.h"
#include "common/engine/model.h"
#include "common/engine/tokenizer.h"
#include "common/io/model_io.h"
#include "common/tools/device_run.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: rlvr generate --model PATH --prompt TEXT [options]\n"
            "  --model PATH        HF directory (config.json + *.safetensors) or native .h5 model file\n"
            "  --prompt TEXT       prompt text (BOS is prepended when the model config has one)\n"
            "  --max-tokens N      maximum new tokens per sample, >= 1 (default 128)\n"
            "  --temperature T     >= 0; 0 = greedy (default 1.0)\n"
            "  --top-p P           nucleus sampling mass in (0, 1]; 1 = off (default 1.0)\n"
            "  --top-k K           keep the K most likely tokens; 0 = off (default 0)\n"
            "  --seed S            run seed, a non-negative integer (default 0)\n"
            "  -n G                number of samples (default 1)\n"
            "  --batch B           engine slots: samples decoded together, a finished one's slot refilled at once\n"
            "                      (default min(G, 64))\n"
            "  --device cpu|cuda   generate on the CPU engine (default) or the GPU (-DRLVR_CUDA=ON build, first\n"
            "                      visible GPU)\n"
            "  --precision P       fp32 (default) or bf16 (cuda only)\n"
            "  --gpu-memory-fraction F  share of the GPU's memory to use, in (0, 1] (default 0.9)\n"
            "Generation stops at the model's EOS token or after --max-tokens tokens.\n");
}

// The sample's text through the streaming decoder: each token's text is written once its characters
// are complete (a character split across tokens comes out whole), special tokens left out.
static void print_sample(const Tokenizer *tok, const GenOutput *o) {
    TokStream st;
    tok_stream_init(&st, tok, TOK_SKIP_SPECIAL);
    size_t n;
    for (int t = 0; t < o->n; t++) {
        const char *p = tok_stream_push(&st, o->tokens[t], &n);
        fwrite(p, 1, n, stdout);
    }
    const char *p = tok_stream_finish(&st, &n);
    fwrite(p, 1, n, stdout);
    fputc('\n', stdout);
    tok_stream_free(&st);
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *prompt_text = NULL;
    long max_tokens = 128, top_k = 0, G = 1;
    double temperature = 1.0, top_p = 1.0;
    unsigned long long seed = 0;
    long batch = 0;
    DeviceOpts dev;
    device_opts_default(&dev);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "rlvr generate: %s needs a value\n", a); usage(stderr); return 2; }
        const char *v = argv[++i];
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--prompt")) prompt_text = v;
        else if (!strcmp(a, "--max-tokens")) {
            if (cli_parse_long(v, 1, 1000000, &max_tokens) != 0) {
                fprintf(stderr, "rlvr generate: --max-tokens '%s' must be an integer in 1..1000000\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--temperature")) {
            if (cli_parse_double(v, &temperature) != 0 || temperature < 0) {
                fprintf(stderr, "rlvr generate: --temperature '%s' must be a number >= 0 (0 = greedy)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--top-p")) {
            if (cli_parse_double(v, &top_p) != 0 || !(top_p > 0 && top_p <= 1)) {
                fprintf(stderr, "rlvr generate: --top-p '%s' must be a number in (0, 1] (1 = off)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--top-k")) {
            if (cli_parse_long(v, 0, 1L << 30, &top_k) != 0) {
                fprintf(stderr, "rlvr generate: --top-k '%s' must be an integer >= 0 (0 = off)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0) {
                fprintf(stderr, "rlvr generate: --seed '%s' must be a non-negative integer\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--batch")) {
            if (cli_parse_long(v, 1, 65536, &batch) != 0) {
                fprintf(stderr, "rlvr generate: --batch '%s' must be an integer in 1..65536\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--device")) {
            if (device_kind_parse(v, &dev.kind) != 0) { fprintf(stderr, "rlvr generate: --device '%s' must be cpu or cuda\n", v); return 2; }
        } else if (!strcmp(a, "--precision")) {
            if (device_precision_parse(v, &dev.precision) != 0) { fprintf(stderr, "rlvr generate: --precision '%s' must be fp32 or bf16\n", v); return 2; }
        } else if (!strcmp(a, "--gpu-memory-fraction")) {
            if (cli_parse_double(v, &dev.mem_fraction) != 0 || !(dev.mem_fraction > 0 && dev.mem_fraction <= 1)) {
                fprintf(stderr, "rlvr generate: --gpu-memory-fraction '%s' must be a number in (0, 1]\n", v);
                return 2;
            }
        } else if (!strcmp(a, "-n")) {
            if (cli_parse_long(v, 1, 4096, &G) != 0) {
                fprintf(stderr, "rlvr generate: -n '%s' must be an integer in 1..4096\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "rlvr generate: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || !prompt_text) {
        fprintf(stderr, "rlvr generate: --model and --prompt are required\n");
        usage(stderr);
        return 2;
    }
    char err[1024];
    if (device_opts_available(&dev, "rlvr generate", err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    Model m;
    if (model_load(model_path, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr generate: cannot load model: %s\n", err);
        return 2;
    }
    Tokenizer tok;
    if (tokenizer_from_model(&tok, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr generate: model %s: %s\n", model_path, err);
        model_free(&m);
        return 2;
    }
    if (tok.vocab_size > m.cfg.vocab_size) {
        fprintf(stderr, "rlvr generate: model %s: tokenizer '%s' has %d tokens but the model's vocab_size is %d\n",
                model_path, tok.type, tok.vocab_size, m.cfg.vocab_size);
        tokenizer_free(&tok); model_free(&m);
        return 2;
    }
    int plen = 0;
    int *prompt = tokenizer_encode_alloc(&tok, prompt_text, TOK_ADD_SPECIAL, &plen, err, sizeof(err));   // [BOS] + text
    if (!prompt) {
        fprintf(stderr, "rlvr generate: --prompt: %s\n", err);
        tokenizer_free(&tok); model_free(&m);
        return 2;
    }
    if (plen == 0) {
        fprintf(stderr, "rlvr generate: --prompt is empty and the model has no BOS token; give a non-empty prompt\n");
        free(prompt); tokenizer_free(&tok); model_free(&m);
        return 2;
    }
    GenParams gp;
    gen_params_default(&gp);
    gp.sampler.temperature = (float)temperature;
    gp.sampler.top_p = (float)top_p;
    gp.sampler.top_k = (int)top_k;
    gp.max_new_tokens = (int)max_tokens;
    for (int i = 0; i < tok.n_eos && gp.n_stop < INFER_MAX_STOP; i++)   // every EOS of the model ends the sample
        if (tok.eos_ids[i] < m.cfg.vocab_size) gp.stop[gp.n_stop++] = tok.eos_ids[i];

    // At most 64 slots by default (bounded KV-cache memory); finished samples' slots are refilled.
    const int slots = batch > 0 ? (int)batch : G > 64 ? 64 : (int)G;
    ToolGen eng;
    if (tool_gen_init(&eng, &m, &dev, slots, plen + (int)max_tokens, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr generate: %s\n", err);
        free(prompt); tokenizer_free(&tok); model_free(&m);
        return 2;
    }
    GenOutput *out = mallocCheck((size_t)G * sizeof(GenOutput));
    GenRequest *reqs = mallocCheck((size_t)G * sizeof(GenRequest));
    for (long i = 0; i < G; i++) {
        gen_output_alloc(&out[i], (int)max_tokens);
        reqs[i].prompt = 0;
        reqs[i].seed = sampler_seed(seed, 0, (uint64_t)i);
    }
    const int *prompts[1] = {prompt};
    int rc = 0;
    if (genloop_run(&eng.be, 1, prompts, &plen, (int)G, reqs, &gp, out, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr generate: %s\n", err);
        rc = 2;
    } else {
        for (long i = 0; i < G; i++) {
            if (G > 1) {
                double lp = 0.0;
                for (int t = 0; t < out[i].n; t++) lp += out[i].logprobs[t];
                printf("=== sample %ld: %d tokens, finish %s, mean logprob %.4f ===\n", i, out[i].n,
                       finish_reason_name(out[i].finish), out[i].n ? lp / out[i].n : 0.0);
            }
            print_sample(&tok, &out[i]);
        }
        if (fflush(stdout) != 0) { fprintf(stderr, "rlvr generate: writing the output failed\n"); rc = 1; }
    }
    for (long i = 0; i < G; i++) gen_output_free(&out[i]);
    free(out);
    free(reqs);
    tool_gen_free(&eng);
    free(prompt);
    tokenizer_free(&tok);
    model_free(&m);
    return rc;
}
