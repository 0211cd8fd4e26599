// Reward styles of other trainers, for reproducing their runs' rewards (reward.style):
//   "math_dapo"  : verl's reward_score/math_dapo.py (DAPO): the last "Answer: ..." line of the last 300
//                  characters, normalised by the Minerva rules and compared as a string with the
//                  normalised gold; without such a line, the last \boxed{} of the last 100 characters
//                  compared verbatim with the gold. A port, rule for rule (docs/tasks.md lists the
//                  few places where Python's Unicode handling is narrowed to ASCII).
//   "prime_math" : verl's reward_score/prime_math (PRIME): its answer extraction (match_answer) and the
//                  PRM800K/Hendrycks string normalisation ported exactly, its rules for fractions,
//                  integers and plain numbers (1e-4 relative, also as a percent) ported, and our exact
//                  comparer standing in for its sympy simplification.
//   "math_boxed" : the math verifier without its answer-statement fallback (a box is required).
#include "common/tasks/verifier.h"
#include "common/tasks/verifier_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAPO_TAIL_CHARS 300   // math_dapo.compute_score: solution_str[-300:]
#define DAPO_BOX_CHARS 100    // is_correct_strict_box: pred[-100:]
#define PRIME_TOL 1e-4        // prime_math.grader.math_equal: isclose(rel_tol=1e-4)

// ---- small string tools (Python str semantics on UTF-8 bytes) ----------------------------------
static char *dupn(const char *s, size_t n) {
    char *o = malloc(n + 1);
    if (!o) return NULL;
    memcpy(o, s, n);
    o[n] = '\0';
    return o;
}

// s.replace(from, to), freeing s. NULL on allocation failure (s freed).
static char *replace_all(char *s, const char *from, const char *to) {
    if (!s) return NULL;
    size_t fl = strlen(from);
    if (!fl || !strstr(s, from)) return s;
    VStr b;
    vs_init(&b);
    const char *p = s, *q;
    while ((q = strstr(p, from)) != NULL) { vs_putn(&b, p, (size_t)(q - p)); vs_puts(&b, to); p = q + fl; }
    vs_puts(&b, p);
    free(s);
    return vs_take(&b);
}

// Byte offset where the last n code points of s start (s[-n:] in Python).
static size_t tail_chars(const char *s, size_t n) {
    size_t len = strlen(s), i = len, k = 0;
    while (i > 0 && k < n) {
        i--;
        if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
    }
    return i;
}

// Length in bytes of the UTF-8 code point at s (1 for bytes that do not start a valid sequence).
static size_t cp_len(const char *s) {
    unsigned char c = (unsigned char)*s;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    for (size_t k = 1; k < n; k++) if (((unsigned char)s[k] & 0xC0) != 0x80) return 1;
    return n;
}

static int py_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || (c >= 0x1c && c <= 0x1f); }

static char *py_strip(char *s) {
    if (!s) return NULL;
    size_t a = 0, n = strlen(s);
    while (a < n && py_space(s[a])) a++;
    while (n > a && py_space(s[n - 1])) n--;
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
    return s;
}

// ---- math_dapo ---------------------------------------------------------------------------------
static const char *const DAPO_SUBST[][2] = {{"an ", ""}, {"a ", ""}, {".$", "$"}, {"\\$", ""}, {"\\ ", ""}, {" ", ""},
    {"mbox", "text"}, {",\\text{and}", ","}, {"\\text{and}", ","}, {"\\text{m}", "\\text{}"}};
static const char *const DAPO_REMOVED[] = {"square", "ways", "integers", "dollars", "mph", "inches", "hours", "km",
    "units", "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds",
    "meters", "meals", "edges", "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}",
    "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}", "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;", ",\\!", "{,}",
    "\"", "\\dots"};

// re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\3$", s): on each line holding two '$', the line becomes the
// text between its first two '$', in dollars ('.' never crosses a newline).
static char *dapo_dollars(char *s) {
    VStr b;
    vs_init(&b);
    const char *p = s;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        const char *d1 = memchr(p, '$', n), *d2 = d1 ? memchr(d1 + 1, '$', n - (size_t)(d1 + 1 - p)) : NULL;
        if (d2) { vs_putc(&b, '$'); vs_putn(&b, d1 + 1, (size_t)(d2 - d1 - 1)); vs_putc(&b, '$'); }
        else vs_putn(&b, p, n);
        if (!nl) break;
        vs_putc(&b, '\n');
        p = nl + 1;
    }
    free(s);
    return vs_take(&b);
}

