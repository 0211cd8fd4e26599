// rlvr analyze gradnorm: the LM-head gradient-norm proxy (paper eq. 4 / 12, docs/analysis.md)
//     G_t = |coef_t| * ||e(o_t) - pi_t||_2 * ||h_t||_2,   pi_t = softmax(z_t / T)
// for every token of every sampled response, against the token's entropy. Each problem's N samples are
// one GRPO group: rewards from the verdicts (reward.format, +1/-1 by default), advantages by the
// learner's grpo_advantage, and coef_t = dL/dlogp_t of the DAPO policy loss at ratio 1 (the first
// update on fresh samples) with token-mean aggregation over the group's tokens, i.e. -A / N_group
// (common/rl/algo.h policy_loss). h_t, ||h_t||, log pi and H_t come from one full forward over
// prompt + response (common/engine/forward.h model_head), not from the sampler. ||e - pi|| is computed from
// the logits rows in double (common/rl/token_metrics.h onehot_minus_softmax_norm): model_head's float
// sum_v pi_v^2 would leave 1 - 2 pi(o) + sum pi^2 to cancel in float, which is 20x off for the
// confident tokens (pi(o) ~ 1 - 1e-5) that make up most of a response.
#include <math.h>
#include <string.h>

#include "common/engine/forward.h"
#include "common/rl/token_metrics.h"
#include "common/engine/ops.h"
#include "common/tools/analyze.h"

#define GN_ROWS 64   // logits rows computed at once: bounds memory at 64 * V floats

enum { CLS_ALL = 0, CLS_POS = 1, CLS_NEG = 2, N_CLS = 3 };
static const char *const cls_name[N_CLS] = {"all", "pos", "neg"};

typedef struct {
    AnalyzeScorer sc;           // forward-only scoring of prompt + response
    DVec ent[N_CLS], g[N_CLS], enorm[N_CLS], hnorm[N_CLS];   // per token; CLS_ALL = tokens with A != 0
    size_t groups, groups_zero, tokens, tokens_zero;
    // Per-problem scratch, grown to (n, Tmax) as needed.
    size_t cap;
    float *logp, *ent_t, *hn, *en, *mask, *tok_adv, *coef, *g_t;   // (n, Tmax) each
    float *row_logp, *row_ent, *row_hn;                            // (max_seq) head outputs of one sequence
    float *logits;                                                 // (GN_ROWS, V) logits of a chunk of rows
    float *dump;                                                   // (n, Tmax, V) with --dump-logits
} GradState;

static void *gn_init(Analyze *a) {
    GradState *s = callocCheck(1, sizeof *s);
    const size_t T = (size_t)a->max_seq;
    analyze_scorer_init(&s->sc, a);
    s->row_logp = mallocCheck(T * sizeof(float));
    s->row_ent = mallocCheck(T * sizeof(float));
    s->row_hn = mallocCheck(T * sizeof(float));
    s->logits = mallocCheck((size_t)GN_ROWS * (size_t)a->m.cfg.vocab_size * sizeof(float));
    return s;
}

static void gn_free(void *p) {
    GradState *s = p;
    analyze_scorer_free(&s->sc);
    for (int c = 0; c < N_CLS; c++) { dvec_free(&s->ent[c]); dvec_free(&s->g[c]); dvec_free(&s->enorm[c]); dvec_free(&s->hnorm[c]); }
    free(s->logp); free(s->ent_t); free(s->hn); free(s->en); free(s->mask); free(s->tok_adv); free(s->coef); free(s->g_t);
    free(s->row_logp); free(s->row_ent); free(s->row_hn);
    free(s->logits); free(s->dump);
    free(s);
}

static void grow(GradState *s, size_t need, size_t V, int dump) {
    if (need <= s->cap) return;
    s->cap = need;
    float **bufs[] = {&s->logp, &s->ent_t, &s->hn, &s->en, &s->mask, &s->tok_adv, &s->coef, &s->g_t};
    for (size_t b = 0; b < sizeof bufs / sizeof bufs[0]; b++) *bufs[b] = reallocCheck(*bufs[b], need * sizeof(float));
    if (dump) s->dump = reallocCheck(s->dump, need * V * sizeof(float));
}

