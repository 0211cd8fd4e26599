// Internals of the byte-level BPE tokenizer, shared by its files (nothing outside tokenizer*.c
// includes this):
//   tokenizer.c          the public API: dispatch between "char" and "bpe", EOS / BOS bookkeeping
//   tokenizer_json.c     tokenizer.json + tokenizer_config.json -> TokBpe (every error names the field)
//   tokenizer_bpe.c      the BPE model: vocabulary and merge tables, the merge loop, the piece cache
//   tokenizer_pretok.c   encode's pipeline: UTF-8 repair, added tokens, normalizer, pre-tokenizer
//   tokenizer_decode.c   ids -> text: byte-level bytes, lossy UTF-8, streaming
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/tokenizer.h"

// ---- small containers ------------------------------------------------------------------------------
typedef struct { char *p; size_t n, cap; } TokBuf;   // growable bytes (not NUL-terminated unless asked)
void tokbuf_put(TokBuf *b, const void *s, size_t n);
void tokbuf_putc(TokBuf *b, char c);
void tokbuf_free(TokBuf *b);

uint64_t tok_hash(const void *p, size_t n);

// ---- UTF-8 -----------------------------------------------------------------------------------------
// Length of the valid UTF-8 character at s[0..n) (1..4), or 0 when s starts an invalid sequence.
// *cp receives the code point.
int utf8_char(const unsigned char *s, size_t n, uint32_t *cp);
// Length of the maximal prefix of s[0..n) that is the start of a valid character but incomplete
// (1..3), or 0 when s[0] cannot start one (the "maximal subpart" of Unicode's U+FFFD practice).
int utf8_incomplete(const unsigned char *s, size_t n);
// Appends s[0..n) with each maximal invalid subsequence replaced by U+FFFD (Rust's from_utf8_lossy,
// Python's decode("utf-8", "replace")). Returns the number of replacements.
size_t utf8_lossy(TokBuf *out, const unsigned char *s, size_t n);
int utf8_valid(const unsigned char *s, size_t n);
size_t utf8_put(char *out, uint32_t cp);   // encodes cp (<= 0x10FFFF) into out (4 bytes room), returns its length

// Unicode classes the pipeline needs outside the regular expressions (utf8proc's tables).
int uni_is_white_space(uint32_t cp);   // the White_Space property (Rust's and Oniguruma's \s)
int uni_is_numeric(uint32_t cp);       // Nd, Nl, No (Rust's char::is_numeric, HF's Digits)
int uni_is_word(uint32_t cp);          // letters, marks, Nd, Nl, Pc (Rust regex's \w, for single_word)

// ---- the byte-level alphabet (GPT-2's bytes_to_unicode) --------------------------------------------
extern const uint16_t TOK_BYTE_CHAR[256];   // byte -> the code point that stands for it in vocab strings
// Converts a vocab string (byte-level alphabet) to raw bytes. Returns 0, or -1 when a character is
// outside the alphabet (out then holds nothing useful).
int bytelevel_to_bytes(const char *s, size_t n, TokBuf *out);

// ---- BPE model ---------------------------------------------------------------------------------------
typedef struct {
    uint32_t *slot;   // (mask + 1) id + 1; 0 = empty
    size_t mask;
} TokStrMap;          // bytes -> id, keys are the token byte strings of TokBpe

typedef struct {
    uint64_t *key;    // (mask + 1) (left id << 32 | right id) + 1; 0 = empty
    uint64_t *val;    // rank << 32 | merged id
    size_t mask;
} TokMergeMap;

// Cache of pre-token -> ids. Cleared whole when full (text has a small working set of pre-tokens).
typedef struct {
    uint64_t *hash;     // (TOK_CACHE_SLOTS) 0 = empty
    uint32_t *off;      // (TOK_CACHE_SLOTS) into arena: key bytes, then ids (int32, aligned)
    uint16_t *klen;     // (TOK_CACHE_SLOTS)
    uint16_t *nids;     // (TOK_CACHE_SLOTS)
    char *arena;
    size_t arena_len, arena_cap;
    size_t used;
} TokCache;

// Scratch of one merge (grown as needed).
typedef struct {
    int *sym;           // (n) symbol ids
    int *prev, *next;   // (n) linked list (heap path)
    uint64_t *val;      // (n) rank << 32 | merged id of the pair starting at i (scan path)
    uint64_t *heap;     // (n) rank << 32 | position
    size_t cap, heap_cap;
} TokMergeScratch;

// ---- added tokens ----------------------------------------------------------------------------------
typedef struct {
    int id;
    char *content;
    size_t len;
    int single_word, lstrip, rstrip, normalized, special;
} TokAdded;

typedef struct {      // a byte trie over added-token contents; leftmost-longest matching
    int *node_tok;    // (n_nodes) index into TokBpe.added, -1 when no token ends here
    uint64_t *ekey;   // (emask + 1) (node << 8 | byte) + 1; 0 = empty
    int *eval;        // child node
    size_t emask;
    int n_nodes, cap_nodes;
    uint8_t first[256];   // 1: some token starts with this byte
    int n_tokens;
} TokTrie;

