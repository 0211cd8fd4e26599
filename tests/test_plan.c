// The learner's memory plan (learner/plan.h), the ZeRO-1 shard rule and the norm it relies on
// (learner/comm.h, grad_sqnorm_blocks), and the CPU training-engine seam (learner/engine.h) against the
// direct engine calls.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "common/core/check.h"
#include "common/core/rng.h"
#include "common/engine/forward.h"
#include "common/engine/optim.h"
#include "learner/comm.h"
#include "learner/engine.h"
#include "learner/plan.h"

static ModelConfig shape(int C, int L, int H, int KV, int I, int V, int tied, int bias) {
    ModelConfig mc;
    model_config_default(&mc);
    mc.arch = ARCH_QWEN2;
    mc.hidden_size = C; mc.num_layers = L; mc.num_heads = H; mc.num_kv_heads = KV; mc.intermediate_size = I;
    mc.vocab_size = V; mc.head_dim = C / H; mc.tie_word_embeddings = tied; mc.qkv_bias = bias;
    mc.max_position_embeddings = 64;
    return mc;
}

// plan_num_params counts what model_init lays out, for tied / untied heads and with / without biases.
static void test_num_params(void) {
    char err[256];
    for (int v = 0; v < 4; v++) {
        ModelConfig mc = shape(48, 3, 6, 2, 80, 101, v & 1, v >> 1);
        Model m;
        CHECK(model_init(&m, &mc, err, sizeof err) == 0);
        CHECK_MSG(plan_num_params(&mc) == m.num_params, "variant %d: plan %zu vs model_init %zu", v, plan_num_params(&mc), m.num_params);
        model_free(&m);
    }
    // Qwen2.5-7B: 7.62B parameters (HF's figure 7,615,616,512)
    ModelConfig q7 = shape(3584, 28, 28, 4, 18944, 152064, 0, 1);
    CHECK_MSG(plan_num_params(&q7) == 7615616512ull, "Qwen2.5-7B shape: %zu parameters", plan_num_params(&q7));
}

// The fit check: a plan that fits passes; one that does not names the knobs, the most helpful first,
// and marks the ones that fit.
static void test_fit(void) {
    RlvrConfig c;
    config_defaults(&c);
    snprintf(c.trainer_device, sizeof c.trainer_device, "cuda");
    c.actor_ppo_micro_batch_size_per_gpu = 4;
    c.data_max_prompt_length = 1024;
    c.data_max_response_length = 7168;
    ModelConfig q7 = shape(3584, 28, 28, 4, 18944, 152064, 0, 1);
    LearnerPlan lp;
    plan_from_model(&c, &q7, plan_num_params(&q7), 1, &lp);
    char err[2048];
    CHECK(lp.gpu_bytes == 0);
    CHECK(plan_check_fit(&lp, err, sizeof err) == 0);   // unknown memory: nothing to refuse
    c.trainer_gpu_memory_gib = 80;
    plan_from_model(&c, &q7, plan_num_params(&q7), 1, &lp);
    CHECK(lp.total > lp.gpu_bytes && lp.total == lp.p.total + lp.p.acts_eval);
    CHECK(plan_check_fit(&lp, err, sizeof err) != 0);
    const char *knobs[4] = {"trainer.activation_checkpointing=true", "actor.ppo_micro_batch_size_per_gpu=2",
                            "trainer.zero_stage=1", "trainer.precision=bf16"};
    for (int i = 0; i < 4; i++) CHECK_MSG(strstr(err, knobs[i]) != NULL, "the refusal names %s: %s", knobs[i], err);
    CHECK_MSG(strstr(err, "activation_checkpointing") < strstr(err, "precision=bf16"), "recompute saves most, so it comes first: %s", err);
    CHECK_MSG(strstr(err, "combine them") != NULL, "no single knob fits a fp32 7B step in 80 GiB: %s", err);
    // with every knob turned, the 7B step at T 8192 fits 80 GiB over 8 ranks
    snprintf(c.trainer_precision, sizeof c.trainer_precision, "bf16");
    c.trainer_activation_checkpointing = 1;
    c.trainer_zero_stage = 1;
    c.actor_ppo_micro_batch_size_per_gpu = 1;
    plan_from_model(&c, &q7, plan_num_params(&q7), 8, &lp);
    CHECK_MSG(plan_check_fit(&lp, err, sizeof err) == 0, "7B bf16 + recompute + ZeRO-1 x 8: %.2f GiB", lp.total / PLAN_GIB);
    CHECK(lp.p.acts < lp.p.acts_full);
    // the start-up check of a cuda run: the same plan, the memory split among the ranks of one GPU
    CHECK(plan_check_device(&c, &q7, plan_num_params(&q7), 8, 0, 1, err, sizeof err) == 0);
    CHECK(plan_check_device(&c, &q7, plan_num_params(&q7), 8, 0, 2, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "shared by 2 ranks") != NULL && strstr(err, "40.00 GiB") != NULL, "%s", err);
    // ZeRO-1 divides the Adam state by the ranks
    MemPlan p1 = lp.p;
    plan_from_model(&c, &q7, plan_num_params(&q7), 1, &lp);
    CHECK(p1.adam * 7 < lp.p.adam);
}

