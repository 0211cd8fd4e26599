// The BPE model: the id table, the vocabulary and merge hash tables, the merge loop and the cache of
// pre-token results.
//
// A pre-token's bytes start as one symbol each (the token of that byte); then the adjacent pair with
// the lowest merge rank is merged, the leftmost one on ties, until no adjacent pair has a merge. This
// is HF's order exactly (its heap pops the lowest (rank, position)). Two implementations of the same
// order: a scan over an array for short pieces (almost all of them: no heap, no links, a few cache
// lines; tiktoken does the same), and HF's heap over a linked list for long ones, where the scan's
// O(n^2) would show (a run of a thousand digits or spaces). tests/test_tokenizer.c checks both agree.
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/tokenizer_impl.h"

#define MERGE_SCAN_MAX 48           // pieces up to this many bytes use the scan
#define TOK_CACHE_SLOTS (1u << 15)  // cache slots (a power of two); cleared at half full
#define TOK_CACHE_ARENA (1u << 20)  // cache bytes (keys + ids); cleared when full
#define TOK_CACHE_MAX_KEY 256       // longer pieces are not cached
#define NO_MERGE UINT64_MAX

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27; x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void bpe_init(TokBpe *b) {
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    b->unk_id = -1;
}

static void cache_free(TokCache *c) {
    free(c->hash); free(c->off); free(c->klen); free(c->nids); free(c->arena);
    memset(c, 0, sizeof *c);
}

void bpe_free(TokBpe *b) {
    free(b->pool); free(b->off); free(b->len); free(b->has); free(b->special);
    free(b->vocab.slot); free(b->voff); free(b->vlen);
    free(b->merges.key); free(b->merges.val);
    for (int i = 0; i < b->n_added; i++) free(b->added[i].content);
    free(b->added);
    trie_free(&b->trie_raw);
    trie_free(&b->trie_norm);
    for (int i = 0; i < b->n_pre; i++) {
        tok_regex_free(b->pre[i].re);
        free(b->pre[i].literal);
    }
    cache_free(&b->cache);
    free(b->ms.sym); free(b->ms.prev); free(b->ms.next); free(b->ms.val); free(b->ms.heap);
    tok_regex_free_match_data(b->match_data);
    tokbuf_free(&b->scratch_fix);
    for (int i = 0; i < TOK_MAX_PRE; i++) { free(b->seg[i].v); tokbuf_free(&b->spacebuf[i]); }
    memset(b, 0, sizeof *b);
}

// ---- the id table ------------------------------------------------------------------------------------

static void grow_ids(TokBpe *b, int id) {
    if (id < b->n_ids) return;
    int n = b->n_ids ? b->n_ids : 1024;
    while (n <= id) n *= 2;
    b->off = reallocCheck(b->off, (size_t)n * sizeof(uint32_t));
    b->len = reallocCheck(b->len, (size_t)n * sizeof(uint32_t));
    b->voff = reallocCheck(b->voff, (size_t)n * sizeof(uint32_t));
    b->vlen = reallocCheck(b->vlen, (size_t)n * sizeof(uint32_t));
    b->has = reallocCheck(b->has, (size_t)n);
    b->special = reallocCheck(b->special, (size_t)n);
    for (int i = b->n_ids; i < n; i++) { b->off[i] = b->len[i] = b->voff[i] = b->vlen[i] = 0; b->has[i] = b->special[i] = 0; }
    b->n_ids = n;
}

static uint32_t pool_add(TokBpe *b, const char *s, size_t n) {
    if (b->pool_len + n > b->pool_cap) {
        size_t c = b->pool_cap ? b->pool_cap : 1 << 16;
        while (c < b->pool_len + n) c *= 2;
        b->pool = reallocCheck(b->pool, c);
        b->pool_cap = c;
    }
    if (b->pool_len + n > UINT32_MAX) die("tokenizer: more than 4 GB of token text");
    uint32_t o = (uint32_t)b->pool_len;
    if (n) memcpy(b->pool + o, s, n);
    b->pool_len += n;
    return o;
}

int bpe_set_token(TokBpe *b, int id, const char *bytes, size_t n) {
    grow_ids(b, id);
    if (b->has[id]) return -1;
    b->off[id] = pool_add(b, bytes, n);
    b->len[id] = (uint32_t)n;
    b->has[id] = 1;
    return 0;
}

