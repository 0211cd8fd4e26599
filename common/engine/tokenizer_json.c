// tokenizer.json (and tokenizer_config.json) -> a byte-level BPE tokenizer. Every error names the
// file and the field ("model.merges[12]", "pre_tokenizer.pretokenizers[1].type") and what is wrong.
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/core/check.h"
#include "common/engine/tokenizer_impl.h"

#define TOK_MAX_ID (1 << 28)   // ids above this are refused (tables are sized by the largest id)

typedef struct {
    const char *src;
    char *err;
    size_t errlen;
} Ctx;

static int fail(Ctx *c, const char *field, const char *fmt, ...) RLVR_PRINTF(3, 4);
static int fail(Ctx *c, const char *field, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rlvr_err(c->err, c->errlen, "tokenizer '%s': %s: %s", c->src, field, msg);
}

static const char *type_of(json_t *o) {
    json_t *t = json_object_get(o, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

// A boolean option: absent or null -> dflt.
static int get_bool(Ctx *c, json_t *o, const char *key, const char *field, int dflt, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) { *out = dflt; return 0; }
    if (!json_is_boolean(v)) return fail(c, field, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

// ---- normalizer ------------------------------------------------------------------------------------

static int parse_normalizer(Ctx *c, TokBpe *b, json_t *n, const char *field) {
    if (!n || json_is_null(n)) return 0;
    if (!json_is_object(n)) return fail(c, field, "must be an object or null");
    const char *ty = type_of(n);
    if (!ty) return fail(c, field, "'type' is missing");
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list)) return fail(c, field, "a Sequence needs a 'normalizers' list");
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[192];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", field, i);
            if (parse_normalizer(c, b, json_array_get(list, i), sub) != 0) return -1;
        }
        return 0;
    }
    int k = !strcmp(ty, "NFC") ? NORM_NFC : !strcmp(ty, "NFD") ? NORM_NFD : !strcmp(ty, "NFKC") ? NORM_NFKC
          : !strcmp(ty, "NFKD") ? NORM_NFKD : NORM_NONE;
    if (k == NORM_NONE)
        return fail(c, field, "type '%s' is not supported (supported: NFC, NFD, NFKC, NFKD, Sequence of them)", ty);
    if (b->n_norm == TOK_MAX_NORM) return fail(c, field, "more than %d normalizers", TOK_MAX_NORM);
    b->norm[b->n_norm++] = k;
    return 0;
}

// ---- pre-tokenizer ---------------------------------------------------------------------------------

static int add_step(Ctx *c, TokBpe *b, const char *field, TokPreStep st) {
    if (b->n_pre == TOK_MAX_PRE) return fail(c, field, "more than %d pre-tokenizer steps", TOK_MAX_PRE);
    if (b->n_pre > 0 && b->pre[b->n_pre - 1].kind == PRE_BYTELEVEL)
        return fail(c, field, "a step after ByteLevel would see the byte-level alphabet, not the text; not supported");
    b->pre[b->n_pre++] = st;
    return 0;
}

