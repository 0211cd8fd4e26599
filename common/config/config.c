// Config schema, typed parsing, YAML loading (libyaml events), printing and validation.
// The schema table is generated from RLVR_CONFIG_KEYS in config.h; nothing here names a key except
// the cross-key checks in config_validate().
#include "common/config/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/core/check.h"

static const CfgKey SCHEMA[] = {
#define CFG_ROW_(field, key, type, def, cons, help) {key, #field, CFG_##type, def, cons, help, offsetof(RlvrConfig, field)},
    RLVR_CONFIG_KEYS(CFG_ROW_)
#undef CFG_ROW_
};
#define NKEYS ((int)(sizeof(SCHEMA) / sizeof(SCHEMA[0])))

const CfgKey *config_schema(int *n) {
    if (n) *n = NKEYS;
    return SCHEMA;
}

const CfgKey *config_find_key(const char *key) {
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(SCHEMA[i].key, key) == 0) return &SCHEMA[i];
    return NULL;
}

const char *config_type_name(CfgType t) {
    switch (t) {
    case CFG_INT: return "integer";
    case CFG_FLOAT: return "number";
    case CFG_BOOL: return "boolean (true/false)";
    case CFG_STR: return "string";
    case CFG_OPTFLOAT: return "number or null";
    case CFG_PAIR: return "pair of numbers [a, b]";
    case CFG_OPTPAIR: return "pair of numbers [a, b] or null";
    case CFG_WORDS: return "list of words [a, b]";
    }
    return "?";
}

// A key is a section when some schema key starts with "key.".
static int is_section(const char *prefix) {
    size_t n = strlen(prefix);
    for (int i = 0; i < NKEYS; i++)
        if (strncmp(SCHEMA[i].key, prefix, n) == 0 && SCHEMA[i].key[n] == '.') return 1;
    return 0;
}

// ---- suggestions ---------------------------------------------------------------------------------

static size_t edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 200 || nb > 200) return (size_t)-1;
    size_t row[201];
    for (size_t j = 0; j <= nb; j++) row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

// Candidates are every key and every section name ("actor", "actor.optim", ...).
int config_suggest(const char *key, char *out, size_t outlen) {
    size_t bestd = (size_t)-1;
    char cand[256];
    if (outlen) out[0] = 0;
    for (int i = 0; i < NKEYS; i++) {
        const char *s = SCHEMA[i].key;
        size_t full = strlen(s);
        for (size_t len = 1; len <= full && len < sizeof(cand); len++) {
            if (len < full && s[len] != '.') continue;
            memcpy(cand, s, len);
            cand[len] = 0;
            size_t d = edit_distance(key, cand);
            if (d < bestd) { bestd = d; snprintf(out, outlen, "%s", cand); }
        }
    }
    size_t lim = strlen(key) / 3;
    if (lim < 2) lim = 2;
    if (bestd <= lim) return 1;
    // The right leaf under the wrong section ("actor.lr" -> "actor.optim.lr").
    const char *leaf = strrchr(key, '.');
    leaf = leaf ? leaf + 1 : key;
    for (int i = 0; i < NKEYS; i++) {
        const char *l = strrchr(SCHEMA[i].key, '.');
        if (l && strcmp(l + 1, leaf) == 0) { snprintf(out, outlen, "%s", SCHEMA[i].key); return 1; }
    }
    if (outlen) out[0] = 0;
    return 0;
}

static int unknown_key_err(const char *where, const char *key, char *err, size_t errlen) {
    char s[256];
    if (config_suggest(key, s, sizeof(s))) return rlvr_err(err, errlen, "%s: unknown key '%s' (did you mean '%s'?)", where, key, s);
    return rlvr_err(err, errlen, "%s: unknown key '%s' (run with --help-config for the list of keys)", where, key);
}


// ---- typed values --------------------------------------------------------------------------------

// Interval constraint "[lo,hi]" / "(lo,)" / ...; returns 1 when x satisfies it (or there is none).
static int parse_interval(const char *cons, int *lo_incl, double *lo, int *hi_incl, double *hi) {
    if (!cons || (cons[0] != '[' && cons[0] != '(')) return 0;
    *lo_incl = cons[0] == '[';
    const char *p = cons + 1;
    char *end;
    *lo = -INFINITY;
    if (*p != ',') { *lo = strtod(p, &end); p = end; }
    if (*p != ',') return 0;
    p++;
    *hi = INFINITY;
    if (*p != ']' && *p != ')') { *hi = strtod(p, &end); p = end; }
    *hi_incl = *p == ']';
    return 1;
}

static int in_interval(const char *cons, double x) {
    int li, hi_i;
    double lo, hi;
    if (!parse_interval(cons, &li, &lo, &hi_i, &hi)) return 1;
    if (li ? x < lo : x <= lo) return 0;
    if (hi_i ? x > hi : x >= hi) return 0;
    return 1;
}

