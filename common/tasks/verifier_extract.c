// Answer extraction: the last \boxed{...} / \fbox{...} of a response, with nested braces.
#include "common/tasks/verifier.h"

#include <string.h>
#include <strings.h>

// The next "\boxed" or "\fbox" at or after s, in one pass (two strstr calls per box would make a
// long response quadratic).
static const char *next_box(const char *s, size_t *cmdlen) {
    for (const char *p = s; (p = strchr(p, '\\')) != NULL; p++) {
        if (!strncmp(p + 1, "boxed", 5)) { *cmdlen = 6; return p; }
        if (!strncmp(p + 1, "fbox", 4)) { *cmdlen = 5; return p; }
    }
    return NULL;
}

int boxed_count(const char *response) {
    int n = 0;
    size_t cl;
    for (const char *p = response; p && (p = next_box(p, &cl)) != NULL; p += cl) n++;
    return n;
}

// Reads the argument of one box command whose name ends at `p`. Braced: matched by depth, where
// escaped characters (\{ \} \\) never count. Unbraced ("\boxed 5"): up to whitespace or '$'.
static int box_argument(const char *p, size_t *start, size_t *len, const char *base) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) return 0;  // e.g. \boxedfoo
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (*p == '{') {
        int depth = 0;
        const char *q = p;
        for (; *q; q++) {
            if (*q == '\\' && q[1]) { q++; continue; }
            if (*q == '{') depth++;
            else if (*q == '}' && --depth == 0) break;
        }
        if (!*q) return 0;
        *start = (size_t)(p + 1 - base);
        *len = (size_t)(q - p - 1);
        return 1;
    }
    const char *q = p;
    while (*q && *q != ' ' && *q != '\t' && *q != '\n' && *q != '$') q++;
    if (q == p) return 0;
    *start = (size_t)(p - base);
    *len = (size_t)(q - p);
    return 1;
}

int find_boxed_last(const char *response, size_t *start, size_t *len) {
    if (!response) return 0;
    const char *last = NULL, *p = response;
    size_t cl = 0, last_cl = 0;
    while ((p = next_box(p, &cl)) != NULL) { last = p; last_cl = cl; p += cl; }
    if (!last) return 0;
    return box_argument(last + last_cl, start, len, response);
}

long extract_boxed_last(const char *response, char *out, size_t cap) {
    size_t start, len;
    if (out && cap) out[0] = '\0';
    if (!find_boxed_last(response, &start, &len)) return -1;
    if (out && cap) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(out, response + start, n);
        out[n] = '\0';
    }
    return (long)len;
}

// Without any box: the answer stated after the last "answer:" / "answer is" (any case). A $...$,
// \(...\) or \[...\] right after the marker is the answer; otherwise the rest of the line up to a
// sentence end (". "). Only a short statement counts.
#define ANSWER_STATEMENT_MAX 512
int find_answer_statement(const char *response, size_t *start, size_t *len) {
    if (!response || boxed_count(response) > 0) return 0;
    const char *best = NULL;
    for (const char *p = response; *p; p++) {
        if (strncasecmp(p, "answer", 6) != 0) continue;
        const char *q = p + 6;
        while (*q == ' ' || *q == '*') q++;
        if (*q == ':') q++;
        else if (!strncmp(q, "is", 2) && (q[2] == ' ' || q[2] == ':' || q[2] == '\n' || q[2] == '$' || q[2] == '\\')) { q += 2; if (*q == ':') q++; }
        else continue;
        best = q;
    }
    if (!best) return 0;
    const char *a = best;
    while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r' || *a == '*') a++;   // "**Answer:** 5"
    const char *z = NULL;
    static const char *const DELIMS[][2] = {{"$$", "$$"}, {"$", "$"}, {"\\(", "\\)"}, {"\\[", "\\]"}};
    for (int k = 0; k < 4 && !z; k++) {
        size_t ol = strlen(DELIMS[k][0]);
        if (strncmp(a, DELIMS[k][0], ol) != 0) continue;
        const char *e = a + ol;
        while ((e = strstr(e, DELIMS[k][1])) != NULL && e[-1] == '\\' && DELIMS[k][1][0] == '$') e++;   // "\$" is a dollar sign
        if (!e) return 0;   // an unclosed formula: a truncated response
        a += ol;
        z = e;
    }
    if (!z) {
        z = a;
        while (*z && *z != '\n' && !(z[0] == '.' && (z[1] == ' ' || z[1] == '\n'))) z++;
    }
    while (a < z && (*a == ' ' || *a == '\t')) a++;
    if (z == a || (size_t)(z - a) > ANSWER_STATEMENT_MAX) return 0;
    *start = (size_t)(a - response);
    *len = (size_t)(z - a);
    return 1;
}
