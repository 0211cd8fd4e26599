// Structural comparison and the response-level verifiers. An answer is parsed into a Value:
//   expression | +-infinity | equation | ordered sequence (tuple / interval, with its bracket types) |
//   unordered set ("\{..\}" or a bare comma list, "a \pm b" expands to two members) | union of
//   intervals | matrix
// and two Values are equal when their kinds agree and their parts are equal (expressions by exact
// rationals, numbers within a tolerance, or evaluation at random points). Anything that does not
// parse is only ever equal to an identical normalised string.
#include "common/tasks/verifier.h"
#include "common/tasks/verifier_impl.h"
#include "common/core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void math_verify_opts_default(MathVerifyOpts *o) {
    o->rel_tol = 1e-9;
    o->sym_tol = 1e-8;
    o->n_points = 12;
    o->exact_rationals = 1;
}

enum { V_EXPR, V_INF, V_EQ, V_SEQ, V_SET, V_UNION, V_MATRIX };

typedef struct Value {
    int kind;
    VNode *expr;            // V_EXPR; V_EQ: left side
    struct Value *rhs;      // V_EQ: right side
    int lhs_var;            // V_EQ: index of the variable when the left side is one variable, else -1
    int sign;               // V_INF
    char open, close;       // V_SEQ brackets
    int n, rows, cols;      // item count; V_MATRIX shape
    struct Value *items;
    int pm;                 // V_SET made by expanding \pm (spliced into an enclosing set)
} Value;

typedef struct {
    VExprCtx x;
    Value *vals; int nv, capv;
    char **strs; int ns, caps;   // strings made by \pm expansion (expression literals point into them)
    MathVerifyOpts o;
    long work;                   // remaining work budget (node evaluations); at 0 the answer is refused
} Cmp;

// Bounds the time of one comparison whatever the input (a set of 2000 members, each a nested list,
// compared member by member, or huge expressions at many points): every node evaluation and every
// structural comparison is charged, and an exhausted budget grades the answer incorrect. About 2 ms
// of work on one core; typical answers use well under 1% of it.
#define VERIFY_WORK_BUDGET 2000000L

static int charge(Cmp *c, long cost) {
    if (c->work < cost) { c->work = 0; return 0; }
    c->work -= cost;
    return 1;
}

static Value *new_values(Cmp *c, int n) {
    if (n < 0 || c->nv + n > c->capv) return NULL;
    Value *v = &c->vals[c->nv];
    memset(v, 0, (size_t)n * sizeof(Value));
    c->nv += n;
    return v;
}

static char *keep_string(Cmp *c, char *s) {
    if (!s) return NULL;
    if (c->ns >= c->caps) {
        int cap = c->caps ? 2 * c->caps : 8;
        char **p = realloc(c->strs, (size_t)cap * sizeof(char *));
        if (!p) { free(s); return NULL; }
        c->strs = p; c->caps = cap;
    }
    c->strs[c->ns++] = s;
    return s;
}