// "a number > 0", "an integer in [1, 9]", ...
static void describe(const CfgKey *k, char *buf, size_t n) {
    const char *what = k->type == CFG_INT ? "an integer" : k->type == CFG_BOOL ? "true or false"
                     : k->type == CFG_STR ? "a string" : k->type == CFG_FLOAT ? "a number"
                     : k->type == CFG_OPTFLOAT ? "a number or null"
                     : k->type == CFG_PAIR ? "a pair [a, b]" : k->type == CFG_WORDS ? "a list of words"
                     : "a pair [a, b] or null";
    int li, hi_i;
    double lo, hi;
    if (k->type == CFG_STR && k->constraint[0]) {
        snprintf(buf, n, "one of %s", k->constraint);
    } else if (k->type == CFG_WORDS) {
        snprintf(buf, n, "a list of words, each one of %s, e.g. [%.*s]", k->constraint, (int)strcspn(k->constraint, "|"), k->constraint);
    } else if (parse_interval(k->constraint, &li, &lo, &hi_i, &hi)) {
        const char *elem = (k->type == CFG_PAIR || k->type == CFG_OPTPAIR) ? " (each element)" : "";
        if (isinf(hi)) snprintf(buf, n, "%s%s %s %g", what, elem, li ? ">=" : ">", lo);
        else if (isinf(lo)) snprintf(buf, n, "%s%s %s %g", what, elem, hi_i ? "<=" : "<", hi);
        else snprintf(buf, n, "%s%s in %c%g, %g%c", what, elem, li ? '[' : '(', lo, hi, hi_i ? ']' : ')');
    } else {
        snprintf(buf, n, "%s", what);
    }
}

static int type_err(const CfgKey *k, const char *where, const char *got, char *err, size_t errlen) {
    char d[160];
    describe(k, d, sizeof(d));
    return rlvr_err(err, errlen, "%s: %s = '%s': expected %s", where, k->key, got, d);
}

static int parse_float_text(const char *s, double *out) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    if (*end || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_int_text(const char *s, int64_t *out) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (*end == 0 && errno == 0) { *out = v; return 0; }
    // Accept integral numbers written as floats (1e6, 512.0) when exact.
    double d;
    if (parse_float_text(s, &d) != 0 || d != floor(d) || fabs(d) > 9007199254740992.0) return -1;
    *out = (int64_t)d;
    return 0;
}

static int parse_bool_text(const char *s, bool *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return -1;
}

static int is_null_text(const char *s) {
    return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int valid_utf8(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : (*s & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0) return 0;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xC0) != 0x80) return 0;
    }
    return 1;
}

// A value as it arrives from YAML or the command line.
typedef struct {
    int is_null;
    int is_list;
    int n;                 // list length
    const char *text;      // scalar text
    const char *items[8];  // list items
} RawValue;

static int check_number(const CfgKey *k, const char *where, const char *text, double x, char *err, size_t errlen) {
    if (!in_interval(k->constraint, x)) return type_err(k, where, text, err, errlen);
    return 0;
}

static int word_allowed(const char *cons, const char *w, size_t n) {
    for (const char *p = cons; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, w, n) == 0) return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

// A WORDS value from a list [a, b] or the text "a,b" (one YAML scalar): each word trimmed, allowed by
// the constraint, given once; stored as "a,b" in `out`.
static int set_words(const CfgKey *k, const RawValue *v, char *out, const char *where, char *err, size_t errlen) {
    char joined[CONFIG_STR_MAX];
    size_t o = 0;
    joined[0] = 0;
    int n = v->is_null ? 0 : v->is_list ? v->n : 1;
    for (int i = 0; i < n; i++) {
        const char *seg = v->is_list ? v->items[i] : v->text;
        for (;;) {   // a scalar may hold several comma-separated words
            size_t len = strcspn(seg, ",");
            const char *w = seg, *e = seg + len;
            while (w < e && isspace((unsigned char)*w)) w++;
            while (e > w && isspace((unsigned char)e[-1])) e--;
            size_t wn = (size_t)(e - w);
            if (wn > 0 || seg[len] == ',' || n > 1 || v->is_list) {
                char word[128];
                snprintf(word, sizeof(word), "%.*s", (int)(wn < 100 ? wn : 100), w);
                if (wn == 0 || !word_allowed(k->constraint, w, wn)) return type_err(k, where, word[0] ? word : "(empty)", err, errlen);
                if (config_words_has(joined, word))
                    return rlvr_err(err, errlen, "%s: %s lists '%s' twice; give each once", where, k->key, word);
                if (o + wn + 2 > sizeof(joined)) return rlvr_err(err, errlen, "%s: %s is too long", where, k->key);
                if (o) joined[o++] = ',';
                memcpy(joined + o, w, wn);
                o += wn;
                joined[o] = 0;
            }
            if (seg[len] != ',') break;
            seg += len + 1;
        }
    }
    memcpy(out, joined, o + 1);
    return 0;
}

int config_words_has(const char *s, const char *word) {
    size_t n = strlen(word);
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, word, n) == 0) return 1;
        p += len + (p[len] ? 1 : 0);
    }
    return 0;
}

