// Acc@N / Maj@N / Pass@N (see eval.h).
#include "common/tasks/eval.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/tasks/verifier.h"

int eval_answers_equal(const char *verifier, const char *a, const char *b) {
    if (!a || !b || !a[0] || !b[0]) return 0;
    if (!strcmp(a, b)) return 1;
    // The verifier judges responses: wrap b as one so its own extraction and comparison apply.
    size_t n = strlen(b) + 16;
    char *resp = mallocCheck(n);
    snprintf(resp, n, "\\boxed{%s}", b);
    int r = verify(verifier, a, resp, NULL, 0);
    free(resp);
    return r == 1;
}

int eval_problem(const char *verifier, const char *const *answers, const int *correct, int n, EvalProblem *out,
                 char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->maj_index = -1;
    if (n < 1) return rlvr_err(err, errlen, "eval: a problem needs at least one sample (n = %d)", n);
    if (!verifier_known(verifier)) return rlvr_err(err, errlen, "eval: unknown verifier '%s' (known: " VERIFIER_NAMES ")", verifier);
    out->n = n;
    for (int i = 0; i < n; i++) out->n_correct += correct[i] != 0;
    out->pass = out->n_correct > 0;
    // Clusters of equal answers, each named by its first member; votes counted per cluster.
    int *rep = mallocCheck((size_t)n * sizeof(int));     // (n) representative sample of each cluster
    int *votes = callocCheck((size_t)n, sizeof(int));    // (n)
    int nc = 0;
    for (int i = 0; i < n; i++) {
        const char *a = answers[i];
        if (!a || !a[0]) continue;
        int c = 0;
        while (c < nc && !eval_answers_equal(verifier, answers[rep[c]], a)) c++;
        if (c == nc) rep[nc++] = i;
        votes[c]++;
    }
    int best = -1;
    for (int c = 0; c < nc; c++)
        if (best < 0 || votes[c] > votes[best]) best = c;   // strict: ties keep the earlier answer
    if (best >= 0) {
        out->maj_index = rep[best];
        out->maj_votes = votes[best];
        out->maj_correct = correct[rep[best]] != 0;
    }
    free(rep);
    free(votes);
    return 0;
}

void eval_totals_init(EvalTotals *t) {
    memset(t, 0, sizeof *t);
}

void eval_totals_add(EvalTotals *t, const EvalProblem *p) {
    if (t->problems == 0) t->samples = p->n;
    else if (t->samples != p->n) t->samples = -1;
    t->problems++;
    t->acc_sum += (double)p->n_correct / (double)p->n;
    t->maj_sum += p->maj_correct;
    t->pass_sum += p->pass;
}

double eval_acc(const EvalTotals *t) { return t->problems ? t->acc_sum / t->problems : 0.0; }
double eval_maj(const EvalTotals *t) { return t->problems ? t->maj_sum / t->problems : 0.0; }
double eval_pass(const EvalTotals *t) { return t->problems ? t->pass_sum / t->problems : 0.0; }