// ---- pre-tokenizer steps ---------------------------------------------------------------------------
enum { PRE_SPLIT = 1, PRE_DIGITS, PRE_BYTELEVEL };
enum { SPLIT_REMOVED = 0, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
typedef struct {
    int kind;
    int behavior, invert;        // PRE_SPLIT
    void *re;                    // PRE_SPLIT / PRE_BYTELEVEL with use_regex: pcre2_code_8 *
    char *literal; size_t lit_len;   // PRE_SPLIT with a String pattern (re == NULL)
    int individual_digits;       // PRE_DIGITS
    int add_prefix_space;        // PRE_BYTELEVEL
} TokPreStep;

typedef struct { size_t s, e; int match; } TokSeg;   // a piece of a pre-tokenizer split
typedef struct { TokSeg *v; size_t n, cap; } TokSegVec;

enum { NORM_NONE = 0, NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD };
#define TOK_MAX_NORM 8
#define TOK_MAX_PRE 8
#define TOK_MAX_POST 8

struct TokBpe {
    // The vocabulary: every id's bytes (model vocab and added tokens), for decoding.
    int n_ids;
    char *pool;             // token bytes, back to back
    size_t pool_len, pool_cap;
    uint32_t *off, *len;    // (n_ids)
    uint8_t *has;           // (n_ids) 1: the id is a token
    uint8_t *special;       // (n_ids) 1: special added token
    // The BPE model.
    TokStrMap vocab;        // model vocabulary: bytes -> id (only byte-level-alphabet entries)
    size_t vocab_count;
    uint32_t *voff, *vlen;  // (n_ids) the lookup key of model vocab id (into pool); vlen 0 = not in vocab
    int byte_id[256];       // the token of each single byte, -1 when missing
    TokMergeMap merges;
    int n_merges;
    int ignore_merges;
    int unk_id, fuse_unk;   // unk_id -1: unknown bytes are dropped (HF without unk_token)
    // Added tokens: matched on the raw text (normalized == 0) and on the normalized text.
    TokAdded *added;
    int n_added;
    TokTrie trie_raw, trie_norm;
    // The pipeline.
    int norm[TOK_MAX_NORM];
    int n_norm;
    TokPreStep pre[TOK_MAX_PRE];
    int n_pre;
    int prefix[TOK_MAX_POST], n_prefix;   // TemplateProcessing "single": ids before / after the text
    int suffix[TOK_MAX_POST], n_suffix;
    // Encode state (hence not thread-safe).
    TokCache cache;
    TokMergeScratch ms;
    void *match_data;       // pcre2_match_data_8 *
    TokBuf scratch_fix;
    TokSegVec seg[TOK_MAX_PRE];      // the pieces of each pre-tokenizer step (one level of recursion each)
    TokBuf spacebuf[TOK_MAX_PRE];    // ByteLevel's add_prefix_space copies
};

// tokenizer_bpe.c
void bpe_init(TokBpe *b);
void bpe_free(TokBpe *b);
// Adds id with the given bytes to the id table (decoding). Returns 0, or -1 on a duplicate id.
int bpe_set_token(TokBpe *b, int id, const char *bytes, size_t n);
void bpe_replace_token(TokBpe *b, int id, const char *bytes, size_t n);   // sets or overrides id's bytes
void bpe_reserve(TokBpe *b, size_t n_vocab, size_t n_merges);   // sizes the hash tables once (faster loads)
void bpe_vocab_put(TokBpe *b, int id);     // adds id (bytes set) to the model vocabulary lookup
int bpe_vocab_get(const TokBpe *b, const char *bytes, size_t n);   // -1 when absent
void bpe_merge_put(TokBpe *b, int left, int right, int rank, int merged);
void bpe_cache_reset(TokBpe *b);   // empties the piece cache (benchmarks: a pass over new text)
// BPE of one pre-token (bytes), appending ids. Uses and fills the cache.
void bpe_encode_piece(TokBpe *b, const char *s, size_t n, TokIds *out);
// The merge loop alone (no cache, no ignore_merges): the scan for short pieces, the heap for long
// ones; force = 1 / 2 picks the scan / the heap whatever the length (tests check they agree).
void bpe_merge(TokBpe *b, const char *s, size_t n, TokIds *out, int force);

// tokenizer_pretok.c
void trie_init(TokTrie *t);
void trie_free(TokTrie *t);
void trie_add(TokTrie *t, const char *s, size_t n, int tok);
// Compiles an HF (Oniguruma) pattern with PCRE2 (UTF + UCP + JIT). \s and \S are rewritten to the
// White_Space set Oniguruma uses. Returns the code, or NULL with err.
void *tok_regex_compile(const char *pattern, char *err, size_t errlen);
void tok_regex_free(void *re);
void tok_regex_free_match_data(void *md);
int bpe_encode_text(TokBpe *b, const char *text, size_t len, TokIds *out);

#define TOK_GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

// tokenizer_json.c
int bpe_load_json(TokBpe *b, Tokenizer *t, const char *json, const char *config_json, const char *source,
                  char *err, size_t errlen);
