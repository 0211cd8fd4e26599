// The tokenizer API and the tokenizer's travels with the model (the HF ids themselves are
// tests/test_tokenizer_fixtures.c's job):
//   - the char tokenizer: ids, BOS with TOK_ADD_SPECIAL, the error naming byte and offset, decode;
//   - a byte-level BPE built here: encode, decode of a character split across tokens (whole when all
//     its bytes are there, U+FFFD when not), streaming decode, special tokens, token lookups,
//     tokenizer_config.json (bos/eos tokens, the chat template as a string or a list), EOS ids merged
//     with the model's, no bound on bytes per token (a 3000-byte token);
//   - every kind of bad tokenizer.json / tokenizer_config.json gives an error naming the file and field;
//   - a model carries its tokenizer: native .h5, HF directory (+ generation_config.json EOS ids),
//     checkpoint, export, and model_load_tokenizer on each.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/engine/tokenizer.h"
#include "common/engine/tokenizer_impl.h"
#include "common/io/checkpoint.h"
#include "common/io/model_io.h"
#include "tests/harness.h"

static char err[2048];
static char tmpdir[256];

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static int ids_are(const TokIds *v, const int *want, size_t n) {
    return v->n == n && (n == 0 || memcmp(v->ids, want, n * sizeof(int)) == 0);
}

// ---- char -------------------------------------------------------------------------------------------

static void test_char(void) {
    Tokenizer t;
    CHECK(tokenizer_init(&t, "char", err, sizeof err) == 0);
    TokIds v = {0};
    CHECK(tokenizer_encode_str(&t, "ab\tc\r\n", 0, &v, err, sizeof err) == 0);
    CHECK(ids_are(&v, (int[]){'a', 'b', ' ', 'c', '\n'}, 5));
    v.n = 0;
    CHECK(tokenizer_encode_str(&t, "x", TOK_ADD_SPECIAL, &v, err, sizeof err) == 0);
    CHECK(ids_are(&v, (int[]){CHAR_TOK_BOS, 'x'}, 2));
    v.n = 0;
    CHECK(tokenizer_encode_str(&t, "ok\x01", 0, &v, err, sizeof err) == -1 && contains(err, "0x01") && contains(err, "offset 2"));
    char *buf = NULL;
    size_t cap = 0;
    int ids[] = {CHAR_TOK_BOS, 'h', 'i', CHAR_TOK_EOS, 200, 5};
    size_t n = tokenizer_decode(&t, ids, 6, TOK_SKIP_SPECIAL, &buf, &cap);
    CHECK(n == 4 && !strcmp(buf, "hi??"));   // specials dropped, ids outside printable ASCII shown as '?'
    CHECK(t.n_eos == 1 && t.eos_ids[0] == CHAR_TOK_EOS && tokenizer_is_eos(&t, CHAR_TOK_EOS));
    CHECK(tokenizer_init(&t, NULL, err, sizeof err) == -1 && contains(err, "tokenizer.json"));
    CHECK(tokenizer_init(&t, "sentencepiece", err, sizeof err) == -1 && contains(err, "sentencepiece"));
    free(buf);
    tok_ids_free(&v);
}

// ---- a small byte-level BPE -------------------------------------------------------------------------

// The byte-level alphabet string of a byte string.
static void bl(const char *bytes, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += utf8_put(out + o, TOK_BYTE_CHAR[(unsigned char)bytes[i]]);
    out[o] = 0;
}

