// rlvr analyze entropy: token entropy H_t = -sum_v pi_v log pi_v of pi = softmax(z_t / T) at the
// sampling temperature (paper eq. 3), as the sampler reports it for each generated token, split by
// whether the response was graded correct; the positional profile over relative position t/|o| (the
// paper's U-shape); per-response perplexity exp(mean NLL) (eq. 7's ln PPL, EOS included); and the
// tokens with the highest mean entropy where they were sampled.
#include <math.h>
#include <string.h>

#include "common/tools/analyze.h"

enum { CLS_ALL = 0, CLS_CORRECT = 1, CLS_INCORRECT = 2, N_CLS = 3 };
static const char *const cls_name[N_CLS] = {"all", "correct", "incorrect"};

typedef struct {
    size_t responses[N_CLS], tokens[N_CLS];
    double ent_sum[N_CLS];
    size_t *bin_count[N_CLS];   // (bins) tokens per relative-position bin
    double *bin_sum[N_CLS];     // (bins) entropy sums
    DVec ppl[N_CLS];            // per-response perplexities
    size_t *tok_count;          // (V) occurrences of each token id among the sampled tokens
    double *tok_ent;            // (V) entropy sums at those occurrences
    int V;
} EntropyState;

static void *ent_init(Analyze *a) {
    EntropyState *s = callocCheck(1, sizeof *s);
    for (int c = 0; c < N_CLS; c++) {
        s->bin_count[c] = callocCheck((size_t)a->o.bins, sizeof(size_t));
        s->bin_sum[c] = callocCheck((size_t)a->o.bins, sizeof(double));
    }
    s->V = a->m.cfg.vocab_size;
    s->tok_count = callocCheck((size_t)s->V, sizeof(size_t));
    s->tok_ent = callocCheck((size_t)s->V, sizeof(double));
    return s;
}

static void ent_free(void *p) {
    EntropyState *s = p;
    for (int c = 0; c < N_CLS; c++) { free(s->bin_count[c]); free(s->bin_sum[c]); dvec_free(&s->ppl[c]); }
    free(s->tok_count); free(s->tok_ent); free(s);
}

static json_t *int_array(const int *x, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(x[i]));
    return a;
}

static int ent_problem(Analyze *a, void *p, const Sampled *sm, char *err, size_t errlen) {
    EntropyState *s = p;
    const int B = a->o.bins;
    for (int i = 0; i < sm->n; i++) {
        const GenOutput *o = &sm->out[i];
        const int cls[2] = {CLS_ALL, sm->correct[i] ? CLS_CORRECT : CLS_INCORRECT};
        double sum = 0;
        for (int t = 0; t < o->n; t++) {
            const double h = (double)o->entropies[t];
            // Relative position t/|o| in [0, 1): every token lands in exactly one of the B bins.
            const int b = (int)(((long long)t * B) / o->n);
            for (int c = 0; c < 2; c++) { s->bin_count[cls[c]][b]++; s->bin_sum[cls[c]][b] += h; }
            sum += h;
            if (o->tokens[t] >= 0 && o->tokens[t] < s->V) { s->tok_count[o->tokens[t]]++; s->tok_ent[o->tokens[t]] += h; }
        }
        const double ppl = exp(response_log_ppl(o->logprobs, (size_t)o->n));
        for (int c = 0; c < 2; c++) {
            s->responses[cls[c]]++;
            s->tokens[cls[c]] += (size_t)o->n;
            s->ent_sum[cls[c]] += sum;
            dvec_push(&s->ppl[cls[c]], ppl);
        }
        if (a->items) {
            json_t *j = analyze_item(sm, i);
            json_object_set_new(j, "answer", json_string(sm->answers[i]));
            json_object_set_new(j, "finish", json_string(finish_reason_name(o->finish)));
            json_object_set_new(j, "n_tokens", json_integer(o->n));
            json_object_set_new(j, "mean_entropy", analyze_num(o->n ? sum / o->n : NAN));
            json_object_set_new(j, "ppl", analyze_num(ppl));
            if (analyze_write_line(a->items, j, "responses.jsonl", err, errlen) != 0) return -1;
        }
        if (a->tokens) {
            json_t *j = analyze_item(sm, i);
            json_object_set_new(j, "text", json_string(sm->texts[i]));
            json_object_set_new(j, "prompt_tokens", int_array(sm->prompt, sm->prompt_len));
            json_object_set_new(j, "tokens", int_array(o->tokens, o->n));
            json_object_set_new(j, "logprobs", analyze_float_array(o->logprobs, o->n));
            json_object_set_new(j, "entropies", analyze_float_array(o->entropies, o->n));
            if (analyze_write_line(a->tokens, j, "tokens.jsonl", err, errlen) != 0) return -1;
        }
    }
    return 0;
}

typedef struct { int id; size_t count; double mean; } TokStat;

