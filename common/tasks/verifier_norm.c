// Answer normalisation: rewrites a LaTeX answer into a canonical string so that presentation
// differences (spacing, \left, \dfrac, degree signs, units, dollar signs, thousands separators, ...)
// disappear before anything is compared. Only rewrites that never change the value are done here.
#include "common/tasks/verifier_impl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

// ---- growable string ---------------------------------------------------------------------------
void vs_init(VStr *b) { b->s = NULL; b->n = b->cap = 0; b->oom = 0; }
void vs_putn(VStr *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p; b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
void vs_puts(VStr *b, const char *s) { vs_putn(b, s, strlen(s)); }
void vs_putc(VStr *b, char c) { vs_putn(b, &c, 1); }
char *vs_take(VStr *b) {
    if (b->oom) { free(b->s); return NULL; }
    if (!b->s) vs_putn(b, "", 0);
    if (b->oom) { free(b->s); return NULL; }
    return b->s;
}

// ---- helpers -----------------------------------------------------------------------------------
static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static size_t cmd_len(const char *p) {   // letters after a backslash
    size_t n = 0;
    while (is_letter(p[n])) n++;
    return n;
}

static int name_in(const char *p, size_t n, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == n && !strncmp(p, list[i], n)) return 1;
    return 0;
}

static void trim_inplace(char *s) {
    size_t n = strlen(s), a = 0;
    while (a < n && (s[a] == ' ')) a++;
    while (n > a && s[n - 1] == ' ') n--;
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
}

static void strip_trailing_periods(char *s) {
    for (;;) {
        trim_inplace(s);
        size_t n = strlen(s);
        if (n >= 2 && s[n - 1] == '.' && s[n - 2] == '\\') return;   // "\." is not a period
        if (n && s[n - 1] == '.') s[n - 1] = '\0';
        else if (n >= 2 && s[n - 1] == '\\' && s[n - 2] == '\\') s[n - 2] = '\0';   // stray line break
        else return;
    }
}

// Given p at '{', returns the index just past its matching '}' (escaped braces skipped), or 0.
static size_t match_brace(const char *s, size_t p) {
    int depth = 0;
    for (size_t i = p; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1]) { i++; continue; }
        if (s[i] == '{') depth++;
        else if (s[i] == '}' && --depth == 0) return i + 1;
    }
    return 0;
}

// Matches "^\circ", "^{\circ}", "^{ \circ }", "\circ", "^\degree", "\degree" at s; returns its length.
static size_t degree_len(const char *s) {
    size_t i = 0;
    int braced = 0;
    if (s[i] == '^') {
        i++;
        while (s[i] == ' ') i++;
        if (s[i] == '{') { braced = 1; i++; while (s[i] == ' ') i++; }
    }
    size_t n = 0;
    if (!strncmp(s + i, "\\circ", 5) && !is_letter(s[i + 5])) n = 5;
    else if (!strncmp(s + i, "\\degree", 7) && !is_letter(s[i + 7])) n = 7;
    if (!n) return 0;
    i += n;
    if (braced) {
        while (s[i] == ' ') i++;
        if (s[i] != '}') return 0;
        i++;
    }
    return i;
}

static const char *const REMOVE_CMDS[] = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big",
    "bigg", "Bigg", "biggl", "biggr", "Biggl", "Biggr", "displaystyle", "textstyle", "limits", NULL};
static const char *const TEXT_CMDS[] = {"text", "textbf", "textit", "textrm", "textsf", "texttt", "textnormal",
    "mbox", "mathrm", "mathbf", "mathit", "mathsf", "mathtt", "boldsymbol", "hbox", NULL};

