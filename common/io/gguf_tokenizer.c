// GGUF tokenizer metadata -> tokenizer.json / tokenizer_config.json text (jansson).
#include "common/io/gguf_tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5, TOKEN_BYTE = 6 };
enum { PRE_BYTELEVEL, PRE_SPLIT, PRE_DIGITS };

#define REGEX_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define REGEX_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

// ByteLevel flags: add_prefix_space, trim_offsets, use_regex.
typedef struct { int prefix, trim, regex; } ByteLevelFlags;

// One tokenizer.ggml.pre family and the components its original tokenizer.json has.
typedef struct {
    const char *names[4];        // tokenizer.ggml.pre values (NULL-terminated)
    int nfc;                     // normalizer NFC
    int pre;                     // PRE_*: ByteLevel alone, Split(regex) + ByteLevel, Digits + ByteLevel
    const char *regex;           // PRE_SPLIT
    ByteLevelFlags pre_bl, post_bl, dec_bl;
    int ignore_merges;
    int add_bos;                 // default when tokenizer.ggml.add_bos_token is absent (llama.cpp's)
} Family;

static const Family FAMILIES[] = {
    {{"gpt-2", NULL}, 0, PRE_BYTELEVEL, NULL, {0, 1, 1}, {1, 0, 1}, {1, 1, 1}, 0, 0},
    {{"llama-bpe", "llama3", "llama-v3", NULL}, 0, PRE_SPLIT, REGEX_LLAMA3, {0, 1, 0}, {1, 0, 1}, {1, 1, 1}, 1, 1},
    {{"qwen2", NULL}, 1, PRE_SPLIT, REGEX_QWEN2, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, 0, 0},
    {{"smollm", "starcoder", "refact", NULL}, 0, PRE_DIGITS, NULL, {0, 1, 1}, {1, 0, 1}, {1, 1, 1}, 0, 0},
};
#define NUM_FAMILIES (sizeof(FAMILIES) / sizeof(FAMILIES[0]))

static const char *SUPPORTED_PRE = "gpt-2, llama-bpe (llama3, llama-v3), qwen2, smollm, starcoder, refact";

static json_t *byte_level(ByteLevelFlags f) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", f.prefix, "trim_offsets", f.trim, "use_regex", f.regex);
}

static json_t *pre_tokenizer(const Family *f) {
    if (f->pre == PRE_BYTELEVEL) return byte_level(f->pre_bl);
    json_t *first = f->pre == PRE_SPLIT
        ? json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex", f->regex, "behavior", "Isolated", "invert", 0)
        : json_pack("{s:s, s:b}", "type", "Digits", "individual_digits", 1);
    return json_pack("{s:s, s:[o, o]}", "type", "Sequence", "pretokenizers", first, byte_level(f->pre_bl));
}

// {"SpecialToken": {"id": tok, "type_id": type_id}}
static json_t *special_piece(const char *tok, int type_id) {
    return json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", tok, "type_id", type_id);
}

static json_t *sequence_piece(const char *seq, int type_id) {
    return json_pack("{s:{s:s, s:i}}", "Sequence", "id", seq, "type_id", type_id);
}

// ByteLevel, followed by a TemplateProcessing that adds BOS and/or EOS when the model wants them
// (bos / eos: token strings, NULL when not added).
static json_t *post_processor(const Family *f, const char *bos, int bos_id, const char *eos, int eos_id) {
    json_t *bl = byte_level(f->post_bl);
    if (!bos && !eos) return bl;
    json_t *single = json_array(), *pair = json_array(), *specials = json_object();
    for (int part = 0; part < 2; part++) {
        json_t *arr = part == 0 ? single : pair;
        for (int s = 0; s <= part; s++) {
            if (bos) json_array_append_new(arr, special_piece(bos, s));
            json_array_append_new(arr, sequence_piece(s ? "B" : "A", s));
            if (eos) json_array_append_new(arr, special_piece(eos, s));
        }
    }
    if (bos) json_object_set_new(specials, bos, json_pack("{s:s, s:[i], s:[s]}", "id", bos, "ids", bos_id, "tokens", bos));
    if (eos) json_object_set_new(specials, eos, json_pack("{s:s, s:[i], s:[s]}", "id", eos, "ids", eos_id, "tokens", eos));
    json_t *tp = json_pack("{s:s, s:o, s:o, s:o}", "type", "TemplateProcessing", "single", single, "pair", pair, "special_tokens", specials);
    return json_pack("{s:s, s:[o, o]}", "type", "Sequence", "processors", bl, tp);
}

