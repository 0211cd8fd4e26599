// rlvr grade: grade predictions against gold answers.
//   input : JSON Lines {"gold": ..., "prediction": ...} from a file argument or stdin ("-")
//   output: one line per input line, {"correct": true|false, "extracted": "..."}, or {"error": "..."}
//           for a malformed line (the stream continues).
// A prediction containing \boxed is graded by its last box (an unclosed last box grades incorrect);
// otherwise by the answer it states after "answer:" / "answer is" (math), else the whole string is
// the answer. Other verifiers and styles grade each prediction as a whole response.
#include "common/tools/commands.h"
#include "common/tasks/jsonl.h"
#include "common/tasks/verifier.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: rlvr grade [options] [FILE|-]\n"
        "  Reads JSON Lines {\"gold\": ..., \"prediction\": ...} (stdin when FILE is absent or '-') and writes\n"
        "  {\"correct\": true|false, \"extracted\": \"...\"} per line, or {\"error\": \"...\"} for a bad line.\n"
        "options:\n"
        "  --verifier NAME         math (default), arith, or a whole-response verifier: math_boxed,\n"
        "                          math_dapo, prime_math (see --style)\n"
        "  --style STYLE           reward.style for math: default, boxed, math_dapo, prime_math; any\n"
        "                          style but default grades each prediction as a whole response\n"
        "  --rel-tol X             relative tolerance for numbers (default 1e-9); setting it also turns\n"
        "                          off exact comparison of rationals, so 0.33 vs 1/3 can pass at 1e-2\n"
        "  --sym-tol X             relative tolerance per point for expressions with variables (1e-8)\n");
}

static void emit_error(long lineno, const char *msg) {
    json_t *o = json_object();
    char buf[512];
    snprintf(buf, sizeof(buf), "line %ld: %s", lineno, msg);
    json_object_set_new(o, "error", json_string(buf));
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) { puts(s); free(s); }
    json_decref(o);
}

int cmd_grade(int argc, char **argv) {
    const char *path = NULL, *verifier = "math", *style = "default";
    MathVerifyOpts opts;
    math_verify_opts_default(&opts);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if ((!strcmp(a, "--verifier") || !strcmp(a, "--style") || !strcmp(a, "--rel-tol") || !strcmp(a, "--sym-tol")) && i + 1 >= argc) {
            fprintf(stderr, "rlvr grade: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--verifier")) verifier = argv[++i];
        else if (!strcmp(a, "--style")) style = argv[++i];
        else if (!strcmp(a, "--rel-tol") || !strcmp(a, "--sym-tol")) {
            char *end;
            double x = strtod(argv[i + 1], &end);
            if (*end || !(x >= 0 && x < 1)) { fprintf(stderr, "rlvr grade: %s '%s': expected a number in [0, 1)\n", a, argv[i + 1]); return 2; }
            if (!strcmp(a, "--rel-tol")) { opts.rel_tol = x; opts.exact_rationals = 0; } else opts.sym_tol = x;
            i++;
        } else if (a[0] == '-' && a[1]) { fprintf(stderr, "rlvr grade: unknown option '%s'\n", a); usage(stderr); return 2; }
        else if (path) { fprintf(stderr, "rlvr grade: more than one input file ('%s', '%s')\n", path, a); return 2; }
        else path = a;
    }
    if (!verifier_known(verifier)) { fprintf(stderr, "rlvr grade: unknown verifier '%s' (known: " VERIFIER_NAMES ")\n", verifier); return 2; }
    const char *styled = verifier_for_style(verifier, style);
    if (!styled) { fprintf(stderr, "rlvr grade: unknown style '%s' (known: " REWARD_STYLES ")\n", style); return 2; }
    verifier = styled;
    // math and arith grade a bare answer or the last box; the other verifiers grade whole responses
    const int whole_response = strcmp(verifier, "math") != 0 && strcmp(verifier, "arith") != 0;
    FILE *f = stdin;
    if (path && strcmp(path, "-")) {
        f = fopen(path, "rb");
        if (!f) { fprintf(stderr, "rlvr grade: cannot open '%s' (expected a JSON Lines file)\n", path); return 1; }
    }
    JsonlReader rd;
    jsonl_init(&rd, f);
    json_t *j;
    char jerr[300];
    int got;
    while ((got = jsonl_next(&rd, &j, jerr, sizeof jerr)) != 0) {
        long lineno = rd.lineno;
        if (got < 0) { char m[320]; snprintf(m, sizeof m, "invalid JSON: %s", jerr); emit_error(lineno, m); continue; }
        json_t *jg = json_object_get(j, "gold"), *jp = json_object_get(j, "prediction");
        if (!json_is_object(j) || !jg || !jp) {
            emit_error(lineno, "expected an object with \"gold\" and \"prediction\"");
            json_decref(j);
            continue;
        }
        if (!(json_is_string(jg) || json_is_number(jg)) || !(json_is_string(jp) || json_is_number(jp))) {
            emit_error(lineno, "\"gold\" and \"prediction\" must be strings or numbers");
            json_decref(j);
            continue;
        }
        char *gold = json_answer_text(jg), *pred = json_answer_text(jp);
        json_decref(j);
        if (!gold || !pred) { free(gold); free(pred); emit_error(lineno, "out of memory"); continue; }
        if (whole_response) {
            char ex[4096];
            int ok = verify(verifier, gold, pred, ex, sizeof ex) == 1;
            json_t *o = json_object();
            json_object_set_new(o, "correct", json_boolean(ok));
            json_t *je = json_string(ex);
            json_object_set_new(o, "extracted", je ? je : json_string(""));
            char *s = json_dumps(o, JSON_COMPACT);
            if (s) { puts(s); free(s); }
            json_decref(o);
            free(gold); free(pred);
            continue;
        }
        // The answer: the last box of a response, else a stated answer, else the whole string.
        char *ans = NULL;
        size_t st0, n0;
        if (boxed_count(pred)) {
            size_t st, n;
            if (find_boxed_last(pred, &st, &n)) { ans = malloc(n + 1); if (ans) { memcpy(ans, pred + st, n); ans[n] = '\0'; } }
        } else if (!strcmp(verifier, "math") && find_answer_statement(pred, &st0, &n0)) {
            ans = malloc(n0 + 1);   // "The answer is 5": the stated answer, as the math verifier reads it
            if (ans) { memcpy(ans, pred + st0, n0); ans[n0] = '\0'; }
        } else ans = strdup(pred);
        char *g = gold;
        size_t gs, gn;
        if (boxed_count(gold) && find_boxed_last(gold, &gs, &gn)) { g = gold + gs; gold[gs + gn] = '\0'; }
        int correct = 0;
        if (ans) correct = !strcmp(verifier, "math") ? math_answer_equal(g, ans, &opts) : arith_answer_equal(g, ans);
        const char *extracted = ans ? ans : "";
        json_t *o = json_object();
        json_object_set_new(o, "correct", json_boolean(correct));
        json_t *je2 = json_string(extracted);
        json_object_set_new(o, "extracted", je2 ? je2 : json_string(""));
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) { puts(s); free(s); }
        json_decref(o);
        free(gold); free(pred); free(ans);
    }
    jsonl_free(&rd);
    if (f != stdin) fclose(f);
    fflush(stdout);
    return 0;
}
