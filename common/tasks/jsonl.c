#include "common/tasks/jsonl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/core/check.h"
#include "common/core/files.h"

void jsonl_init(JsonlReader *r, FILE *f) {
    memset(r, 0, sizeof *r);
    r->f = f;
}

void jsonl_free(JsonlReader *r) {
    free(r->line);
    r->line = NULL;
    r->cap = 0;
}

int jsonl_next(JsonlReader *r, json_t **out, char *err, size_t errlen) {
    *out = NULL;
    ssize_t len;
    while ((len = getline(&r->line, &r->cap, r->f)) >= 0) {
        r->lineno++;
        size_t k = 0;
        while (k < (size_t)len && (r->line[k] == ' ' || r->line[k] == '\t' || r->line[k] == '\r' || r->line[k] == '\n')) k++;
        if (k == (size_t)len) continue;
        json_error_t je;
        *out = json_loadb(r->line, (size_t)len, 0, &je);
        if (!*out) {
            r->column = je.column;
            return rlvr_err(err, errlen, "%s", je.text);
        }
        return 1;
    }
    return 0;
}

char *json_answer_text(const json_t *v) {
    char buf[64];
    if (json_is_string(v)) return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        double x = json_real_value(v);
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, x);
            if (strtod(buf, NULL) == x) break;
        }
    } else {
        return NULL;
    }
    return strdup(buf);
}

int json_write_atomic(const char *path, const json_t *j, size_t flags, char *err, size_t errlen) {
    char *text = json_dumps(j, flags);
    if (!text) die("cannot serialise JSON for %s (out of memory)", path);
    int rc = file_write_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}
