// The RL math of the learner: rewards, GRPO group advantages, the paper's PPL and position advantage
// shaping, the DAPO clip-higher policy loss with its exact per-token gradient, KL penalties and the
// rising/plateau stage detector. Conventions (and the paper's equation numbers) are in
// docs/algorithms.md, with the choices made where the paper, the authors' code and verl differ.
//
// Pure functions: no globals, no I/O. Per-response arrays are (R,); per-token arrays are row-major
// (B, T) with a 0/1 float mask of the same shape: values under mask 0 never influence a result and
// outputs there are 0. Group statistics and loss sums accumulate in double.
//
// Order the learner applies them: grpo_advantage -> ppl_shaping -> token_advantages (position bonus)
// -> policy_loss / actor_loss. No renormalisation after shaping.
//
// Parameters come from the config: each X_params_from_config maps the keys named in the struct's
// comments, and each X_params_default is that mapping of the schema's defaults (config_defaults),
// so the schema (RLVR_CONFIG_KEYS in common/config/config.h) is the one place a default is written.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/config/config.h"

// ---- rewards (advantage.c) ------------------------------------------------------------------------

typedef enum { REWARD_PM1 = 0, REWARD_01 = 1 } RewardFormat;   // reward.format: pm1 (+1/-1, paper) | 01

// reward.format string -> enum; -1 on an unknown name.
int reward_format_parse(const char *s, RewardFormat *out);
// +1/-1 or 1/0 for a verifier verdict.
float reward_from_correct(int correct, RewardFormat fmt);

typedef struct {
    int max_len;      // data.max_response_length (L_max), > 0
    int cache_len;    // reward.overlong_buffer.len (L_cache), 0 < cache_len <= max_len
    double factor;    // reward.overlong_buffer.penalty_factor, >= 0
} OverlongParams;

void overlong_params_from_config(const RlvrConfig *c, OverlongParams *p);

// -1 with a message naming the key when the parameters cannot be used.
int overlong_params_check(const OverlongParams *p, char *err, size_t errlen);
// DAPO soft overlong punishment: min(-(L - (L_max - L_cache)) / L_cache * factor, 0). L counts the
// response tokens including EOS.
double overlong_penalty(long length, const OverlongParams *p);

// Maps arbitrary group keys (prompt ids) to 0..G-1 in order of first appearance. gid (R,). Returns G.
size_t group_compact(const int64_t *group, size_t R, int *gid);

// DAPO dynamic sampling: keep a group when its metric values are not all equal, or when it has a single
// member (verl keeps those). keep (R,) gets 1/0 per response; kept_groups (G,) optional, gets the kept
// compact group ids (first-appearance order). Returns the number of kept groups.
size_t filter_groups(const int64_t *group, const float *metric, size_t R, uint8_t *keep, int *kept_groups);

// ---- GRPO (advantage.c) ---------------------------------------------------------------------------

typedef struct {
    double epsilon;      // algorithm.epsilon
    int norm_by_std;     // algorithm.norm_adv_by_std_in_grpo; 0 = Dr.GRPO (mean only)
} GrpoParams;

void grpo_params_from_config(const RlvrConfig *c, GrpoParams *p);
void grpo_params_default(GrpoParams *p);
// A_i = (R_i - mean_g) / (std_g + eps), std the sample std (n-1). A group of one uses mean 0, std 1;
// a group whose scores are all equal gets exactly 0. scores (R,), group (R,) -> adv (R,).
void grpo_advantage(const float *scores, const int64_t *group, size_t R, const GrpoParams *p, float *adv);

// ---- PPL shaping, eq. 7 and 9 (shaping.c) ---------------------------------------------------------

typedef struct {
    double alpha;        // algorithm.ppl_shaping.alpha
    int iqr_filter;      // .iqr_filter: mu / sigma from the values inside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] (authors' code)
    int has_clamp;       // .clamp set: clamp the factor 1 - alpha*w to [clamp_lo, clamp_hi] (authors' code: 0.8, 1.2)
    double clamp_lo, clamp_hi;
    double sigma_floor;  // .sigma_floor: sigma <= sigma_floor -> sigma = 1 (authors' code: 1e-6)
    int sigma_ddof;      // .sigma_ddof: sigma = sqrt(sum (x - mu)^2 / (n - ddof)): 0 population (authors' numpy code), 1 sample
} PplShapingParams;