static int is_letter(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int starts_cmd(const char *s, size_t i, size_t z, const char *cmd) {
    size_t n = strlen(cmd);
    return i + n <= z && !strncmp(s + i, cmd, n) && (i + n == z || !is_letter(s[i + n]));
}

// Scans s[a..z) at bracket depth 0 and reports separators. Returns -1 on unbalanced brackets.
typedef struct { size_t commas[256]; int ncomma; size_t cups[64]; int ncup; size_t eqs[4]; int neq; int npm; int ineq; } Scan;
static int scan_top(const char *s, size_t a, size_t z, Scan *sc) {
    memset(sc, 0, sizeof(*sc));
    int depth = 0;
    for (size_t i = a; i < z; i++) {
        char ch = s[i];
        if (ch == '\\') {
            if (i + 1 < z && (s[i + 1] == '{' || s[i + 1] == '}')) { depth += s[i + 1] == '{' ? 1 : -1; i++; if (depth < 0) return -1; continue; }
            if (starts_cmd(s, i, z, "\\pm") || starts_cmd(s, i, z, "\\mp")) sc->npm++;
            if (depth == 0 && starts_cmd(s, i, z, "\\cup")) { if (sc->ncup < 64) sc->cups[sc->ncup] = i; sc->ncup++; }
            if (starts_cmd(s, i, z, "\\le") || starts_cmd(s, i, z, "\\leq") || starts_cmd(s, i, z, "\\ge") ||
                starts_cmd(s, i, z, "\\geq") || starts_cmd(s, i, z, "\\neq") || starts_cmd(s, i, z, "\\ne") ||
                starts_cmd(s, i, z, "\\lt") || starts_cmd(s, i, z, "\\gt") || starts_cmd(s, i, z, "\\approx") ||
                starts_cmd(s, i, z, "\\cap") || starts_cmd(s, i, z, "\\setminus")) sc->ineq++;
            if (i + 1 < z) i++;
            while (i + 1 < z && is_letter(s[i + 1]) && is_letter(s[i])) i++;
            continue;
        }
        if (ch == '(' || ch == '[' || ch == '{') depth++;
        else if (ch == ')' || ch == ']' || ch == '}') { if (--depth < 0) return -1; }
        else if (depth == 0 && ch == ',') { if (sc->ncomma < 256) sc->commas[sc->ncomma] = i; sc->ncomma++; }
        else if (depth == 0 && ch == '=') { if (sc->neq < 4) sc->eqs[sc->neq] = i; sc->neq++; }
        else if (ch == '<' || ch == '>') sc->ineq++;
    }
    return depth == 0 ? 0 : -1;
}

// Index of the bracket closing the one at s[a] (any bracket type), or (size_t)-1.
static size_t match_any(const char *s, size_t a, size_t z) {
    int depth = 0;
    for (size_t i = a; i < z; i++) {
        if (s[i] == '\\') {
            if (i + 1 < z && (s[i + 1] == '{' || s[i + 1] == '}')) { depth += s[i + 1] == '{' ? 1 : -1; if (depth == 0) return i; }
            i++;
            continue;
        }
        if (s[i] == '(' || s[i] == '[' || s[i] == '{') depth++;
        else if ((s[i] == ')' || s[i] == ']' || s[i] == '}') && --depth == 0) return i;
    }
    return (size_t)-1;
}

static int parse_value(Cmp *c, const char *s, size_t a, size_t z, Value *out, int depth);

// Parses comma-separated members of s[a..z) into out->items (unordered set or ordered sequence).
static int parse_members(Cmp *c, const char *s, size_t a, size_t z, Value *out, int ordered, int depth) {
    Scan sc;
    if (scan_top(s, a, z, &sc) < 0 || sc.ncomma > 255) return 0;
    int n = sc.ncomma + 1;
    Value *tmp = calloc((size_t)n * 2, sizeof(Value));
    if (!tmp) return 0;
    int m = 0, ok = 1;
    size_t start = a;
    for (int k = 0; k < n && ok; k++) {
        size_t end = k < sc.ncomma ? sc.commas[k] : z;
        Value v;
        if (!parse_value(c, s, start, end, &v, depth + 1)) ok = 0;
        else if (v.kind == V_EQ && v.lhs_var >= 0 && v.rhs->kind == V_SET && v.rhs->pm && !ordered) {
            for (int t = 0; t < v.rhs->n; t++) tmp[m++] = v.rhs->items[t];   // "x = 1 \pm \sqrt5, x = -2"
        } else if (v.kind == V_SET && v.pm) {
            if (ordered) ok = 0;
            else for (int t = 0; t < v.n; t++) tmp[m++] = v.items[t];
        } else tmp[m++] = v;
        start = end + 1;
    }
    if (ok) {
        out->items = new_values(c, m);
        if (!out->items) ok = 0;
        else { memcpy(out->items, tmp, (size_t)m * sizeof(Value)); out->n = m; }
    }
    free(tmp);
    return ok;
}

static int parse_value(Cmp *c, const char *s, size_t a, size_t z, Value *out, int depth) {
    memset(out, 0, sizeof(*out));
    out->lhs_var = -1;
    if (depth > 32) return 0;
    while (a < z && s[a] == ' ') a++;
    while (z > a && s[z - 1] == ' ') z--;
    if (a == z) return 0;

    // matrices (cells on the stack: only near the top, never nested in one another)
    if (starts_cmd(s, a, z, "\\begin") && s[a + 6] == '{') {
        if (depth > 2) return 0;
        size_t e = a + 7;
        while (e < z && s[e] != '}') e++;
        size_t nl = e - (a + 7);
        const char *env = s + a + 7;
        int okenv = (nl == 7 && !strncmp(env, "pmatrix", 7)) || (nl == 7 && !strncmp(env, "bmatrix", 7)) ||
                    (nl == 7 && !strncmp(env, "Bmatrix", 7)) || (nl == 6 && !strncmp(env, "matrix", 6));
        char endtag[32];
        snprintf(endtag, sizeof(endtag), "\\end{%.*s}", (int)(nl < 16 ? nl : 16), env);
        size_t el = strlen(endtag);
        if (!okenv || e >= z || z - a < el || strncmp(s + z - el, endtag, el) != 0) return 0;
        size_t ia = e + 1, iz = z - el;
        // split rows at "\\" and cells at "&"
        int rows = 0, cols = -1, ncell = 0;
        Value cells[256];
        size_t cs = ia;
        int rowcells = 0;
        for (size_t i = ia; i <= iz; i++) {
            int rowend = (i == iz) || (i + 1 < iz && s[i] == '\\' && s[i + 1] == '\\');
            int cellend = rowend || s[i] == '&';
            if (i < iz && s[i] == '\\' && !rowend) { i++; continue; }
            if (!cellend) continue;
            size_t ca = cs, cz = i;
            while (ca < cz && s[ca] == ' ') ca++;
            while (cz > ca && s[cz - 1] == ' ') cz--;
            if (rowend && ca == cz && rowcells == 0) { cs = i + 2; continue; }   // trailing "\\"
            if (ncell >= 256 || !parse_value(c, s, ca, cz, &cells[ncell], depth + 1)) return 0;
            if (cells[ncell].kind != V_EXPR) return 0;
            ncell++; rowcells++;
            if (rowend) {
                if (cols < 0) cols = rowcells; else if (cols != rowcells) return 0;
                rows++; rowcells = 0;
                cs = i + 2; i++;
            } else cs = i + 1;
        }
        if (rows == 0 || cols <= 0) return 0;
        out->kind = V_MATRIX; out->rows = rows; out->cols = cols; out->n = ncell;
        out->items = new_values(c, ncell);
        if (!out->items) return 0;
        memcpy(out->items, cells, (size_t)ncell * sizeof(Value));
        return 1;
    }

    Scan sc;
    if (scan_top(s, a, z, &sc) < 0 || sc.ineq) return 0;

    // unions of intervals
    if (sc.ncup > 0) {
        if (sc.ncup > 63) return 0;
        int n = sc.ncup + 1;
        Value *items = new_values(c, n);
        if (!items) return 0;
        size_t start = a;
        for (int k = 0; k < n; k++) {
            size_t end = k < sc.ncup ? sc.cups[k] : z;
            if (!parse_value(c, s, start, end, &items[k], depth + 1)) return 0;
            if (items[k].kind != V_SEQ && items[k].kind != V_SET) return 0;
            start = end + 4;
        }
        out->kind = V_UNION; out->n = n; out->items = items;
        return 1;
    }

    // explicit sets
    if (starts_cmd(s, a, z, "\\emptyset") || starts_cmd(s, a, z, "\\varnothing")) {
        size_t n = s[a + 1] == 'e' ? 9 : 11;
        if (a + n != z) return 0;
        out->kind = V_SET; out->n = 0;
        return 1;
    }
    if (z - a >= 4 && s[a] == '\\' && s[a + 1] == '{' && match_any(s, a, z) == z - 2) {
        out->kind = V_SET;
        Scan in;
        if (scan_top(s, a + 2, z - 2, &in) < 0) return 0;
        size_t ia = a + 2;
        while (ia < z - 2 && s[ia] == ' ') ia++;
        if (ia == z - 2) { out->n = 0; return 1; }
        return parse_members(c, s, a + 2, z - 2, out, 0, depth);
    }

    // tuples and intervals: (a, b], [x, y, z)
    if ((s[a] == '(' || s[a] == '[') && (s[z - 1] == ')' || s[z - 1] == ']') && match_any(s, a, z) == z - 1) {
        Scan in;
        if (scan_top(s, a + 1, z - 1, &in) == 0 && in.ncomma > 0) {
            out->kind = V_SEQ; out->open = s[a]; out->close = s[z - 1];
            return parse_members(c, s, a + 1, z - 1, out, 1, depth);
        }
    }

    // bare lists are unordered ("Enter all the solutions, separated by commas")
    if (sc.ncomma > 0) {
        out->kind = V_SET;
        return parse_members(c, s, a, z, out, 0, depth);
    }

    // a \pm b -> {a + b, a - b}
    if (sc.npm > 1) return 0;
    if (sc.npm == 1) {
        size_t i = a;
        for (; i + 3 <= z; i++) if (starts_cmd(s, i, z, "\\pm") || starts_cmd(s, i, z, "\\mp")) break;
        int mp = s[i + 1] == 'm' && s[i + 2] == 'p';
        Value *items = new_values(c, 2);
        if (!items) return 0;
        for (int k = 0; k < 2; k++) {
            size_t len = z - a - 3 + 1;
            char *t = keep_string(c, malloc(len + 1));
            if (!t) return 0;
            memcpy(t, s + a, i - a);
            t[i - a] = ((k == 0) != mp) ? '+' : '-';
            memcpy(t + (i - a) + 1, s + i + 3, z - (i + 3));
            t[len] = '\0';
            if (!parse_value(c, t, 0, len, &items[k], depth + 1)) return 0;
            // "x = 1 \pm \sqrt5": the two values of x
            if (items[k].kind == V_EQ && items[k].lhs_var >= 0 && items[k].rhs->kind == V_EXPR) items[k] = *items[k].rhs;
            if (items[k].kind != V_EXPR) return 0;
        }
        out->kind = V_SET; out->n = 2; out->items = items; out->pm = 1;
        return 1;
    }

    // equations
    if (sc.neq > 1) return 0;
    if (sc.neq == 1) {
        size_t e = sc.eqs[0];
        VNode *lhs = vx_parse(&c->x, s + a, e - a);
        Value *rhs = new_values(c, 1);
        if (!lhs || !rhs || !parse_value(c, s, e + 1, z, rhs, depth + 1)) return 0;
        out->kind = V_EQ; out->expr = lhs; out->rhs = rhs;
        out->lhs_var = lhs->op == N_VAR ? lhs->var : -1;
        if (out->lhs_var < 0 && rhs->kind != V_EXPR) return 0;
        return 1;
    }

    // infinities
    {
        size_t i = a;
        int sign = 1;
        if (s[i] == '-' || s[i] == '+') { sign = s[i] == '-' ? -1 : 1; i++; }
        while (i < z && s[i] == ' ') i++;
        if ((z - i == 6 && !strncmp(s + i, "\\infty", 6)) || (z - i == 4 && !strncmp(s + i, "\\inf", 4))) {
            out->kind = V_INF; out->sign = sign;
            return 1;
        }
    }

    VNode *e = vx_parse(&c->x, s + a, z - a);
    if (!e) return 0;
    out->kind = V_EXPR; out->expr = e;
    return 1;
}

// ---- equality ----------------------------------------------------------------------------------
static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ULL; }
    return h;
}

