// JSON Lines math datasets: {"id": ..., "problem": ..., "answer": ...} per line.
#include "common/tasks/tasks.h"
#include "common/core/check.h"
#include "common/tasks/jsonl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dataset_free(Dataset *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) { free(d->rows[i].id); free(d->rows[i].problem); free(d->rows[i].answer); }
    free(d->rows);
    memset(d, 0, sizeof(*d));
}

int dataset_load_jsonl(const char *path, Dataset *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (!f) return rlvr_err(err, errlen, "%s: cannot open the dataset (check the path; expected JSON Lines)", path);
    size_t cap = 0;
    JsonlReader rd;
    jsonl_init(&rd, f);
    int rc = 0, got;
    json_t *j;
    char jerr[256];
    while ((got = jsonl_next(&rd, &j, jerr, sizeof jerr)) != 0) {
        long lineno = rd.lineno;
        if (got < 0) { rc = rlvr_err(err, errlen, "%s:%ld: invalid JSON (%s at column %d); each line must be one JSON object", path, lineno, jerr, rd.column); break; }
        if (!json_is_object(j)) { json_decref(j); rc = rlvr_err(err, errlen, "%s:%ld: expected a JSON object like {\"problem\": ..., \"answer\": ...}", path, lineno); break; }
        json_t *jp = json_object_get(j, "problem"), *ja = json_object_get(j, "answer"), *ji = json_object_get(j, "id");
        if (!jp || !json_is_string(jp)) {
            json_decref(j);
            rc = rlvr_err(err, errlen, "%s:%ld: field \"problem\" is %s; every line needs a string \"problem\"", path, lineno, jp ? "not a string" : "missing");
            break;
        }
        if (!ja || !(json_is_string(ja) || json_is_number(ja))) {
            json_decref(j);
            rc = rlvr_err(err, errlen, "%s:%ld: field \"answer\" is %s; every line needs an \"answer\" (string or number)", path, lineno, ja ? "not a string or number" : "missing");
            break;
        }
        char *ans = json_answer_text(ja);
        if (!ans) { json_decref(j); rc = rlvr_err(err, errlen, "%s:%ld: out of memory", path, lineno); break; }
        if (!ans[0]) { free(ans); json_decref(j); out->n_skipped++; continue; }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            out->rows = reallocCheck(out->rows, cap * sizeof(DatasetRow));
        }
        DatasetRow *r = &out->rows[out->n];
        char idbuf[64];
        const char *id = NULL;
        if (ji && json_is_string(ji)) id = json_string_value(ji);
        else if (ji && json_is_integer(ji)) { snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(ji)); id = idbuf; }
        else { snprintf(idbuf, sizeof(idbuf), "line-%ld", lineno); id = idbuf; }
        r->id = strdup(id);
        r->problem = strdup(json_string_value(jp));
        r->answer = ans;
        json_decref(j);
        if (!r->id || !r->problem) die("out of memory loading %s", path);
        out->n++;
    }
    jsonl_free(&rd);
    fclose(f);
    if (rc < 0) { dataset_free(out); return -1; }
    if (out->n == 0) return rlvr_err(err, errlen, "%s: no usable rows (empty file, or every answer is empty)", path);
    return 0;
}
