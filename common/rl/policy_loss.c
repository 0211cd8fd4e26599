// Loss aggregation, the DAPO clip-higher policy loss with its exact gradient w.r.t. each token's
// log-prob, and the full actor loss (policy + KL penalty - entropy bonus).
#include "common/rl/algo.h"
#include "common/core/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int loss_agg_parse(const char *s, LossAggMode *out) {
    if (!s) return -1;
    if (!strcmp(s, "token-mean")) { *out = AGG_TOKEN_MEAN; return 0; }
    if (!strcmp(s, "seq-mean-token-sum")) { *out = AGG_SEQ_MEAN_TOKEN_SUM; return 0; }
    if (!strcmp(s, "seq-mean-token-mean")) { *out = AGG_SEQ_MEAN_TOKEN_MEAN; return 0; }
    return -1;
}

const char *loss_agg_name(LossAggMode m) {
    switch (m) {
    case AGG_TOKEN_MEAN: return "token-mean";
    case AGG_SEQ_MEAN_TOKEN_SUM: return "seq-mean-token-sum";
    case AGG_SEQ_MEAN_TOKEN_MEAN: return "seq-mean-token-mean";
    }
    return "?";
}

// Every mode gives one weight per row (each valid token of row b weighs row_w[b]), so aggregation never
// needs a (B, T) buffer. row_w (B,). Returns the divisor (0: nothing to average, all weights 0).
static double agg_row_weights(const float *mask, size_t B, size_t T, const AggParams *a, double *row_w) {
    double ntok = 0.0, nseq = 0.0;
    for (size_t b = 0; b < B; b++) {
        double len = 0.0;
        for (size_t t = 0; t < T; t++) len += mask[b * T + t] != 0.0f;
        row_w[b] = len;   // temporarily the row length
        ntok += len;
        nseq += len > 0;
    }
    double div;
    if (a->mode == AGG_TOKEN_MEAN) div = a->global_tokens > 0 ? a->global_tokens : ntok;
    else div = a->global_seqs > 0 ? a->global_seqs : nseq;
    for (size_t b = 0; b < B; b++) {
        double len = row_w[b];
        if (div <= 0 || len == 0) { row_w[b] = 0.0; continue; }
        row_w[b] = a->mode == AGG_SEQ_MEAN_TOKEN_MEAN ? 1.0 / (len * div) : 1.0 / div;
    }
    return div > 0 ? div : 0.0;
}

double agg_weights(const float *mask, size_t B, size_t T, const AggParams *a, float *w) {
    double *row_w = mallocCheck((B ? B : 1) * sizeof(double));
    double div = agg_row_weights(mask, B, T, a, row_w);
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++)
            w[b * T + t] = mask[b * T + t] != 0.0f ? (float)row_w[b] : 0.0f;
    free(row_w);
    return div;
}

double agg_loss(const float *loss, const float *mask, size_t B, size_t T, const AggParams *a) {
    double *row_w = mallocCheck((B ? B : 1) * sizeof(double));
    agg_row_weights(mask, B, T, a, row_w);
    double total = 0.0;
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t t = 0; t < T; t++)
            if (mask[b * T + t] != 0.0f) s += loss[b * T + t];
        total += s * row_w[b];
    }
    free(row_w);
    return total;
}

// ---- policy loss -----------------------------------------------------------------------------------

// The config's words were validated against the schema's list, so the parse cannot fail.
void policy_loss_params_from_config(const RlvrConfig *c, PolicyLossParams *p) {
    p->clip_ratio_low = c->actor_clip_ratio_low;
    p->clip_ratio_high = c->actor_clip_ratio_high;
    p->dual_clip = c->actor_clip_ratio_c.set;
    p->clip_ratio_c = c->actor_clip_ratio_c.v;
    p->agg.mode = AGG_TOKEN_MEAN;
    loss_agg_parse(c->actor_loss_agg_mode, &p->agg.mode);
    p->agg.global_tokens = 0;
    p->agg.global_seqs = 0;
}

void policy_loss_params_default(PolicyLossParams *p) {
    RlvrConfig c;
    config_defaults(&c);
    policy_loss_params_from_config(&c, p);
}

int policy_loss_params_check(const PolicyLossParams *p, char *err, size_t errlen) {
    if (!(p->clip_ratio_low >= 0 && p->clip_ratio_low < 1))
        return rlvr_err(err, errlen, "actor.clip_ratio_low must be in [0, 1) (got %g)", p->clip_ratio_low);
    if (!(p->clip_ratio_high >= 0) || !isfinite(p->clip_ratio_high))
        return rlvr_err(err, errlen, "actor.clip_ratio_high must be a finite number >= 0 (got %g)", p->clip_ratio_high);
    if (p->dual_clip && !(p->clip_ratio_c > 1.0 && isfinite(p->clip_ratio_c)))
        return rlvr_err(err, errlen, "actor.clip_ratio_c must be a finite number > 1 (verl's rule), or null to turn the dual clip off (got %g)",
                        p->clip_ratio_c);
    if (!isfinite(p->agg.global_tokens) || !isfinite(p->agg.global_seqs))
        return rlvr_err(err, errlen, "global_tokens / global_seqs must be finite");
    return 0;
}

#define LOGRATIO_CLAMP 20.0

