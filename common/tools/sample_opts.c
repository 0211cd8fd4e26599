#include "common/tools/sample_opts.h"

#include <stdio.h>
#include <string.h>

#include "common/core/cli.h"
#include "common/tasks/data_stream.h"

void sample_opts_init(SampleOpts *o, const char *tool, const char *help, int greedy_ok, double temperature, double top_p) {
    memset(o, 0, sizeof *o);
    o->tool = tool;
    o->help = help;
    o->greedy_ok = greedy_ok;
    o->tmpl = NULL;
    o->chat = -1;
    o->chat_name = "";
    o->n = 8;
    o->max_tokens = 512;
    o->batch = 64;
    o->digits = o->steps = -1;
    o->temperature = temperature;
    o->top_p = top_p;
    device_opts_default(&o->device);
}

static int push(const char **list, int *count, const char *v, const char *what, const char *tool) {
    if (*count == SAMPLE_MAX_ARGS) {
        fprintf(stderr, "%s: at most %d %s\n", tool, SAMPLE_MAX_ARGS, what);
        return -1;
    }
    list[(*count)++] = v;
    return 0;
}

int sample_opts_parse(SampleOpts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (a[0] != '-' && strchr(a, '=')) return push(o->overrides, &o->n_overrides, a, "key=value overrides", o->tool) ? -1 : 1;
    if (!strcmp(a, "--quiet")) { o->quiet = 1; return 1; }
    if (!strcmp(a, "--chat")) { o->chat = 1; return 1; }
    if (!strcmp(a, "--no-chat")) { o->chat = 0; return 1; }
    static const char *const with_value[] = {"--model", "--out", "--template", "--chat-template", "--config", "--data", "-n", "--max-tokens",
                                             "--limit", "--batch", "--arith-digits", "--arith-steps", "--temperature",
                                             "--top-p", "--seed", "--arith-seed", "--device", "--precision", "--gpu-memory-fraction"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof *with_value && !known; k++) known = !strcmp(a, with_value[k]);
    if (!known) return 0;
    if (*i + 1 >= argc) { fprintf(stderr, "%s: %s needs a value\n", o->tool, a); return -1; }
    const char *v = argv[++*i];
    int bad = 0;
    if (!strcmp(a, "--model")) o->model_path = v;
    else if (!strcmp(a, "--out")) o->out_dir = v;
    else if (!strcmp(a, "--template")) o->tmpl = v;
    else if (!strcmp(a, "--chat-template")) o->chat_name = v, o->chat = 1;
    else if (!strcmp(a, "--config")) return push(o->configs, &o->n_configs, v, "--config options", o->tool) ? -1 : 1;
    else if (!strcmp(a, "--data")) return push(o->data, &o->n_data, v, "--data options", o->tool) ? -1 : 1;
    else if (!strcmp(a, "-n")) bad = cli_parse_long(v, 1, 4096, &o->n), o->given_n = 1;
    else if (!strcmp(a, "--max-tokens")) bad = cli_parse_long(v, 1, 1000000, &o->max_tokens), o->given_max_tokens = 1;
    else if (!strcmp(a, "--limit")) bad = cli_parse_long(v, 1, 1L << 40, &o->limit);
    else if (!strcmp(a, "--batch")) bad = cli_parse_long(v, 1, 65536, &o->batch);
    else if (!strcmp(a, "--arith-digits")) bad = cli_parse_long(v, 1, 4, &o->digits);
    else if (!strcmp(a, "--arith-steps")) bad = cli_parse_long(v, 1, 3, &o->steps);
    else if (!strcmp(a, "--temperature"))
        bad = cli_parse_double(v, &o->temperature) || (o->greedy_ok ? !(o->temperature >= 0) : !(o->temperature > 0)), o->given_temp = 1;
    else if (!strcmp(a, "--top-p")) bad = cli_parse_double(v, &o->top_p) || !(o->top_p > 0 && o->top_p <= 1), o->given_top_p = 1;
    else if (!strcmp(a, "--seed")) bad = cli_parse_u64(v, &o->seed);
    else if (!strcmp(a, "--arith-seed")) bad = cli_parse_u64(v, &o->arith_seed), o->given_arith_seed = 1;
    else if (!strcmp(a, "--device")) bad = device_kind_parse(v, &o->device.kind);
    else if (!strcmp(a, "--precision")) bad = device_precision_parse(v, &o->device.precision);
    else if (!strcmp(a, "--gpu-memory-fraction"))
        bad = cli_parse_double(v, &o->device.mem_fraction) || !(o->device.mem_fraction > 0 && o->device.mem_fraction <= 1);
    if (bad) {
        fprintf(stderr, "%s: bad value '%s' for %s (see %s for the allowed values)\n", o->tool, v, a, o->help);
        return -1;
    }
    return 1;
}