// A string element of an array kv as a JSON string; NULL when it is not valid UTF-8.
static json_t *str_at(const GgufKV *kv, size_t i) {
    return json_stringn(kv->strs[i].ptr, kv->strs[i].len);
}

// 1 when token i is "[PAD<i>]", a placeholder llama.cpp's converter adds past the real vocabulary.
static int is_pad_placeholder(const GgufStr *s, size_t i) {
    char want[40];
    int n = snprintf(want, sizeof(want), "[PAD%zu]", i);
    return (size_t)n == s->len && memcmp(s->ptr, want, s->len) == 0;
}

static const Family *find_family(const char *pre) {
    for (size_t i = 0; i < NUM_FAMILIES; i++)
        for (int j = 0; FAMILIES[i].names[j]; j++)
            if (strcmp(FAMILIES[i].names[j], pre) == 0) return &FAMILIES[i];
    return NULL;
}

typedef struct {
    const GgufKV *tokens, *types, *merges;
    const Family *family;
    int bos_id, eos_id, pad_id, unk_id;
    int add_bos, add_eos;
} TokInfo;

static int token_id_key(const Gguf *g, const TokInfo *t, const char *key, int *out, char *err, size_t errlen) {
    long long v = -1;
    if (gguf_get_int(g, key, &v, err, errlen) < 0) return -1;
    if (v < -1 || (v >= 0 && (size_t)v >= t->tokens->count))
        return rlvr_err(err, errlen, "gguf '%s': key '%s' = %lld is outside the vocabulary (%zu tokens)", g->path, key, v, t->tokens->count);
    *out = (int)v;
    return 0;
}

// Reads and checks what both outputs need.
static int tok_info(const Gguf *g, TokInfo *t, char *err, size_t errlen) {
    memset(t, 0, sizeof(*t));
    char *model = NULL, *pre = NULL;
    int rc = gguf_get_str(g, "tokenizer.ggml.model", &model, err, errlen);
    if (rc == 1) return rlvr_err(err, errlen, "gguf '%s': key 'tokenizer.ggml.model' is missing (the file holds no tokenizer)", g->path);
    if (rc < 0) return -1;
    if (strcmp(model, "gpt2") != 0) {
        rlvr_err(err, errlen, "gguf '%s': tokenizer.ggml.model '%s' is not supported (only 'gpt2', byte-level BPE)", g->path, model);
        free(model);
        return -1;
    }
    free(model);
    rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, err, errlen);
    if (rc < 0) return -1;
    if (rc == 1) return rlvr_err(err, errlen, "gguf '%s': key 'tokenizer.ggml.pre' is missing (the pre-tokenizer is unknown; supported: %s)",
                                 g->path, SUPPORTED_PRE);
    t->family = find_family(pre);
    if (!t->family) rlvr_err(err, errlen, "gguf '%s': tokenizer.ggml.pre '%s' is not supported (supported: %s)", g->path, pre, SUPPORTED_PRE);
    free(pre);
    if (!t->family) return -1;
    t->tokens = gguf_find_kv(g, "tokenizer.ggml.tokens");
    t->types = gguf_find_kv(g, "tokenizer.ggml.token_type");
    t->merges = gguf_find_kv(g, "tokenizer.ggml.merges");
    if (!t->tokens || t->tokens->type != GGUF_ARRAY || t->tokens->elem_type != GGUF_STRING || t->tokens->count == 0)
        return rlvr_err(err, errlen, "gguf '%s': key 'tokenizer.ggml.tokens' is missing or not a non-empty array of strings", g->path);
    if (!t->merges || t->merges->type != GGUF_ARRAY || t->merges->elem_type != GGUF_STRING)
        return rlvr_err(err, errlen, "gguf '%s': key 'tokenizer.ggml.merges' is missing or not an array of strings", g->path);
    if (t->types && (t->types->type != GGUF_ARRAY || (t->types->elem_type != GGUF_INT32 && t->types->elem_type != GGUF_UINT32) ||
                     t->types->count != t->tokens->count))
        return rlvr_err(err, errlen, "gguf '%s': key 'tokenizer.ggml.token_type' (offset %zu) must be an INT32 array with one entry per token (%zu)",
                        g->path, t->types->offset, t->tokens->count);
    if (token_id_key(g, t, "tokenizer.ggml.bos_token_id", &t->bos_id, err, errlen) ||
        token_id_key(g, t, "tokenizer.ggml.eos_token_id", &t->eos_id, err, errlen) ||
        token_id_key(g, t, "tokenizer.ggml.padding_token_id", &t->pad_id, err, errlen) ||
        token_id_key(g, t, "tokenizer.ggml.unknown_token_id", &t->unk_id, err, errlen))
        return -1;
    t->add_bos = t->family->add_bos;
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos, err, errlen) < 0 ||
        gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos, err, errlen) < 0)
        return -1;
    if (t->add_bos && t->bos_id < 0)
        return rlvr_err(err, errlen, "gguf '%s': the tokenizer adds BOS but tokenizer.ggml.bos_token_id is missing", g->path);
    if (t->add_eos && t->eos_id < 0)
        return rlvr_err(err, errlen, "gguf '%s': the tokenizer adds EOS but tokenizer.ggml.eos_token_id is missing", g->path);
    return 0;
}

