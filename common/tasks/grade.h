// Sampling and grading of N responses per problem with the KV-cache engine: the loop that
// `rlvr eval`, `rlvr analyze` and the learner's validation share. Sample i of the problem whose
// seed index is j is drawn with sampler_seed(run_seed, j, i), so any of the three reproduces the
// others' samples given the same model, prompt tokens, sampling parameters and seeds.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/tasks/eval.h"
#include "common/engine/infer.h"
#include "common/engine/tokenizer.h"

typedef struct {
    const int *tokens;     // (n_tokens) prompt, BOS included if the model wants one
    int n_tokens;
    uint64_t seed_index;   // j of sampler_seed(run_seed, j, i)
    const char *gold;      // the answer the verifier checks against
} GradeItem;

// One graded problem, valid for the duration of the callback.
typedef struct {
    int n;
    const GenOutput *out;     // (n) tokens, log-probs, entropies, finish reasons
    const uint64_t *seeds;    // (n) the sampler seeds used
    char *const *texts;       // (n) decoded responses
    const size_t *text_lens;  // (n)
    char *const *answers;     // (n) extracted answers ("" = none)
    const int *correct;       // (n) 0/1 verdicts
    EvalProblem ep;           // Acc / Maj / Pass of this problem
} Graded;

// Called once per item, in order; k is the item's index in the batch. Returns 0, or -1 with err
// to stop the run.
typedef int (*GradeFn)(void *ctx, int k, const Graded *g, char *err, size_t errlen);

typedef struct {
    Infer *inf;
    const GenBackend *be;     // when set, generation runs on it (e.g. the GPU) instead of inf
    const Tokenizer *tok;
    const GenParams *gp;
    const char *verifier;
    uint64_t run_seed;
    int n, per;               // samples per problem; problems per engine call
    uint64_t tokens;          // responses' tokens generated so far
    // scratch, (per * n) unless noted
    GenRequest *reqs;
    GenOutput *out;
    uint64_t *seeds;
    const int **ptok;         // (per)
    int *plen;                // (per)
    char **texts, **answers;
    size_t *text_lens;
    size_t *text_caps;        // texts[i] grows to what a response decodes to
    int *correct;
} Grader;

// per: problems sampled together in one engine call (inf must hold per * n sequences).
void grader_init(Grader *g, Infer *inf, const Tokenizer *tok, const GenParams *gp, const char *verifier,
                 uint64_t run_seed, int n, int per);
void grader_free(Grader *g);

// Samples, decodes and grades items[0..count), count <= per, then calls fn for each. Returns 0, or
// -1 with err (an engine error, or the callback's).
int grader_run(Grader *g, const GradeItem *items, int count, GradeFn fn, void *ctx, char *err, size_t errlen);