static int set_value(RlvrConfig *c, const CfgKey *k, const RawValue *v, const char *where, char *err, size_t errlen) {
    char *base = (char *)c + k->offset;
    const char *shown = v->is_list ? "[...]" : v->is_null ? "null" : v->text;
    if (v->is_list && k->type != CFG_PAIR && k->type != CFG_OPTPAIR && k->type != CFG_WORDS)
        return type_err(k, where, "[...] (a list)", err, errlen);
    if (v->is_null && k->type != CFG_OPTFLOAT && k->type != CFG_OPTPAIR && k->type != CFG_STR && k->type != CFG_WORDS)
        return type_err(k, where, "null", err, errlen);
    switch (k->type) {
    case CFG_INT: {
        int64_t x;
        if (parse_int_text(v->text, &x) != 0) return type_err(k, where, shown, err, errlen);
        if (check_number(k, where, shown, (double)x, err, errlen)) return -1;
        *(int64_t *)base = x;
        return 0;
    }
    case CFG_FLOAT: {
        double x;
        if (parse_float_text(v->text, &x) != 0) return type_err(k, where, shown, err, errlen);
        if (check_number(k, where, shown, x, err, errlen)) return -1;
        *(double *)base = x;
        return 0;
    }
    case CFG_BOOL: {
        bool x;
        if (parse_bool_text(v->text, &x) != 0) return type_err(k, where, shown, err, errlen);
        *(bool *)base = x;
        return 0;
    }
    case CFG_STR: {
        const char *s = v->is_null ? "" : v->text;
        if (strlen(s) >= CONFIG_STR_MAX)
            return rlvr_err(err, errlen, "%s: %s is %zu bytes long; at most %d are supported", where, k->key, strlen(s), CONFIG_STR_MAX - 1);
        if (!valid_utf8((const unsigned char *)s))
            return rlvr_err(err, errlen, "%s: %s is not valid UTF-8 text", where, k->key);
        if (k->constraint[0]) {   // allowed words "a|b|c"
            size_t n = strlen(s);
            int ok = 0;
            for (const char *p = k->constraint; *p;) {
                const char *bar = strchr(p, '|');
                size_t len = bar ? (size_t)(bar - p) : strlen(p);
                if (len == n && strncmp(p, s, n) == 0) ok = 1;
                p += len + (bar ? 1 : 0);
            }
            if (!ok) return type_err(k, where, s, err, errlen);
        }
        memcpy(base, s, strlen(s) + 1);
        return 0;
    }
    case CFG_OPTFLOAT: {
        CfgOptFloat *o = (CfgOptFloat *)base;
        if (v->is_null) { o->set = false; o->v = 0; return 0; }
        double x;
        if (parse_float_text(v->text, &x) != 0) return type_err(k, where, shown, err, errlen);
        if (check_number(k, where, shown, x, err, errlen)) return -1;
        o->set = true; o->v = x;
        return 0;
    }
    case CFG_WORDS: return set_words(k, v, base, where, err, errlen);
    case CFG_PAIR:
    case CFG_OPTPAIR: {
        CfgPair *p = (CfgPair *)base;
        if (v->is_null) { p->set = false; p->v[0] = p->v[1] = 0; return 0; }
        if (!v->is_list) return type_err(k, where, shown, err, errlen);
        if (v->n != 2)
            return rlvr_err(err, errlen, "%s: %s has %d elements: expected a pair [a, b]", where, k->key, v->n);
        double x[2];
        for (int i = 0; i < 2; i++) {
            if (parse_float_text(v->items[i], &x[i]) != 0) return type_err(k, where, v->items[i], err, errlen);
            if (check_number(k, where, v->items[i], x[i], err, errlen)) return -1;
        }
        p->set = true; p->v[0] = x[0]; p->v[1] = x[1];
        return 0;
    }
    }
    return rlvr_err(err, errlen, "%s: %s has an unknown type", where, k->key);
}

// Command-line text -> RawValue. "[a, b]" is a list, "null"/"~"/"" is null (except for strings,
// which are taken literally). `buf` holds the split list items.
static int raw_from_text(const CfgKey *k, const char *text, char *buf, size_t buflen, RawValue *v) {
    memset(v, 0, sizeof(*v));
    v->text = text;
    if (k->type == CFG_STR) return 0;
    const char *s = text;
    while (isspace((unsigned char)*s)) s++;
    if (is_null_text(s)) { v->is_null = 1; return 0; }
    if (*s != '[') return 0;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) len--;
    if (len < 2 || s[len - 1] != ']' || len - 1 >= buflen) return -1;
    memcpy(buf, s + 1, len - 2);
    buf[len - 2] = 0;
    v->is_list = 1;
    char *p = buf;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return 0;   // []
    for (;;) {
        if (v->n == 8) return -1;
        v->items[v->n++] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = 0;
        p = comma + 1;
    }
    return 0;
}

int config_set(RlvrConfig *c, const char *key, const char *value, const char *src, char *err, size_t errlen) {
    const CfgKey *k = config_find_key(key);
    if (!k) {
        if (is_section(key))
            return rlvr_err(err, errlen, "%s: '%s' is a section, not a key; set one of its keys, e.g. %s.<key>=VALUE (see --help-config)",
                            src, key, key);
        return unknown_key_err(src, key, err, errlen);
    }
    char buf[512];
    RawValue v;
    if (raw_from_text(k, value, buf, sizeof(buf), &v) != 0) return type_err(k, src, value, err, errlen);
    return set_value(c, k, &v, src, err, errlen);
}

