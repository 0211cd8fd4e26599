// log_line_v (common/core/check.h): "prefix: message\n" on stderr in one piece. Checked with stderr sent
// to a file: the text, truncation of an over-long message, and two threads logging at once (every
// line must come out whole, as the coordinator thread and rank 0's main thread share one log).
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"
#include "tests/harness.h"

#define LINES 2000

static void log_line(const char *prefix, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_line_v(prefix, fmt, ap);
    va_end(ap);
}

static void *writer(void *arg) {
    const char *who = arg;
    for (int i = 0; i < LINES; i++) log_line(who, "line %d of %s %s", i, who, "payload-payload-payload-payload");
    return NULL;
}

int main(void) {
    char path[] = "/tmp/rlvr_test_log_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    CHECK(dup2(fd, 2) == 2);

    log_line("learner", "checkpoint %s written (step %d)", "a.h5", 8);
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_line("coord", "%s", big);
    pthread_t a, b;
    pthread_create(&a, NULL, writer, "alpha");
    pthread_create(&b, NULL, writer, "beta");
    pthread_join(a, NULL);
    pthread_join(b, NULL);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    static char line[8192];
    CHECK(fgets(line, sizeof line, f) && strcmp(line, "learner: checkpoint a.h5 written (step 8)\n") == 0);
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK_MSG(strlen(line) == 4095 && strncmp(line, "coord: xxx", 10) == 0 && line[4094] == '\n',
              "an over-long message is cut to 4094 characters + newline (got %zu)", strlen(line));
    int whole = 0, n_alpha = 0, n_beta = 0;
    while (fgets(line, sizeof line, f)) {
        int i;
        char who[16], rest[64];
        if (sscanf(line, "%15[a-z]: line %d of %15s %63s", who, &i, rest, rest) == 4 &&
            strlen(line) > 32 && strcmp(line + strlen(line) - 32, "payload-payload-payload-payload\n") == 0) {
            whole++;
            n_alpha += !strcmp(who, "alpha");
            n_beta += !strcmp(who, "beta");
        }
    }
    fclose(f);
    unlink(path);
    CHECK_MSG(whole == 2 * LINES && n_alpha == LINES && n_beta == LINES, "%d of %d lines whole (%d alpha, %d beta)", whole,
              2 * LINES, n_alpha, n_beta);
    return tests_done();
}
