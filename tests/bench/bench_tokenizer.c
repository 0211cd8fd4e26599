// Encode throughput of the byte-level BPE tokenizer, one thread: the C side of
// tests/bench/bench_tokenizer.py (which runs HF tokenizers and tiktoken on the same documents).
//
//   build/bench/bench_tokenizer TOKENIZER_JSON DOCS PASSES
//
// DOCS holds the documents separated by NUL bytes. Each pass encodes every document once, starting
// from an empty piece cache (a pass is "new text", not a re-run on a warm cache). Prints one line
// per pass and a summary line the Python script parses:
//   result bytes=B docs=D tokens=T best_s=S mb_s=M
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/tokenizer.h"
#include "common/engine/tokenizer_impl.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_tokenizer TOKENIZER_JSON DOCS PASSES\n");
        return 2;
    }
    char err[1024];
    size_t jn, n;
    char *js = read_file_all(argv[1], &jn, err, sizeof err);
    char *text = js ? read_file_all(argv[2], &n, err, sizeof err) : NULL;
    if (!js || !text) { fprintf(stderr, "bench_tokenizer: %s\n", err); return 1; }
    int passes = atoi(argv[3]);
    Tokenizer t;
    double t0 = now_seconds();
    if (tokenizer_load_json(&t, js, NULL, NULL, argv[1], err, sizeof err) != 0) { fprintf(stderr, "bench_tokenizer: %s\n", err); return 1; }
    printf("load %.3f s (%d ids)\n", now_seconds() - t0, t.vocab_size);
    // Document boundaries (NUL-separated).
    size_t ndocs = 0, cap = 1024;
    size_t *off = mallocCheck(cap * sizeof(size_t)), *len = mallocCheck(cap * sizeof(size_t));
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && text[j]) j++;
        if (ndocs == cap) { cap *= 2; off = reallocCheck(off, cap * sizeof(size_t)); len = reallocCheck(len, cap * sizeof(size_t)); }
        off[ndocs] = i; len[ndocs] = j - i; ndocs++;
        i = j + 1;
    }
    TokIds ids = {0};
    double best = 1e30;
    size_t tokens = 0;
    for (int p = 0; p < passes; p++) {
        bpe_cache_reset(t.bpe);
        size_t total = 0;
        double s0 = now_seconds();
        for (size_t d = 0; d < ndocs; d++) {
            ids.n = 0;
            if (tokenizer_encode(&t, text + off[d], len[d], 0, &ids, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
            total += ids.n;
        }
        double dt = now_seconds() - s0;
        if (dt < best) best = dt;
        tokens = total;
        printf("pass %d: %.3f s, %.2f MB/s, %zu tokens\n", p + 1, dt, (double)n / dt / 1e6, total);
    }
    printf("result bytes=%zu docs=%zu tokens=%zu best_s=%.6f mb_s=%.3f\n", n, ndocs, tokens, best, (double)n / best / 1e6);
    tok_ids_free(&ids);
    tokenizer_free(&t);
    free(off); free(len); free(js); free(text);
    return 0;
}