static int token_type(const TokInfo *t, size_t i) {
    return t->types ? (int)gguf_arr_int(t->types, i) : TOKEN_NORMAL;
}

// Token i as a NUL-terminated string (malloc'd); the caller has checked it is valid UTF-8.
static char *token_cstr(const TokInfo *t, size_t i) {
    char *s = mallocCheck(t->tokens->strs[i].len + 1);
    memcpy(s, t->tokens->strs[i].ptr, t->tokens->strs[i].len);
    s[t->tokens->strs[i].len] = 0;
    return s;
}

// JSON text plus a final newline; flags: JSON_COMPACT for the large tokenizer.json.
static char *dump(json_t *root, size_t flags, const Gguf *g, const char *what, char *err, size_t errlen) {
    char *s = json_dumps(root, flags);
    json_decref(root);
    if (!s) {
        rlvr_err(err, errlen, "gguf '%s': cannot serialise %s", g->path, what);
        return NULL;
    }
    size_t n = strlen(s);
    char *out = mallocCheck(n + 2);
    memcpy(out, s, n);
    out[n] = '\n';
    out[n + 1] = 0;
    free(s);
    return out;
}

char *gguf_tokenizer_json(const Gguf *g, char *err, size_t errlen) {
    TokInfo t;
    if (tok_info(g, &t, err, errlen) != 0) return NULL;
    const Family *f = t.family;
    json_t *vocab = json_object(), *added = json_array(), *merges = json_array();
    int rc = 0;
    for (size_t i = 0; i < t.tokens->count && rc == 0; i++) {
        int type = token_type(&t, i);
        if ((type == TOKEN_USER_DEFINED || type == TOKEN_UNUSED) && is_pad_placeholder(&t.tokens->strs[i], i)) continue;
        json_t *s = str_at(t.tokens, i);
        if (!s) { rc = rlvr_err(err, errlen, "gguf '%s': token %zu of tokenizer.ggml.tokens is not valid UTF-8", g->path, i); break; }
        const char *key = json_string_value(s);
        if (strlen(key) != t.tokens->strs[i].len || json_object_get(vocab, key)) {
            rc = rlvr_err(err, errlen, "gguf '%s': token %zu '%s' of tokenizer.ggml.tokens %s", g->path, i, key,
                          strlen(key) != t.tokens->strs[i].len ? "holds a NUL byte" : "appears twice in the vocabulary");
            json_decref(s);
            break;
        }
        json_object_set_new(vocab, key, json_integer((json_int_t)i));
        if (type == TOKEN_CONTROL || type == TOKEN_USER_DEFINED)
            json_array_append_new(added, json_pack("{s:I, s:O, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)i, "content", s, "single_word", 0,
                                                   "lstrip", 0, "rstrip", 0, "normalized", 0, "special", type == TOKEN_CONTROL));
        json_decref(s);
    }
    for (size_t i = 0; i < t.merges->count && rc == 0; i++) {
        const GgufStr *m = &t.merges->strs[i];
        const char *sp = memchr(m->ptr, ' ', m->len);
        size_t a = sp ? (size_t)(sp - m->ptr) : 0;
        if (!sp || a == 0 || a + 1 >= m->len || memchr(sp + 1, ' ', m->len - a - 1)) {
            rc = rlvr_err(err, errlen, "gguf '%s': merge %zu of tokenizer.ggml.merges (offset %zu) is not two tokens separated by one space",
                          g->path, i, (size_t)((const unsigned char *)m->ptr - g->map));
            break;
        }
        json_t *l = json_stringn(m->ptr, a), *r = json_stringn(sp + 1, m->len - a - 1);
        if (!l || !r) {
            json_decref(l);
            json_decref(r);
            rc = rlvr_err(err, errlen, "gguf '%s': merge %zu of tokenizer.ggml.merges is not valid UTF-8", g->path, i);
            break;
        }
        json_array_append_new(merges, json_pack("[o, o]", l, r));
    }
    if (rc != 0) {
        json_decref(vocab);
        json_decref(added);
        json_decref(merges);
        return NULL;
    }
    char *bos = t.add_bos ? token_cstr(&t, (size_t)t.bos_id) : NULL, *eos = t.add_eos ? token_cstr(&t, (size_t)t.eos_id) : NULL;
    json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                              "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                              "ignore_merges", f->ignore_merges, "vocab", vocab, "merges", merges);
    json_t *root = json_pack("{s:s, s:n, s:n, s:o, s:o, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation", "padding",
                             "added_tokens", added, "normalizer", f->nfc ? json_pack("{s:s}", "type", "NFC") : json_null(),
                             "pre_tokenizer", pre_tokenizer(f), "post_processor", post_processor(f, bos, t.bos_id, eos, t.eos_id),
                             "decoder", byte_level(f->dec_bl), "model", model);
    free(bos);
    free(eos);
    if (!root) {
        rlvr_err(err, errlen, "gguf '%s': cannot build tokenizer.json", g->path);
        return NULL;
    }
    return dump(root, JSON_COMPACT, g, "tokenizer.json", err, errlen);
}

