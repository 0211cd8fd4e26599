// Byte-level BPE against the reference implementations, every id of every string:
//   - tests/fixtures/tokenizer/ (tests/tokenizer/make_fixtures.py): a few thousand strings (math,
//     code, CJK, emoji, whitespace runs, special tokens mid-text, invalid UTF-8, NFC cases, long runs)
//     and the ids HF `tokenizers` gives them with the Qwen2, LLaMA-3 and GPT-2 vocabularies; random id
//     sequences and HF's decode of each (with and without special tokens);
//   - two small tokenizers HF trained on those strings (committed: tests/fixtures/tokenizer/synthetic_*),
//     dressed with every option the real vocabularies leave unused (NFKC, NFD, String patterns, all
//     Split behaviours and invert, Digits both ways, add_prefix_space, ignore_merges, lstrip / rstrip /
//     single_word / normalized added tokens, TemplateProcessing), encoded with add_special_tokens;
//   - llama.cpp's own test strings and the ids HF produced from the original tokenizers
//     (ggml-vocab-<v>.gguf.inp / .out), for those three and StarCoder (Digits + ByteLevel: SmolLM's form);
//   - for every fixture string: the streaming decoder's pieces join to tokenizer_decode's text, and the
//     two merge loops (scan and heap) agree on the whole string as one piece.
// The vocabularies are not committed: launch/setup.sh fetches them (tests/tokenizer/setup_assets.sh)
// into .assets/ (or $RLVR_ASSETS). A missing one is a failure, never a skip.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/tokenizer.h"
#include "common/engine/tokenizer_impl.h"
#include "tests/harness.h"

#define FIX "tests/fixtures/tokenizer"
#define MAX_REPORT 5   // mismatches printed per vocabulary
#define SYNTH_EVERY 3  // the synthetic fixtures hold every third string (tests/tokenizer/make_fixtures.py)

static char assets[2048];

typedef struct { char *s; size_t n; } Str;

static int load_tok(Tokenizer *t, const char *vocab) {
    char path[4096], cpath[4096], err[1024];
    snprintf(path, sizeof path, "%s/tokenizers/%s/tokenizer.json", assets, vocab);
    snprintf(cpath, sizeof cpath, "%s/tokenizers/%s/tokenizer_config.json", assets, vocab);
    size_t n;
    char *js = read_file_all(path, &n, err, sizeof err);
    if (!js) {
        fprintf(stderr, "FAIL: %s (the vocabularies are fetched by launch/setup.sh -> tests/tokenizer/setup_assets.sh)\n", err);
        return -1;
    }
    char *cj = read_file_all(cpath, &n, err, sizeof err);
    double t0 = now_seconds();
    int rc = tokenizer_load_json(t, js, cj, NULL, path, err, sizeof err);
    if (rc != 0) fprintf(stderr, "FAIL: %s\n", err);
    else printf("%s: loaded in %.2f s, %d ids\n", vocab, now_seconds() - t0, t->vocab_size);
    free(js);
    free(cj);
    return rc;
}

static Str *read_strings(size_t *count) {
    FILE *f = fopen(FIX "/strings.jsonl", "r");
    if (!f) { fprintf(stderr, "FAIL: cannot open " FIX "/strings.jsonl\n"); return NULL; }
    Str *v = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        json_error_t je;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &je);
        if (!o) { fprintf(stderr, "FAIL: strings.jsonl line %zu: %s\n", n + 1, je.text); break; }
        if (n == cap) { cap = cap ? cap * 2 : 1024; v = reallocCheck(v, cap * sizeof(Str)); }
        json_t *s = json_object_get(o, "s"), *h = json_object_get(o, "hex");
        if (json_is_string(s)) {
            v[n].n = json_string_length(s);
            v[n].s = mallocCheck(v[n].n + 1);
            memcpy(v[n].s, json_string_value(s), v[n].n + 1);
        } else {
            const char *hx = json_string_value(h);
            size_t k = strlen(hx) / 2;
            v[n].s = mallocCheck(k + 1);
            for (size_t i = 0; i < k; i++) { unsigned x; sscanf(hx + 2 * i, "%2x", &x); v[n].s[i] = (char)x; }
            v[n].s[k] = 0;
            v[n].n = k;
        }
        n++;
        json_decref(o);
    }
    free(line);
    fclose(f);
    *count = n;
    return v;
}

static int parse_ids(char *line, TokIds *out) {
    out->n = 0;
    for (char *p = strtok(line, " \n"); p; p = strtok(NULL, " \n")) tok_ids_push(out, atoi(p));
    return 0;
}

static void show(const char *what, const Str *s, const TokIds *got, const TokIds *want) {
    fprintf(stderr, "  %s: %.60s%s (%zu bytes)\n    got ", what, s->s, s->n > 60 ? "..." : "", s->n);
    for (size_t i = 0; i < got->n && i < 16; i++) fprintf(stderr, " %d", got->ids[i]);
    fprintf(stderr, "%s\n    want", got->n > 16 ? " ..." : "");
    for (size_t i = 0; i < want->n && i < 16; i++) fprintf(stderr, " %d", want->ids[i]);
    fprintf(stderr, "%s\n", want->n > 16 ? " ..." : "");
}

