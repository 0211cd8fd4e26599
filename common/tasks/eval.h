// Evaluation metrics over N samples per problem (used by `rlvr eval`):
//   Acc@N  mean over problems of (correct samples / N)
//   Maj@N  majority vote: the most frequent extracted answer is the problem's answer; answers the
//          verifier considers equal vote together (so "1/2" and "0.5" are one answer); ties go to the
//          answer seen first; samples without an answer do not vote; no answers at all = wrong
//   Pass@N share of problems with at least one correct sample
#pragma once
#include <stddef.h>

typedef struct {
    int n;            // samples
    int n_correct;
    int pass;         // n_correct > 0
    int maj_index;    // a sample holding the winning answer (-1: no sample had an answer)
    int maj_votes;    // samples voting for it
    int maj_correct;  // the winning answer is correct
} EvalProblem;

// 1 when two extracted answers are the same answer for this verifier ("math" | "arith"): identical
// text, or the verifier accepts b with a as the gold answer.
int eval_answers_equal(const char *verifier, const char *a, const char *b);

// answers (n): extracted answers ("" or NULL = none); correct (n): 0/1 verdicts of the samples.
// Returns 0, or -1 with err when n < 1 or the verifier is unknown.
int eval_problem(const char *verifier, const char *const *answers, const int *correct, int n, EvalProblem *out,
                 char *err, size_t errlen);

typedef struct {
    int problems;
    int samples;        // per problem (N); -1 once problems with different N were added
    double acc_sum, maj_sum, pass_sum;
} EvalTotals;

void eval_totals_init(EvalTotals *t);
void eval_totals_add(EvalTotals *t, const EvalProblem *p);
// Fractions in [0, 1] (0 when no problems).
double eval_acc(const EvalTotals *t);
double eval_maj(const EvalTotals *t);
double eval_pass(const EvalTotals *t);
