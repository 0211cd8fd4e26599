#include "common/tasks/quality.h"
#include "common/core/check.h"

#include <stdlib.h>
#include <string.h>

void quality_params_default(QualityParams *p) {
    p->ngram = 8;
    p->max_repeats = 4;
}

int quality_params_check(const QualityParams *p, char *err, size_t errlen) {
    if (p->ngram < 1 || p->ngram > 1024)
        return rlvr_err(err, errlen, "quality ngram must be in [1, 1024] (got %d)", p->ngram);
    if (p->max_repeats < 2)
        return rlvr_err(err, errlen, "quality max_repeats must be >= 2 (got %d)", p->max_repeats);
    return 0;
}

int count_substr(const char *text, size_t len, const char *needle) {
    size_t k = strlen(needle);
    if (k == 0 || len < k) return 0;
    int n = 0;
    for (size_t i = 0; i + k <= len;) {
        if (memcmp(text + i, needle, k) == 0) { n++; i += k; }
        else i++;
    }
    return n;
}

int is_cjk_codepoint(uint32_t c) {
    return (c >= 0x2E80 && c <= 0x9FFF)      // radicals, CJK punctuation, kana, bopomofo, ext A, unified
        || (c >= 0xAC00 && c <= 0xD7AF)      // hangul syllables
        || (c >= 0xF900 && c <= 0xFAFF)      // compatibility ideographs
        || (c >= 0xFE30 && c <= 0xFE4F)      // compatibility forms
        || (c >= 0xFF00 && c <= 0xFFEF)      // halfwidth and fullwidth forms
        || (c >= 0x20000 && c <= 0x3134F);   // ext B..G and compatibility supplement
}

// Decodes one UTF-8 code point at s (n bytes left). Returns its byte length, or 0 when the bytes are not
// a valid, shortest-form encoding of a scalar value.
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    else if ((c & 0xE0) == 0xC0) { len = 2; v = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; v = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

long count_cjk_utf8(const char *text, size_t len, long *invalid) {
    const unsigned char *s = (const unsigned char *)text;
    long n = 0, bad = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_next(s + i, len - i, &cp);
        if (k == 0) { bad++; i++; continue; }
        if (is_cjk_codepoint(cp)) n++;
        i += k;
    }
    if (invalid) *invalid = bad;
    return n;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

int ngram_repeat_stats(const uint64_t *seq, size_t n, size_t ngram, double *repeat_frac) {
    if (repeat_frac) *repeat_frac = 0.0;
    if (ngram == 0 || n < ngram) return 0;
    size_t total = n - ngram + 1;
    size_t cap = 16;
    while (cap < 2 * total) cap <<= 1;
    // Open addressing: slot holds (start index + 1) of the n-gram's first occurrence and its count.
    size_t *slot = callocCheck(cap, sizeof(size_t));
    int *cnt = callocCheck(cap, sizeof(int));
    int best = 0;
    size_t distinct = 0;
    for (size_t i = 0; i < total; i++) {
        uint64_t h = 0x9E3779B97F4A7C15ULL;
        for (size_t j = 0; j < ngram; j++) h = mix64(h ^ seq[i + j]) + j;
        size_t s = (size_t)h & (cap - 1);
        for (;;) {
            if (slot[s] == 0) { slot[s] = i + 1; cnt[s] = 1; distinct++; break; }
            if (memcmp(seq + slot[s] - 1, seq + i, ngram * sizeof(uint64_t)) == 0) { cnt[s]++; break; }
            s = (s + 1) & (cap - 1);
        }
        if (cnt[s] > best) best = cnt[s];
    }
    free(cnt);
    free(slot);
    if (repeat_frac) *repeat_frac = 1.0 - (double)distinct / (double)total;
    return best;
}

static int is_space(uint32_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x3000;
}

void quality_check_text(const char *text, size_t len, const QualityParams *p, QualityFlags *out) {
    memset(out, 0, sizeof(*out));
    out->boxed_count = count_substr(text, len, "\\boxed{");
    out->bad_boxed = out->boxed_count != 1;
    // Words: runs of non-space code points; a CJK code point is a word of its own, so loops in
    // unspaced Chinese text are seen too. Each word becomes a 64-bit FNV-1a hash.
    const unsigned char *s = (const unsigned char *)text;
    uint64_t *words = mallocCheck((len + 1) * sizeof(uint64_t));
    size_t nw = 0;
    uint64_t h = 0;
    int in_word = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_next(s + i, len - i, &cp);
        if (k == 0) { out->invalid_utf8++; cp = 0xFFFD; k = 1; }
        int cjk = is_cjk_codepoint(cp);
        if (cjk) out->cjk_count++;
        if (is_space(cp) || cjk) {
            if (in_word) { words[nw++] = h; in_word = 0; }
            if (cjk && !is_space(cp)) words[nw++] = 0xC7C7000000000000ULL ^ cp;
        } else {
            if (!in_word) { h = 0xcbf29ce484222325ULL; in_word = 1; }
            for (size_t j = 0; j < k; j++) { h ^= s[i + j]; h *= 0x100000001b3ULL; }
        }
        i += k;
    }
    if (in_word) words[nw++] = h;
    out->words = (long)nw;
    out->has_cjk = out->cjk_count > 0;
    out->max_ngram_count = ngram_repeat_stats(words, nw, (size_t)(p->ngram > 0 ? p->ngram : 1), &out->repeat_frac);
    out->repetitive = out->max_ngram_count >= p->max_repeats;
    out->any = out->bad_boxed || out->has_cjk || out->repetitive;
    free(words);
}
