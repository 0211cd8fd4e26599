// Learner unit tests (no MPI needed: one rank) and, with --worker, a scripted rollout worker used by
// tests/test_learner_*.py before / besides the real rollout program.
//
//   test_learner_batch                      unit tests: batch packing, balancing, micro-batches,
//                                           advantages, the update's token-mean normalisation
//   test_learner_batch --worker RUN_DIR [--id NAME] [--credits N] [--hang-after N] [--delay S]
//                      [--p-correct P] [--quiet]
//       fake worker: answers every assignment with G deterministic responses derived from the prompt's
//       seed ("\boxed{answer}" with probability P (0.5), else a wrong number; log-probs near
//       ln(1/128)), independent of the weights, so two runs over the same prompts see the same data.
//       --hang-after N: after N groups, hold the next lease forever (a test then SIGKILLs it
//       mid-lease). --p-correct 1: every group's rewards agree (what dynamic sampling filters out).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/core/rng.h"
#include "common/engine/tokenizer.h"
#include "learner/batch.h"
#include "learner/trainer.h"
#include "proto/client.h"
#include "tests/harness.h"

static volatile sig_atomic_t stop_flag = 0;
static void on_term(int s) { (void)s; stop_flag = 1; }

static int run_worker(int argc, char **argv) {
    const char *dir = NULL, *id = NULL;
    int credits = 2, hang_after = -1, quiet = 0;
    double delay = 0, p_correct = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--worker") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--id") && i + 1 < argc) id = argv[++i];
        else if (!strcmp(argv[i], "--credits") && i + 1 < argc) credits = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hang-after") && i + 1 < argc) hang_after = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--delay") && i + 1 < argc) delay = atof(argv[++i]);
        else if (!strcmp(argv[i], "--p-correct") && i + 1 < argc) p_correct = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else { fprintf(stderr, "fake worker: unknown argument %s\n", argv[i]); return 2; }
    }
    if (!dir) { fprintf(stderr, "fake worker: --worker RUN_DIR is required\n"); return 2; }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    WireClientConfig cfg;
    wire_client_config_default(&cfg);
    snprintf(cfg.rendezvous, sizeof cfg.rendezvous, "%s/rendezvous.json", dir);
    if (id) snprintf(cfg.worker_id, sizeof cfg.worker_id, "%s", id);
    snprintf(cfg.software, sizeof cfg.software, "fake-worker");
    cfg.credits = credits;
    cfg.subscribe_weights = 0;
    cfg.quiet = quiet;
    char err[512];
    WireClient *cl = NULL;
    for (int tries = 0; tries < 300 && !cl && !stop_flag; tries++) {   // the rendezvous file may not exist yet
        cl = wire_client_open(&cfg, err, sizeof err);
        if (!cl) usleep(100000);
    }
    if (!cl) { fprintf(stderr, "fake worker: %s\n", err); return 1; }
    Tokenizer tok;
    tokenizer_init(&tok, "char", err, sizeof err);
    long sent = 0;
    while (!stop_flag) {
        WireAssign a;
        int rc = wire_client_next(cl, &a, 0.2);
        if (rc < 0) break;
        if (rc == 0) continue;
        if (hang_after >= 0 && sent >= hang_after) {
            fprintf(stderr, "fake worker %s: holding lease %llu forever\n", cfg.worker_id, (unsigned long long)a.lease_id);
            fflush(stderr);
            while (!stop_flag) pause();
            wire_assign_free(&a);
            break;
        }
        int G = a.group_size;
        WireGroup g;
        memset(&g, 0, sizeof g);
        g.prompt_id = a.prompt_id; g.lease_id = a.lease_id; g.seed = a.seed;
        g.policy_version = a.policy_version;
        g.n_responses = G;
        g.responses = callocCheck((size_t)G, sizeof(WireResponse));
        for (int i = 0; i < G; i++) {
            Rng r;
            rng_seed(&r, rng_mix(a.seed, (uint64_t)i));
            int correct = rng_uniform(&r) < (float)p_correct;
            char text[96];
            if (correct) snprintf(text, sizeof text, "\\boxed{%s}", a.answer);
            else snprintf(text, sizeof text, "\\boxed{%d}", (int)(rng_u64(&r) % 1000) + 1000);
            int n = (int)strlen(text) + 1;
            if (n > a.sampling.max_new_tokens) n = a.sampling.max_new_tokens;
            WireResponse *w = &g.responses[i];
            w->n_tokens = n;
            w->tokens = mallocCheck((size_t)n * sizeof(int32_t));
            w->logprobs = mallocCheck((size_t)n * sizeof(float));
            for (int t = 0; t < n; t++) {
                w->tokens[t] = t < (int)strlen(text) ? (unsigned char)text[t] : tok.eos_id;
                w->logprobs[t] = -4.85f + 0.1f * (rng_uniform(&r) - 0.5f);
            }
            w->correct = correct && n == (int)strlen(text) + 1;
            w->reward = w->correct ? 1.0f : -1.0f;
            w->finish = n == (int)strlen(text) + 1 ? WIRE_FINISH_STOP : WIRE_FINISH_LENGTH;
            w->boxed_count = 1;
        }
        if (delay > 0) usleep((useconds_t)(delay * 1e6));
        if (wire_client_send_group(cl, &g, err, sizeof err) != 0) fprintf(stderr, "fake worker: group not sent: %s\n", err);
        else sent++;
        for (int i = 0; i < G; i++) { free(g.responses[i].tokens); free(g.responses[i].logprobs); }
        free(g.responses);
        wire_assign_free(&a);
    }
    wire_client_close(cl, "stopped");
    if (!quiet) fprintf(stderr, "fake worker %s: %ld groups sent\n", cfg.worker_id, sent);
    return 0;
}