static int parse_pre(Ctx *c, TokBpe *b, json_t *p, const char *field) {
    if (!p || json_is_null(p)) return 0;
    if (!json_is_object(p)) return fail(c, field, "must be an object or null");
    const char *ty = type_of(p);
    if (!ty) return fail(c, field, "'type' is missing");
    TokPreStep st;
    memset(&st, 0, sizeof st);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list)) return fail(c, field, "a Sequence needs a 'pretokenizers' list");
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[192];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", field, i);
            if (parse_pre(c, b, json_array_get(list, i), sub) != 0) return -1;
        }
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        int use_regex = 1;
        st.kind = PRE_BYTELEVEL;
        if (get_bool(c, p, "add_prefix_space", field, 1, &st.add_prefix_space) || get_bool(c, p, "use_regex", field, 1, &use_regex)) return -1;
        if (use_regex) {
            char e2[256];
            st.re = tok_regex_compile(TOK_GPT2_PATTERN, e2, sizeof e2);
            if (!st.re) return fail(c, field, "%s", e2);
        }
        return add_step(c, b, field, st);
    }
    if (!strcmp(ty, "Digits")) {
        st.kind = PRE_DIGITS;
        if (get_bool(c, p, "individual_digits", field, 0, &st.individual_digits)) return -1;
        return add_step(c, b, field, st);
    }
    if (!strcmp(ty, "Split")) {
        st.kind = PRE_SPLIT;
        json_t *pat = json_object_get(p, "pattern");
        json_t *re = json_object_get(pat, "Regex"), *lit = json_object_get(pat, "String");
        if (json_is_string(re)) {
            char e2[256];
            st.re = tok_regex_compile(json_string_value(re), e2, sizeof e2);
            if (!st.re) return fail(c, field, "pattern.Regex: %s", e2);
        } else if (json_is_string(lit)) {
            st.lit_len = json_string_length(lit);
            st.literal = mallocCheck(st.lit_len + 1);
            memcpy(st.literal, json_string_value(lit), st.lit_len + 1);
        } else {
            return fail(c, field, "'pattern' must be {\"Regex\": \"...\"} or {\"String\": \"...\"}");
        }
        json_t *bh = json_object_get(p, "behavior");
        const char *bs = json_is_string(bh) ? json_string_value(bh) : "";
        st.behavior = !strcmp(bs, "Removed") ? SPLIT_REMOVED : !strcmp(bs, "Isolated") ? SPLIT_ISOLATED
                    : !strcmp(bs, "MergedWithPrevious") ? SPLIT_MERGED_PREV : !strcmp(bs, "MergedWithNext") ? SPLIT_MERGED_NEXT
                    : !strcmp(bs, "Contiguous") ? SPLIT_CONTIGUOUS : -1;
        if (st.behavior < 0 || get_bool(c, p, "invert", field, 0, &st.invert)) {
            tok_regex_free(st.re);
            free(st.literal);
            return st.behavior < 0 ? fail(c, field, "behavior '%s' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", bs) : -1;
        }
        if (add_step(c, b, field, st) != 0) { tok_regex_free(st.re); free(st.literal); return -1; }
        return 0;
    }
    return fail(c, field, "type '%s' is not supported (supported: ByteLevel, Split, Digits, Sequence of them; "
                "only byte-level BPE tokenizers such as Qwen2, LLaMA-3, GPT-2 and SmolLM load)", ty);
}

// ---- post-processor and decoder --------------------------------------------------------------------

static int parse_template(Ctx *c, TokBpe *b, json_t *p, const char *field) {
    json_t *single = json_object_get(p, "single"), *sp = json_object_get(p, "special_tokens");
    if (!json_is_array(single)) return fail(c, field, "TemplateProcessing needs a 'single' list");
    int seen_seq = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *it = json_array_get(single, i), *st = json_object_get(it, "SpecialToken");
        if (json_object_get(it, "Sequence")) { seen_seq = 1; continue; }
        json_t *name = json_object_get(st, "id");
        if (!json_is_string(name)) return fail(c, field, "single[%zu] is neither a Sequence nor a SpecialToken with an 'id'", i);
        json_t *ids = json_object_get(json_object_get(sp, json_string_value(name)), "ids");
        if (!json_is_array(ids)) return fail(c, field, "special_tokens['%s'].ids is missing", json_string_value(name));
        for (size_t k = 0; k < json_array_size(ids); k++) {
            json_t *v = json_array_get(ids, k);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= TOK_MAX_ID)
                return fail(c, field, "special_tokens['%s'].ids[%zu] is not a token id", json_string_value(name), k);
            int *arr = seen_seq ? b->suffix : b->prefix, *n = seen_seq ? &b->n_suffix : &b->n_prefix;
            if (*n == TOK_MAX_POST) return fail(c, field, "more than %d special tokens around the text", TOK_MAX_POST);
            arr[(*n)++] = (int)json_integer_value(v);
        }
    }
    return 0;
}

