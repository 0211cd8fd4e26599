// rlvr score --model PATH --tokens 1,2,3,... [--temperature T] [--device cpu|cuda] [--precision fp32|bf16]
//            [--gpu-memory-fraction F]
// Prints one JSON object {"logprobs": [...], "entropies": [...]} with n-1 entries for n tokens:
// entry i is log p(token i+1 | tokens 0..i) and the entropy of that distribution, both of
// softmax(logits / T), in nats. Exit codes: 0 ok, 2 bad arguments / tokens / model, 1 internal error.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tools/commands.h"
#include "common/core/check.h"
#include "common/engine/model.h"
#include "common/io/model_io.h"
#include "common/tools/device_run.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: rlvr score --model PATH --tokens ID,ID,... [--temperature T]\n"
            "  --model PATH        HF directory (config.json + *.safetensors) or native .h5 model file\n"
            "  --tokens LIST       comma-separated token ids (at least 1)\n"
            "  --temperature T     softmax temperature > 0 (default 1.0)\n"
            "  --device cpu|cuda   the training forward on the CPU engine (default) or the GPU (-DRLVR_CUDA=ON build)\n"
            "  --precision P       fp32 (default; the CPU's numbers within the CUDA tests' tolerance) or bf16 (cuda)\n"
            "  --gpu-memory-fraction F  share of the GPU's memory to use, in (0, 1] (default 0.9)\n"
            "Prints {\"logprobs\": [...], \"entropies\": [...]}: entry i scores token i+1 given tokens 0..i.\n");
}

// Parses "1,2, 3" into a malloc'd array; -1 with a message naming the bad item.
static int parse_tokens(const char *s, int **out, int *n_out, char *err, size_t errlen) {
    size_t cap = 16, n = 0;
    int *t = mallocCheck(cap * sizeof(int));
    const char *p = s;
    for (;;) {
        while (*p == ' ') p++;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < 0 || v > 0x7fffffffL) {
            free(t);
            return rlvr_err(err, errlen, "--tokens: item %zu ('%.20s') is not a non-negative integer "
                            "(expected comma-separated ids like 1,2,3)", n + 1, p);
        }
        if (n == cap) t = reallocCheck(t, (cap *= 2) * sizeof(int));
        t[n++] = (int)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == '\0') break;
        if (*p != ',') {
            free(t);
            return rlvr_err(err, errlen, "--tokens: unexpected character '%c' after item %zu (separate ids with commas)", *p, n);
        }
        p++;
    }
    if (n > 0x7fffffff / 2) { free(t); return rlvr_err(err, errlen, "--tokens: too many tokens"); }
    *out = t;
    *n_out = (int)n;
    return 0;
}

// JSON has no inf/nan: a -inf log-prob (probability underflow) is written as null.
static void print_array(const float *x, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        if (isfinite(x[i])) printf("%.9g", (double)x[i]);
        else fputs("null", stdout);
    }
    putchar(']');
}

int cmd_score(int argc, char **argv) {
    const char *model_path = NULL, *tokens_arg = NULL;
    double temperature = 1.0;
    DeviceOpts dev;
    device_opts_default(&dev);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "rlvr score: %s needs a value\n", a); usage(stderr); return 2; }
        if (!strcmp(a, "--model")) model_path = argv[++i];
        else if (!strcmp(a, "--tokens")) tokens_arg = argv[++i];
        else if (!strcmp(a, "--device")) {
            if (device_kind_parse(argv[++i], &dev.kind) != 0) { fprintf(stderr, "rlvr score: --device '%s' must be cpu or cuda\n", argv[i]); return 2; }
        } else if (!strcmp(a, "--precision")) {
            if (device_precision_parse(argv[++i], &dev.precision) != 0) { fprintf(stderr, "rlvr score: --precision '%s' must be fp32 or bf16\n", argv[i]); return 2; }
        } else if (!strcmp(a, "--gpu-memory-fraction")) {
            char *end;
            dev.mem_fraction = strtod(argv[++i], &end);
            if (*argv[i] == '\0' || *end != '\0' || !(dev.mem_fraction > 0 && dev.mem_fraction <= 1)) {
                fprintf(stderr, "rlvr score: --gpu-memory-fraction '%s' must be a number in (0, 1]\n", argv[i]);
                return 2;
            }
        }
        else if (!strcmp(a, "--temperature")) {
            char *end;
            errno = 0;
            temperature = strtod(argv[++i], &end);
            if (*argv[i] == '\0' || *end != '\0' || errno != 0 || !(temperature > 0) || !isfinite(temperature)) {
                fprintf(stderr, "rlvr score: --temperature '%s' must be a number > 0 (e.g. 1.0)\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "rlvr score: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || !tokens_arg) {
        fprintf(stderr, "rlvr score: --model and --tokens are required\n");
        usage(stderr);
        return 2;
    }
    char err[1024];
    if (device_opts_available(&dev, "rlvr score", err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    int *tokens = NULL, n = 0;
    if (parse_tokens(tokens_arg, &tokens, &n, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr score: %s\n", err);
        return 2;
    }
    Model m;
    if (model_load(model_path, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr score: cannot load model: %s\n", err);
        free(tokens);
        return 2;
    }
    if (model_check_tokens(&m.cfg, tokens, (size_t)n, err, sizeof(err)) != 0) {
        fprintf(stderr, "rlvr score: --tokens: %s\n", err);
        free(tokens);
        model_free(&m);
        return 2;
    }
    ToolScorer sc;
    if (tool_scorer_init(&sc, &m, &dev, n, err, sizeof err) != 0) {
        fprintf(stderr, "rlvr score: %s\n", err);
        free(tokens);
        model_free(&m);
        return 2;
    }
    int *targets = mallocCheck((size_t)n * sizeof(int));
    float *logp = mallocCheck((size_t)n * sizeof(float)), *ent = mallocCheck((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) targets[i] = i + 1 < n ? tokens[i + 1] : -1;
    tool_scorer_run(&sc, tokens, n, targets, (float)temperature, logp, ent, NULL);
    fputs("{\"logprobs\": ", stdout);
    print_array(logp, n - 1);
    fputs(", \"entropies\": ", stdout);
    print_array(ent, n - 1);
    fputs("}\n", stdout);
    int rc = fflush(stdout) == 0 ? 0 : 1;
    free(targets); free(logp); free(ent); free(tokens);
    tool_scorer_free(&sc);
    model_free(&m);
    return rc;
}