// ---- unit tests ----

static CoordGroup make_group(uint64_t id, int G, int P, const int *lens, const int *correct) {
    CoordGroup g;
    memset(&g, 0, sizeof g);
    g.prompt_id = id;
    g.n_prompt = P;
    g.prompt_tokens = mallocCheck((size_t)P * sizeof(int32_t));
    for (int i = 0; i < P; i++) g.prompt_tokens[i] = 40 + i;
    g.group.prompt_id = id;
    g.group.n_responses = G;
    g.group.policy_version = 3;
    g.group.responses = callocCheck((size_t)G, sizeof(WireResponse));
    for (int i = 0; i < G; i++) {
        WireResponse *w = &g.group.responses[i];
        w->n_tokens = lens[i];
        w->tokens = mallocCheck((size_t)lens[i] * sizeof(int32_t));
        w->logprobs = mallocCheck((size_t)lens[i] * sizeof(float));
        for (int t = 0; t < lens[i]; t++) { w->tokens[t] = 60 + t + i; w->logprobs[t] = -0.5f - 0.01f * t; }
        w->correct = correct[i];
        w->boxed_count = 1;
    }
    return g;
}

static void free_group(CoordGroup *g) {
    for (int i = 0; i < g->group.n_responses; i++) { free(g->group.responses[i].tokens); free(g->group.responses[i].logprobs); }
    free(g->group.responses);
    free(g->prompt_tokens);
}

