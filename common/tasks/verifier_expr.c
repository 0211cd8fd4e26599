// Expression parser and evaluator for normalised LaTeX answers: numbers, variables, + - * / ^,
// implicit multiplication (2x, 3\sqrt{2}), \frac, \sqrt[n]{}, \binom, |x|, n!, \pi, e, i, and the
// usual functions. Evaluation is in complex double precision so that answers such as 6-5i or e^{it}
// compare correctly; anything non-finite becomes NaN, and NaN never equals anything.
//
// Precedence (loosest first): + -, explicit * / (left-assoc), unary -, juxtaposition, ^ (one
// argument, no chains), postfix !. Juxtaposition binds tighter than '/', so "1/2x" is 1/(2x).
#include "common/tasks/verifier_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vx_init(VExprCtx *c, int cap) {
    c->nodes = malloc((size_t)cap * sizeof(VNode));
    c->n = 0;
    c->cap = c->nodes ? cap : 0;
    c->nvars = 0;
    c->depth_limit = 200;
    return c->nodes ? 0 : -1;
}
void vx_free(VExprCtx *c) { free(c->nodes); c->nodes = NULL; c->cap = c->n = 0; }

VNode *vx_new(VExprCtx *c, int op, VNode *a, VNode *b) {
    if (c->n >= c->cap) return NULL;
    VNode *e = &c->nodes[c->n++];
    memset(e, 0, sizeof(*e));
    e->op = op; e->a = a; e->b = b;
    return e;
}

// ---- parser ------------------------------------------------------------------------------------
typedef struct {
    VExprCtx *c;
    const char *s;
    size_t i, end;
    int depth, abs_depth, err;
} P;

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static char peek(P *p) { while (p->i < p->end && p->s[p->i] == ' ') p->i++; return p->i < p->end ? p->s[p->i] : '\0'; }
static char at(P *p, size_t k) { return p->i + k < p->end ? p->s[p->i + k] : '\0'; }
static VNode *fail(P *p) { p->err = 1; return NULL; }
static VNode *mk(P *p, int op, VNode *a, VNode *b) {
    if (p->err) return NULL;
    VNode *e = vx_new(p->c, op, a, b);
    if (!e) p->err = 1;
    return e;
}

// The command name at p->i (which is at a backslash), without consuming it. Returns its length.
static size_t cmd_at(P *p, const char **name) {
    size_t n = 0;
    *name = p->s + p->i + 1;
    while (p->i + 1 + n < p->end && is_letter(p->s[p->i + 1 + n])) n++;
    return n;
}
static int cmd_is(P *p, const char *word) {
    if (peek(p) != '\\') return 0;
    const char *name;
    size_t n = cmd_at(p, &name);
    return n == strlen(word) && !strncmp(name, word, n);
}

static const char *const FUNC_NAMES[F_COUNT] = {"sin", "cos", "tan", "sec", "csc", "cot", "arcsin",
    "arccos", "arctan", "sinh", "cosh", "tanh", "ln", "log", "exp", "sqrt"};
static int func_id(const char *s, size_t n) {
    for (int f = 0; f < F_COUNT; f++)
        if (strlen(FUNC_NAMES[f]) == n && !strncmp(FUNC_NAMES[f], s, n)) return f;
    if (n == 4 && !strncmp(s, "asin", 4)) return F_ASIN;
    if (n == 4 && !strncmp(s, "acos", 4)) return F_ACOS;
    if (n == 4 && !strncmp(s, "atan", 4)) return F_ATAN;
    return -1;
}

static const char *const GREEK[] = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
    "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "varrho", "sigma", "varsigma", "tau",
    "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
    "Upsilon", "Phi", "Psi", "Omega", "hbar", "ell", NULL};
static const char *const DECOR[] = {"dot", "ddot", "bar", "hat", "tilde", "vec", "overline", "widehat",
    "widetilde", NULL};
static int in_list(const char *s, size_t n, const char *const *list) {
    for (int k = 0; list[k]; k++) if (strlen(list[k]) == n && !strncmp(list[k], s, n)) return 1;
    return 0;
}

