// Model import/export: HF directories (config.json + safetensors, single or sharded, F32/BF16/F16)
// and the native HDF5 file. Round trips are bit-exact; every malformed input returns -1 with a
// message that names the file and the problem.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/io/hf_config.h"
#include "common/engine/model.h"
#include "common/io/model_h5.h"
#include "common/io/safetensors.h"
#include "tests/harness.h"
#include "common/io/model_io.h"

static char root[256];

// Paths under the test directory; kept until exit so callers can hold on to them.
static char *paths[512];
static int npaths = 0;
static const char *P(const char *name) {
    if (npaths == 512) { fprintf(stderr, "too many paths\n"); exit(1); }
    char *p = malloc(strlen(root) + strlen(name) + 2);
    sprintf(p, "%s/%s", root, name);
    return paths[npaths++] = p;
}

static void make_model(Model *m, ModelArch arch, int tied, uint64_t seed) {
    ModelConfig c;
    model_config_default(&c);
    c.arch = arch;
    c.vocab_size = 37; c.hidden_size = 16; c.intermediate_size = 24; c.num_layers = 2;
    c.num_heads = 4; c.num_kv_heads = 2; c.head_dim = 4; c.max_position_embeddings = 64;
    c.rope_theta = 1000000.0f; c.rms_norm_eps = 1e-6f;
    c.qkv_bias = arch == ARCH_QWEN2;
    c.tie_word_embeddings = tied;
    c.bos_token_id = 1; c.pad_token_id = -1;
    model_config_set_eos(&c, 2);
    snprintf(c.tokenizer, sizeof(c.tokenizer), "char");
    char err[256];
    if (model_init(m, &c, err, sizeof(err)) != 0) { fprintf(stderr, "%s\n", err); exit(1); }
    model_init_random(m, seed, 0.5f);
    // Make norms and biases non-trivial so that a mixed-up tensor cannot go unnoticed.
    for (size_t i = 0; i < m->num_params; i++) m->params[i] += 1e-3f * (float)(i % 97);
}

static int same_model(const Model *a, const Model *b) {
    return memcmp(&a->cfg, &b->cfg, sizeof(ModelConfig)) == 0 && a->num_params == b->num_params &&
           memcmp(a->params, b->params, a->num_params * sizeof(float)) == 0;
}

// Loads PATH expecting failure; the message must name `names` and contain `what`.
static void expect_fail(const char *path, const char *names, const char *what) {
    Model m;
    char err[1024] = "";
    int rc = model_load(path, &m, err, sizeof(err));
    CHECK_MSG(rc == -1, "loading %s should fail with '%s'", path, what);
    if (rc == 0) { model_free(&m); return; }
    CHECK_MSG(strstr(err, names) != NULL, "error does not name '%s': %s", names, err);
    CHECK_MSG(strstr(err, what) != NULL, "error lacks '%s': %s", what, err);
    if (strstr(err, what) && strstr(err, names)) return;
}

static void sh(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), fmt, a, b);
    if (system(cmd) != 0) { fprintf(stderr, "command failed: %s\n", cmd); exit(1); }
}

// Replaces the first occurrence of `from` with `to` in a text file.
static void patch_file(const char *path, const char *from, const char *to) {
    char err[256];
    size_t n;
    char *s = read_file_all(path, &n, err, sizeof(err));
    char *p = s ? strstr(s, from) : NULL;
    if (!p) { fprintf(stderr, "patch_file: '%s' not in %s\n", from, path); exit(1); }
    FILE *f = fopen(path, "wb");
    fwrite(s, 1, (size_t)(p - s), f);
    fputs(to, f);
    fputs(p + strlen(from), f);
    fclose(f);
    free(s);
}

static void truncate_copy(const char *src, const char *dst, long len) {
    char err[256];
    size_t n;
    char *s = read_file_all(src, &n, err, sizeof(err));
    FILE *f = fopen(dst, "wb");
    fwrite(s, 1, len < 0 ? n + (size_t)len : (size_t)len, f);
    fclose(f);
    free(s);
}

