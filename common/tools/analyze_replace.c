// rlvr analyze replace: the performance impact of a token (paper eq. 6). For a sampled response o and a
// position t, o'_t = argmax_{v != o_t} z_t[v] is the most probable other token under softmax(z_t / T);
// k continuations are sampled from prompt + o_<t + o_t and k from prompt + o_<t + o'_t, each graded,
// and impact_t = acc(original) - acc(replaced). Positions: the K highest-entropy tokens of each
// response (top-entropy:K), or every position up to --max-positions. Continuation c of branch b
// (0 original, 1 replaced) at position t of sample i of problem j is seeded with
//     sampler_seed(sampler_seed(sampler_seed(seed, j, i), t, b), c, 0)
// and the engine is batch-invariant, so results do not depend on --batch or on which other positions
// are analysed. A branch whose token at t is the stop token, or that has no token budget left
// (t + 1 == --max-tokens), has no continuation: the prefix itself is graded (acc 0 or 1).
#include <math.h>
#include <string.h>

#include "common/engine/sampler.h"
#include "common/tools/analyze.h"

typedef struct {
    DVec ent, impact, acc0, acc1;       // per analysed position
    DVec impact_cls[2];                 // impact at positions of incorrect (0) / correct (1) responses
    size_t responses;
    int V, B, k;
    float *logits;                      // (B, V) logits at the chosen rows of one chunk
    int *slots, *pos, *rows;            // (max_seq) rows fed to infer_forward, (B) rows read back
    int *order, *chosen;                // (max_tokens) candidate positions, chosen positions
    int *seq;                           // (max_seq) prompt + response
    int *prefix[2];                     // (max_seq) prompt + o_<t + branch token
    int *resp;                          // (max_tokens) a branch's full response for grading
    GenOutput *cont;                    // (2k) continuations of both branches
    GenRequest *reqs;                   // (2k)
} ReplaceState;

static void *rp_init(Analyze *a) {
    ReplaceState *s = callocCheck(1, sizeof *s);
    const size_t T = (size_t)a->max_seq, M = (size_t)a->o.max_tokens, k2 = 2 * (size_t)a->o.k;
    s->V = a->m.cfg.vocab_size;
    s->B = a->inf.cache.B;
    s->k = a->o.k;
    s->seq = mallocCheck(T * sizeof(int));
    s->logits = mallocCheck((size_t)s->B * (size_t)s->V * sizeof(float));
    s->slots = callocCheck(T, sizeof(int));
    s->pos = mallocCheck(T * sizeof(int));
    s->rows = mallocCheck((size_t)s->B * sizeof(int));
    s->order = mallocCheck(M * sizeof(int));
    s->chosen = mallocCheck(M * sizeof(int));
    for (int b = 0; b < 2; b++) s->prefix[b] = mallocCheck(T * sizeof(int));
    s->resp = mallocCheck(M * sizeof(int));
    s->cont = mallocCheck(k2 * sizeof(GenOutput));
    for (size_t c = 0; c < k2; c++) gen_output_alloc(&s->cont[c], (int)M);
    s->reqs = mallocCheck(k2 * sizeof(GenRequest));
    return s;
}

static void rp_free(void *p) {
    ReplaceState *s = p;
    dvec_free(&s->ent); dvec_free(&s->impact); dvec_free(&s->acc0); dvec_free(&s->acc1);
    dvec_free(&s->impact_cls[0]); dvec_free(&s->impact_cls[1]);
    for (int c = 0; c < 2 * s->k; c++) gen_output_free(&s->cont[c]);
    free(s->logits); free(s->slots); free(s->pos); free(s->rows); free(s->order); free(s->chosen);
    free(s->seq); free(s->prefix[0]); free(s->prefix[1]); free(s->resp); free(s->cont); free(s->reqs);
    free(s);
}

// Positions by entropy, highest first; ties: earlier position first. qsort has no context argument,
// so the entropies travel with the positions.
typedef struct { float h; int t; } EntPos;
static int cmp_entpos(const void *pa, const void *pb) {
    const EntPos *x = pa, *y = pb;
    if (x->h != y->h) return x->h > y->h ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}
static int cmp_int(const void *pa, const void *pb) {
    int x = *(const int *)pa, y = *(const int *)pb;
    return (x > y) - (x < y);
}

static int choose_positions(const Analyze *a, const GenOutput *o, int *chosen) {
    if (a->o.positions_all) {
        int P = o->n < a->o.max_positions ? o->n : a->o.max_positions;
        for (int t = 0; t < P; t++) chosen[t] = t;
        return P;
    }
    EntPos *ep = mallocCheck((size_t)(o->n ? o->n : 1) * sizeof(EntPos));   // (n)
    for (int t = 0; t < o->n; t++) ep[t] = (EntPos){o->entropies[t], t};
    qsort(ep, (size_t)o->n, sizeof(EntPos), cmp_entpos);
    int P = o->n < a->o.top_positions ? o->n : a->o.top_positions;
    for (int r = 0; r < P; r++) chosen[r] = ep[r].t;
    free(ep);
    qsort(chosen, (size_t)P, sizeof(int), cmp_int);
    return P;
}

