// The generation loop: continuous batching of sampling requests over the slots of a backend.
//
// A backend (the CPU Infer of common/engine/infer.h, or the GPU engine of common/engine/cuda/cuda_infer.h)
// holds a KV cache of B slots and does three things: feed rows (slot, position, token) and sample one
// token for each listed output (with its log-prob and entropy), copy a prompt prefix between slots,
// and reset a slot. The loop here decides which rows to feed; it never looks at logits.
//
// How requests are scheduled: slots are filled from the queue of requests in order. When a sequence
// finishes (stop token or max_new_tokens), its slot is refilled at the very next step, so the batch
// stays full while responses of very different lengths finish. A new request's prompt is
//   - prefilled in full when no slot holds it (one row per prompt token);
//   - shared when another request of the same prompt starts in the same step: the follower samples its
//     first token from the leader's last prompt row, and the prompt's K/V is copied to its slot after
//     the step (a group's G samples prefill once);
//   - copied from a slot already decoding that prompt (its first len - 1 positions) and only the last
//     prompt token fed, when the group's other samples started earlier.
// Sampling randomness is per request: output j of a step carries its request's seed and a draw counter
// equal to the index of the token being sampled, so a request's tokens depend only on its seed and its
// logits. With a batch-invariant backend (both are) the results of a request are bit-for-bit the same
// whatever the slot count, the queue order or the neighbours.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/sampler.h"

#define INFER_MAX_STOP 16     // stop tokens per generation call

typedef enum { FINISH_NONE = 0, FINISH_STOP = 1, FINISH_LENGTH = 2 } FinishReason;
const char *finish_reason_name(FinishReason r);   // "none" / "stop" / "length"

typedef struct {
    SamplerParams sampler;
    int max_new_tokens;              // >= 1
    int n_stop;                      // stop tokens (EOS included by the caller), <= INFER_MAX_STOP
    int stop[INFER_MAX_STOP];
} GenParams;

// Defaults: sampler defaults, max_new_tokens 256, no stop tokens.
void gen_params_default(GenParams *p);

typedef struct {
    int prompt;     // index into the prompts array; requests sharing a prompt share its prefill
    uint64_t seed;  // this sample's RNG seed, normally sampler_seed(run_seed, prompt_id, sample_index)
} GenRequest;

// One finished sample. Arrays are allocated by gen_output_alloc (capacity max_new_tokens).
typedef struct {
    int *tokens;        // (cap) generated tokens; a stop token, when hit, is the last one
    float *logprobs;    // (cap) log-prob of each token under softmax(logits / T) (see common/engine/sampler.h)
    float *entropies;   // (cap) entropy (nats) of that distribution at each step
    int n;              // number generated
    int cap;
    FinishReason finish;  // STOP: the last token is a stop token; LENGTH: max_new_tokens reached
} GenOutput;

void gen_output_alloc(GenOutput *o, int cap);
void gen_output_free(GenOutput *o);

// ---- the backend seam ------------------------------------------------------------------------------
typedef struct {
    void *ctx;
    int max_batch;   // B slots
    int max_seq;     // positions per slot
    int vocab;       // V
    // Feeds n rows (row i: token tokens[i] at position pos[i] of slot slots[i]; a slot's rows come in
    // consecutive positions starting at its length, which they advance). Then for each of the n_out
    // outputs samples one token from the logits of row out_rows[j] for the request in slot
    // out_slots[j] (two outputs may name the same row: the samples of one prompt), with seed seeds[j]
    // and draw counter draws[j] (the index of the token in its response), and writes tok[j], logp[j],
    // ent[j]. n_out <= max_batch.
    void (*step)(void *ctx, int n, const int *slots, const int *pos, const int *tokens, int n_out,
                 const int *out_rows, const int *out_slots, const SamplerParams *sp, const uint64_t *seeds,
                 const uint64_t *draws, int *tok, float *logp, float *ent);
    // Copies the first len positions of slot src (all layers) to slot dst != src; dst's length = len.
    void (*copy_prefix)(void *ctx, int dst, int src, int len);
    // Empties a slot (length 0).
    void (*reset_slot)(void *ctx, int slot);
} GenBackend;

// Counters of one genloop_run (tests, benchmarks).
typedef struct {
    long steps;           // backend step calls
    long rows;            // rows fed
    long prefill_rows;    // rows of prompt tokens (full prefills + last tokens after a prefix copy)
    long prefix_copies;   // copy_prefix calls
} GenStats;

// ---- streaming: requests pulled from a source while others decode --------------------------------
typedef struct {
    const int *prompt;   // (plen) requests with the same pointer and length share the prompt's prefill
    int plen;
    uint64_t seed;       // the sample's seed
    GenOutput *out;      // filled while it decodes; cap >= max_new_tokens
    void *tag;           // the caller's, handed back to done
} GenPull;

typedef struct {
    void *ud;
    // The next request to start in a free slot: 1 with *req filled, or 0 when none is ready now (asked
    // again at the next step while a slot is free; the run ends when no request decodes and this says 0).
    int (*pull)(void *ud, GenPull *req);
    // A request finished (req->out complete). May be NULL.
    void (*done)(void *ud, const GenPull *req);
} GenSource;

// Runs the source's requests on the backend, a free slot refilled from the source at every step.
// A request that cannot run (genloop_check_request) stops the run: -1 with err (the source should
// check first). Otherwise 0.
int genloop_stream(const GenBackend *be, const GenParams *p, const GenSource *src, GenStats *stats, char *err, size_t errlen);
// 0 when a prompt of plen tokens can run on the backend with p into out; else -1 with err naming the
// problem (too long for max_seq, a token outside the vocabulary, an output too small).
int genloop_check_request(const GenBackend *be, const GenParams *p, const int *prompt, int plen, const GenOutput *out,
                          char *err, size_t errlen);

// Runs n_req requests over n_prompts prompts (prompts[j] has prompt_lens[j] >= 1 tokens, BOS
// included if the model wants one) on the backend. out (n_req) must be allocated with
// cap >= p->max_new_tokens. stats may be NULL. Returns 0, or -1 with err when an argument is invalid
// (prompt + max_new_tokens > max_seq, token id outside the vocabulary, bad sampler parameters, ...).
int genloop_run(const GenBackend *be, int n_prompts, const int *const *prompts, const int *prompt_lens,
                int n_req, const GenRequest *reqs, const GenParams *p, GenOutput *out, GenStats *stats,
                char *err, size_t errlen);