char *gguf_chat_template(const Gguf *g) {
    char *s = NULL, err[8];
    return gguf_get_str(g, "tokenizer.chat_template", &s, err, sizeof(err)) == 0 ? s : NULL;
}

char *gguf_tokenizer_config_json(const Gguf *g, char *err, size_t errlen) {
    TokInfo t;
    if (tok_info(g, &t, err, errlen) != 0) return NULL;
    json_t *root = json_object();
    json_object_set_new(root, "add_bos_token", json_boolean(t.add_bos));
    json_object_set_new(root, "add_eos_token", json_boolean(t.add_eos));
    static const char *const NAMES[] = {"bos_token", "eos_token", "pad_token", "unk_token"};
    int ids[] = {t.bos_id, t.eos_id, t.pad_id, t.unk_id};
    for (int k = 0; k < 4; k++) {
        json_t *v = ids[k] >= 0 ? str_at(t.tokens, (size_t)ids[k]) : json_null();
        json_object_set_new(root, NAMES[k], v ? v : json_null());
    }
    char *tmpl = gguf_chat_template(g);
    if (tmpl) {
        json_t *v = json_string(tmpl);
        free(tmpl);
        if (!v) {
            json_decref(root);
            rlvr_err(err, errlen, "gguf '%s': tokenizer.chat_template is not valid UTF-8", g->path);
            return NULL;
        }
        json_object_set_new(root, "chat_template", v);
    }
    json_object_set_new(root, "clean_up_tokenization_spaces", json_false());
    long long ctx = 0;
    char *arch = NULL, key[160], kerr[256];
    if (gguf_get_str(g, "general.architecture", &arch, kerr, sizeof(kerr)) == 0) {
        snprintf(key, sizeof(key), "%s.context_length", arch);
        if (gguf_get_int(g, key, &ctx, kerr, sizeof(kerr)) == 0 && ctx > 0) json_object_set_new(root, "model_max_length", json_integer(ctx));
        free(arch);
    }
    json_object_set_new(root, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
    return dump(root, JSON_INDENT(2), g, "tokenizer_config.json", err, errlen);
}
