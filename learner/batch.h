// The learner's view of one training batch: every response of every group, flattened, plus the
// packing used to broadcast it from rank 0, the token-balanced split over ranks and the padded (B, T)
// micro-batches the engine consumes.
//
// Sequence r is prompt_len[r] prompt tokens followed by resp_len[r] response tokens. The model sees
// inputs seq[0 .. len-2] and predicts targets seq[1 .. len-1]; response token j is predicted at
// position prompt_len + j - 1, and only those positions carry loss (the prompt is context).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "learner/coordinator/coordinator.h"

typedef struct {
    int R;                    // responses
    int G;                    // groups (prompts)
    size_t n_tok;             // sum over r of prompt_len + resp_len
    size_t n_resp_tok;        // sum over r of resp_len
    // per response (R,)
    int32_t *prompt_len, *resp_len;
    int64_t *prompt_id;       // group key
    int64_t *version;         // policy version the response was sampled with
    int32_t *correct, *boxed_count, *has_cjk, *finish;
    float *worker_reward;     // what the worker reported (informational)
    size_t *tok_off;          // (R,) offset of sequence r in tokens
    size_t *lp_off;           // (R,) offset of response r in old_logp / tok_adv
    int32_t *tokens;          // (n_tok,)
    float *old_logp;          // (n_resp_tok,) pi_old log-probs of the response tokens
    // learner-side, filled after the broadcast (every rank computes them identically)
    float *score;             // (R,) reward after format + overlong shaping
    float *adv;               // (R,) GRPO advantage after PPL shaping
    double *ln_ppl;           // (R,) mean NLL under pi_old
    float *tok_adv;           // (n_resp_tok,) token advantages (position bonus included)
} RlBatch;

void rl_batch_free(RlBatch *b);
// Builds a batch from finished groups, sorted by prompt id first (so arrival order never matters).
// Groups are not freed. Returns 0, or -1 (err) when a group is unusable (no responses, sizes).
int rl_batch_from_groups(CoordGroup *groups, int n, RlBatch *out, char *err, size_t errlen);
// Serialises the raw fields (not the learner-side ones) into one malloc'd buffer, and back.
uint8_t *rl_batch_pack(const RlBatch *b, size_t *len);
int rl_batch_unpack(const uint8_t *buf, size_t len, RlBatch *out, char *err, size_t errlen);
// Allocates and fills tok_off / lp_off and the learner-side arrays (zeroed).
void rl_batch_index(RlBatch *b);

// Deterministic token-balanced assignment of items (cost[i] each) to nranks: largest first (ties by
// index), each to the rank with the smallest load so far (ties: lowest rank). owner (n,).
void balance_assign(const long *cost, int n, int nranks, int *owner);

// One padded micro-batch.
typedef struct {
    int B, T;
    int cap_B, cap_T;
    int *rows;                // (B,) response index of each row
    int *tokens;              // (B, T) inputs (0-padded)
    int *targets;             // (B, T) next token, -1 where there is none
    float *mask;              // (B, T) 1 on positions that predict a response token
    float *old_logp;          // (B, T)
    float *adv;               // (B, T) token advantages
    int *row_len;             // (B,) response tokens of each row
} MicroBatch;

void micro_init(MicroBatch *m, int cap_B, int cap_T);
void micro_free(MicroBatch *m);
// Fills m with responses rows[0..n) of b (n <= cap_B); T is the longest input among them.
void micro_build(MicroBatch *m, const RlBatch *b, const int *rows, int n);
