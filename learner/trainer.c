// The GRPO update on every learner rank; see trainer.h.
#include "learner/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "learner/plan.h"

int trainer_check_config(const RlvrConfig *cfg, char *err, size_t errlen) {
#ifndef RLVR_CUDA
    if (!strcmp(cfg->trainer_device, "cuda"))
        return rlvr_err(err, errlen, "trainer.device = cuda but this build has no CUDA backend; rebuild with "
                        "launch/build.sh build -DRLVR_CUDA=ON (docs/cuda.md), or set trainer.device=cpu");
#endif
    if (!strcmp(cfg->trainer_precision, "bf16") && strcmp(cfg->trainer_device, "cuda") != 0)
        return rlvr_err(err, errlen, "trainer.precision = bf16 but trainer.device = %s: the CPU engine is fp32; set "
                        "trainer.precision=fp32 or trainer.device=cuda", cfg->trainer_device);
    if (cfg->data_train_batch_size % cfg->actor_ppo_mini_batch_size != 0)
        return rlvr_err(err, errlen, "actor.ppo_mini_batch_size = %lld must divide data.train_batch_size = %lld",
                        (long long)cfg->actor_ppo_mini_batch_size, (long long)cfg->data_train_batch_size);
    LossAggMode mode;
    if (loss_agg_parse(cfg->actor_loss_agg_mode, &mode) != 0)
        return rlvr_err(err, errlen, "actor.loss_agg_mode '%s' is unknown (token-mean | seq-mean-token-sum | seq-mean-token-mean)", cfg->actor_loss_agg_mode);
    KlType k;
    if (kl_type_parse(cfg->actor_kl_loss_type, &k) != 0)
        return rlvr_err(err, errlen, "actor.kl_loss_type '%s' is unknown", cfg->actor_kl_loss_type);
    RewardFormat rf;
    if (reward_format_parse(cfg->reward_format, &rf) != 0)
        return rlvr_err(err, errlen, "reward.format '%s' is unknown (pm1 | 01)", cfg->reward_format);
    if (cfg->reward_overlong_buffer_enable) {
        OverlongParams o;
        overlong_params_from_config(cfg, &o);
        if (overlong_params_check(&o, err, errlen) != 0) return -1;
    }
    return 0;
}

AdamWConfig trainer_adamw_from_config(const RlvrConfig *c) {
    AdamWConfig a;
    a.beta1 = (float)c->actor_optim_betas.v[0];
    a.beta2 = (float)c->actor_optim_betas.v[1];
    a.eps = (float)c->actor_optim_eps;
    a.weight_decay = (float)c->actor_optim_weight_decay;
    return a;
}

static void fill_params(Trainer *t) {
    const RlvrConfig *c = t->cfg;
    t->adam = trainer_adamw_from_config(c);
    actor_loss_params_from_config(c, &t->lossp);
    grpo_params_from_config(c, &t->grpo);
    ppl_params_from_config(c, &t->ppl);
    position_params_from_config(c, &t->pos);
    overlong_params_from_config(c, &t->ovl);
    reward_format_parse(c->reward_format, &t->rf);
}

