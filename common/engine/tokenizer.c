// The tokenizer API: the built-in character tokenizer, byte-level BPE (tokenizer_*.c) behind the
// same calls, and the bookkeeping of the ids that start and end sequences.
#include "common/engine/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/tokenizer_impl.h"

static void add_eos(Tokenizer *t, int id) {
    if (id < 0 || id >= t->vocab_size) return;
    for (int i = 0; i < t->n_eos; i++)
        if (t->eos_ids[i] == id) return;
    if (t->n_eos < TOKENIZER_MAX_EOS) t->eos_ids[t->n_eos++] = id;
}

static void clear(Tokenizer *t) {
    memset(t, 0, sizeof *t);
    t->pad_id = t->bos_id = t->eos_id = -1;
}

int tokenizer_init(Tokenizer *t, const char *type, char *err, size_t errlen) {
    clear(t);
    if (!type || strcmp(type, "char") != 0)
        return rlvr_err(err, errlen, "unknown tokenizer type '%s' (supported: char, or a byte-level BPE tokenizer.json; hint: "
                        "put the model's tokenizer.json beside its config.json, or set \"rlvr_tokenizer\": \"char\" in config.json)",
                        type ? type : "(none)");
    snprintf(t->type, sizeof(t->type), "char");
    t->vocab_size = CHAR_TOK_VOCAB;
    t->pad_id = CHAR_TOK_PAD;
    t->bos_id = CHAR_TOK_BOS;
    t->eos_id = CHAR_TOK_EOS;
    t->add_bos = 1;
    add_eos(t, CHAR_TOK_EOS);
    return 0;
}

int tokenizer_load_json(Tokenizer *t, const char *json, const char *config_json, const ModelConfig *cfg,
                        const char *source, char *err, size_t errlen) {
    clear(t);
    snprintf(t->type, sizeof(t->type), "bpe");
    t->bpe = mallocCheck(sizeof(TokBpe));
    bpe_init(t->bpe);
    if (bpe_load_json(t->bpe, t, json, config_json, source, err, errlen) != 0) {
        tokenizer_free(t);
        return -1;
    }
    // The canonical EOS: tokenizer_config.json's eos_token, else the model's first. Every EOS of the
    // model (config.json, generation_config.json) also ends a generation.
    if (cfg) {
        if (t->eos_id < 0 && cfg->n_eos > 0) t->eos_id = cfg->eos_token_ids[0];
        if (t->bos_id < 0) t->bos_id = cfg->bos_token_id;
        if (t->pad_id < 0) t->pad_id = cfg->pad_token_id;
    }
    add_eos(t, t->eos_id);
    for (int i = 0; cfg && i < cfg->n_eos; i++) add_eos(t, cfg->eos_token_ids[i]);
    if (t->eos_id >= t->vocab_size) t->eos_id = -1;
    if (t->bos_id >= t->vocab_size) t->bos_id = -1;
    if (t->pad_id >= t->vocab_size) t->pad_id = -1;
    if (!t->bos_token) t->bos_token = strdupCheck("");
    if (!t->eos_token) t->eos_token = strdupCheck("");
    return 0;
}

int tokenizer_from_model(Tokenizer *t, const Model *m, char *err, size_t errlen) {
    if (m->tokenizer_json)
        return tokenizer_load_json(t, m->tokenizer_json, m->tokenizer_config_json, &m->cfg, "the model's tokenizer.json", err, errlen);
    if (tokenizer_init(t, m->cfg.tokenizer[0] ? m->cfg.tokenizer : NULL, err, errlen) != 0) return -1;
    // The char models of this project say in their config whether prompts start with BOS, and which
    // ids end a sequence (the built-in EOS when the config names none).
    t->add_bos = m->cfg.bos_token_id >= 0;
    if (m->cfg.bos_token_id >= 0 && m->cfg.bos_token_id < t->vocab_size) t->bos_id = m->cfg.bos_token_id;
    if (m->cfg.n_eos > 0) {
        t->n_eos = 0;
        for (int i = 0; i < m->cfg.n_eos; i++) add_eos(t, m->cfg.eos_token_ids[i]);
        if (t->n_eos > 0) t->eos_id = t->eos_ids[0];
    }
    return 0;
}

