// `rlvr sft`: supervised fine-tuning through the learner program in trainer.mode=sft, as one process
// (a singleton MPI job). For several ranks run the learner under mpirun directly:
//   mpirun -np N learner --config FILE --run-dir DIR trainer.mode=sft
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tools/commands.h"
#include "common/core/check.h"

int cmd_sft(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: rlvr sft --config FILE [--run-dir DIR] [--resume] [key.sub=value ...]\n"
               "  trains with cross-entropy on prompt -> \\boxed{answer} (trainer.mode=sft) and writes\n"
               "  RUN_DIR/final.h5; runs the learner program as one process. More ranks:\n"
               "  mpirun -np N learner --config FILE --run-dir DIR trainer.mode=sft\n");
        return argc < 2 ? 2 : 0;
    }
    // the learner lives next to rlvr (build/bin)
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { fprintf(stderr, "error: rlvr sft: cannot find my own path: %s\n", strerror(errno)); return 1; }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) { fprintf(stderr, "error: rlvr sft: odd executable path %s\n", self); return 1; }
    *slash = 0;
    char learner[PATH_MAX + 16];
    if (snprintf(learner, sizeof learner, "%s/learner", self) >= (int)sizeof learner) return 1;
    if (access(learner, X_OK) != 0) {
        fprintf(stderr, "error: rlvr sft: %s not found (build it: launch/build.sh)\n", learner);
        return 1;
    }
    char **av = callocCheck((size_t)argc + 2, sizeof(char *));
    av[0] = learner;
    for (int i = 1; i < argc; i++) av[i] = argv[i];
    av[argc] = "trainer.mode=sft";   // overrides are applied after the config files
    av[argc + 1] = NULL;
    execv(learner, av);
    fprintf(stderr, "error: rlvr sft: cannot run %s: %s\n", learner, strerror(errno));
    free(av);
    return 1;
}
