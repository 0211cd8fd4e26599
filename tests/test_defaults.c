// Defaults come from one place, the config schema (RLVR_CONFIG_KEYS): the coordinator's, the RL
// modules' (GRPO, PPL and position shaping, policy / actor loss, overlong, stage detector) and the
// trainer's AdamW equal the schema's default TEXT, parsed here independently of config_defaults, so a
// separate constant re-introduced anywhere fails. Then every mapping follows a non-default config.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/rl/algo.h"
#include "learner/coordinator/coordinator.h"
#include "learner/trainer.h"
#include "tests/harness.h"

static const char *def(const char *key) {
    const CfgKey *k = config_find_key(key);
    if (!k) { fprintf(stderr, "FAIL: schema has no key %s\n", key); exit(1); }
    return k->def;
}
static double defnum(const char *key) { return strtod(def(key), NULL); }
static long defint(const char *key) { return strtol(def(key), NULL, 10); }
static int defbool(const char *key) { return strcmp(def(key), "true") == 0; }
static int defnull(const char *key) { return strcmp(def(key), "null") == 0; }

static void test_rl_defaults(void) {
    GrpoParams g;
    grpo_params_default(&g);
    CHECK(g.epsilon == defnum("algorithm.epsilon"));
    CHECK(g.norm_by_std == defbool("algorithm.norm_adv_by_std_in_grpo"));

    PplShapingParams p;
    ppl_params_default(&p);
    CHECK(p.alpha == defnum("algorithm.ppl_shaping.alpha"));
    CHECK(p.iqr_filter == defbool("algorithm.ppl_shaping.iqr_filter"));
    CHECK(p.has_clamp == !defnull("algorithm.ppl_shaping.clamp"));
    CHECK(p.sigma_floor == defnum("algorithm.ppl_shaping.sigma_floor"));
    CHECK(p.sigma_ddof == defint("algorithm.ppl_shaping.sigma_ddof"));

    PositionShapingParams q;
    position_params_default(&q);
    CHECK(q.gamma == defnum("algorithm.position_shaping.gamma"));
    CHECK(q.m == defnum("algorithm.position_shaping.m"));
    CHECK(q.n == defnum("algorithm.position_shaping.n"));
    CHECK(q.d == defnum("algorithm.position_shaping.d"));
    CHECK(q.has_cap == !defnull("algorithm.position_shaping.cap"));
    CHECK(q.cap == defnum("algorithm.position_shaping.cap"));
    CHECK(q.start_step == defint("algorithm.position_shaping.start_step"));
    CHECK(q.end_step == defint("algorithm.position_shaping.end_step"));
    CHECK(q.start_at_plateau == defbool("algorithm.position_shaping.start_at_plateau"));

    PolicyLossParams pl;
    policy_loss_params_default(&pl);
    LossAggMode mode;
    CHECK(loss_agg_parse(def("actor.loss_agg_mode"), &mode) == 0);
    CHECK(pl.clip_ratio_low == defnum("actor.clip_ratio_low"));
    CHECK(pl.clip_ratio_high == defnum("actor.clip_ratio_high"));
    CHECK(pl.dual_clip == !defnull("actor.clip_ratio_c"));
    CHECK(pl.clip_ratio_c == defnum("actor.clip_ratio_c"));
    CHECK(pl.agg.mode == mode && pl.agg.global_tokens == 0 && pl.agg.global_seqs == 0);

    ActorLossParams al;
    actor_loss_params_default(&al);
    KlType kt;
    CHECK(kl_type_parse(def("actor.kl_loss_type"), &kt) == 0);
    CHECK(memcmp(&al.pg, &pl, sizeof pl) == 0);
    CHECK(al.use_kl_loss == defbool("actor.use_kl_loss"));
    CHECK(al.kl_loss_coef == defnum("actor.kl_loss_coef"));
    CHECK(al.kl_loss_type == kt);
    CHECK(al.entropy_coeff == defnum("actor.entropy_coeff"));

    StageParams s;
    stage_params_default(&s);
    CHECK(s.window == defint("trainer.stage_detector.window"));
    CHECK(s.acc_slope_max == defnum("trainer.stage_detector.rise_threshold"));
    CHECK(s.ent_drop_max == defnum("trainer.stage_detector.entropy_threshold") / (double)defint("trainer.stage_detector.window"));
    CHECK(s.min_step == defint("trainer.stage_detector.min_step"));
    CHECK(s.patience == STAGE_PATIENCE);

    RlvrConfig c;
    config_defaults(&c);
    OverlongParams o;
    overlong_params_from_config(&c, &o);
    CHECK(o.max_len == defint("data.max_response_length"));
    CHECK(o.cache_len == defint("reward.overlong_buffer.len"));
    CHECK(o.factor == defnum("reward.overlong_buffer.penalty_factor"));

    double b1, b2;
    CHECK(sscanf(def("actor.optim.betas"), "[%lf, %lf]", &b1, &b2) == 2);
    AdamWConfig a = trainer_adamw_from_config(&c);
    CHECK(a.beta1 == (float)b1 && a.beta2 == (float)b2);
    CHECK(a.eps == (float)defnum("actor.optim.eps"));
    CHECK(a.weight_decay == (float)defnum("actor.optim.weight_decay"));
}