static void test_batch(void) {
    int l1[2] = {3, 5}, c1[2] = {1, 0}, l2[2] = {4, 2}, c2[2] = {0, 0};
    CoordGroup gs[2] = {make_group(9, 2, 3, l1, c1), make_group(4, 2, 2, l2, c2)};
    RlBatch b;
    char err[256];
    CHECK(rl_batch_from_groups(gs, 2, &b, err, sizeof err) == 0);
    CHECK_EQ_INT(b.R, 4);
    CHECK_EQ_INT(b.prompt_id[0], 4);            // sorted by prompt id
    CHECK_EQ_INT(b.prompt_id[3], 9);
    CHECK_EQ_INT(b.n_tok, 2 + 4 + 2 + 2 + 3 + 3 + 3 + 5);
    CHECK_EQ_INT(b.n_resp_tok, 4 + 2 + 3 + 5);
    CHECK_EQ_INT(b.tokens[b.tok_off[2] + 3], 60);   // response 0 of group 9 follows its 3 prompt tokens
    // pack / unpack round trip
    size_t len;
    uint8_t *p = rl_batch_pack(&b, &len);
    RlBatch u;
    CHECK(rl_batch_unpack(p, len, &u, err, sizeof err) == 0);
    CHECK_EQ_INT(u.R, b.R);
    CHECK(memcmp(u.tokens, b.tokens, b.n_tok * sizeof(int32_t)) == 0);
    CHECK(memcmp(u.old_logp, b.old_logp, b.n_resp_tok * sizeof(float)) == 0);
    CHECK(memcmp(u.prompt_id, b.prompt_id, (size_t)b.R * sizeof(int64_t)) == 0);
    rl_batch_free(&u);
    CHECK(rl_batch_unpack(p, len - 1, &u, err, sizeof err) != 0);   // truncated
    p[0] ^= 1;
    RlBatch v;
    CHECK(rl_batch_unpack(p, len, &v, err, sizeof err) != 0);       // bad magic
    free(p);
    // micro-batch layout: the response token j of row r sits at prompt_len - 1 + j
    for (size_t i = 0; i < b.n_resp_tok; i++) b.tok_adv[i] = (float)i;
    MicroBatch mb;
    micro_init(&mb, 4, 16);
    int rows[2] = {2, 1};
    micro_build(&mb, &b, rows, 2);
    CHECK_EQ_INT(mb.T, 3 + 3 - 1 > 2 + 2 - 1 ? 5 : 3);
    CHECK_EQ_INT(mb.targets[0 * mb.T + 2], 60);   // row 0 = response 2 (prompt 3): position 2 predicts the first response token
    CHECK(mb.mask[0 * mb.T + 1] == 0.0f);
    CHECK(mb.mask[0 * mb.T + 2] == 1.0f);
    CHECK(mb.mask[0 * mb.T + 4] == 1.0f);
    CHECK_NEAR(mb.old_logp[0 * mb.T + 3], -0.51, 1e-6);
    CHECK_NEAR(mb.adv[0 * mb.T + 2], (double)b.lp_off[2], 1e-6);
    CHECK_EQ_INT(mb.targets[0 * mb.T + 4], 62);
    CHECK(mb.mask[1 * mb.T + 0] == 0.0f && mb.mask[1 * mb.T + 1] == 1.0f && mb.mask[1 * mb.T + 2] == 1.0f);
    CHECK(mb.mask[1 * mb.T + 3] == 0.0f);   // padding
    CHECK_EQ_INT(mb.targets[1 * mb.T + 3], -1);
    float msum = 0;
    for (int i = 0; i < mb.B * mb.T; i++) msum += mb.mask[i];
    CHECK_NEAR(msum, 3 + 2, 0);
    micro_free(&mb);
    rl_batch_free(&b);
    free_group(&gs[0]); free_group(&gs[1]);
}

static void test_balance(void) {
    long cost[7] = {10, 3, 7, 7, 1, 9, 2};
    int owner[7], owner2[7];
    balance_assign(cost, 7, 2, owner);
    long load[2] = {0, 0};
    for (int i = 0; i < 7; i++) load[owner[i]] += cost[i];
    CHECK(labs(load[0] - load[1]) <= 1);   // 39 total: 20 / 19
    balance_assign(cost, 7, 2, owner2);
    CHECK(memcmp(owner, owner2, sizeof owner) == 0);   // deterministic
    balance_assign(cost, 7, 1, owner);
    for (int i = 0; i < 7; i++) CHECK_EQ_INT(owner[i], 0);
    balance_assign(cost, 2, 4, owner);     // more ranks than items: some ranks get nothing
    CHECK(owner[0] != owner[1]);
}