int trainer_init(Trainer *t, const RlvrConfig *cfg, const Dist *d, Model *m, Model *ref, int opt_steps_per_batch,
                 char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->cfg = cfg; t->d = d; t->m = m; t->ref = ref;
    fill_params(t);
    t->micro = (int)cfg->actor_ppo_micro_batch_size_per_gpu;
    t->maxT = (int)(cfg->data_max_prompt_length + cfg->data_max_response_length);
    t->temperature = (float)cfg->rollout_temperature;
    EngineOpts eo;
    engine_opts_from_config(&eo, cfg->trainer_device, cfg->trainer_precision, cfg->trainer_activation_checkpointing,
                            cfg->trainer_flash_attention, cfg->trainer_allow_tf32, m->num_params, t->micro, t->maxT);
    comm_engine_range((int)cfg->trainer_zero_stage, m->num_params, d, &eo);
    int sharing = 1;
    if (eo.cuda && comm_pick_device(d, &eo.device, &sharing, err, errlen) != 0) return -1;
    // a cuda run that cannot fit stops here, naming the knob, not in an out-of-memory abort mid-step
    if (eo.cuda && plan_check_device(cfg, &m->cfg, m->num_params, d->size, eo.device, sharing, err, errlen) != 0) return -1;
    if (engine_init(&t->eng, m, ref, &eo, err, errlen) != 0) return -1;
    if (eo.cuda) { free(m->grads); m->grads = NULL; }   // the gradients live on the device only
    if (comm_init(&t->comm, d, (int)cfg->trainer_zero_stage, &t->eng, err, errlen) != 0) { engine_free(&t->eng); return -1; }
    comm_bcast_weights(&t->comm, &t->eng);
    micro_init(&t->mb, t->micro, t->maxT);
    size_t bt = (size_t)t->micro * (size_t)t->maxT;
    t->logp = mallocCheck(bt * sizeof(float));
    t->entropy = mallocCheck(bt * sizeof(float));
    t->dlogp = mallocCheck(bt * sizeof(float));
    t->ref_logp = ref ? mallocCheck(bt * sizeof(float)) : NULL;
    t->dent = cfg->actor_entropy_coeff != 0.0 ? mallocCheck(bt * sizeof(float)) : NULL;
    t->sched.lr = (float)cfg->actor_optim_lr;
    t->sched.warmup_steps = cfg->actor_optim_warmup_steps;
    t->sched.total_steps = cfg->trainer_total_training_steps * (long)opt_steps_per_batch * cfg->actor_ppo_epochs;
    t->sched.decay = strcmp(cfg->actor_optim_lr_scheduler, "cosine") == 0 ? LR_COSINE : LR_CONSTANT;
    t->sched.min_lr_ratio = (float)cfg->actor_optim_min_lr_ratio;
    return 0;
}

void trainer_free(Trainer *t) {
    comm_free(&t->comm);
    engine_free(&t->eng);
    micro_free(&t->mb);
    free(t->logp); free(t->entropy); free(t->dlogp); free(t->ref_logp); free(t->dent);
    memset(t, 0, sizeof *t);
}