static int is_stop(const Analyze *a, int tok) {
    for (int i = 0; i < a->gp.n_stop; i++) if (a->gp.stop[i] == tok) return 1;
    return 0;
}

// Most probable token other than `orig` (ties: lowest id). z (V,).
static int best_other(const float *z, int V, int orig) {
    int best = -1;
    for (int v = 0; v < V; v++)
        if (v != orig && (best < 0 || z[v] > z[best])) best = v;
    return best;
}

// Analyses positions chosen[0..P) of sample i. Returns 0, or -1 with err.
static int rp_sample(Analyze *a, ReplaceState *s, const Sampled *sm, int i, int P, char *err, size_t errlen) {
    const GenOutput *o = &sm->out[i];
    const int plen = sm->prompt_len, V = s->V, k = a->o.k;
    const float T = (float)a->o.temperature;
    int *seq = s->seq;
    memcpy(seq, sm->prompt, (size_t)plen * sizeof(int));
    memcpy(seq + plen, o->tokens, (size_t)o->n * sizeof(int));
    for (int c0 = 0; c0 < P; c0 += s->B) {
        const int nc = P - c0 < s->B ? P - c0 : s->B;
        // Feed prompt + o_<t for the last chosen t of this chunk into slot 0 and read back the logits
        // predicting each chosen o_t (row plen - 1 + t): the KV-cache engine, so they are the logits
        // the sampler drew from.
        const int nfeed = plen + s->chosen[c0 + nc - 1];
        for (int r = 0; r < nfeed; r++) s->pos[r] = r;
        for (int c = 0; c < nc; c++) s->rows[c] = plen - 1 + s->chosen[c0 + c];
        a->inf.cache.len[0] = 0;
        infer_forward(&a->inf, nfeed, s->slots, s->pos, seq, nc, s->rows, s->logits);
        for (int c = 0; c < nc; c++) {
            const int t = s->chosen[c0 + c];
            const float *z = s->logits + (size_t)c * V;
            const int tok[2] = {o->tokens[t], best_other(z, V, o->tokens[t])};
            float lp[2], h;
            sampler_logprob_entropy(z, V, T, tok[0], &lp[0], &h);
            sampler_logprob_entropy(z, V, T, tok[1], &lp[1], &h);
            const int remaining = (int)a->o.max_tokens - (t + 1);
            int np = 0, nr = 0, branch_prompt[2] = {-1, -1}, ncorrect[2] = {0, 0}, ends[2];
            const int *prompts[2];
            int plens[2];
            for (int b = 0; b < 2; b++) {
                ends[b] = is_stop(a, tok[b]) || remaining <= 0;
                if (ends[b]) {
                    memcpy(s->resp, o->tokens, (size_t)t * sizeof(int));
                    s->resp[t] = tok[b];
                    ncorrect[b] = analyze_grade(a, sm->gold, s->resp, t + 1) * k;
                    continue;
                }
                int *pf = s->prefix[b];
                memcpy(pf, sm->prompt, (size_t)plen * sizeof(int));
                memcpy(pf + plen, o->tokens, (size_t)t * sizeof(int));
                pf[plen + t] = tok[b];
                prompts[np] = pf;
                plens[np] = plen + t + 1;
                branch_prompt[b] = np++;
                for (int r = 0; r < k; r++) {
                    s->reqs[nr].prompt = branch_prompt[b];
                    s->reqs[nr].seed = sampler_seed(sampler_seed(sm->seeds[i], (uint64_t)t, (uint64_t)b), (uint64_t)r, 0);
                    nr++;
                }
            }
            if (nr > 0) {
                GenParams gp = a->gp;
                gp.max_new_tokens = remaining;
                if (infer_generate(&a->inf, np, prompts, plens, nr, s->reqs, &gp, s->cont, err, errlen) != 0) return -1;
                for (int r = 0; r < nr; r++) {
                    const int b = s->reqs[r].prompt == branch_prompt[0] ? 0 : 1;
                    const GenOutput *co = &s->cont[r];
                    memcpy(s->resp, o->tokens, (size_t)t * sizeof(int));
                    s->resp[t] = tok[b];
                    memcpy(s->resp + t + 1, co->tokens, (size_t)co->n * sizeof(int));
                    ncorrect[b] += analyze_grade(a, sm->gold, s->resp, t + 1 + co->n);
                }
            }
            const double acc0 = (double)ncorrect[0] / k, acc1 = (double)ncorrect[1] / k, impact = acc0 - acc1;
            const double ent = (double)o->entropies[t];
            dvec_push(&s->ent, ent);
            dvec_push(&s->impact, impact);
            dvec_push(&s->acc0, acc0);
            dvec_push(&s->acc1, acc1);
            dvec_push(&s->impact_cls[sm->correct[i] ? 1 : 0], impact);
            if (a->items) {
                json_t *j = analyze_item(sm, i);
                json_object_set_new(j, "n_tokens", json_integer(o->n));
                json_object_set_new(j, "position", json_integer(t));
                json_object_set_new(j, "original_id", json_integer(tok[0]));
                json_object_set_new(j, "original_text", analyze_token_text(a, tok[0]));
                json_object_set_new(j, "replacement_id", json_integer(tok[1]));
                json_object_set_new(j, "replacement_text", analyze_token_text(a, tok[1]));
                json_object_set_new(j, "entropy", analyze_num(ent));
                json_object_set_new(j, "original_logprob", analyze_num(lp[0]));
                json_object_set_new(j, "replacement_logprob", analyze_num(lp[1]));
                json_object_set_new(j, "k", json_integer(k));
                json_object_set_new(j, "original_ends", json_boolean(ends[0]));
                json_object_set_new(j, "replacement_ends", json_boolean(ends[1]));
                json_object_set_new(j, "acc_original", json_real(acc0));
                json_object_set_new(j, "acc_replaced", json_real(acc1));
                json_object_set_new(j, "impact", json_real(impact));
                if (analyze_write_line(a->items, j, "replace.jsonl", err, errlen) != 0) return -1;
            }
        }
    }
    return 0;
}

