// Problem sets for the tools that sample and grade (rlvr eval, rlvr analyze): one benchmark is a JSON
// Lines file ({"id", "problem", "answer"}, verifier "math", prompt template applied) or the arithmetic
// task's held-out split (arith:heldout[:COUNT], verifier "arith", the problem text as the prompt, the
// same split the learner holds out for the given task seed and knobs). Shared so that "the same
// problems" means the same thing in every tool.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/engine/chat_template.h"
#include "common/tasks/tasks.h"

typedef struct {
    char name[256];        // file name without extension, or "arith_heldout"
    const char *verifier;  // "math" | "arith" (static string)
    size_t n;
    char **ids, **prompts, **answers;   // (n) prompt text already built
    int encode_flags;      // how a prompt is tokenized: TOK_ADD_SPECIAL, or 0 once a chat template rendered it
    char chat_template[16];   // the chat template's name, "" for none
} ProblemSet;

// Loads one --data SPEC (limit > 0: first `limit` problems only). tmpl: a prompt template name or a
// {prompt} format (tasks.h); NULL: "default" for JSON Lines, the bare problem for the arithmetic task.
// Returns 0, or -1 with err naming the spec or the file:line at fault.
int problem_set_load(const char *spec, const char *tmpl, uint64_t arith_seed, const ArithKnobs *knobs, long limit, ProblemSet *b,
                     char *err, size_t errlen);
void problem_set_free(ProblemSet *b);
// Renders every prompt as the user message of a chat template (with the generation prompt); they are
// then tokenized without special tokens. Returns 0, or -1 with err.
int problem_set_apply_chat(ProblemSet *b, const ChatTemplate *ct, char *err, size_t errlen);
// Length in bytes of the longest prompt text (an upper bound on its token count for the tokenizers we have).
size_t problem_set_longest_prompt(const ProblemSet *b);

