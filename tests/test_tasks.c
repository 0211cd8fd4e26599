// Tasks: the arithmetic generator (determinism, answers, split disjointness), JSON Lines loading and
// its errors, prompt templates, and the problem source cursor (resume reproduces the stream).
#include "common/tasks/tasks.h"
#include "common/tasks/verifier.h"
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char TMPDIR_[64] = "/tmp/rlvr_test_tasks_XXXXXX";
static const char *tpath(const char *name) {
    static char buf[4][256];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", TMPDIR_, name);
    return buf[k];
}

// Independent evaluation of "a op b op c =" with * before + and -.
static long long eval_prompt(const char *s) {
    long long terms[8]; char ops[8]; int nt = 0;
    long long cur = strtoll(s, (char **)&s, 10);
    char pending = 0;
    while (*s && *s != '=') {
        char op = *s++;
        long long v = strtoll(s, (char **)&s, 10);
        if (op == '*') cur *= v;
        else { terms[nt] = cur; ops[nt++] = pending; pending = op; cur = v; }
    }
    terms[nt] = cur; ops[nt++] = pending;
    long long total = 0;
    for (int i = 0; i < nt; i++) total += (ops[i] == '-') ? -terms[i] : terms[i];
    return total;
}

static void test_arith(void) {
    ArithKnobs k;
    arith_knobs_default(&k);
    char err[256];
    CHECK_EQ_INT(arith_knobs_check(&k, err, sizeof(err)), 0);
    ArithKnobs bad = k; bad.digits = 5;
    CHECK_EQ_INT(arith_knobs_check(&bad, err, sizeof(err)), -1);
    CHECK(strstr(err, "digits") != NULL);
    bad = k; bad.ops = 0;
    CHECK_EQ_INT(arith_knobs_check(&bad, err, sizeof(err)), -1);
    bad = k; bad.steps = 4;
    CHECK_EQ_INT(arith_knobs_check(&bad, err, sizeof(err)), -1);

    // deterministic, answers right, the ideal response verifies, lengths stay small
    int wrong = 0, unverified = 0, longest = 0;
    for (int d = 1; d <= 4; d++)
        for (int st = 1; st <= 3; st++) {
            ArithKnobs kk = {d, 7, st, 0.05};
            for (uint64_t i = 0; i < 300; i++) {
                ArithProblem a, b;
                arith_problem(42, i, &kk, &a);
                arith_problem(42, i, &kk, &b);
                if (strcmp(a.prompt, b.prompt) || strcmp(a.answer, b.answer)) wrong++;
                if (eval_prompt(a.prompt) != a.value) wrong++;
                if (verify("arith", a.answer, a.response, NULL, 0) != 1) unverified++;
                if (verify("math", a.answer, a.response, NULL, 0) != 1) unverified++;
                int len = (int)strlen(a.response);
                if (d <= 2 && st <= 2 && len > longest) longest = len;
            }
        }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(unverified, 0);
    CHECK_MSG(longest <= 16, "default-size responses must stay short for the tiny demo model (longest %d)", longest);
    ArithProblem a, b;
    arith_problem(1, 5, &k, &a);
    arith_problem(2, 5, &k, &b);
    CHECK(strcmp(a.prompt, b.prompt) != 0 || strcmp(a.answer, b.answer) != 0);   // seed matters
    // only enabled ops appear
    ArithKnobs addonly = {2, ARITH_OP_ADD, 3, 0.05};
    int foreign = 0;
    for (uint64_t i = 0; i < 200; i++) { arith_problem(3, i, &addonly, &a); if (strchr(a.prompt, '-') || strchr(a.prompt, '*')) foreign++; }
    CHECK_EQ_INT(foreign, 0);

    // split: train never yields held-out content, held-out never yields train content; the share
    // is near heldout_frac; the held-out list is reproducible
    uint64_t cur = 0;
    int leaks = 0, n_train = 4000;
    for (int i = 0; i < n_train; i++) {
        uint64_t id = arith_next(7, &k, 0, &cur, &a);
        if (arith_is_heldout(a.prompt, 7, k.heldout_frac)) leaks++;
        if (id + 1 != cur) leaks++;
    }
    CHECK_EQ_INT(leaks, 0);
    double share = 1.0 - (double)n_train / (double)cur;
    CHECK_MSG(share > 0.02 && share < 0.09, "held-out share %.3f, expected about 0.05", share);
    ArithProblem h1[50], h2[50];
    arith_heldout_list(7, &k, 50, h1);
    arith_heldout_list(7, &k, 50, h2);
    int diff = 0, notheld = 0;
    for (int i = 0; i < 50; i++) {
        diff += strcmp(h1[i].prompt, h2[i].prompt) != 0;
        notheld += !arith_is_heldout(h1[i].prompt, 7, k.heldout_frac);
    }
    CHECK_EQ_INT(diff, 0);
    CHECK_EQ_INT(notheld, 0);
    // a tiny knob space (1 digit, +, 1 step: 100 problems) still splits by content
    ArithKnobs tiny = {1, ARITH_OP_ADD, 1, 0.1};
    cur = 0;
    int tiny_leak = 0;
    for (int i = 0; i < 2000; i++) { arith_next(9, &tiny, 0, &cur, &a); tiny_leak += arith_is_heldout(a.prompt, 9, 0.1); }
    CHECK_EQ_INT(tiny_leak, 0);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fputs(text, f);
    fclose(f);
}

