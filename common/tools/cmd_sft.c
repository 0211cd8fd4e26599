// `rlvr sft`: supervised fine-tuning through the learner program in trainer.mode=sft, as one process
// (a singleton MPI job). For several ranks run the learner under mpirun directly:
//   mpirun -np N learner --config FILE --run-dir DIR trainer.mode=sft
#include <stdio.h>
#include <string.h>

#include "common/tools/commands.h"

int cmd_sft(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: rlvr sft --config FILE [--run-dir DIR] [--resume] [key.sub=value ...]\n"
               "  trains with cross-entropy on prompt -> \\boxed{answer} (trainer.mode=sft) and writes\n"
               "  RUN_DIR/final.h5; runs the learner program as one process. More ranks:\n"
               "  mpirun -np N learner --config FILE --run-dir DIR trainer.mode=sft\n");
        return argc < 2 ? 2 : 0;
    }
    return exec_learner("sft", NULL, argc, argv, "trainer.mode=sft");
}
