// Helper for the GGUF script tests (not a user tool):
//   gguf_tool tokenizer FILE.gguf          prints the tokenizer.json text gguf_tokenizer_json builds
//   gguf_tool tokenizer-config FILE.gguf   prints the tokenizer_config.json text
//   gguf_tool logits MODEL REF.safetensors [TOL]
//       runs MODEL (anything model_load reads) on the token sequences of REF (written by
//       tests/make_smollm2_reference.py from transformers) and compares, per sequence: the logits
//       at REF's sampled vocabulary columns and at transformers' top-5 ids, the log-sum-exp of each
//       position and the log-prob of each next token; also that the argmax agrees wherever
//       transformers' top-2 margin exceeds TOL. Exit 0 when every |difference| <= TOL (default 1e-3).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/forward.h"
#include "common/engine/model.h"
#include "common/io/gguf.h"
#include "common/io/gguf_tokenizer.h"
#include "common/io/model_io.h"
#include "common/io/safetensors.h"

#define TOP_K 5

static void *read_tensor(const SafeTensors *st, const char *name, int as_int, size_t *n) {
    const StTensor *t = st_find(st, name);
    if (!t) { fprintf(stderr, "gguf_tool: reference lacks '%s'\n", name); exit(1); }
    char err[512];
    void *p = malloc(t->numel * 4);
    int rc = as_int ? st_read_i32(st, t, p, t->numel, err, sizeof(err)) : st_read_f32(st, t, p, t->numel, err, sizeof(err));
    if (rc != 0) { fprintf(stderr, "gguf_tool: %s\n", err); exit(1); }
    if (n) *n = t->numel;
    return p;
}

static int cmd_tokenizer(const char *path, int config) {
    Gguf g;
    char err[1024];
    if (gguf_open(&g, path, err, sizeof(err)) != 0) { fprintf(stderr, "%s\n", err); return 1; }
    char *s = config ? gguf_tokenizer_config_json(&g, err, sizeof(err)) : gguf_tokenizer_json(&g, err, sizeof(err));
    gguf_close(&g);
    if (!s) { fprintf(stderr, "%s\n", err); return 1; }
    fputs(s, stdout);
    free(s);
    return 0;
}

static int cmd_logits(const char *model_path, const char *ref_path, double tol) {
    Model m;
    SafeTensors ref;
    char err[1024];
    if (model_load(model_path, &m, err, sizeof(err)) != 0) { fprintf(stderr, "gguf_tool: %s\n", err); return 1; }
    if (st_open(&ref, ref_path, err, sizeof(err)) != 0) { fprintf(stderr, "gguf_tool: %s\n", err); return 1; }
    const char *ns = st_meta(&ref, "num_sequences");
    int nseq = ns ? atoi(ns) : 0, V = m.cfg.vocab_size, fails = 0;
    size_t ncols;
    int *cols = read_tensor(&ref, "columns", 1, &ncols);
    double worst_logit = 0, worst_lse = 0, worst_logp = 0, max_abs_logit = 0;
    int argmax_checked = 0, argmax_agree = 0;
    for (int s = 0; s < nseq; s++) {
        char name[64];
        size_t T;
        snprintf(name, sizeof(name), "tokens.%d", s);
        int *tokens = read_tensor(&ref, name, 1, &T);
        snprintf(name, sizeof(name), "logits_at_columns.%d", s);
        float *rcols = read_tensor(&ref, name, 0, NULL);            // (T, ncols)
        snprintf(name, sizeof(name), "top_ids.%d", s);
        int *rtop = read_tensor(&ref, name, 1, NULL);               // (T, TOP_K)
        snprintf(name, sizeof(name), "top_logits.%d", s);
        float *rtopv = read_tensor(&ref, name, 0, NULL);            // (T, TOP_K)
        snprintf(name, sizeof(name), "logsumexp.%d", s);
        float *rlse = read_tensor(&ref, name, 0, NULL);             // (T)
        if (model_check_tokens(&m.cfg, tokens, T, err, sizeof(err)) != 0) { fprintf(stderr, "gguf_tool: %s\n", err); return 1; }
        Acts a;
        acts_init_eval(&a, &m.cfg, 1, (int)T);
        float *logits = malloc(T * (size_t)V * sizeof(float));      // (T, V)
        model_forward(&m, &a, tokens, 1, (int)T);
        model_logits(&m, &a, logits);
        double wl = 0, we = 0, wp = 0;
        for (size_t t = 0; t < T; t++) {
            const float *z = logits + t * (size_t)V;
            double mx = -INFINITY, sum = 0;
            int am = 0;
            for (int v = 0; v < V; v++) if (z[v] > mx) { mx = z[v]; am = v; }
            for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
            double lse = mx + log(sum);
            for (size_t c = 0; c < ncols; c++) wl = fmax(wl, fabs(z[cols[c]] - rcols[t * ncols + c]));
            for (int k = 0; k < TOP_K; k++) wl = fmax(wl, fabs(z[rtop[t * TOP_K + k]] - rtopv[t * TOP_K + k]));
            for (int v = 0; v < V; v++) max_abs_logit = fmax(max_abs_logit, fabs(z[v]));
            we = fmax(we, fabs(lse - rlse[t]));
            if (t + 1 < T) {
                int nx = tokens[t + 1];
                // Reference log-prob of the next token, when transformers' logit for it was stored.
                for (size_t c = 0; c < ncols; c++)
                    if (cols[c] == nx) wp = fmax(wp, fabs((z[nx] - lse) - (rcols[t * ncols + c] - rlse[t])));
                for (int k = 0; k < TOP_K; k++)
                    if (rtop[t * TOP_K + k] == nx) wp = fmax(wp, fabs((z[nx] - lse) - (rtopv[t * TOP_K + k] - rlse[t])));
            }
            if (rtopv[t * TOP_K] - rtopv[t * TOP_K + 1] > tol) {
                argmax_checked++;
                argmax_agree += am == rtop[t * TOP_K];
            }
        }
        printf("sequence %d (%zu tokens): max |logit diff| %.3g, max |logsumexp diff| %.3g, max |next-token log-prob diff| %.3g\n",
               s, T, wl, we, wp);
        worst_logit = fmax(worst_logit, wl);
        worst_lse = fmax(worst_lse, we);
        worst_logp = fmax(worst_logp, wp);
        acts_free(&a);
        free(logits); free(tokens); free(rcols); free(rtop); free(rtopv); free(rlse);
    }
    fails += nseq <= 0;
    fails += !(worst_logit <= tol) + !(worst_lse <= tol) + !(worst_logp <= tol) + (argmax_agree != argmax_checked);
    printf("%d sequences vs transformers: max |logit diff| %.3g (logits up to %.1f), max |logsumexp diff| %.3g, "
           "max |log-prob diff| %.3g, argmax %d/%d, tolerance %.3g: %s\n", nseq, worst_logit, max_abs_logit, worst_lse, worst_logp,
           argmax_agree, argmax_checked, tol, fails ? "FAIL" : "ok");
    free(cols);
    st_close(&ref);
    model_free(&m);
    return fails ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "tokenizer") == 0) return cmd_tokenizer(argv[2], 0);
    if (argc == 3 && strcmp(argv[1], "tokenizer-config") == 0) return cmd_tokenizer(argv[2], 1);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "logits") == 0) return cmd_logits(argv[2], argv[3], argc == 5 ? atof(argv[4]) : 1e-3);
    fprintf(stderr, "usage: gguf_tool tokenizer|tokenizer-config FILE.gguf | gguf_tool logits MODEL REF.safetensors [TOL]\n");
    return 2;
}