static void test_dataset(void) {
    char err[512];
    Dataset d;
    const char *p = tpath("test_tasks_ok.jsonl");
    write_file(p, "{\"id\": \"a\", \"problem\": \"1+1?\", \"answer\": \"2\"}\n\n"
                  "{\"problem\": \"half?\", \"answer\": 0.5}\n"
                  "{\"id\": 7, \"problem\": \"n?\", \"answer\": 27}\n"
                  "{\"id\": \"e\", \"problem\": \"skip\", \"answer\": \"\"}\n");
    int rc = dataset_load_jsonl(p, &d, err, sizeof(err));
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK_EQ_INT(d.n, 3);
        CHECK_EQ_INT(d.n_skipped, 1);
        CHECK(!strcmp(d.rows[0].id, "a") && !strcmp(d.rows[0].answer, "2"));
        CHECK(!strcmp(d.rows[1].answer, "0.5") && !strcmp(d.rows[1].id, "line-3"));
        CHECK(!strcmp(d.rows[2].answer, "27") && !strcmp(d.rows[2].id, "7"));
        dataset_free(&d);
    }
    struct { const char *text, *want; } bad[] = {
        {"{\"problem\": \"x\", \"answer\": \"1\"}\n{not json}\n", ":2: invalid JSON"},
        {"{\"problem\": \"x\"}\n", ":1: field \"answer\" is missing"},
        {"{\"answer\": \"1\"}\n", ":1: field \"problem\" is missing"},
        {"{\"problem\": 3, \"answer\": \"1\"}\n", "\"problem\" is not a string"},
        {"{\"problem\": \"x\", \"answer\": [1]}\n", "\"answer\" is not a string or number"},
        {"[1, 2]\n", ":1: expected a JSON object"},
        {"\n\n", "no usable rows"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(tpath("test_tasks_bad.jsonl"), bad[i].text);
        err[0] = '\0';
        rc = dataset_load_jsonl(tpath("test_tasks_bad.jsonl"), &d, err, sizeof(err));
        CHECK_MSG(rc == -1 && strstr(err, bad[i].want) && strstr(err, "test_tasks_bad.jsonl"),
                  "case %zu: rc %d err '%s' (want '%s')", i, rc, err, bad[i].want);
    }
    rc = dataset_load_jsonl(tpath("does_not_exist.jsonl"), &d, err, sizeof(err));
    CHECK(rc == -1 && strstr(err, "does_not_exist.jsonl"));

    // the real benchmark files load, numbers included
    char path[512];
    const char *data = getenv("RLVR_DATA");
    snprintf(path, sizeof(path), "%s/benchmarks/amc23.jsonl", data ? data : "../shared/data");
    rc = dataset_load_jsonl(path, &d, err, sizeof(err));
    CHECK_MSG(rc == 0, "%s (the tests need ../shared/data beside the repository)", err);
    if (rc == 0) { CHECK_EQ_INT(d.n, 40); dataset_free(&d); }
}

