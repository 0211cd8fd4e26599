// ids -> text. A byte-level token is bytes, not characters: the bytes of all the ids are joined and
// then read as UTF-8, each maximal invalid subsequence becoming U+FFFD (what HF's ByteLevel decoder
// does with String::from_utf8_lossy). The streaming decoder gives the same text piece by piece,
// holding back only the bytes of a character that the next token may complete.
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/tokenizer_impl.h"

const char *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len) {
    static const char CHAR_TEXT[CHAR_TOK_VOCAB] = {
#define C(x) [x] = (char)(x)
        C('\n'), C(' '), C('!'), C('"'), C('#'), C('$'), C('%'), C('&'), C('\''), C('('), C(')'), C('*'), C('+'), C(','),
        C('-'), C('.'), C('/'), C('0'), C('1'), C('2'), C('3'), C('4'), C('5'), C('6'), C('7'), C('8'), C('9'), C(':'),
        C(';'), C('<'), C('='), C('>'), C('?'), C('@'), C('A'), C('B'), C('C'), C('D'), C('E'), C('F'), C('G'), C('H'),
        C('I'), C('J'), C('K'), C('L'), C('M'), C('N'), C('O'), C('P'), C('Q'), C('R'), C('S'), C('T'), C('U'), C('V'),
        C('W'), C('X'), C('Y'), C('Z'), C('['), C('\\'), C(']'), C('^'), C('_'), C('`'), C('a'), C('b'), C('c'), C('d'),
        C('e'), C('f'), C('g'), C('h'), C('i'), C('j'), C('k'), C('l'), C('m'), C('n'), C('o'), C('p'), C('q'), C('r'),
        C('s'), C('t'), C('u'), C('v'), C('w'), C('x'), C('y'), C('z'), C('{'), C('|'), C('}'), C('~'),
#undef C
    };
    if (id < 0 || id >= t->vocab_size) { *len = 0; return NULL; }
    if (!t->bpe) {
        if (CHAR_TEXT[id]) { *len = 1; return &CHAR_TEXT[id]; }
        *len = 0;
        return "";
    }
    const TokBpe *b = t->bpe;
    if (!b->has[id]) { *len = 0; return NULL; }
    *len = b->len[id];
    return b->pool + b->off[id];
}

// The bytes of one id as decode joins them. char: specials (pad, BOS, EOS) are empty, other ids
// outside printable ASCII and '\n' become '?'. bpe: unknown ids and (with TOK_SKIP_SPECIAL) specials
// are empty.
static const char *id_bytes(const Tokenizer *t, int id, int flags, size_t *len) {
    if (!t->bpe) {
        if (id >= 0 && id < t->vocab_size && tokenizer_is_special(t, id)) { *len = 0; return ""; }
        const char *p = tokenizer_token_bytes(t, id, len);
        if (!p || *len == 0) { *len = 1; return "?"; }
        return p;
    }
    if ((flags & TOK_SKIP_SPECIAL) && tokenizer_is_special(t, id)) { *len = 0; return ""; }
    const char *p = tokenizer_token_bytes(t, id, len);
    if (!p) { *len = 0; return ""; }
    return p;
}

static void buf_reserve(char **buf, size_t *cap, size_t need) {
    if (*buf && need <= *cap) return;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    *buf = reallocCheck(*buf, c);
    *cap = c;
}

size_t tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, int flags, char **buf, size_t *cap) {
    TokBuf raw = {0};
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = id_bytes(t, ids[i], flags, &len);
        tokbuf_put(&raw, p, len);
    }
    size_t out_len;
    if (!raw.p || utf8_valid((const unsigned char *)raw.p, raw.n)) {
        out_len = raw.n;
        buf_reserve(buf, cap, out_len + 1);
        if (out_len) memcpy(*buf, raw.p, out_len);
    } else {
        TokBuf fixed = {0};
        utf8_lossy(&fixed, (const unsigned char *)raw.p, raw.n);
        out_len = fixed.n;
        buf_reserve(buf, cap, out_len + 1);
        memcpy(*buf, fixed.p, out_len);
        tokbuf_free(&fixed);
    }
    (*buf)[out_len] = 0;
    tokbuf_free(&raw);
    return out_len;
}

// ---- streaming -------------------------------------------------------------------------------------

void tok_stream_init(TokStream *s, const Tokenizer *t, int flags) {
    memset(s, 0, sizeof *s);
    s->tok = t;
    s->flags = flags;
}

// Emits pend + bytes, keeping back a trailing incomplete character.
static const char *stream_emit(TokStream *s, const char *bytes, size_t n, int final, size_t *len) {
    TokBuf raw = {0};
    tokbuf_put(&raw, s->pend, (size_t)s->npend);
    tokbuf_put(&raw, bytes, n);
    size_t keep = 0;
    if (!final) {
        // The last character start among the final 3 bytes: keep it back if it is a valid prefix.
        for (size_t back = 1; back <= 3 && back <= raw.n; back++) {
            unsigned char c = (unsigned char)raw.p[raw.n - back];
            if ((c & 0xC0) == 0x80) continue;   // a continuation byte: look further back
            int k = utf8_incomplete((const unsigned char *)raw.p + raw.n - back, back);
            if (k == (int)back) keep = back;
            break;
        }
    }
    s->npend = (int)keep;
    if (keep) memcpy(s->pend, raw.p + raw.n - keep, keep);
    TokBuf out = {0};
    utf8_lossy(&out, (const unsigned char *)(raw.p ? raw.p : ""), raw.n - keep);
    size_t m = out.n;
    buf_reserve(&s->buf, &s->cap, m + 1);
    if (m) memcpy(s->buf, out.p, m);
    s->buf[m] = 0;
    tokbuf_free(&raw);
    tokbuf_free(&out);
    *len = m;
    return s->buf;
}

const char *tok_stream_push(TokStream *s, int id, size_t *len) {
    size_t n;
    const char *p = id_bytes(s->tok, id, s->flags, &n);
    return stream_emit(s, p, n, 0, len);
}

const char *tok_stream_finish(TokStream *s, size_t *len) {
    const char *r = stream_emit(s, "", 0, 1, len);
    s->npend = 0;
    return r;
}

void tok_stream_free(TokStream *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}