// "tcp://127.0.0.1:0" -> "tcp://127.0.0.1:*"
static void any_port(const char *in, char *out, size_t cap) {
    size_t n = strlen(in);
    if (n >= 2 && strcmp(in + n - 2, ":0") == 0) snprintf(out, cap, "%.*s:*", (int)(n - 2), in);
    else snprintf(out, cap, "%s", in);
}

static void test_coord_defaults(void) {
    CoordConfig cc;
    coord_config_default(&cc);
    char ep[WIRE_ENDPOINT_LEN], pub[WIRE_ENDPOINT_LEN];
    any_port(def("coordinator.endpoint"), ep, sizeof ep);
    any_port(def("coordinator.pub_endpoint"), pub, sizeof pub);
    CHECK_MSG(strcmp(cc.endpoint, ep) == 0, "endpoint %s, schema %s", cc.endpoint, ep);
    CHECK_MSG(strcmp(cc.pub_endpoint, pub) == 0, "pub_endpoint %s, schema %s", cc.pub_endpoint, pub);
    double lease = defnum("coordinator.lease_s"), hb = defnum("coordinator.heartbeat_s");
    CHECK(cc.lease_s == lease);
    CHECK(cc.heartbeat_s == (hb < lease / 3 ? hb : lease / 3));
    CHECK(cc.max_lease_s == defnum("coordinator.max_lease_s"));
    CHECK(cc.max_staleness == defint("rollout.max_staleness"));
    CHECK(cc.max_credits == 4 * defint("rollout.credits"));
    CHECK(cc.lim.max_msg_bytes == (size_t)defint("coordinator.max_message_mb") << 20);
}

static void set(RlvrConfig *c, const char *key, const char *value) {
    char err[256];
    if (config_set(c, key, value, "test", err, sizeof err) != 0) { fprintf(stderr, "FAIL: %s\n", err); exit(1); }
}