static int close_enough(double complex a, double complex b, double tol) {
    double d = cabs(a - b), m = fmax(cabs(a), cabs(b));
    return d <= tol * m;
}

static int expr_equal(Cmp *c, const VNode *g, const VNode *p) {
    uint64_t mg = vx_vars(g), mp = vx_vars(p);
    if (mg != mp) return 0;   // different variables (or \log vs \ln): never equal
    uint64_t vars = mg & ~(1ull << 63);
    if (!charge(c, (long)(vx_size(g) + vx_size(p)) * (vars ? c->o.n_points : 1))) return 0;
    if (!vars) {
        if (c->o.exact_rationals) {
            char cg[96], cp[96];
            if (vx_literal_canon(g, cg, sizeof(cg)) && vx_literal_canon(p, cp, sizeof(cp))) return !strcmp(cg, cp);
            __int128 gn, gd, pn, pd;
            if (vx_rational(g, &gn, &gd) && vx_rational(p, &pn, &pd)) return gn == pn && gd == pd;
        }
        double complex a = vx_eval(g, NULL), b = vx_eval(p, NULL);
        if (isnan(creal(a)) || isnan(creal(b))) return 0;
        return close_enough(a, b, c->o.rel_tol);
    }
    double complex vals[VX_MAX_VARS];
    int valid = 0;
    for (int k = 0; k < c->o.n_points; k++) {
        for (int v = 0; v < c->x.nvars; v++) {
            Rng r;
            rng_seed(&r, rng_mix(name_hash(c->x.names[v]), (uint64_t)k));
            double u = rng_uniform_f64(&r);
            double sign = (rng_u64(&r) >> 63) ? -1.0 : 1.0;
            vals[v] = CMPLX(sign * (0.6 + 1.9 * u), 0.0);
        }
        double complex a = vx_eval(g, vals), b = vx_eval(p, vals);
        int na = isnan(creal(a)), nb = isnan(creal(b));
        if (na && nb) continue;
        if (na || nb) return 0;
        if (!close_enough(a, b, c->o.sym_tol)) return 0;
        valid++;
    }
    int need = c->o.n_points / 2 > 2 ? c->o.n_points / 2 : 2;
    return valid >= need;
}