// re.sub(r"(\\cmd\{)(.*?)(\})", r"\2", s) (lazy: up to the first '}' on the line) or, greedy = 1,
// re.sub(r"(\\cmd\{)(.*)(\})", r"\2", s) (up to the last '}' on the line).
static char *dapo_unwrap(char *s, const char *open, int greedy) {
    if (!s) return NULL;
    size_t ol = strlen(open);
    VStr b;
    vs_init(&b);
    const char *p = s;
    while (*p) {
        if (!strncmp(p, open, ol)) {
            const char *a = p + ol, *close = NULL;
            for (const char *q = a; *q && *q != '\n'; q++)
                if (*q == '}') { close = q; if (!greedy) break; }
            if (close) { vs_putn(&b, a, (size_t)(close - a)); p = close + 1; continue; }
        }
        vs_putc(&b, *p++);
    }
    free(s);
    return vs_take(&b);
}

// re.sub(r"(frac)([^{])(.)", r"frac{\2}{\3}") and re.sub(r"(sqrt)([^{])", r"sqrt{\2}"), by code point.
static char *dapo_shorthand(char *s, const char *cmd, int two) {
    if (!s) return NULL;
    VStr b;
    vs_init(&b);
    const char *p = s;
    while (*p) {
        if (!strncmp(p, cmd, 4) && p[4] && p[4] != '{') {
            const char *x = p + 4;
            size_t xl = cp_len(x);
            const char *y = x + xl;
            if (!two) {
                vs_puts(&b, cmd); vs_putc(&b, '{'); vs_putn(&b, x, xl); vs_putc(&b, '}');
                p = y;
                continue;
            }
            if (*y && *y != '\n') {
                size_t yl = cp_len(y);
                vs_puts(&b, cmd); vs_putc(&b, '{'); vs_putn(&b, x, xl); vs_puts(&b, "}{"); vs_putn(&b, y, yl); vs_putc(&b, '}');
                p = y + yl;
                continue;
            }
        }
        vs_putc(&b, *p++);
    }
    free(s);
    return vs_take(&b);
}

// math_dapo.normalize_final_answer. Returns a malloc'd string or NULL (out of memory).
char *dapo_normalize(const char *in) {
    const char *eq = strrchr(in, '=');
    char *s = dupn(eq ? eq + 1 : in, strlen(eq ? eq + 1 : in));
    for (size_t k = 0; k < sizeof(DAPO_SUBST) / sizeof(DAPO_SUBST[0]); k++) s = replace_all(s, DAPO_SUBST[k][0], DAPO_SUBST[k][1]);
    for (size_t k = 0; k < sizeof(DAPO_REMOVED) / sizeof(DAPO_REMOVED[0]); k++) s = replace_all(s, DAPO_REMOVED[k], "");
    if (!s) return NULL;
    s = dapo_dollars(s);
    s = dapo_unwrap(s, "\\text{", 0);
    s = dapo_unwrap(s, "\\textbf{", 0);
    s = dapo_unwrap(s, "\\overline{", 0);
    s = dapo_unwrap(s, "\\boxed{", 1);
    s = dapo_shorthand(s, "frac", 1);
    s = dapo_shorthand(s, "sqrt", 0);
    s = replace_all(s, "$", "");
    if (!s) return NULL;
    int digits = 0, other = 0;
    for (const char *p = s; *p; p++) { if (isdigit((unsigned char)*p)) digits++; else if (*p != ',') other++; }
    if (digits && !other) s = replace_all(s, ",", "");
    return py_strip(s);
}

static int re_space(char c) { return py_space(c); }