// Every key a mapping reads, set away from its default, shows up in the struct.
static void test_mappings_follow_config(void) {
    RlvrConfig c;
    config_defaults(&c);
    set(&c, "algorithm.epsilon", "0.125");
    set(&c, "algorithm.norm_adv_by_std_in_grpo", "false");
    set(&c, "algorithm.ppl_shaping.alpha", "0.5");
    set(&c, "algorithm.ppl_shaping.iqr_filter", "true");
    set(&c, "algorithm.ppl_shaping.clamp", "[0.7, 1.3]");
    set(&c, "algorithm.ppl_shaping.sigma_floor", "0.25");
    set(&c, "algorithm.ppl_shaping.sigma_ddof", "1");
    set(&c, "algorithm.position_shaping.gamma", "0.375");
    set(&c, "algorithm.position_shaping.m", "3");
    set(&c, "algorithm.position_shaping.n", "-0.5");
    set(&c, "algorithm.position_shaping.d", "2");
    set(&c, "algorithm.position_shaping.cap", "null");
    set(&c, "algorithm.position_shaping.start_step", "7");
    set(&c, "algorithm.position_shaping.end_step", "9");
    set(&c, "algorithm.position_shaping.start_at_plateau", "true");
    set(&c, "actor.clip_ratio_low", "0.125");
    set(&c, "actor.clip_ratio_high", "0.5");
    set(&c, "actor.clip_ratio_c", "null");
    set(&c, "actor.loss_agg_mode", "seq-mean-token-sum");
    set(&c, "actor.use_kl_loss", "true");
    set(&c, "actor.kl_loss_coef", "0.25");
    set(&c, "actor.kl_loss_type", "k2");
    set(&c, "actor.entropy_coeff", "0.0625");
    set(&c, "trainer.stage_detector.window", "8");
    set(&c, "trainer.stage_detector.rise_threshold", "0.5");
    set(&c, "trainer.stage_detector.entropy_threshold", "0.25");
    set(&c, "trainer.stage_detector.min_step", "3");
    set(&c, "data.max_response_length", "40");
    set(&c, "reward.overlong_buffer.len", "6");
    set(&c, "reward.overlong_buffer.penalty_factor", "0.75");
    set(&c, "actor.optim.betas", "[0.5, 0.75]");
    set(&c, "actor.optim.eps", "0.25");
    set(&c, "actor.optim.weight_decay", "0.125");
    set(&c, "coordinator.endpoint", "tcp://10.0.0.1:4000");
    set(&c, "coordinator.pub_endpoint", "tcp://*:0");
    set(&c, "coordinator.lease_s", "6");
    set(&c, "coordinator.heartbeat_s", "5");
    set(&c, "coordinator.max_lease_s", "30");
    set(&c, "coordinator.max_message_mb", "3");
    set(&c, "rollout.max_staleness", "2");
    set(&c, "rollout.credits", "5");

    GrpoParams g;
    grpo_params_from_config(&c, &g);
    CHECK(g.epsilon == 0.125 && g.norm_by_std == 0);
    PplShapingParams p;
    ppl_params_from_config(&c, &p);
    CHECK(p.alpha == 0.5 && p.iqr_filter == 1 && p.has_clamp == 1 && p.clamp_lo == 0.7 && p.clamp_hi == 1.3 &&
          p.sigma_floor == 0.25 && p.sigma_ddof == 1);
    PositionShapingParams q;
    position_params_from_config(&c, &q);
    CHECK(q.gamma == 0.375 && q.m == 3 && q.n == -0.5 && q.d == 2 && q.has_cap == 0 && q.start_step == 7 &&
          q.end_step == 9 && q.start_at_plateau == 1);
    ActorLossParams al;
    actor_loss_params_from_config(&c, &al);
    CHECK(al.pg.clip_ratio_low == 0.125 && al.pg.clip_ratio_high == 0.5 && al.pg.dual_clip == 0 &&
          al.pg.agg.mode == AGG_SEQ_MEAN_TOKEN_SUM);
    CHECK(al.use_kl_loss == 1 && al.kl_loss_coef == 0.25 && al.kl_loss_type == KL_K2 && al.entropy_coeff == 0.0625);
    StageParams s;
    stage_params_from_config(&c, &s);
    CHECK(s.window == 8 && s.acc_slope_max == 0.5 && s.ent_drop_max == 0.25 / 8 && s.min_step == 3);
    OverlongParams o;
    overlong_params_from_config(&c, &o);
    CHECK(o.max_len == 40 && o.cache_len == 6 && o.factor == 0.75);
    AdamWConfig a = trainer_adamw_from_config(&c);
    CHECK(a.beta1 == 0.5f && a.beta2 == 0.75f && a.eps == 0.25f && a.weight_decay == 0.125f);
    CoordConfig cc;
    char err[256];
    CHECK(coord_config_from_rlvr(&c, &cc, err, sizeof err) == 0);
    CHECK(strcmp(cc.endpoint, "tcp://10.0.0.1:4000") == 0 && strcmp(cc.pub_endpoint, "tcp://*:*") == 0);
    CHECK(cc.lease_s == 6 && cc.heartbeat_s == 2 && cc.max_lease_s == 30);   // heartbeat lowered to lease / 3
    CHECK(cc.max_staleness == 2 && cc.max_credits == 20 && cc.lim.max_msg_bytes == (size_t)3 << 20);
    // an endpoint that does not fit is an error naming the key
    char longep[600];
    memset(longep, 'x', sizeof longep - 1);
    longep[sizeof longep - 1] = 0;
    set(&c, "coordinator.endpoint", longep);
    CHECK(coord_config_from_rlvr(&c, &cc, err, sizeof err) == -1 && strstr(err, "coordinator.endpoint"));
}

int main(void) {
    test_rl_defaults();
    test_coord_defaults();
    test_mappings_follow_config();
    return tests_done();
}