static int value_equal(Cmp *c, const Value *g, const Value *p);

static int set_equal(Cmp *c, const Value *g, const Value *p) {
    if (g->n != p->n) return 0;
    if (g->n > 256) return 0;
    char used[256] = {0};
    for (int i = 0; i < g->n; i++) {
        int found = 0;
        for (int j = 0; j < p->n && !found; j++)
            if (!used[j] && value_equal(c, &g->items[i], &p->items[j])) { used[j] = 1; found = 1; }
        if (!found) return 0;
    }
    return 1;
}

static int value_equal(Cmp *c, const Value *g, const Value *p) {
    if (!charge(c, 1)) return 0;
    // "x = 5" against "5": the variable name on the left is presentation
    if (g->kind == V_EQ && g->lhs_var >= 0 && p->kind != V_EQ) return value_equal(c, g->rhs, p);
    if (p->kind == V_EQ && p->lhs_var >= 0 && g->kind != V_EQ) return value_equal(c, g, p->rhs);
    if (g->kind != p->kind) return 0;
    switch (g->kind) {
    case V_EXPR: return expr_equal(c, g->expr, p->expr);
    case V_INF: return g->sign == p->sign;
    case V_EQ: {
        if (g->lhs_var >= 0 && p->lhs_var >= 0 && g->lhs_var == p->lhs_var && value_equal(c, g->rhs, p->rhs)) return 1;
        if (g->rhs->kind != V_EXPR || p->rhs->kind != V_EXPR) return 0;
        // same equation up to swapping sides: lhs - rhs equal up to sign
        VNode *fg = vx_new(&c->x, N_SUB, g->expr, g->rhs->expr);
        VNode *fp = vx_new(&c->x, N_SUB, p->expr, p->rhs->expr);
        VNode *nf = vx_new(&c->x, N_NEG, fp, NULL);
        if (!fg || !fp || !nf) return 0;
        return expr_equal(c, fg, fp) || expr_equal(c, fg, nf);
    }
    case V_SEQ:
        if (g->open != p->open || g->close != p->close || g->n != p->n) return 0;
        for (int i = 0; i < g->n; i++) if (!value_equal(c, &g->items[i], &p->items[i])) return 0;
        return 1;
    case V_SET: case V_UNION: return set_equal(c, g, p);
    case V_MATRIX:
        if (g->rows != p->rows || g->cols != p->cols) return 0;
        for (int i = 0; i < g->n; i++) if (!value_equal(c, &g->items[i], &p->items[i])) return 0;
        return 1;
    }
    return 0;
}

