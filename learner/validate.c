// Validation inside the learner; see validate.h.
#include "learner/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/tasks/eval.h"
#include "common/tasks/grade.h"
#include "common/tasks/verifier.h"
#include "common/engine/infer.h"
#include "common/tasks/data_stream.h"

#define VAL_MAX_ROWS 64   // sequences decoded together (problems x eval.n)

static GenParams val_gen_params(const RlvrConfig *c, const Tokenizer *tok) {
    GenParams gp;
    gen_params_default(&gp);
    gp.sampler.temperature = (float)c->eval_temperature;
    gp.sampler.top_p = (float)c->eval_top_p;
    gp.sampler.top_k = 0;
    int64_t mx = c->eval_max_new_tokens > 0 ? c->eval_max_new_tokens : c->data_max_response_length;
    if (mx > c->data_max_response_length) mx = c->data_max_response_length;
    gp.max_new_tokens = (int)mx;
    gp.n_stop = 0;
    for (int i = 0; i < tok->n_eos && gp.n_stop < INFER_MAX_STOP; i++) gp.stop[gp.n_stop++] = tok->eos_ids[i];
    return gp;
}

static int add_problem(void *ctx, int k, const Graded *g, char *err, size_t errlen) {
    (void)k; (void)err; (void)errlen;
    eval_totals_add(ctx, &g->ep);
    return 0;
}

int learner_validate(const RlvrConfig *c, const Model *m, const Tokenizer *tok, ValResult *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    double t0 = now_seconds();
    DataStream ds;
    if (data_open(&ds, c, tok, 1, err, errlen) != 0) return -1;
    size_t total = problem_source_size(ds.src);
    if (!strcmp(c->data_val_files, "arith")) total = (size_t)c->data_arith_heldout_size;
    if (total == 0) {
        data_close(&ds);
        return rlvr_err(err, errlen, "data.val_files = '%s' holds no problems (for arith: data.arith.heldout_size = 0)", c->data_val_files);
    }
    const int n = (int)c->eval_n;
    const GenParams gp = val_gen_params(c, tok);
    const int per = VAL_MAX_ROWS / n > 0 ? VAL_MAX_ROWS / n : 1;   // problems per engine call
    Infer inf;
    if (infer_init(&inf, m, per * n, (int)c->data_max_prompt_length + gp.max_new_tokens, err, errlen) != 0) {
        data_close(&ds);
        return -1;
    }
    // sample i of problem j: sampler_seed(trainer.seed, j, i), exactly what `rlvr eval --config CFG --seed
    // <trainer.seed>` draws, so a checkpoint's validation figures can be reproduced outside the run
    Grader g;
    grader_init(&g, &inf, tok, &gp, verifier_for_style(c->reward_verifier, c->reward_style), (uint64_t)c->trainer_seed, n, per);
    DataItem *items = callocCheck((size_t)per, sizeof *items);
    GradeItem *gi = mallocCheck((size_t)per * sizeof *gi);
    EvalTotals tot;
    eval_totals_init(&tot);
    int rc = 0;
    size_t seen = 0;   // problems drawn (a too-long prompt is skipped by data_next and not counted)
    while (seen < total && rc == 0) {
        int np = 0;
        while (np < per && seen < total) {
            uint64_t before = ds.skipped_long;
            if (data_next(&ds, &items[np], err, errlen) != 0) { rc = -1; break; }
            seen += 1 + (size_t)(ds.skipped_long - before);
            if (seen > total) { data_item_free(&items[np]); break; }   // the skipped ones ran past the end
            gi[np] = (GradeItem){.tokens = items[np].tokens, .n_tokens = items[np].n_tokens,
                                 .seed_index = (uint64_t)(seen - 1), .gold = items[np].answer};
            np++;
        }
        if (rc == 0) rc = grader_run(&g, gi, np, add_problem, &tot, err, errlen);
        for (int p = 0; p < np; p++) data_item_free(&items[p]);
    }
    if (rc == 0 && tot.problems == 0)
        rc = rlvr_err(err, errlen, "no validation problem fits data.max_prompt_length = %lld tokens", (long long)c->data_max_prompt_length);
    if (rc == 0) {
        out->problems = tot.problems;
        out->n = n;
        out->acc = eval_acc(&tot);
        out->maj = eval_maj(&tot);
        out->pass = eval_pass(&tot);
        out->tokens = g.tokens;
        out->response_length_mean = (double)g.tokens / ((double)tot.problems * n);
        out->seconds = now_seconds() - t0;
    }
    grader_free(&g);
    free(gi); free(items);
    infer_free(&inf);
    data_close(&ds);
    return rc;
}

char *val_format(long step, int64_t policy_version, const ValResult *v) {
    char buf[512];
    int k = snprintf(buf, sizeof buf,
                     "{\"step\": %ld, \"policy_version\": %lld, \"val_problems\": %d, \"val_n\": %d, \"val_acc\": %.6f, "
                     "\"val_maj\": %.6f, \"val_pass\": %.6f, \"val_response_length_mean\": %.3f, \"val_time_s\": %.3f}",
                     step, (long long)policy_version, v->problems, v->n, v->acc, v->maj, v->pass, v->response_length_mean, v->seconds);
    if (k < 0 || (size_t)k >= sizeof buf) die("val_format: line too long");
    return strdupCheck(buf);
}

// ---- the learner's hook -----------------------------------------------------------------------------
#include "learner/learner.h"
#include "learner/metrics_log.h"

char *learner_validate_step(Learner *L, char *line) {
    ValResult v;
    char err[2048];
    trainer_sync_params(&L->tr);
    if (learner_validate(&L->cfg, &L->model, &L->tok, &v, err, sizeof err) != 0) {
        // a broken validation set should not cost the training run: say so and go on
        learner_log(L, "warning: validation at step %ld failed: %s (fix data.val_files / eval.*; training continues)", L->step, err);
        return line;
    }
    char path[LEARNER_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/val_metrics.jsonl", L->run_dir);
    char *vl = val_format(L->step, L->version, &v);
    if (metrics_append(path, vl, err, sizeof err) != 0) learner_log(L, "warning: %s", err);
    free(vl);
    printf("val   step %ld: acc@%d %.3f  maj@%d %.3f  pass@%d %.3f  over %d problems, mean length %.1f, %.1f s\n", L->step, v.n,
           v.acc, v.n, v.maj, v.n, v.pass, v.problems, v.response_length_mean, v.seconds);
    fflush(stdout);
    if (!line) return NULL;
    // the step's metrics line gets the figures too (not the time: a resumed run reproduces the line)
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] != '}') n--;
    if (n == 0) return line;
    char extra[256];
    int k = snprintf(extra, sizeof extra, ", \"val_problems\": %d, \"val_acc\": %.6f, \"val_maj\": %.6f, \"val_pass\": %.6f}", v.problems,
                     v.acc, v.maj, v.pass);
    char *out = mallocCheck(n - 1 + (size_t)k + 1);
    memcpy(out, line, n - 1);
    memcpy(out + n - 1, extra, (size_t)k + 1);
    free(line);
    return out;
}
