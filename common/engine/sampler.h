// Token sampling from one row of logits: temperature, top-k, top-p (nucleus), greedy.
//
// Conventions (the same as HF transformers' warpers and vLLM):
//   - temperature T > 0 divides the logits; T == 0 means greedy (argmax, lowest id on ties).
//   - top-k (k > 0) keeps the k most likely tokens; top-p (p < 1) then keeps the smallest prefix of
//     the remaining tokens, sorted by probability (renormalised over the top-k set), whose mass >= p.
//     Ties are broken by the lower token id, so the kept set is a deterministic function of the logits.
//   - The reported log-prob and entropy are under the SAMPLING distribution softmax(logits / T) over
//     the full vocabulary, BEFORE top-k/top-p truncation. This is what verl/vLLM ship as the rollout
//     log-prob and what the learner recomputes, so the importance ratio is consistent. For greedy
//     (T == 0) the tempered distribution is a point mass; we report log-prob and entropy under
//     softmax(logits) (T = 1) instead, which is what an evaluation wants to log.
//   - Each call draws exactly one uniform from the sequence's own Rng when T > 0 (none when greedy),
//     so a sample's tokens depend only on its seed and its logits, never on the rest of the batch.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/core/rng.h"

typedef struct {
    float temperature;   // T >= 0; 0 = greedy
    float top_p;         // (0, 1]; 1 = off
    int top_k;           // >= 0; 0 = off
} SamplerParams;

// Defaults: T = 1, top_p = 1, top_k = 0 (plain ancestral sampling).
void sampler_params_default(SamplerParams *p);
// Returns 0, or -1 with err naming the bad field and its valid range.
int sampler_params_validate(const SamplerParams *p, char *err, size_t errlen);

// The per-sample seed: rng_mix(rng_mix(run_seed, prompt_id), sample_index). Seed each sequence's Rng
// with rng_seed(&rng, sampler_seed(...)) so that sample i of prompt j is the same whatever the batch.
uint64_t sampler_seed(uint64_t run_seed, uint64_t prompt_id, uint64_t sample_index);

#define SAMP_BLOCK 256   // tokens per block of the two-level inverse-CDF draw

// Scratch for sampler_sample: one per concurrently sampling thread.
typedef struct {
    int V;
    float *prob;   // (V) exp(z - max) of the tempered logits
    int *idx;      // (V) candidate token ids
    int *tmp;      // (V) merge-sort buffer
    double *bsum;  // (V / SAMP_BLOCK + 1) sums of prob over consecutive blocks of SAMP_BLOCK tokens
} SamplerScratch;
void sampler_scratch_init(SamplerScratch *s, int V);
void sampler_scratch_free(SamplerScratch *s);

// Samples one token from logits (V). Writes the token's log-prob and the entropy (nats) of the
// sampling distribution (see the conventions above) to *logprob / *entropy (either may be NULL).
// rng may be NULL only when p->temperature == 0. Returns the token id.
int sampler_sample(const float *logits, int V, const SamplerParams *p, Rng *rng, SamplerScratch *s,
                   float *logprob, float *entropy);

// log softmax(logits / T)[token] and the entropy of softmax(logits / T), T > 0, computed in double
// over the full vocabulary (the reference the sampler's reported values are tested against).
void sampler_logprob_entropy(const float *logits, int V, float T, int token, float *logprob, float *entropy);

// The kept (truncated) set for top-k / top-p, for tests and analysis: writes the kept token ids to
// out (capacity V) sorted by descending probability (ties: lower id first) and returns their count.
// With neither truncation active every token is kept.
int sampler_kept_set(const float *logits, int V, const SamplerParams *p, SamplerScratch *s, int *out);
