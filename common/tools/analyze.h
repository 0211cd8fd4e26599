// rlvr analyze: the paper's analyses (docs/analysis.md). cmd_analyze.c parses
// the options, loads problems / model / engine, samples N responses per problem exactly as `rlvr eval`
// does (sample i of problem j seeded with sampler_seed(seed, j, i)) and grades them; each analysis
// (analyze_entropy.c, analyze_gradnorm.c, analyze_replace.c, analyze_shift.c) receives the graded samples one problem
// at a time and writes its per-item JSON Lines and its part of summary.json.
#pragma once
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/core/check.h"
#include "common/engine/forward.h"
#include "common/engine/infer.h"
#include "common/engine/model.h"
#include "common/engine/tokenizer.h"
#include "common/tasks/problems.h"
#include "common/rl/algo.h"

typedef struct {
    const char *model_path, *out_dir, *tmpl, *data;
    const char *model_b_path;  // shift: the second policy (--model-b)
    long n, max_tokens, limit, batch;
    double temperature, top_p;
    uint64_t seed;
    int quiet;
    int bins;                  // entropy: positional bins; gradnorm / replace: entropy quantile bins
    int save_tokens;           // entropy: DIR/tokens.jsonl; gradnorm: token ids, pi, ||h|| per response
    int top_tokens, min_count; // entropy: the top-entropy token table
    int dump_logits;           // gradnorm: raw logits of every response token (debugging, small V only)
    int k;                     // replace: continuations per branch
    int positions_all;         // replace: every position (up to max_positions) instead of the top K
    int top_positions;         // replace: K of top-entropy:K
    int max_positions;
    int norm_by_std;           // gradnorm: algorithm.norm_adv_by_std_in_grpo
    RewardFormat reward_fmt;   // gradnorm: reward.format
} AnalyzeOpts;

typedef struct {
    AnalyzeOpts o;
    ProblemSet b;
    Model m;
    Model mb;                  // shift: policy B (same architecture and vocabulary as m)
    Tokenizer tok;
    Infer inf;
    GenParams gp;              // sampling of the responses (and of replace's continuations)
    int max_seq;               // positions per engine slot: longest prompt + max_tokens
    FILE *items;               // DIR/<analysis items>.jsonl, NULL without --out
    FILE *tokens;              // DIR/tokens.jsonl (entropy --save-tokens), else NULL
    const char *out_dir;
} Analyze;

// One problem's graded samples: what every analysis receives.
typedef struct {
    size_t index;              // problem index j in the benchmark
    const char *id, *gold;
    const int *prompt;         // (prompt_len) [BOS] + encode(prompt text)
    int prompt_len;
    int n;                     // samples
    const GenOutput *out;      // (n) tokens, log-probs and entropies at the sampling temperature
    const uint64_t *seeds;     // (n) sampler_seed(seed, j, i)
    char *const *texts;        // (n) decoded responses
    char *const *answers;      // (n) extracted answers ("" when none)
    const int *correct;        // (n) 0/1
} Sampled;

typedef struct {
    const char *name;          // "entropy" | "gradnorm" | "replace" | "shift"
    const char *items_file;    // per-item JSON Lines written under --out
    void *(*init)(Analyze *a);
    int (*problem)(Analyze *a, void *st, const Sampled *s, char *err, size_t errlen);
    // Adds the analysis's results to summary and prints the human-readable table on stdout.
    void (*finish)(Analyze *a, void *st, json_t *summary);
    void (*free)(void *st);
} AnalysisOps;

extern const AnalysisOps analysis_entropy, analysis_gradnorm, analysis_replace, analysis_shift;

// ---- helpers shared by the analyses (cmd_analyze.c) ------------------------------------------------

// JSON has no inf/nan: non-finite numbers become null.
json_t *analyze_num(double x);
// [x[0], ..., x[n-1]] with non-finite values as null.
json_t *analyze_float_array(const float *x, int n);
// The fields every per-response line starts with: id, index (of the problem), sample, correct.
json_t *analyze_item(const Sampled *sm, int sample);
// The number in x, NAN for null (so the stdout tables print "nan" for an empty class, not 0).
static inline double analyze_jnum(const json_t *x) { return json_is_number(x) ? json_number_value(x) : NAN; }
// Writes o as one compact line to f and releases o. Returns 0, or -1 with err.
int analyze_write_line(FILE *f, json_t *o, const char *what, char *err, size_t errlen);
// Grades response tokens (n) against the problem's gold answer: 1 correct, 0 not.
int analyze_grade(const Analyze *a, const char *gold, const int *tokens, int n);
// The text of one token ("<id N>" for specials, which have no text).
json_t *analyze_token_text(const Analyze *a, int id);
// Entropy quantile bins: the items are split into `bins` equal-count bins by entropy (stats_rank_bins)
// and each bin reports count, entropy_lo / entropy_hi / entropy_mean and the mean of each named value.
// entropy (n,), vals[k] (n,) for k < nvals. Returns a JSON array (bins entries; empty bins get nulls).
json_t *analyze_entropy_bins(const double *entropy, size_t n, int bins, const double *const *vals,
                             const char *const *names, int nvals);
// Prints "<label> [H <entropy_mean>: <value>] ..." and a newline: one entry per bin of an
// analyze_entropy_bins array, value = the bin's `key` (e.g. "g_mean"), printed with `fmt`.
void analyze_print_bins(const char *label, const json_t *bins, const char *key, const char *fmt);
// {"n", "pearson", "spearman"} of x and y (n,).
json_t *analyze_correlation(const double *x, const double *y, size_t n);
// {"count", "mean", "min", "q1", "median", "q3", "max"} of x (n,) (sorted in place).
json_t *analyze_distribution(double *x, size_t n);

// Forward-only scoring of one prompt + response (gradnorm, shift): the activations and token buffers
// for sequences of up to max_seq positions.
typedef struct {
    Acts acts;                 // (1, max_seq) forward-only activations
    int *seq, *targets;        // (max_seq)
} AnalyzeScorer;
void analyze_scorer_init(AnalyzeScorer *sc, const Analyze *a);
void analyze_scorer_free(AnalyzeScorer *sc);
// Forward of model m over prompt (plen) + response (n) and its head at temperature T; logp / ent / hn
// (max_seq, may be NULL) get the per-row outputs of model_head. Response token t is predicted at row
// plen - 1 + t (returned); sc->acts.lnf holds the final-normed hidden rows afterwards.
size_t analyze_score(AnalyzeScorer *sc, const Model *m, const int *prompt, int plen, const int *resp, int n, float T,
                     float *logp, float *ent, float *hn);

// Growable array of doubles (analyses collect per-token values of unknown count).
typedef struct { double *v; size_t n, cap; } DVec;
static inline void dvec_push(DVec *d, double x) {
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->v = reallocCheck(d->v, d->cap * sizeof(double));
    }
    d->v[d->n++] = x;
}
static inline void dvec_free(DVec *d) { free(d->v); d->v = NULL; d->n = d->cap = 0; }
