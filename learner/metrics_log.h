// Per-step metrics: one JSON line per step in RUN_DIR/metrics.jsonl, a one-line status for a person,
// and the in-memory history (checkpointed, so a resumed run has the same stage-detector input and the
// same metrics.jsonl as the uninterrupted one).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "learner/coordinator/coordinator.h"
#include "learner/trainer.h"

typedef struct {
    long step, total_steps;
    int64_t policy_version;
    const char *mode;         // "grpo" | "sft"
    const char *stage;        // "rising" | "plateau"
    long plateau_step;        // -1 when none
    double time_wait_s, time_train_s, time_sync_s, time_step_s;
    double tokens_per_s;
    int gen_rounds;           // generation rounds this step (dynamic sampling)
    int groups_dropped;       // groups filtered out (dynamic sampling) or too stale
    const CoordCounters *coord;   // rank 0 only, may be NULL
    double sft_loss;          // sft mode
} StepMeta;

// The JSON line (no newline), malloc'd. Keys: see docs/operations.md.
char *metrics_format(const StepStats *st, const StepMeta *meta);
void metrics_status(FILE *f, const StepStats *st, const StepMeta *meta);

typedef struct {
    char **lines;   // (n) JSON lines
    double *acc;    // (n) accuracy of each step (stage detector input)
    double *ent;    // (n) entropy_mean of each step
    size_t n, cap;
} MetricsHistory;

void history_free(MetricsHistory *h);
void history_add(MetricsHistory *h, const char *line);       // parses accuracy / entropy_mean back from the line
char *history_join(const MetricsHistory *h);                   // "line\nline\n...", malloc'd
int history_load(MetricsHistory *h, const char *text, char *err, size_t errlen);   // inverse of join
// Rewrites PATH with exactly the history's lines (tmp + rename); -1 with err.
int history_write_file(const MetricsHistory *h, const char *path, char *err, size_t errlen);
// Appends one line to PATH and flushes it to the OS (jsonl_append).
int metrics_append(const char *path, const char *line, char *err, size_t errlen);

// JSON Lines files are only ever whole lines. jsonl_append writes LINE and its newline with one
// write (O_APPEND), checks it, and when the disk fills mid-line cuts the partial line off again;
// -1 with err naming the file, the OS error text and what to do. jsonl_repair_tail cuts a partial
// last line (no newline after it: a process died mid-write) off PATH and sets *removed to the bytes
// cut; a missing file is fine. 0 or -1 (err).
int jsonl_append(const char *path, const char *line, char *err, size_t errlen);
int jsonl_repair_tail(const char *path, long *removed, char *err, size_t errlen);