int trainer_my_rows(const RlBatch *b, int r0, int r1, int nranks, int rank, int *rows) {
    int n = r1 - r0;
    long *cost = mallocCheck((size_t)(n ? n : 1) * sizeof(long));
    int *owner = mallocCheck((size_t)(n ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) cost[i] = (long)b->prompt_len[r0 + i] + b->resp_len[r0 + i];
    balance_assign(cost, n, nranks, owner);
    int k = 0;
    for (int i = 0; i < n; i++) if (owner[i] == rank) rows[k++] = r0 + i;
    free(cost); free(owner);
    return k;
}


// actor.recompute_old_log_prob: pi_old on the learner, each rank its token-balanced share, then
// summed (exact: one contribution per entry, zeros elsewhere); the gap to the workers' log-probs is
// measured on the way.
static void recompute_old_logp(Trainer *t, RlBatch *b, StepStats *st) {
    int *rows = mallocCheck((size_t)(b->R ? b->R : 1) * sizeof(int));
    float *lp = callocCheck(b->n_resp_tok ? b->n_resp_tok : 1, sizeof(float));
    double gap[2] = {0, 0}, gmax = 0;
    int n = trainer_my_rows(b, 0, b->R, t->d->size, t->d->rank, rows);
    for (int i0 = 0; i0 < n; i0 += t->micro) {
        int k = n - i0 < t->micro ? n - i0 : t->micro;
        micro_build(&t->mb, b, rows + i0, k);
        engine_logp(&t->eng, 0, t->mb.tokens, t->mb.targets, t->mb.B, t->mb.T, t->temperature, t->logp);
        for (int i = 0; i < k; i++) {
            int r = rows[i0 + i];
            for (int j = 0; j < b->resp_len[r]; j++) {
                float v = t->logp[(size_t)i * t->mb.T + (size_t)(b->prompt_len[r] - 1 + j)];
                float w = b->old_logp[b->lp_off[r] + j];
                lp[b->lp_off[r] + j] = v;
                double g = fabs((double)v - w);
                gap[0] += g; gap[1] += 1;
                if (g > gmax) gmax = g;
            }
        }
    }
    if (t->d->size > 1) {
        dist_allreduce_sum_f32(lp, b->n_resp_tok);
        dist_allreduce_sum_f64(gap, 2);
        dist_allreduce_max_f64(&gmax, 1);
    }
    memcpy(b->old_logp, lp, b->n_resp_tok * sizeof(float));
    free(lp);
    free(rows);
    st->logprob_gap = gap[1] > 0 ? gap[0] / gap[1] : 0;
    st->logprob_gap_max = gmax;
    st->gap_tokens = (long)gap[1];
}

// Scores: the learner's reward format from the worker's verdict, then DAPO overlong shaping; also the
// batch's reward, length, quality, staleness and perplexity means.
static void score_batch(Trainer *t, RlBatch *b, int64_t current_version, StepStats *st) {
    int R = b->R;
    double rsum = 0, ssum = 0, csum = 0, lsum = 0, lmax = 0, clipped = 0, bv = 0, cjk = 0, stale = 0, ppl = 0;
    for (int r = 0; r < R; r++) {
        double s = reward_from_correct(b->correct[r], t->rf);
        rsum += s;
        if (t->cfg->reward_overlong_buffer_enable) s += overlong_penalty(b->resp_len[r], &t->ovl);
        b->score[r] = (float)s;
        ssum += s; csum += b->correct[r] ? 1 : 0;
        lsum += b->resp_len[r];
        if (b->resp_len[r] > lmax) lmax = b->resp_len[r];
        clipped += b->finish[r] == WIRE_FINISH_LENGTH;
        bv += b->boxed_count[r] != 1;
        cjk += b->has_cjk[r] != 0;
        stale += (double)(current_version - b->version[r]);
        b->ln_ppl[r] = response_log_ppl(b->old_logp + b->lp_off[r], (size_t)b->resp_len[r]);
        ppl += exp(b->ln_ppl[r]);
    }
    double Rd = R > 0 ? R : 1;
    st->reward_mean = rsum / Rd; st->score_mean = ssum / Rd; st->accuracy = csum / Rd;
    st->resp_len_mean = lsum / Rd; st->resp_len_max = lmax; st->clip_len_frac = clipped / Rd;
    st->quality_boxed_violation = bv / Rd; st->quality_cjk = cjk / Rd;
    st->staleness_mean = stale / Rd; st->ppl_mean = ppl / Rd;
}

// GRPO group advantages, PPL shaping of each response's advantage, then per-token advantages (with
// the position bonus while it is active).
static void advantages(Trainer *t, RlBatch *b, long step, long plateau_step, StepStats *st) {
    const RlvrConfig *c = t->cfg;
    int R = b->R;
    grpo_advantage(b->score, b->prompt_id, (size_t)R, &t->grpo, b->adv);
    if (c->algorithm_ppl_shaping_enable) {
        int *len = mallocCheck((size_t)(R ? R : 1) * sizeof(int));
        for (int r = 0; r < R; r++) len[r] = b->resp_len[r];
        ppl_shaping(b->adv, b->prompt_id, b->ln_ppl, len, (size_t)R, &t->ppl, NULL, b->adv);
        free(len);
    }
    st->position_active = c->algorithm_position_shaping_enable && position_shaping_active(&t->pos, step, plateau_step);
    double aabs = 0;
    for (int r = 0; r < R; r++) {
        float *ta = b->tok_adv + b->lp_off[r];
        if (st->position_active) position_shaping_row(b->adv[r], (size_t)b->resp_len[r], &t->pos, ta);
        else for (int j = 0; j < b->resp_len[r]; j++) ta[j] = b->adv[r];
        aabs += fabs(b->adv[r]);
    }
    st->adv_abs_mean = aabs / (R > 0 ? R : 1);
}

void trainer_prepare(Trainer *t, RlBatch *b, long step, long plateau_step, int64_t current_version, StepStats *st) {
    memset(st, 0, sizeof *st);
    st->R = b->R; st->G = b->G;
    if (t->cfg->actor_recompute_old_log_prob) recompute_old_logp(t, b, st);
    score_batch(t, b, current_version, st);
    advantages(t, b, step, plateau_step, st);
}

double trainer_optimizer_step(Trainer *t, int *skipped) {
    Comm *c = &t->comm;
    double t0 = now_seconds();
    comm_reduce_grads(c, &t->eng);
    double sq = comm_grad_sqnorm(c, &t->eng);
    t->time_allreduce += now_seconds() - t0;
    double norm = sqrt(sq);
    *skipped = 0;
    if (!isfinite(norm)) { *skipped = 1; return norm; }
    if (t->cfg->actor_grad_clip > 0) {
        float f = clip_coef(norm, (float)t->cfg->actor_grad_clip);
        if (f != 1.0f) engine_scale_grads(&t->eng, c->off, c->len, f);
    }
    float lr = lr_at(&t->sched, t->opt_step);
    if (c->len > 0) engine_adamw(&t->eng, &t->adam, lr, t->opt_step + 1, c->off, c->len);
    t0 = now_seconds();
    comm_gather_weights(c, &t->eng);
    t->time_allreduce += now_seconds() - t0;
    t->opt_step++;
    return norm;
}

void trainer_sync_params(Trainer *t) { engine_params_to_host(&t->eng); }
int trainer_weights_bf16(Trainer *t, uint16_t *host) { return engine_weights_bf16(&t->eng, host); }

void trainer_gather_state(Trainer *t) { comm_gather_state(&t->comm, &t->eng); }

// ---- the PPO update ----------------------------------------------------------------------------

// Indices of the sums reduced over ranks at the end of the update.
enum { S_TOK, S_CLIP, S_CLIPLO, S_PPOKL, S_ENT, S_ENTPOS, S_ENTPOS_N, S_ENTNEG, S_ENTNEG_N, S_GAP, S_GAP_N,
       S_PGLOSS, S_KL, S_SEQTOK, S_N };

// What the update reports, accumulated micro-batch by micro-batch.
typedef struct {
    double s[S_N];            // summed over ranks at the end
    double gap_max;           // max over ranks at the end
    double gn_sum, gn_max;    // pre-clip gradient norms of the optimizer steps taken (same on every rank)
} UpdateSums;

// First response of each group, (G + 1,) with gstart[G] = R. Groups must be contiguous.
static int *group_starts(const RlBatch *b) {
    int *gstart = mallocCheck((size_t)(b->G + 1) * sizeof(int));
    int g = 0;
    for (int r = 0; r < b->R; r++) if (r == 0 || b->prompt_id[r] != b->prompt_id[r - 1]) gstart[g++] = r;
    if (g != b->G) die("batch: %d groups found but %d declared (groups must be contiguous)", g, b->G);
    gstart[g] = b->R;
    return gstart;
}

// The loss of mini-batch rows [r0, r1) divides by the mini-batch's GLOBAL token / sequence counts:
// every rank knows the whole batch, so no communication.
static ActorLossParams minibatch_loss_params(const Trainer *t, const RlBatch *b, int r0, int r1) {
    double ntok = 0, nseq = 0;
    for (int r = r0; r < r1; r++) { ntok += b->resp_len[r]; nseq += b->resp_len[r] > 0; }
    ActorLossParams lp = t->lossp;
    lp.pg.agg.global_tokens = ntok > 0 ? ntok : 1;
    lp.pg.agg.global_seqs = nseq > 0 ? nseq : 1;
    return lp;
}

// Forward, loss and backward of the micro-batch in t->mb; its gradients add to m->grads.
static void micro_step(Trainer *t, const ActorLossParams *lp, ActorLossStats *ls) {
    MicroBatch *mb = &t->mb;
    if (t->ref) engine_logp(&t->eng, 1, mb->tokens, mb->targets, mb->B, mb->T, t->temperature, t->ref_logp);
    engine_forward_head(&t->eng, mb->tokens, mb->targets, mb->B, mb->T, t->temperature, t->logp, t->entropy);
    // with actor.entropy_coeff the loss subtracts coeff * agg(H): dL/dH = -coeff * w per token
    actor_loss(t->logp, mb->old_logp, mb->adv, mb->mask, t->ref ? t->ref_logp : NULL, t->dent ? t->entropy : NULL,
               (size_t)mb->B, (size_t)mb->T, lp, t->dlogp, t->dent, ls);
    engine_backward(&t->eng, t->dlogp, t->dent);
}

static void add_loss_sums(UpdateSums *u, const ActorLossStats *ls, const RlBatch *b, const MicroBatch *mb) {
    double *s = u->s;
    s[S_TOK] += ls->pg.n_tokens; s[S_CLIP] += ls->pg.n_clipped; s[S_CLIPLO] += ls->pg.n_clipped_lower;
    s[S_PPOKL] += ls->pg.sum_ppo_kl; s[S_PGLOSS] += ls->pg.pg_loss; s[S_KL] += ls->kl_loss;
    for (int i = 0; i < mb->B; i++) s[S_SEQTOK] += b->prompt_len[mb->rows[i]] + b->resp_len[mb->rows[i]];
}

// Token entropy of the micro-batch's responses, overall and split by correct / wrong (first epoch).
static void add_entropy_sums(UpdateSums *u, const Trainer *t, const RlBatch *b) {
    const MicroBatch *mb = &t->mb;
    double *s = u->s;
    for (int i = 0; i < mb->B; i++) {
        int r = mb->rows[i];
        double es = 0;
        for (int tt = 0; tt < mb->T; tt++) {
            size_t p = (size_t)i * mb->T + tt;
            if (mb->mask[p] != 0) es += t->entropy[p];
        }
        s[S_ENT] += es;
        if (b->correct[r]) { s[S_ENTPOS] += es; s[S_ENTPOS_N] += b->resp_len[r]; }
        else { s[S_ENTNEG] += es; s[S_ENTNEG_N] += b->resp_len[r]; }
    }
}

// |learner - worker| log-prob while the parameters are still pi_old (the first mini-batch).
static void add_gap_sums(UpdateSums *u, const Trainer *t) {
    const MicroBatch *mb = &t->mb;
    size_t bt = (size_t)mb->B * mb->T;
    for (size_t p = 0; p < bt; p++) {
        if (mb->mask[p] == 0) continue;
        double gg = fabs((double)t->logp[p] - mb->old_logp[p]);
        u->s[S_GAP] += gg; u->s[S_GAP_N] += 1;
        if (gg > u->gap_max) u->gap_max = gg;
    }
}

// This rank's n rows of one mini-batch, in micro-batches: gradients summed in m->grads, metrics in u.
static void minibatch_grads(Trainer *t, RlBatch *b, const int *rows, int n, const ActorLossParams *lp,
                            int first_epoch, int pi_old, UpdateSums *u) {
    engine_zero_grads(&t->eng);
    for (int i0 = 0; i0 < n; i0 += t->micro) {
        int k = n - i0 < t->micro ? n - i0 : t->micro;
        micro_build(&t->mb, b, rows + i0, k);
        ActorLossStats ls;
        micro_step(t, lp, &ls);
        add_loss_sums(u, &ls, b, &t->mb);
        if (first_epoch) add_entropy_sums(u, t, b);
        if (pi_old && !t->cfg->actor_recompute_old_log_prob) add_gap_sums(u, t);
    }
}

static void optimizer_step(Trainer *t, UpdateSums *u, StepStats *st) {
    int skipped = 0;
    double norm = trainer_optimizer_step(t, &skipped);
    if (skipped) st->skipped_steps++;
    else { st->opt_steps++; u->gn_sum += norm; if (norm > u->gn_max) u->gn_max = norm; }
    st->lr = lr_at(&t->sched, t->opt_step > 0 ? t->opt_step - 1 : 0);
}

// The update's means from the rank-summed totals; n_minibatches = mini-batches x epochs.
static void update_stats(const Trainer *t, const RlBatch *b, const UpdateSums *u, double n_minibatches, StepStats *st) {
    const double *s = u->s;
    st->pg_loss = s[S_PGLOSS] / n_minibatches;
    st->kl_loss = s[S_KL] / n_minibatches;
    st->clipfrac = s[S_TOK] > 0 ? s[S_CLIP] / s[S_TOK] : 0;
    st->clipfrac_lower = s[S_TOK] > 0 ? s[S_CLIPLO] / s[S_TOK] : 0;
    st->ppo_kl = s[S_TOK] > 0 ? s[S_PPOKL] / s[S_TOK] : 0;
    double ntok_epoch = (double)b->n_resp_tok;
    st->entropy_mean = ntok_epoch > 0 ? s[S_ENT] / ntok_epoch : 0;
    st->entropy_pos = s[S_ENTPOS_N] > 0 ? s[S_ENTPOS] / s[S_ENTPOS_N] : 0;
    st->entropy_neg = s[S_ENTNEG_N] > 0 ? s[S_ENTNEG] / s[S_ENTNEG_N] : 0;
    if (!t->cfg->actor_recompute_old_log_prob) {
        st->logprob_gap = s[S_GAP_N] > 0 ? s[S_GAP] / s[S_GAP_N] : 0;
        st->logprob_gap_max = u->gap_max;
        st->gap_tokens = (long)s[S_GAP_N];
    }
    st->grad_norm = st->opt_steps > 0 ? u->gn_sum / st->opt_steps : 0;
    st->grad_norm_max = u->gn_max;
    st->n_tokens = (long)s[S_SEQTOK];
    st->n_resp_tokens = (long)b->n_resp_tok;
}

void trainer_update(Trainer *t, RlBatch *b, StepStats *st) {
    const RlvrConfig *c = t->cfg;
    int *gstart = group_starts(b);
    int *rows = mallocCheck((size_t)(b->R ? b->R : 1) * sizeof(int));
    int mbg = (int)c->actor_ppo_mini_batch_size;
    int n_mini = (b->G + mbg - 1) / mbg;
    UpdateSums u;
    memset(&u, 0, sizeof u);
    for (long epoch = 0; epoch < c->actor_ppo_epochs; epoch++) {
        for (int k = 0; k < n_mini; k++) {
            int g0 = k * mbg, g1 = g0 + mbg < b->G ? g0 + mbg : b->G;
            int r0 = gstart[g0], r1 = gstart[g1];
            ActorLossParams lp = minibatch_loss_params(t, b, r0, r1);
            int n = trainer_my_rows(b, r0, r1, t->d->size, t->d->rank, rows);
            minibatch_grads(t, b, rows, n, &lp, epoch == 0, epoch == 0 && k == 0, &u);
            optimizer_step(t, &u, st);
        }
    }
    if (t->d->size > 1) { dist_allreduce_sum_f64(u.s, S_N); dist_allreduce_max_f64(&u.gap_max, 1); }
    update_stats(t, b, &u, (double)n_mini * (double)c->actor_ppo_epochs, st);
    free(gstart); free(rows);
}