// "(C)" / "\text{(C)}" / "\text{C}" (a capital in a text group) -> 'c'. With loose = 1 a bare
// letter also counts (for predictions).
static int choice_letter(const char *light, int loose) {
    char *t = vnorm_text(light);
    if (!t) return 0;
    int r = 0;
    size_t n = strlen(t);
    if (n == 3 && t[0] == '(' && t[2] == ')' && t[1] >= 'a' && t[1] <= 'h') r = t[1];
    else if (!loose && n == 1 && t[0] >= 'a' && t[0] <= 'h' && !strncmp(light, "\\text", 5)) {
        const char *q = strchr(light, '{');
        while (q && (*++q == ' ')) {}
        if (q && *q >= 'A' && *q <= 'H') r = t[0];
    }
    else if (loose && n == 1 && t[0] >= 'a' && t[0] <= 'h') r = t[0];
    free(t);
    return r;
}

// A gold answer that is one \text{...} group of words (no digits): compared as text.
static int is_text_answer(const char *light) {
    if (strncmp(light, "\\text", 5) != 0 || is_letter(light[5])) return 0;
    size_t j = 5;
    while (light[j] == ' ') j++;
    if (light[j] != '{') return 0;
    int depth = 0, letters = 0;
    size_t k = j;
    for (; light[k]; k++) {
        if (light[k] == '{') depth++;
        else if (light[k] == '}' && --depth == 0) break;
        else if (is_digit(light[k])) return 0;
        else if (is_letter(light[k])) letters++;
    }
    return light[k] == '}' && light[k + 1] == '\0' && letters > 0;
}

