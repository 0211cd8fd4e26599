// GGUF import against the gguf package's own output (fixtures from tests/make_gguf_fixtures.py):
// dequantization of every supported type bit for bit, the LLaMA / Qwen2 tensor mapping with the Q/K
// row permutation undone, metadata -> ModelConfig, the tokenizer text, and clear errors (never a
// crash) for truncated and corrupted files.
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "common/engine/model.h"
#include "common/io/gguf.h"
#include "common/io/gguf_model.h"
#include "common/io/gguf_quants.h"
#include "common/io/gguf_tokenizer.h"
#include "common/io/safetensors.h"

#define FIX "tests/fixtures/gguf/"

static const char *QUANT_NAMES[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q4_k", "q5_k", "q6_k"};
static const uint32_t QUANT_TYPES[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                                       GGML_TYPE_Q4_1, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};

static float *ref_tensor(const SafeTensors *st, const char *name, size_t *n) {
    const StTensor *t = st_find(st, name);
    if (!t) return NULL;
    float *p = malloc(t->numel * sizeof(float));
    char err[512];
    if (st_read_f32(st, t, p, t->numel, err, sizeof(err)) != 0) { fprintf(stderr, "%s\n", err); free(p); return NULL; }
    *n = t->numel;
    return p;
}

// Every supported type dequantizes to exactly the gguf package's float32 bits.
static void test_dequant(void) {
    Gguf g;
    SafeTensors ref;
    char err[1024];
    int ok = gguf_open(&g, FIX "quants.gguf", err, sizeof(err)) == 0;
    CHECK_MSG(ok, "%s", err);
    if (!ok) return;
    CHECK(st_open(&ref, FIX "quants_ref.safetensors", err, sizeof(err)) == 0);
    for (size_t k = 0; k < sizeof(QUANT_NAMES) / sizeof(QUANT_NAMES[0]); k++) {
        const GgufTensor *t = gguf_find_tensor(&g, QUANT_NAMES[k]);
        size_t n = 0;
        float *want = ref_tensor(&ref, QUANT_NAMES[k], &n);
        CHECK_MSG(t && want && t->numel == n && t->type == QUANT_TYPES[k], "tensor %s missing or wrong", QUANT_NAMES[k]);
        if (!t || !want || t->numel != n) { free(want); continue; }
        float *got = malloc(n * sizeof(float));
        CHECK_MSG(gguf_read_f32(&g, t, got, n, err, sizeof(err)) == 0, "%s", err);
        size_t differ = 0, first = n;
        for (size_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0) { differ++; if (first == n) first = i; }
        CHECK_MSG(differ == 0, "%s: %zu of %zu values differ from gguf.quants.dequantize (first at %zu: %.9g vs %.9g)",
                  QUANT_NAMES[k], differ, n, first, first < n ? got[first] : 0.0f, first < n ? want[first] : 0.0f);
        printf("dequant %-5s %-5s %6zu values, %zu bit differences vs gguf.quants.dequantize\n", QUANT_NAMES[k],
               ggml_type_name(t->type), n, differ);
        free(got);
        free(want);
    }
    st_close(&ref);
    gguf_close(&g);
}

// The tiny models load to exactly the HF-layout tensors, with the expected config.
static void test_tiny(const char *arch) {
    char path[256], refpath[256], err[1024];
    snprintf(path, sizeof(path), FIX "tiny_%s.gguf", arch);
    snprintf(refpath, sizeof(refpath), FIX "tiny_%s_ref.safetensors", arch);
    int llama = strcmp(arch, "llama") == 0;
    Gguf g;
    Model m;
    SafeTensors ref;
    int ok = gguf_open(&g, path, err, sizeof(err)) == 0;
    CHECK_MSG(ok, "%s", err);
    if (!ok) return;
    CHECK_EQ_INT(g.alignment, llama ? 32 : 64);   // tiny_qwen2 sets general.alignment
    ok = gguf_load_model(&g, &m, err, sizeof(err)) == 0;
    CHECK_MSG(ok, "%s", err);
    CHECK(st_open(&ref, refpath, err, sizeof(err)) == 0);
    if (ok) {
        const ModelConfig *c = &m.cfg;
        CHECK_EQ_INT(c->arch, llama ? ARCH_LLAMA : ARCH_QWEN2);
        CHECK_EQ_INT(c->vocab_size, 64);
        CHECK_EQ_INT(c->hidden_size, 32);
        CHECK_EQ_INT(c->intermediate_size, 64);
        CHECK_EQ_INT(c->num_layers, 2);
        CHECK_EQ_INT(c->num_heads, 4);
        CHECK_EQ_INT(c->num_kv_heads, 2);
        CHECK_EQ_INT(c->head_dim, 8);
        CHECK_EQ_INT(c->max_position_embeddings, 128);
        CHECK(c->rope_theta == (llama ? 100000.0f : 1000000.0f));
        CHECK(c->rms_norm_eps == (llama ? 1e-5f : 1e-6f));
        CHECK_EQ_INT(c->qkv_bias, !llama);
        CHECK_EQ_INT(c->tie_word_embeddings, llama);
        CHECK_EQ_INT(c->bos_token_id, 1);
        CHECK_EQ_INT(c->n_eos, 1);
        CHECK_EQ_INT(c->eos_token_ids[0], 2);
        CHECK_EQ_INT(c->pad_token_id, 0);
        CHECK_EQ_INT(m.num_tensors, (int)ref.num_tensors);
        size_t differ_total = 0;
        for (int i = 0; i < m.num_tensors; i++) {
            const TensorInfo *ti = &m.tensors[i];
            size_t n = 0;
            float *want = ref_tensor(&ref, ti->name, &n);
            CHECK_MSG(want && n == ti->numel, "%s: no reference for %s", arch, ti->name);
            if (!want || n != ti->numel) { free(want); continue; }
            size_t differ = 0;
            for (size_t j = 0; j < n; j++) differ += memcmp(&m.params[ti->offset + j], &want[j], sizeof(float)) != 0;
            CHECK_MSG(differ == 0, "%s: %s: %zu of %zu values differ", arch, ti->name, differ, n);
            differ_total += differ;
            free(want);
        }
        printf("tiny %s: %d tensors, %zu parameters, %zu bit differences vs the HF-layout reference\n", arch, m.num_tensors, m.num_params,
               differ_total);
        model_free(&m);
    }
    // The tokenizer text parses and carries the vocabulary, merges, specials and template.
    char *tj = gguf_tokenizer_json(&g, err, sizeof(err));
    CHECK_MSG(tj, "%s", err);
    json_error_t je;
    json_t *root = tj ? json_loads(tj, 0, &je) : NULL;
    CHECK(root != NULL);
    if (root) {
        json_t *model = json_object_get(root, "model");
        CHECK(strcmp(json_string_value(json_object_get(model, "type")), "BPE") == 0);
        CHECK_EQ_INT(json_object_size(json_object_get(model, "vocab")), 64);
        CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(model, "vocab"), "ab")), 63);
        json_t *merges = json_object_get(model, "merges");
        CHECK(json_array_size(merges) == 1 && strcmp(json_string_value(json_array_get(json_array_get(merges, 0), 1)), "b") == 0);
        json_t *added = json_object_get(root, "added_tokens");
        CHECK_EQ_INT(json_array_size(added), 3);
        CHECK(json_is_true(json_object_get(json_array_get(added, 1), "special")));
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(added, 1), "content")), "<|im_start|>") == 0);
        json_t *norm = json_object_get(root, "normalizer");
        CHECK(llama ? json_is_null(norm) : strcmp(json_string_value(json_object_get(norm, "type")), "NFC") == 0);
        json_decref(root);
    }
    free(tj);
    char *tc = gguf_tokenizer_config_json(&g, err, sizeof(err));
    CHECK_MSG(tc, "%s", err);
    root = tc ? json_loads(tc, 0, &je) : NULL;
    CHECK(root != NULL);
    if (root) {
        CHECK(strcmp(json_string_value(json_object_get(root, "bos_token")), "<|im_start|>") == 0);
        CHECK(strcmp(json_string_value(json_object_get(root, "eos_token")), "<|im_end|>") == 0);
        CHECK(strncmp(json_string_value(json_object_get(root, "chat_template")), "{% for m in messages %}", 23) == 0);
        CHECK(json_is_false(json_object_get(root, "add_bos_token")));
        json_decref(root);
    }
    free(tc);
    st_close(&ref);
    gguf_close(&g);
}