void policy_loss(const float *logp, const float *old_logp, const float *adv, const float *mask, size_t B,
                 size_t T, const PolicyLossParams *p, PolicyLossOut *out, PolicyLossStats *st) {
    double *row_w = mallocCheck((B ? B : 1) * sizeof(double));
    agg_row_weights(mask, B, T, &p->agg, row_w);
    const double lo = 1.0 - p->clip_ratio_low, hi = 1.0 + p->clip_ratio_high;
    double loss = 0.0, ntok = 0.0, nclip = 0.0, nlow = 0.0, kl = 0.0;
    for (size_t b = 0; b < B; b++) {
        double row_loss = 0.0;
        for (size_t t = 0; t < T; t++) {
            size_t i = b * T + t;
            if (mask[i] == 0.0f) {
                if (out) {
                    if (out->token_loss) out->token_loss[i] = 0.0f;
                    if (out->ratio) out->ratio[i] = 0.0f;
                    if (out->dlogp) out->dlogp[i] = 0.0f;
                    if (out->coef) out->coef[i] = 0.0f;
                }
                continue;
            }
            double A = adv[i];
            double x = (double)logp[i] - (double)old_logp[i];
            int in_range = x >= -LOGRATIO_CLAMP && x <= LOGRATIO_CLAMP;   // clamp passes no gradient outside
            double xc = x < -LOGRATIO_CLAMP ? -LOGRATIO_CLAMP : (x > LOGRATIO_CLAMP ? LOGRATIO_CLAMP : x);
            double r = exp(xc);
            double l1 = -A * r;
            double rc = r < lo ? lo : (r > hi ? hi : r);
            double l2 = -A * rc;
            double l, dl;
            if (l2 > l1) { l = l2; dl = 0.0; nclip += 1; }   // r outside the band on the pessimistic side
            else { l = l1; dl = -A * r; }
            if (p->dual_clip && A < 0) {
                double l3 = -A * p->clip_ratio_c;
                if (l > l3) { l = l3; dl = 0.0; nlow += 1; }
            }
            if (!in_range) dl = 0.0;
            ntok += 1;
            kl += -xc;
            row_loss += l;
            if (out) {
                if (out->token_loss) out->token_loss[i] = (float)l;
                if (out->ratio) out->ratio[i] = (float)r;
                if (out->dlogp) out->dlogp[i] = (float)(dl * row_w[b]);
                if (out->coef) out->coef[i] = (float)dl;
            }
        }
        loss += row_loss * row_w[b];
    }
    free(row_w);
    if (st) {
        st->pg_loss = loss;
        st->n_tokens = ntok;
        st->n_clipped = nclip;
        st->n_clipped_lower = nlow;
        st->sum_ppo_kl = kl;
        st->pg_clipfrac = ntok > 0 ? nclip / ntok : 0.0;
        st->pg_clipfrac_lower = ntok > 0 ? nlow / ntok : 0.0;
        st->ppo_kl = ntok > 0 ? kl / ntok : 0.0;
    }
}

// ---- the actor loss --------------------------------------------------------------------------------

void actor_loss_params_from_config(const RlvrConfig *c, ActorLossParams *p) {
    policy_loss_params_from_config(c, &p->pg);
    p->use_kl_loss = c->actor_use_kl_loss;
    p->kl_loss_coef = c->actor_kl_loss_coef;
    p->kl_loss_type = KL_K3;
    kl_type_parse(c->actor_kl_loss_type, &p->kl_loss_type);
    p->entropy_coeff = c->actor_entropy_coeff;
}

void actor_loss_params_default(ActorLossParams *p) {
    RlvrConfig c;
    config_defaults(&c);
    actor_loss_params_from_config(&c, p);
}

void actor_loss(const float *logp, const float *old_logp, const float *adv, const float *mask,
                const float *ref_logp, const float *entropy, size_t B, size_t T, const ActorLossParams *p,
                float *dlogp, float *dentropy, ActorLossStats *st) {
    size_t n = B * T;
    PolicyLossOut out = {0};
    out.dlogp = dlogp;
    ActorLossStats s;
    memset(&s, 0, sizeof(s));
    policy_loss(logp, old_logp, adv, mask, B, T, &p->pg, &out, &s.pg);
    float *w = mallocCheck((n ? n : 1) * sizeof(float));   // (B, T) aggregation weights
    agg_weights(mask, B, T, &p->pg.agg, w);
    if (p->use_kl_loss && !ref_logp)
        die("actor_loss: actor.use_kl_loss is on but no reference log-probs were passed (a learner bug: compute them with the frozen reference model)");
    if (p->use_kl_loss) {
        float *kl = mallocCheck((n ? n : 1) * sizeof(float)), *dkl = mallocCheck((n ? n : 1) * sizeof(float));
        kl_penalty(logp, ref_logp, mask, n, p->kl_loss_type, kl, dkl);
        double kls = 0.0;
        for (size_t i = 0; i < n; i++) {
            kls += (double)w[i] * kl[i];
            if (dlogp) dlogp[i] += (float)(p->kl_loss_coef * w[i] * dkl[i]);
        }
        s.kl_loss = kls;
        free(dkl);
        free(kl);
    }
    if (entropy) {
        double hs = 0.0;
        for (size_t i = 0; i < n; i++) if (mask[i] != 0.0f) hs += (double)w[i] * entropy[i];
        s.entropy = hs;
    }
    if (dentropy)
        for (size_t i = 0; i < n; i++) dentropy[i] = (float)(-p->entropy_coeff * w[i]);
    s.total = s.pg.pg_loss + (p->use_kl_loss ? p->kl_loss_coef * s.kl_loss : 0.0) - p->entropy_coeff * s.entropy;
    free(w);
    if (st) *st = s;
}
