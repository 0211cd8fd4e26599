#include "common/tasks/grade.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/sampler.h"
#include "common/tasks/verifier.h"

// Room for one extracted answer; verifiers truncate to it.
#define GRADE_ANSWER_CAP 1024

void grader_init(Grader *g, Infer *inf, const Tokenizer *tok, const GenParams *gp, const char *verifier,
                 uint64_t run_seed, int n, int per) {
    if (n < 1 || per < 1) die("grader_init: n = %d and per = %d must be >= 1", n, per);
    memset(g, 0, sizeof *g);
    g->inf = inf; g->tok = tok; g->gp = gp; g->verifier = verifier; g->run_seed = run_seed;
    g->n = n; g->per = per;
    const size_t rows = (size_t)per * n;
    g->reqs = mallocCheck(rows * sizeof *g->reqs);
    g->out = mallocCheck(rows * sizeof *g->out);
    for (size_t i = 0; i < rows; i++) gen_output_alloc(&g->out[i], gp->max_new_tokens);
    g->seeds = mallocCheck(rows * sizeof *g->seeds);
    g->ptok = mallocCheck((size_t)per * sizeof *g->ptok);
    g->plen = mallocCheck((size_t)per * sizeof *g->plen);
    g->texts = callocCheck(rows, sizeof *g->texts);        // grown by tokenizer_decode
    g->text_caps = callocCheck(rows, sizeof *g->text_caps);
    g->answers = mallocCheck(rows * sizeof *g->answers);
    for (size_t i = 0; i < rows; i++) g->answers[i] = mallocCheck(GRADE_ANSWER_CAP);
    g->text_lens = mallocCheck(rows * sizeof *g->text_lens);
    g->correct = mallocCheck(rows * sizeof *g->correct);
}

void grader_free(Grader *g) {
    const size_t rows = (size_t)g->per * g->n;
    for (size_t i = 0; i < rows; i++) {
        gen_output_free(&g->out[i]);
        free(g->texts[i]);
        free(g->answers[i]);
    }
    free(g->reqs); free(g->out); free(g->seeds); free(g->ptok); free(g->plen);
    free(g->texts); free(g->text_caps); free(g->answers); free(g->text_lens); free(g->correct);
    memset(g, 0, sizeof *g);
}

int grader_run(Grader *g, const GradeItem *items, int count, GradeFn fn, void *ctx, char *err, size_t errlen) {
    if (count < 0 || count > g->per) die("grader_run: %d items for a grader of %d per call", count, g->per);
    if (count == 0) return 0;
    const int n = g->n;
    for (int k = 0; k < count; k++) {
        g->ptok[k] = items[k].tokens;
        g->plen[k] = items[k].n_tokens;
        for (int i = 0; i < n; i++) {
            GenRequest *r = &g->reqs[k * n + i];
            r->prompt = k;
            r->seed = g->seeds[k * n + i] = sampler_seed(g->run_seed, items[k].seed_index, (uint64_t)i);
        }
    }
    const int rc = g->be ? genloop_run(g->be, count, g->ptok, g->plen, count * n, g->reqs, g->gp, g->out, NULL, err, errlen)
                         : infer_generate(g->inf, count, g->ptok, g->plen, count * n, g->reqs, g->gp, g->out, err, errlen);
    if (rc != 0) return -1;
    for (int k = 0; k < count; k++) {
        const size_t b = (size_t)k * n;
        for (int i = 0; i < n; i++) {
            const GenOutput *o = &g->out[b + i];
            g->tokens += (uint64_t)o->n;
            g->text_lens[b + i] = tokenizer_decode(g->tok, o->tokens, (size_t)o->n, TOK_SKIP_SPECIAL, &g->texts[b + i], &g->text_caps[b + i]);
            g->correct[b + i] = verify(g->verifier, items[k].gold, g->texts[b + i], g->answers[b + i], GRADE_ANSWER_CAP) == 1;
        }
        Graded r = {.n = n, .out = &g->out[b], .seeds = &g->seeds[b], .texts = &g->texts[b], .text_lens = &g->text_lens[b],
                    .answers = &g->answers[b], .correct = &g->correct[b]};
        if (eval_problem(g->verifier, (const char *const *)&g->answers[b], &g->correct[b], n, &r.ep, err, errlen) != 0) return -1;
        if (fn && fn(ctx, k, &r, err, errlen) != 0) return -1;
    }
    return 0;
}