// The group of the last match of re.findall(r"(?i)Answer\s*:\s*([^\n]+)", s): start and length.
static int dapo_last_answer(const char *s, size_t *start, size_t *len) {
    int found = 0;
    size_t n = strlen(s), pos = 0;
    while (pos + 6 <= n) {
        if (strncasecmp(s + pos, "answer", 6) != 0) { pos++; continue; }
        size_t i = pos + 6;
        while (i < n && re_space(s[i])) i++;
        if (i >= n || s[i] != ':') { pos++; continue; }
        i++;
        size_t w = i;
        while (w < n && re_space(s[w])) w++;
        size_t g = w;
        if (w >= n || s[w] == '\n') {   // \s* gives back characters until [^\n]+ can match one
            g = (size_t)-1;
            for (size_t k = w; k > i; k--) if (s[k - 1] != '\n') { g = k - 1; break; }
            if (g == (size_t)-1) { pos++; continue; }
        }
        size_t e = g;
        while (e < n && s[e] != '\n') e++;
        *start = g; *len = e - g; found = 1;
        pos = e;
    }
    return found;
}

// math_dapo.last_boxed_only_string + remove_boxed: contents of the last "\boxed{" with braces counted
// naively; NULL when none or unclosed.
static char *dapo_last_box(const char *s) {
    const char *idx = NULL;
    for (const char *p = s; (p = strstr(p, "\\boxed{")) != NULL; p++) idx = p;
    if (!idx) return NULL;
    int open = 0;
    for (const char *q = idx; *q; q++) {
        if (*q == '{') open++;
        if (*q == '}' && --open == 0) return dupn(idx + 7, (size_t)(q - idx - 7));
    }
    return NULL;
}

int verify_math_dapo(const char *gold, const char *response, char *extracted, size_t cap) {
    if (extracted && cap) extracted[0] = '\0';
    if (!gold || !response) return 0;
    const char *sol = response + tail_chars(response, DAPO_TAIL_CHARS);
    size_t st, len;
    // is_correct_minerva: the last "Answer:" line ("[INVALID]" when none), normalised, against the gold
    char *raw = dapo_last_answer(sol, &st, &len) ? dupn(sol + st, len) : dupn("[INVALID]", 9);
    char *pred = raw ? dapo_normalize(raw) : NULL, *g = dapo_normalize(gold);
    free(raw);
    int r = pred && g && !strcmp(pred, g);
    free(g);
    if (pred && !strcmp(pred, "[INVALID]")) {
        // no usable "Answer:" line: the last \boxed{} of the last 100 characters, verbatim
        char *box = dapo_last_box(sol + tail_chars(sol, DAPO_BOX_CHARS));
        if (box) { free(pred); pred = box; r = !strcmp(box, gold); }
    }
    if (pred && extracted && cap) { size_t n = strlen(pred); if (n >= cap) n = cap - 1; memcpy(extracted, pred, n); extracted[n] = '\0'; }
    free(pred);
    return r;
}

// ---- prime_math ----------------------------------------------------------------------------------
// rfind of an ASCII marker in s with ASCII case folding (response.lower().rfind(marker)).
static const char *rfind_ci(const char *s, const char *marker) {
    size_t n = strlen(s), m = strlen(marker);
    if (m > n) return NULL;
    for (size_t i = n - m + 1; i-- > 0;)
        if (!strncasecmp(s + i, marker, m)) return s + i;
    return NULL;
}
static const char *rfind_cs(const char *s, const char *marker) {
    const char *last = NULL;
    for (const char *p = s; (p = strstr(p, marker)) != NULL; p++) last = p;
    return last;
}

static char *cut_after(char *s, const char *at, size_t skip) {
    char *t = dupn(at + skip, strlen(at + skip));
    free(s);
    return py_strip(t);
}
static char *cut_before(char *s, const char *at) {
    char *t = dupn(s, (size_t)(at - s));
    free(s);
    return py_strip(t);
}

// prime_math._last_boxed_only_string: from the last \boxed (else \fbox), the first {...} group
// (braces counted naively), stripped; NULL when there is none.
static char *prime_last_box(const char *s) {
    const char *idx = rfind_cs(s, "\\boxed");
    if (!idx) idx = rfind_cs(s, "\\fbox");
    if (!idx) return NULL;
    const char *left = NULL;
    int open = 0;
    for (const char *q = idx; *q; q++) {
        if (*q == '{') { open++; if (!left) left = q; }
        else if (*q == '}' && --open == 0) { if (!left) return NULL; return py_strip(dupn(left + 1, (size_t)(q - left - 1))); }
    }
    return NULL;
}