// Writes the model's tensors into DIR/model.safetensors with a chosen dtype per tensor (via fn),
// plus optional extra entries. Returns the floats the loader must produce in `expect`.
static void write_weights(const Model *m, const char *file, StDtype (*dtype_of)(int i), float *expect,
                          const StWriteEntry *extra, int nextra) {
    int n = m->num_tensors;
    StWriteEntry *e = calloc((size_t)(n + nextra), sizeof(StWriteEntry));
    void **bufs = calloc((size_t)n, sizeof(void *));
    for (int i = 0; i < n; i++) {
        const TensorInfo *t = &m->tensors[i];
        const float *src = m->params + t->offset;
        StDtype d = dtype_of ? dtype_of(i) : ST_F32;
        e[i] = (StWriteEntry){t->name, d, t->ndim, {t->shape[0], t->shape[1]}, src};
        if (d == ST_BF16 || d == ST_F16) {
            uint16_t *h = malloc(t->numel * 2);
            for (size_t j = 0; j < t->numel; j++) {
                h[j] = d == ST_BF16 ? st_f32_to_bf16(src[j]) : st_f32_to_f16(src[j]);
                expect[t->offset + j] = d == ST_BF16 ? st_bf16_to_f32(h[j]) : st_f16_to_f32(h[j]);
            }
            bufs[i] = h;
            e[i].data = h;
        } else if (expect) {
            memcpy(expect + t->offset, src, t->numel * 4);
        }
    }
    for (int i = 0; i < nextra; i++) e[n + i] = extra[i];
    const char *meta[] = {"format", "pt", NULL};
    char err[512];
    if (st_write(file, e, n + nextra, meta, err, sizeof(err)) != 0) { fprintf(stderr, "%s\n", err); exit(1); }
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(e);
}

static StDtype mixed_dtype(int i) { return i % 3 == 0 ? ST_BF16 : i % 3 == 1 ? ST_F16 : ST_F32; }
static StDtype f64_for_third(int i) { return i == 3 ? ST_F64 : ST_F32; }

