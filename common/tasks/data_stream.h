// The learner's prompt stream: problems from the arithmetic task or a JSON Lines file (common/tasks/tasks.h),
// shown through data.prompt_template and tokenized with the tokenizer's special tokens (the char
// tokenizer's and LLaMA-3's BOS; none for Qwen2). With data.apply_chat_template that text is the user
// message of the model's chat template (common/engine/chat_template.h), and the rendered prompt is
// tokenized without special tokens, as verl does (the template writes its own BOS). A plain integer
// cursor is the whole state, so checkpoints save it and resume the identical stream.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/config/config.h"
#include "common/tasks/tasks.h"
#include "common/engine/chat_template.h"
#include "common/engine/tokenizer.h"

typedef struct {
    ProblemSource *src;
    const Tokenizer *tok;               // the caller's; must outlive the stream
    char template_fmt[CONFIG_STR_MAX];  // "{prompt}"-style template, or "" when a named one is applied by the source
    char template_name[32];            // named template ("default", "chatml", ...) or ""
    int max_prompt;                     // data.max_prompt_length (tokens, BOS included)
    uint64_t cursor;
    uint64_t skipped_long;              // prompts skipped for being too long
    int use_chat;                       // data.apply_chat_template
    ChatTemplate chat;                  // its renderer (data.chat_template, or recognised)
} DataStream;

typedef struct {
    uint64_t id;          // unique, increasing prompt id (stream position)
    char *text;           // what the model is shown (templates applied)
    char *answer;         // gold answer
    int n_tokens;
    int32_t *tokens;      // (n_tokens,) encode(text): with the tokenizer's special tokens ([BOS] + text), or
                          // as rendered by the chat template
} DataItem;

// The arithmetic task's knobs as a run configures them: data.arith.{digits,steps,ops}, and
// data.arith.heldout_size converted to the task's held-out fraction. `rlvr eval --config` uses it so its
// held-out problems are exactly the training run's. Returns 0, or -1 with err naming the bad key.
int arith_knobs_from_config(const RlvrConfig *c, ArithKnobs *k, char *err, size_t errlen);

// heldout = 1: the validation split (arith) / data.val_files. tok is kept (not copied). Returns 0, or -1 with
// err (a chat template that cannot be used with this tokenizer is an error here, at start).
int data_open(DataStream *d, const RlvrConfig *cfg, const Tokenizer *tok, int heldout, char *err, size_t errlen);
void data_close(DataStream *d);
// Next usable prompt (too-long ones are skipped and counted). Returns 0, or -1 with err.
int data_next(DataStream *d, DataItem *out, char *err, size_t errlen);
void data_item_free(DataItem *it);

// Encodes text (no special tokens) into a malloc'd int32 array with room for `extra` more ids after
// them; *n receives the count. NULL with err when the text cannot be encoded.
int32_t *data_encode(const Tokenizer *tok, const char *text, int extra, int *n, char *err, size_t errlen);
