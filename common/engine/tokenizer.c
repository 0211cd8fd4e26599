#include "common/engine/tokenizer.h"

#include <stdio.h>
#include <string.h>

#include "common/core/check.h"

int tokenizer_init(Tokenizer *t, const char *type, char *err, size_t errlen) {
    memset(t, 0, sizeof(*t));
    if (!type || strcmp(type, "char") != 0)
        return rlvr_err(err, errlen, "unknown tokenizer type '%s' (supported: char; hint: set \"rlvr_tokenizer\": \"char\" in config.json)",
                        type ? type : "(none)");
    snprintf(t->type, sizeof(t->type), "char");
    t->vocab_size = CHAR_TOK_VOCAB;
    t->pad_id = CHAR_TOK_PAD;
    t->bos_id = CHAR_TOK_BOS;
    t->eos_id = CHAR_TOK_EOS;
    return 0;
}

int tokenizer_encode(const Tokenizer *t, const char *text, int *out, char *err, size_t errlen) {
    (void)t;
    int n = 0;
    for (size_t i = 0; text[i]; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\t') c = ' ';
        if (c == '\r') continue;
        if (c != '\n' && (c < 32 || c > 126))
            return rlvr_err(err, errlen, "char tokenizer: byte 0x%02x at offset %zu is not printable ASCII or newline", c, i);
        out[n++] = c;
    }
    return n;
}

size_t tokenizer_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap) {
    size_t len = 0;
    if (cap == 0) return 0;
    for (int i = 0; i < n && len + 1 < cap; i++) {
        if (ids[i] == t->pad_id || ids[i] == t->bos_id || ids[i] == t->eos_id) continue;
        int c = ids[i];
        out[len++] = (c == '\n' || (c >= 32 && c <= 126)) ? (char)c : '?';
    }
    out[len] = 0;
    return len;
}

const char *tokenizer_piece(const Tokenizer *t, int id, char buf[8]) {
    if (id == t->pad_id || id == t->bos_id || id == t->eos_id) { buf[0] = 0; return buf; }
    buf[0] = (id == '\n' || (id >= 32 && id <= 126)) ? (char)id : '?';
    buf[1] = 0;
    return buf;
}