static VNode *p_sum(P *p);
static VNode *p_power(P *p);
static VNode *p_primary(P *p);
static VNode *application(P *p, char name);

// Raw text of a {...} group starting at p->i (at '{'); consumes it. Returns 0 on imbalance.
static int raw_group(P *p, size_t *a, size_t *z) {
    int depth = 0;
    for (size_t k = p->i; k < p->end; k++) {
        if (p->s[k] == '\\' && k + 1 < p->end) { k++; continue; }
        if (p->s[k] == '{') depth++;
        else if (p->s[k] == '}' && --depth == 0) { *a = p->i + 1; *z = k; p->i = k + 1; return 1; }
    }
    return 0;
}

static VNode *variable(P *p, const char *name, size_t n) {
    char buf[VX_MAX_NAME];
    size_t len = n < VX_MAX_NAME - 24 ? n : VX_MAX_NAME - 24;
    memcpy(buf, name, len);
    // decorations: subscript, primes
    if (at(p, 0) == '_') {
        p->i++;
        size_t a, z;
        if (at(p, 0) == '{') {
            if (!raw_group(p, &a, &z)) return fail(p);
        } else if (at(p, 0) == '\\') {
            a = p->i; p->i++;
            while (p->i < p->end && is_letter(p->s[p->i])) p->i++;
            z = p->i;
        } else if (is_letter(at(p, 0)) || is_digit(at(p, 0))) {
            a = p->i; z = ++p->i;
        } else return fail(p);
        if (len + 2 + (z - a) >= VX_MAX_NAME) return fail(p);
        buf[len++] = '_';
        for (size_t k = a; k < z; k++) if (p->s[k] != ' ') buf[len++] = p->s[k];
    }
    for (;;) {
        if (at(p, 0) == '\'') { p->i++; if (len + 1 >= VX_MAX_NAME) return fail(p); buf[len++] = '\''; continue; }
        if (at(p, 0) == '^') {
            size_t save = p->i;
            p->i++;
            int braced = 0;
            if (at(p, 0) == '{') { braced = 1; p->i++; }
            int primes = 0;
            while (p->i + 6 <= p->end && !strncmp(p->s + p->i, "\\prime", 6)) { p->i += 6; primes++; while (at(p, 0) == ' ') p->i++; }
            if (primes && (!braced || at(p, 0) == '}')) {
                if (braced) p->i++;
                for (int k = 0; k < primes && len + 1 < VX_MAX_NAME; k++) buf[len++] = '\'';
                continue;
            }
            p->i = save;
        }
        break;
    }
    buf[len] = '\0';
    int k;
    for (k = 0; k < p->c->nvars; k++) if (!strcmp(p->c->names[k], buf)) break;
    if (k == p->c->nvars) {
        if (k >= VX_MAX_VARS) return fail(p);
        strcpy(p->c->names[k], buf);
        p->c->nvars++;
    }
    VNode *e = mk(p, N_VAR, NULL, NULL);
    if (e) e->var = k;
    return e;
}

static VNode *number(P *p) {
    size_t a = p->i;
    while (is_digit(at(p, 0))) p->i++;
    if (at(p, 0) == '.') { p->i++; while (is_digit(at(p, 0))) p->i++; }
    if (p->i == a + 1 && p->s[a] == '.') return fail(p);
    if (at(p, 0) == 'e' || at(p, 0) == 'E') {
        size_t k = 1;
        if (at(p, k) == '+' || at(p, k) == '-') k++;
        if (is_digit(at(p, k))) { p->i += k; while (is_digit(at(p, 0))) p->i++; }
    }
    VNode *e = mk(p, N_NUM, NULL, NULL);
    if (!e) return NULL;
    char buf[64];
    size_t n = p->i - a;
    if (n >= sizeof(buf)) { e->num = NAN; }
    else { memcpy(buf, p->s + a, n); buf[n] = '\0'; e->num = strtod(buf, NULL); }
    e->lit = p->s + a; e->litlen = (int)n;
    if (at(p, 0) == '_') return fail(p);   // base notation is handled before parsing
    return e;
}

