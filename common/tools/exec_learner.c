// rlvr subcommands that are the learner program run another way (`rlvr sft`, `rlvr plan`): find the
// learner next to rlvr and exec it with the user's arguments.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/tools/commands.h"

int exec_learner(const char *cmd, const char *first, int argc, char **argv, const char *last) {
    // the learner lives next to rlvr (build/bin)
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { fprintf(stderr, "error: rlvr %s: cannot find my own path: %s\n", cmd, strerror(errno)); return 1; }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) { fprintf(stderr, "error: rlvr %s: odd executable path %s\n", cmd, self); return 1; }
    *slash = 0;
    char learner[PATH_MAX + 16];
    if (snprintf(learner, sizeof learner, "%s/learner", self) >= (int)sizeof learner) return 1;
    if (access(learner, X_OK) != 0) {
        fprintf(stderr, "error: rlvr %s: %s not found (build it: launch/build.sh)\n", cmd, learner);
        return 1;
    }
    char **av = callocCheck((size_t)argc + 3, sizeof(char *));
    int k = 0;
    av[k++] = learner;
    if (first) av[k++] = (char *)first;
    for (int i = 1; i < argc; i++) av[k++] = argv[i];
    if (last) av[k++] = (char *)last;   // overrides are applied after the config files
    av[k] = NULL;
    execv(learner, av);
    fprintf(stderr, "error: rlvr %s: cannot run %s: %s\n", cmd, learner, strerror(errno));
    free(av);
    return 1;
}
