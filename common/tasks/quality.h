// Response quality flags (paper appendix B): a boxed-answer count other than one, CJK characters in the
// text (language mixing), and repeated n-grams (degenerate loops). Computed by the rollout worker per
// response and by `rlvr analyze`. Pure functions; any byte string is accepted (invalid UTF-8 is counted,
// never fatal).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int ngram;          // words per n-gram (8); a CJK character counts as one word
    int max_repeats;    // flag when some n-gram occurs at least this many times (4)
} QualityParams;

typedef struct {
    int boxed_count;       // occurrences of "\boxed{"
    int bad_boxed;         // boxed_count != 1
    long cjk_count;        // CJK code points (Han, kana, hangul, CJK punctuation, fullwidth forms)
    int has_cjk;           // cjk_count > 0
    long words;            // words seen by the n-gram counter
    int max_ngram_count;   // occurrences of the most frequent n-gram (0 when there are < ngram words)
    double repeat_frac;    // 1 - distinct / total n-grams (0 when none)
    int repetitive;        // max_ngram_count >= max_repeats
    long invalid_utf8;     // bytes that were not valid UTF-8 (skipped)
    int any;               // bad_boxed || has_cjk || repetitive
} QualityFlags;

void quality_params_default(QualityParams *p);
// -1 with a message when the parameters cannot be used.
int quality_params_check(const QualityParams *p, char *err, size_t errlen);
void quality_check_text(const char *text, size_t len, const QualityParams *p, QualityFlags *out);

// Non-overlapping occurrences of needle in text (len bytes, may hold NULs).
int count_substr(const char *text, size_t len, const char *needle);
// 1 when code point c is CJK (the ranges are listed in quality.c).
int is_cjk_codepoint(uint32_t c);
// CJK code points in UTF-8 text; *invalid (optional) gets the number of undecodable bytes.
long count_cjk_utf8(const char *text, size_t len, long *invalid);
// Repetition in any sequence of ids (words, tokens): returns the occurrence count of the most frequent
// n-gram and, through repeat_frac (optional), 1 - distinct/total. seq (n,). 0 when n < ngram.
int ngram_repeat_stats(const uint64_t *seq, size_t n, size_t ngram, double *repeat_frac);
