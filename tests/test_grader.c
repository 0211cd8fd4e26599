// Tests for common/tasks/grade.h, the sample -> decode -> verify loop of rlvr eval, rlvr analyze and the
// learner's validation, on the committed demo base policy (configs/base/arith_base.h5) and the
// arithmetic task:
//   - sample i of an item with seed index j is exactly infer_generate_group(run_seed, j)'s sample i
//     (the contract that lets eval reproduce validation), whatever the batch (per 1 or 3);
//   - texts, verdicts and Acc/Maj/Pass are those of tokenizer_decode / verify / eval_problem;
//   - the callback sees the items in order; an error from it stops the run and is returned;
//   - the token count is the sum of the responses' lengths.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tasks/grade.h"
#include "common/engine/model.h"
#include "common/tasks/tasks.h"
#include "common/tasks/verifier.h"
#include "tests/harness.h"
#include "common/io/model_io.h"

#define N_ITEMS 6
#define N_SAMPLES 4

typedef struct {
    int calls, stop_at;
    int tokens[N_ITEMS][N_SAMPLES][32];
    int lens[N_ITEMS][N_SAMPLES];
    int correct[N_ITEMS][N_SAMPLES];
    EvalProblem ep[N_ITEMS];
    int base;   // index of the first item of the current batch
} Seen;

static int record(void *ctx, int k, const Graded *g, char *err, size_t errlen) {
    Seen *s = ctx;
    if (s->stop_at >= 0 && s->calls == s->stop_at) {
        snprintf(err, errlen, "stop requested at call %d", s->calls);
        return -1;
    }
    CHECK_MSG(s->calls == s->base + k, "callback order: call %d got item %d of the batch at %d", s->calls, k, s->base);
    const int j = s->base + k;
    for (int i = 0; i < g->n; i++) {
        s->lens[j][i] = g->out[i].n;
        for (int t = 0; t < g->out[i].n && t < 32; t++) s->tokens[j][i][t] = g->out[i].tokens[t];
        s->correct[j][i] = g->correct[i];
    }
    s->ep[j] = g->ep;
    s->calls++;
    return 0;
}

static int run_all(Grader *g, const GradeItem *items, int per, Seen *s, char *err, size_t errlen) {
    s->calls = 0;
    for (int b = 0; b < N_ITEMS; b += per) {
        s->base = b;
        int count = N_ITEMS - b < per ? N_ITEMS - b : per;
        if (grader_run(g, items + b, count, record, s, err, errlen) != 0) return -1;
    }
    return 0;
}