// "52_8", "4210_{5}" -> digits and base.
static int base_number(const char *s, const char **digits, size_t *nd, long *base) {
    size_t i = 0;
    while (is_digit(s[i])) i++;
    if (!i || s[i] != '_') return 0;
    *digits = s; *nd = i;
    i++;
    int br = s[i] == '{';
    if (br) i++;
    size_t b0 = i;
    while (is_digit(s[i])) i++;
    if (i == b0 || i - b0 > 2) return 0;
    *base = strtol(s + b0, NULL, 10);
    if (br) { if (s[i] != '}') return 0; i++; }
    return s[i] == '\0';
}
static int same_digits(const char *a, size_t na, const char *b, size_t nb) {
    while (na > 1 && *a == '0') a++, na--;
    while (nb > 1 && *b == '0') b++, nb--;
    return na == nb && !strncmp(a, b, na);
}

static int compare_full(const char *fg, const char *fp, const MathVerifyOpts *opts) {
    if (!strcmp(fg, fp)) return 1;
    const char *dg, *dp;
    size_t ng, np;
    long bg, bp;
    if (base_number(fg, &dg, &ng, &bg)) {
        if (base_number(fp, &dp, &np, &bp)) return bg == bp && same_digits(dg, ng, dp, np);
        size_t k = 0;
        while (is_digit(fp[k])) k++;
        return k > 0 && fp[k] == '\0' && same_digits(dg, ng, fp, k);
    }
    size_t lg = strlen(fg), lp = strlen(fp);
    Cmp c;
    memset(&c, 0, sizeof(c));
    c.o = *opts;
    c.work = VERIFY_WORK_BUDGET;
    if (c.o.n_points < 2) c.o.n_points = 2;
    if (c.o.n_points > 64) c.o.n_points = 64;
    int capn = (int)(16 * (lg + lp) + 256);
    if (vx_init(&c.x, capn) < 0) return 0;
    c.capv = (int)(4 * (lg + lp) + 64);
    c.vals = malloc((size_t)c.capv * sizeof(Value));
    int r = 0;
    if (c.vals) {
        Value g, p;
        if (parse_value(&c, fg, 0, lg, &g, 0) && parse_value(&c, fp, 0, lp, &p, 0)) r = value_equal(&c, &g, &p);
    }
    for (int i = 0; i < c.ns; i++) free(c.strs[i]);
    free(c.strs);
    free(c.vals);
    vx_free(&c.x);
    return r;
}