static int gn_problem(Analyze *a, void *p, const Sampled *sm, char *err, size_t errlen) {
    GradState *s = p;
    const int n = sm->n, plen = sm->prompt_len, V = a->m.cfg.vocab_size;
    const float T = (float)a->o.temperature;
    int Tmax = 1;
    for (int i = 0; i < n; i++) if (sm->out[i].n > Tmax) Tmax = sm->out[i].n;
    const size_t NT = (size_t)n * (size_t)Tmax;
    grow(s, NT, (size_t)V, a->o.dump_logits);
    memset(s->mask, 0, NT * sizeof(float));
    memset(s->logp, 0, NT * sizeof(float));
    memset(s->ent_t, 0, NT * sizeof(float));
    memset(s->hn, 0, NT * sizeof(float));
    memset(s->en, 0, NT * sizeof(float));
    ModelView w;
    model_view(&a->m, a->m.params, &w);
    const int C = a->m.cfg.hidden_size;
    int *len = mallocCheck((size_t)n * sizeof(int));                 // (n)
    float *reward = mallocCheck((size_t)n * sizeof(float)), *adv = mallocCheck((size_t)n * sizeof(float));   // (n)
    int64_t *group = mallocCheck((size_t)n * sizeof(int64_t));       // (n) one group: this problem
    size_t group_tokens = 0;
    for (int i = 0; i < n; i++) {
        const GenOutput *o = &sm->out[i];
        const size_t h0 = analyze_score(&s->sc, &a->m, sm->prompt, plen, o->tokens, o->n, T, s->row_logp, s->row_ent, s->row_hn);
        const size_t r0 = (size_t)i * Tmax;
        for (int t = 0; t < o->n; t++) {
            s->logp[r0 + t] = s->row_logp[h0 + t];
            s->ent_t[r0 + t] = s->row_ent[h0 + t];
            s->hn[r0 + t] = s->row_hn[h0 + t];
            s->mask[r0 + t] = 1.0f;
        }
        // lm_head over the response rows of the final-normed hidden states, GN_ROWS at a time.
        for (int t0 = 0; t0 < o->n; t0 += GN_ROWS) {
            const int nr = o->n - t0 < GN_ROWS ? o->n - t0 : GN_ROWS;
            linear_forward(s->logits, s->sc.acts.lnf + (h0 + (size_t)t0) * C, w.lm_head, NULL, (size_t)nr, C, V);
            for (int r = 0; r < nr; r++)
                s->en[r0 + t0 + r] = onehot_minus_softmax_norm(s->logits + (size_t)r * V, (size_t)V, T, o->tokens[t0 + r]);
            if (a->o.dump_logits) memcpy(s->dump + (r0 + t0) * V, s->logits, (size_t)nr * V * sizeof(float));
        }
        len[i] = o->n;
        group_tokens += (size_t)o->n;
        reward[i] = reward_from_correct(sm->correct[i], a->o.reward_fmt);
        group[i] = (int64_t)sm->index;
    }
    GrpoParams gp;
    grpo_params_default(&gp);
    gp.norm_by_std = a->o.norm_by_std;
    grpo_advantage(reward, group, (size_t)n, &gp, adv);
    token_advantages(adv, len, (size_t)n, (size_t)Tmax, NULL, s->tok_adv);
    PolicyLossParams plp;
    policy_loss_params_default(&plp);
    plp.agg.mode = AGG_TOKEN_MEAN;
    plp.agg.global_tokens = (double)group_tokens;
    PolicyLossOut po = {.dlogp = s->coef};
    PolicyLossStats pst;
    // logp == old_logp: ratio exactly 1, the unclipped branch, as on the first update after sampling.
    policy_loss(s->logp, s->logp, s->tok_adv, s->mask, (size_t)n, (size_t)Tmax, &plp, &po, &pst);
    // G = |coef| ||e - pi|| ||h||: common/rl/token_metrics.h grad_norm_proxy, with ||e - pi|| already in hand.
    for (size_t r = 0; r < NT; r++) s->g_t[r] = (float)(fabs((double)s->coef[r]) * (double)s->en[r] * fabs((double)s->hn[r]));

    s->groups++;
    int all_zero = 1;
    for (int i = 0; i < n; i++) all_zero &= adv[i] == 0.0f;
    s->groups_zero += (size_t)all_zero;
    for (int i = 0; i < n; i++) {
        const size_t r0 = (size_t)i * Tmax;
        const int c = adv[i] > 0 ? CLS_POS : adv[i] < 0 ? CLS_NEG : -1;
        s->tokens += (size_t)len[i];
        if (c < 0) s->tokens_zero += (size_t)len[i];
        const float *enorm = s->en + r0;
        float *prob = mallocCheck((size_t)(len[i] ? len[i] : 1) * sizeof(float));   // (len)
        for (int t = 0; t < len[i]; t++) {
            prob[t] = (float)exp((double)s->logp[r0 + t]);
            if (c < 0) continue;
            const int cls[2] = {CLS_ALL, c};
            for (int k = 0; k < 2; k++) {
                dvec_push(&s->ent[cls[k]], s->ent_t[r0 + t]);
                dvec_push(&s->g[cls[k]], s->g_t[r0 + t]);
                dvec_push(&s->enorm[cls[k]], enorm[t]);
                dvec_push(&s->hnorm[cls[k]], s->hn[r0 + t]);
            }
        }
        int rc = 0;
        if (a->items) {
            json_t *j = analyze_item(sm, i);
            json_object_set_new(j, "reward", json_real(reward[i]));
            json_object_set_new(j, "adv", json_real(adv[i]));
            json_object_set_new(j, "group_tokens", json_integer((json_int_t)group_tokens));
            json_object_set_new(j, "coef", json_real(len[i] ? s->coef[r0] : 0.0));
            json_object_set_new(j, "n_tokens", json_integer(len[i]));
            json_object_set_new(j, "entropies", analyze_float_array(s->ent_t + r0, len[i]));
            json_object_set_new(j, "g", analyze_float_array(s->g_t + r0, len[i]));
            json_object_set_new(j, "enorm", analyze_float_array(enorm, len[i]));
            if (a->o.save_tokens || a->o.dump_logits) {
                json_t *pt = json_array(), *tk = json_array();
                for (int t = 0; t < plen; t++) json_array_append_new(pt, json_integer(sm->prompt[t]));
                for (int t = 0; t < len[i]; t++) json_array_append_new(tk, json_integer(sm->out[i].tokens[t]));
                json_object_set_new(j, "prompt_tokens", pt);
                json_object_set_new(j, "tokens", tk);
                json_object_set_new(j, "prob", analyze_float_array(prob, len[i]));
                json_object_set_new(j, "hnorm", analyze_float_array(s->hn + r0, len[i]));
            }
            if (a->o.dump_logits) {
                json_t *lg = json_array();
                for (int t = 0; t < len[i]; t++) json_array_append_new(lg, analyze_float_array(s->dump + (r0 + (size_t)t) * V, V));
                json_object_set_new(j, "logits", lg);
            }
            rc = analyze_write_line(a->items, j, "gradnorm.jsonl", err, errlen);
        }
        free(prob);
        if (rc != 0) { free(len); free(reward); free(adv); free(group); return -1; }
    }
    free(len); free(reward); free(adv); free(group);
    return 0;
}

