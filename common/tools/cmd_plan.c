// `rlvr plan`: the per-GPU memory plan of a learner config (weights, fp32 masters, gradients, the Adam
// shard, activations with and without recompute, the forward-only pass, the runtime reserve), checked
// against trainer.gpu_memory_gib. The learner program computes it (learner --dry-run), so the plan a
// user prints is the one a trainer.device=cuda run refuses to start on.
//   rlvr plan --config FILE [--ranks N] [key.sub=value ...]
#include <stdio.h>
#include <string.h>

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
    return exec_learner("plan", "--dry-run", argc, argv, NULL);
}