// prime_math.match_answer: the extracted answer (malloc'd; never NULL unless out of memory).
char *prime_match_answer(const char *response) {
    char *r = dupn(response, strlen(response));
    static const char *const AFTER1[] = {"answer:", "answer is", "answers are"};
    static const char *const BEFORE[] = {"is answer", "is the answer", "are answers", "are the answers"};
    static const char *const AFTER2[] = {"be ", "is ", "are ", "=", ": ", "get ", "be\n", "is\n", "are\n", ":\n", "get\n"};
    for (size_t k = 0; r && k < 3; k++) { const char *at = rfind_ci(r, AFTER1[k]); if (at) r = cut_after(r, at, strlen(AFTER1[k])); }
    for (size_t k = 0; r && k < 4; k++) { const char *at = rfind_ci(r, BEFORE[k]); if (at) r = cut_before(r, at); }
    if (!r) return NULL;
    char *box = prime_last_box(r);
    if (box && box[0]) { free(r); r = box; } else free(box);
    const char *dot = rfind_cs(r, ". ");
    if (dot) r = cut_before(r, dot);
    for (size_t k = 0; r && k < sizeof(AFTER2) / sizeof(AFTER2[0]); k++) {
        const char *at = rfind_ci(r, AFTER2[k]);
        if (at) r = cut_after(r, at, strlen(AFTER2[k]));
    }
    return r;
}

// prime_math.math_normalize (PRM800K's copy of the Hendrycks MATH normalisation).
static char *fix_fracs(char *s) {
    if (!s || !strstr(s, "\\frac")) return s;
    VStr b;
    vs_init(&b);
    const char *p = strstr(s, "\\frac");
    vs_putn(&b, s, (size_t)(p - s));
    while (p) {
        const char *sub = p + 5, *next = strstr(sub, "\\frac");
        size_t n = next ? (size_t)(next - sub) : strlen(sub);
        vs_puts(&b, "\\frac");
        if (n >= 1 && sub[0] == '{') vs_putn(&b, sub, n);
        else {
            if (n < 2) { free(b.s); return s; }   // Python: return the input unchanged
            char a = sub[0], c = sub[1];
            if (c != '{') { vs_putc(&b, '{'); vs_putc(&b, a); vs_puts(&b, "}{"); vs_putc(&b, c); vs_putc(&b, '}'); vs_putn(&b, sub + 2, n - 2); }
            else { vs_putc(&b, '{'); vs_putc(&b, a); vs_putc(&b, '}'); vs_putc(&b, c); vs_putn(&b, sub + 2, n - 2); }
        }
        p = next;
    }
    free(s);
    return vs_take(&b);
}

static int py_int(const char *s, size_t n, long long *v) {   // int(s) for a plain optionally signed integer
    size_t i = 0;
    while (i < n && py_space(s[i])) i++;
    while (n > i && py_space(s[n - 1])) n--;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    if (i == n) return 0;
    for (size_t k = i; k < n; k++) if (!isdigit((unsigned char)s[k]) && !(s[k] == '_' && k > i && k + 1 < n)) return 0;
    char buf[32];
    if (n - 0 >= sizeof(buf)) return 0;
    size_t w = 0;
    for (size_t k = 0; k < n; k++) if (s[k] != '_' && !py_space(s[k])) buf[w++] = s[k];
    buf[w] = '\0';
    *v = strtoll(buf, NULL, 10);
    return 1;
}

static char *fix_a_slash_b(char *s) {
    const char *sl = strchr(s, '/');
    if (!sl || strchr(sl + 1, '/')) return s;
    long long a, b;
    if (!py_int(s, (size_t)(sl - s), &a) || !py_int(sl + 1, strlen(sl + 1), &b)) return s;
    char canon[64];
    snprintf(canon, sizeof canon, "%lld/%lld", a, b);
    if (strcmp(canon, s) != 0) return s;
    char out[96];
    snprintf(out, sizeof out, "\\frac{%lld}{%lld}", a, b);
    free(s);
    return dupn(out, strlen(out));
}

