// Rollout generation without networking: assignments -> scored groups (rollout/rollout_gen.h).
// Batch invariance of (seed, prompt id, sample index), log-probs against a full forward, weights
// swaps, scoring and quality flags on hand-made texts, and bad assignments.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/engine/infer.h"
#include "common/engine/sampler.h"
#include "common/core/bf16.h"
#include "rollout/rollout_gen.h"
#include "tests/harness.h"
#include "common/io/model_io.h"

static void tiny_model(Model *m, uint64_t seed) {
    ModelConfig c;
    model_config_default(&c);
    c.arch = ARCH_QWEN2;
    c.vocab_size = 128; c.hidden_size = 32; c.intermediate_size = 48; c.num_layers = 2;
    c.num_heads = 4; c.num_kv_heads = 2; c.head_dim = 8; c.max_position_embeddings = 256;
    c.qkv_bias = 1; c.tie_word_embeddings = 1;
    c.bos_token_id = 1; c.pad_token_id = 0;
    model_config_set_eos(&c, 2);
    snprintf(c.tokenizer, sizeof c.tokenizer, "char");
    char err[256];
    if (model_init(m, &c, err, sizeof err) != 0) die("%s", err);
    model_init_random(m, seed, 0.3f);
}

static int32_t g_prompts[4][12] = {
    {1, '1', '2', '+', '3', '='},
    {1, '7', '*', '8', '-', '9', '='},
    {1, '4', '4', '='},
    {1, '9', '9', '+', '1', '*', '2', '='},
};
static int g_plen[4] = {6, 7, 4, 8};

static void mk_assign(WireAssign *a, int which, uint64_t prompt_id, int G, int max_new) {
    memset(a, 0, sizeof *a);
    a->prompt_id = prompt_id;
    a->lease_id = 1000 + prompt_id;
    a->seed = 42;
    a->n_prompt = g_plen[which];
    a->prompt_tokens = g_prompts[which];
    a->answer = (char *)"15";
    snprintf(a->verifier, sizeof a->verifier, "arith");
    a->group_size = G;
    a->sampling.temperature = 1.0f;
    a->sampling.top_p = 0.95f;
    a->sampling.top_k = 0;
    a->sampling.max_new_tokens = max_new;
    a->sampling.n_stop = 1;
    a->sampling.stop[0] = 2;
    a->policy_version = 0;
}

static int groups_equal(const WireGroup *x, const WireGroup *y) {
    if (x->n_responses != y->n_responses || x->prompt_id != y->prompt_id) return 0;
    for (int i = 0; i < x->n_responses; i++) {
        const WireResponse *a = &x->responses[i], *b = &y->responses[i];
        if (a->n_tokens != b->n_tokens || a->finish != b->finish) return 0;
        if (memcmp(a->tokens, b->tokens, (size_t)a->n_tokens * 4) || memcmp(a->logprobs, b->logprobs, (size_t)a->n_tokens * 4)) return 0;
        if ((a->entropies == NULL) != (b->entropies == NULL)) return 0;
        if (a->entropies && memcmp(a->entropies, b->entropies, (size_t)a->n_tokens * 4)) return 0;
    }
    return 1;
}

// A feed over an array of assignments, one per pull; groups kept by position.
typedef struct {
    const WireAssign *const *a;
    int n, next;
    WireGroup got[8];
    int done[8], rc[8];
} StreamFeed;

static int sfeed_next(void *ud, int max_prompt, const WireAssign **out) {
    StreamFeed *f = ud;
    if (f->next >= f->n || f->a[f->next]->n_prompt > max_prompt) return 0;
    *out = f->a[f->next++];
    return 1;
}

static void sfeed_done(void *ud, const WireAssign *a, WireGroup *g, int rc, const char *err) {
    StreamFeed *f = ud;
    (void)err;
    for (int k = 0; k < f->n; k++)
        if (f->a[k] == a) { f->got[k] = *g; f->done[k]++; f->rc[k] = rc; }
}