// One argument of \frac, \sqrt, \binom, a decoration or an exponent: {group} or a single token.
static VNode *single_arg(P *p) {
    char c = peek(p);
    if (c == '{') {
        p->i++;
        VNode *e = p_sum(p);
        if (peek(p) != '}') return fail(p);
        p->i++;
        return e;
    }
    if (is_digit(c)) {
        VNode *e = mk(p, N_NUM, NULL, NULL);
        if (!e) return NULL;
        e->num = c - '0'; e->lit = p->s + p->i; e->litlen = 1;
        p->i++;
        return e;
    }
    if (is_letter(c)) {
        if (c == 'e' || c == 'i') { p->i++; return mk(p, c == 'e' ? N_E : N_I, NULL, NULL); }
        const char *name = p->s + p->i;
        p->i++;
        return variable(p, name, 1);
    }
    if (c == '\\') return p_primary(p);
    return fail(p);
}

static int starts_factor(P *p) {
    char c = peek(p);
    if (is_letter(c) || is_digit(c) || c == '(' || c == '[' || c == '.') return 1;
    if (c == '|') return p->abs_depth == 0;
    if (c == '\\') {
        const char *name;
        size_t n = cmd_at(p, &name);
        if (!n) return 0;
        if (func_id(name, n) >= 0 || in_list(name, n, GREEK) || in_list(name, n, DECOR)) return 1;
        if (in_list(name, n, (const char *const[]){"frac", "sqrt", "binom", "pi", "infty", "exp", NULL})) return 1;
    }
    return 0;
}

static int is_func_cmd(P *p) {
    if (peek(p) != '\\') return 0;
    const char *name;
    size_t n = cmd_at(p, &name);
    return func_id(name, n) >= 0;
}

// Function argument without parentheses: "\sin 2x" = sin(2x); stops at the next function.
static VNode *func_arg(P *p) {
    char c = peek(p);
    if (c == '(' || c == '{' || c == '[') return p_primary(p);
    VNode *e = p_power(p);
    while (!p->err && starts_factor(p) && !is_func_cmd(p)) {
        if (is_digit(peek(p))) return fail(p);
        e = mk(p, N_MUL, e, p_power(p));
    }
    return e;
}

static VNode *function(P *p, int fn) {
    // optional power written before the argument: \sin^2 x, \sin^{-1} x (= arcsin)
    VNode *pw = NULL, *base = NULL;
    int logb = 0;
    if (fn == F_LOG && peek(p) == '_') { p->i++; base = single_arg(p); logb = 1; }
    if (peek(p) == '^') {
        p->i++;
        size_t a = p->i;
        pw = single_arg(p);
        if (!pw) return fail(p);
        char txt[16] = {0};
        size_t n = p->i - a;
        if (n < sizeof(txt)) { size_t w = 0; for (size_t k = a; k < p->i; k++) if (p->s[k] != ' ' && p->s[k] != '{' && p->s[k] != '}') txt[w++] = p->s[k]; }
        if (!strcmp(txt, "-1")) {
            if (fn == F_SIN) fn = F_ASIN; else if (fn == F_COS) fn = F_ACOS; else if (fn == F_TAN) fn = F_ATAN;
            else return fail(p);
            pw = NULL;
        }
    }
    VNode *arg = func_arg(p);
    if (!arg) return fail(p);
    VNode *e;
    if (logb) e = mk(p, N_LOGB, base, arg);
    else { e = mk(p, N_FUNC, arg, NULL); if (e) e->fn = fn; }
    if (pw) e = mk(p, N_POW, e, pw);
    return e;
}