// Shards: equal blocks of whole norm blocks covering [0, n) exactly once, in rank order; and the
// shards' block sums added in order give grad_sqnorm of the whole buffer bit for bit.
static void test_shards_and_norm(void) {
    const size_t ns[4] = {1, 4095, 13472, 3 * GRAD_SQNORM_BLOCK * 5 + 17};
    Rng r;
    rng_seed(&r, 5);
    for (int k = 0; k < 4; k++) {
        size_t n = ns[k];
        float *g = mallocCheck(n * sizeof(float));
        for (size_t i = 0; i < n; i++) g[i] = (float)(rng_uniform(&r) - 0.5) * 3.0f;
        double whole = grad_sqnorm(g, n);
        for (int R = 1; R <= 5; R++) {
            size_t next = 0, block = 0;
            double sum = 0;
            for (int rk = 0; rk < R; rk++) {
                size_t off = 0, len = 0;
                comm_shard(n, R, rk, &off, &len);
                Dist d = {.rank = rk, .size = R, .local_rank = 0, .local_size = 1};
                EngineOpts o;
                memset(&o, 0, sizeof o);
                comm_engine_range(1, n, &d, &o);
                CHECK(o.opt_off == off && o.opt_len == len);
                if (rk == 0) block = o.capacity / (size_t)R;
                CHECK(o.capacity == block * (size_t)R && o.capacity >= n);
                CHECK_MSG(off == next || len == 0, "n %zu R %d rank %d: shard starts at %zu, expected %zu", n, R, rk, off, next);
                CHECK(off % GRAD_SQNORM_BLOCK == 0 || len == 0);
                CHECK(len <= block);
                size_t nb = (len + GRAD_SQNORM_BLOCK - 1) / GRAD_SQNORM_BLOCK;
                double *part = mallocCheck((nb ? nb : 1) * sizeof(double));
                grad_sqnorm_blocks(g + off, len, part);
                for (size_t b = 0; b < nb; b++) sum += part[b];
                free(part);
                next = off + len;
            }
            CHECK_MSG(next == n, "n %zu R %d: shards cover %zu", n, R, next);
            CHECK_MSG(sum == whole, "n %zu R %d: shard block sums %.17g vs grad_sqnorm %.17g", n, R, sum, whole);
        }
        free(g);
    }
}

// The CPU engine through the seam is the direct calls, bit for bit (forward / head / backward /
// AdamW on ranges that cover the buffer).
static void test_engine_cpu(void) {
    char err[256];
    ModelConfig mc = shape(32, 2, 4, 2, 48, 64, 1, 1);
    Model a, b;
    CHECK(model_init(&a, &mc, err, sizeof err) == 0);
    model_init_random(&a, 3, 0.1f);
    model_alloc_train(&a);
    CHECK(model_init(&b, &mc, err, sizeof err) == 0);
    memcpy(b.params, a.params, a.num_params * sizeof(float));
    model_alloc_train(&b);
    enum { B = 2, T = 6 };
    int tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) { tok[i] = (i * 7 + 3) % 64; tgt[i] = (i * 5 + 1) % 64; }
    float lp1[B * T], lp2[B * T], en1[B * T], en2[B * T], dl[B * T], de[B * T];
    for (int i = 0; i < B * T; i++) { dl[i] = (float)((i % 3) - 1) * 0.1f; de[i] = 0.01f * (float)(i % 2); }
    // direct
    Acts acts;
    acts_init(&acts, &mc, B, T);
    model_forward(&a, &acts, tok, B, T);
    model_head(&a, &acts, tgt, 1.0f, lp1, en1, NULL, NULL);
    model_backward_ent(&a, &acts, dl, de);
    AdamWConfig ac = adamw_default();
    model_adamw_step(&a, &ac, 1e-2f, 1);
    acts_free(&acts);
    // through the seam, AdamW on two ranges
    EngineOpts o;
    engine_opts_from_config(&o, "cpu", "fp32", 0, 1, 0, b.num_params, B, T);
    Engine e;
    CHECK(engine_init(&e, &b, NULL, &o, err, sizeof err) == 0);
    CHECK(!engine_on_device(&e) && engine_grads(&e) == b.grads);
    engine_zero_grads(&e);
    engine_forward_head(&e, tok, tgt, B, T, 1.0f, lp2, en2);
    engine_backward(&e, dl, de);
    size_t half = b.num_params / 2;
    engine_adamw(&e, &ac, 1e-2f, 1, 0, half);
    engine_adamw(&e, &ac, 1e-2f, 1, half, b.num_params - half);
    CHECK(memcmp(lp1, lp2, sizeof lp1) == 0 && memcmp(en1, en2, sizeof en1) == 0);
    CHECK(memcmp(a.grads, b.grads, a.num_params * sizeof(float)) == 0);
    CHECK(memcmp(a.params, b.params, a.num_params * sizeof(float)) == 0);
    CHECK(memcmp(a.adam_v, b.adam_v, a.num_params * sizeof(float)) == 0);
    CHECK(engine_grad_sqnorm(&e, 0, b.num_params) == grad_sqnorm(a.grads, a.num_params));
    // a cuda engine in a build without the backend is an error naming the build flag
    Engine ec;
    engine_opts_from_config(&o, "cuda", "bf16", 1, 1, 0, b.num_params, B, T);
#ifndef RLVR_CUDA
    CHECK(engine_init(&ec, &b, NULL, &o, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "-DRLVR_CUDA=ON") != NULL, "%s", err);
#else
    (void)ec;
#endif
    engine_free(&e);
    model_free(&a);
    model_free(&b);
}

int main(void) {
    test_num_params();
    test_fit();
    test_shards_and_norm();
    test_engine_cpu();
    return tests_done();
}
