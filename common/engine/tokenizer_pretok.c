// Encode's pipeline before the BPE model, in HF's order:
//   1. invalid UTF-8 -> U+FFFD (the text HF would have been given)
//   2. added tokens with normalized = false, matched on the raw text (leftmost-longest)
//   3. the normalizer on each remaining piece (utf8proc: NFC / NFD / NFKC / NFKD)
//   4. added tokens with normalized = true, matched on the normalized pieces
//   5. the pre-tokenizer steps, each splitting every piece further (Split with a PCRE2 regular
//      expression or a literal, Digits, ByteLevel's own GPT-2 split and add_prefix_space)
//   6. BPE of every final piece (tokenizer_bpe.c)
// Byte-level mapping itself costs nothing here: the model works on raw bytes (its vocabulary was
// converted from the byte-level alphabet at load), which is the same bijection HF applies to text.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/core/check.h"
#include "common/engine/tokenizer_impl.h"

// ---- added-token trie ------------------------------------------------------------------------------

void trie_init(TokTrie *t) {
    memset(t, 0, sizeof *t);
    t->cap_nodes = 16;
    t->node_tok = mallocCheck((size_t)t->cap_nodes * sizeof(int));
    t->node_tok[0] = -1;
    t->n_nodes = 1;
    t->emask = 63;
    t->ekey = callocCheck(t->emask + 1, sizeof(uint64_t));
    t->eval = mallocCheck((t->emask + 1) * sizeof(int));
}

void trie_free(TokTrie *t) {
    free(t->node_tok); free(t->ekey); free(t->eval);
    memset(t, 0, sizeof *t);
}

static uint64_t edge_hash(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

static int trie_child(const TokTrie *t, int node, unsigned char c) {
    uint64_t key = (((uint64_t)node << 8) | c) + 1;
    for (size_t i = (size_t)edge_hash(key) & t->emask; t->ekey[i]; i = (i + 1) & t->emask)
        if (t->ekey[i] == key) return t->eval[i];
    return -1;
}

static void edge_insert(TokTrie *t, uint64_t key, int child) {
    size_t i = (size_t)edge_hash(key) & t->emask;
    while (t->ekey[i]) i = (i + 1) & t->emask;
    t->ekey[i] = key;
    t->eval[i] = child;
}

void trie_add(TokTrie *t, const char *s, size_t n, int tok) {
    if (n == 0) return;
    int node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ch = trie_child(t, node, c);
        if (ch < 0) {
            if (t->n_nodes == t->cap_nodes) {
                t->cap_nodes *= 2;
                t->node_tok = reallocCheck(t->node_tok, (size_t)t->cap_nodes * sizeof(int));
            }
            ch = t->n_nodes++;
            t->node_tok[ch] = -1;
            if ((size_t)t->n_nodes * 2 > t->emask + 1) {   // grow the edge table at half load
                uint64_t *ok = t->ekey;
                int *ov = t->eval;
                size_t oc = t->emask + 1;
                t->emask = oc * 2 - 1;
                t->ekey = callocCheck(t->emask + 1, sizeof(uint64_t));
                t->eval = mallocCheck((t->emask + 1) * sizeof(int));
                for (size_t k = 0; k < oc; k++)
                    if (ok[k]) edge_insert(t, ok[k], ov[k]);
                free(ok);
                free(ov);
            }
            edge_insert(t, (((uint64_t)node << 8) | c) + 1, ch);
        }
        node = ch;
    }
    if (t->node_tok[node] < 0) t->n_tokens++;
    t->node_tok[node] = tok;   // a repeated content: the later token wins
    t->first[(unsigned char)s[0]] = 1;
}

// The longest token starting at s[0..n): its length, and *tok; 0 when none starts there.
static size_t trie_longest(const TokTrie *t, const unsigned char *s, size_t n, int *tok) {
    int node = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        node = trie_child(t, node, s[i]);
        if (node < 0) break;
        if (t->node_tok[node] >= 0) { best = i + 1; *tok = t->node_tok[node]; }
    }
    return best;
}

// ---- regular expressions ---------------------------------------------------------------------------