static VNode *p_primary(P *p) {
    if (++p->depth > p->c->depth_limit) return fail(p);
    VNode *r = NULL;
    char c = peek(p);
    if (is_digit(c) || (c == '.' && is_digit(at(p, 1)))) {
        r = number(p);
        // mixed number: 1\frac{4}{5} = 1 + 4/5 (integer literal followed by a numeric fraction)
        if (r && cmd_is(p, "frac") && r->litlen > 0 && !memchr(r->lit, '.', (size_t)r->litlen)
            && !memchr(r->lit, 'e', (size_t)r->litlen) && !memchr(r->lit, 'E', (size_t)r->litlen)) {
            size_t save = p->i;
            p->i += 5;
            size_t k = p->i;
            int ok = 1, parts = 0;
            for (; ok && parts < 2; parts++) {
                while (k < p->end && p->s[k] == ' ') k++;
                if (k < p->end && p->s[k] == '{') {
                    k++;
                    size_t d = 0;
                    while (k < p->end && is_digit(p->s[k])) k++, d++;
                    if (!d || k >= p->end || p->s[k] != '}') ok = 0; else k++;
                } else if (k < p->end && is_digit(p->s[k])) k++;
                else ok = 0;
            }
            if (ok) {
                VNode *num = single_arg(p), *den = single_arg(p);
                r = mk(p, N_ADD, r, mk(p, N_DIV, num, den));
            } else p->i = save;
        }
    } else if (c == '(' || c == '[' || c == '{') {
        char close = c == '(' ? ')' : c == '[' ? ']' : '}';
        p->i++;
        int save_abs = p->abs_depth;
        p->abs_depth = 0;
        r = p_sum(p);
        p->abs_depth = save_abs;
        if (peek(p) != close) r = fail(p);
        else p->i++;
    } else if (c == '|') {
        p->i++;
        p->abs_depth++;
        VNode *x = p_sum(p);
        p->abs_depth--;
        if (peek(p) != '|') r = fail(p);
        else { p->i++; r = mk(p, N_ABS, x, NULL); }
    } else if (c == '\\') {
        const char *name;
        size_t n = cmd_at(p, &name);
        if (!n) { r = fail(p); goto out; }
        p->i += 1 + n;
        int fn = func_id(name, n);
        if (n == 4 && !strncmp(name, "frac", 4)) {
            VNode *a = single_arg(p), *b = a ? single_arg(p) : NULL;
            r = b ? mk(p, N_DIV, a, b) : fail(p);
        } else if (n == 5 && !strncmp(name, "binom", 5)) {
            VNode *a = single_arg(p), *b = a ? single_arg(p) : NULL;
            r = b ? mk(p, N_BINOM, a, b) : fail(p);
        } else if (n == 4 && !strncmp(name, "sqrt", 4)) {
            VNode *idx = NULL;
            if (peek(p) == '[') {
                p->i++;
                idx = p_sum(p);
                if (peek(p) != ']') { r = fail(p); goto out; }
                p->i++;
            }
            VNode *x = single_arg(p);
            if (!x) { r = fail(p); goto out; }
            if (idx) r = mk(p, N_ROOT, idx, x);
            else { r = mk(p, N_FUNC, x, NULL); if (r) r->fn = F_SQRT; }
        } else if (n == 2 && !strncmp(name, "pi", 2)) r = mk(p, N_PI, NULL, NULL);
        else if (n == 5 && !strncmp(name, "infty", 5)) r = mk(p, N_INF, NULL, NULL);
        else if (fn >= 0) r = function(p, fn);
        else if (in_list(name, n, GREEK)) r = variable(p, name - 1, n + 1);
        else if (in_list(name, n, DECOR)) {
            // \dot{x} is its own variable, named "\dot{x}"
            size_t a = p->i;
            while (a < p->end && p->s[a] == ' ') a++;
            p->i = a;
            size_t ga, gz;
            if (at(p, 0) == '{') { if (!raw_group(p, &ga, &gz)) { r = fail(p); goto out; } }
            else if (is_letter(at(p, 0))) { ga = p->i; gz = ++p->i; }
            else if (at(p, 0) == '\\') { ga = p->i; p->i++; while (p->i < p->end && is_letter(p->s[p->i])) p->i++; gz = p->i; }
            else { r = fail(p); goto out; }
            char buf[VX_MAX_NAME];
            int w = snprintf(buf, sizeof(buf), "\\%.*s{%.*s}", (int)n, name, (int)(gz - ga), p->s + ga);
            if (w < 0 || w >= (int)sizeof(buf) - 24) { r = fail(p); goto out; }
            r = variable(p, buf, (size_t)w);
        } else r = fail(p);
    } else if (is_letter(c)) {
        size_t a = p->i, n = 0;
        while (is_letter(at(p, n))) n++;
        size_t k = n;
        while (at(p, k) == ' ') k++;
        int fn = func_id(p->s + a, n);
        if (n > 1 && fn >= 0 && (at(p, k) == '(')) {   // plain "sqrt(2)", "arcsin(10/13)"
            p->i += n;
            r = function(p, fn);
        } else if (n == 2 && !strncmp(p->s + a, "pi", 2)) { p->i += 2; r = mk(p, N_PI, NULL, NULL); }
        else if ((c == 'e' || c == 'i') && at(p, 1) != '_') { p->i++; r = mk(p, c == 'e' ? N_E : N_I, NULL, NULL); }
        else if (n == 1 && (is_upper(c) || c == 'f' || c == 'g') && at(p, 1) == '(') r = application(p, c);
        else { p->i++; r = variable(p, p->s + a, 1); }
    } else r = fail(p);
out:
    p->depth--;
    return p->err ? NULL : r;
}

