// One GRPO training step on every learner rank: rewards -> overlong penalty -> GRPO advantages ->
// PPL and position shaping (identically on every rank, from the broadcast batch), then PPO
// mini-batches whose rows are split over the ranks by tokens, micro-batched for memory, with
// gradients summed across ranks (token-mean loss divided by the GLOBAL token count of the mini-batch)
// before the grad-norm clip and one AdamW step per mini-batch. All ranks run the same update, so the
// parameters stay bit-identical.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/config/config.h"
#include "common/engine/forward.h"
#include "common/engine/model.h"
#include "common/engine/optim.h"
#include "common/rl/algo.h"
#include "learner/batch.h"
#include "learner/comm.h"
#include "learner/dist.h"
#include "learner/engine.h"

typedef struct {
    const RlvrConfig *cfg;
    const Dist *d;
    Model *m;                 // the policy (grads and AdamW state allocated)
    Model *ref;               // frozen reference policy (actor.use_kl_loss), else NULL
    Engine eng;               // the compute backend of trainer.device (learner/engine.h)
    Comm comm;                // gradient / weight exchange of trainer.zero_stage (learner/comm.h)
    MicroBatch mb;
    int micro;                // sequences per micro-batch
    int maxT;
    float temperature;        // log-probs are taken at the rollout temperature (verl: logits / T)
    AdamWConfig adam;
    LrSchedule sched;
    long opt_step;            // optimizer steps taken so far (AdamW t - 1)
    double time_allreduce;    // seconds spent in the gradient all-reduce (accumulates; callers reset)
    ActorLossParams lossp;
    GrpoParams grpo;
    PplShapingParams ppl;
    PositionShapingParams pos;
    OverlongParams ovl;
    RewardFormat rf;
    // scratch (micro, maxT)
    float *logp, *entropy, *dlogp, *ref_logp;
    float *dent;              // (micro, maxT) dL/dH per token (actor.entropy_coeff != 0), else NULL
} Trainer;

// Everything one step reports (sums reduced over ranks; means over the whole batch).
typedef struct {
    int R, G;
    double reward_mean, accuracy, score_mean;
    double resp_len_mean, resp_len_max, clip_len_frac;
    double entropy_mean, entropy_pos, entropy_neg;
    double ppl_mean, adv_abs_mean;
    double pg_loss, kl_loss, ppo_kl, clipfrac, clipfrac_lower;
    double grad_norm, grad_norm_max, lr;
    double logprob_gap, logprob_gap_max;   // |learner - worker| log-prob on pi_old tokens
    long gap_tokens;                       // tokens the gap was measured on
    double quality_boxed_violation, quality_cjk;
    double staleness_mean;
    long n_tokens, n_resp_tokens;          // whole sequences / response tokens trained on
    int opt_steps, skipped_steps;          // optimizer steps taken / skipped for a non-finite norm
    int position_active;
} StepStats;

// AdamW from actor.optim.{betas,eps,weight_decay} (every field: the engine's adamw_default holds
// torch's defaults, not the schema's).
AdamWConfig trainer_adamw_from_config(const RlvrConfig *c);
// Validates the config keys the trainer uses (unsupported combinations are errors, not surprises).
int trainer_check_config(const RlvrConfig *cfg, char *err, size_t errlen);
// m must have grads/adam allocated; ref may be NULL unless actor.use_kl_loss. Starts the engine of
// trainer.device on this rank (its GPU on cuda) and the communication of trainer.zero_stage.
// 0, or -1 with err.
int trainer_init(Trainer *t, const RlvrConfig *cfg, const Dist *d, Model *m, Model *ref, int opt_steps_per_batch,
                 char *err, size_t errlen);
void trainer_free(Trainer *t);

// Rewards, advantages and shaping for the whole batch (every rank, deterministic). Also recomputes
// pi_old on the learner when actor.recompute_old_log_prob is set (each rank its share, then summed).
// step is 1-based; plateau_step < 0 when the stage detector has not declared a plateau.
void trainer_prepare(Trainer *t, RlBatch *b, long step, long plateau_step, int64_t current_version, StepStats *st);
// PPO epochs x mini-batches, with the optimizer steps. Fills the training part of st.
void trainer_update(Trainer *t, RlBatch *b, StepStats *st);

// Rows of responses [r0, r1) of b this rank processes (token-balanced); returns how many (<= r1-r0).
int trainer_my_rows(const RlBatch *b, int r0, int r1, int nranks, int rank, int *rows);

// Gradient step shared with SFT: sum grads over the ranks (all-reduce, or reduce-scatter under ZeRO-1),
// clip by the global norm, AdamW (this rank's shard under ZeRO-1, then the weights all-gathered).
// Returns the pre-clip norm; *skipped set when the norm was not finite (no update then).
double trainer_optimizer_step(Trainer *t, int *skipped);
// The host Model's parameters up to date (weights publishing, validation): a no-op on the CPU engine.
void trainer_sync_params(Trainer *t);
// The policy's bf16 weights into host (num_params values) when the engine computes in bf16 (cuda); -1
// otherwise (publish m->params after trainer_sync_params instead).
int trainer_weights_bf16(Trainer *t, uint16_t *host);
// Rank 0's host Model holds the whole training state (checkpoint); every rank calls it.
void trainer_gather_state(Trainer *t);
