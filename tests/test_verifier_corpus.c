// The differential set against Math-Verify (tests/verifier_diff/corpus.jsonl, made by
// tests/verifier_diff/gen_pairs.py + triage.py): every row is graded by the math verifier and must get
// the verdict a mathematician gives (exp; every exp = 0 row is a hand-checked wrong answer, and none may
// ever pass), agree with Math-Verify's recorded verdict exactly where the row carries no triage note,
// and disagree where it does. Prints the confusion table per answer family (docs/tasks.md) and the
// grading throughput on one core.
#include "common/tasks/verifier.h"
#include "tests/harness.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORPUS "tests/verifier_diff/corpus.jsonl"
#define MAX_FAMILIES 32
#define MIN_AGREEMENT 0.98   // docs/tasks.md: agreement with Math-Verify on the generated set

typedef struct {
    char name[32];
    int n, agree;
    int tp, fn, tn, fp;          // ours against exp
    int mv_tp, mv_fn, mv_tn, mv_fp;   // Math-Verify against exp
} Family;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static Family *family(Family *f, int *nf, const char *name) {
    for (int i = 0; i < *nf; i++) if (!strcmp(f[i].name, name)) return &f[i];
    if (*nf >= MAX_FAMILIES) return &f[MAX_FAMILIES - 1];
    Family *x = &f[(*nf)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

int main(void) {
    FILE *fp = fopen(CORPUS, "r");
    CHECK_MSG(fp != NULL, "%s missing (run from the repository root)", CORPUS);
    if (!fp) return tests_done();
    Family fam[MAX_FAMILIES];
    int nf = 0, rows = 0, agree = 0, notes = 0;
    double t_grade = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        CHECK_MSG(j != NULL, "%s row %d: bad JSON: %s", CORPUS, rows + 1, je.text);
        if (!j) continue;
        const char *g = json_string_value(json_object_get(j, "g")), *r = json_string_value(json_object_get(j, "r"));
        const char *fn = json_string_value(json_object_get(j, "fam")), *kind = json_string_value(json_object_get(j, "kind"));
        json_t *jn = json_object_get(j, "note");
        int exp = (int)json_integer_value(json_object_get(j, "exp")), mv = (int)json_integer_value(json_object_get(j, "mv"));
        CHECK_MSG(g && r && fn && kind, "%s row %d: needs g, r, fam, kind", CORPUS, rows + 1);
        if (!g || !r || !fn || !kind) { json_decref(j); continue; }
        double t0 = now_s();
        int ours = verify("math", g, r, NULL, 0);
        t_grade += now_s() - t0;
        if (exp == 0)
            CHECK_MSG(ours == 0, "FALSE ACCEPT (%s/%s): gold [%s] response [%s]", fn, kind, g, r);
        else
            CHECK_MSG(ours == 1, "false reject (%s/%s): gold [%s] response [%s]", fn, kind, g, r);
        if (jn) {
            notes++;
            CHECK_MSG(ours != mv, "row %d (%s/%s) is triaged as a disagreement but both say %d: regenerate the corpus "
                      "(tests/verifier_diff/triage.py)", rows + 1, fn, kind, ours);
        } else
            CHECK_MSG(ours == mv, "untriaged disagreement (%s/%s, ours %d, Math-Verify %d): gold [%s] response [%s]", fn, kind,
                      ours, mv, g, r);
        Family *f = family(fam, &nf, fn);
        f->n++;
        f->agree += ours == mv;
        if (exp) { f->tp += ours; f->fn += !ours; f->mv_tp += mv; f->mv_fn += !mv; }
        else { f->fp += ours; f->tn += !ours; f->mv_fp += mv; f->mv_tn += !mv; }
        agree += ours == mv;
        rows++;
        json_decref(j);
    }
    free(line);
    fclose(fp);
    printf("| family | pairs | agree | ours TP/FN/TN/FP | Math-Verify TP/FN/TN/FP |\n|---|---|---|---|---|\n");
    Family tot;
    memset(&tot, 0, sizeof tot);
    for (int i = 0; i < nf; i++) {
        Family *f = &fam[i];
        printf("| %s | %d | %.1f%% | %d/%d/%d/%d | %d/%d/%d/%d |\n", f->name, f->n, 100.0 * f->agree / f->n, f->tp, f->fn, f->tn,
               f->fp, f->mv_tp, f->mv_fn, f->mv_tn, f->mv_fp);
        tot.n += f->n; tot.agree += f->agree; tot.tp += f->tp; tot.fn += f->fn; tot.tn += f->tn; tot.fp += f->fp;
        tot.mv_tp += f->mv_tp; tot.mv_fn += f->mv_fn; tot.mv_tn += f->mv_tn; tot.mv_fp += f->mv_fp;
    }
    if (tot.n)
        printf("| **all** | %d | %.2f%% | %d/%d/%d/%d | %d/%d/%d/%d |\n", tot.n, 100.0 * tot.agree / tot.n, tot.tp, tot.fn, tot.tn,
               tot.fp, tot.mv_tp, tot.mv_fn, tot.mv_tn, tot.mv_fp);
    printf("%d rows, %d triaged disagreements, agreement %.4f; math verifier %.0f answers/s on one core\n", rows, notes,
           rows ? (double)agree / rows : 0.0, t_grade > 0 ? rows / t_grade : 0.0);
    CHECK(rows > 10000);
    CHECK_MSG(rows && (double)agree / rows >= MIN_AGREEMENT, "agreement %.4f below %.2f", rows ? (double)agree / rows : 0.0,
              MIN_AGREEMENT);
    CHECK_EQ_INT(tot.fp, 0);
    return tests_done();
}