// White_Space as a class body: what \s means in Oniguruma (HF's regex engine). PCRE2's own \s also
// matches U+180E, so \s is spelled out rather than left to the library.
#define WS_BODY "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static int translate_pattern(const char *p, TokBuf *out, char *err, size_t errlen) {
    int in_class = 0;
    size_t n = strlen(p);
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 's') {
                if (in_class) tokbuf_put(out, WS_BODY, strlen(WS_BODY));
                else { tokbuf_putc(out, '['); tokbuf_put(out, WS_BODY, strlen(WS_BODY)); tokbuf_putc(out, ']'); }
            } else if (d == 'S') {
                if (in_class) return rlvr_err(err, errlen, "\\S inside a character class is not supported");
                tokbuf_put(out, "[^", 2);
                tokbuf_put(out, WS_BODY, strlen(WS_BODY));
                tokbuf_putc(out, ']');
            } else {
                tokbuf_put(out, p + i, 2);
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            tokbuf_putc(out, c);
            if (i + 1 < n && p[i + 1] == '^') tokbuf_putc(out, p[++i]);
            if (i + 1 < n && p[i + 1] == ']') tokbuf_putc(out, p[++i]);   // a literal ] first in a class
            continue;
        }
        if (c == '[' && in_class && i + 1 < n && p[i + 1] == ':') {   // POSIX [:alpha:] inside a class
            const char *end = strstr(p + i + 2, ":]");
            if (end) {
                size_t k = (size_t)(end - (p + i)) + 2;
                tokbuf_put(out, p + i, k);
                i += k - 1;
                continue;
            }
        }
        if (c == ']' && in_class) in_class = 0;
        tokbuf_putc(out, c);
    }
    if (!out->p) tokbuf_put(out, "", 0);
    return 0;
}

typedef struct { pcre2_code *code; int jit; } TokRegex;

void *tok_regex_compile(const char *pattern, char *err, size_t errlen) {
    TokBuf pat = {0};
    if (translate_pattern(pattern, &pat, err, errlen) != 0) { tokbuf_free(&pat); return NULL; }
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat.p, pat.n, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    tokbuf_free(&pat);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        rlvr_err(err, errlen, "the regular expression does not compile (PCRE2: %s, near offset %zu)", (const char *)msg, (size_t)eo);
        return NULL;
    }
    TokRegex *r = mallocCheck(sizeof *r);
    r->code = code;
    r->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;   // without JIT (some CPUs) it still works, slower
    return r;
}

void tok_regex_free(void *re) {
    TokRegex *r = re;
    if (!r) return;
    pcre2_code_free(r->code);
    free(r);
}

void tok_regex_free_match_data(void *md) {
    if (md) pcre2_match_data_free((pcre2_match_data *)md);
}

// Next match of re in s[0..n) at or after `from`: 1 with [*ms, *me), 0 when there is none. The text
// is valid UTF-8 (repaired at the start), so PCRE2's per-call UTF check (which would rescan the rest
// of the subject every call) is skipped.
static int regex_next(TokBpe *b, const TokRegex *re, const char *s, size_t n, size_t from, size_t *ms, size_t *me) {
    if (!b->match_data) b->match_data = pcre2_match_data_create(8, NULL);
    pcre2_match_data *md = b->match_data;
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, from, 0, md, NULL)
                     : pcre2_match(re->code, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc < 0) return 0;   // PCRE2_ERROR_NOMATCH, or a resource limit: the rest is one unmatched piece
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

// ---- the pre-tokenizer steps -------------------------------------------------------------------------

typedef TokSeg Seg;
typedef TokSegVec SegVec;

static void seg_push(SegVec *v, size_t s, size_t e, int match) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 32;
        v->v = reallocCheck(v->v, v->cap * sizeof(Seg));
    }
    v->v[v->n++] = (Seg){s, e, match};
}

static size_t next_char_len(const unsigned char *s, size_t n) {
    uint32_t cp;
    int k = utf8_char(s, n, &cp);
    return k > 0 ? (size_t)k : 1;
}