// A one-layer model and a 2-prompt batch config for the trainer tests.
static void small_setup(RlvrConfig *cfg, ModelConfig *mc) {
    config_defaults(cfg);
    cfg->data_max_prompt_length = 8;
    cfg->data_max_response_length = 8;
    cfg->data_train_batch_size = 2;
    cfg->actor_ppo_mini_batch_size = 2;
    cfg->actor_optim_warmup_steps = 0;
    cfg->actor_optim_lr = 1e-3;
    model_config_default(mc);
    mc->vocab_size = 128; mc->hidden_size = 16; mc->intermediate_size = 24; mc->num_layers = 1;
    mc->num_heads = 2; mc->num_kv_heads = 1; mc->head_dim = 8; mc->max_position_embeddings = 32;
}

// The update's loss is normalised by the GLOBAL token count of the mini-batch: splitting the rows of
// one mini-batch into any micro-batch size must give the same summed gradient.
static void test_update_micro_invariance(void) {
    RlvrConfig cfg;
    ModelConfig mc;
    small_setup(&cfg, &mc);
    char err[256];
    float *grads[2];
    double norms[2];
    for (int v = 0; v < 2; v++) {
        cfg.actor_ppo_micro_batch_size_per_gpu = v == 0 ? 4 : 1;
        Model m;
        CHECK(model_init(&m, &mc, err, sizeof err) == 0);
        model_init_random(&m, 7, 0.05f);
        model_alloc_train(&m);
        Dist d = {.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};
        Trainer t;
        CHECK(trainer_init(&t, &cfg, &d, &m, NULL, 1, err, sizeof err) == 0);
        int l1[2] = {3, 5}, c1[2] = {1, 0}, l2[2] = {4, 2}, c2[2] = {1, 0};
        CoordGroup gs[2] = {make_group(1, 2, 3, l1, c1), make_group(2, 2, 2, l2, c2)};
        RlBatch b;
        CHECK(rl_batch_from_groups(gs, 2, &b, err, sizeof err) == 0);
        StepStats st;
        trainer_prepare(&t, &b, 1, -1, 3, &st);
        CHECK_NEAR(st.accuracy, 0.5, 1e-12);
        CHECK_NEAR(st.reward_mean, 0.0, 1e-12);
        CHECK_NEAR(b.adv[0], 1 / (sqrt(2.0) + 1e-6), 1e-5);   // +1 vs -1: sample std sqrt(2)
        CHECK_NEAR(b.adv[1], -1 / (sqrt(2.0) + 1e-6), 1e-5);
        // grads of the first mini-batch: run the update with lr 0-like check via norms
        trainer_update(&t, &b, &st);
        CHECK_EQ_INT(st.opt_steps, 1);
        norms[v] = st.grad_norm;
        grads[v] = mallocCheck(m.num_params * sizeof(float));
        memcpy(grads[v], m.params, m.num_params * sizeof(float));
        CHECK(st.gap_tokens == 14);
        rl_batch_free(&b);
        free_group(&gs[0]); free_group(&gs[1]);
        trainer_free(&t);
        model_free(&m);
    }
    CHECK_NEAR(norms[0], norms[1], 1e-5 * norms[0]);
    size_t n = 0;
    {
        Model m;
        model_init(&m, &mc, err, sizeof err);
        n = m.num_params;
        model_free(&m);
    }
    double maxd = 0;
    for (size_t i = 0; i < n; i++) { double d = fabs((double)grads[0][i] - grads[1][i]); if (d > maxd) maxd = d; }
    CHECK_MSG(maxd < 1e-6, "params after one step differ by %g between micro-batch sizes 4 and 1", maxd);
    free(grads[0]); free(grads[1]);
}