char *vnorm_light(const char *in) {
    size_t len = strlen(in);
    if (len > VERIFY_MAX_ANSWER) return NULL;
    VStr b;
    vs_init(&b);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        size_t dl = degree_len(in + i);
        if (dl) { i += dl; continue; }
        if (c == '\\') {
            size_t n = cmd_len(in + i + 1);
            const char *name = in + i + 1;
            if (n == 0) {
                char d = in[i + 1];
                if (d == '!' || d == ',' || d == ';' || d == ':' || d == ' ') { vs_putc(&b, ' '); i += 2; continue; }
                if (d == '%' || d == '$') { i += 2; continue; }
                if (d == '(' || d == ')' || d == '[' || d == ']') {
                    // \( \) \[ \] are math delimiters, never part of an answer
                    i += 2; continue;
                }
                if (d) { vs_putn(&b, in + i, 2); i += 2; } else i++;
                continue;
            }
            if (name_in(name, n, REMOVE_CMDS)) {
                i += 1 + n;
                if ((n == 4 || n == 5) && in[i] == '.') i++;   // \left. \right.
                continue;
            }
            if (name_in(name, n, (const char *const[]){"quad", "qquad", NULL})) { vs_putc(&b, ' '); i += 1 + n; continue; }
            if (name_in(name, n, (const char *const[]){"dfrac", "tfrac", "cfrac", NULL})) { vs_puts(&b, "\\frac"); i += 1 + n; continue; }
            if (name_in(name, n, (const char *const[]){"dbinom", "tbinom", NULL})) { vs_puts(&b, "\\binom"); i += 1 + n; continue; }
            if (name_in(name, n, TEXT_CMDS)) { vs_puts(&b, "\\text"); i += 1 + n; continue; }
            if (n == 12 && !strncmp(name, "operatorname", 12)) {
                // \operatorname{foo} -> \foo
                size_t j = i + 13;
                while (in[j] == ' ') j++;
                size_t e = in[j] == '{' ? match_brace(in, j) : 0;
                if (e) {
                    vs_putc(&b, '\\');
                    for (size_t k = j + 1; k + 1 < e; k++) if (in[k] != ' ') vs_putc(&b, in[k]);
                    vs_putc(&b, ' ');
                    i = e;
                    continue;
                }
            }
            vs_putn(&b, in + i, 1 + n);
            i += 1 + n;
            continue;
        }
        if (c == '$' || c == '%') { i++; continue; }
        if (c == '\t' || c == '\n' || c == '\r' || c == '~') { vs_putc(&b, ' '); i++; continue; }
        if (c == 0xC2 && (unsigned char)in[i + 1] == 0xB0) { i += 2; continue; }                   // degree sign
        if (c == 0xC2 && (unsigned char)in[i + 1] == 0xB7) { vs_puts(&b, "*"); i += 2; continue; }   // middle dot
        if (c == 0xC3 && (unsigned char)in[i + 1] == 0x97) { vs_puts(&b, "*"); i += 2; continue; }   // times sign
        if (c == 0xE2 && (unsigned char)in[i + 1] == 0x88 && (unsigned char)in[i + 2] == 0x92) { vs_putc(&b, '-'); i += 3; continue; }
        if (c == 0xE2 && (unsigned char)in[i + 1] == 0x88 && (unsigned char)in[i + 2] == 0x9E) { vs_puts(&b, "\\infty "); i += 3; continue; }
        if (c == 0xCF && (unsigned char)in[i + 1] == 0x80) { vs_puts(&b, "\\pi "); i += 2; continue; }
        vs_putc(&b, (char)c);
        i++;
    }
    char *s = vs_take(&b);
    if (!s) return NULL;
    strip_trailing_periods(s);
    // Trailing units in \text{...}: "5.4 \text{ cents}", "864 \text{ inches}^2". Only after a value.
    for (int rep = 0; rep < 2; rep++) {
        size_t n = strlen(s);
        size_t end = n;
        // optional ^2 / ^3 / ^{2} / ^{3} after the unit
        if (end >= 2 && s[end - 2] == '^' && (s[end - 1] == '2' || s[end - 1] == '3')) end -= 2;
        else if (end >= 4 && !strncmp(s + end - 4, "^{", 2) && (s[end - 2] == '2' || s[end - 2] == '3') && s[end - 1] == '}') end -= 4;
        if (end == 0 || s[end - 1] != '}') break;
        // find the "\text{" that opens this group
        size_t open = 0; int found = 0;
        for (size_t k = 0; k + 5 < end; k++) {
            if (!strncmp(s + k, "\\text", 5) && !is_letter(s[k + 5])) {
                size_t j = k + 5;
                while (s[j] == ' ') j++;
                if (s[j] == '{' && match_brace(s, j) == end) { open = k; found = 1; }
            }
        }
        if (!found || open == 0) break;
        int has_letter = 0;
        for (size_t k = open; k < end; k++) if (is_letter(s[k]) && k > open + 5) has_letter = 1;
        size_t p = open;
        while (p > 0 && s[p - 1] == ' ') p--;
        if (!has_letter || p == 0) break;
        char last = s[p - 1];
        if (!(is_digit(last) || last == '}' || last == ')' || last == '.' || is_letter(last))) break;
        s[p] = '\0';
        strip_trailing_periods(s);
    }
    return s;
}