void ppl_params_from_config(const RlvrConfig *c, PplShapingParams *p);
void ppl_params_default(PplShapingParams *p);
int ppl_params_check(const PplShapingParams *p, char *err, size_t errlen);
// ln PPL of one response = mean NLL of its tokens under pi_old (EOS included). logp (n,). 0 when n == 0.
double response_log_ppl(const float *logp, size_t n);
// Same over padded rows: logp, mask (B, T) -> ln_ppl (B,); len (B,) optional gets the token counts.
void response_log_ppl_rows(const float *logp, const float *mask, size_t B, size_t T, double *ln_ppl, int *len);
// w = (ln PPL - mu_g) / sigma_g (std over the group with sigma_ddof, after the optional IQR filter);
// A <- A * (1 - alpha * w) (factor optionally clamped). Responses with len 0 (len may be NULL: all
// valid) get w = 0 and are left out of mu / sigma. adv_in, ln_ppl (R,) -> weights (R,) optional,
// adv_out (R,) (may alias adv_in).
void ppl_shaping(const float *adv_in, const int64_t *group, const double *ln_ppl, const int *len, size_t R,
                 const PplShapingParams *p, float *weights, float *adv_out);

// ---- position shaping, eq. 8 and 10 (shaping.c) ---------------------------------------------------

typedef struct {
    double gamma;        // algorithm.position_shaping.gamma
    double m;            // .m: slope
    double n;            // .n: centre (0.5: the released code; the paper prints -0.5, see docs)
    double d;            // .d: sigmoid sharpness
    int has_cap;         // .cap set: b_t <= cap * |A| (authors' code: cap 0.5)
    double cap;
    long start_step;     // .start_step: active for start_step < step < end_step (authors' code: 200 < step < 300)
    long end_step;       // .end_step; < 0: no end
    int start_at_plateau;// .start_at_plateau: window starts at the stage detector's plateau step instead of start_step
} PositionShapingParams;

void position_params_from_config(const RlvrConfig *c, PositionShapingParams *p);
void position_params_default(PositionShapingParams *p);
int position_params_check(const PositionShapingParams *p, char *err, size_t errlen);
// Whether the bonus applies at this step. plateau_step < 0 means "no plateau detected yet" (only used
// with start_at_plateau: the window [start, end) is shifted so that its first active step is the
// plateau step and it keeps its length).
int position_shaping_active(const PositionShapingParams *p, long step, long plateau_step);
// b_t for t = 1..len: l_t = (t-1)/len, r_t = m (l_t - n), b_t = gamma * sigmoid(d r_t), capped at
// cap*|A|; out_t = A + sign(A) b_t. out (len,).
void position_shaping_row(float adv, size_t len, const PositionShapingParams *p, float *out);
// Broadcasts per-response advantages to tokens: tok_adv (B, T) gets adv[b] on t < len[b] (plus the
// position bonus when p != NULL) and 0 elsewhere. adv (B,), len (B,) with 0 <= len <= T.
void token_advantages(const float *adv, const int *len, size_t B, size_t T, const PositionShapingParams *p,
                      float *tok_adv);

// ---- loss aggregation and the policy loss (policy_loss.c) ----------------------------------------

typedef enum { AGG_TOKEN_MEAN = 0, AGG_SEQ_MEAN_TOKEN_SUM = 1, AGG_SEQ_MEAN_TOKEN_MEAN = 2 } LossAggMode;

// "token-mean" | "seq-mean-token-sum" | "seq-mean-token-mean" -> enum; -1 on an unknown name.
int loss_agg_parse(const char *s, LossAggMode *out);
const char *loss_agg_name(LossAggMode m);

typedef struct {
    LossAggMode mode;      // actor.loss_agg_mode
    double global_tokens;  // token-mean: divide by this (valid tokens over all ranks); <= 0: local count
    double global_seqs;    // seq modes: divide by this (non-empty rows over all ranks); <= 0: local count
} AggParams;

// Linear aggregation weights: loss = sum_t w_t * loss_t. mask (B, T) -> w (B, T). Returns the divisor
// used (0 when there is nothing to average: then every w is 0).
//   token-mean:          w = mask / N_tokens
//   seq-mean-token-sum:  w = mask / N_seqs                   (rows with no valid token not counted)
//   seq-mean-token-mean: w = mask / (len_b * N_seqs)
double agg_weights(const float *mask, size_t B, size_t T, const AggParams *a, float *w);
// sum_t w_t * loss_t in double. loss, mask (B, T).
double agg_loss(const float *loss, const float *mask, size_t B, size_t T, const AggParams *a);

typedef struct {
    double clip_ratio_low;   // actor.clip_ratio_low
    double clip_ratio_high;  // actor.clip_ratio_high (DAPO clip-higher)
    int dual_clip;           // actor.clip_ratio_c set (1) or null (0)
    double clip_ratio_c;     // actor.clip_ratio_c, > 1
    AggParams agg;           // mode: actor.loss_agg_mode; global counts 0 (local)
} PolicyLossParams;

void policy_loss_params_from_config(const RlvrConfig *c, PolicyLossParams *p);
void policy_loss_params_default(PolicyLossParams *p);
int policy_loss_params_check(const PolicyLossParams *p, char *err, size_t errlen);

typedef struct {
    double pg_loss;          // the aggregated loss
    double pg_clipfrac;      // fraction of valid tokens where the clipped branch is larger (verl)
    double pg_clipfrac_lower;// fraction of valid tokens where the dual clip is active (A < 0)
    double ppo_kl;           // mean of old_logp - logp (clamped at 20) over valid tokens
    // Sums, so ranks can all-reduce them and divide by the global token count:
    double n_tokens, n_clipped, n_clipped_lower, sum_ppo_kl;
} PolicyLossStats;

