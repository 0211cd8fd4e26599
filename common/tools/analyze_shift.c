// rlvr analyze shift: how an update moved the policy's token probabilities (docs/analysis.md,
// "probability shifts after an update"). Responses are sampled from policy A (--model); both A and B
// (--model-b, e.g. a later checkpoint of the same run) score every response token with a full forward
// at the sampling temperature, and the shift of token t is delta_t = log pi_B(o_t) - log pi_A(o_t).
// Reported by response correctness and by A's token-entropy quantile bin: which tokens the update
// moved, in which direction, and how the move relates to entropy.
#include <string.h>

#include "common/tools/analyze.h"

enum { CLS_ALL = 0, CLS_POS = 1, CLS_NEG = 2, N_CLS = 3 };
static const char *const cls_name[N_CLS] = {"all", "pos", "neg"};

typedef struct {
    AnalyzeScorer sc;                   // forward-only scoring, shared by A and B
    DVec ent[N_CLS], delta[N_CLS], absd[N_CLS];   // per response token; CLS_POS / CLS_NEG by correctness
    DVec seq_delta[N_CLS];              // per response: sum of delta_t = log pi_B(o) / pi_A(o)
    size_t responses;
    float *lp_a, *lp_b, *ent_a;         // (max_seq) head outputs of one sequence
} ShiftState;

static void *sh_init(Analyze *a) {
    ShiftState *s = callocCheck(1, sizeof *s);
    const size_t T = (size_t)a->max_seq;
    analyze_scorer_init(&s->sc, a);
    s->lp_a = mallocCheck(T * sizeof(float));
    s->lp_b = mallocCheck(T * sizeof(float));
    s->ent_a = mallocCheck(T * sizeof(float));
    return s;
}

static void sh_free(void *p) {
    ShiftState *s = p;
    analyze_scorer_free(&s->sc);
    for (int c = 0; c < N_CLS; c++) { dvec_free(&s->ent[c]); dvec_free(&s->delta[c]); dvec_free(&s->absd[c]); dvec_free(&s->seq_delta[c]); }
    free(s->lp_a); free(s->lp_b); free(s->ent_a);
    free(s);
}

static int sh_problem(Analyze *a, void *p, const Sampled *sm, char *err, size_t errlen) {
    ShiftState *s = p;
    const int plen = sm->prompt_len;
    const float T = (float)a->o.temperature;
    for (int i = 0; i < sm->n; i++) {
        const GenOutput *o = &sm->out[i];
        // the same forward path for both policies, so delta is exactly 0 when A and B are the same weights
        const size_t h0 = analyze_score(&s->sc, &a->m, sm->prompt, plen, o->tokens, o->n, T, s->lp_a, s->ent_a, NULL);
        analyze_score(&s->sc, &a->mb, sm->prompt, plen, o->tokens, o->n, T, s->lp_b, NULL, NULL);
        const int cls = sm->correct[i] ? CLS_POS : CLS_NEG;
        double sum = 0.0;
        float *delta = mallocCheck((size_t)(o->n ? o->n : 1) * sizeof(float));   // (n_tokens)
        for (int t = 0; t < o->n; t++) {
            const double d = (double)s->lp_b[h0 + t] - (double)s->lp_a[h0 + t];
            delta[t] = (float)d;
            sum += d;
            const int cs[2] = {CLS_ALL, cls};
            for (int c = 0; c < 2; c++) {
                dvec_push(&s->ent[cs[c]], s->ent_a[h0 + t]);
                dvec_push(&s->delta[cs[c]], d);
                dvec_push(&s->absd[cs[c]], fabs(d));
            }
        }
        dvec_push(&s->seq_delta[CLS_ALL], sum);
        dvec_push(&s->seq_delta[cls], sum);
        s->responses++;
        int rc = 0;
        if (a->items) {
            json_t *j = analyze_item(sm, i);
            json_object_set_new(j, "n_tokens", json_integer(o->n));
            json_object_set_new(j, "seq_delta", analyze_num(sum));
            if (a->o.save_tokens) {
                json_t *pt = json_array(), *tk = json_array();
                for (int t = 0; t < plen; t++) json_array_append_new(pt, json_integer(sm->prompt[t]));
                for (int t = 0; t < o->n; t++) json_array_append_new(tk, json_integer(o->tokens[t]));
                json_object_set_new(j, "prompt_tokens", pt);
                json_object_set_new(j, "tokens", tk);
                json_object_set_new(j, "logprob_a", analyze_float_array(s->lp_a + h0, o->n));
                json_object_set_new(j, "logprob_b", analyze_float_array(s->lp_b + h0, o->n));
                json_object_set_new(j, "entropy_a", analyze_float_array(s->ent_a + h0, o->n));
                json_object_set_new(j, "delta", analyze_float_array(delta, o->n));
            }
            rc = analyze_write_line(a->items, j, "shift.jsonl", err, errlen);
        }
        free(delta);
        if (rc != 0) return -1;
    }
    return 0;
}