int config_override(RlvrConfig *c, const char *arg, char *err, size_t errlen) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return rlvr_err(err, errlen, "command line: '%s' is not an override; write key.sub=value (e.g. actor.optim.lr=1e-6)", arg);
    char key[256];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof(key)) return rlvr_err(err, errlen, "command line: key in '%.40s...' is too long", arg);
    memcpy(key, arg, n);
    key[n] = 0;
    char where[300];
    snprintf(where, sizeof(where), "command line '%s=...'", key);
    return config_set(c, key, eq + 1, where, err, errlen);
}

void config_defaults(RlvrConfig *c) {
    memset(c, 0, sizeof(*c));
    char err[512];
    for (int i = 0; i < NKEYS; i++)
        if (config_set(c, SCHEMA[i].key, SCHEMA[i].def, "schema default", err, sizeof(err)) != 0)
            die("config schema: bad default for %s: %s", SCHEMA[i].key, err);
}

// ---- YAML ----------------------------------------------------------------------------------------

typedef struct {
    yaml_parser_t parser;
    RlvrConfig *cfg;
    const char *src;
    int flags;
    int seen[NKEYS];      // line where each key was set in this source (duplicate detection)
    char *err;
    size_t errlen;
} YamlLoad;

static int yerr(YamlLoad *L, size_t line0, const char *fmt, ...) RLVR_PRINTF(3, 4);
static int yerr(YamlLoad *L, size_t line0, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rlvr_err(L->err, L->errlen, "%s:%zu: %s", L->src, line0 + 1, msg);
}

static int next_event(YamlLoad *L, yaml_event_t *ev) {
    if (yaml_parser_parse(&L->parser, ev)) return 0;
    const yaml_parser_t *p = &L->parser;
    return rlvr_err(L->err, L->errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s (check indentation, colons and quotes)",
                    L->src, p->problem_mark.line + 1, p->problem_mark.column + 1,
                    p->problem ? p->problem : "unknown problem", p->context ? " " : "", p->context ? p->context : "");
}

// Skips a whole node whose first event is `ev` (used for unknown keys in lenient mode).
static int skip_node(YamlLoad *L, yaml_event_t *ev) {
    int depth = (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT) ? 1 : 0;
    while (depth > 0) {
        yaml_event_t e;
        if (next_event(L, &e) != 0) return -1;
        if (e.type == YAML_MAPPING_START_EVENT || e.type == YAML_SEQUENCE_START_EVENT) depth++;
        if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) depth--;
        yaml_event_delete(&e);
    }
    return 0;
}

static int set_from_yaml(YamlLoad *L, const char *key, const RawValue *v, size_t line0) {
    const CfgKey *k = config_find_key(key);
    char where[600];
    snprintf(where, sizeof(where), "%s:%zu", L->src, line0 + 1);
    if (!k) {
        if (is_section(key))
            return yerr(L, line0, "'%s' is a section: give it a mapping of keys (see --help-config), not a value", key);
        if (L->flags & CONFIG_IGNORE_UNKNOWN) {
            fprintf(stderr, "warning: %s: ignoring unknown key '%s'\n", where, key);
            return 0;
        }
        return unknown_key_err(where, key, L->err, L->errlen);
    }
    int idx = (int)(k - SCHEMA);
    if (L->seen[idx]) return yerr(L, line0, "key '%s' is given twice (first at line %d)", key, L->seen[idx]);
    L->seen[idx] = (int)line0 + 1;
    return set_value(L->cfg, k, v, where, L->err, L->errlen);
}

static int load_mapping(YamlLoad *L, const char *prefix, int depth) {
    if (depth > 16) return rlvr_err(L->err, L->errlen, "%s: mappings nested too deeply", L->src);
    for (;;) {
        yaml_event_t kev, vev;
        if (next_event(L, &kev) != 0) return -1;
        if (kev.type == YAML_MAPPING_END_EVENT) { yaml_event_delete(&kev); return 0; }
        size_t kline = kev.start_mark.line;
        if (kev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&kev);
            return yerr(L, kline, "keys must be plain names (found a list or mapping used as a key)");
        }
        char key[512];
        int n = snprintf(key, sizeof(key), "%s%s", prefix, (const char *)kev.data.scalar.value);
        yaml_event_delete(&kev);
        if (n < 0 || (size_t)n >= sizeof(key)) return yerr(L, kline, "key too long");
        if (next_event(L, &vev) != 0) return -1;
        int rc = 0;
        RawValue v;
        memset(&v, 0, sizeof(v));
        switch (vev.type) {
        case YAML_SCALAR_EVENT: {
            const char *s = (const char *)vev.data.scalar.value;
            v.text = s;
            v.is_null = vev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(s);
            rc = set_from_yaml(L, key, &v, kline);
            break;
        }
        case YAML_SEQUENCE_START_EVENT: {
            char *items[8] = {0};
            yaml_event_t e;
            for (;;) {
                if (next_event(L, &e) != 0) { rc = -1; break; }
                if (e.type == YAML_SEQUENCE_END_EVENT) { yaml_event_delete(&e); break; }
                if (e.type != YAML_SCALAR_EVENT) {
                    yaml_event_delete(&e);
                    rc = yerr(L, kline, "%s: lists may only hold numbers (no nested lists or mappings)", key);
                    break;
                }
                if (v.n == 8) { yaml_event_delete(&e); rc = yerr(L, kline, "%s: list too long", key); break; }
                items[v.n] = strdupCheck((const char *)e.data.scalar.value);
                v.items[v.n] = items[v.n];
                v.n++;
                yaml_event_delete(&e);
            }
            v.is_list = 1;
            if (rc == 0) rc = set_from_yaml(L, key, &v, kline);
            for (int i = 0; i < 8; i++) free(items[i]);
            break;
        }
        case YAML_MAPPING_START_EVENT:
            if (config_find_key(key)) {
                const CfgKey *k = config_find_key(key);
                char d[160];
                describe(k, d, sizeof(d));
                rc = yerr(L, kline, "%s takes a value (%s), not a mapping", key, d);
            } else if (!is_section(key)) {
                if (L->flags & CONFIG_IGNORE_UNKNOWN) {
                    fprintf(stderr, "warning: %s:%zu: ignoring unknown section '%s'\n", L->src, kline + 1, key);
                    rc = skip_node(L, &vev);
                } else {
                    char where[600];
                    snprintf(where, sizeof(where), "%s:%zu", L->src, kline + 1);
                    rc = unknown_key_err(where, key, L->err, L->errlen);
                }
            } else {
                char sub[520];
                snprintf(sub, sizeof(sub), "%s.", key);
                rc = load_mapping(L, sub, depth + 1);
            }
            break;
        case YAML_ALIAS_EVENT:
            rc = yerr(L, kline, "%s: YAML aliases (*name) are not supported; write the value out", key);
            break;
        default:
            rc = yerr(L, kline, "%s: unexpected YAML element", key);
        }
        yaml_event_delete(&vev);
        if (rc != 0) return rc;
    }
}

