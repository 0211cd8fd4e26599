// Acc@N / Maj@N / Pass@N aggregation (common/tasks/eval.h) on hand-made answer lists with known results.
#include <string.h>

#include "common/tasks/eval.h"
#include "tests/harness.h"

int main(void) {
    char err[256];
    EvalProblem p;

    // Two of four right, one wrong answer, one without an answer.
    const char *a1[] = {"2", "2", "3", ""};
    int c1[] = {1, 1, 0, 0};
    CHECK(eval_problem("arith", a1, c1, 4, &p, err, sizeof err) == 0);
    CHECK_EQ_INT(p.n, 4);
    CHECK_EQ_INT(p.n_correct, 2);
    CHECK_EQ_INT(p.pass, 1);
    CHECK_EQ_INT(p.maj_index, 0);
    CHECK_EQ_INT(p.maj_votes, 2);
    CHECK_EQ_INT(p.maj_correct, 1);

    // Answers the verifier calls equal vote together: 1/2 and 0.5 beat two different wrong ones.
    const char *a2[] = {"3", "\\frac{1}{2}", "7", "0.5", NULL};
    int c2[] = {0, 1, 0, 1, 0};
    CHECK(eval_problem("math", a2, c2, 5, &p, err, sizeof err) == 0);
    CHECK_EQ_INT(p.maj_index, 1);
    CHECK_EQ_INT(p.maj_votes, 2);
    CHECK_EQ_INT(p.maj_correct, 1);
    CHECK_EQ_INT(p.n_correct, 2);

    // A wrong majority although one sample is right: maj wrong, pass right.
    const char *a3[] = {"5", "4", "5", "5"};
    int c3[] = {0, 1, 0, 0};
    CHECK(eval_problem("arith", a3, c3, 4, &p, err, sizeof err) == 0);
    CHECK_EQ_INT(p.maj_index, 0);
    CHECK_EQ_INT(p.maj_votes, 3);
    CHECK_EQ_INT(p.maj_correct, 0);
    CHECK_EQ_INT(p.pass, 1);

    // Ties go to the answer seen first.
    const char *a4[] = {"9", "1", "1", "9"};
    int c4[] = {0, 1, 1, 0};
    CHECK(eval_problem("arith", a4, c4, 4, &p, err, sizeof err) == 0);
    CHECK_EQ_INT(p.maj_index, 0);
    CHECK_EQ_INT(p.maj_correct, 0);

    // Nobody answered.
    const char *a5[] = {"", "", NULL};
    int c5[] = {0, 0, 0};
    CHECK(eval_problem("math", a5, c5, 3, &p, err, sizeof err) == 0);
    CHECK_EQ_INT(p.maj_index, -1);
    CHECK_EQ_INT(p.maj_votes, 0);
    CHECK_EQ_INT(p.maj_correct, 0);
    CHECK_EQ_INT(p.pass, 0);

    // Errors.
    CHECK(eval_problem("math", a5, c5, 0, &p, err, sizeof err) == -1);
    CHECK(eval_problem("nope", a1, c1, 4, &p, err, sizeof err) == -1);
    CHECK(strstr(err, "nope") != NULL);

    // Answer equality through the verifier.
    CHECK(eval_answers_equal("math", "\\frac{1}{2}", "0.5") == 1);
    CHECK(eval_answers_equal("math", "x^2+2x", "2x+x^2") == 1);
    CHECK(eval_answers_equal("math", "2", "3") == 0);
    CHECK(eval_answers_equal("math", "", "") == 0);
    CHECK(eval_answers_equal("arith", "12", "12") == 1);
    CHECK(eval_answers_equal("arith", "12", "13") == 0);

    // Totals over the first three problems: acc = (2/4 + 2/5 + 1/4) / 3, maj = 2/3, pass = 1.
    EvalTotals t;
    eval_totals_init(&t);
    CHECK(eval_acc(&t) == 0.0 && eval_maj(&t) == 0.0 && eval_pass(&t) == 0.0);
    EvalProblem ps[3];
    eval_problem("arith", a1, c1, 4, &ps[0], err, sizeof err);
    eval_problem("math", a2, c2, 5, &ps[1], err, sizeof err);
    eval_problem("arith", a3, c3, 4, &ps[2], err, sizeof err);
    for (int i = 0; i < 3; i++) eval_totals_add(&t, &ps[i]);
    CHECK_EQ_INT(t.problems, 3);
    CHECK_EQ_INT(t.samples, -1);   // mixed N
    CHECK_NEAR(eval_acc(&t), (0.5 + 0.4 + 0.25) / 3, 1e-12);
    CHECK_NEAR(eval_maj(&t), 2.0 / 3, 1e-12);
    CHECK_NEAR(eval_pass(&t), 1.0, 1e-12);
    EvalTotals u;
    eval_totals_init(&u);
    eval_totals_add(&u, &ps[0]);
    eval_totals_add(&u, &ps[2]);
    CHECK_EQ_INT(u.samples, 4);
    return tests_done();
}