// The segments of s[0..n) as HF's Pattern::find_matches gives them: matches and the gaps between.
static void find_segments(TokBpe *b, const TokPreStep *st, const char *s, size_t n, SegVec *out) {
    out->n = 0;
    size_t prev = 0;
    if (st->kind == PRE_DIGITS) {   // each numeric character is its own match
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int k = utf8_char((const unsigned char *)s + i, n - i, &cp);
            if (k <= 0) k = 1, cp = 0xFFFD;
            if (uni_is_numeric(cp)) {
                if (prev < i) seg_push(out, prev, i, 0);
                seg_push(out, i, i + (size_t)k, 1);
                prev = i + (size_t)k;
            }
            i += (size_t)k;
        }
    } else if (st->re) {
        size_t from = 0, ms, me;
        while (from <= n && regex_next(b, st->re, s, n, from, &ms, &me)) {
            if (me == ms) {   // an empty match splits nothing; step over one character
                if (ms >= n) break;
                from = ms + next_char_len((const unsigned char *)s + ms, n - ms);
                continue;
            }
            if (prev < ms) seg_push(out, prev, ms, 0);
            seg_push(out, ms, me, 1);
            prev = from = me;
        }
    } else {   // a literal String pattern
        for (size_t i = 0; st->lit_len && i + st->lit_len <= n;) {
            if (memcmp(s + i, st->literal, st->lit_len) == 0) {
                if (prev < i) seg_push(out, prev, i, 0);
                seg_push(out, i, i + st->lit_len, 1);
                prev = i = i + st->lit_len;
            } else i++;
        }
    }
    if (prev < n) seg_push(out, prev, n, 0);
}

// HF's SplitDelimiterBehavior applied in place to the segments (an inverted pattern flips match).
static void apply_behavior(SegVec *v, int behavior, int invert) {
    size_t k = 0;
    int prev_match = 0;
    if (behavior == SPLIT_MERGED_NEXT) {   // HF folds from the right; so do we, then restore the order
        for (size_t i = 0; i < v->n / 2; i++) { Seg t = v->v[i]; v->v[i] = v->v[v->n - 1 - i]; v->v[v->n - 1 - i] = t; }
    }
    for (size_t i = 0; i < v->n; i++) {
        Seg g = v->v[i];
        int m = invert ? !g.match : g.match;
        switch (behavior) {
        case SPLIT_REMOVED:
            if (!m) v->v[k++] = g;
            break;
        case SPLIT_ISOLATED:
            v->v[k++] = g;
            break;
        case SPLIT_MERGED_PREV:
            if (m && !prev_match && k > 0) v->v[k - 1].e = g.e;
            else v->v[k++] = g;
            break;
        case SPLIT_MERGED_NEXT:
            if (m && !prev_match && k > 0) v->v[k - 1].s = g.s;
            else v->v[k++] = g;
            break;
        case SPLIT_CONTIGUOUS:
            if (m == prev_match && k > 0) v->v[k - 1].e = g.e;
            else v->v[k++] = g;
            break;
        }
        prev_match = m;
    }
    v->n = k;
    if (behavior == SPLIT_MERGED_NEXT) {
        for (size_t i = 0; i < v->n / 2; i++) { Seg t = v->v[i]; v->v[i] = v->v[v->n - 1 - i]; v->v[v->n - 1 - i] = t; }
    }
}

static void pretokenize(TokBpe *b, int depth, const char *s, size_t n, TokIds *out) {
    if (n == 0) return;
    if (depth == b->n_pre) { bpe_encode_piece(b, s, n, out); return; }
    const TokPreStep *st = &b->pre[depth];
    if (st->kind == PRE_BYTELEVEL) {
        if (st->add_prefix_space && s[0] != ' ') {
            TokBuf *pb = &b->spacebuf[depth];
            pb->n = 0;
            tokbuf_putc(pb, ' ');
            tokbuf_put(pb, s, n);
            s = pb->p;
            n = pb->n;
        }
        if (!st->re) { pretokenize(b, depth + 1, s, n, out); return; }
    }
    SegVec *v = &b->seg[depth];
    find_segments(b, st, s, n, v);
    int behavior = st->kind == PRE_SPLIT ? st->behavior : st->kind == PRE_DIGITS && !st->individual_digits ? SPLIT_CONTIGUOUS : SPLIT_ISOLATED;
    if (behavior != SPLIT_ISOLATED || (st->kind == PRE_SPLIT && st->invert)) apply_behavior(v, behavior, st->kind == PRE_SPLIT && st->invert);
    // v is reused by deeper calls at depth + 1 only, so its entries stay put while we walk them.
    for (size_t i = 0; i < v->n; i++) pretokenize(b, depth + 1, s + v->v[i].s, v->v[i].e - v->v[i].s, out);
}

// ---- added tokens ----------------------------------------------------------------------------------

static int ends_with_word(const unsigned char *s, size_t n) {   // Rust regex \w$ on s[0..n)
    if (n == 0) return 0;
    size_t i = n - 1;
    while (i > 0 && (s[i] & 0xC0) == 0x80) i--;
    uint32_t cp;
    return utf8_char(s + i, n - i, &cp) > 0 && uni_is_word(cp);
}