void bpe_replace_token(TokBpe *b, int id, const char *bytes, size_t n) {
    grow_ids(b, id);
    b->off[id] = pool_add(b, bytes, n);
    b->len[id] = (uint32_t)n;
    b->has[id] = 1;
}

void bpe_reserve(TokBpe *b, size_t n_vocab, size_t n_merges) {
    size_t cap = 1 << 12;
    while (cap < 2 * n_vocab + 2) cap *= 2;
    if (!b->vocab.slot) {
        b->vocab.slot = callocCheck(cap, sizeof(uint32_t));
        b->vocab.mask = cap - 1;
    }
    cap = 1 << 12;
    while (cap < 2 * n_merges + 2) cap *= 2;
    if (!b->merges.key) {
        b->merges.key = callocCheck(cap, sizeof(uint64_t));
        b->merges.val = mallocCheck(cap * sizeof(uint64_t));
        b->merges.mask = cap - 1;
    }
}

// ---- vocabulary: bytes -> id ---------------------------------------------------------------------------

static void vocab_insert(TokBpe *b, int id) {
    TokStrMap *m = &b->vocab;
    uint64_t h = tok_hash(b->pool + b->voff[id], b->vlen[id]);
    size_t i = (size_t)h & m->mask;
    while (m->slot[i]) i = (i + 1) & m->mask;
    m->slot[i] = (uint32_t)id + 1;
}

void bpe_vocab_put(TokBpe *b, int id) {
    TokStrMap *m = &b->vocab;
    b->voff[id] = b->off[id];
    b->vlen[id] = b->len[id];
    if (b->len[id] == 0) return;   // an empty token can never be looked up
    if (!m->slot || (b->vocab_count + 1) * 2 > m->mask + 1) {   // grow at half load: rehash everything
        size_t cap = m->slot ? (m->mask + 1) * 2 : 1 << 12;
        free(m->slot);
        m->slot = callocCheck(cap, sizeof(uint32_t));
        m->mask = cap - 1;
        for (int i = 0; i < b->n_ids; i++)
            if (b->vlen[i] && i != id) vocab_insert(b, i);
    }
    vocab_insert(b, id);
    b->vocab_count++;
}

int bpe_vocab_get(const TokBpe *b, const char *bytes, size_t n) {
    const TokStrMap *m = &b->vocab;
    if (!m->slot || n == 0) return -1;
    size_t i = (size_t)tok_hash(bytes, n) & m->mask;
    for (uint32_t s; (s = m->slot[i]); i = (i + 1) & m->mask) {
        int id = (int)s - 1;
        if (b->vlen[id] == n && memcmp(b->pool + b->voff[id], bytes, n) == 0) return id;
    }
    return -1;
}

// ---- merges: (left, right) -> rank, merged id ----------------------------------------------------------

static void merge_insert(TokMergeMap *m, uint64_t key, uint64_t val) {
    size_t i = (size_t)mix64(key) & m->mask;
    while (m->key[i] && m->key[i] != key) i = (i + 1) & m->mask;
    m->key[i] = key;
    m->val[i] = val;   // a repeated pair keeps its later rank, as HF's HashMap insert does
}