static int parse_post(Ctx *c, TokBpe *b, json_t *p, const char *field) {
    if (!p || json_is_null(p)) return 0;
    const char *ty = json_is_object(p) ? type_of(p) : NULL;
    if (!ty) return fail(c, field, "must be an object with a 'type', or null");
    if (!strcmp(ty, "ByteLevel")) return 0;   // offsets only
    if (!strcmp(ty, "TemplateProcessing")) return parse_template(c, b, p, field);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(p, "processors");
        if (!json_is_array(list)) return fail(c, field, "a Sequence needs a 'processors' list");
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[192];
            snprintf(sub, sizeof sub, "%s.processors[%zu]", field, i);
            if (parse_post(c, b, json_array_get(list, i), sub) != 0) return -1;
        }
        return 0;
    }
    return fail(c, field, "type '%s' is not supported (supported: ByteLevel, TemplateProcessing, Sequence)", ty);
}

static int check_decoder(Ctx *c, json_t *d, const char *field) {
    if (!d || json_is_null(d)) return 0;
    const char *ty = json_is_object(d) ? type_of(d) : NULL;
    if (!ty) return fail(c, field, "must be an object with a 'type', or null");
    if (!strcmp(ty, "ByteLevel")) return 0;
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(d, "decoders");
        if (!json_is_array(list)) return fail(c, field, "a Sequence needs a 'decoders' list");
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[192];
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", field, i);
            if (check_decoder(c, json_array_get(list, i), sub) != 0) return -1;
        }
        return 0;
    }
    return fail(c, field, "type '%s' is not supported (a byte-level BPE tokenizer decodes with ByteLevel)", ty);
}

// ---- the model -------------------------------------------------------------------------------------

static int parse_model_options(Ctx *c, TokBpe *b, json_t *m) {
    const char *ty = type_of(m);
    if (ty && strcmp(ty, "BPE") != 0)
        return fail(c, "model.type", "'%s' is not supported (supported: BPE; WordPiece, Unigram and WordLevel models do not load)", ty);
    if (!ty && !(json_object_get(m, "vocab") && json_object_get(m, "merges")))
        return fail(c, "model.type", "missing, and the model has no vocab + merges (not a BPE model)");
    int bf = 0;
    if (get_bool(c, m, "byte_fallback", "model", 0, &bf)) return -1;
    if (bf) return fail(c, "model.byte_fallback", "true (SentencePiece-style BPE with <0x..> byte tokens) is not supported; only byte-level BPE");
    const char *affix[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(m, affix[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
            char f[64];
            snprintf(f, sizeof f, "model.%s", affix[i]);
            return fail(c, f, "must be null or \"\" (subword affixes are not supported)");
        }
    }
    json_t *dp = json_object_get(m, "dropout");
    if (dp && !json_is_null(dp) && !(json_is_number(dp) && json_number_value(dp) == 0.0))
        return fail(c, "model.dropout", "BPE dropout is a training-time option; it must be null");
    if (get_bool(c, m, "ignore_merges", "model", 0, &b->ignore_merges) || get_bool(c, m, "fuse_unk", "model", 0, &b->fuse_unk)) return -1;
    return 0;
}

// The vocabulary: ids and their bytes. Entries outside the byte-level alphabet (rare: e.g. a special
// token listed in the vocabulary too) decode to their raw UTF-8, as HF's ByteLevel decoder does, and
// can never be produced by merges.
static int parse_vocab(Ctx *c, TokBpe *b, json_t *vocab) {
    if (!json_is_object(vocab)) return fail(c, "model.vocab", "must be an object {token: id}");
    if (json_object_size(vocab) == 0) return fail(c, "model.vocab", "is empty");
    const char *key;
    json_t *v;
    TokBuf bytes = {0};
    int rc = 0;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= TOK_MAX_ID) {
            rc = fail(c, "model.vocab", "the id of '%s' is not an integer in [0, %d)", key, TOK_MAX_ID);
            break;
        }
        int id = (int)json_integer_value(v);
        size_t klen = strlen(key);
        int mapped = bytelevel_to_bytes(key, klen, &bytes) == 0;
        const char *bs = mapped ? bytes.p : key;
        size_t bn = mapped ? bytes.n : klen;
        if (bpe_set_token(b, id, bs, bn) != 0) { rc = fail(c, "model.vocab", "id %d is given to two tokens (one is '%s')", id, key); break; }
        if (mapped) {
            bpe_vocab_put(b, id);
            if (bn == 1) b->byte_id[(unsigned char)bs[0]] = id;
        }
    }
    tokbuf_free(&bytes);
    return rc;
}

