// rlvr: the tools program. Each subcommand lives in its own cmd_<name>.c file in this folder.
#include <stdio.h>
#include <string.h>

#include "common/tools/commands.h"

int main(int argc, char **argv) {
    struct { const char *name; int (*fn)(int, char **); const char *help; } cmds[] = {
        {"score", cmd_score, "per-token log-probs and entropies of a token sequence"},
        {"generate", cmd_generate, "sample a continuation of a prompt"},
        {"convert", cmd_convert, "convert between an HF directory and a native .h5 model file"},
        {"sft", cmd_sft, "supervised fine-tuning (cross-entropy) to make a base policy"},
        {"eval", cmd_eval, "Acc@N / Maj@N / Pass@N on JSON Lines benchmarks"},
        {"grade", cmd_grade, "grade predictions against gold answers (JSON Lines)"},
        {"algo", cmd_algo, "the RL formulas as a JSON Lines calculator"},
        {"export", cmd_export, "write an HF directory from a checkpoint"},
        {"inspect", cmd_inspect, "summarise a checkpoint or model file"},
        {"analyze", cmd_analyze, "the paper's analyses: entropy, gradient-norm proxy, token replacement"},
        {"plan", cmd_plan, "per-GPU memory plan of a learner config (learner --dry-run); exit 1 when it does not fit"},
        {"tokenize", cmd_tokenize, "text <-> token ids, chat messages -> prompt, with a model's tokenizer (JSON Lines)"},
    };
    const int n = (int)(sizeof(cmds) / sizeof(cmds[0]));
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: rlvr <command> [options]   (rlvr <command> --help for its options)\n\ncommands:\n");
        for (int i = 0; i < n; i++)
            fprintf(argc < 2 ? stderr : stdout, "  %-9s %s\n", cmds[i].name, cmds[i].help);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0) continue;
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "rlvr: unknown command '%s' (run 'rlvr --help' for the list)\n", argv[1]);
    return 2;
}