int config_load_string(RlvrConfig *c, const char *yaml, const char *srcname, int flags, char *err, size_t errlen) {
    YamlLoad *L = callocCheck(1, sizeof(YamlLoad));
    L->cfg = c; L->src = srcname; L->flags = flags; L->err = err; L->errlen = errlen;
    if (!yaml_parser_initialize(&L->parser)) { free(L); return rlvr_err(err, errlen, "%s: libyaml init failed", srcname); }
    yaml_parser_set_input_string(&L->parser, (const unsigned char *)yaml, strlen(yaml));
    int rc = 0, docs = 0, done = 0;
    // Apply to a copy so a failed load leaves *c untouched.
    RlvrConfig *tmp = mallocCheck(sizeof(RlvrConfig));
    *tmp = *c;
    L->cfg = tmp;
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if (next_event(L, &ev) != 0) { rc = -1; break; }
        size_t line = ev.start_mark.line;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT: case YAML_DOCUMENT_END_EVENT: break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) rc = yerr(L, line, "more than one YAML document ('---'); put everything in one");
            break;
        case YAML_MAPPING_START_EVENT: rc = load_mapping(L, "", 0); break;
        case YAML_SCALAR_EVENT:
            if (!(ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text((const char *)ev.data.scalar.value)))
                rc = yerr(L, line, "the top level must be a mapping of keys (e.g. 'trainer:'), not a value");
            break;
        default: rc = yerr(L, line, "the top level must be a mapping of keys, not a list");
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&L->parser);
    free(L);
    if (rc == 0) *c = *tmp;
    free(tmp);
    return rc;
}

int config_load_file(RlvrConfig *c, const char *path, char *err, size_t errlen) {
    char e2[512];
    char *text = read_file_all(path, NULL, e2, sizeof(e2));
    if (!text) return rlvr_err(err, errlen, "config: %s (check the --config path)", e2);
    int rc = config_load_string(c, text, path, 0, err, errlen);
    free(text);
    return rc;
}

// ---- printing ------------------------------------------------------------------------------------

// Shortest "%.Ng" that reads back to exactly x; always looks like a float (has '.', 'e').
// Exponents get a mantissa with a dot ("1.0e-06") so that YAML 1.1 readers (PyYAML) also see a float.
static void fmt_double(double x, char *buf, size_t n) {
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, n, "%.1f", x);   // 120.0, not 1.2e+02
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    char *e = strpbrk(buf, "eE");
    if (e && !memchr(buf, '.', (size_t)(e - buf)) && strlen(buf) + 3 < n) {
        memmove(e + 2, e, strlen(e) + 1);
        e[0] = '.';
        e[1] = '0';
    }
}

static void fmt_string(const char *s, char *buf, size_t n) {
    size_t o = 0;
#define PUT(ch) do { if (o + 1 < n) buf[o++] = (ch); } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if (ch == '"' || ch == '\\') { PUT('\\'); PUT((char)ch); }
        else if (ch == '\n') { PUT('\\'); PUT('n'); }
        else if (ch == '\t') { PUT('\\'); PUT('t'); }
        else if (ch == '\r') { PUT('\\'); PUT('r'); }
        else if (ch < 0x20 || ch == 0x7f) {
            char hx[8];
            snprintf(hx, sizeof(hx), "\\x%02x", ch);
            for (char *h = hx; *h; h++) PUT(*h);
        } else PUT((char)ch);
    }
    PUT('"');
    buf[o < n ? o : n - 1] = 0;
#undef PUT
}