// One merge "a b" (or ["a", "b"]) at rank r: the ids of a, b and ab, looked up by their vocab strings
// as HF does (a missing one is an error there too).
static int parse_merges(Ctx *c, TokBpe *b, json_t *vocab, json_t *merges) {
    if (!json_is_array(merges)) return fail(c, "model.merges", "must be a list of \"a b\" strings or [\"a\", \"b\"] pairs");
    TokBuf ta = {0}, tb = {0}, tab = {0};
    int rc = 0;
    for (size_t r = 0; r < json_array_size(merges) && rc == 0; r++) {
        json_t *m = json_array_get(merges, r);
        const char *a = NULL, *bb = NULL;
        size_t alen = 0, blen = 0;
        char field[64];
        snprintf(field, sizeof field, "model.merges[%zu]", r);
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) { rc = fail(c, field, "'%s' is not two tokens separated by one space", s); break; }
            a = s; alen = (size_t)(sp - s);
            bb = sp + 1; blen = strlen(bb);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)); alen = json_string_length(json_array_get(m, 0));
            bb = json_string_value(json_array_get(m, 1)); blen = json_string_length(json_array_get(m, 1));
        } else {
            rc = fail(c, field, "must be a string \"a b\" or a pair [\"a\", \"b\"]");
            break;
        }
        ta.n = 0; tokbuf_put(&ta, a, alen);
        tb.n = 0; tokbuf_put(&tb, bb, blen);
        tab.n = 0; tokbuf_put(&tab, a, alen); tokbuf_put(&tab, bb, blen);
        json_t *ia = json_object_get(vocab, ta.p), *ib = json_object_get(vocab, tb.p), *iab = json_object_get(vocab, tab.p);
        if (!ia || !ib || !iab) {
            const char *which = !ia ? "the left token" : !ib ? "the right token" : "the merged token";
            rc = fail(c, field, "%s of '%.*s %.*s' is not in model.vocab", which, (int)alen, a, (int)blen, bb);
            break;
        }
        int la = (int)json_integer_value(ia), lb = (int)json_integer_value(ib), lab = (int)json_integer_value(iab);
        // A part outside the byte-level alphabet is never a symbol, so its merge can never apply.
        if (b->vlen[la] && b->vlen[lb] && b->vlen[lab]) bpe_merge_put(b, la, lb, (int)r, lab);
    }
    tokbuf_free(&ta); tokbuf_free(&tb); tokbuf_free(&tab);
    return rc;
}

// Normalizes s with the tokenizer's normalizer (for normalized added tokens) into out.
static void normalize_text(const TokBpe *b, const char *s, size_t n, TokBuf *out) {
    out->n = 0;
    tokbuf_put(out, s, n);
    for (int k = 0; k < b->n_norm; k++) {
        utf8proc_option_t opt = UTF8PROC_STABLE;
        opt |= b->norm[k] == NORM_NFC || b->norm[k] == NORM_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
        if (b->norm[k] == NORM_NFKC || b->norm[k] == NORM_NFKD) opt |= UTF8PROC_COMPAT;
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)out->p, (utf8proc_ssize_t)out->n, &dst, opt);
        if (m >= 0) { out->n = 0; tokbuf_put(out, dst, (size_t)m); }
        free(dst);
    }
}