static double mean_of(const DVec *d) {
    double s = 0.0;
    for (size_t i = 0; i < d->n; i++) s += d->v[i];
    return d->n ? s / (double)d->n : NAN;
}

static double frac_positive(const DVec *d) {
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) k += d->v[i] > 0.0;
    return d->n ? (double)k / (double)d->n : NAN;
}

static void sh_finish(Analyze *a, void *p, json_t *summary) {
    ShiftState *s = p;
    json_object_set_new(summary, "model_b", json_string(a->o.model_b_path));
    json_object_set_new(summary, "responses", json_integer((json_int_t)s->responses));
    json_object_set_new(summary, "tokens", json_integer((json_int_t)s->delta[CLS_ALL].n));
    json_object_set_new(summary, "delta", json_string("log pi_B(o_t) - log pi_A(o_t) at the sampling temperature; responses sampled from A"));
    json_object_set_new(summary, "bins", json_integer(a->o.bins));
    json_t *md = json_object(), *mad = json_object(), *up = json_object(), *sd = json_object(), *bins = json_object(),
           *corr = json_object(), *ntok = json_object();
    const char *const names[2] = {"delta", "abs_delta"};
    for (int c = 0; c < N_CLS; c++) {
        json_object_set_new(ntok, cls_name[c], json_integer((json_int_t)s->delta[c].n));
        json_object_set_new(md, cls_name[c], analyze_num(mean_of(&s->delta[c])));
        json_object_set_new(mad, cls_name[c], analyze_num(mean_of(&s->absd[c])));
        json_object_set_new(up, cls_name[c], analyze_num(frac_positive(&s->delta[c])));
        json_object_set_new(sd, cls_name[c], analyze_num(mean_of(&s->seq_delta[c])));
        const double *vals[2] = {s->delta[c].v, s->absd[c].v};
        json_object_set_new(bins, cls_name[c], analyze_entropy_bins(s->ent[c].v, s->ent[c].n, a->o.bins, vals, names, 2));
        json_object_set_new(corr, cls_name[c], analyze_correlation(s->absd[c].v, s->ent[c].v, s->ent[c].n));
    }
    json_object_set_new(summary, "tokens_by_class", ntok);
    json_object_set_new(summary, "delta_mean", md);
    json_object_set_new(summary, "abs_delta_mean", mad);
    json_object_set_new(summary, "frac_up", up);
    json_object_set_new(summary, "seq_delta_mean", sd);
    json_object_set_new(summary, "by_entropy_bin", bins);
    json_object_set_new(summary, "correlation_abs_delta_entropy", corr);

    printf("shift     %s: %zu responses, %zu tokens, T %.3g; delta = log pi_B - log pi_A (B = %s)\n", a->b.name, s->responses,
           s->delta[CLS_ALL].n, a->o.temperature, a->o.model_b_path);
    for (int c = 0; c < N_CLS; c++) {
        json_t *cc = json_object_get(corr, cls_name[c]);
        printf("%-4s tokens %6zu  mean delta %+.4f  mean |delta| %.4f  up %.3f  seq delta %+.4f  corr(|delta|, H) spearman %.4f\n",
               cls_name[c], s->delta[c].n, analyze_jnum(json_object_get(md, cls_name[c])), analyze_jnum(json_object_get(mad, cls_name[c])),
               analyze_jnum(json_object_get(up, cls_name[c])), analyze_jnum(json_object_get(sd, cls_name[c])),
               analyze_jnum(json_object_get(cc, "spearman")));
    }
    analyze_print_bins("mean |delta| by entropy quantile bin of A:", json_object_get(bins, "all"), "abs_delta_mean", "%.4g");
}

const AnalysisOps analysis_shift = {"shift", "shift.jsonl", sh_init, sh_problem, sh_finish, sh_free};