static void value_text(const RlvrConfig *c, const CfgKey *k, char *buf, size_t n) {
    const char *base = (const char *)c + k->offset;
    char a[40], b[40];
    switch (k->type) {
    case CFG_INT: snprintf(buf, n, "%" PRId64, *(const int64_t *)base); break;
    case CFG_FLOAT: fmt_double(*(const double *)base, buf, n); break;
    case CFG_BOOL: snprintf(buf, n, "%s", *(const bool *)base ? "true" : "false"); break;
    case CFG_STR: fmt_string(base, buf, n); break;
    case CFG_OPTFLOAT: {
        const CfgOptFloat *o = (const CfgOptFloat *)base;
        if (o->set) fmt_double(o->v, buf, n);
        else snprintf(buf, n, "null");
        break;
    }
    case CFG_WORDS: {   // "a,b" -> [a, b]
        size_t o = 0;
        if (n > 0) buf[o++] = '[';
        for (const char *p = base; *p && o + 3 < n; p++) {
            if (*p == ',') { buf[o++] = ','; buf[o++] = ' '; }
            else buf[o++] = *p;
        }
        if (o + 1 < n) buf[o++] = ']';
        if (n > 0) buf[o < n ? o : n - 1] = 0;
        break;
    }
    case CFG_PAIR: case CFG_OPTPAIR: {
        const CfgPair *p = (const CfgPair *)base;
        if (!p->set) { snprintf(buf, n, "null"); break; }
        fmt_double(p->v[0], a, sizeof(a));
        fmt_double(p->v[1], b, sizeof(b));
        snprintf(buf, n, "[%s, %s]", a, b);
        break;
    }
    }
}

int config_value_text(const RlvrConfig *c, const char *key, char *buf, size_t buflen) {
    const CfgKey *k = config_find_key(key);
    if (!k) { if (buflen) buf[0] = 0; return -1; }
    value_text(c, k, buf, buflen);
    return 0;
}

static int cmp_key_idx(const void *a, const void *b) {
    return strcmp(SCHEMA[*(const int *)a].key, SCHEMA[*(const int *)b].key);
}

char *config_to_yaml(const RlvrConfig *c) {
    int order[NKEYS];
    for (int i = 0; i < NKEYS; i++) order[i] = i;
    qsort(order, NKEYS, sizeof(int), cmp_key_idx);
    size_t cap = 4096, len = 0;
    char *out = mallocCheck(cap);
    out[0] = 0;
    char prev[256] = "";   // previous key's section path, e.g. "actor.optim."
    char *val = mallocCheck(CONFIG_STR_MAX * 4 + 8);
    for (int i = 0; i < NKEYS; i++) {
        const char *key = SCHEMA[order[i]].key;
        const char *leaf = strrchr(key, '.');
        leaf = leaf ? leaf + 1 : key;
        // Open the sections this key is in that the previous key was not.
        size_t common = 0;
        for (size_t j = 0; key + j < leaf && prev[j] && prev[j] == key[j]; j++)
            if (key[j] == '.') common = j + 1;
        char line[512];
        int depth = 0;
        for (size_t j = 0; j < common; j++) depth += key[j] == '.';
        for (const char *p = key + common; p < leaf;) {
            const char *dot = strchr(p, '.');
            snprintf(line, sizeof(line), "%*s%.*s:\n", depth * 2, "", (int)(dot - p), p);
            size_t ll = strlen(line);
            while (len + ll + 1 > cap) { cap *= 2; out = reallocCheck(out, cap); }
            memcpy(out + len, line, ll + 1);
            len += ll;
            depth++;
            p = dot + 1;
        }
        snprintf(prev, sizeof(prev), "%.*s", (int)(leaf - key), key);
        value_text(c, &SCHEMA[order[i]], val, CONFIG_STR_MAX * 4 + 8);
        size_t need = (size_t)depth * 2 + strlen(leaf) + strlen(val) + 4;
        while (len + need + 1 > cap) { cap *= 2; out = reallocCheck(out, cap); }
        len += (size_t)sprintf(out + len, "%*s%s: %s\n", depth * 2, "", leaf, val);
    }
    free(val);
    return out;
}

void config_print(const RlvrConfig *c, FILE *f) {
    char *y = config_to_yaml(c);
    fprintf(f, "# resolved config\n%s", y);
    fflush(f);
    free(y);
}

static int key_equal(const RlvrConfig *a, const RlvrConfig *b, const CfgKey *k) {
    const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
    switch (k->type) {
    case CFG_INT: return *(const int64_t *)pa == *(const int64_t *)pb;
    case CFG_FLOAT: return memcmp(pa, pb, sizeof(double)) == 0;
    case CFG_BOOL: return *(const bool *)pa == *(const bool *)pb;
    case CFG_STR: case CFG_WORDS: return strcmp(pa, pb) == 0;
    case CFG_OPTFLOAT: {
        const CfgOptFloat *x = (const CfgOptFloat *)pa, *y = (const CfgOptFloat *)pb;
        return x->set == y->set && (!x->set || memcmp(&x->v, &y->v, sizeof(double)) == 0);
    }
    case CFG_PAIR: case CFG_OPTPAIR: {
        const CfgPair *x = (const CfgPair *)pa, *y = (const CfgPair *)pb;
        return x->set == y->set && (!x->set || memcmp(x->v, y->v, sizeof(x->v)) == 0);
    }
    }
    return 0;
}