// One key of every value type (tiny_llama.gguf's test.* keys) through the getters.
static void test_values(void) {
    Gguf g;
    char err[1024];
    int ok = gguf_open(&g, FIX "tiny_llama.gguf", err, sizeof(err)) == 0;
    CHECK_MSG(ok, "%s", err);
    if (!ok) return;
    static const struct { const char *key; long long v; } INTS[] = {
        {"test.u8", 200}, {"test.i8", -100}, {"test.u16", 60000}, {"test.i16", -30000}, {"test.u32", 4000000000LL},
        {"test.i32", -2000000000LL}, {"test.u64", 1LL << 40}, {"test.i64", -(1LL << 40)},
    };
    for (size_t i = 0; i < sizeof(INTS) / sizeof(INTS[0]); i++) {
        long long v = 0;
        CHECK_MSG(gguf_get_int(&g, INTS[i].key, &v, err, sizeof(err)) == 0 && v == INTS[i].v, "%s = %lld", INTS[i].key, v);
    }
    double f = 0;
    CHECK(gguf_get_float(&g, "test.f32", &f, err, sizeof(err)) == 0 && f == 1.5);
    CHECK(gguf_get_float(&g, "test.f64", &f, err, sizeof(err)) == 0 && f == 2.25);
    int b = 0;
    CHECK(gguf_get_bool(&g, "test.bool", &b, err, sizeof(err)) == 0 && b == 1);
    char *str = NULL;
    CHECK(gguf_get_str(&g, "test.str", &str, err, sizeof(err)) == 0 && str && strcmp(str, "h\xc3\xa9llo") == 0);
    free(str);
    // Wrong type and absent key.
    long long v = 0;
    CHECK(gguf_get_int(&g, "test.str", &v, err, sizeof(err)) == -1 && strstr(err, "'test.str'") && strstr(err, "STRING"));
    CHECK(gguf_get_int(&g, "test.absent", &v, err, sizeof(err)) == 1);
    CHECK(gguf_get_str(&g, "test.u8", &str, err, sizeof(err)) == -1);
    const GgufKV *kv = gguf_find_kv(&g, "test.arr_i16");
    CHECK(kv && kv->type == GGUF_ARRAY && kv->elem_type == GGUF_INT16 && kv->count == 3 && gguf_arr_int(kv, 1) == -2 && gguf_arr_int(kv, 2) == 3);
    kv = gguf_find_kv(&g, "test.arr_u64");
    CHECK(kv && kv->elem_type == GGUF_UINT64 && kv->count == 2 && gguf_arr_int(kv, 1) == 1LL << 33);
    kv = gguf_find_kv(&g, "test.arr_f32");
    CHECK(kv && kv->elem_type == GGUF_FLOAT32 && kv->count == 2 && gguf_arr_f32(kv, 1) == -1.0f);
    kv = gguf_find_kv(&g, "test.arr_bool");
    CHECK(kv && kv->elem_type == GGUF_BOOL && kv->count == 2 && kv->data[0] == 1 && kv->data[1] == 0);
    kv = gguf_find_kv(&g, "test.arr_str");
    CHECK(kv && kv->elem_type == GGUF_STRING && kv->count == 3 && kv->strs[1].len == 2 && memcmp(kv->strs[1].ptr, "bc", 2) == 0 &&
          kv->strs[2].len == 0);
    gguf_close(&g);
}