void tokenizer_free(Tokenizer *t) {
    if (t->bpe) {
        bpe_free(t->bpe);
        free(t->bpe);
    }
    free(t->bos_token);
    free(t->eos_token);
    free(t->chat_template);
    clear(t);
}

// ---- encode ----------------------------------------------------------------------------------------

static int char_encode(const char *text, size_t len, TokIds *out, char *err, size_t errlen) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\t') c = ' ';
        if (c == '\r') continue;
        if (c != '\n' && (c < 32 || c > 126))
            return rlvr_err(err, errlen, "char tokenizer: byte 0x%02x at offset %zu is not printable ASCII or newline", c, i);
        tok_ids_push(out, c);
    }
    return 0;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int flags, TokIds *out, char *err, size_t errlen) {
    if (!t->bpe) {
        if ((flags & TOK_ADD_SPECIAL) && t->add_bos && t->bos_id >= 0) tok_ids_push(out, t->bos_id);
        return char_encode(text, len, out, err, errlen);
    }
    TokBpe *b = t->bpe;
    if (flags & TOK_ADD_SPECIAL)
        for (int i = 0; i < b->n_prefix; i++) tok_ids_push(out, b->prefix[i]);
    if (bpe_encode_text(b, text, len, out) != 0) return rlvr_err(err, errlen, "bpe: encoding failed");
    if (flags & TOK_ADD_SPECIAL)
        for (int i = 0; i < b->n_suffix; i++) tok_ids_push(out, b->suffix[i]);
    return 0;
}

int tokenizer_encode_str(const Tokenizer *t, const char *text, int flags, TokIds *out, char *err, size_t errlen) {
    return tokenizer_encode(t, text, strlen(text), flags, out, err, errlen);
}

int *tokenizer_encode_alloc(const Tokenizer *t, const char *text, int flags, int *n, char *err, size_t errlen) {
    TokIds ids = {0};
    if (tokenizer_encode_str(t, text, flags, &ids, err, errlen) != 0) { tok_ids_free(&ids); return NULL; }
    tok_ids_push(&ids, 0);   // the room for one more (and never a NULL array)
    *n = (int)ids.n - 1;
    return ids.ids;
}

// ---- token lookups ---------------------------------------------------------------------------------

static int char_special(const Tokenizer *t, int id) {
    return id == CHAR_TOK_PAD || id == CHAR_TOK_BOS || id == CHAR_TOK_EOS || id == t->pad_id || id == t->bos_id || id == t->eos_id;
}

int tokenizer_is_special(const Tokenizer *t, int id) {
    if (id < 0 || id >= t->vocab_size) return 0;
    if (!t->bpe) return char_special(t, id);
    return t->bpe->special[id];
}

int tokenizer_is_eos(const Tokenizer *t, int id) {
    for (int i = 0; i < t->n_eos; i++)
        if (t->eos_ids[i] == id) return 1;
    return 0;
}

int tokenizer_token_id(const Tokenizer *t, const char *text) {
    size_t n = strlen(text);
    if (!t->bpe) {
        if (n == 1 && (text[0] == '\n' || (text[0] >= 32 && text[0] <= 126))) return (unsigned char)text[0];
        return -1;
    }
    const TokBpe *b = t->bpe;
    for (int i = b->n_added - 1; i >= 0; i--)   // the later of two equal contents wins, as in the trie
        if (b->added[i].len == n && memcmp(b->added[i].content, text, n) == 0) return b->added[i].id;
    TokBuf bytes = {0};
    int id = bytelevel_to_bytes(text, n, &bytes) == 0 ? bpe_vocab_get(b, bytes.p, bytes.n) : -1;
    tokbuf_free(&bytes);
    return id;
}