int config_equal(const RlvrConfig *a, const RlvrConfig *b) {
    return config_diff(a, b, NULL) == 0;
}

int config_diff(const RlvrConfig *a, const RlvrConfig *b, FILE *f) {
    int n = 0;
    char *va = mallocCheck(CONFIG_STR_MAX * 4 + 8), *vb = mallocCheck(CONFIG_STR_MAX * 4 + 8);
    for (int i = 0; i < NKEYS; i++) {
        if (key_equal(a, b, &SCHEMA[i])) continue;
        n++;
        if (f) {
            value_text(a, &SCHEMA[i], va, CONFIG_STR_MAX * 4 + 8);
            value_text(b, &SCHEMA[i], vb, CONFIG_STR_MAX * 4 + 8);
            fprintf(f, "  %s: %s -> %s\n", SCHEMA[i].key, va, vb);
        }
    }
    free(va);
    free(vb);
    return n;
}

void config_print_help(FILE *f) {
    fprintf(f, "config keys (set in a YAML file or on the command line as key.sub=value):\n");
    for (int i = 0; i < NKEYS; i++) {
        const CfgKey *k = &SCHEMA[i];
        char d[160];
        describe(k, d, sizeof(d));
        fprintf(f, "  %-45s default %-20s %s\n  %-45s %s\n", k->key, k->def[0] ? k->def : "\"\"", d, "", k->help);
    }
}

// ---- validation ----------------------------------------------------------------------------------

// 1 when s is one of PROMPT_TEMPLATE_NAMES ("a, b, c").
static int prompt_template_named(const char *s) {
    const size_t n = strlen(s);
    for (const char *p = PROMPT_TEMPLATE_NAMES; *p;) {
        const size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, s, n)) return 1;
        p += len;
        while (*p == ',' || *p == ' ') p++;
    }
    return 0;
}

int config_prompt_template_writes_chat(const char *t) {
    return t && (!strcmp(t, "chatml") || !strcmp(t, "qwen-math") || strstr(t, "<|im_start|>") || strstr(t, "<|start_header_id|>"));
}