int main(void) {
    char err[512];
    Model m;
    CHECK(model_load("configs/base/arith_base.h5", &m, err, sizeof err) == 0);
    Tokenizer tok;
    CHECK(tokenizer_from_model(&tok, &m, err, sizeof err) == 0);
    GenParams gp;
    gen_params_default(&gp);
    gp.sampler.temperature = 1.0f;   // T = 1: a mix of right and wrong answers
    gp.max_new_tokens = 16;
    if (tok.eos_id >= 0) gp.stop[gp.n_stop++] = tok.eos_id;
    ArithKnobs knobs;
    arith_knobs_default(&knobs);
    knobs.digits = 2; knobs.ops = ARITH_OP_ADD; knobs.steps = 1;   // the task the base policy learnt (configs/sft_arith.yaml)
    ArithProblem probs[N_ITEMS];
    int prompts[N_ITEMS][72];
    GradeItem items[N_ITEMS];
    for (int j = 0; j < N_ITEMS; j++) {
        arith_problem(7, (uint64_t)j, &knobs, &probs[j]);
        int k = 0, e = 0;
        int *ids = tokenizer_encode_alloc(&tok, probs[j].prompt, TOK_ADD_SPECIAL, &e, err, sizeof err);   // [BOS] + text
        CHECK(ids && e > 1 && e <= 72 && ids[0] == m.cfg.bos_token_id);
        for (int t = 0; t < e && t < 72; t++) prompts[j][t] = ids[t];
        free(ids);
        items[j] = (GradeItem){.tokens = prompts[j], .n_tokens = k + e, .seed_index = (uint64_t)(100 + j), .gold = probs[j].answer};
    }
    const uint64_t run_seed = 42;

    static Seen by3, by1;
    by3.stop_at = by1.stop_at = -1;
    Infer inf3, inf1, ref;
    CHECK(infer_init(&inf3, &m, 3 * N_SAMPLES, 64, err, sizeof err) == 0);
    CHECK(infer_init(&inf1, &m, N_SAMPLES, 64, err, sizeof err) == 0);
    CHECK(infer_init(&ref, &m, N_SAMPLES, 64, err, sizeof err) == 0);
    Grader g3, g1;
    grader_init(&g3, &inf3, &tok, &gp, "arith", run_seed, N_SAMPLES, 3);
    grader_init(&g1, &inf1, &tok, &gp, "arith", run_seed, N_SAMPLES, 1);
    CHECK(run_all(&g3, items, 3, &by3, err, sizeof err) == 0);
    CHECK(run_all(&g1, items, 1, &by1, err, sizeof err) == 0);
    CHECK_EQ_INT(by3.calls, N_ITEMS);
    CHECK_EQ_INT(by1.calls, N_ITEMS);

    GenOutput out[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++) gen_output_alloc(&out[i], gp.max_new_tokens);
    uint64_t total = 0;
    int n_correct = 0, n_wrong = 0;
    for (int j = 0; j < N_ITEMS; j++) {
        CHECK(infer_generate_group(&ref, items[j].tokens, items[j].n_tokens, N_SAMPLES, run_seed, items[j].seed_index, &gp, out,
                                   err, sizeof err) == 0);
        const char *answers[N_SAMPLES];
        char texts[N_SAMPLES][256], ans[N_SAMPLES][64];
        int correct[N_SAMPLES];
        for (int i = 0; i < N_SAMPLES; i++) {
            total += (uint64_t)out[i].n;
            int same = by3.lens[j][i] == out[i].n && by1.lens[j][i] == out[i].n;
            for (int t = 0; t < out[i].n && t < 32 && same; t++)
                same = by3.tokens[j][i][t] == out[i].tokens[t] && by1.tokens[j][i][t] == out[i].tokens[t];
            CHECK_MSG(same, "item %d sample %d: the grader's tokens differ from infer_generate_group's", j, i);
            char *dec = NULL;
            size_t dcap = 0;
            size_t dlen = tokenizer_decode(&tok, out[i].tokens, (size_t)out[i].n, TOK_SKIP_SPECIAL, &dec, &dcap);
            CHECK(dlen < sizeof texts[i]);
            snprintf(texts[i], sizeof texts[i], "%s", dec);
            free(dec);
            correct[i] = verify("arith", items[j].gold, texts[i], ans[i], sizeof ans[i]) == 1;
            answers[i] = ans[i];
            CHECK_MSG(by3.correct[j][i] == correct[i] && by1.correct[j][i] == correct[i], "item %d sample %d: verdict", j, i);
            n_correct += correct[i];
            n_wrong += !correct[i];
        }
        EvalProblem ep;
        CHECK(eval_problem("arith", answers, correct, N_SAMPLES, &ep, err, sizeof err) == 0);
        CHECK_MSG(memcmp(&ep, &by3.ep[j], sizeof ep) == 0 && memcmp(&ep, &by1.ep[j], sizeof ep) == 0, "item %d: Acc/Maj/Pass", j);
    }
    CHECK_MSG(n_correct > 0 && n_wrong > 0, "the test needs both right and wrong samples (%d / %d)", n_correct, n_wrong);
    CHECK(g3.tokens == total && g1.tokens == total);

    // An error from the callback stops the run at once and is what grader_run reports.
    Seen stop = {.stop_at = 1};
    stop.base = 0;
    CHECK(grader_run(&g3, items, 3, record, &stop, err, sizeof err) == -1);
    CHECK(strstr(err, "stop requested at call 1") != NULL);
    CHECK_EQ_INT(stop.calls, 1);

    for (int i = 0; i < N_SAMPLES; i++) gen_output_free(&out[i]);
    grader_free(&g3);
    grader_free(&g1);
    infer_free(&inf3);
    infer_free(&inf1);
    infer_free(&ref);
    model_free(&m);
    return tests_done();
}