static int same(const TokIds *a, const TokIds *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof(int)) == 0);
}

// Every fixture string: ids, streaming decode, scan == heap.
static void check_strings(Tokenizer *t, const char *vocab, const Str *strs, size_t n) {
    char path[512], err[512];
    snprintf(path, sizeof path, FIX "/ids_%s.txt", vocab);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    char *line = NULL;
    size_t lcap = 0, bad = 0, total_ids = 0, bad_stream = 0, bad_merge = 0;
    TokIds want = {0}, got = {0}, a = {0}, b = {0};
    char *dec = NULL;
    size_t dcap = 0;
    TokStream st;
    TokBuf joined = {0};
    for (size_t i = 0; i < n; i++) {
        if (getline(&line, &lcap, f) <= 0) { CHECK_MSG(0, "%s has %zu lines, strings.jsonl %zu", path, i, n); break; }
        parse_ids(line, &want);
        got.n = 0;
        CHECK(tokenizer_encode(t, strs[i].s, strs[i].n, 0, &got, err, sizeof err) == 0);
        total_ids += want.n;
        if (!same(&got, &want) && bad++ < MAX_REPORT) show(vocab, &strs[i], &got, &want);
        // Streaming: the pieces join to the whole decode.
        size_t len = tokenizer_decode(t, got.ids, got.n, 0, &dec, &dcap);
        tok_stream_init(&st, t, 0);
        joined.n = 0;
        for (size_t k = 0; k < got.n; k++) {
            size_t m;
            const char *p = tok_stream_push(&st, got.ids[k], &m);
            tokbuf_put(&joined, p, m);
        }
        size_t m;
        const char *p = tok_stream_finish(&st, &m);
        tokbuf_put(&joined, p, m);
        tok_stream_free(&st);
        if ((joined.n != len || (len && memcmp(joined.p, dec, len) != 0)) && bad_stream++ < MAX_REPORT)
            fprintf(stderr, "  %s: streaming decode of string %zu differs from decode\n", vocab, i);
        // The two merge loops on the whole string as one piece.
        a.n = b.n = 0;
        bpe_merge(t->bpe, strs[i].s, strs[i].n, &a, 1);
        bpe_merge(t->bpe, strs[i].s, strs[i].n, &b, 2);
        if (!same(&a, &b) && bad_merge++ < MAX_REPORT) fprintf(stderr, "  %s: scan and heap merges differ on string %zu\n", vocab, i);
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu strings encode differently from HF tokenizers", vocab, bad, n);
    CHECK_MSG(bad_stream == 0, "%s: %zu streaming decodes differ", vocab, bad_stream);
    CHECK_MSG(bad_merge == 0, "%s: %zu scan/heap merge differences", vocab, bad_merge);
    printf("%s: %zu strings, %zu ids compared; %zu differ\n", vocab, n, total_ids, bad);
    free(line); free(dec);
    tok_ids_free(&want); tok_ids_free(&got); tok_ids_free(&a); tok_ids_free(&b);
    tokbuf_free(&joined);
    fclose(f);
}

// HF's decode of random id sequences, with and without special tokens.
static void check_decode(Tokenizer *t, const char *vocab) {
    char path[512];
    snprintf(path, sizeof path, FIX "/decode_%s.jsonl", vocab);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    char *line = NULL, *dec = NULL;
    size_t lcap = 0, dcap = 0, n = 0, bad = 0;
    TokIds ids = {0};
    while (getline(&line, &lcap, f) > 0) {
        json_error_t je;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &je);
        if (!o) { CHECK_MSG(0, "%s: %s", path, je.text); break; }
        json_t *arr = json_object_get(o, "ids");
        ids.n = 0;
        for (size_t k = 0; k < json_array_size(arr); k++) tok_ids_push(&ids, (int)json_integer_value(json_array_get(arr, k)));
        for (int skip = 0; skip < 2; skip++) {
            json_t *w = json_object_get(o, skip ? "text_skip" : "text");
            size_t len = tokenizer_decode(t, ids.ids, ids.n, skip ? TOK_SKIP_SPECIAL : 0, &dec, &dcap);
            if ((len != json_string_length(w) || memcmp(dec, json_string_value(w), len) != 0) && bad++ < MAX_REPORT)
                fprintf(stderr, "  %s decode line %zu (skip_special %d): got '%s', HF '%s'\n", vocab, n + 1, skip, dec, json_string_value(w));
        }
        n++;
        json_decref(o);
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu decodes differ from HF", vocab, bad, 2 * n);
    CHECK_MSG(n > 0, "%s is empty", path);
    free(line); free(dec);
    tok_ids_free(&ids);
    fclose(f);
}

// llama.cpp's test strings with the ids HF produced (the .out files).
static void check_llama_cpp(Tokenizer *t, const char *vocab) {
    char path[4096], err[512];
    static const char SEP[] = "\n__ggml_vocab_test__\n";
    snprintf(path, sizeof path, "%s/llama.cpp-vocab/ggml-vocab-%s.gguf.inp", assets, vocab);
    size_t n;
    char *inp = read_file_all(path, &n, err, sizeof err);
    snprintf(path, sizeof path, "%s/llama.cpp-vocab/ggml-vocab-%s.gguf.out", assets, vocab);
    char *out = read_file_all(path, &n, err, sizeof err);
    CHECK_MSG(inp && out, "%s (run launch/setup.sh)", err);
    if (!inp || !out) { free(inp); free(out); return; }
    TokIds got = {0}, want = {0};
    size_t count = 0, bad = 0;
    char *p = inp, *o = out;
    for (char *q; (q = strstr(p, SEP)); p = q + strlen(SEP), count++) {
        char *eol = strchr(o, '\n');
        if (!eol) { CHECK_MSG(0, "%s: fewer lines than tests", path); break; }
        *eol = 0;
        parse_ids(o, &want);
        o = eol + 1;
        got.n = 0;
        tokenizer_encode(t, p, (size_t)(q - p), 0, &got, err, sizeof err);
        Str s = {p, (size_t)(q - p)};
        if (!same(&got, &want) && bad++ < MAX_REPORT) show(vocab, &s, &got, &want);
    }
    CHECK_MSG(count > 40, "%s: only %zu llama.cpp test strings", vocab, count);
    CHECK_MSG(bad == 0, "%s: %zu of llama.cpp's %zu strings differ from HF's ids", vocab, bad, count);
    printf("%s: llama.cpp's %zu reference strings compared\n", vocab, count);
    free(inp); free(out);
    tok_ids_free(&got); tok_ids_free(&want);
}

// A synthetic tokenizer (committed with its ids): every SYNTH_EVERY-th string, with special tokens.
static void check_synthetic(const char *name, const Str *strs, size_t n) {
    char path[512], err[1024], *line = NULL;
    size_t len, lcap = 0, bad = 0, count = 0;
    snprintf(path, sizeof path, FIX "/%s/tokenizer.json", name);
    char *js = read_file_all(path, &len, err, sizeof err);
    CHECK_MSG(js != NULL, "%s", err);
    if (!js) return;
    Tokenizer t;
    int ok = tokenizer_load_json(&t, js, NULL, NULL, path, err, sizeof err) == 0;
    free(js);
    CHECK_MSG(ok, "%s", err);
    if (!ok) return;
    snprintf(path, sizeof path, FIX "/%s/ids.txt", name);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    TokIds want = {0}, got = {0};
    for (size_t i = 0; f && i < n; i += SYNTH_EVERY, count++) {
        if (getline(&line, &lcap, f) <= 0) { CHECK_MSG(0, "%s ends early", path); break; }
        parse_ids(line, &want);
        got.n = 0;
        CHECK(tokenizer_encode(&t, strs[i].s, strs[i].n, TOK_ADD_SPECIAL, &got, err, sizeof err) == 0);
        if (!same(&got, &want) && bad++ < MAX_REPORT) show(name, &strs[i], &got, &want);
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu strings encode differently from HF tokenizers", name, bad, count);
    printf("%s: %zu strings compared; %zu differ\n", name, count, bad);
    if (f) fclose(f);
    free(line);
    tok_ids_free(&want); tok_ids_free(&got);
    tokenizer_free(&t);
}

int main(void) {
    const char *env = getenv("RLVR_ASSETS"), *root = getenv("RLVR_ROOT");
    if (env && env[0]) snprintf(assets, sizeof assets, "%s", env);
    else snprintf(assets, sizeof assets, "%s/.assets", root && root[0] ? root : ".");
    size_t n = 0;
    Str *strs = read_strings(&n);
    CHECK_MSG(strs && n > 2000, "strings.jsonl holds %zu strings", n);
    const char *fixture_vocabs[] = {"qwen2", "llama-bpe", "gpt-2"};
    for (int v = 0; v < 3; v++) {
        Tokenizer t;
        int ok = load_tok(&t, fixture_vocabs[v]) == 0;
        CHECK_MSG(ok, "%s loads", fixture_vocabs[v]);
        if (!ok) continue;
        if (strs) check_strings(&t, fixture_vocabs[v], strs, n);
        check_decode(&t, fixture_vocabs[v]);
        check_llama_cpp(&t, fixture_vocabs[v]);
        tokenizer_free(&t);
    }
    if (strs) {
        check_synthetic("synthetic_a", strs, n);
        check_synthetic("synthetic_b", strs, n);
    }
    Tokenizer t;
    int ok = load_tok(&t, "starcoder") == 0;
    CHECK_MSG(ok, "starcoder loads");
    if (ok) {
        check_llama_cpp(&t, "starcoder");
        tokenizer_free(&t);
    }
    for (size_t i = 0; i < n; i++) free(strs[i].s);
    free(strs);
    return tests_done();
}