static const char *const UNIT_WORDS[] = {"cm", "mm", "km", "meters", "meter", "metres", "metre", "inches",
    "inch", "feet", "foot", "ft", "yards", "yard", "yd", "miles", "mile", "mph", "units", "unit", "degrees",
    "degree", "cents", "cent", "dollars", "dollar", "hours", "hour", "hrs", "hr", "minutes", "minute", "mins",
    "seconds", "days", "day", "weeks", "week", "years", "year", "sq", "square", "cubic", "liters", "liter",
    "litres", "ml", "kg", "grams", "gram", "pounds", "lbs", "lb", "ounces", "oz", "people", "students",
    "points", "ways", "percent", "cups", "gallons", "gallon", NULL};

// Removes "\text" wrappers: \text{X} -> X ("\text{ and }" / "\text{or}" -> ",").
static char *unwrap_text(const char *s) {
    VStr b;
    vs_init(&b);
    for (size_t i = 0; s[i];) {
        if (!strncmp(s + i, "\\text", 5) && !is_letter(s[i + 5])) {
            size_t j = i + 5;
            while (s[j] == ' ') j++;
            size_t e = s[j] == '{' ? match_brace(s, j) : 0;
            if (e) {
                size_t a = j + 1, z = e - 1;
                while (a < z && (s[a] == ' ' || s[a] == ',')) a++;   // "\text{, and }"
                while (z > a && s[z - 1] == ' ') z--;
                if ((z - a == 3 && !strncmp(s + a, "and", 3)) || (z - a == 2 && !strncmp(s + a, "or", 2))) {
                    size_t k = b.n;
                    while (k > 0 && b.s[k - 1] == ' ') k--;
                    if (!(k > 0 && b.s[k - 1] == ',')) vs_putc(&b, ',');   // "2, 3, \text{and} 4"
                }
                else {
                    vs_putc(&b, ' ');
                    vs_putn(&b, s + j + 1, e - 1 - (j + 1));
                    vs_putc(&b, ' ');
                }
                i = e;
                continue;
            }
        }
        vs_putc(&b, s[i]);
        i++;
    }
    return vs_take(&b);
}

// Whitespace is dropped except where it separates two tokens that would otherwise merge: a command
// name and a following letter ("\cot x"), or two digits ("1 000").
static char *collapse_spaces(const char *s) {
    VStr b;
    vs_init(&b);
    for (size_t i = 0; s[i];) {
        if (s[i] == ' ') {
            size_t j = i;
            while (s[j] == ' ') j++;
            if (b.n && s[j]) {
                char prev = b.s[b.n - 1], next = s[j];
                int keep = 0;
                if (is_digit(prev) && is_digit(next)) keep = 1;
                else if (is_letter(prev) && is_letter(next)) {
                    size_t k = b.n;
                    while (k > 0 && is_letter(b.s[k - 1])) k--;
                    if (k > 0 && b.s[k - 1] == '\\') keep = 1;
                }
                if (keep) vs_putc(&b, ' ');
            }
            i = j;
            continue;
        }
        vs_putc(&b, s[i]);
        i++;
    }
    return vs_take(&b);
}

// "1,234,567" / "1 234 567" (optionally signed, optional decimals) -> "1234567".
static void drop_thousands(char *s) {
    size_t i = 0;
    if (s[i] == '-' || s[i] == '+') i++;
    size_t d = 0;
    while (is_digit(s[i + d])) d++;
    if (d < 1 || d > 3) return;
    char sep = s[i + d];
    if (sep != ',' && sep != ' ') return;
    size_t k = i + d;
    int groups = 0;
    while (s[k] == sep) {
        for (int t = 1; t <= 3; t++) if (!is_digit(s[k + t])) return;
        k += 4;
        groups++;
    }
    if (!groups || is_digit(s[k])) return;
    if (s[k] == '.') { k++; if (!is_digit(s[k])) return; while (is_digit(s[k])) k++; }
    if (s[k] != '\0') return;
    size_t w = 0;
    for (size_t r = 0; s[r]; r++) if (s[r] != sep) s[w++] = s[r];
    s[w] = '\0';
}

