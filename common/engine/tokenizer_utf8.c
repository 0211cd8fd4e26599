// UTF-8 and Unicode helpers of the tokenizer: validation, U+FFFD repair, the character classes the
// pipeline needs outside PCRE2 (from utf8proc's tables), GPT-2's byte-level alphabet, small buffers.
#include <string.h>
#include <utf8proc.h>

#include "common/core/check.h"
#include "common/engine/tokenizer_impl.h"

void tokbuf_put(TokBuf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1) c *= 2;
        b->p = reallocCheck(b->p, c);
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;   // always terminated, so callers may use p as a string
}

void tokbuf_putc(TokBuf *b, char c) { tokbuf_put(b, &c, 1); }

void tokbuf_free(TokBuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void tok_ids_push(TokIds *v, int id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->ids = reallocCheck(v->ids, v->cap * sizeof(int));
    }
    v->ids[v->n++] = id;
}

void tok_ids_free(TokIds *v) {
    free(v->ids);
    memset(v, 0, sizeof *v);
}

// A fast 64-bit hash of short byte strings (pre-tokens are a few bytes). Never 0: 0 marks an empty slot.
uint64_t tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0x94D049BB133111EBull;
        h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h ? h : 1;
}

// ---- UTF-8 -----------------------------------------------------------------------------------------

// The second byte's valid range after each lead byte (Unicode Table 3-7): this is what rules out
// overlong forms, surrogates and code points above U+10FFFF.
static int second_ok(unsigned char lead, unsigned char b) {
    if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
    if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
    if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
    if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
    return b >= 0x80 && b <= 0xBF;
}

static int lead_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

int utf8_char(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    int k = lead_len(s[0]);
    if (k == 0 || (size_t)k > n) return 0;
    if (k == 1) { *cp = s[0]; return 1; }
    if (!second_ok(s[0], s[1])) return 0;
    for (int i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    uint32_t c = s[0] & (0x7F >> k);
    for (int i = 1; i < k; i++) c = (c << 6) | (s[i] & 0x3F);
    *cp = c;
    return k;
}

int utf8_incomplete(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    int k = lead_len(s[0]);
    if (k <= 1) return 0;
    size_t i = 1;
    for (; i < (size_t)k && i < n; i++) {
        if (i == 1 ? !second_ok(s[0], s[1]) : (s[i] & 0xC0) != 0x80) break;
    }
    // i bytes form a valid prefix; it is "incomplete" only when the input ran out before k bytes.
    return i < (size_t)k && i == n ? (int)i : 0;
}

int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int k = utf8_char(s + i, n - i, &cp);
        if (k == 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

// The length of the maximal subpart starting at s (>= 1): the bytes one U+FFFD replaces.
static size_t maximal_subpart(const unsigned char *s, size_t n) {
    int k = lead_len(s[0]);
    if (k <= 1) return 1;
    size_t i = 1;
    for (; i < (size_t)k && i < n; i++)
        if (i == 1 ? !second_ok(s[0], s[1]) : (s[i] & 0xC0) != 0x80) break;
    return i;
}

size_t utf8_lossy(TokBuf *out, const unsigned char *s, size_t n) {
    static const char FFFD[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    size_t i = 0, start = 0, repl = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int k = utf8_char(s + i, n - i, &cp);
        if (k > 0) { i += (size_t)k; continue; }
        tokbuf_put(out, s + start, i - start);
        tokbuf_put(out, FFFD, 3);
        repl++;
        i += maximal_subpart(s + i, n - i);
        start = i;
    }
    tokbuf_put(out, s + start, n - start);
    return repl;
}

size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// ---- character classes -----------------------------------------------------------------------------

int uni_is_white_space(uint32_t cp) {
    // The White_Space property (PropList.txt): what Oniguruma's and Rust regex's \s match.
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int uni_is_numeric(uint32_t cp) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

int uni_is_word(uint32_t cp) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    switch (c) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return cp == 0x200C || cp == 0x200D;   // Join_Control
    }
}

// ---- byte-level alphabet ---------------------------------------------------------------------------

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
// space, DEL..NBSP, soft hyphen) take U+0100.. in byte order.
const uint16_t TOK_BYTE_CHAR[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B, 0x10C, 0x10D, 0x10E, 0x10F,
    0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117, 0x118, 0x119, 0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F,
    0x120, 0x021, 0x022, 0x023, 0x024, 0x025, 0x026, 0x027, 0x028, 0x029, 0x02A, 0x02B, 0x02C, 0x02D, 0x02E, 0x02F,
    0x030, 0x031, 0x032, 0x033, 0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03A, 0x03B, 0x03C, 0x03D, 0x03E, 0x03F,
    0x040, 0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047, 0x048, 0x049, 0x04A, 0x04B, 0x04C, 0x04D, 0x04E, 0x04F,
    0x050, 0x051, 0x052, 0x053, 0x054, 0x055, 0x056, 0x057, 0x058, 0x059, 0x05A, 0x05B, 0x05C, 0x05D, 0x05E, 0x05F,
    0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067, 0x068, 0x069, 0x06A, 0x06B, 0x06C, 0x06D, 0x06E, 0x06F,
    0x070, 0x071, 0x072, 0x073, 0x074, 0x075, 0x076, 0x077, 0x078, 0x079, 0x07A, 0x07B, 0x07C, 0x07D, 0x07E, 0x121,
    0x122, 0x123, 0x124, 0x125, 0x126, 0x127, 0x128, 0x129, 0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D, 0x13E, 0x13F, 0x140, 0x141,
    0x142, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0A5, 0x0A6, 0x0A7, 0x0A8, 0x0A9, 0x0AA, 0x0AB, 0x0AC, 0x143, 0x0AE, 0x0AF,
    0x0B0, 0x0B1, 0x0B2, 0x0B3, 0x0B4, 0x0B5, 0x0B6, 0x0B7, 0x0B8, 0x0B9, 0x0BA, 0x0BB, 0x0BC, 0x0BD, 0x0BE, 0x0BF,
    0x0C0, 0x0C1, 0x0C2, 0x0C3, 0x0C4, 0x0C5, 0x0C6, 0x0C7, 0x0C8, 0x0C9, 0x0CA, 0x0CB, 0x0CC, 0x0CD, 0x0CE, 0x0CF,
    0x0D0, 0x0D1, 0x0D2, 0x0D3, 0x0D4, 0x0D5, 0x0D6, 0x0D7, 0x0D8, 0x0D9, 0x0DA, 0x0DB, 0x0DC, 0x0DD, 0x0DE, 0x0DF,
    0x0E0, 0x0E1, 0x0E2, 0x0E3, 0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9, 0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF,
    0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0F7, 0x0F8, 0x0F9, 0x0FA, 0x0FB, 0x0FC, 0x0FD, 0x0FE, 0x0FF,
};

// The byte a byte-level code point stands for, -1 when cp is outside the alphabet.
static int bytelevel_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp < 0x100 || cp > 0x143) return -1;
    uint32_t k = cp - 0x100;   // the k-th byte that is not printable: 0x00-0x20, 0x7F-0xA0, 0xAD
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + (k - 33));
    return 0xAD;
}

int bytelevel_to_bytes(const char *s, size_t n, TokBuf *out) {
    const unsigned char *u = (const unsigned char *)s;
    out->n = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_char(u + i, n - i, &cp);
        int b = k ? bytelevel_byte(cp) : -1;
        if (b < 0) return -1;
        tokbuf_putc(out, (char)b);
        i += (size_t)k;
    }
    if (!out->p) tokbuf_put(out, "", 0);
    return 0;
}
