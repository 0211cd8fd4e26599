#include "common/tasks/problems.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/core/check.h"
#include "common/core/cli.h"

void problem_set_free(ProblemSet *b) {
    for (size_t i = 0; i < b->n; i++) { free(b->ids[i]); free(b->prompts[i]); free(b->answers[i]); }
    free(b->ids); free(b->prompts); free(b->answers);
    memset(b, 0, sizeof *b);
}

static void problem_set_alloc(ProblemSet *b, size_t n) {
    b->n = n;
    b->encode_flags = TOK_ADD_SPECIAL;
    b->ids = callocCheck(n ? n : 1, sizeof(char *));
    b->prompts = callocCheck(n ? n : 1, sizeof(char *));
    b->answers = callocCheck(n ? n : 1, sizeof(char *));
}

int problem_set_load(const char *spec, const char *tmpl, uint64_t arith_seed, const ArithKnobs *knobs, long limit, ProblemSet *b,
               char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    if (!strncmp(spec, "arith:", 6)) {
        const char *rest = spec + 6;
        long count = 200;
        if (strncmp(rest, "heldout", 7) != 0 || (rest[7] != '\0' && rest[7] != ':') ||
            (rest[7] == ':' && cli_parse_long(rest + 8, 1, 1000000, &count) != 0))
            return rlvr_err(err, errlen, "--data '%s': the arithmetic task is written arith:heldout or arith:heldout:COUNT (COUNT 1..1000000)", spec);
        if (arith_knobs_check(knobs, err, errlen) != 0) return -1;
        if (limit > 0 && count > limit) count = limit;
        ArithProblem *ps = mallocCheck((size_t)count * sizeof(ArithProblem));   // (count)
        arith_heldout_list(arith_seed, knobs, (size_t)count, ps);
        problem_set_alloc(b, (size_t)count);
        for (long i = 0; i < count; i++) {
            b->ids[i] = strdupCheck(ps[i].prompt);
            if (!tmpl) b->prompts[i] = strdupCheck(ps[i].prompt);
            else if (prompt_template_apply(tmpl, ps[i].prompt, &b->prompts[i], err, errlen) != 0) {
                free(ps);
                problem_set_free(b);
                return -1;
            }
            b->answers[i] = strdupCheck(ps[i].answer);
        }
        free(ps);
        snprintf(b->name, sizeof b->name, "arith_heldout");
        b->verifier = "arith";
        return 0;
    }
    Dataset d;
    if (dataset_load_jsonl(spec, &d, err, errlen) != 0) return -1;
    size_t n = d.n;
    if (limit > 0 && n > (size_t)limit) n = (size_t)limit;
    problem_set_alloc(b, n);
    for (size_t i = 0; i < n; i++) {
        if (prompt_template_apply(tmpl ? tmpl : "default", d.rows[i].problem, &b->prompts[i], err, errlen) != 0) {
            b->n = i;
            problem_set_free(b);
            dataset_free(&d);
            return -1;
        }
        b->ids[i] = strdupCheck(d.rows[i].id);
        b->answers[i] = strdupCheck(d.rows[i].answer);
    }
    dataset_free(&d);
    const char *base = strrchr(spec, '/');
    base = base ? base + 1 : spec;
    snprintf(b->name, sizeof b->name, "%s", base);
    char *dot = strrchr(b->name, '.');
    if (dot && dot != b->name) *dot = '\0';
    b->verifier = "math";
    return 0;
}

int problem_set_apply_chat(ProblemSet *b, const ChatTemplate *ct, char *err, size_t errlen) {
    for (size_t i = 0; i < b->n; i++) {
        char *r;
        if (chat_template_user_prompt(ct, b->prompts[i], &r, err, errlen) != 0) return -1;
        free(b->prompts[i]);
        b->prompts[i] = r;
    }
    b->encode_flags = 0;
    snprintf(b->chat_template, sizeof b->chat_template, "%s", ct->name);
    return 0;
}

size_t problem_set_longest_prompt(const ProblemSet *b) {
    size_t longest = 0;
    for (size_t j = 0; j < b->n; j++) {
        size_t L = strlen(b->prompts[j]);
        if (L > longest) longest = L;
    }
    return longest;
}
