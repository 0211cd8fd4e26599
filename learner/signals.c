// Signal flags of the learner: set by the handlers, acted on at step boundaries.
#include <signal.h>
#include <string.h>

#include "learner/learner.h"

volatile sig_atomic_t learner_sigterm = 0, learner_sigusr1 = 0;

static void on_signal(int sig) {
    if (sig == SIGUSR1) learner_sigusr1 = 1;
    else learner_sigterm = 1;
}

void learner_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    // A closed log pipe (mpirun gone, a dead tee) must not kill a rank in the middle of a checkpoint:
    // writes to it fail with EPIPE instead.
    signal(SIGPIPE, SIG_IGN);
}

