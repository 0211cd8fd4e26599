// Validation inside the learner (verl's trainer.test_freq / trainer.val_before_train): rank 0 samples
// eval.n responses to each problem of data.val_files with the current policy and reports Acc@n,
// Maj@n and Pass@n (common/tasks/eval.h), the numbers `rlvr eval` would print for the same policy.
//
// Sample i of problem j is seeded with sampler_seed(trainer.seed, j, i), as `rlvr eval --config CFG
// --seed <trainer.seed>` seeds it, so exporting a checkpoint and running rlvr eval reproduces the
// figures. No training RNG is touched: a run with validation trains exactly like one without, and
// every validation of a run draws the same seeds (changes between steps come from the policy alone).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/config/config.h"
#include "common/engine/model.h"
#include "common/engine/tokenizer.h"

typedef struct {
    int problems;        // evaluated (prompts longer than data.max_prompt_length are skipped, as in training)
    int n;               // samples per problem (eval.n)
    double acc, maj, pass;
    double response_length_mean;
    uint64_t tokens;     // sampled
    double seconds;
} ValResult;

// How many validation problems a run uses: every row of a data.val_files JSON Lines file, or
// data.arith.heldout_size problems of the arithmetic task's held-out split.
// Returns 0 with the problems of data.val_files evaluated into *out, or -1 with err.
int learner_validate(const RlvrConfig *c, const Model *m, const Tokenizer *tok, ValResult *out, char *err, size_t errlen);

// One JSON object (no newline) for RUN_DIR/val_metrics.jsonl, malloc'd.
char *val_format(long step, int64_t policy_version, const ValResult *v);