static void test_names(void) {
    char hf[128];
    CHECK(gguf_hf_tensor_name("token_embd.weight", hf, sizeof(hf)) == 0 && strcmp(hf, "model.embed_tokens.weight") == 0);
    CHECK(gguf_hf_tensor_name("output.weight", hf, sizeof(hf)) == 0 && strcmp(hf, "lm_head.weight") == 0);
    CHECK(gguf_hf_tensor_name("output_norm.weight", hf, sizeof(hf)) == 0 && strcmp(hf, "model.norm.weight") == 0);
    CHECK(gguf_hf_tensor_name("blk.17.ffn_down.weight", hf, sizeof(hf)) == 0 && strcmp(hf, "model.layers.17.mlp.down_proj.weight") == 0);
    CHECK(gguf_hf_tensor_name("blk.3.attn_k.bias", hf, sizeof(hf)) == 0 && strcmp(hf, "model.layers.3.self_attn.k_proj.bias") == 0);
    CHECK(gguf_hf_tensor_name("blk.0.ffn_norm.weight", hf, sizeof(hf)) == 0 &&
          strcmp(hf, "model.layers.0.post_attention_layernorm.weight") == 0);
    CHECK(gguf_hf_tensor_name("blk.0.attn_q_norm.weight", hf, sizeof(hf)) != 0);
    CHECK(gguf_hf_tensor_name("rope_freqs.weight", hf, sizeof(hf)) != 0);
    CHECK(gguf_hf_tensor_name("blk.x.attn_q.weight", hf, sizeof(hf)) != 0);
}

// ---- corrupted files -------------------------------------------------------------------------

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) { free(b); b = NULL; }
    fclose(f);
    return b;
}

static char tmp_path[64];

