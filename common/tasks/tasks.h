// Tasks: where problems come from and how they are shown to the model.
//   - a synthetic arithmetic task for the CPU demo ("12+7*3=" -> "\boxed{33}"), deterministic by
//     seed, with a held-out split decided by a hash of the problem text;
//   - math datasets from JSON Lines ({"id", "problem", "answer"}), with prompt templates;
//   - a problem source the learner iterates with an integer cursor (saved in checkpoints).
// The verifier named by each problem ("math" | "arith") is in common/tasks/verifier.h.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/config/config.h"

// ---- arithmetic --------------------------------------------------------------------------------
#define ARITH_OP_ADD 1
#define ARITH_OP_SUB 2
#define ARITH_OP_MUL 4

typedef struct {
    int digits;           // 1..4: every operand is drawn uniformly from [0, 10^digits)
    int ops;              // non-empty bit set of ARITH_OP_*
    int steps;            // 1..3 chained operations, so steps + 1 operands
    double heldout_frac;  // share of problem texts reserved for evaluation, in [0.001, 0.5]
} ArithKnobs;

typedef struct {
    char prompt[64];      // "12+7*3=" (usual precedence: * before + and -)
    char answer[32];      // "33"
    char response[48];    // "\boxed{33}": the ideal response (for SFT warm-up and tests)
    long long value;
} ArithProblem;

void arith_knobs_default(ArithKnobs *k);   // digits 2, ops + - *, steps 2, heldout 0.05
// Returns 0, or -1 with err naming the bad knob and its allowed range.
int arith_knobs_check(const ArithKnobs *k, char *err, size_t errlen);
// The problem at generator position `index` for this seed (either split).
void arith_problem(uint64_t seed, uint64_t index, const ArithKnobs *k, ArithProblem *out);
// 1 when this problem text belongs to the held-out split for this seed.
int arith_is_heldout(const char *prompt, uint64_t seed, double heldout_frac);
// Next problem of one split (heldout = 0: train, 1: held-out) at or after generator position *cursor;
// returns its position (the prompt id) and sets *cursor past it.
uint64_t arith_next(uint64_t seed, const ArithKnobs *k, int heldout, uint64_t *cursor, ArithProblem *out);
// The first n held-out problems, reproducibly (out holds n). Duplicates are possible when the knob
// space is small.
void arith_heldout_list(uint64_t seed, const ArithKnobs *k, size_t n, ArithProblem *out);

// ---- datasets ----------------------------------------------------------------------------------
typedef struct {
    char *id;             // the row's "id", or "<file>:<line>" when it has none
    char *problem;
    char *answer;         // JSON numbers are converted to text ("27", "0.5")
} DatasetRow;

typedef struct {
    DatasetRow *rows;
    size_t n;
    size_t n_skipped;     // rows whose answer is an empty string (unusable for reward)
} Dataset;

// Loads a JSON Lines file (blank lines ignored). Returns 0, or -1 with err naming file:line and the
// problem (bad JSON, missing or mistyped "problem"/"answer").
int dataset_load_jsonl(const char *path, Dataset *out, char *err, size_t errlen);
void dataset_free(Dataset *d);

// ---- prompt templates --------------------------------------------------------------------------
// The instruction the paper's authors append to each problem (their released validation data:
// problem, newline, this sentence); also Qwen2.5-Math's chain-of-thought instruction.
#define PROMPT_INSTRUCTION "Please reason step by step, and put your final answer within \\boxed{}."
// DAPO's (the user turn of every DAPO-Math-17k problem, graded by reward.style math_dapo).
#define DAPO_INSTRUCTION_HEAD "Solve the following math problem step by step. The last line of your response should be " \
    "of the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
#define DAPO_INSTRUCTION_TAIL "\n\nRemember to put your answer on its own line after \"Answer:\"."
// A template is a name or a format with "{prompt}" (the first one is replaced by the problem). Names:
// "default" (problem, newline, PROMPT_INSTRUCTION), "plain" (problem only), "dapo" (DAPO's instruction
// around the problem), "chatml" (Qwen2.5 ChatML: system "You are a helpful assistant.", user problem +
// instruction), "qwen-math" (ChatML with the instruction as the system prompt). With a chat template
// (common/engine/chat_template.h) the text of "default", "plain", "dapo" or a format is the user message.
// Returns 0 and a malloc'd *out, or -1 with err listing the known names.
int prompt_template_apply(const char *name, const char *problem, char **out, char *err, size_t errlen);
int prompt_template_known(const char *name);
// 1 for the templates that write chat markup themselves ("chatml", "qwen-math", a format with
// <|im_start|> or <|start_header_id|>): not to be put through a model's chat template.
int prompt_template_is_chat(const char *name);

// ---- problem source (what the learner iterates) --------------------------------------------------
typedef struct {
    uint64_t id;          // stable prompt id: arith generator position, or dataset row index
    char *prompt;         // text given to the model (template applied)
    char *answer;         // gold answer
    const char *verifier; // "math" | "arith" (static string)
    char *name;           // dataset id, or the arith problem text
} Problem;

typedef struct ProblemSource ProblemSource;

ProblemSource *problem_source_arith(uint64_t seed, const ArithKnobs *k, int heldout, char *err, size_t errlen);
// shuffle = 1: each epoch is a fresh permutation drawn from (seed, epoch); 0: file order.
ProblemSource *problem_source_jsonl(const char *path, const char *template_name, uint64_t seed, int shuffle,
                                    char *err, size_t errlen);
// Fills *out (free with problem_free) with the problem at *cursor and advances the cursor. The cursor
// is a plain integer: save it in a checkpoint and pass it back to resume the same stream.
// Returns 0, or -1 with err. Not thread-safe per source (one source per thread).
int problem_source_next(ProblemSource *s, uint64_t *cursor, Problem *out, char *err, size_t errlen);
size_t problem_source_size(const ProblemSource *s);   // dataset rows; 0 for the endless generator
void problem_free(Problem *p);
void problem_source_free(ProblemSource *s);