static char *fix_sqrt(char *s) {
    if (!s || !strstr(s, "\\sqrt")) return s;
    VStr b;
    vs_init(&b);
    const char *p = strstr(s, "\\sqrt");
    vs_putn(&b, s, (size_t)(p - s));
    while (p) {
        const char *sub = p + 5, *next = strstr(sub, "\\sqrt");
        size_t n = next ? (size_t)(next - sub) : strlen(sub);
        if (n == 0) { free(b.s); return s; }   // split[0] raises: input unchanged
        if (sub[0] != '{') { vs_puts(&b, "\\sqrt{"); vs_putc(&b, sub[0]); vs_putc(&b, '}'); vs_putn(&b, sub + 1, n - 1); }
        else { vs_puts(&b, "\\sqrt"); vs_putn(&b, sub, n); }
        p = next;
    }
    free(s);
    return vs_take(&b);
}

char *prime_mathd_normalize(const char *answer) {
    char *s = py_strip(dupn(answer, strlen(answer)));
    if (!s) return NULL;
    // ^\\text\{(?P<text>.+?)\}$ : the whole answer one \text{...} (lazy, so up to the last '}' that ends it)
    size_t n = strlen(s);
    if (n > 7 && !strncmp(s, "\\text{", 6) && s[n - 1] == '}' && !memchr(s, '\n', n)) {
        char *t = dupn(s + 6, n - 7);
        free(s);
        s = py_strip(t);
    }
    char *orig = s ? dupn(s, strlen(s)) : NULL;
    s = replace_all(s, "\n", "");
    s = replace_all(s, "\\!", "");
    s = replace_all(s, "\\\\", "\\");
    s = replace_all(s, "tfrac", "frac");
    s = replace_all(s, "dfrac", "frac");
    s = replace_all(s, "\\left", "");
    s = replace_all(s, "\\right", "");
    s = replace_all(s, "^{\\circ}", "");
    s = replace_all(s, "^\\circ", "");
    s = replace_all(s, "\\$", "");
    if (s) {   // _remove_right_units: "\text{ " must occur exactly once (an assert: the input comes back)
        const char *u = strstr(s, "\\text{ ");
        if (u) {
            if (strstr(u + 1, "\\text{ ")) { free(s); return orig; }
            s[u - s] = '\0';
        }
    }
    s = replace_all(s, "\\\\%", "");
    s = replace_all(s, "\\%", "");
    s = replace_all(s, " .", " 0.");
    s = replace_all(s, "{.", "{0.");
    if (!s) { free(orig); return NULL; }
    if (!s[0]) { free(orig); return s; }
    if (s[0] == '.') { char *t = malloc(strlen(s) + 2); if (t) { t[0] = '0'; strcpy(t + 1, s); } free(s); s = t; }
    if (s) {
        const char *e = strchr(s, '=');
        if (e && !strchr(e + 1, '=') && (size_t)(e - s) <= 2) { char *t = dupn(e + 1, strlen(e + 1)); free(s); s = t; }
    }
    s = fix_sqrt(s);
    s = replace_all(s, " ", "");
    s = fix_fracs(s);
    if (s && !strcmp(s, "0.5")) { free(s); s = dupn("\\frac{1}{2}", 11); }
    if (s) s = fix_a_slash_b(s);
    free(orig);
    return s;
}