typedef struct {            // every pointer optional (NULL: not computed), each (B, T)
    float *token_loss;      // per-token loss before aggregation
    float *ratio;           // exp(clamp(logp - old, -20, 20))
    float *dlogp;           // dL/dlogp_t of the aggregated loss: what the engine back-propagates
    float *coef;            // dl_t/dlogp_t of the token's own loss (no aggregation weight):
                            // -A*ratio on the unclipped branch, 0 where clipped (grad-norm proxy)
} PolicyLossOut;

// DAPO clip-higher PPO loss: l_t = max(-A r, -A clip(r, 1-eps_low, 1+eps_high)); for A < 0 with the
// dual clip, l_t = min(l_t, -A c). logp, old_logp, adv, mask (B, T).
void policy_loss(const float *logp, const float *old_logp, const float *adv, const float *mask, size_t B,
                 size_t T, const PolicyLossParams *p, PolicyLossOut *out, PolicyLossStats *st);

// ---- KL to a reference policy (kl.c) --------------------------------------------------------------

typedef enum { KL_K1 = 0, KL_ABS = 1, KL_K2 = 2, KL_K3 = 3 } KlType;

// k1|kl, abs, k2|mse, k3|low_var_kl -> enum; -1 on an unknown name.
int kl_type_parse(const char *s, KlType *out);
const char *kl_type_name(KlType k);
// Per-token KL estimate and its derivative w.r.t. logp. k1: logp - ref; abs: |logp - ref|;
// k2: 0.5 (logp - ref)^2; k3: e^x - x - 1 with x = clamp(ref - logp, -20, 20), clamped to [-10, 10].
// logp, ref, mask (n,) -> kl (n,), dkl (n,) optional. Masked entries get 0.
void kl_penalty(const float *logp, const float *ref, const float *mask, size_t n, KlType k, float *kl, float *dkl);

// ---- the whole actor loss (policy_loss.c) ---------------------------------------------------------

typedef struct {
    PolicyLossParams pg;
    int use_kl_loss;         // actor.use_kl_loss
    double kl_loss_coef;     // actor.kl_loss_coef (beta; the paper uses 0)
    KlType kl_loss_type;     // actor.kl_loss_type
    double entropy_coeff;    // actor.entropy_coeff (bonus: the loss subtracts coeff * entropy)
} ActorLossParams;

typedef struct {
    PolicyLossStats pg;
    double kl_loss;          // aggregated KL (0 when off)
    double entropy;          // aggregated entropy (0 when entropy is NULL)
    double total;            // pg_loss + kl_coef * kl_loss - entropy_coeff * entropy
} ActorLossStats;

void actor_loss_params_from_config(const RlvrConfig *c, ActorLossParams *p);
void actor_loss_params_default(ActorLossParams *p);
// Total loss = pg + beta * agg(kl) - entropy_coeff * agg(H). ref_logp (B, T) needed when use_kl_loss;
// entropy (B, T) optional. dlogp (B, T) gets dL/dlogp_t (policy + KL parts); dentropy (B, T) optional
// gets dL/dH_t = -entropy_coeff * w_t, which the engine chains with dH/dlogits.
void actor_loss(const float *logp, const float *old_logp, const float *adv, const float *mask,
                const float *ref_logp, const float *entropy, size_t B, size_t T, const ActorLossParams *p,
                float *dlogp, float *dentropy, ActorLossStats *st);

// ---- stage detector (stage.c) ---------------------------------------------------------------------

typedef enum { STAGE_RISING = 0, STAGE_PLATEAU = 1 } TrainStage;

typedef struct {
    int window;              // trainer.stage_detector.window: points in the sliding least-squares fit
    double acc_slope_max;    // .rise_threshold: accuracy no longer rising: slope <= this per step
    double ent_drop_max;     // entropy no longer falling: -slope <= this * mean entropy per step
                             // (.entropy_threshold is over a whole window: divided by window)
    int patience;            // both conditions hold this many consecutive points (STAGE_PATIENCE)
    long min_step;           // .min_step: never declare a plateau before this many points
} StageParams;

#define STAGE_PATIENCE 5     // not a config key

void stage_params_from_config(const RlvrConfig *c, StageParams *p);
void stage_params_default(StageParams *p);
int stage_params_check(const StageParams *p, char *err, size_t errlen);
// History oldest first: acc (n,) mean training accuracy in [0, 1], ent (n,) mean token entropy; either
// may be NULL (then only the other decides). Returns the stage after the last point; *plateau_at
// (optional) gets the index where the plateau was first declared, -1 when still rising. The plateau is
// sticky: once declared it stays.
TrainStage stage_detect(const double *acc, const double *ent, size_t n, const StageParams *p, long *plateau_at);