// Highest mean entropy first; ties: more occurrences, then lower id.
static int cmp_tok(const void *pa, const void *pb) {
    const TokStat *x = pa, *y = pb;
    if (x->mean != y->mean) return x->mean > y->mean ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void ent_finish(Analyze *a, void *p, json_t *summary) {
    EntropyState *s = p;
    const int B = a->o.bins;
    json_t *resp = json_object(), *toks = json_object(), *ent = json_object(), *prof = json_object(), *ppl = json_object();
    for (int c = 0; c < N_CLS; c++) {
        json_object_set_new(resp, cls_name[c], json_integer((json_int_t)s->responses[c]));
        json_object_set_new(toks, cls_name[c], json_integer((json_int_t)s->tokens[c]));
        json_object_set_new(ent, cls_name[c], analyze_num(s->tokens[c] ? s->ent_sum[c] / (double)s->tokens[c] : NAN));
        json_t *cnt = json_array(), *mean = json_array();
        for (int b = 0; b < B; b++) {
            json_array_append_new(cnt, json_integer((json_int_t)s->bin_count[c][b]));
            json_array_append_new(mean, analyze_num(s->bin_count[c][b] ? s->bin_sum[c][b] / (double)s->bin_count[c][b] : NAN));
        }
        json_t *pc = json_object();
        json_object_set_new(pc, "count", cnt);
        json_object_set_new(pc, "mean_entropy", mean);
        json_object_set_new(prof, cls_name[c], pc);
        json_object_set_new(ppl, cls_name[c], analyze_distribution(s->ppl[c].v, s->ppl[c].n));
    }
    json_t *edges = json_array();
    for (int b = 0; b <= B; b++) json_array_append_new(edges, json_real((double)b / B));
    json_object_set_new(prof, "bins", json_integer(B));
    json_object_set_new(prof, "edges", edges);
    json_object_set_new(summary, "responses", resp);
    json_object_set_new(summary, "tokens", toks);
    json_object_set_new(summary, "accuracy", analyze_num(s->responses[CLS_ALL] ? (double)s->responses[CLS_CORRECT] / (double)s->responses[CLS_ALL] : NAN));
    json_object_set_new(summary, "entropy_mean", ent);
    json_object_set_new(summary, "position_profile", prof);
    json_object_set_new(summary, "ppl", ppl);

    TokStat *ts = mallocCheck((size_t)s->V * sizeof(TokStat));   // (V) candidates for the top-entropy table
    int nid = 0;
    for (int v = 0; v < s->V; v++)
        if (s->tok_count[v] >= (size_t)a->o.min_count)
            ts[nid++] = (TokStat){v, s->tok_count[v], s->tok_ent[v] / (double)s->tok_count[v]};
    qsort(ts, (size_t)nid, sizeof(TokStat), cmp_tok);
    json_t *top = json_array();
    for (int r = 0; r < nid && r < a->o.top_tokens; r++) {
        json_t *t = json_object();
        json_object_set_new(t, "id", json_integer(ts[r].id));
        json_object_set_new(t, "text", analyze_token_text(a, ts[r].id));
        json_object_set_new(t, "count", json_integer((json_int_t)ts[r].count));
        json_object_set_new(t, "mean_entropy", analyze_num(ts[r].mean));
        json_array_append_new(top, t);
    }
    json_object_set_new(summary, "top_tokens_min_count", json_integer(a->o.min_count));
    json_object_set_new(summary, "top_tokens", top);

    printf("entropy   %s: %zu responses (%zu correct, %zu incorrect), %zu tokens, T %.3g\n", a->b.name,
           s->responses[CLS_ALL], s->responses[CLS_CORRECT], s->responses[CLS_INCORRECT], s->tokens[CLS_ALL], a->o.temperature);
    printf("mean token entropy   all %.4f  correct %.4f  incorrect %.4f\n", analyze_jnum(json_object_get(ent, "all")),
           analyze_jnum(json_object_get(ent, "correct")), analyze_jnum(json_object_get(ent, "incorrect")));
    for (int c = CLS_CORRECT; c <= CLS_INCORRECT; c++) {
        json_t *d = json_object_get(ppl, cls_name[c]);
        printf("ppl %-9s  mean %.4f  q1 %.4f  median %.4f  q3 %.4f\n", cls_name[c], analyze_jnum(json_object_get(d, "mean")),
               analyze_jnum(json_object_get(d, "q1")), analyze_jnum(json_object_get(d, "median")),
               analyze_jnum(json_object_get(d, "q3")));
    }
    printf("positional profile (mean entropy by t/|o|, all responses):");
    for (int b = 0; b < B; b++)
        printf(" %.3f", s->bin_count[CLS_ALL][b] ? s->bin_sum[CLS_ALL][b] / (double)s->bin_count[CLS_ALL][b] : NAN);
    printf("\ntop-entropy tokens (seen >= %d times):", a->o.min_count);
    for (int r = 0; r < nid && r < 10 && r < a->o.top_tokens; r++) {
        json_t *t = json_array_get(top, (size_t)r);
        printf(" '%s' %.3f (%lld)", json_string_value(json_object_get(t, "text")), analyze_jnum(json_object_get(t, "mean_entropy")),
               (long long)json_integer_value(json_object_get(t, "count")));
    }
    printf("\n");
    free(ts);
}

const AnalysisOps analysis_entropy = {"entropy", "responses.jsonl", ent_init, ent_problem, ent_finish, ent_free};