// Inside a {...} group (e.g. \frac{1}{29,322,216}) a comma between digit groups of three is a
// thousands separator: such a group cannot hold a list. Escaped set braces \{ \} are left alone.
static void drop_thousands_in_groups(char *s) {
    char *t = malloc(strlen(s) + 1);
    if (!t) return;
    strcpy(t, s);
    int depth = 0;
    size_t w = 0;
    for (size_t r = 0; t[r]; r++) {
        char ch = t[r];
        if (ch == '\\' && (t[r + 1] == '{' || t[r + 1] == '}')) { s[w++] = t[r++]; s[w++] = t[r]; continue; }
        if (ch == '{') depth++;
        else if (ch == '}') depth--;
        if (ch == ',' && depth > 0 && r > 0 && is_digit(t[r - 1]) && is_digit(t[r + 1]) && is_digit(t[r + 2]) &&
            is_digit(t[r + 3]) && !is_digit(t[r + 4])) {
            size_t k = r;
            int lead = 0;
            while (k > 0 && is_digit(t[k - 1])) k--, lead++;
            if (lead <= 3 && (k == 0 || t[k - 1] == '{' || t[k - 1] == ',')) continue;
        }
        s[w++] = ch;
    }
    s[w] = '\0';
    free(t);
}

static void strip_unit_words(char *s) {
    for (int rep = 0; rep < 2; rep++) {
        size_t n = strlen(s);
        while (n && s[n - 1] == ' ') n--;
        size_t end = n;
        if (end >= 2 && s[end - 2] == '^' && (s[end - 1] == '2' || s[end - 1] == '3')) end -= 2;
        else if (end >= 4 && !strncmp(s + end - 4, "^{", 2) && s[end - 1] == '}') end -= 4;
        size_t a = end;
        while (a > 0 && is_letter(s[a - 1])) a--;
        if (a == end || a == 0 || !name_in(s + a, end - a, UNIT_WORDS)) return;
        char before = s[a - 1];
        if (before != ' ' && !is_digit(before)) return;   // "\sec", "xcm" are not units
        size_t p = a;
        while (p > 0 && s[p - 1] == ' ') p--;
        if (p == 0) return;
        s[p] = '\0';
    }
}

char *vnorm_full(const char *light) {
    char *u = unwrap_text(light);
    if (!u) return NULL;
    trim_inplace(u);
    // "x \in [a, b]" -> "[a, b]"
    {
        size_t i = 0;
        if (is_letter(u[0])) {
            i = 1;
            while (u[i] == ' ') i++;
            if (!strncmp(u + i, "\\in", 3) && !is_letter(u[i + 3])) {
                memmove(u, u + i + 3, strlen(u + i + 3) + 1);
                trim_inplace(u);
            }
        }
    }
    // "np.arcsin(x)" (NumPy spelling in some gold answers)
    for (char *p; (p = strstr(u, "np.")) != NULL && (p == u || !is_letter(p[-1]));) memmove(p, p + 3, strlen(p + 3) + 1);
    strip_unit_words(u);
    char *c = collapse_spaces(u);
    free(u);
    if (!c) return NULL;
    // thousands separators written as "{,}"
    for (char *p; (p = strstr(c, "{,}")) != NULL;) { p[0] = ','; memmove(p + 1, p + 3, strlen(p + 3) + 1); }
    drop_thousands(c);
    drop_thousands_in_groups(c);
    strip_trailing_periods(c);
    return c;
}

char *vnorm_text(const char *s) {
    char *u = unwrap_text(s);
    if (!u) return NULL;
    size_t w = 0;
    for (size_t i = 0; u[i]; i++) {
        char ch = u[i];
        if (ch == ' ' || ch == '{' || ch == '}') continue;
        u[w++] = (char)tolower((unsigned char)ch);
    }
    u[w] = '\0';
    strip_trailing_periods(u);
    return u;
}