static int parse_added(Ctx *c, TokBpe *b, json_t *list) {
    if (!list || json_is_null(list)) return 0;
    if (!json_is_array(list)) return fail(c, "added_tokens", "must be a list");
    size_t n = json_array_size(list);
    b->added = callocCheck(n ? n : 1, sizeof(TokAdded));
    TokBuf bytes = {0}, norm = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *o = json_array_get(list, i), *id = json_object_get(o, "id"), *ct = json_object_get(o, "content");
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%zu]", i);
        if (!json_is_object(o) || !json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= TOK_MAX_ID || !json_is_string(ct)) {
            rc = fail(c, field, "needs an integer 'id' in [0, %d) and a string 'content'", TOK_MAX_ID);
            break;
        }
        TokAdded a;
        memset(&a, 0, sizeof a);
        a.id = (int)json_integer_value(id);
        a.len = json_string_length(ct);
        if (get_bool(c, o, "special", field, 0, &a.special) || get_bool(c, o, "single_word", field, 0, &a.single_word) ||
            get_bool(c, o, "lstrip", field, 0, &a.lstrip) || get_bool(c, o, "rstrip", field, 0, &a.rstrip) ||
            get_bool(c, o, "normalized", field, !a.special, &a.normalized)) { rc = -1; break; }
        if (a.len == 0) continue;   // HF ignores empty added tokens
        a.content = mallocCheck(a.len + 1);
        memcpy(a.content, json_string_value(ct), a.len + 1);
        // Decoding: through the byte-level alphabet when every character is in it, else raw (HF's ByteLevel decoder).
        int mapped = bytelevel_to_bytes(a.content, a.len, &bytes) == 0;
        const char *bs = mapped ? bytes.p : a.content;
        size_t bn = mapped ? bytes.n : a.len;
        // An id that is also a model vocab entry (or repeated) decodes as this added token, as in HF's id_to_token.
        bpe_replace_token(b, a.id, bs, bn);
        b->special[a.id] = (uint8_t)a.special;
        int k = b->n_added++;
        b->added[k] = a;
        if (a.normalized) {
            normalize_text(b, a.content, a.len, &norm);
            trie_add(&b->trie_norm, norm.p, norm.n, k);
        } else {
            trie_add(&b->trie_raw, a.content, a.len, k);
        }
    }
    tokbuf_free(&bytes);
    tokbuf_free(&norm);
    return rc;
}

// ---- tokenizer_config.json ---------------------------------------------------------------------------

