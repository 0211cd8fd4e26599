// JSON Lines input, as datasets (`data.train_files`, benchmarks) and `rlvr grade` read it: one JSON
// value per line, blank lines skipped, line numbers kept for messages that name FILE:LINE.
#pragma once
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;           // not owned
    char *line;        // getline buffer
    size_t cap;
    long lineno;       // of the line last read (1-based)
    int column;        // where its JSON error is, when jsonl_next returned -1
} JsonlReader;

void jsonl_init(JsonlReader *r, FILE *f);
// The next non-blank line, parsed. 1 with *out set (the caller owns it: json_decref), 0 at the end of
// the input, -1 when the line is not valid JSON: err holds jansson's reason, r->column where it is,
// and the next call reads the following line.
int jsonl_next(JsonlReader *r, json_t **out, char *err, size_t errlen);
void jsonl_free(JsonlReader *r);   // frees the line buffer; does not close f

// Writes j as JSON text (json_dumps flags) to PATH atomically (common/core/files.h). 0, or -1 with
// err naming the path, the OS error and a hint.
int json_write_atomic(const char *path, const json_t *j, size_t flags, char *err, size_t errlen);

// An answer or prediction as text: a string as it is, an integer in decimal, a real in the shortest
// form that reads back to the same double. malloc'd; NULL when v is neither a string nor a number
// (or out of memory).
char *json_answer_text(const json_t *v);