// "I(0)", "P(x)", "f(2x)": an unknown function applied to an argument (a product I*0 would make
// every multiple of I(0) equal). It evaluates to exp(k x) + k with k fixed by the name, so f(2x) =
// f(x+x) while f(x) != 2 f(x) != f(-x); its name counts as a variable (f(0) is never a number).
static VNode *application(P *p, char name) {
    char buf[4] = {name, '(', ')', '\0'};
    VNode *v = variable(p, buf, 3);
    if (!v) return fail(p);
    p->i++;   // the name; p_primary reads the parenthesised argument
    VNode *arg = p_primary(p);
    if (!arg) return fail(p);
    VNode *e = mk(p, N_APPLY, arg, v);
    if (e) e->num = 0.35 + 0.1 * (double)((unsigned char)name % 7);
    return e;
}

static VNode *p_postfix(P *p) {
    VNode *e = p_primary(p);
    while (!p->err && peek(p) == '!') { p->i++; e = mk(p, N_FACT, e, NULL); }
    return e;
}

static VNode *p_power(P *p) {
    VNode *b = p_postfix(p);
    if (p->err) return NULL;
    if (peek(p) == '^') {
        p->i++;
        VNode *x;
        char c = peek(p);
        if (c == '-' || c == '+') {
            p->i++;
            x = single_arg(p);
            if (c == '-') x = mk(p, N_NEG, x, NULL);
        } else x = single_arg(p);
        if (!x) return fail(p);
        if (peek(p) == '^') return fail(p);   // a^b^c is ambiguous
        b = mk(p, N_POW, b, x);
        while (!p->err && peek(p) == '!') { p->i++; b = mk(p, N_FACT, b, NULL); }
    }
    return b;
}

static VNode *p_implicit(P *p) {
    VNode *e = p_power(p);
    while (!p->err && starts_factor(p)) {
        if (is_digit(peek(p)) || peek(p) == '.') return fail(p);   // "2 3" or "x2": ambiguous
        e = mk(p, N_MUL, e, p_power(p));
    }
    return e;
}

static VNode *p_unary(P *p) {
    if (++p->depth > p->c->depth_limit) return fail(p);
    VNode *r;
    char c = peek(p);
    if (c == '-') { p->i++; r = mk(p, N_NEG, p_unary(p), NULL); }
    else if (c == '+') { p->i++; r = p_unary(p); }
    else r = p_implicit(p);
    p->depth--;
    return r;
}