static void spit(const unsigned char *b, size_t n) {
    FILE *f = fopen(tmp_path, "wb");
    if (!f) { perror(tmp_path); exit(1); }
    if (n && fwrite(b, 1, n, f) != n) { perror(tmp_path); exit(1); }
    fclose(f);
}

// Opening the bytes must fail with an error holding every one of the NULL-terminated needles.
static void expect_open_error(const unsigned char *b, size_t n, const char *what, ...) {
    spit(b, n);
    Gguf g;
    char err[1024] = "";
    int rc = gguf_open(&g, tmp_path, err, sizeof(err));
    CHECK_MSG(rc != 0, "%s: opened a corrupt file", what);
    if (rc == 0) { gguf_close(&g); return; }
    va_list ap;
    va_start(ap, what);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        CHECK_MSG(strstr(err, needle), "%s: error lacks '%s': %s", what, needle, err);
    va_end(ap);
}

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static void test_corrupt(void) {
    size_t n = 0;
    unsigned char *good = slurp(FIX "quants.gguf", &n);
    CHECK(good != NULL);
    if (!good) return;
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/rlvr_test_gguf_%d.gguf", (int)getpid());
    Gguf g;
    char err[1024];
    CHECK(gguf_open(&g, FIX "quants.gguf", err, sizeof(err)) == 0);
    size_t data_end = 0;
    for (int i = 0; i < g.num_tensors; i++)
        if (g.tensors[i].offset + g.tensors[i].nbytes > data_end) data_end = g.tensors[i].offset + g.tensors[i].nbytes;
    // Every truncation inside the header and tensor infos, and a stride through the data: an
    // error that gives an offset, never a crash (the sanitizer build checks the reads).
    int failures_named = 0, truncations = 0;
    for (size_t cut = 0; cut < data_end; cut += cut < g.data_offset + 64 ? 1 : 997) {
        spit(good, cut);
        Gguf h;
        char e[1024] = "";
        int rc = gguf_open(&h, tmp_path, e, sizeof(e));
        truncations++;
        CHECK_MSG(rc != 0, "truncated at %zu of %zu: opened", cut, n);
        if (rc == 0) { gguf_close(&h); continue; }
        int named = strstr(e, tmp_path) && (strstr(e, "offset") || strstr(e, "shorter than"));
        failures_named += named;
        if (!named) fprintf(stderr, "truncated at %zu: %s\n", cut, e);
        if (cut >= g.data_offset) CHECK_MSG(strstr(e, "tensor '") && strstr(e, "truncated"), "truncated data at %zu: %s", cut, e);
    }
    CHECK_EQ_INT(failures_named, truncations);
    printf("truncations: %d cut points, every one a clear error\n", truncations);

    unsigned char *b = malloc(n);
    const GgufTensor *t0 = &g.tensors[0], *t1 = &g.tensors[1];
    // Positions inside tensor 0's info record: name (u64 + bytes), n_dims, ne[], type, offset.
    size_t t0_ndim = t0->info_offset + 8 + strlen(t0->name), t0_type = t0_ndim + 4 + 8 * (size_t)t0->ndim, t0_off = t0_type + 4;
    size_t t1_off = t1->info_offset + 8 + strlen(t1->name) + 4 + 8 * (size_t)t1->ndim + 4;

    // Version 2 has the same layout as 3 (3 only adds big-endian files): it opens.
    memcpy(b, good, n); put_u32(b + 4, 2);
    spit(b, n);
    Gguf v2;
    CHECK_MSG(gguf_open(&v2, tmp_path, err, sizeof(err)) == 0 && v2.version == 2 && v2.num_tensors == g.num_tensors, "v2: %s", err);
    if (v2.map) gguf_close(&v2);
    memcpy(b, good, n); b[0] = 'X';
    expect_open_error(b, n, "magic", "no GGUF magic", NULL);
    memcpy(b, good, n); put_u32(b + 4, 1);
    expect_open_error(b, n, "version 1", "version 1", "not supported", NULL);
    memcpy(b, good, n); put_u64(b + 16, (uint64_t)1 << 40);
    expect_open_error(b, n, "kv count", "implausible", NULL);
    // The first key's length claims more bytes than the file holds.
    memcpy(b, good, n); put_u64(b + 24, (uint64_t)1 << 50);
    expect_open_error(b, n, "key length", "offset 24", "claims", NULL);
    // The first key's value type is unknown.
    uint64_t klen;
    memcpy(&klen, good + 24, 8);
    memcpy(b, good, n); put_u32(b + 32 + klen, 77);
    expect_open_error(b, n, "value type", "unknown value type 77", NULL);
    memcpy(b, good, n); put_u32(b + t0_ndim, 7);
    expect_open_error(b, n, "n_dims", t0->name, "7 dimensions", NULL);
    memcpy(b, good, n); put_u32(b + t0_type, 99);
    expect_open_error(b, n, "ggml type", t0->name, "unknown ggml type 99", NULL);
    memcpy(b, good, n); put_u64(b + t0_off, 3);
    expect_open_error(b, n, "alignment", t0->name, "not a multiple of the alignment", NULL);
    memcpy(b, good, n); put_u64(b + t0_off, (uint64_t)1 << 40);
    expect_open_error(b, n, "data offset", t0->name, "runs past the end", NULL);
    memcpy(b, good, n); put_u64(b + t1_off, t0->offset - g.data_offset);
    expect_open_error(b, n, "overlap", "overlap", NULL);
    // Tensor 1's name ("f16") rewritten as tensor 0's ("f32").
    CHECK(strlen(t0->name) == strlen(t1->name));
    memcpy(b, good, n); memcpy(b + t1->info_offset + 8, t0->name, strlen(t0->name));
    expect_open_error(b, n, "duplicate", "tensor 'f32' appears twice", NULL);

    // A type the reader knows the size of but cannot dequantize: q4_0 relabelled IQ4_NL (same block size).
    const GgufTensor *q40 = gguf_find_tensor(&g, "q4_0");
    size_t q40_type = q40->info_offset + 8 + strlen(q40->name) + 4 + 8 * (size_t)q40->ndim;
    memcpy(b, good, n); put_u32(b + q40_type, 20);
    spit(b, n);
    Gguf h;
    CHECK(gguf_open(&h, tmp_path, err, sizeof(err)) == 0);
    if (h.map) {
        const GgufTensor *t = gguf_find_tensor(&h, "q4_0");
        float *out = malloc(t->numel * sizeof(float));
        CHECK(gguf_read_f32(&h, t, out, t->numel, err, sizeof(err)) != 0);
        CHECK_MSG(strstr(err, "'q4_0'") && strstr(err, "IQ4_NL") && strstr(err, "cannot be dequantized"), "%s", err);
        free(out);
        gguf_close(&h);
    }
    // A model file without the model: the quants file has no general.architecture of ours.
    Model m;
    CHECK(gguf_load_model(&g, &m, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "general.architecture 'quants' is not supported"), "%s", err);
    CHECK(gguf_tokenizer_json(&g, err, sizeof(err)) == NULL);
    CHECK_MSG(strstr(err, "tokenizer.ggml.model"), "%s", err);
    gguf_close(&g);
    free(b);
    free(good);
    unlink(tmp_path);
}