int sample_opts_finish(SampleOpts *o, const char *defaults, RlvrConfig *cfg, int *have_cfg, ArithKnobs *knobs) {
    *have_cfg = 0;
    if (!o->model_path || o->n_data == 0) {
        fprintf(stderr, "%s: --model and --data are required (see %s)\n", o->tool, o->help);
        return -1;
    }
    char derr[512];
    if (device_opts_available(&o->device, o->tool, derr, sizeof derr) != 0) {
        fprintf(stderr, "%s\n", derr);
        return -1;
    }
    if (o->tmpl && !prompt_template_known(o->tmpl)) {
        fprintf(stderr, "%s: unknown --template '%s' (known: " PROMPT_TEMPLATE_NAMES ", or text with {prompt})\n", o->tool, o->tmpl);
        return -1;
    }
    if (o->chat_name[0]) {
        ChatTemplate ct;
        char err[512];
        if (chat_template_named(&ct, o->chat_name, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "%s: --chat-template: %s\n", o->tool, err);
            return -1;
        }
        chat_template_free(&ct);
    }
    arith_knobs_default(knobs);
    if (o->n_overrides > 0 && o->n_configs == 0) {
        fprintf(stderr, "%s: '%s' is a config override but no --config FILE was given\n", o->tool, o->overrides[0]);
        return -1;
    }
    if (o->n_configs > 0) {
        char err[2048];
        config_defaults(cfg);
        for (int k = 0; k < o->n_configs; k++)
            if (config_load_file(cfg, o->configs[k], err, sizeof err) != 0) {
                fprintf(stderr, "%s: --config %s: %s\n", o->tool, o->configs[k], err);
                return -1;
            }
        for (int k = 0; k < o->n_overrides; k++)
            if (config_override(cfg, o->overrides[k], err, sizeof err) != 0) { fprintf(stderr, "%s: %s\n", o->tool, err); return -1; }
        if (config_validate(cfg, err, sizeof err) != 0 || arith_knobs_from_config(cfg, knobs, err, sizeof err) != 0) {
            fprintf(stderr, "%s: --config: %s\n", o->tool, err);
            return -1;
        }
        *have_cfg = 1;
        if (!o->given_arith_seed) o->arith_seed = (unsigned long long)cfg->trainer_seed;
        const int eval = !strcmp(defaults, "eval");
        const long n = eval ? (long)cfg->eval_n : (long)cfg->rollout_n;
        const double temperature = eval ? cfg->eval_temperature : cfg->rollout_temperature;
        const double top_p = eval ? cfg->eval_top_p : cfg->rollout_top_p;
        const int64_t mx = eval ? cfg->eval_max_new_tokens : cfg->rollout_max_new_tokens;
        if (!o->given_n) o->n = n;
        if (!o->given_temp) o->temperature = temperature;
        if (!o->given_top_p) o->top_p = top_p;
        if (!o->given_max_tokens) o->max_tokens = mx > 0 ? (long)mx : (long)cfg->data_max_response_length;
        if (!o->tmpl) o->tmpl = cfg->data_prompt_template;   // the learner's prompts
        if (o->chat < 0) o->chat = cfg->data_apply_chat_template;
        if (!o->chat_name[0]) o->chat_name = cfg->data_chat_template;
        if (o->n < 1 || o->n > 4096 || o->max_tokens < 1 || o->max_tokens > 1000000) {
            fprintf(stderr, "%s: --config: %s.n (1..4096) or the response length (1..1000000) is out of range\n", o->tool, defaults);
            return -1;
        }
        if (!o->greedy_ok && !(o->temperature > 0)) {
            fprintf(stderr, "%s: --config: %s.temperature is 0 (greedy); this needs a temperature > 0 (give --temperature)\n",
                    o->tool, defaults);
            return -1;
        }
    }
    if (o->chat > 0 && prompt_template_is_chat(o->tmpl)) {
        fprintf(stderr, "%s: --template %s writes chat markup itself; with a chat template give the user message's text "
                "(default, plain, dapo, or text with {prompt})\n", o->tool, o->tmpl);
        return -1;
    }
    if (o->digits > 0) knobs->digits = (int)o->digits;
    if (o->steps > 0) knobs->steps = (int)o->steps;
    return 0;
}

int sample_opts_apply_chat(const SampleOpts *o, const Tokenizer *tok, ProblemSet *sets, int n) {
    if (o->chat <= 0) return 0;
    ChatTemplate ct;
    char err[2048];
    if (chat_template_for_tokenizer(&ct, tok, o->chat_name, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", o->tool, err);
        return -1;
    }
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++)
        if (problem_set_apply_chat(&sets[k], &ct, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s: %s\n", o->tool, sets[k].name, err);
            rc = -1;
        }
    if (rc == 0 && !o->quiet) fprintf(stderr, "%s: chat template %s\n", o->tool, chat_template_describe(&ct));
    chat_template_free(&ct);
    return rc;
}