static VNode *p_product(P *p) {
    VNode *e = p_unary(p);
    while (!p->err) {
        char c = peek(p);
        int op = -1;
        if (c == '*') { p->i++; op = N_MUL; }
        else if (c == '/') { p->i++; op = N_DIV; }
        else if (cmd_is(p, "cdot") || cmd_is(p, "times") || cmd_is(p, "ast")) {
            const char *name; p->i += 1 + cmd_at(p, &name); op = N_MUL;
        } else if (cmd_is(p, "div")) { p->i += 4; op = N_DIV; }
        if (op < 0) break;
        e = mk(p, op, e, p_unary(p));
    }
    return e;
}

static VNode *p_sum(P *p) {
    if (++p->depth > p->c->depth_limit) return fail(p);
    VNode *e = p_product(p);
    while (!p->err) {
        char c = peek(p);
        if (c != '+' && c != '-') break;
        p->i++;
        e = mk(p, c == '+' ? N_ADD : N_SUB, e, p_product(p));
    }
    p->depth--;
    return p->err ? NULL : e;
}

VNode *vx_parse(VExprCtx *c, const char *s, size_t len) {
    P p = {c, s, 0, len, 0, 0, 0};
    if (peek(&p) == '\0') return NULL;
    VNode *e = p_sum(&p);
    if (p.err || !e || peek(&p) != '\0') return NULL;
    return e;
}

// ---- evaluation --------------------------------------------------------------------------------
static double complex cnan(void) { return CMPLX(NAN, 0.0); }
static int bad(double complex z) {
    return !isfinite(creal(z)) || !isfinite(cimag(z)) || fabs(creal(z)) > 1e250 || fabs(cimag(z)) > 1e250;
}
static int is_real_int(double complex z, double *out) {
    if (cimag(z) != 0.0 || creal(z) != floor(creal(z))) return 0;
    *out = creal(z);
    return 1;
}

static double complex cpow_safe(double complex b, double complex x) {
    double n;
    if (is_real_int(x, &n) && fabs(n) <= 4096) {
        // repeated squaring keeps integer powers exact-ish and real for real bases
        double complex r = 1.0, base = b;
        long m = (long)fabs(n);
        while (m) { if (m & 1) r *= base; base *= base; m >>= 1; if (bad(r) || bad(base)) { if (m) return cnan(); } }
        if (n < 0) { if (r == 0.0) return cnan(); r = 1.0 / r; }
        return r;
    }
    if (cimag(b) == 0.0 && cimag(x) == 0.0 && creal(b) > 0.0) return CMPLX(pow(creal(b), creal(x)), 0.0);
    if (b == 0.0) return creal(x) > 0.0 ? CMPLX(0.0, 0.0) : cnan();
    return cpow(b, x);
}