static int starts_with_word(const unsigned char *s, size_t n) {
    uint32_t cp;
    return n > 0 && utf8_char(s, n, &cp) > 0 && uni_is_word(cp);
}

// Start of the maximal run of White_Space characters that ends s[0..n).
static size_t space_run_start(const unsigned char *s, size_t n) {
    size_t i = n;
    while (i > 0) {
        size_t j = i - 1;
        while (j > 0 && (s[j] & 0xC0) == 0x80) j--;
        uint32_t cp;
        if (utf8_char(s + j, i - j, &cp) <= 0 || !uni_is_white_space(cp)) break;
        i = j;
    }
    return i;
}

static size_t space_run_len(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_char(s + i, n - i, &cp);
        if (k <= 0 || !uni_is_white_space(cp)) break;
        i += (size_t)k;
    }
    return i;
}

typedef void (*GapFn)(TokBpe *b, const char *s, size_t n, TokIds *out);

// HF's AddedVocabulary::find_matches: leftmost-longest matches of the trie's tokens, with
// single_word, lstrip and rstrip; the text between them goes to gap().
static void split_added(TokBpe *b, const TokTrie *t, const char *s, size_t n, GapFn gap, TokIds *out) {
    if (t->n_tokens == 0) { gap(b, s, n, out); return; }
    const unsigned char *u = (const unsigned char *)s;
    size_t start_offset = 0, pos = 0;
    while (pos < n) {
        size_t i = pos, len = 0;
        int tok = -1;
        for (; i < n; i++)
            if (t->first[u[i]] && (len = trie_longest(t, u + i, n - i, &tok)) > 0) break;
        if (i >= n) break;
        size_t start = i, stop = i + len;
        pos = stop;   // the next search starts after this match, whatever strip does
        const TokAdded *a = &b->added[tok];
        if (a->single_word) {
            int start_space = start == 0 || !ends_with_word(u, start);
            int stop_space = stop == n || !starts_with_word(u + stop, n - stop);
            if (!start_space || !stop_space) continue;
        }
        if (a->lstrip) {
            size_t ns = space_run_start(u, start);
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) stop += space_run_len(u + stop, n - stop);
        if (start_offset < start) gap(b, s + start_offset, start - start_offset, out);
        tok_ids_push(out, a->id);
        start_offset = stop;
    }
    if (start_offset < n) gap(b, s + start_offset, n - start_offset, out);
}

static void gap_pretokenize(TokBpe *b, const char *s, size_t n, TokIds *out) {
    pretokenize(b, 0, s, n, out);
}

// The normalizer on one piece, then the normalized added tokens, then the pre-tokenizer.
static void gap_normalize(TokBpe *b, const char *s, size_t n, TokIds *out) {
    if (n == 0) return;
    char *owned = NULL;
    for (int k = 0; k < b->n_norm; k++) {
        int norm = b->norm[k];
        int need = 0;
        // NFC leaves text without code points >= U+0300 (lead byte 0xCC) alone; the others change
        // some Latin-1 letters too, so only ASCII is skipped for them.
        for (size_t i = 0; i < n && !need; i++) need = norm == NORM_NFC ? (unsigned char)s[i] >= 0xCC : (unsigned char)s[i] >= 0x80;
        if (!need) continue;
        utf8proc_option_t opt = UTF8PROC_STABLE;
        if (norm == NORM_NFC || norm == NORM_NFKC) opt |= UTF8PROC_COMPOSE;
        else opt |= UTF8PROC_DECOMPOSE;
        if (norm == NORM_NFKC || norm == NORM_NFKD) opt |= UTF8PROC_COMPAT;
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
        if (m < 0) { free(dst); continue; }   // cannot happen on repaired UTF-8; leave the piece as it is
        free(owned);
        owned = (char *)dst;
        s = owned;
        n = (size_t)m;
    }
    split_added(b, &b->trie_norm, s, n, gap_pretokenize, out);
    free(owned);
}

int bpe_encode_text(TokBpe *b, const char *text, size_t len, TokIds *out) {
    if (!utf8_valid((const unsigned char *)text, len)) {
        b->scratch_fix.n = 0;
        utf8_lossy(&b->scratch_fix, (const unsigned char *)text, len);
        text = b->scratch_fix.p;
        len = b->scratch_fix.n;
    }
    split_added(b, &b->trie_raw, text, len, gap_normalize, out);
    return 0;
}