static void test_templates(void) {
    char *s, err[256];
    CHECK_EQ_INT(prompt_template_apply("default", "What is 1+1?", &s, err, sizeof(err)), 0);
    CHECK(!strcmp(s, "What is 1+1?\nPlease reason step by step, and put your final answer within \\boxed{}."));
    free(s);
    CHECK_EQ_INT(prompt_template_apply("plain", "Q", &s, err, sizeof(err)), 0);
    CHECK(!strcmp(s, "Q"));
    free(s);
    CHECK_EQ_INT(prompt_template_apply("chatml", "Q", &s, err, sizeof(err)), 0);
    CHECK(!strcmp(s, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nQ\n"
                     "Please reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"));
    free(s);
    CHECK_EQ_INT(prompt_template_apply("qwen-math", "Q", &s, err, sizeof(err)), 0);
    CHECK(!strncmp(s, "<|im_start|>system\nPlease reason step by step", 44) && strstr(s, "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"));
    free(s);
    CHECK_EQ_INT(prompt_template_apply("dapo", "Q", &s, err, sizeof(err)), 0);   // DAPO-Math-17k's user turn
    CHECK(!strcmp(s, "Solve the following math problem step by step. The last line of your response should be of the form "
                     "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\nQ\n\n"
                     "Remember to put your answer on its own line after \"Answer:\"."));
    free(s);
    CHECK_EQ_INT(prompt_template_apply("A {prompt} B {prompt}", "50%s", &s, err, sizeof(err)), 0);   // a format: the first slot
    CHECK(!strcmp(s, "A 50%s B {prompt}"));
    free(s);
    CHECK(prompt_template_known("x{prompt}") && prompt_template_known("dapo") && !prompt_template_known("chat"));
    CHECK(prompt_template_is_chat("chatml") && prompt_template_is_chat("qwen-math") && !prompt_template_is_chat("default"));
    CHECK_EQ_INT(prompt_template_apply("nope", "Q", &s, err, sizeof(err)), -1);
    CHECK(s == NULL && strstr(err, "nope") && strstr(err, "chatml"));
}

static void test_source(void) {
    char err[512];
    ArithKnobs k;
    arith_knobs_default(&k);
    ProblemSource *s = problem_source_arith(11, &k, 0, err, sizeof(err));
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ_INT(problem_source_size(s), 0);
    uint64_t cur = 0, saved = 0;
    char first[20][64];
    Problem p;
    for (int i = 0; i < 20; i++) {
        if (i == 10) saved = cur;
        CHECK_EQ_INT(problem_source_next(s, &cur, &p, err, sizeof(err)), 0);
        snprintf(first[i], sizeof(first[i]), "%s", p.prompt);
        CHECK(!strcmp(p.verifier, "arith"));
        problem_free(&p);
    }
    // resume from a saved cursor with a fresh source: same stream
    ProblemSource *s2 = problem_source_arith(11, &k, 0, err, sizeof(err));
    int same = 1;
    for (int i = 10; i < 20; i++) {
        problem_source_next(s2, &saved, &p, err, sizeof(err));
        same &= !strcmp(first[i], p.prompt);
        problem_free(&p);
    }
    CHECK(same);
    problem_source_free(s);
    problem_source_free(s2);

    // datasets: each epoch is a permutation of all rows, epochs differ, ids are row indices
    const char *path = tpath("test_tasks_src.jsonl");
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 20; i++) fprintf(f, "{\"id\": \"r%d\", \"problem\": \"p%d\", \"answer\": \"%d\"}\n", i, i, i);
    fclose(f);
    s = problem_source_jsonl(path, "default", 5, 1, err, sizeof(err));
    CHECK_MSG(s != NULL, "%s", err);
    if (!s) return;
    CHECK_EQ_INT(problem_source_size(s), 20);
    int seen[2][20] = {{0}}, order[2][20];
    cur = 0;
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 20; i++) {
            CHECK_EQ_INT(problem_source_next(s, &cur, &p, err, sizeof(err)), 0);
            seen[e][p.id]++;
            order[e][i] = (int)p.id;
            char want[32];
            snprintf(want, sizeof(want), "%d", (int)p.id);
            CHECK(!strcmp(p.answer, want) && !strcmp(p.verifier, "math") && strstr(p.prompt, "\\boxed{}"));
            problem_free(&p);
        }
    int all = 1, differ = 0;
    for (int e = 0; e < 2; e++) for (int i = 0; i < 20; i++) all &= seen[e][i] == 1;
    for (int i = 0; i < 20; i++) differ |= order[0][i] != order[1][i];
    CHECK(all);
    CHECK(differ);
    // random access by cursor matches sequential iteration
    uint64_t c2 = 27;
    problem_source_next(s, &c2, &p, err, sizeof(err));
    CHECK_EQ_INT(p.id, order[1][7]);
    problem_free(&p);
    problem_source_free(s);
    CHECK(problem_source_jsonl(path, "bogus", 5, 1, err, sizeof(err)) == NULL && strstr(err, "bogus"));
    CHECK(problem_source_jsonl(tpath("missing.jsonl"), "default", 5, 1, err, sizeof(err)) == NULL && strstr(err, "missing.jsonl"));
}

int main(void) {
    if (!mkdtemp(TMPDIR_)) { perror("mkdtemp"); return 1; }
    test_arith();
    test_dataset();
    test_templates();
    test_source();
    const char *names[] = {"test_tasks_ok.jsonl", "test_tasks_bad.jsonl", "test_tasks_src.jsonl"};
    for (int i = 0; i < 3; i++) unlink(tpath(names[i]));
    rmdir(TMPDIR_);
    return tests_done();
}