double complex vx_eval(const VNode *e, const double complex *vars) {
    double complex a = 0, b = 0, r;
    if (e->a) { a = vx_eval(e->a, vars); if (bad(a)) return cnan(); }
    if (e->b) { b = vx_eval(e->b, vars); if (bad(b)) return cnan(); }
    switch (e->op) {
    case N_NUM: r = CMPLX(e->num, 0.0); break;
    case N_VAR: r = vars[e->var]; break;
    case N_PI: r = CMPLX(M_PI, 0.0); break;
    case N_E: r = CMPLX(M_E, 0.0); break;
    case N_I: r = CMPLX(0.0, 1.0); break;
    case N_INF: return cnan();
    case N_ADD: r = a + b; break;
    case N_SUB: r = a - b; break;
    case N_MUL: r = a * b; break;
    case N_DIV: if (b == 0.0) return cnan(); r = a / b; break;
    case N_NEG: r = -a; break;
    case N_POW: r = cpow_safe(a, b); break;
    case N_ABS: r = CMPLX(cabs(a), 0.0); break;
    case N_APPLY: r = cexp(e->num * a) + e->num; break;
    case N_FACT: {
        double n;
        if (!is_real_int(a, &n) || n < 0 || n > 170) return cnan();
        r = CMPLX(round(tgamma(n + 1.0)), 0.0);
        break;
    }
    case N_BINOM: {
        double n, k;
        if (!is_real_int(a, &n) || !is_real_int(b, &k) || n < 0 || n > 170) return cnan();
        if (k < 0 || k > n) { r = 0; break; }
        r = CMPLX(round(tgamma(n + 1.0) / (tgamma(k + 1.0) * tgamma(n - k + 1.0))), 0.0);
        break;
    }
    case N_ROOT: {
        double n;
        if (is_real_int(a, &n) && n >= 2 && fmod(n, 2.0) == 1.0 && cimag(b) == 0.0) {
            double x = creal(b);   // odd roots of real numbers are real: \sqrt[3]{-8} = -2
            r = CMPLX(copysign(pow(fabs(x), 1.0 / n), x), 0.0);
        } else {
            if (a == 0.0) return cnan();
            r = cpow_safe(b, 1.0 / a);
        }
        break;
    }
    case N_LOGB: {
        if (a == 0.0 || b == 0.0) return cnan();
        double complex la = clog(a);
        if (la == 0.0) return cnan();
        r = clog(b) / la;
        break;
    }
    case N_FUNC:
        switch (e->fn) {
        case F_SIN: r = csin(a); break;
        case F_COS: r = ccos(a); break;
        case F_TAN: r = ctan(a); break;
        case F_SEC: { double complex c = ccos(a); if (c == 0.0) return cnan(); r = 1.0 / c; break; }
        case F_CSC: { double complex s = csin(a); if (s == 0.0) return cnan(); r = 1.0 / s; break; }
        case F_COT: { double complex t = ctan(a); if (t == 0.0) return cnan(); r = 1.0 / t; break; }
        case F_ASIN: r = casin(a); break;
        case F_ACOS: r = cacos(a); break;
        case F_ATAN: r = catan(a); break;
        case F_SINH: r = csinh(a); break;
        case F_COSH: r = ccosh(a); break;
        case F_TANH: r = ctanh(a); break;
        case F_LN: case F_LOG: if (a == 0.0) return cnan(); r = clog(a); break;
        case F_EXP: r = cexp(a); break;
        case F_SQRT: r = (cimag(a) == 0.0 && creal(a) >= 0) ? CMPLX(sqrt(creal(a)), 0.0) : csqrt(a); break;
        default: return cnan();
        }
        break;
    default: return cnan();
    }
    return bad(r) ? cnan() : r;
}

size_t vx_size(const VNode *e) {
    return 1 + (e->a ? vx_size(e->a) : 0) + (e->b ? vx_size(e->b) : 0);
}

uint64_t vx_vars(const VNode *e) {
    uint64_t m = 0;
    if (e->op == N_VAR) m |= 1ull << e->var;
    if (e->op == N_FUNC && e->fn == F_LOG) m |= 1ull << 63;
    if (e->a) m |= vx_vars(e->a);
    if (e->b) m |= vx_vars(e->b);
    return m;
}