// float(s) in Python for a plain decimal literal (surrounding spaces allowed).
static int plain_number(const char *s, double *v) {
    while (py_space(*s)) s++;
    if (!s[0]) return 0;
    char *end;
    *v = strtod(s, &end);
    while (py_space(*end)) end++;
    return *end == '\0' && (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.');
}

// s without the characters PRIME's number tests ignore: thousands commas, \!, dollar and percent signs,
// \left / \right, and brackets around a single element (its split_tuple reads "(42)" as 42).
static char *prime_bare(const char *s) {
    char *t = dupn(s, strlen(s));
    t = replace_all(t, "\\left", "");
    t = replace_all(t, "\\right", "");
    if (t) {
        size_t n = strlen(t);
        if (n > 2 && strchr("([", t[0]) && strchr(")]", t[n - 1])) {
            size_t k = 1;
            while (k < n - 1 && !strchr("()[],", t[k])) k++;
            if (k == n - 1) { memmove(t, t + 1, n - 2); t[n - 2] = '\0'; }
        }
    }
    t = replace_all(t, "\\!", "");
    t = replace_all(t, "\\%", "");
    t = replace_all(t, "\\$", "");
    static const char *const DROP[] = {",", "$", "%", " "};
    for (int k = 0; k < 4; k++) t = replace_all(t, DROP[k], "");
    return t;
}

// grade_answer's _str_is_int: a number within 1e-7 of an integer.
static int prime_is_int(const char *bare) {
    double v;
    return plain_number(bare, &v) && fabs(v - round(v)) <= 1e-7;
}

// grade_answer's _is_frac: "a/b" or \frac{a}{b} with integers; fills a canonical "a/b".
static int prime_frac(const char *bare, char *out, size_t cap) {
    long long a, b;
    char tail;
    if (sscanf(bare, "\\frac{%lld}{%lld}%c", &a, &b, &tail) == 2 || sscanf(bare, "\\dfrac{%lld}{%lld}%c", &a, &b, &tail) == 2 ||
        sscanf(bare, "%lld/%lld%c", &a, &b, &tail) == 2) {
        if (b <= 0) return 0;
        snprintf(out, cap, "%lld/%lld", a, b);
        return 1;
    }
    return 0;
}

// str.replace of every character of chars by "" (math_equal's bracket-blind comparison).
static char *drop_chars(const char *s, const char *chars) {
    char *t = dupn(s, strlen(s));
    if (!t) return NULL;
    size_t w = 0;
    for (size_t r = 0; t[r]; r++) if (!strchr(chars, t[r])) t[w++] = t[r];
    t[w] = '\0';
    return t;
}

// PRIME's verdict after its extraction: grade_answer (string normalisation, then per element: a
// fraction only equals the same fraction, an integer gold needs an integer answer, else sympy
// simplification, for which our exact comparer stands in), then math_equal (plain numbers within
// 1e-4, also read as a percent; string equality ignoring case, spaces or brackets).
static int prime_equal(const char *gold, const char *ans) {
    char *ng = prime_mathd_normalize(gold), *np = prime_mathd_normalize(ans);
    int r = ng && np && !strcmp(ng, np);
    free(ng); free(np);
    if (r || !ans[0]) return r;
    char *bg = prime_bare(gold), *bp = prime_bare(ans);
    if (bg && bp) {
        char fg[64], fp[64];
        if (prime_frac(bg, fg, sizeof fg) && prime_frac(bp, fp, sizeof fp)) r = !strcmp(fg, fp);
        else if (prime_is_int(bg) == prime_is_int(bp)) r = math_answer_equal(gold, ans, NULL);
        double g, p;   // math_equal: both plain numbers, isclose(rel_tol=1e-4) against gold, gold/100, gold*100
        if (!r && plain_number(bg, &g) && plain_number(bp, &p))
            for (int k = 0; k < 3 && !r; k++) {
                double t = k == 0 ? g : k == 1 ? g / 100.0 : g * 100.0;
                r = fabs(t - p) <= PRIME_TOL * fmax(fabs(t), fabs(p));
            }
    }
    free(bg); free(bp);
    if (!r) {   // math_equal's string comparisons
        char *a = drop_chars(ans, " "), *b = drop_chars(gold, " ");
        r = a && b && !strcmp(a, b);
        free(a); free(b);
        if (!r) { a = drop_chars(ans, "{}() "); b = drop_chars(gold, "{}() "); r = a && b && a[0] && !strcmp(a, b); free(a); free(b); }
    }
    return r;
}

int verify_prime_math(const char *gold, const char *response, char *extracted, size_t cap) {
    if (extracted && cap) extracted[0] = '\0';
    if (!gold || !response) return 0;
    char *ans = prime_match_answer(response);
    if (!ans) return 0;
    if (extracted && cap) { size_t n = strlen(ans); if (n >= cap) n = cap - 1; memcpy(extracted, ans, n); extracted[n] = '\0'; }
    int r = prime_equal(gold, ans);
    free(ans);
    return r;
}