int math_answer_equal(const char *gold, const char *pred, const MathVerifyOpts *opts) {
    MathVerifyOpts def;
    if (!opts) { math_verify_opts_default(&def); opts = &def; }
    if (!gold || !pred) return 0;
    char *lg = vnorm_light(gold), *lp = vnorm_light(pred);
    char *fg = NULL, *fp = NULL;
    int r = 0;
    if (!lg || !lp || !lp[0] || !lg[0]) goto done;
    int cg = choice_letter(lg, 0);
    if (cg) { r = choice_letter(lp, 1) == cg; goto done; }
    if (is_text_answer(lg)) {
        char *tg = vnorm_text(lg), *tp = vnorm_text(lp);
        r = tg && tp && tg[0] && !strcmp(tg, tp);
        free(tg); free(tp);
        goto done;
    }
    fg = vnorm_full(lg); fp = vnorm_full(lp);
    if (!fg || !fp || !fg[0] || !fp[0]) goto done;
    r = compare_full(fg, fp, opts);
done:
    free(lg); free(lp); free(fg); free(fp);
    return r;
}

// ---- response-level verifiers ------------------------------------------------------------------
static char *box_or_copy(const char *s) {
    size_t st, len;
    if (find_boxed_last(s, &st, &len)) {
        char *o = malloc(len + 1);
        if (o) { memcpy(o, s + st, len); o[len] = '\0'; }
        return o;
    }
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (o) memcpy(o, s, n + 1);
    return o;
}

// The answer of a response: its last complete box or, with statement = 1 and no box at all, the
// answer it states after "answer:" / "answer is". NULL when there is none (or out of memory).
static char *extract_answer(const char *response, int statement, char *extracted, size_t cap) {
    size_t st, len;
    if (extracted && cap) extracted[0] = '\0';
    if (!response) return NULL;
    if (!find_boxed_last(response, &st, &len) && !(statement && find_answer_statement(response, &st, &len))) return NULL;
    char *ans = malloc(len + 1);
    if (!ans) return NULL;
    memcpy(ans, response + st, len);
    ans[len] = '\0';
    if (extracted && cap) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(extracted, ans, n);
        extracted[n] = '\0';
    }
    return ans;
}

static int verify_math_mode(const char *gold, const char *response, const MathVerifyOpts *opts, int statement,
                            char *extracted, size_t cap) {
    char *ans = extract_answer(response, statement, extracted, cap);
    if (!ans || !gold) { free(ans); return 0; }
    char *g = boxed_count(gold) ? box_or_copy(gold) : NULL;
    int r = math_answer_equal(g ? g : gold, ans, opts);
    free(g);
    free(ans);
    return r;
}

int verify_math_opts(const char *gold, const char *response, const MathVerifyOpts *opts, char *extracted, size_t cap) {
    return verify_math_mode(gold, response, opts, 1, extracted, cap);
}

int verify_math(const char *gold, const char *response, char *extracted, size_t cap) {
    return verify_math_opts(gold, response, NULL, extracted, cap);
}

int verify_math_boxed(const char *gold, const char *response, char *extracted, size_t cap) {
    return verify_math_mode(gold, response, NULL, 0, extracted, cap);
}