// ---- exact rationals ---------------------------------------------------------------------------
static __int128 gcd128(__int128 a, __int128 b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) { __int128 t = a % b; a = b; b = t; }
    return a;
}
typedef __int128 i128;
#define I128_MIN ((i128)((unsigned __int128)1 << 127))
typedef struct { i128 n, d; } Rat;
static int rat_norm(Rat *r) {
    if (r->d == 0) return 0;
    if (r->d < 0) { if (r->n == I128_MIN || r->d == I128_MIN) return 0; r->n = -r->n; r->d = -r->d; }
    i128 g = gcd128(r->n, r->d);
    if (g > 1) { r->n /= g; r->d /= g; }
    return 1;
}
static int rat_lit(const char *s, int n, Rat *r) {
    i128 m = 0, d = 1;
    int i = 0, seen_dot = 0;
    for (; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') { seen_dot = 1; continue; }
        if (__builtin_mul_overflow(m, 10, &m) || __builtin_add_overflow(m, s[i] - '0', &m)) return 0;
        if (seen_dot && __builtin_mul_overflow(d, 10, &d)) return 0;
    }
    if (i < n) {
        long ex = strtol(s + i + 1, NULL, 10);
        if (ex > 38 || ex < -38) return 0;
        for (; ex > 0; ex--) if (__builtin_mul_overflow(m, 10, &m)) return 0;
        for (; ex < 0; ex++) if (__builtin_mul_overflow(d, 10, &d)) return 0;
    }
    r->n = m; r->d = d;
    return rat_norm(r);
}
static int rat_eval(const VNode *e, Rat *r) {
    Rat a, b;
    switch (e->op) {
    case N_NUM: return e->lit ? rat_lit(e->lit, e->litlen, r) : 0;
    case N_NEG: if (!rat_eval(e->a, &a) || a.n == I128_MIN) return 0; r->n = -a.n; r->d = a.d; return 1;
    case N_ADD: case N_SUB: {
        if (!rat_eval(e->a, &a) || !rat_eval(e->b, &b)) return 0;
        if (e->op == N_SUB) { if (b.n == I128_MIN) return 0; b.n = -b.n; }
        i128 x, y, z;
        if (__builtin_mul_overflow(a.n, b.d, &x) || __builtin_mul_overflow(b.n, a.d, &y) ||
            __builtin_add_overflow(x, y, &z) || __builtin_mul_overflow(a.d, b.d, &r->d)) return 0;
        r->n = z;
        return rat_norm(r);
    }
    case N_MUL: case N_DIV: {
        if (!rat_eval(e->a, &a) || !rat_eval(e->b, &b)) return 0;
        if (e->op == N_DIV) { if (b.n == 0) return 0; i128 t = b.n; b.n = b.d; b.d = t; if (!rat_norm(&b)) return 0; }
        if (__builtin_mul_overflow(a.n, b.n, &r->n) || __builtin_mul_overflow(a.d, b.d, &r->d)) return 0;
        return rat_norm(r);
    }
    case N_POW: {
        if (!rat_eval(e->a, &a) || !rat_eval(e->b, &b) || b.d != 1 || b.n > 127 || b.n < -127) return 0;
        int k = (int)(b.n < 0 ? -b.n : b.n);
        Rat acc = {1, 1};
        for (int t = 0; t < k; t++)
            if (__builtin_mul_overflow(acc.n, a.n, &acc.n) || __builtin_mul_overflow(acc.d, a.d, &acc.d)) return 0;
        if (b.n < 0) { if (acc.n == 0) return 0; i128 t = acc.n; acc.n = acc.d; acc.d = t; }
        *r = acc;
        return rat_norm(r);
    }
    default: return 0;
    }
}
int vx_rational(const VNode *e, __int128 *num, __int128 *den) {
    Rat r;
    if (!rat_eval(e, &r)) return 0;
    *num = r.n; *den = r.d;
    return 1;
}

#define VX_MAX_EXP10 1000000L   // decimal exponents beyond this are not compared as exact literals

int vx_literal_canon(const VNode *e, char *buf, size_t cap) {
    int neg = 0;
    while (e->op == N_NEG) { neg = !neg; e = e->a; }
    if (e->op != N_NUM || !e->lit) return 0;
    const char *s = e->lit;
    int n = e->litlen;
    char digits[64];
    int nd = 0, point = -1, i = 0;
    long ex = 0;
    for (; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') { point = nd; continue; }
        if (nd < 63) digits[nd++] = s[i]; else return 0;
    }
    if (i < n) {
        ex = strtol(s + i + 1, NULL, 10);   // saturates (atol would overflow on 1e99999999999999999999)
        if (ex > VX_MAX_EXP10 || ex < -VX_MAX_EXP10) return 0;
    }
    if (point < 0) point = nd;
    // value = 0.digits * 10^(point + ex); strip leading zeros (shifting the point) and trailing zeros
    int lead = 0;
    while (lead < nd && digits[lead] == '0') lead++;
    if (lead == nd) { snprintf(buf, cap, "0"); return 1; }
    int end = nd;
    while (end > lead && digits[end - 1] == '0') end--;
    long expo = (long)point - lead + ex;
    snprintf(buf, cap, "%s0.%.*se%ld", neg ? "-" : "", end - lead, digits + lead, expo);
    return 1;
}
