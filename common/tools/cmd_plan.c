// `rlvr plan`: the per-GPU memory plan of a learner config (weights, fp32 masters, gradients, the Adam
// shard, activations with and without recompute, the forward-only pass, the runtime reserve), checked
// against trainer.gpu_memory_gib. The learner program computes it (learner --dry-run), so the plan a
// user prints is the one a trainer.device=cuda run refuses to start on.
//   rlvr plan --config FILE [--ranks N] [key.sub=value ...]
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/tools/commands.h"

int cmd_plan(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: rlvr plan --config FILE [--ranks N] [key.sub=value ...]\n"
               "  prints the per-GPU memory of a learner step for the config's model (model.path: an HF directory, its\n"
               "  config.json, e.g. configs/shapes/qwen2.5-7b.json, or a model file; else model.init.*), micro-batch\n"
               "  (actor.ppo_micro_batch_size_per_gpu) and T (data.max_prompt_length + data.max_response_length), under\n"
               "  trainer.precision / zero_stage / activation_checkpointing / flash_attention with N ranks (default 1).\n"
               "  Exit status 1 when it does not fit trainer.gpu_memory_gib (the message names the knobs to turn).\n"
               "  Same as: learner --dry-run [--ranks N] --config FILE ...\n");
        return argc < 2 ? 2 : 0;
    }
    // the learner lives next to rlvr (build/bin)
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { fprintf(stderr, "error: rlvr plan: cannot find my own path: %s\n", strerror(errno)); return 1; }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) { fprintf(stderr, "error: rlvr plan: odd executable path %s\n", self); return 1; }
    *slash = 0;
    char learner[PATH_MAX + 16];
    if (snprintf(learner, sizeof learner, "%s/learner", self) >= (int)sizeof learner) return 1;
    if (access(learner, X_OK) != 0) {
        fprintf(stderr, "error: rlvr plan: %s not found (build it: launch/build.sh)\n", learner);
        return 1;
    }
    char **av = callocCheck((size_t)argc + 2, sizeof(char *));
    av[0] = learner;
    av[1] = "--dry-run";
    for (int i = 1; i < argc; i++) av[i + 1] = argv[i];
    av[argc + 1] = NULL;
    execv(learner, av);
    fprintf(stderr, "error: rlvr plan: cannot run %s: %s\n", learner, strerror(errno));
    free(av);
    return 1;
}
