// Inference: incremental decoding with a KV cache and batched sampling on the CPU fp32 engine.
//
// Used by the rollout workers and `rlvr generate` / `rlvr eval`. The model is read from
// Model.params (common/engine/model.h); nothing here writes to it, so a rollout worker can swap weights
// between calls (memcpy into params) without re-creating the Infer state.
//
// Shapes: B = batch slots (sequences decoded together), T = max_seq (prompt + generated tokens per
// slot), L layers, C hidden, H query heads, KV key/value heads, D head_dim, V vocab, I MLP width.
//
// How a batch runs: every request is one sample (a prompt index + its own RNG seed). The generation
// loop (common/engine/genloop.h) keeps the B slots full: a slot whose sequence finished is refilled at
// the next step from the queued requests; a prompt is prefilled once and its K/V copied to the slots
// of its other samples. Prompts of different lengths live in the same batch: every slot has its own
// length, and a step feeds one row (slot, position, token) per active slot plus the prompt rows of
// the requests that start.
//
// Batch invariance: the tokens, log-probs and entropies of a request are bit-for-bit the same
// whatever else is in the batch, in whatever order, and whatever the thread count. Every op is
// row-wise with a fixed reduction order; the batched projections (all rows of a step at once, each
// weight matrix streamed once per step) use our own register-tiled kernel whose per-element
// summation order does not depend on the tile, the batch or the threads (common/engine/infer.c explains
// why not cblas_sgemm: OpenBLAS 0.3.21 sgemm results change with the number of rows M, and it is
// slower for the few rows of a decode step). Checked bit-for-bit by tests/test_infer.c.
//
// Memory: the KV cache is (B, L, KV, T, D) floats for K and the same for V; logits are only kept for
// the current step, (B, V); activations are (R, max(C, H*D, I)) for R rows per chunk.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/genloop.h"
#include "common/engine/model.h"
#include "common/engine/sampler.h"

// ---- KV cache --------------------------------------------------------------------------------------
typedef struct {
    int B, L, T, KV, D;  // slots, layers, max positions per slot, KV heads, head dim
    float *k;            // (B, L, KV, T, D): a head's positions are contiguous for the attention scan
    float *v;            // (B, L, KV, T, D)
    int *len;            // (B) positions filled in each slot
} KVCache;

// Allocates a zero-length cache. Returns 0, or -1 with err when the sizes are invalid.
int kv_cache_init(KVCache *c, const ModelConfig *cfg, int B, int T, char *err, size_t errlen);
void kv_cache_free(KVCache *c);
// Copies the first len[src] positions of slot src into slot dst (all layers) and sets len[dst].
void kv_cache_copy_slot(KVCache *c, int dst, int src);
// Copies the first len <= len[src] positions of slot src into slot dst != src and sets len[dst] = len.
void kv_cache_copy_prefix(KVCache *c, int dst, int src, int len);
// k (or v) of slot b, layer l, KV head g: (T, D), position t at offset t * D.
static inline float *kv_cache_head(const KVCache *c, float *base, int b, int l, int g) {
    return base + (((size_t)b * c->L + l) * c->KV + g) * c->T * c->D;
}