// Random byte flips in the metadata and tensor infos of a model file: whatever opens must also load
// (or refuse) and give its tokenizer text (or refuse) without a crash; the sanitizer build checks it.
static void test_flips(const char *path, int iters) {
    size_t n = 0;
    unsigned char *good = slurp(path, &n), *b = good ? malloc(n) : NULL;
    Gguf g;
    char err[1024];
    CHECK(good && gguf_open(&g, path, err, sizeof(err)) == 0);
    if (!good || !g.map) { free(good); free(b); return; }
    size_t meta_end = g.data_offset;
    gguf_close(&g);
    uint64_t state = 0x9E3779B97F4A7C15ull;
    int opened = 0, loaded = 0;
    for (int it = 0; it < iters; it++) {
        memcpy(b, good, n);
        for (int k = 0; k < 1 + it % 4; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(state >> 33) % meta_end;
            b[at] ^= (unsigned char)(1u << ((state >> 20) & 7));
        }
        spit(b, n);
        Gguf h;
        if (gguf_open(&h, tmp_path, err, sizeof(err)) != 0) continue;
        opened++;
        Model m;
        if (gguf_load_model(&h, &m, err, sizeof(err)) == 0) { loaded++; model_free(&m); }
        free(gguf_tokenizer_json(&h, err, sizeof(err)));
        free(gguf_tokenizer_config_json(&h, err, sizeof(err)));
        gguf_close(&h);
    }
    printf("%s: %d random bit flips in the metadata: %d still opened, %d still loaded, no crash\n", path, iters, opened, loaded);
    CHECK(opened < iters);
    free(good);
    free(b);
}

int main(void) {
    test_dequant();
    test_tiny("llama");
    test_tiny("qwen2");
    test_names();
    test_values();
    test_corrupt();
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/rlvr_test_gguf_%d.gguf", (int)getpid());
    test_flips(FIX "tiny_llama.gguf", 2000);
    unlink(tmp_path);
    return tests_done();
}