static void gn_finish(Analyze *a, void *p, json_t *summary) {
    GradState *s = p;
    json_object_set_new(summary, "groups", json_integer((json_int_t)s->groups));
    json_object_set_new(summary, "groups_all_equal", json_integer((json_int_t)s->groups_zero));
    json_object_set_new(summary, "tokens", json_integer((json_int_t)s->tokens));
    json_object_set_new(summary, "tokens_zero_adv", json_integer((json_int_t)s->tokens_zero));
    json_object_set_new(summary, "reward_format", json_string(a->o.reward_fmt == REWARD_01 ? "01" : "pm1"));
    json_object_set_new(summary, "norm_adv_by_std", json_boolean(a->o.norm_by_std));
    json_object_set_new(summary, "coef", json_string("dL/dlogp at ratio 1, token-mean over the group's tokens: -A / group_tokens"));
    json_object_set_new(summary, "bins", json_integer(a->o.bins));
    json_t *bins = json_object(), *corr = json_object(), *means = json_object();
    const char *const names[3] = {"g", "enorm", "hnorm"};
    for (int c = 0; c < N_CLS; c++) {
        const double *vals[3] = {s->g[c].v, s->enorm[c].v, s->hnorm[c].v};
        json_object_set_new(bins, cls_name[c], analyze_entropy_bins(s->ent[c].v, s->ent[c].n, a->o.bins, vals, names, 3));
        json_object_set_new(corr, cls_name[c], analyze_correlation(s->g[c].v, s->ent[c].v, s->ent[c].n));
        double sum = 0;
        for (size_t i = 0; i < s->g[c].n; i++) sum += s->g[c].v[i];
        json_object_set_new(means, cls_name[c], analyze_num(s->g[c].n ? sum / (double)s->g[c].n : NAN));
    }
    json_object_set_new(summary, "g_mean", means);
    json_object_set_new(summary, "by_entropy_bin", bins);
    json_object_set_new(summary, "correlation_g_entropy", corr);

    printf("gradnorm  %s: %zu groups (%zu with all-equal rewards), %zu tokens (%zu with A = 0), T %.3g\n", a->b.name, s->groups,
           s->groups_zero, s->tokens, s->tokens_zero, a->o.temperature);
    for (int c = 0; c < N_CLS; c++) {
        json_t *cc = json_object_get(corr, cls_name[c]);
        printf("%-4s tokens %6zu  mean G %.4g  corr(G, H) pearson %.4f spearman %.4f\n", cls_name[c], s->ent[c].n,
               analyze_jnum(json_object_get(means, cls_name[c])), analyze_jnum(json_object_get(cc, "pearson")),
               analyze_jnum(json_object_get(cc, "spearman")));
    }
    analyze_print_bins("mean G by entropy quantile bin (A != 0):", json_object_get(bins, "all"), "g_mean", "%.4g");
}

const AnalysisOps analysis_gradnorm = {"gradnorm", "gradnorm.jsonl", gn_init, gn_problem, gn_finish, gn_free};