// ---- engine state ----------------------------------------------------------------------------------
typedef struct {
    const Model *model;
    ModelView w;             // typed views into model->params
    KVCache cache;           // (B slots, max_seq)
    int max_rows;            // rows per forward chunk, max(B, 64)
    float *rope_cos, *rope_sin;  // (T, D/2) HF rotate_half convention, inv_freq = theta^(-2i/D)
    // Activations for one chunk of R = max_rows rows.
    float *x;                // (R, C) residual stream
    float *xn;               // (R, C) normalised input of the current sub-block
    float *q;                // (R, H*D)
    float *k, *v;            // (R, KV*D)
    float *att;              // (R, H*D) attention output (before o_proj)
    float *gate, *up;        // (R, I)
    float *proj;             // (R, max(C, I)) projection output before the residual add
    float *scores;           // (threads, H/KV, T) attention scores of one GQA group per thread
    float *hidden_out;       // (B, C) final-normed hidden of the rows whose logits are wanted
    float *logits;           // (B, V) logits of the current step
    SamplerScratch *samp;    // (threads) sampler scratch
    Rng *slot_rng;           // (B) the RNG of the request decoding in each slot (infer_backend)
    uint64_t forward_calls;  // infer_forward calls since init (tests count decode steps with it)
    int nthreads;            // OpenMP threads at init
    // A loop runs on several OpenMP threads only when it has at least this many multiply-adds (or
    // ~equivalent element ops). Default 4M (~0.1-0.2 ms on one core): a fork/join costs microseconds on
    // an idle machine but up to a scheduler time slice on a busy one, where a descheduled thread
    // holds up the barrier. Results never depend on it (tests set 0 to force every loop parallel).
    size_t min_parallel_work;
    // The same for the projections (matmul_segs), in multiply-adds. Default 256K (8 rows x 32K
    // weights, ~10-20 us of weight streaming): a projection streams its weights from memory and two
    // threads stream nearly twice as fast, so splitting pays far earlier than for the element-wise
    // loops (sampling bench, tiny model, 2 threads: 4M -> 256K gave +30-45% tokens/s; docs/benchmarks.md).
    size_t min_parallel_matmul;
} Infer;

// Creates the state for up to max_batch concurrent sequences of up to max_seq positions each
// (prompt + new tokens; max_seq <= model max_position_embeddings is NOT required, RoPE extrapolates).
// Returns 0, or -1 with err naming the bad argument.
int infer_init(Infer *s, const Model *m, int max_batch, int max_seq, char *err, size_t errlen);
void infer_free(Infer *s);

// Low-level step: feeds n rows; row i is token tokens[i] at position pos[i] of slot slots[i]. Each
// row's K/V is written to the cache at (slot, pos) and it attends to positions 0..pos of its slot, so
// pos[i] must be the slot's current length (or the next position of the same slot in this call: rows of
// one slot must come in increasing, consecutive positions). Slot lengths are advanced.
// Threads: OpenMP (OMP_NUM_THREADS) for every loop, projections included; loops with little work
// run on the calling thread. Not reentrant: one Infer per thread.
// Logits of the rows listed in out_rows (n_out <= B row indices into 0..n-1) are written to
// logits_out (n_out, V); logits_out may be s->logits. Any n >= 1 is accepted (processed in chunks).
void infer_forward(Infer *s, int n, const int *slots, const int *pos, const int *tokens,
                   int n_out, const int *out_rows, float *logits_out);

// ---- generation ------------------------------------------------------------------------------------
// The CPU backend of the generation loop (common/engine/genloop.h): rows through infer_forward, one
// sampler_sample per output with the request's own Rng (xoshiro, seeded from the request's seed at its
// first draw and advanced one draw per token, so the draw counter is implicit). Valid while s lives.
void infer_backend(Infer *s, GenBackend *be);

// General batch: n_prompts prompts (prompts[j] has prompt_lens[j] >= 1 tokens, BOS included if the
// model wants one) and n_req requests. out (n_req) must be allocated with cap >= p->max_new_tokens.
// Requests are scheduled by genloop_run (continuous batching over the B = max_batch slots); results
// do not depend on B, on the order of the requests or on their neighbours.
// Returns 0, or -1 with err when an argument is invalid (prompt + max_new_tokens > max_seq,
// token id outside the vocabulary, bad sampler parameters, ...).
int infer_generate(Infer *s, int n_prompts, const int *const *prompts, const int *prompt_lens,
                   int n_req, const GenRequest *reqs, const GenParams *p, GenOutput *out,
                   char *err, size_t errlen);

// A group: G samples of one prompt, sample i seeded with sampler_seed(run_seed, prompt_id, i).
// out (G). Same return convention as infer_generate.
int infer_generate_group(Infer *s, const int *prompt, int prompt_len, int G, uint64_t run_seed,
                         uint64_t prompt_id, const GenParams *p, GenOutput *out, char *err, size_t errlen);
