// The options `rlvr eval` and `rlvr analyze` share, parsed in one place: what to sample (--model,
// --data, --template, --chat / --chat-template / --no-chat, --limit and the arithmetic split), how
// (-n, --temperature, --top-p, --max-tokens, --batch, --seed), where (--device, --precision,
// --gpu-memory-fraction: common/engine/device.h), --out, --quiet, and training configs
// (--config FILE, key=value overrides) whose settings become the defaults of the flags not given.
#pragma once
#include "common/config/config.h"
#include "common/engine/device.h"
#include "common/engine/tokenizer.h"
#include "common/tasks/problems.h"
#include "common/tasks/tasks.h"

#define SAMPLE_MAX_ARGS 64

typedef struct {
    const char *tool;          // message prefix: "rlvr eval", "rlvr analyze entropy"
    const char *help;          // where the allowed values are listed: "rlvr eval --help"
    int greedy_ok;             // --temperature 0 (greedy) is allowed
    const char *model_path, *out_dir;
    const char *tmpl;          // --template (a name or a {prompt} format); NULL: not given
    int chat;                  // put prompts through the model's chat template: -1 not given, 0 / 1
    const char *chat_name;     // --chat-template NAME ("" : recognise the model's)
    const char *data[SAMPLE_MAX_ARGS];
    int n_data;
    const char *configs[SAMPLE_MAX_ARGS], *overrides[SAMPLE_MAX_ARGS];
    int n_configs, n_overrides;
    long n, max_tokens, limit, batch, digits, steps;   // digits, steps: -1 = the task's default
    double temperature, top_p;
    unsigned long long seed, arith_seed;
    int quiet;
    DeviceOpts device;         // --device / --precision / --gpu-memory-fraction (cpu, fp32, 0.9)
    int given_n, given_temp, given_top_p, given_max_tokens, given_arith_seed;
} SampleOpts;

// Defaults: n 8, max_tokens 512, batch 64, template "default" (JSON Lines) / none (arith), no chat
// template, seeds 0, and the given sampling.
void sample_opts_init(SampleOpts *o, const char *tool, const char *help, int greedy_ok, double temperature, double top_p);

// Looks at argv[*i]. Returns 1 when it is a shared option (its value consumed: *i advanced), 0 when
// it is not one, -1 when it is one with a missing or bad value (the message is printed on stderr).
int sample_opts_parse(SampleOpts *o, int argc, char **argv, int *i);

// After parsing: checks that --model and --data were given, that the device can be used (a build
// with the CUDA backend and a visible GPU for --device cuda), the template is known and overrides come
// with a --config; loads the configs in order, applies the overrides and validates (*cfg, and
// *have_cfg = 1, when there was a --config); sets *knobs for the arithmetic split exactly as the
// learner does; and fills the flags not given from the config: from eval.* when defaults is "eval",
// from rollout.* (the training distribution) when it is "rollout"; the prompt's form from data.prompt_template,
// data.apply_chat_template and data.chat_template, so prompts are the learner's. Returns 0, or -1 with the
// message printed on stderr.
int sample_opts_finish(SampleOpts *o, const char *defaults, RlvrConfig *cfg, int *have_cfg, ArithKnobs *knobs);

// After the model's tokenizer is loaded: with --chat (or a config's data.apply_chat_template), renders the
// prompts of the n problem sets through the chat template (--chat-template NAME, else the one recognised
// from the tokenizer). Returns 0, or -1 with the message printed on stderr.
int sample_opts_apply_chat(const SampleOpts *o, const Tokenizer *tok, ProblemSet *sets, int n);
