// The learner's JSON Lines files: a metric that cannot be computed is written as null and counted
// (never dropped); lines are appended whole; a partial last line left by a dead run is cut on resume;
// an I/O error names the OS error and the right remedy.
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/files.h"
#include "learner/metrics_log.h"
#include "tests/harness.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = calloc(1, 1 << 16);
    size_t n = fread(s, 1, (1 << 16) - 1, f);
    s[n] = 0;
    fclose(f);
    return s;
}

static void test_null_metrics(void) {
    StepStats st;
    memset(&st, 0, sizeof st);
    st.ppl_mean = INFINITY;        // exp of an absurd mean NLL
    st.logprob_gap = NAN;
    st.accuracy = 0.5;
    StepMeta mt;
    memset(&mt, 0, sizeof mt);
    mt.step = 3; mt.total_steps = 10; mt.mode = "grpo"; mt.plateau_step = -1;
    char *line = metrics_format(&st, &mt);
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    CHECK_MSG(o != NULL, "the line is JSON: %s", line);
    if (o) {
        json_t *p = json_object_get(o, "ppl_mean"), *g = json_object_get(o, "logprob_gap"), *n = json_object_get(o, "metrics_null");
        CHECK_MSG(p && json_is_null(p), "ppl_mean present as null: %s", line);
        CHECK(g && json_is_null(g));
        CHECK(n && json_integer_value(n) == 2);
        CHECK(json_real_value(json_object_get(o, "accuracy")) == 0.5);
        json_decref(o);
    }
    MetricsHistory h;
    memset(&h, 0, sizeof h);
    history_add(&h, line);   // a null metric is read back as 0 by the stage detector's parser
    CHECK(h.n == 1 && h.acc[0] == 0.5);
    history_free(&h);
    free(line);
    // a finite step writes no counter (the key set of ordinary lines is unchanged)
    st.ppl_mean = 1.5; st.logprob_gap = 0;
    line = metrics_format(&st, &mt);
    CHECK(strstr(line, "metrics_null") == NULL && strstr(line, "null") == NULL);
    free(line);
}

static void test_append_and_repair(const char *dir) {
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    CHECK(jsonl_append(path, "{\"step\":1}", err, sizeof err) == 0);
    CHECK(jsonl_append(path, "{\"step\":2}", err, sizeof err) == 0);
    char *s = slurp(path);
    CHECK(s && strcmp(s, "{\"step\":1}\n{\"step\":2}\n") == 0);
    free(s);
    // a dead writer's partial last line is cut, whole lines stay
    FILE *f = fopen(path, "ab");
    fputs("{\"step\":3,\"acc", f);
    fclose(f);
    long cut = -1;
    CHECK(jsonl_repair_tail(path, &cut, err, sizeof err) == 0 && cut == 14);
    s = slurp(path);
    CHECK(s && strcmp(s, "{\"step\":1}\n{\"step\":2}\n") == 0);
    free(s);
    CHECK(jsonl_repair_tail(path, &cut, err, sizeof err) == 0 && cut == 0);   // whole: untouched
    // a file of one partial line becomes empty; a missing file is fine
    snprintf(path, sizeof path, "%s/torn.jsonl", dir);
    f = fopen(path, "wb");
    fputs("{\"st", f);
    fclose(f);
    CHECK(jsonl_repair_tail(path, &cut, err, sizeof err) == 0 && cut == 4);
    s = slurp(path);
    CHECK(s && s[0] == 0);
    free(s);
    snprintf(path, sizeof path, "%s/none.jsonl", dir);
    CHECK(jsonl_repair_tail(path, &cut, err, sizeof err) == 0 && cut == 0);
    // the error names the OS's text and the matching remedy
    snprintf(path, sizeof path, "%s/no/such/dir/m.jsonl", dir);
    CHECK(jsonl_append(path, "{}", err, sizeof err) != 0);
    CHECK_MSG(strstr(err, strerror(ENOENT)) && strstr(err, "does the directory exist"), "%s", err);
    CHECK(strstr(write_error_hint(ENOSPC), "full") != NULL);
    // /dev/full fails every write with ENOSPC: the error says so, with the disk-full remedy
    if (access("/dev/full", W_OK) == 0) {
        CHECK(jsonl_append("/dev/full", "{\"step\":1}", err, sizeof err) != 0);
        CHECK_MSG(strstr(err, strerror(ENOSPC)) && strstr(err, "free space"), "%s", err);
    }
}

int main(void) {
    char dir[] = "/tmp/rlvr_metrics_log_XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_null_metrics();
    test_append_and_repair(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
    return tests_done();
}