static int rp_problem(Analyze *a, void *p, const Sampled *sm, char *err, size_t errlen) {
    ReplaceState *s = p;
    for (int i = 0; i < sm->n; i++) {
        s->responses++;
        const int P = choose_positions(a, &sm->out[i], s->chosen);
        if (P > 0 && rp_sample(a, s, sm, i, P, err, errlen) != 0) return -1;
    }
    return 0;
}

static double mean(const DVec *d) {
    double x = 0;
    for (size_t i = 0; i < d->n; i++) x += d->v[i];
    return d->n ? x / (double)d->n : NAN;
}

static void rp_finish(Analyze *a, void *p, json_t *summary) {
    ReplaceState *s = p;
    char mode[64];
    if (a->o.positions_all) snprintf(mode, sizeof mode, "all (max %d)", a->o.max_positions);
    else snprintf(mode, sizeof mode, "top-entropy:%d", a->o.top_positions);
    json_object_set_new(summary, "k", json_integer(a->o.k));
    json_object_set_new(summary, "positions_mode", json_string(mode));
    json_object_set_new(summary, "responses", json_integer((json_int_t)s->responses));
    json_object_set_new(summary, "positions", json_integer((json_int_t)s->impact.n));
    json_object_set_new(summary, "impact_mean", analyze_num(mean(&s->impact)));
    json_object_set_new(summary, "acc_original_mean", analyze_num(mean(&s->acc0)));
    json_object_set_new(summary, "acc_replaced_mean", analyze_num(mean(&s->acc1)));
    json_object_set_new(summary, "entropy_mean", analyze_num(mean(&s->ent)));
    json_object_set_new(summary, "bins", json_integer(a->o.bins));
    const double *vals[3] = {s->impact.v, s->acc0.v, s->acc1.v};
    const char *const names[3] = {"impact", "acc_original", "acc_replaced"};
    json_t *bins = analyze_entropy_bins(s->ent.v, s->ent.n, a->o.bins, vals, names, 3);
    json_object_set_new(summary, "by_entropy_bin", bins);
    json_object_set_new(summary, "correlation_impact_entropy", analyze_correlation(s->impact.v, s->ent.v, s->ent.n));
    json_t *byr = json_object();
    for (int c = 1; c >= 0; c--) {
        json_t *o = json_object();
        json_object_set_new(o, "positions", json_integer((json_int_t)s->impact_cls[c].n));
        json_object_set_new(o, "impact_mean", analyze_num(mean(&s->impact_cls[c])));
        json_object_set_new(byr, c ? "correct" : "incorrect", o);
    }
    json_object_set_new(summary, "by_response", byr);

    printf("replace   %s: %zu responses, %zu positions (%s), k %d, T %.3g\n", a->b.name, s->responses, s->impact.n, mode, a->o.k,
           a->o.temperature);
    printf("acc original %.4f  acc replaced %.4f  impact %.4f  (correct responses %.4f, incorrect %.4f)\n", mean(&s->acc0),
           mean(&s->acc1), mean(&s->impact), mean(&s->impact_cls[1]), mean(&s->impact_cls[0]));
    analyze_print_bins("mean impact by entropy quantile bin:", bins, "impact_mean", "%.4f");
}

const AnalysisOps analysis_replace = {"replace", "replace.jsonl", rp_init, rp_problem, rp_finish, rp_free};