void bpe_merge_put(TokBpe *b, int left, int right, int rank, int merged) {
    TokMergeMap *m = &b->merges;
    if (!m->key || (size_t)(b->n_merges + 1) * 2 > m->mask + 1) {
        size_t cap = m->key ? (m->mask + 1) * 2 : 1 << 12;
        uint64_t *ok = m->key, *ov = m->val;
        size_t oc = m->key ? m->mask + 1 : 0;
        m->key = callocCheck(cap, sizeof(uint64_t));
        m->val = mallocCheck(cap * sizeof(uint64_t));
        m->mask = cap - 1;
        for (size_t i = 0; i < oc; i++)
            if (ok[i]) merge_insert(m, ok[i], ov[i]);
        free(ok);
        free(ov);
    }
    merge_insert(m, (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1, ((uint64_t)(uint32_t)rank << 32) | (uint32_t)merged);
    b->n_merges++;
}

// rank << 32 | merged id of the pair, NO_MERGE when it has no merge.
static inline uint64_t merge_get(const TokMergeMap *m, int left, int right) {
    if (!m->key) return NO_MERGE;
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    size_t i = (size_t)mix64(key) & m->mask;
    for (uint64_t k; (k = m->key[i]); i = (i + 1) & m->mask)
        if (k == key) return m->val[i];
    return NO_MERGE;
}

// ---- the merge loop ------------------------------------------------------------------------------------

static void scratch_reserve(TokMergeScratch *s, size_t n) {
    if (n <= s->cap) return;
    size_t c = s->cap ? s->cap : 64;
    while (c < n) c *= 2;
    s->sym = reallocCheck(s->sym, c * sizeof(int));
    s->prev = reallocCheck(s->prev, c * sizeof(int));
    s->next = reallocCheck(s->next, c * sizeof(int));
    s->val = reallocCheck(s->val, c * sizeof(uint64_t));
    s->cap = c;
}

// The initial symbols: one per byte; a byte without a token becomes unk (fused when fuse_unk) or is
// dropped, as HF's BPE does without byte_fallback.
static size_t initial_symbols(const TokBpe *b, const unsigned char *s, size_t n, int *sym) {
    size_t k = 0;
    int prev_unk = 0;
    for (size_t i = 0; i < n; i++) {
        int id = b->byte_id[s[i]];
        if (id >= 0) { sym[k++] = id; prev_unk = 0; continue; }
        if (b->unk_id < 0) continue;
        if (!(b->fuse_unk && prev_unk)) sym[k++] = b->unk_id;
        prev_unk = 1;
    }
    return k;
}

// Short pieces: the symbols in an array, the pair values beside them; merge the minimum, shift left.
static void merge_scan(const TokBpe *b, int *sym, size_t n, uint64_t *val, TokIds *out) {
    for (size_t i = 0; i + 1 < n; i++) val[i] = merge_get(&b->merges, sym[i], sym[i + 1]);
    while (n > 1) {
        size_t best = 0;
        uint64_t bv = val[0];
        for (size_t i = 1; i + 1 < n; i++)
            if (val[i] < bv) { bv = val[i]; best = i; }   // strict: the leftmost of equal ranks
        if (bv == NO_MERGE) break;
        sym[best] = (int)(uint32_t)bv;
        memmove(sym + best + 1, sym + best + 2, (n - best - 2) * sizeof(int));
        if (n >= best + 3) memmove(val + best + 1, val + best + 2, (n - best - 3) * sizeof(uint64_t));
        n--;
        if (best > 0) val[best - 1] = merge_get(&b->merges, sym[best - 1], sym[best]);
        if (best + 1 < n) val[best] = merge_get(&b->merges, sym[best], sym[best + 1]);
    }
    for (size_t i = 0; i < n; i++) tok_ids_push(out, sym[i]);
}

// Binary min-heap of rank << 32 | position.
static void heap_push(TokMergeScratch *s, size_t *hn, uint64_t v) {
    if (*hn == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
        s->heap = reallocCheck(s->heap, s->heap_cap * sizeof(uint64_t));
    }
    size_t i = (*hn)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->heap[p] <= v) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = v;
}

static uint64_t heap_pop(TokMergeScratch *s, size_t *hn) {
    uint64_t top = s->heap[0], v = s->heap[--(*hn)];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && s->heap[c + 1] < s->heap[c]) c++;
        if (v <= s->heap[c]) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = v;
    return top;
}

// Long pieces: HF's algorithm. Symbols stay in place in a linked list; the heap holds candidate pairs
// (rank, left position); a popped pair that no longer exists (a neighbour merged away) is skipped.
static void merge_heap(TokBpe *b, size_t n, TokIds *out) {
    TokMergeScratch *s = &b->ms;
    int *sym = s->sym, *prev = s->prev, *next = s->next;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int)i - 1;
        next[i] = i + 1 < n ? (int)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t v = merge_get(&b->merges, sym[i], sym[i + 1]);
        if (v != NO_MERGE) heap_push(s, &hn, (v & 0xFFFFFFFF00000000ull) | i);
    }
    while (hn) {
        uint64_t top = heap_pop(s, &hn);
        int pos = (int)(uint32_t)top;
        uint32_t rank = (uint32_t)(top >> 32);
        if (sym[pos] < 0 || next[pos] < 0) continue;   // merged away, or the last symbol now
        int nx = next[pos];
        uint64_t v = merge_get(&b->merges, sym[pos], sym[nx]);
        if (v == NO_MERGE || (uint32_t)(v >> 32) != rank) continue;   // the pair changed since it was queued
        sym[pos] = (int)(uint32_t)v;
        sym[nx] = -1;
        next[pos] = next[nx];
        if (next[nx] >= 0) prev[next[nx]] = pos;
        if (prev[pos] >= 0) {
            uint64_t w = merge_get(&b->merges, sym[prev[pos]], sym[pos]);
            if (w != NO_MERGE) heap_push(s, &hn, (w & 0xFFFFFFFF00000000ull) | (uint32_t)prev[pos]);
        }
        if (next[pos] >= 0) {
            uint64_t w = merge_get(&b->merges, sym[pos], sym[next[pos]]);
            if (w != NO_MERGE) heap_push(s, &hn, (w & 0xFFFFFFFF00000000ull) | (uint32_t)pos);
        }
    }
    for (int i = n ? 0 : -1; i >= 0; i = next[i]) tok_ids_push(out, sym[i]);
}