// 256 byte tokens (id = byte), merges "a b" -> 256 "ab", "ab c" -> 257 "abc", "€"'s first two bytes
// -> 258, a 3000-byte token of 'z's (259, via ignore_merges), specials 300 "<|end|>", 301 "<|user|>".
static char *tiny_json(const char *patch_key, json_t *patch_val) {
    json_t *vocab = json_object(), *merges = json_array(), *root = json_object(), *model = json_object();
    char s[16384];
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        bl(&c, 1, s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    json_object_set_new(vocab, "ab", json_integer(256));
    json_object_set_new(vocab, "abc", json_integer(257));
    bl("\xe2\x82", 2, s);
    json_object_set_new(vocab, s, json_integer(258));
    char zs[3001];
    memset(zs, 'z', 3000);
    zs[3000] = 0;
    json_object_set_new(vocab, zs, json_integer(259));
    json_array_append_new(merges, json_string("a b"));
    json_array_append_new(merges, json_pack("[ss]", "ab", "c"));   // the newer pair form
    char e2[16], x82[16];
    bl("\xe2", 1, e2);
    bl("\x82", 1, x82);
    json_array_append_new(merges, json_pack("[ss]", e2, x82));
    json_object_set_new(model, "type", json_string("BPE"));
    json_object_set_new(model, "vocab", vocab);
    json_object_set_new(model, "merges", merges);
    json_object_set_new(model, "ignore_merges", json_true());
    json_object_set_new(root, "model", model);
    json_object_set_new(root, "normalizer", json_pack("{ss}", "type", "NFC"));
    json_object_set_new(root, "pre_tokenizer", json_pack("{ss sb sb sb}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1));
    json_object_set_new(root, "decoder", json_pack("{ss}", "type", "ByteLevel"));
    json_object_set_new(root, "post_processor", json_null());
    json_object_set_new(root, "added_tokens", json_pack("[{si ss sb sb sb sb sb}, {si ss sb sb sb sb sb}]",
        "id", 300, "content", "<|end|>", "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1,
        "id", 301, "content", "<|user|>", "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    if (patch_key) {   // "a.b" sets root[a][b]; "a" sets root[a]
        char k[128];
        snprintf(k, sizeof k, "%s", patch_key);
        char *dot = strchr(k, '.');
        if (dot) { *dot = 0; json_object_set_new(json_object_get(root, k), dot + 1, patch_val); }
        else json_object_set_new(root, k, patch_val);
    }
    char *txt = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return txt;
}

static const char *TINY_CONFIG = "{\"bos_token\": null, \"eos_token\": {\"content\": \"<|end|>\"}, \"pad_token\": \"<|end|>\", "
                                 "\"chat_template\": \"{{ messages }}\"}";

static void test_bpe(void) {
    char *js = tiny_json(NULL, NULL);
    Tokenizer t;
    CHECK_MSG(tokenizer_load_json(&t, js, TINY_CONFIG, NULL, "tiny", err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(t.type, "bpe") && t.vocab_size == 302 && !t.add_bos);
    CHECK(t.eos_id == 300 && t.n_eos == 1 && t.pad_id == 300 && t.bos_id == -1 && !strcmp(t.eos_token, "<|end|>"));
    CHECK(t.chat_template && !strcmp(t.chat_template, "{{ messages }}"));
    CHECK(tokenizer_token_id(&t, "<|user|>") == 301 && tokenizer_token_id(&t, "abc") == 257 && tokenizer_token_id(&t, "nope") == -1);
    CHECK(tokenizer_is_special(&t, 300) && !tokenizer_is_special(&t, 257));
    TokIds v = {0};
    CHECK(tokenizer_encode_str(&t, "abc<|user|>ab€", 0, &v, err, sizeof err) == 0);
    CHECK(ids_are(&v, (int[]){257, 301, 256, 258, 0xAC}, 5));   // € = e2 82 ac: the first two bytes merge
    // No bound on bytes per token: a 3000-byte token, decoded whole.
    char zs[3001];
    memset(zs, 'z', 3000);
    zs[3000] = 0;
    v.n = 0;
    CHECK(tokenizer_encode_str(&t, zs, 0, &v, err, sizeof err) == 0 && ids_are(&v, (int[]){259}, 1));
    char *buf = NULL;
    size_t cap = 0;
    CHECK(tokenizer_decode(&t, (int[]){259, 'a'}, 2, 0, &buf, &cap) == 3001 && buf[2999] == 'z' && buf[3000] == 'a');
    // A character split across tokens: whole when all bytes are there, U+FFFD when cut.
    CHECK(tokenizer_decode(&t, (int[]){258, 0xAC}, 2, 0, &buf, &cap) == 3 && !strcmp(buf, "€"));
    CHECK(tokenizer_decode(&t, (int[]){'x', 258}, 2, 0, &buf, &cap) == 4 && !strcmp(buf, "x\xef\xbf\xbd"));
    CHECK(tokenizer_decode(&t, (int[]){258, 'y'}, 2, 0, &buf, &cap) == 4 && !strcmp(buf, "\xef\xbf\xbdy"));
    // Specials: kept by default (HF transformers' decode), dropped with TOK_SKIP_SPECIAL; unknown ids vanish.
    CHECK(tokenizer_decode(&t, (int[]){'a', 300, 'b', 9999}, 4, 0, &buf, &cap) == 9 && !strcmp(buf, "a<|end|>b"));
    CHECK(tokenizer_decode(&t, (int[]){'a', 300, 'b'}, 3, TOK_SKIP_SPECIAL, &buf, &cap) == 2 && !strcmp(buf, "ab"));
    // Streaming: "€" comes out once, with the token that completes it.
    TokStream st;
    tok_stream_init(&st, &t, 0);
    size_t n;
    CHECK(!strcmp(tok_stream_push(&st, 'h', &n), "h") && n == 1);
    CHECK(!strcmp(tok_stream_push(&st, 258, &n), "") && n == 0);
    CHECK(!strcmp(tok_stream_push(&st, 0xAC, &n), "€") && n == 3);
    CHECK(!strcmp(tok_stream_push(&st, 0xE2, &n), "") && n == 0);
    CHECK(!strcmp(tok_stream_push(&st, '!', &n), "\xef\xbf\xbd!"));   // a cut character: U+FFFD, then the rest
    CHECK(!strcmp(tok_stream_push(&st, 258, &n), ""));
    CHECK(!strcmp(tok_stream_finish(&st, &n), "\xef\xbf\xbd") && n == 3);   // the end cuts it too
    tok_stream_free(&st);
    // Invalid UTF-8 in: U+FFFD (ef bf bd: three byte tokens), as HF sees Python's decode("replace").
    v.n = 0;
    CHECK(tokenizer_encode(&t, "a\xff", 2, 0, &v, err, sizeof err) == 0 && ids_are(&v, (int[]){'a', 0xEF, 0xBF, 0xBD}, 4));
    // The model's EOS ids join the tokenizer's; bos/pad come from the model when the files lack them.
    ModelConfig cfg;
    model_config_default(&cfg);
    cfg.vocab_size = 400;
    cfg.bos_token_id = 301;
    model_config_set_eos(&cfg, 301);
    model_config_add_eos(&cfg, 300);
    model_config_add_eos(&cfg, 350);   // outside the tokenizer: not a stop id
    Tokenizer t2;
    CHECK(tokenizer_load_json(&t2, js, TINY_CONFIG, &cfg, "tiny", err, sizeof err) == 0);
    CHECK(t2.eos_id == 300 && t2.n_eos == 2 && t2.eos_ids[0] == 300 && t2.eos_ids[1] == 301 && t2.bos_id == 301);
    tokenizer_free(&t2);
    // A chat template given as a list: the "default" one.
    CHECK(tokenizer_load_json(&t2, js, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
                              "{\"name\": \"default\", \"template\": \"D\"}]}", NULL, "tiny", err, sizeof err) == 0);
    CHECK(t2.chat_template && !strcmp(t2.chat_template, "D") && t2.eos_id == -1 && t2.n_eos == 0);
    tokenizer_free(&t2);
    // TemplateProcessing: TOK_ADD_SPECIAL puts its tokens around the text.
    char *jt = tiny_json("post_processor", json_loads("{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<|user|>\"}}, "
        "{\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"<|end|>\"}}], \"special_tokens\": {\"<|user|>\": {\"ids\": [301]}, "
        "\"<|end|>\": {\"ids\": [300]}}}", 0, NULL));
    CHECK_MSG(tokenizer_load_json(&t2, jt, NULL, NULL, "tiny", err, sizeof err) == 0, "%s", err);
    v.n = 0;
    CHECK(tokenizer_encode_str(&t2, "ab", TOK_ADD_SPECIAL, &v, err, sizeof err) == 0 && ids_are(&v, (int[]){301, 256, 300}, 3));
    CHECK(t2.add_bos && t2.bos_id == 301);
    tokenizer_free(&t2);
    free(jt);
    free(buf);
    tok_ids_free(&v);
    tokenizer_free(&t);
    free(js);
}

// ---- bad files -------------------------------------------------------------------------------------

static void expect_bad(const char *name, char *json, const char *config, const char *want1, const char *want2) {
    Tokenizer t;
    err[0] = 0;
    int rc = tokenizer_load_json(&t, json, config, NULL, "dir/tokenizer.json", err, sizeof err);
    CHECK_MSG(rc == -1, "%s: should fail", name);
    if (rc == 0) tokenizer_free(&t);
    CHECK_MSG(contains(err, "dir/tokenizer.json") && contains(err, want1) && (!want2 || contains(err, want2)),
              "%s: error should name the file, '%s'%s%s: %s", name, want1, want2 ? " and " : "", want2 ? want2 : "", err);
    free(json);
}

static void test_bad_files(void) {
    expect_bad("garbled", strdupCheck("{\"model\": {\"vocab\": {"), NULL, "not valid JSON", "line");
    expect_bad("not an object", strdupCheck("[1, 2]"), NULL, "top level", NULL);
    expect_bad("no model", strdupCheck("{\"version\": \"1.0\"}"), NULL, "model", "missing");
    expect_bad("unknown model type", tiny_json("model.type", json_string("Unigram")), NULL, "model.type", "Unigram");
    expect_bad("missing merges", tiny_json("model.merges", json_null()), NULL, "model.merges", NULL);
    expect_bad("merge of unknown tokens", tiny_json("model.merges", json_pack("[s s]", "a b", "q zz")), NULL, "model.merges[1]", "not in model.vocab");
    expect_bad("malformed merge", tiny_json("model.merges", json_pack("[s]", "abc")), NULL, "model.merges[0]", "two tokens");
    expect_bad("vocab not an object", tiny_json("model.vocab", json_pack("[i]", 1)), NULL, "model.vocab", NULL);
    expect_bad("vocab id not a number", tiny_json("model.vocab", json_pack("{ss}", "a", "x")), NULL, "model.vocab", "'a'");
    expect_bad("byte fallback", tiny_json("model.byte_fallback", json_true()), NULL, "model.byte_fallback", NULL);
    expect_bad("subword prefix", tiny_json("model.continuing_subword_prefix", json_string("##")), NULL, "continuing_subword_prefix", NULL);
    expect_bad("Metaspace", tiny_json("pre_tokenizer", json_pack("{ss}", "type", "Metaspace")), NULL, "pre_tokenizer", "Metaspace");
    expect_bad("Metaspace in a sequence", tiny_json("pre_tokenizer", json_pack("{ss s[{ss}{ss}]}", "type", "Sequence", "pretokenizers",
               "type", "ByteLevel", "type", "Whitespace")), NULL, "pre_tokenizer.pretokenizers[1]", "Whitespace");
    expect_bad("no ByteLevel", tiny_json("pre_tokenizer", json_pack("{ss sb}", "type", "Digits", "individual_digits", 1)), NULL,
               "pre_tokenizer", "ByteLevel");
    expect_bad("bad regex", tiny_json("pre_tokenizer", json_pack("{ss s[{ss s{ss} ss}{ss}]}", "type", "Sequence", "pretokenizers",
               "type", "Split", "pattern", "Regex", "(unclosed", "behavior", "Isolated", "type", "ByteLevel")), NULL,
               "pre_tokenizer.pretokenizers[0]", "does not compile");
    expect_bad("bad behavior", tiny_json("pre_tokenizer", json_pack("{ss s[{ss s{ss} ss}{ss}]}", "type", "Sequence", "pretokenizers",
               "type", "Split", "pattern", "String", "-", "behavior", "Sideways", "type", "ByteLevel")), NULL, "Sideways", NULL);
    expect_bad("Lowercase", tiny_json("normalizer", json_pack("{ss}", "type", "Lowercase")), NULL, "normalizer", "Lowercase");
    expect_bad("WordPiece decoder", tiny_json("decoder", json_pack("{ss}", "type", "WordPiece")), NULL, "decoder", "WordPiece");
    expect_bad("Bert post-processor", tiny_json("post_processor", json_pack("{ss}", "type", "BertProcessing")), NULL, "post_processor", NULL);
    expect_bad("added token without id", tiny_json("added_tokens", json_pack("[{ss}]", "content", "<x>")), NULL, "added_tokens[0]", "'id'");
    expect_bad("template token unknown", tiny_json("post_processor", json_loads("{\"type\": \"TemplateProcessing\", \"single\": "
               "[{\"SpecialToken\": {\"id\": \"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"ids\": [999]}}}", 0, NULL)),
               NULL, "post_processor", "999");
    expect_bad("garbled config", tiny_json(NULL, NULL), "{\"eos_token\": ", "tokenizer_config.json", "not valid JSON");
    expect_bad("bad eos_token", tiny_json(NULL, NULL), "{\"eos_token\": 7}", "eos_token", NULL);
    expect_bad("bad chat_template", tiny_json(NULL, NULL), "{\"chat_template\": 7}", "chat_template", NULL);
}

// ---- the tokenizer travels with the model ------------------------------------------------------------

static void path_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

static char *slurp(const char *path) {
    size_t n;
    return read_file_all(path, &n, err, sizeof err);
}

static void make_model(Model *m, char *js) {
    ModelConfig c;
    model_config_default(&c);
    c.vocab_size = 320; c.hidden_size = 8; c.intermediate_size = 16; c.num_layers = 1;
    c.num_heads = 2; c.num_kv_heads = 1; c.head_dim = 4; c.max_position_embeddings = 64;
    c.qkv_bias = 1; c.tie_word_embeddings = 1;
    model_config_set_eos(&c, 300);
    model_config_add_eos(&c, 301);
    CHECK(model_init(m, &c, err, sizeof err) == 0);
    model_init_random(m, 7, 0.02f);
    m->tokenizer_json = js;
    m->tokenizer_config_json = strdupCheck(TINY_CONFIG);
}

static int same_text(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void check_tok(const char *path, int want_eos) {
    Tokenizer t;
    int rc = model_load_tokenizer(path, &t, err, sizeof err);
    CHECK_MSG(rc == 0, "model_load_tokenizer(%s): %s", path, err);
    if (rc != 0) return;
    TokIds v = {0};
    CHECK(tokenizer_encode_str(&t, "abc<|end|>", 0, &v, err, sizeof err) == 0 && ids_are(&v, (int[]){257, 300}, 2));
    CHECK_MSG(t.n_eos == want_eos && tokenizer_is_eos(&t, 300) && (want_eos < 2 || tokenizer_is_eos(&t, 301)), "%s: %d eos ids", path, t.n_eos);
    CHECK(t.chat_template != NULL);
    tok_ids_free(&v);
    tokenizer_free(&t);
}

static void test_travel(void) {
    Model m, b;
    make_model(&m, tiny_json(NULL, NULL));
    char p[512], q[512];
    // Native .h5: the texts, every EOS id.
    path_of(p, sizeof p, "m.h5");
    CHECK_MSG(model_save_native(&m, p, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(model_load(p, &b, err, sizeof err) == 0, "%s", err);
    CHECK(same_text(b.tokenizer_json, m.tokenizer_json) && same_text(b.tokenizer_config_json, m.tokenizer_config_json));
    CHECK(b.cfg.n_eos == 2 && b.cfg.eos_token_ids[0] == 300 && b.cfg.eos_token_ids[1] == 301);
    Tokenizer t;
    CHECK(tokenizer_from_model(&t, &b, err, sizeof err) == 0 && t.vocab_size == 302);
    tokenizer_free(&t);
    model_free(&b);
    check_tok(p, 2);
    // model_copy copies the texts.
    model_copy(&b, &m);
    CHECK(same_text(b.tokenizer_json, m.tokenizer_json) && b.tokenizer_json != m.tokenizer_json);
    model_free(&b);
    // HF directory: the files come back byte for byte; generation_config.json adds its EOS ids.
    path_of(p, sizeof p, "hf");
    CHECK_MSG(model_save_hf(&m, p, err, sizeof err) == 0, "%s", err);
    path_of(q, sizeof q, "hf/tokenizer.json");
    char *txt = slurp(q);
    CHECK(txt && !strcmp(txt, m.tokenizer_json));
    free(txt);
    path_of(q, sizeof q, "hf/tokenizer_config.json");
    txt = slurp(q);
    CHECK(txt && !strcmp(txt, TINY_CONFIG));
    free(txt);
    path_of(q, sizeof q, "hf/config.json");
    txt = slurp(q);
    CHECK(txt && contains(txt, "\"eos_token_id\": [300, 301]"));
    free(txt);
    path_of(q, sizeof q, "hf/generation_config.json");
    FILE *f = fopen(q, "w");
    fputs("{\"eos_token_id\": [301, 299], \"do_sample\": true}", f);
    fclose(f);
    CHECK_MSG(model_load(p, &b, err, sizeof err) == 0, "%s", err);
    CHECK(same_text(b.tokenizer_json, m.tokenizer_json) && b.cfg.n_eos == 3 && b.cfg.eos_token_ids[2] == 299);
    model_free(&b);
    check_tok(p, 3);
    path_of(q, sizeof q, "hf/tokenizer.json");
    check_tok(q, 1);   // the file alone: tokenizer_config.json beside it, no model EOS ids
    f = fopen(q, "w");
    fputs("{\"model\": ", f);
    fclose(f);
    CHECK(model_load_tokenizer(p, &t, err, sizeof err) == -1 && contains(err, "not valid JSON"));
    path_of(q, sizeof q, "hf/generation_config.json");
    f = fopen(q, "w");
    fputs("{\"eos_token_id\": \"x\"}", f);
    fclose(f);
    CHECK(model_load(p, &b, err, sizeof err) == -1 && contains(err, "generation_config.json") && contains(err, "eos_token_id"));
    // Checkpoints carry it; a full verify covers its datasets; export writes the files back.
    path_of(p, sizeof p, "ckpt_000001.h5");
    uint64_t rng[2] = {1, 2}, data[1] = {3};
    CheckpointState st = {.step = 1, .policy_version = 1, .model = &m, .rng = rng, .rng_len = 2, .data = data, .data_len = 1,
                          .config_yaml = "x: 1\n"};
    CHECK_MSG(checkpoint_write(p, &st, err, sizeof err) == 0, "%s", err);
    CheckpointInfo info;
    CHECK_MSG(checkpoint_verify(p, 1, &info, err, sizeof err) == 0, "%s", err);
    CheckpointState ld = {0};
    ld.model = &b;
    CHECK_MSG(checkpoint_load(p, &ld, CKPT_LOAD_MODEL_ONLY, err, sizeof err) == 0, "%s", err);
    CHECK(same_text(b.tokenizer_json, m.tokenizer_json) && same_text(b.tokenizer_config_json, m.tokenizer_config_json));
    check_tok(p, 2);
    path_of(q, sizeof q, "exported");
    CHECK(model_save_hf(&b, q, err, sizeof err) == 0);
    path_of(q, sizeof q, "exported/tokenizer.json");
    txt = slurp(q);
    CHECK(txt && !strcmp(txt, m.tokenizer_json));
    free(txt);
    checkpoint_state_free(&ld);
    model_free(&b);
    // A model without an HF tokenizer writes none.
    free(m.tokenizer_json);
    free(m.tokenizer_config_json);
    m.tokenizer_json = m.tokenizer_config_json = NULL;
    path_of(p, sizeof p, "plain");
    CHECK(model_save_hf(&m, p, err, sizeof err) == 0);
    path_of(q, sizeof q, "plain/tokenizer.json");
    CHECK(access(q, F_OK) != 0);
    CHECK(model_load_tokenizer(p, &t, err, sizeof err) == -1 && contains(err, "tokenizer"));
    model_free(&m);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_tokenizer_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_char();
    test_bpe();
    test_bad_files();
    test_travel();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tests_done();
}