// A special token entry: "text", {"content": "text", ...} or null.
static const char *token_text(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content"))) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static int parse_config(Ctx *c, Tokenizer *t, const char *config_json) {
    json_error_t je;
    json_t *root = json_loads(config_json, 0, &je);
    if (!root) return fail(c, "tokenizer_config.json", "not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    int rc = 0;
    if (!json_is_object(root)) rc = fail(c, "tokenizer_config.json", "top level is not a JSON object");
    const char *keys[3] = {"bos_token", "eos_token", "pad_token"};
    for (int i = 0; i < 3 && rc == 0; i++) {
        json_t *v = json_object_get(root, keys[i]);
        if (v && !json_is_null(v) && !token_text(v)) {
            char f[64];
            snprintf(f, sizeof f, "tokenizer_config.json %s", keys[i]);
            rc = fail(c, f, "must be a string, {\"content\": ...} or null");
            break;
        }
        const char *s = token_text(v);
        if (!s) continue;
        int id = tokenizer_token_id(t, s);
        if (i == 0) { free(t->bos_token); t->bos_token = strdupCheck(s); if (id >= 0) t->bos_id = id; }
        if (i == 1) { free(t->eos_token); t->eos_token = strdupCheck(s); if (id >= 0) t->eos_id = id; }
        if (i == 2 && id >= 0) t->pad_id = id;
    }
    json_t *ct = json_object_get(root, "chat_template");
    if (rc == 0 && ct && !json_is_null(ct)) {
        const char *tmpl = NULL;
        if (json_is_string(ct)) tmpl = json_string_value(ct);
        else if (json_is_array(ct)) {   // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
            for (size_t i = 0; i < json_array_size(ct); i++) {
                json_t *e = json_array_get(ct, i), *nm = json_object_get(e, "name"), *tp = json_object_get(e, "template");
                if (!json_is_string(tp)) continue;
                if (!tmpl || (json_is_string(nm) && !strcmp(json_string_value(nm), "default"))) tmpl = json_string_value(tp);
            }
        }
        if (!tmpl) rc = fail(c, "tokenizer_config.json chat_template", "must be a string or a list of {\"name\", \"template\"}");
        else t->chat_template = strdupCheck(tmpl);
    }
    json_decref(root);
    return rc;
}

// ---- the whole file --------------------------------------------------------------------------------

int bpe_load_json(TokBpe *b, Tokenizer *t, const char *json, const char *config_json, const char *source,
                  char *err, size_t errlen) {
    Ctx c = {source && source[0] ? source : "(text)", err, errlen};
    if (!json) return fail(&c, "tokenizer.json", "no text");
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!root) return fail(&c, "tokenizer.json", "not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    int rc = 0;
    json_t *model = json_object_get(root, "model");
    trie_init(&b->trie_raw);
    trie_init(&b->trie_norm);
    if (!json_is_object(root)) rc = fail(&c, "tokenizer.json", "top level is not a JSON object");
    else if (!json_is_object(model)) rc = fail(&c, "model", "missing or not an object (hint: is this a tokenizer.json of HF tokenizers?)");
    if (rc == 0) rc = parse_model_options(&c, b, model);
    if (rc == 0) rc = parse_normalizer(&c, b, json_object_get(root, "normalizer"), "normalizer");
    if (rc == 0) rc = parse_pre(&c, b, json_object_get(root, "pre_tokenizer"), "pre_tokenizer");
    if (rc == 0) {
        int has_bl = 0;
        for (int i = 0; i < b->n_pre; i++) has_bl |= b->pre[i].kind == PRE_BYTELEVEL;
        if (!has_bl) rc = fail(&c, "pre_tokenizer", "has no ByteLevel step: only byte-level BPE tokenizers are supported (Qwen2, LLaMA-3, GPT-2, SmolLM)");
    }
    if (rc == 0) rc = check_decoder(&c, json_object_get(root, "decoder"), "decoder");
    json_t *vocab = json_object_get(model, "vocab");
    if (rc == 0) bpe_reserve(b, json_object_size(vocab), json_array_size(json_object_get(model, "merges")));
    if (rc == 0) rc = parse_vocab(&c, b, vocab);
    if (rc == 0) {
        json_t *merges = json_object_get(model, "merges");
        if (!merges) rc = fail(&c, "model.merges", "missing (a BPE model needs its merges)");
        else rc = parse_merges(&c, b, vocab, merges);
    }
    json_t *unk = json_object_get(model, "unk_token");
    if (rc == 0 && json_is_string(unk)) {
        json_t *id = json_object_get(vocab, json_string_value(unk));
        if (!id) rc = fail(&c, "model.unk_token", "'%s' is not in model.vocab", json_string_value(unk));
        else b->unk_id = (int)json_integer_value(id);
    }
    if (rc == 0) rc = parse_added(&c, b, json_object_get(root, "added_tokens"));
    if (rc == 0) rc = parse_post(&c, b, json_object_get(root, "post_processor"), "post_processor");
    json_decref(root);
    if (rc != 0) return -1;
    int max_id = -1;
    for (int i = 0; i < b->n_ids; i++)
        if (b->has[i]) max_id = i;
    for (int k = 0; k < b->n_prefix + b->n_suffix; k++) {
        int id = k < b->n_prefix ? b->prefix[k] : b->suffix[k - b->n_prefix];
        if (id > max_id || !b->has[id]) return fail(&c, "post_processor", "special token id %d is not a token of this vocabulary", id);
    }
    t->vocab_size = max_id + 1;
    if (b->n_prefix) t->bos_id = b->prefix[0];
    t->add_bos = b->n_prefix > 0;
    if (config_json && parse_config(&c, t, config_json) != 0) return -1;
    return 0;
}