void bpe_merge(TokBpe *b, const char *s, size_t n, TokIds *out, int force) {
    scratch_reserve(&b->ms, n + 1);
    size_t k = initial_symbols(b, (const unsigned char *)s, n, b->ms.sym);
    if (k == 0) return;
    int scan = force == 1 || (force == 0 && k <= MERGE_SCAN_MAX);
    if (scan) merge_scan(b, b->ms.sym, k, b->ms.val, out);
    else merge_heap(b, k, out);
}

// ---- the cache -----------------------------------------------------------------------------------------

static void cache_clear(TokCache *c) {
    if (!c->hash) {
        c->hash = mallocCheck(TOK_CACHE_SLOTS * sizeof(uint64_t));
        c->off = mallocCheck(TOK_CACHE_SLOTS * sizeof(uint32_t));
        c->klen = mallocCheck(TOK_CACHE_SLOTS * sizeof(uint16_t));
        c->nids = mallocCheck(TOK_CACHE_SLOTS * sizeof(uint16_t));
        c->arena = mallocCheck(TOK_CACHE_ARENA);
        c->arena_cap = TOK_CACHE_ARENA;
    }
    memset(c->hash, 0, TOK_CACHE_SLOTS * sizeof(uint64_t));
    c->arena_len = 0;
    c->used = 0;
}

void bpe_cache_reset(TokBpe *b) {
    if (b->cache.hash) cache_clear(&b->cache);
}

void bpe_encode_piece(TokBpe *b, const char *s, size_t n, TokIds *out) {
    if (n == 0) return;
    if (b->ignore_merges) {
        int id = bpe_vocab_get(b, s, n);
        if (id >= 0) { tok_ids_push(out, id); return; }
    }
    if (n == 1 && b->byte_id[(unsigned char)s[0]] >= 0) { tok_ids_push(out, b->byte_id[(unsigned char)s[0]]); return; }
    TokCache *c = &b->cache;
    if (n > TOK_CACHE_MAX_KEY) { bpe_merge(b, s, n, out, 0); return; }
    if (!c->hash) cache_clear(c);
    uint64_t h = tok_hash(s, n);
    size_t i = (size_t)h & (TOK_CACHE_SLOTS - 1);
    for (; c->hash[i]; i = (i + 1) & (TOK_CACHE_SLOTS - 1)) {
        if (c->hash[i] != h || c->klen[i] != n || memcmp(c->arena + c->off[i], s, n) != 0) continue;
        const int *ids = (const int *)(c->arena + c->off[i] + ((n + 3) & ~(size_t)3));
        for (int k = 0; k < c->nids[i]; k++) tok_ids_push(out, ids[k]);
        return;
    }
    size_t start = out->n;
    bpe_merge(b, s, n, out, 0);
    size_t nids = out->n - start, need = ((n + 3) & ~(size_t)3) + nids * sizeof(int);
    if (c->used + 1 > TOK_CACHE_SLOTS / 2 || c->arena_len + need > c->arena_cap) {
        cache_clear(c);
        i = (size_t)h & (TOK_CACHE_SLOTS - 1);
    }
    c->hash[i] = h;
    c->off[i] = (uint32_t)c->arena_len;
    c->klen[i] = (uint16_t)n;
    c->nids[i] = (uint16_t)nids;
    memcpy(c->arena + c->arena_len, s, n);
    memcpy(c->arena + c->arena_len + ((n + 3) & ~(size_t)3), out->ids + start, nids * sizeof(int));
    c->arena_len += need;
    c->used++;
}