static void test_generate(void) {
    Model m;
    tiny_model(&m, 7);
    Model ref;
    model_copy(&ref, &m);
    RolloutEngine e;
    RolloutGenOpts o;
    rollout_gen_opts_default(&o);
    o.max_batch = 5;   // forces waves that split groups
    char err[512];
    CHECK(rollout_engine_init(&e, &m, 3, 1, &o, err, sizeof err) == 0);
    CHECK(m.params == NULL);   // ownership moved

    const int G = 4, MAXN = 20;
    WireAssign a[4];
    for (int j = 0; j < 4; j++) mk_assign(&a[j], j, 100 + (uint64_t)j, G, MAXN);

    // Alone, one at a time.
    WireGroup alone[4];
    RolloutTimers t;
    memset(&t, 0, sizeof t);
    for (int j = 0; j < 4; j++) {
        memset(&alone[j], 0, sizeof alone[j]);
        const WireAssign *p = &a[j];
        CHECK_MSG(rollout_generate(&e, &p, 1, &alone[j], &t, err, sizeof err) == 0, "%s", err);
    }
    CHECK_EQ_INT(t.groups, 4);
    CHECK_EQ_INT(t.samples, 16);
    CHECK(t.gen_s > 0);
    // Together, in another order, with waves of 5 slots splitting groups.
    const WireAssign *order[4] = {&a[2], &a[0], &a[3], &a[1]};
    WireGroup together[4];
    memset(together, 0, sizeof together);
    CHECK_MSG(rollout_generate(&e, order, 4, together, &t, err, sizeof err) == 0, "%s", err);
    int idx[4] = {2, 0, 3, 1};
    for (int k = 0; k < 4; k++) CHECK_MSG(groups_equal(&together[k], &alone[idx[k]]), "prompt %d differs when batched", idx[k]);

    // Streamed (rollout_generate_stream): the assignments handed out one per pull, a 70-token prompt
    // after a short first one (the engine is sized for the longest committed prompt): each group as alone.
    {
        int32_t longp[70];
        longp[0] = 1;
        for (int i = 1; i < 70; i++) longp[i] = '0' + i % 10;
        WireAssign la = a[1];
        la.prompt_tokens = longp;
        la.n_prompt = 70;
        la.prompt_id = 200;
        const WireAssign *feed_order[5] = {&a[2], &la, &a[0], &a[3], &a[1]};
        StreamFeed sf = {feed_order, 5, 0, {{0}}, {0}, {0}};
        const RolloutFeed feed = {&sf, sfeed_next, sfeed_done};
        CHECK(e.inf_seq < 70 + MAXN);   // the engine grows for the long prompt only if told about it
        CHECK_MSG(rollout_generate_stream(&e, &a[2], 70, &feed, NULL, err, sizeof err) == 0, "%s", err);
        WireGroup long_alone;
        memset(&long_alone, 0, sizeof long_alone);
        const WireAssign *pl = &la;
        CHECK_MSG(rollout_generate(&e, &pl, 1, &long_alone, NULL, err, sizeof err) == 0, "%s", err);
        const WireGroup *want[5] = {&alone[2], &long_alone, &alone[0], &alone[3], &alone[1]};
        int ok = 1;
        for (int k = 0; k < 5; k++) ok &= sf.done[k] == 1 && sf.rc[k] == 0 && groups_equal(&sf.got[k], want[k]);
        CHECK_MSG(ok, "streamed groups differ from the groups generated alone (or were not all done once)");
        for (int k = 0; k < 5; k++) wire_group_free(&sf.got[k]);
        wire_group_free(&long_alone);
    }

    // Every response: sizes, token ids, log-probs <= 0, entropies >= 0, finish reason, ids copied.
    int n_stop = 0, n_len = 0;
    for (int j = 0; j < 4; j++) {
        const WireGroup *g = &alone[j];
        CHECK_EQ_INT(g->n_responses, G);
        CHECK(g->prompt_id == a[j].prompt_id && g->lease_id == a[j].lease_id && g->seed == 42);
        CHECK_EQ_INT(g->policy_version, 3);
        for (int i = 0; i < G; i++) {
            const WireResponse *r = &g->responses[i];
            CHECK(r->n_tokens >= 1 && r->n_tokens <= MAXN);
            CHECK(r->entropies != NULL);
            int ok = 1;
            for (int k = 0; k < r->n_tokens; k++)
                ok &= r->tokens[k] >= 0 && r->tokens[k] < 128 && r->logprobs[k] <= 0 && isfinite(r->logprobs[k]) && r->entropies[k] >= 0;
            CHECK(ok);
            if (r->finish == WIRE_FINISH_STOP) { n_stop++; CHECK_EQ_INT(r->tokens[r->n_tokens - 1], 2); }
            else { n_len++; CHECK_EQ_INT(r->n_tokens, MAXN); }
            CHECK(r->reward == -1.0f || r->reward == 1.0f);
            CHECK((r->reward > 0) == (r->correct != 0));
        }
    }
    CHECK(n_stop + n_len == 16);

    // Log-probs of sample 1 of prompt 101 against a full forward + softmax(logits / T) (top-p does not
    // change what is reported: the tempered full-vocabulary distribution).
    {
        const WireResponse *r = &alone[1].responses[1];
        int n = a[1].n_prompt + r->n_tokens;
        Infer s;
        CHECK(infer_init(&s, &ref, n, n, err, sizeof err) == 0);
        int *slots = calloc((size_t)n, sizeof(int)), *pos = malloc((size_t)n * sizeof(int)), *tok = malloc((size_t)n * sizeof(int));
        int *rows = malloc((size_t)r->n_tokens * sizeof(int));
        for (int i = 0; i < n; i++) {
            pos[i] = i;
            tok[i] = i < a[1].n_prompt ? a[1].prompt_tokens[i] : r->tokens[i - a[1].n_prompt];
        }
        for (int k = 0; k < r->n_tokens; k++) rows[k] = a[1].n_prompt - 1 + k;
        float *logits = malloc((size_t)r->n_tokens * 128 * sizeof(float));
        infer_forward(&s, n, slots, pos, tok, r->n_tokens, rows, logits);
        double maxd = 0;
        for (int k = 0; k < r->n_tokens; k++) {
            float lp, ent;
            sampler_logprob_entropy(logits + (size_t)k * 128, 128, 1.0f, r->tokens[k], &lp, &ent);
            maxd = fmax(maxd, fabs(lp - r->logprobs[k]));
            maxd = fmax(maxd, fabs(ent - r->entropies[k]));
        }
        CHECK_MSG(maxd < 1e-4, "log-prob / entropy differ from a full forward by %g", maxd);
        free(slots); free(pos); free(tok); free(rows); free(logits);
        infer_free(&s);
    }

    // New weights: the version is recorded and the samples change; a wrong size is refused.
    Model m2;
    tiny_model(&m2, 8);
    CHECK(rollout_engine_set_weights(&e, m2.params, m2.num_params - 1, 4, err, sizeof err) == -1);
    CHECK(strstr(err, "parameters") != NULL);
    CHECK_EQ_INT(e.version, 3);
    m2.params[5] = NAN;
    CHECK(rollout_engine_set_weights(&e, m2.params, m2.num_params, 4, err, sizeof err) == -1);
    m2.params[5] = 0.1f;
    CHECK(rollout_engine_set_weights(&e, m2.params, m2.num_params, 4, err, sizeof err) == 0);
    WireGroup g4;
    memset(&g4, 0, sizeof g4);
    const WireAssign *p0 = &a[0];
    CHECK(rollout_generate(&e, &p0, 1, &g4, NULL, err, sizeof err) == 0);
    CHECK_EQ_INT(g4.policy_version, 4);
    CHECK(!groups_equal(&g4, &alone[0]));
    wire_group_free(&g4);
    // bf16 weights (a bf16 learner's broadcast): widened exactly; wrong size / non-finite refused.
    uint16_t *h = malloc(m2.num_params * sizeof(uint16_t));
    for (size_t i = 0; i < m2.num_params; i++) h[i] = bf16_from_f32(m2.params[i]);
    CHECK(rollout_engine_set_weights_bf16(&e, h, m2.num_params + 1, 5, err, sizeof err) == -1);
    CHECK(strstr(err, "bf16") != NULL && strstr(err, "parameters") != NULL);
    const uint16_t keep = h[7];
    h[7] = 0x7fc0;   // NaN
    CHECK(rollout_engine_set_weights_bf16(&e, h, m2.num_params, 5, err, sizeof err) == -1);
    CHECK(strstr(err, "not finite") != NULL && e.version == 4);
    h[7] = keep;
    CHECK(rollout_engine_set_weights_bf16(&e, h, m2.num_params, 5, err, sizeof err) == 0);
    CHECK_EQ_INT(e.version, 5);
    int exact = 1, rounded = 0;
    for (size_t i = 0; i < m2.num_params; i++) {
        exact &= e.model.params[i] == f32_from_bf16(h[i]);
        rounded += e.model.params[i] != m2.params[i];
    }
    CHECK_MSG(exact && rounded > 0, "bf16 install: exact widening %d, %d values changed by the rounding", exact, rounded);
    free(h);
    model_free(&m2);

    // Entropies off.
    e.opts.send_entropies = 0;
    memset(&g4, 0, sizeof g4);
    CHECK(rollout_generate(&e, &p0, 1, &g4, NULL, err, sizeof err) == 0);
    CHECK(g4.responses[0].entropies == NULL);
    wire_group_free(&g4);

    // Bad assignments: other sampling settings in one batch, a prompt too long for the engine's
    // reach is fine (it grows), a token outside the vocabulary, an unknown verifier.
    WireAssign b = a[1];
    b.sampling.temperature = 0.7f;
    CHECK(!rollout_assign_compatible(&a[0], &b));
    CHECK(rollout_assign_compatible(&a[0], &a[1]));
    const WireAssign *mixed[2] = {&a[0], &b};
    WireGroup gm[2];
    memset(gm, 0, sizeof gm);
    CHECK(rollout_generate(&e, mixed, 2, gm, NULL, err, sizeof err) == -1);
    CHECK(gm[0].responses == NULL && gm[1].responses == NULL);
    int32_t badtok[3] = {1, 500, 3};
    b = a[0];
    b.prompt_tokens = badtok;
    b.n_prompt = 3;
    const WireAssign *pb = &b;
    CHECK(rollout_generate(&e, &pb, 1, gm, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "vocabulary") != NULL);
    CHECK(gm[0].responses == NULL);
    b = a[0];
    snprintf(b.verifier, sizeof b.verifier, "nope");
    CHECK(rollout_generate(&e, &pb, 1, gm, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "nope") != NULL);
    b = a[0];
    b.sampling.max_new_tokens = 300;   // engine grows to prompt + 300 positions
    b.group_size = 1;
    CHECK_MSG(rollout_generate(&e, &pb, 1, gm, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(e.inf_seq >= 306);
    wire_group_free(&gm[0]);

    // EOS is always a stop token.
    GenParams gp;
    b = a[0];
    b.sampling.n_stop = 1;
    b.sampling.stop[0] = 10;
    CHECK(rollout_gen_params(&e, &b, &gp, err, sizeof err) == 0);
    CHECK_EQ_INT(gp.n_stop, 2);
    CHECK(gp.stop[0] == 10 && gp.stop[1] == 2);
    b.sampling.n_stop = 0;
    CHECK(rollout_gen_params(&e, &b, &gp, err, sizeof err) == 0);
    CHECK(gp.n_stop == 1 && gp.stop[0] == 2);

    for (int j = 0; j < 4; j++) { wire_group_free(&alone[j]); wire_group_free(&together[j]); }
    rollout_engine_free(&e);
    model_free(&ref);
}

static void test_score(void) {
    QualityParams qp;
    quality_params_default(&qp);
    WireResponse r;
    char err[256];
    const char *t1 = "7*8-9=\\boxed{47}";
    memset(&r, 0, sizeof r);
    CHECK(rollout_score("arith", "47", t1, strlen(t1), 0, &qp, &r, err, sizeof err) == 0);
    CHECK(r.correct == 1 && r.reward == 1.0f && r.boxed_count == 1 && !r.has_cjk && !r.repetition);
    CHECK(rollout_score("arith", "48", t1, strlen(t1), 0, &qp, &r, err, sizeof err) == 0);
    CHECK(r.correct == 0 && r.reward == -1.0f);
    CHECK(rollout_score("arith", "48", t1, strlen(t1), 1, &qp, &r, err, sizeof err) == 0);
    CHECK(r.correct == 0 && r.reward == 0.0f);
    CHECK(rollout_score("arith", "47", t1, strlen(t1), 1, &qp, &r, err, sizeof err) == 0);
    CHECK(r.reward == 1.0f);
    const char *t2 = "so \\boxed{1/2} or \\boxed{0.5}";
    CHECK(rollout_score("math", "0.5", t2, strlen(t2), 0, &qp, &r, err, sizeof err) == 0);
    CHECK(r.correct == 1 && r.boxed_count == 2);
    const char *t3 = "\xe7\xad\x94\xe6\xa1\x88 \\boxed{3}";   // two CJK characters
    CHECK(rollout_score("math", "3", t3, strlen(t3), 0, &qp, &r, err, sizeof err) == 0);
    CHECK(r.correct == 1 && r.has_cjk == 1);
    char t4[2048] = "";
    for (int i = 0; i < 12; i++) strcat(t4, "we add the two numbers and then carry the one over ");
    CHECK(rollout_score("math", "3", t4, strlen(t4), 0, &qp, &r, err, sizeof err) == 0);
    CHECK(r.repetition == 1 && r.correct == 0 && r.boxed_count == 0);
    CHECK(rollout_score("bogus", "3", t1, strlen(t1), 0, &qp, &r, err, sizeof err) == -1);
    CHECK(strstr(err, "bogus") != NULL);
}

static void test_engine_errors(void) {
    Model m;
    tiny_model(&m, 1);
    snprintf(m.cfg.tokenizer, sizeof m.cfg.tokenizer, "sentencepiece-xyz");
    RolloutEngine e;
    RolloutGenOpts o;
    rollout_gen_opts_default(&o);
    char err[512];
    CHECK(rollout_engine_init(&e, &m, 0, 1, &o, err, sizeof err) == -1);
    model_free(&m);
    tiny_model(&m, 1);
    o.max_batch = 0;
    CHECK(rollout_engine_init(&e, &m, 0, 1, &o, err, sizeof err) == -1);
    o.max_batch = 4;
    CHECK(rollout_engine_init(&e, &m, -1, 0, &o, err, sizeof err) == 0);
    WireAssign a;
    mk_assign(&a, 0, 1, 2, 4);
    const WireAssign *p = &a;
    WireGroup g;
    memset(&g, 0, sizeof g);
    CHECK(rollout_generate(&e, &p, 1, &g, NULL, err, sizeof err) == -1);   // no weights version yet
    CHECK(rollout_engine_load_weights(&e, "/nonexistent/model.h5", 1, err, sizeof err) == -1);
    CHECK(strstr(err, "/nonexistent/model.h5") != NULL);
    // An HDF5 snapshot of the same architecture installs; another architecture is refused.
    char path[128];
    snprintf(path, sizeof path, "/tmp/test_rollout_gen_%d.h5", (int)getpid());
    Model m2;
    tiny_model(&m2, 5);
    CHECK(model_save_native(&m2, path, err, sizeof err) == 0);
    CHECK_MSG(rollout_engine_load_weights(&e, path, 9, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(e.version, 9);
    CHECK(memcmp(e.model.params, m2.params, m2.num_params * sizeof(float)) == 0);
    CHECK(rollout_generate(&e, &p, 1, &g, NULL, err, sizeof err) == 0);
    CHECK_EQ_INT(g.policy_version, 9);
    wire_group_free(&g);
    model_free(&m2);
    tiny_model(&m2, 5);
    m2.cfg.rope_theta = 500.0f;
    CHECK(model_save_native(&m2, path, err, sizeof err) == 0);
    CHECK(rollout_engine_load_weights(&e, path, 10, err, sizeof err) == -1);
    CHECK(strstr(err, "architecture") != NULL && e.version == 9);
    model_free(&m2);
    remove(path);
    rollout_engine_free(&e);
}

int main(void) {
    test_generate();
    test_score();
    test_engine_errors();
    return tests_done();
}
