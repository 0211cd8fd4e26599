// The arithmetic task, prompt templates and the problem source (see tasks.h).
#include "common/tasks/tasks.h"
#include "common/core/check.h"
#include "common/core/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- arithmetic --------------------------------------------------------------------------------
void arith_knobs_default(ArithKnobs *k) {
    k->digits = 2;
    k->ops = ARITH_OP_ADD | ARITH_OP_SUB | ARITH_OP_MUL;
    k->steps = 2;
    k->heldout_frac = 0.05;
}

int arith_knobs_check(const ArithKnobs *k, char *err, size_t errlen) {
    if (k->digits < 1 || k->digits > 4) return rlvr_err(err, errlen, "arith digits = %d: must be 1..4", k->digits);
    if (k->steps < 1 || k->steps > 3) return rlvr_err(err, errlen, "arith steps = %d: must be 1..3", k->steps);
    if (k->ops <= 0 || (k->ops & ~7)) return rlvr_err(err, errlen, "arith ops = %d: must be a non-empty subset of + - * (bits 1, 2, 4)", k->ops);
    if (!(k->heldout_frac >= 0.001 && k->heldout_frac <= 0.5))
        return rlvr_err(err, errlen, "arith heldout_frac = %g: must be in [0.001, 0.5]", k->heldout_frac);
    return 0;
}

void arith_problem(uint64_t seed, uint64_t index, const ArithKnobs *k, ArithProblem *out) {
    Rng r;
    rng_seed(&r, rng_mix(seed, index));
    long long lim = 1;
    for (int d = 0; d < k->digits; d++) lim *= 10;
    int enabled[3], ne = 0;
    for (int b = 0; b < 3; b++) if (k->ops & (1 << b)) enabled[ne++] = b;
    if (ne == 0) enabled[ne++] = 0;
    long long x[4] = {0, 0, 0, 0};
    char op[3];
    int n = k->steps + 1;
    for (int i = 0; i < n; i++) x[i] = (long long)(rng_u64(&r) % (uint64_t)lim);
    for (int i = 0; i < k->steps; i++) op[i] = "+-*"[enabled[rng_u64(&r) % (uint64_t)ne]];
    // value with the usual precedence: fold products into terms, then add the signed terms
    long long total = 0, term = x[0];
    int sign = 1;
    for (int i = 0; i < k->steps; i++) {
        if (op[i] == '*') term *= x[i + 1];
        else { total += sign * term; sign = op[i] == '+' ? 1 : -1; term = x[i + 1]; }
    }
    total += sign * term;
    int w = snprintf(out->prompt, sizeof(out->prompt), "%lld", x[0]);
    for (int i = 0; i < k->steps; i++)
        w += snprintf(out->prompt + w, sizeof(out->prompt) - (size_t)w, "%c%lld", op[i], x[i + 1]);
    snprintf(out->prompt + w, sizeof(out->prompt) - (size_t)w, "=");
    out->value = total;
    snprintf(out->answer, sizeof(out->answer), "%lld", total);
    snprintf(out->response, sizeof(out->response), "\\boxed{%lld}", total);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ULL; }
    return h;
}

int arith_is_heldout(const char *prompt, uint64_t seed, double heldout_frac) {
    double u = (double)(rng_mix(fnv1a(prompt), seed ^ 0x68656c646f7574ULL) >> 11) * (1.0 / 9007199254740992.0);
    return u < heldout_frac;
}

uint64_t arith_next(uint64_t seed, const ArithKnobs *k, int heldout, uint64_t *cursor, ArithProblem *out) {
    for (uint64_t i = *cursor;; i++) {
        arith_problem(seed, i, k, out);
        if (arith_is_heldout(out->prompt, seed, k->heldout_frac) == (heldout != 0)) {
            *cursor = i + 1;
            return i;
        }
    }
}

void arith_heldout_list(uint64_t seed, const ArithKnobs *k, size_t n, ArithProblem *out) {
    uint64_t cur = 0;
    for (size_t i = 0; i < n; i++) arith_next(seed, k, 1, &cur, &out[i]);
}

// ---- prompt templates --------------------------------------------------------------------------
static const char *const TEMPLATE_NAMES[] = {"default", "plain", "dapo", "chatml", "qwen-math", NULL};
#define TEMPLATE_SLOT "{prompt}"

int prompt_template_known(const char *name) {
    if (name && strstr(name, TEMPLATE_SLOT)) return 1;
    for (int i = 0; TEMPLATE_NAMES[i]; i++) if (name && !strcmp(name, TEMPLATE_NAMES[i])) return 1;
    return 0;
}

int prompt_template_is_chat(const char *name) {
    return config_prompt_template_writes_chat(name);
}