// actor.entropy_coeff: with all-equal rewards (A = 0) the entropy bonus is the only gradient. A positive
// coefficient must raise the policy's entropy on the batch, a negative one lower it, 0 gives a zero
// gradient, and the gradient norm is linear in the coefficient.
static void test_entropy_bonus(void) {
    RlvrConfig cfg;
    ModelConfig mc;
    small_setup(&cfg, &mc);
    cfg.actor_ppo_micro_batch_size_per_gpu = 2;
    cfg.actor_optim_lr = 1e-2;
    cfg.actor_optim_weight_decay = 0;
    char err[256];
    const double coeffs[4] = {0.0, 0.1, 0.2, -0.1};
    double norm[4], dent[4];
    for (int v = 0; v < 4; v++) {
        cfg.actor_entropy_coeff = coeffs[v];
        CHECK(trainer_check_config(&cfg, err, sizeof err) == 0);
        Model m;
        CHECK(model_init(&m, &mc, err, sizeof err) == 0);
        model_init_random(&m, 11, 0.3f);
        model_alloc_train(&m);
        Dist d = {.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};
        Trainer t;
        CHECK(trainer_init(&t, &cfg, &d, &m, NULL, 1, err, sizeof err) == 0);
        double ent[2];
        for (int step = 0; step < 2; step++) {
            int l1[2] = {3, 5}, c1[2] = {1, 1}, l2[2] = {4, 2}, c2[2] = {0, 0};
            CoordGroup gs[2] = {make_group(1, 2, 3, l1, c1), make_group(2, 2, 2, l2, c2)};
            RlBatch b;
            CHECK(rl_batch_from_groups(gs, 2, &b, err, sizeof err) == 0);
            StepStats st;
            trainer_prepare(&t, &b, step + 1, -1, 3, &st);
            CHECK_NEAR(b.adv[0], 0.0, 1e-12);
            trainer_update(&t, &b, &st);
            ent[step] = st.entropy_mean;   // measured before this step's update
            if (step == 0) norm[v] = st.grad_norm;
            rl_batch_free(&b);
            free_group(&gs[0]); free_group(&gs[1]);
        }
        dent[v] = ent[1] - ent[0];
        trainer_free(&t);
        model_free(&m);
    }
    // the CUDA backend is not wired into the learner: asking for it is an error that says so
    snprintf(cfg.trainer_device, sizeof cfg.trainer_device, "cuda");
#ifndef RLVR_CUDA
    // a build without the backend refuses cuda, naming the build flag
    CHECK(trainer_check_config(&cfg, err, sizeof err) != 0);
    CHECK(strstr(err, "trainer.device") != NULL && strstr(err, "-DRLVR_CUDA=ON") != NULL && strstr(err, "trainer.device=cpu") != NULL);
#else
    CHECK(trainer_check_config(&cfg, err, sizeof err) == 0);
#endif
    // bf16 is a cuda precision: the CPU engine refuses it
    snprintf(cfg.trainer_device, sizeof cfg.trainer_device, "cpu");
    snprintf(cfg.trainer_precision, sizeof cfg.trainer_precision, "bf16");
    CHECK(trainer_check_config(&cfg, err, sizeof err) != 0);
    CHECK(strstr(err, "trainer.precision=fp32") != NULL && strstr(err, "trainer.device=cuda") != NULL);
    snprintf(cfg.trainer_precision, sizeof cfg.trainer_precision, "fp32");
    CHECK(norm[0] == 0.0);
    CHECK(norm[1] > 0.0);
    CHECK_NEAR(norm[2], 2.0 * norm[1], 1e-4 * norm[2]);
    CHECK_NEAR(norm[3], norm[1], 1e-4 * norm[1]);
    CHECK_MSG(dent[1] > 0 && dent[2] > 0, "a positive entropy bonus must raise the entropy: %g %g", dent[1], dent[2]);
    CHECK_MSG(dent[3] < 0, "a negative coefficient must lower it: %g", dent[3]);
    CHECK_NEAR(dent[0], 0.0, 1e-12);
}

int main(int argc, char **argv) {
    if (argc > 1) return run_worker(argc, argv);
    test_batch();
    test_balance();
    test_update_micro_invariance();
    test_entropy_bonus();
    return tests_done();
}