// Optional '-', digits; surrounding spaces allowed. Returns the digits (leading zeros skipped).
static int parse_int_text(const char *s, int *neg, const char **d, size_t *nd) {
    while (*s == ' ') s++;
    *neg = 0;
    if (*s == '-') { *neg = 1; s++; }
    const char *a = s;
    while (is_digit(*s)) s++;
    if (s == a) return 0;
    const char *z = s;
    while (*s == ' ') s++;
    if (*s) return 0;
    while (z - a > 1 && *a == '0') a++;
    *d = a; *nd = (size_t)(z - a);
    if (*nd == 1 && *a == '0') *neg = 0;   // -0 == 0
    return 1;
}

int arith_answer_equal(const char *gold, const char *answer) {
    int ng, np;
    const char *dg, *dp;
    size_t lg, lp;
    if (!gold || !answer || !parse_int_text(gold, &ng, &dg, &lg) || !parse_int_text(answer, &np, &dp, &lp)) return 0;
    return ng == np && lg == lp && !strncmp(dg, dp, lg);
}

int verify_arith(const char *gold, const char *response, char *extracted, size_t cap) {
    char *ans = extract_answer(response, 0, extracted, cap);
    int r = ans ? arith_answer_equal(gold, ans) : 0;
    free(ans);
    return r;
}

// Every verifier name, with its response-level function.
typedef int (*VerifyFn)(const char *gold, const char *response, char *extracted, size_t cap);
static const struct { const char *name; VerifyFn fn; } VERIFIERS[] = {
    {"math", verify_math}, {"arith", verify_arith}, {"math_boxed", verify_math_boxed},
    {"math_dapo", verify_math_dapo}, {"prime_math", verify_prime_math},
};
#define N_VERIFIERS (sizeof(VERIFIERS) / sizeof(VERIFIERS[0]))

int verifier_known(const char *name) {
    if (!name) return 0;
    for (size_t k = 0; k < N_VERIFIERS; k++) if (!strcmp(name, VERIFIERS[k].name)) return 1;
    return 0;
}

int verify(const char *verifier_name, const char *gold, const char *response, char *extracted, size_t cap) {
    if (verifier_name)
        for (size_t k = 0; k < N_VERIFIERS; k++)
            if (!strcmp(verifier_name, VERIFIERS[k].name)) return VERIFIERS[k].fn(gold, response, extracted, cap);
    if (extracted && cap) extracted[0] = '\0';
    return -1;
}

const char *verifier_for_style(const char *verifier, const char *style) {
    if (!verifier || !verifier_known(verifier)) return NULL;
    if (!style || !style[0] || !strcmp(style, "default")) return verifier;
    if (strcmp(verifier, "math") != 0) return verifier;   // the styles are ways of grading math answers
    if (!strcmp(style, "boxed")) return "math_boxed";
    if (!strcmp(style, "math_dapo")) return "math_dapo";
    if (!strcmp(style, "prime_math")) return "prime_math";
    return NULL;
}

float verify_reward(int correct, int zero_one) {
    if (correct == 1) return 1.0f;
    return zero_one ? 0.0f : -1.0f;
}

int math_answer_understood(const char *answer) {
    char *l = vnorm_light(answer);
    if (!l) return 0;
    int r = 0;
    if (choice_letter(l, 0) || is_text_answer(l)) { free(l); return 1; }
    char *f = vnorm_full(l);
    free(l);
    if (!f) return 0;
    const char *d;
    size_t nd;
    long b;
    if (base_number(f, &d, &nd, &b)) { free(f); return 1; }
    Cmp c;
    memset(&c, 0, sizeof(c));
    math_verify_opts_default(&c.o);
    size_t n = strlen(f);
    if (vx_init(&c.x, (int)(16 * n + 256)) == 0) {
        c.capv = (int)(4 * n + 64);
        c.vals = malloc((size_t)c.capv * sizeof(Value));
        Value v;
        if (c.vals && parse_value(&c, f, 0, n, &v, 0)) r = 1;
    }
    for (int i = 0; i < c.ns; i++) free(c.strs[i]);
    free(c.strs); free(c.vals); vx_free(&c.x); free(f);
    return r;
}