int config_validate(const RlvrConfig *c, char *err, size_t errlen) {
    // Each key's own type and range again: a program may have changed fields directly.
    char *text = mallocCheck(CONFIG_STR_MAX * 4 + 8);
    RlvrConfig *tmp = mallocCheck(sizeof(RlvrConfig));
    *tmp = *c;
    for (int i = 0; i < NKEYS; i++) {
        const CfgKey *k = &SCHEMA[i];
        if (k->type == CFG_STR) {
            const char *s = (const char *)c + k->offset;
            if (memchr(s, 0, CONFIG_STR_MAX) == NULL) { free(text); free(tmp); return rlvr_err(err, errlen, "config: %s is not NUL-terminated", k->key); }
            RawValue v = {0};
            v.text = s;
            if (set_value(tmp, k, &v, "config", err, errlen) != 0) { free(text); free(tmp); return -1; }
            continue;
        }
        value_text(c, k, text, CONFIG_STR_MAX * 4 + 8);
        if (config_set(tmp, k->key, text, "config", err, errlen) != 0) { free(text); free(tmp); return -1; }
    }
    free(text);
    free(tmp);

#define FAIL(...) return rlvr_err(err, errlen, "config: " __VA_ARGS__)
    if (!c->trainer_run_dir[0]) FAIL("trainer.run_dir is empty; give a directory (--run-dir DIR)");
    if (!c->data_train_files[0]) FAIL("data.train_files is empty; use \"arith\" or a .jsonl path");
    if (c->data_train_batch_size % c->actor_ppo_mini_batch_size != 0)
        FAIL("data.train_batch_size = %" PRId64 " is not a multiple of actor.ppo_mini_batch_size = %" PRId64
             " (each optimizer step takes ppo_mini_batch_size prompts)", c->data_train_batch_size, c->actor_ppo_mini_batch_size);
    if (c->trainer_test_freq > 0 && !c->data_val_files[0])
        FAIL("trainer.test_freq = %" PRId64 " but data.val_files is empty; name a .jsonl file or \"arith\" (the held-out split), "
             "or set trainer.test_freq=0", c->trainer_test_freq);
    if (c->rollout_max_new_tokens > c->data_max_response_length)
        FAIL("rollout.max_new_tokens = %" PRId64 " exceeds data.max_response_length = %" PRId64 "; lower it or use 0",
             c->rollout_max_new_tokens, c->data_max_response_length);
    if (c->eval_max_new_tokens > c->data_max_response_length)
        FAIL("eval.max_new_tokens = %" PRId64 " exceeds data.max_response_length = %" PRId64 "; lower it or use 0",
             c->eval_max_new_tokens, c->data_max_response_length);
    if (c->reward_overlong_buffer_enable && c->reward_overlong_buffer_len >= c->data_max_response_length)
        FAIL("reward.overlong_buffer.len = %" PRId64 " must be smaller than data.max_response_length = %" PRId64,
             c->reward_overlong_buffer_len, c->data_max_response_length);
    if (c->reward_overlong_buffer_enable && c->reward_overlong_buffer_len == 0)
        FAIL("reward.overlong_buffer.len must be > 0 when reward.overlong_buffer.enable is true");
    if (c->algorithm_position_shaping_end_step <= c->algorithm_position_shaping_start_step)
        FAIL("algorithm.position_shaping.end_step = %" PRId64 " must be greater than start_step = %" PRId64,
             c->algorithm_position_shaping_end_step, c->algorithm_position_shaping_start_step);
    if (c->algorithm_ppl_shaping_clamp.set && c->algorithm_ppl_shaping_clamp.v[0] > c->algorithm_ppl_shaping_clamp.v[1])
        FAIL("algorithm.ppl_shaping.clamp = [%g, %g]: the lower bound exceeds the upper one",
             c->algorithm_ppl_shaping_clamp.v[0], c->algorithm_ppl_shaping_clamp.v[1]);
    if (c->algorithm_filter_groups_enable && c->rollout_n < 2)
        FAIL("algorithm.filter_groups.enable needs rollout.n >= 2 (a group of one never has differing rewards)");
    if (c->coordinator_heartbeat_s >= c->coordinator_lease_s)
        FAIL("coordinator.heartbeat_s = %g must be shorter than coordinator.lease_s = %g", c->coordinator_heartbeat_s, c->coordinator_lease_s);
    if (c->model_init_num_heads % c->model_init_num_kv_heads != 0)
        FAIL("model.init.num_heads = %" PRId64 " is not a multiple of model.init.num_kv_heads = %" PRId64,
             c->model_init_num_heads, c->model_init_num_kv_heads);
    if (c->model_init_hidden_size % c->model_init_num_heads != 0 || (c->model_init_hidden_size / c->model_init_num_heads) % 2 != 0)
        FAIL("model.init.hidden_size = %" PRId64 " must be num_heads (%" PRId64 ") x an even head size",
             c->model_init_hidden_size, c->model_init_num_heads);
    if (!strcmp(c->data_train_files, "arith") && strcmp(c->reward_verifier, "arith") != 0)
        FAIL("data.train_files = arith needs reward.verifier = arith (the math checker does not grade arith answers)");
    if (strcmp(c->reward_style, "default") != 0 && strcmp(c->reward_verifier, "math") != 0)
        FAIL("reward.style = %s applies to the math verifier only; reward.verifier is %s (set reward.style=default)",
             c->reward_style, c->reward_verifier);
    for (const char *p = c->data_arith_ops; *p; p++)
        if (*p != '+' && *p != '-' && *p != '*') FAIL("data.arith.ops = '%s': only + - * are supported", c->data_arith_ops);
    if (!strcmp(c->data_train_files, "arith") && !c->data_arith_ops[0]) FAIL("data.arith.ops is empty; use e.g. \"+-\"");
    if (!strstr(c->data_prompt_template, "{prompt}") && !prompt_template_named(c->data_prompt_template))
        FAIL("data.prompt_template = '%s' does not contain {prompt} and is not a template name (" PROMPT_TEMPLATE_NAMES
             "); the problem text would never reach the model", c->data_prompt_template);
    if (c->data_apply_chat_template && config_prompt_template_writes_chat(c->data_prompt_template))
        FAIL("data.prompt_template writes chat markup itself and data.apply_chat_template would wrap it in the model's chat "
             "template again; with the chat template give the user message's text (default, plain, dapo, or text with {prompt})");
    if (!strcmp(c->trainer_precision, "bf16") && strcmp(c->trainer_device, "cuda") != 0)
        FAIL("trainer.precision = bf16 but trainer.device = %s: the CPU engine is fp32; set trainer.precision=fp32 or "
             "trainer.device=cuda", c->trainer_device);
#undef FAIL
    return 0;
}

// ---- program arguments ---------------------------------------------------------------------------

int config_parse_args(RlvrConfig *c, int argc, char **argv, char **rest, int *nrest, char *err, size_t errlen) {
    if (nrest) *nrest = 0;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help-config")) { config_print_help(stdout); return 1; }
    // Files first, in order; then the flags and overrides, in order.
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *file = NULL;
        if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
            if (i + 1 >= argc) return rlvr_err(err, errlen, "command line: %s needs a file name", a);
            file = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            file = a + 9;
        } else if (!strcmp(a, "--run-dir")) {
            i++;
        }
        if (file && config_load_file(c, file, err, errlen) != 0) return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config") || !strcmp(a, "-c")) { i++; continue; }
        if (!strncmp(a, "--config=", 9)) continue;
        if (!strcmp(a, "--run-dir") || !strncmp(a, "--run-dir=", 10)) {
            const char *d = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            if (!d) return rlvr_err(err, errlen, "command line: --run-dir needs a directory");
            if (config_set(c, "trainer.run_dir", d, "command line --run-dir", err, errlen) != 0) return -1;
            continue;
        }
        if (!strcmp(a, "--resume")) { c->trainer_resume = true; continue; }
        if (a[0] != '-' && strchr(a, '=')) {
            if (config_override(c, a, err, errlen) != 0) return -1;
            continue;
        }
        if (rest) { rest[(*nrest)++] = argv[i]; continue; }
        return rlvr_err(err, errlen, "command line: unknown argument '%s' (expected --config FILE, --run-dir DIR, --resume, --help-config or key.sub=value)", a);
    }
    return config_validate(c, err, errlen);
}