static void test_roundtrips(void) {
    char err[1024];
    for (int arch = 0; arch < 2; arch++) {
        for (int tied = 0; tied < 2; tied++) {
            Model m, h, n, hh;
            make_model(&m, (ModelArch)arch, tied, 11 + 2 * arch + tied);
            const char *dir = P("rt_hf"), *h5 = P("rt.h5"), *dir2 = P("rt_hf2");
            CHECK_MSG(model_save_hf(&m, dir, err, sizeof(err)) == 0, "%s", err);
            CHECK_MSG(model_load(dir, &h, err, sizeof(err)) == 0, "%s", err);
            CHECK_MSG(same_model(&m, &h), "HF round trip differs (arch %d tied %d)", arch, tied);
            CHECK_MSG(model_save_native(&h, h5, err, sizeof(err)) == 0, "%s", err);
            CHECK_MSG(model_load(h5, &n, err, sizeof(err)) == 0, "%s", err);
            CHECK_MSG(same_model(&m, &n), "native round trip differs (arch %d tied %d)", arch, tied);
            CHECK_MSG(model_save_hf(&n, dir2, err, sizeof(err)) == 0, "%s", err);
            CHECK_MSG(model_load(dir2, &hh, err, sizeof(err)) == 0, "%s", err);
            CHECK(same_model(&m, &hh));
            // The tied head is not written (transformers re-ties it from the embedding).
            SafeTensors st;
            CHECK(st_open(&st, P("rt_hf/model.safetensors"), err, sizeof(err)) == 0);
            CHECK_EQ_INT(st.num_tensors, m.num_tensors);
            CHECK_EQ_INT(st_find(&st, "lm_head.weight") != NULL, !tied);
            CHECK(st_meta(&st, "format") && strcmp(st_meta(&st, "format"), "pt") == 0);
            st_close(&st);
            CHECK(access(P("rt.h5.tmp"), F_OK) != 0);
            model_free(&m); model_free(&h); model_free(&n); model_free(&hh);
            sh("rm -rf %s %s", dir, dir2);
        }
    }
    // Config corner values survive: no special ids, odd floats, empty tokenizer name.
    Model m, b;
    make_model(&m, ARCH_LLAMA, 1, 5);
    m.cfg.bos_token_id = m.cfg.pad_token_id = -1;
    model_config_set_eos(&m.cfg, -1);
    m.cfg.rope_theta = 123456.789f;
    m.cfg.rms_norm_eps = 1.0f / 3.0f;
    memset(m.cfg.tokenizer, 0, sizeof(m.cfg.tokenizer));
    CHECK(model_save_hf(&m, P("odd"), err, sizeof(err)) == 0);
    CHECK_MSG(model_load(P("odd"), &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    CHECK(model_save_native(&m, P("odd.h5"), err, sizeof(err)) == 0);
    CHECK_MSG(model_load(P("odd.h5"), &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    // Architectures our layout cannot express in HF are refused on export.
    m.cfg.qkv_bias = 1;
    CHECK(model_save_hf(&m, P("bad_export"), err, sizeof(err)) == -1 && strstr(err, "LLaMA"));
    model_free(&m);
    char buf[32];
    hf_format_float(1e-6f, buf, sizeof(buf));
    CHECK(strcmp(buf, "1e-06") == 0);
    hf_format_float(10000.0f, buf, sizeof(buf));
    CHECK(strcmp(buf, "10000.0") == 0);
}

static void test_half_and_extras(void) {
    char err[1024];
    Model m, b;
    make_model(&m, ARCH_QWEN2, 0, 21);
    const char *dir = P("half");
    mkdir(dir, 0755);
    CHECK(hf_config_save(&m.cfg, P("half/config.json"), err, sizeof(err)) == 0);
    float *expect = calloc(m.num_params, sizeof(float));
    write_weights(&m, P("half/model.safetensors"), mixed_dtype, expect, NULL, 0);
    CHECK_MSG(model_load(dir, &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(b.num_params == m.num_params && memcmp(b.params, expect, m.num_params * 4) == 0);
    // The conversion is lossy but close: bf16 keeps 8 bits of mantissa.
    double maxrel = 0;
    for (size_t i = 0; i < m.num_params; i++) {
        double r = fabs(b.params[i] - m.params[i]) / (fabs(m.params[i]) + 1e-3);
        if (r > maxrel) maxrel = r;
    }
    CHECK(maxrel > 0 && maxrel < 1e-2);
    model_free(&b);

    // Harmless extras: rotary inv_freq buffers are ignored.
    float inv[2] = {1.0f, 0.01f};
    StWriteEntry extra = {"model.layers.0.self_attn.rotary_emb.inv_freq", ST_F32, 1, {2}, inv};
    write_weights(&m, P("half/model.safetensors"), NULL, NULL, &extra, 1);
    CHECK_MSG(model_load(dir, &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    // HF dtype keys in config.json are informational (transformers 5 writes "dtype").
    patch_file(P("half/config.json"), "\"torch_dtype\": \"float32\"", "\"dtype\": \"bfloat16\", \"eos_token_id_x\": 0");
    patch_file(P("half/config.json"), "\"eos_token_id\": 2", "\"eos_token_id\": [2, 5]");
    model_config_add_eos(&m.cfg, 5);   // every id of the list is kept (generation stops at any)
    CHECK_MSG(model_load(dir, &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    // transformers 5 layout: rope_parameters instead of a top-level rope_theta, layer_types.
    patch_file(P("half/config.json"), "\"rope_theta\": 1000000.0,", "\"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"default\"}, "
               "\"layer_types\": [\"full_attention\", \"full_attention\"],");
    patch_file(P("half/config.json"), "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"default\"}");
    m.cfg.rope_theta = 500000.0f;
    CHECK_MSG(model_load(dir, &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    free(expect);
    model_free(&m);

    // Tied model whose file also carries lm_head.weight: fine when equal, refused when not.
    make_model(&m, ARCH_QWEN2, 1, 22);
    CHECK(model_save_hf(&m, P("tiedx"), err, sizeof(err)) == 0);
    ModelView v;
    model_view(&m, m.params, &v);
    StWriteEntry head = {"lm_head.weight", ST_F32, 2, {37, 16}, v.embed_tokens};
    write_weights(&m, P("tiedx/model.safetensors"), NULL, NULL, &head, 1);
    CHECK_MSG(model_load(P("tiedx"), &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    float *other = malloc(37 * 16 * 4);
    memcpy(other, v.embed_tokens, 37 * 16 * 4);
    other[100] += 1.0f;
    head.data = other;
    write_weights(&m, P("tiedx/model.safetensors"), NULL, NULL, &head, 1);
    expect_fail(P("tiedx"), P("tiedx"), "lm_head.weight differs");
    free(other);
    model_free(&m);
}

static void test_sharded(void) {
    char err[1024];
    Model m, b;
    make_model(&m, ARCH_LLAMA, 0, 31);
    const char *dir = P("shard");
    mkdir(dir, 0755);
    CHECK(hf_config_save(&m.cfg, P("shard/config.json"), err, sizeof(err)) == 0);
    // Three shards, tensors dealt round-robin, index listing each.
    const char *names[3] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"};
    FILE *idx = fopen(P("shard/model.safetensors.index.json"), "w");
    fprintf(idx, "{\"metadata\": {\"total_size\": %zu}, \"weight_map\": {", m.num_params * 4);
    for (int s = 0; s < 3; s++) {
        StWriteEntry e[64];
        int n = 0;
        for (int i = s; i < m.num_tensors; i += 3) {
            const TensorInfo *t = &m.tensors[i];
            e[n++] = (StWriteEntry){t->name, s == 1 ? ST_BF16 : ST_F32, t->ndim, {t->shape[0], t->shape[1]}, m.params + t->offset};
            fprintf(idx, "%s\"%s\": \"%s\"", i ? ", " : "", t->name, names[s]);
        }
        // Shard 1 is stored as BF16: round its tensors in the reference model too.
        uint16_t *h[64] = {0};
        for (int k = 0; s == 1 && k < n; k++) {
            const TensorInfo *t = model_find_tensor(&m, e[k].name);
            h[k] = malloc(t->numel * 2);
            for (size_t j = 0; j < t->numel; j++) {
                h[k][j] = st_f32_to_bf16(m.params[t->offset + j]);
                m.params[t->offset + j] = st_bf16_to_f32(h[k][j]);
            }
            e[k].data = h[k];
        }
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[s]);
        CHECK(st_write(path, e, n, NULL, err, sizeof(err)) == 0);
        for (int k = 0; k < n; k++) free(h[k]);
    }
    fprintf(idx, "}}\n");
    fclose(idx);
    CHECK_MSG(model_load(dir, &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    // A missing shard, an index that puts a tensor in the wrong shard, a broken index.
    sh("mv %s/%s /tmp/rlvr_shard_tmp", dir, names[2]);
    expect_fail(dir, names[2], "cannot open");
    sh("mv /tmp/rlvr_shard_tmp %s/%s", dir, names[2]);
    sh("cp %s/model.safetensors.index.json %s/idx.bak", dir, dir);
    // An index naming a shard file that does not exist.
    patch_file(P("shard/model.safetensors.index.json"), "\"model.embed_tokens.weight\": \"model-0000", "\"model.embed_tokens.weight\": \"model-0000X");
    expect_fail(dir, "model-0000X", "cannot open");
    sh("cp %s/idx.bak %s/model.safetensors.index.json", dir, dir);
    patch_file(P("shard/model.safetensors.index.json"), "\"weight_map\"", "\"weightmap\"");
    expect_fail(dir, "model.safetensors.index.json", "weight_map");
    patch_file(P("shard/model.safetensors.index.json"), "{\"metadata\"", "{{");
    expect_fail(dir, "model.safetensors.index.json", "not valid JSON");
    sh("cp %s/idx.bak %s/model.safetensors.index.json", dir, dir);
    patch_file(P("shard/model.safetensors.index.json"), "\"model.embed_tokens.weight\": \"model-00001", "\"model.embed_tokens.weight\": \"../00001");
    expect_fail(dir, "model.safetensors.index.json", "file name in the same directory");
    // Stale index: a tensor listed for shard 2 but stored in shard 1.
    sh("cp %s/idx.bak %s/model.safetensors.index.json", dir, dir);
    patch_file(P("shard/model.safetensors.index.json"), "\"model.embed_tokens.weight\": \"model-00001", "\"model.embed_tokens.weight\": \"model-00002");
    expect_fail(dir, "model.embed_tokens.weight", "index places it");
    model_free(&m);
}

static void test_bad_hf(void) {
    char err[1024];
    Model m;
    make_model(&m, ARCH_QWEN2, 1, 41);
    const char *dir = P("bad"), *st = P("bad/model.safetensors"), *cfg = P("bad/config.json");
    CHECK(model_save_hf(&m, dir, err, sizeof(err)) == 0);
    sh("cp %s/model.safetensors %s/good.safetensors", dir, root);
    sh("cp %s/config.json %s/good.json", dir, root);
    const char *good_st = P("good.safetensors"), *good_cfg = P("good.json");
    size_t len;
    char *bytes = read_file_all(good_st, &len, err, sizeof(err));
    uint64_t hlen;
    memcpy(&hlen, bytes, 8);
    free(bytes);
    long cuts[] = {0, 5, 8, 8 + (long)hlen / 3, 8 + (long)hlen, 8 + (long)hlen + 7, (long)len / 2, -1};
    const char *whats[] = {"fewer than", "fewer than", "does not fit", "does not fit", "truncated", "truncated", "truncated", "truncated"};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        truncate_copy(good_st, st, cuts[i]);
        expect_fail(dir, st, whats[i]);
    }
    // Header length larger than the file; bad JSON inside the header.
    {
        FILE *f = fopen(st, "wb");
        uint64_t big = 1u << 20;
        fwrite(&big, 8, 1, f);
        fputs("{}", f);
        fclose(f);
        expect_fail(dir, st, "does not fit");
        f = fopen(st, "wb");
        const char *h = "{\"model.norm.weight\": {\"dtype\": \"F32\" \"shape\": [16]}}";
        uint64_t n = strlen(h);
        fwrite(&n, 8, 1, f);
        fputs(h, f);
        fclose(f);
        expect_fail(dir, st, "not valid JSON");
    }
    sh("cp %s %s", good_st, st);
    // Weights that do not match the config.
    write_weights(&m, st, f64_for_third, NULL, NULL, 0);
    expect_fail(dir, m.tensors[3].name, "unsupported dtype F64");
    float junk[4] = {0};
    StWriteEntry extra = {"model.layers.9.mlp.up_proj.weight", ST_F32, 1, {4}, junk};
    write_weights(&m, st, NULL, NULL, &extra, 1);
    expect_fail(dir, st, "unexpected tensor 'model.layers.9.mlp.up_proj.weight'");
    sh("cp %s %s", good_st, st);
    patch_file(cfg, "\"intermediate_size\": 24", "\"intermediate_size\": 25");
    expect_fail(dir, "model.layers.0.mlp.gate_proj.weight", "has shape [24, 16], expected [25, 16]");
    sh("cp %s %s", good_cfg, cfg);
    patch_file(cfg, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    expect_fail(dir, "model.layers.2.input_layernorm.weight", "is missing");
    sh("cp %s %s", good_cfg, cfg);
    patch_file(cfg, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
    expect_fail(dir, "lm_head.weight", "is missing");
    // config.json problems.
    const struct { const char *from, *to, *what; } cfgs[] = {
        {"\"vocab_size\": 37,", "\"vocab_size\": 37", "not valid JSON"},
        {"Qwen2ForCausalLM", "MistralForCausalLM", "unsupported architecture 'MistralForCausalLM'"},
        {"\"model_type\": \"qwen2\"", "\"model_type\": \"llama\"", "does not match"},
        {"\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", "rope_scaling (rope_type yarn)"},
        {"\"rope_scaling\": null", "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 5e5}", "rope_parameters (rope_type llama3)"},
        {"\"rope_scaling\": null", "\"layer_types\": [\"full_attention\", \"sliding_attention\"]", "layer_types[1] is sliding_attention"},
        {"\"use_sliding_window\": false", "\"use_sliding_window\": true", "use_sliding_window"},
        {"\"hidden_size\": 16", "\"hidden_size\": \"16\"", "'hidden_size' must be an integer"},
        {"\"vocab_size\": 37,", "", "'vocab_size' is missing"},
        {"\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "not a multiple"},
        {"\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act"},
        {"\"bos_token_id\": 1", "\"bos_token_id\": 99", "outside the vocabulary"},
        {"\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 1", "true or false"},
        {"\"rlvr_tokenizer\": \"char\"", "\"rlvr_tokenizer\": 5", "rlvr_tokenizer"},
    };
    for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        sh("cp %s %s", good_cfg, cfg);
        patch_file(cfg, cfgs[i].from, cfgs[i].to);
        expect_fail(dir, cfg, cfgs[i].what);
    }
    sh("cp %s %s", good_cfg, cfg);
    patch_file(cfg, "{", "[");
    expect_fail(dir, cfg, "not valid JSON");
    // LLaMA-only keys.
    Model l;
    make_model(&l, ARCH_LLAMA, 0, 42);
    CHECK(model_save_hf(&l, P("llama"), err, sizeof(err)) == 0);
    sh("cp %s/config.json %s/llama.json", P("llama"), root);
    patch_file(P("llama/config.json"), "\"attention_bias\": false", "\"attention_bias\": true");
    expect_fail(P("llama"), "config.json", "attention_bias");
    sh("cp %s %s", P("llama.json"), P("llama/config.json"));
    patch_file(P("llama/config.json"), "\"mlp_bias\": false", "\"mlp_bias\": true");
    expect_fail(P("llama"), "config.json", "mlp_bias");
    // Architecture from model_type alone, and the default head_dim / kv heads.
    sh("cp %s %s", P("llama.json"), P("llama/config.json"));
    patch_file(P("llama/config.json"), "\"architectures\": [\"LlamaForCausalLM\"],", "");
    patch_file(P("llama/config.json"), "\"head_dim\": 4,", "");
    Model b;
    CHECK_MSG(model_load(P("llama"), &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&l, &b));
    model_free(&b);
    model_free(&l);
    // Missing pieces.
    sh("cp %s %s", good_cfg, cfg);
    sh("rm %s%s", st, "");
    expect_fail(dir, dir, "neither model.safetensors nor");
    sh("cp %s %s", good_st, st);
    sh("rm %s%s", cfg, "");
    expect_fail(dir, dir, "config.json not found");
    expect_fail(P("no_such_dir"), P("no_such_dir"), "No such file");
    expect_fail(good_st, good_st, "bare safetensors");
    expect_fail(good_cfg, good_cfg, "neither an HF model directory, a native HDF5 model file nor a GGUF");
    model_free(&m);
}

static void test_bad_native(void) {
    char err[1024];
    Model m, b;
    make_model(&m, ARCH_QWEN2, 0, 51);
    const char *good = P("good.h5"), *bad = P("bad.h5");
    CHECK(model_save_native(&m, good, err, sizeof(err)) == 0);
    size_t len;
    free(read_file_all(good, &len, err, sizeof(err)));
    long cuts[] = {8, 100, 1000, (long)len / 2, -16};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        truncate_copy(good, bad, cuts[i]);
        expect_fail(bad, bad, cuts[i] == 8 ? "HDF5 cannot open" : "");
    }
    // Edits with the HDF5 API: missing dataset, extra dataset, wrong shape, wrong magic/version,
    // missing config attribute.
    for (int k = 0; k < 7; k++) {
        sh("cp %s %s", good, bad);
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
        const char *what = "";
        if (k == 0) { H5Ldelete(f, "model/model.layers.1.mlp.up_proj.weight", H5P_DEFAULT); what = "'model/model.layers.1.mlp.up_proj.weight' is missing"; }
        if (k == 1 || k == 2) {
            hsize_t d[2] = {3, 2};
            hid_t sp = H5Screate_simple(2, d, NULL);
            if (k == 2) H5Ldelete(f, "model/model.norm.weight", H5P_DEFAULT);
            hid_t ds = H5Dcreate2(f, k == 1 ? "model/extra.weight" : "model/model.norm.weight", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Dclose(ds);
            H5Sclose(sp);
            what = k == 1 ? "unexpected dataset 'model/extra.weight'" : "'model/model.norm.weight' has 2 dimensions (3, 2";
        }
        if (k == 3) { h5_attr_write_str(f, "magic", "not-rlvr"); what = "magic"; }
        if (k == 4) { h5_attr_write_int(f, "format_version", 2); what = "format_version 2"; }
        if (k == 5) { H5Adelete_by_name(f, "config", "rope_theta", H5P_DEFAULT); what = "'rope_theta' is missing"; }
        if (k == 6) { H5Ldelete(f, "config", H5P_DEFAULT); what = "group 'config' is missing"; }
        H5Fclose(f);
        expect_fail(bad, bad, what);
    }
    // A file that is HDF5 but not ours.
    hid_t f = H5Fcreate(bad, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    expect_fail(bad, bad, "magic");
    // Writing into a missing directory fails cleanly.
    CHECK(model_save_native(&m, "/nonexistent-dir/m.h5", err, sizeof(err)) == -1 && strstr(err, "/nonexistent-dir/m.h5"));
    CHECK(model_save_hf(&m, "/nonexistent-dir/sub", err, sizeof(err)) == -1 && strstr(err, "/nonexistent-dir/sub"));
    CHECK(model_save_hf(&m, good, err, sizeof(err)) == -1 && strstr(err, "not a directory"));
    // The model embedded under a group, as checkpoints do.
    f = H5Fcreate(bad, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "policy", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(model_h5_write(g, &m, err, sizeof(err)) == 0);
    CHECK(model_h5_write(g, &m, err, sizeof(err)) == -1 && strstr(err, bad));   // groups already exist
    H5Gclose(g);
    H5Fclose(f);
    f = H5Fopen(bad, H5F_ACC_RDONLY, H5P_DEFAULT);
    g = H5Gopen2(f, "policy", H5P_DEFAULT);
    CHECK_MSG(model_h5_read(g, &b, err, sizeof(err)) == 0, "%s", err);
    CHECK(same_model(&m, &b));
    model_free(&b);
    CHECK(model_h5_read(f, &b, err, sizeof(err)) == -1 && strstr(err, "group 'config' is missing"));
    H5Gclose(g);
    H5Fclose(f);
    model_free(&m);
}

int main(void) {
    snprintf(root, sizeof(root), "/tmp/rlvr_test_mio_XXXXXX");
    if (!mkdtemp(root)) { perror("mkdtemp"); return 1; }
    test_roundtrips();
    test_half_and_extras();
    test_sharded();
    test_bad_hf();
    test_bad_native();
    sh("rm -rf %s%s", root, "");
    for (int i = 0; i < npaths; i++) free(paths[i]);
    return tests_done();
}