int prompt_template_apply(const char *name, const char *problem, char **out, char *err, size_t errlen) {
    *out = NULL;
    const char *fmt;
    if (name && strstr(name, TEMPLATE_SLOT)) {   // a format: its first {prompt} is the problem
        const char *at = strstr(name, TEMPLATE_SLOT);
        size_t n = strlen(name) - strlen(TEMPLATE_SLOT) + strlen(problem) + 1;
        char *s = mallocCheck(n);
        snprintf(s, n, "%.*s%s%s", (int)(at - name), name, problem, at + strlen(TEMPLATE_SLOT));
        *out = s;
        return 0;
    }
    if (!name || !strcmp(name, "default")) fmt = "%s\n" PROMPT_INSTRUCTION;
    else if (!strcmp(name, "plain")) fmt = "%s";
    else if (!strcmp(name, "dapo")) fmt = DAPO_INSTRUCTION_HEAD "%s" DAPO_INSTRUCTION_TAIL;
    else if (!strcmp(name, "chatml"))
        fmt = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n%s\n" PROMPT_INSTRUCTION
              "<|im_end|>\n<|im_start|>assistant\n";
    else if (!strcmp(name, "qwen-math"))
        fmt = "<|im_start|>system\n" PROMPT_INSTRUCTION "<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n";
    else return rlvr_err(err, errlen, "unknown prompt template '%s' (known: " PROMPT_TEMPLATE_NAMES ", or text with {prompt})", name);
    size_t n = strlen(fmt) + strlen(problem) + 1;
    char *s = mallocCheck(n);
    snprintf(s, n, fmt, problem);
    *out = s;
    return 0;
}

// ---- problem source ----------------------------------------------------------------------------
struct ProblemSource {
    int kind;                 // 0 arith, 1 jsonl
    uint64_t seed;
    ArithKnobs knobs;
    int heldout;
    Dataset data;
    char *template_name;      // a name or a {prompt} format (malloc'd)
    int shuffle;
    uint64_t perm_epoch;      // epoch whose permutation is in perm (UINT64_MAX: none)
    size_t *perm;
};

ProblemSource *problem_source_arith(uint64_t seed, const ArithKnobs *k, int heldout, char *err, size_t errlen) {
    if (arith_knobs_check(k, err, errlen) < 0) return NULL;
    ProblemSource *s = callocCheck(1, sizeof(*s));
    s->kind = 0; s->seed = seed; s->knobs = *k; s->heldout = heldout;
    return s;
}

ProblemSource *problem_source_jsonl(const char *path, const char *template_name, uint64_t seed, int shuffle,
                                    char *err, size_t errlen) {
    if (!template_name) template_name = "default";
    if (!prompt_template_known(template_name)) {
        rlvr_err(err, errlen, "unknown prompt template '%s' (known: " PROMPT_TEMPLATE_NAMES ", or text with {prompt})", template_name);
        return NULL;
    }
    ProblemSource *s = callocCheck(1, sizeof(*s));
    s->kind = 1; s->seed = seed; s->shuffle = shuffle;
    if (dataset_load_jsonl(path, &s->data, err, errlen) < 0) { free(s); return NULL; }
    s->template_name = strdupCheck(template_name);
    s->perm = mallocCheck(s->data.n * sizeof(size_t));
    s->perm_epoch = UINT64_MAX;
    return s;
}

static void make_perm(ProblemSource *s, uint64_t epoch) {
    size_t n = s->data.n;
    for (size_t i = 0; i < n; i++) s->perm[i] = i;
    if (s->shuffle) {
        Rng r;
        rng_seed(&r, rng_mix(s->seed, epoch));
        for (size_t i = n; i > 1; i--) {   // Fisher-Yates
            size_t j = (size_t)(rng_u64(&r) % i);
            size_t t = s->perm[i - 1]; s->perm[i - 1] = s->perm[j]; s->perm[j] = t;
        }
    }
    s->perm_epoch = epoch;
}

int problem_source_next(ProblemSource *s, uint64_t *cursor, Problem *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (s->kind == 0) {
        ArithProblem ap;
        out->id = arith_next(s->seed, &s->knobs, s->heldout, cursor, &ap);
        out->prompt = strdupCheck(ap.prompt);
        out->answer = strdupCheck(ap.answer);
        out->name = strdupCheck(ap.prompt);
        out->verifier = "arith";
        return 0;
    }
    size_t n = s->data.n;
    uint64_t epoch = *cursor / n, pos = *cursor % n;
    if (epoch != s->perm_epoch) make_perm(s, epoch);
    size_t row = s->perm[pos];
    const DatasetRow *r = &s->data.rows[row];
    if (prompt_template_apply(s->template_name, r->problem, &out->prompt, err, errlen) < 0) return -1;
    out->id = row;
    out->answer = strdupCheck(r->answer);
    out->name = strdupCheck(r->id);
    out->verifier = "math";
    *cursor += 1;
    return 0;
}

size_t problem_source_size(const ProblemSource *s) { return s->kind == 1 ? s->data.n : 0; }

void problem_free(Problem *p) {
    if (!p) return;
    free(p->prompt); free(p->answer); free(p->name);
    memset(p, 0, sizeof(*p));
}

void problem_source_free(ProblemSource *s) {
    if (!s) return;
    dataset_free(&s->data);
    free(s->template_name);
    free(s->perm);
    free(s);
}
