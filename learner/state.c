// Learner checkpoints: what goes into the HDF5 file and how a run resumes from it.
//
// /data holds (uint64): [LEARNER_STATE_VERSION, data cursor, prompts skipped as too long,
// plateau_step + 1 (0: none), mode (0 grpo, 1 sft)]. /rng holds the learner's Rng (4 words). The
// metrics history (every metrics.jsonl line so far) rides in /metrics, so a resumed run rewrites
// metrics.jsonl to exactly the checkpointed steps and feeds the stage detector the same history.
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/io/checkpoint.h"
#include "common/tasks/jsonl.h"
#include "learner/learner.h"

void learner_log(const Learner *L, const char *fmt, ...) {
    if (L->d.rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    log_line_v("learner", fmt, ap);
    va_end(ap);
}

int learner_save(Learner *L, const char *why) {
    int rc = 0;
    trainer_gather_state(&L->tr);   // ZeRO-1 shards and device state into rank 0's host Model
    if (L->d.rank == 0) {
        double t0 = now_seconds();
        uint8_t *blob = NULL;
        size_t blen = 0;
        if (L->coord && coord_save_state(L->coord, &blob, &blen) != 0) {
            learner_log(L, "checkpoint: saving the coordinator state failed; checkpoint skipped");
            rc = -1;
        }
        if (rc == 0) {
            uint64_t data[5] = {LEARNER_STATE_VERSION, L->data.cursor, L->data.skipped_long,
                                (uint64_t)(L->plateau_step + 1), strcmp(L->cfg.trainer_mode, "sft") == 0};
            char *yaml = config_to_yaml(&L->cfg);
            char *metrics = history_join(&L->hist);
            CheckpointState st;
            memset(&st, 0, sizeof st);
            st.step = L->step;
            st.policy_version = L->version;
            st.optimizer_step = L->tr.opt_step;
            st.model = &L->model;
            st.rng = L->rng.s; st.rng_len = 4;
            st.data = data; st.data_len = 5;
            st.coordinator = blob; st.coordinator_len = blen;
            st.config_yaml = yaml;
            st.metrics = metrics;
            char path[LEARNER_PATH_MAX], err[1024];
            if (checkpoint_save(L->ckpt_dir, &st, (int)L->cfg.trainer_max_keep_ckpt, path, sizeof path, err, sizeof err) != 0) {
                int last = !strcmp(why, "periodic") || !strcmp(why, "SIGUSR1") ? 0 : 1;
                learner_log(L, "checkpoint at step %ld FAILED (%s): %s%s", L->step, why, err,
                            last ? "" : "; training goes on");
                rc = -1;
            } else {
                snprintf(L->last_ckpt, sizeof L->last_ckpt, "%s", path);
                learner_log(L, "checkpoint %s written (%s, step %ld, policy version %lld, %.2fs)", path, why, L->step,
                            (long long)L->version, now_seconds() - t0);
            }
            free(yaml); free(metrics);
        }
        free(blob);
    }
    int32_t ok = rc == 0;   // every rank learns rank 0's verdict (and waits for the write, as a barrier would)
    dist_bcast(&ok, sizeof ok, DIST_POLL_US);
    return ok ? 0 : -1;
}

void learner_write_exit_status(const Learner *L, int code, const char *state) {
    if (L->d.rank != 0 || !L->run_dir[0]) return;
    char path[LEARNER_PATH_MAX + 32], err[1024];
    snprintf(path, sizeof path, "%s/%s", L->run_dir, LEARNER_EXIT_STATUS_FILE);
    json_t *j = json_pack("{s:i, s:s, s:I, s:s, s:I}", "exit_code", code, "state", state, "step", (json_int_t)L->step,
                          "checkpoint", L->last_ckpt, "pid", (json_int_t)getpid());
    if (!j) die("cannot build %s (out of memory)", path);
    if (json_write_atomic(path, j, JSON_COMPACT, err, sizeof err) != 0)
        fprintf(stderr, "learner: warning: %s: launchers will go by mpirun's exit status\n", err);
    json_decref(j);
}

int learner_check_launcher(Learner *L) {
    if (L->launcher_gone) return 1;
    if (L->ppid <= 1 || (long)getppid() == L->ppid) return 0;
    if (!learner_sigterm) {
        fprintf(stderr, "learner: rank %d: the launcher (pid %ld) is gone (mpirun killed?); checkpointing and stopping "
                "as on SIGTERM\n", L->d.rank, L->ppid);
        fflush(stderr);
    }
    learner_sigterm = 1;
    L->launcher_gone = 1;
    return 1;
}

// The append-only files may end in a partial line when the run before died mid-write (a full disk,
// SIGKILL): cut it, so the lines this run appends start on a line of their own.
static void repair_appended_files(const Learner *L) {
    static const char *const names[] = {"batches.jsonl", "val_metrics.jsonl"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[LEARNER_PATH_MAX + 32], err[LEARNER_PATH_MAX + 256];
        long cut = 0;
        snprintf(path, sizeof path, "%s/%s", L->run_dir, names[i]);
        if (jsonl_repair_tail(path, &cut, err, sizeof err) != 0) learner_log(L, "warning: %s", err);
        else if (cut > 0) learner_log(L, "resume: removed a partial last line (%ld bytes) from %s", cut, path);
    }
}

int learner_resume(Learner *L) {
    char path[LEARNER_PATH_MAX] = "";
    int32_t found = 0;
    CheckpointState st;
    memset(&st, 0, sizeof st);
    char err[2048];
    if (L->d.rank == 0) {
        // rank 0 picks (falling back past corrupt files, each named on stderr), every rank then reads it
        st.model = &L->model;
        int rc = checkpoint_load_latest(L->ckpt_dir, &st, 0, path, sizeof path, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "error: resume: %s\n", err);
            found = -1;
        } else {
            found = rc;
        }
    }
    dist_bcast(&found, sizeof found, DIST_POLL_US);
    dist_bcast(path, sizeof path, DIST_BLOCKING);
    if (found < 0) return -1;
    if (found == 0) {
        // none usable: refuse to silently start over when checkpoint files exist but all are bad
        int32_t bad = 0;
        if (L->d.rank == 0) {
            DIR *dir = opendir(L->ckpt_dir);
            struct dirent *e;
            while (dir && (e = readdir(dir)) != NULL)
                if (strncmp(e->d_name, "ckpt_", 5) == 0 && strstr(e->d_name, ".h5") && !strstr(e->d_name, ".tmp")) bad++;
            if (dir) closedir(dir);
            if (bad)
                fprintf(stderr, "error: resume: none of the %d checkpoint file(s) in %s is usable (each is named above with "
                        "its problem); move them away to start from scratch, or restore a good copy\n", bad, L->ckpt_dir);
        }
        dist_bcast(&bad, sizeof bad, DIST_BLOCKING);
        if (bad) return -1;
        learner_log(L, "resume: no checkpoint in %s; starting from scratch", L->ckpt_dir);
        return 0;
    }
    if (L->d.rank != 0) {
        st.model = &L->model;
        if (checkpoint_load(path, &st, 0, err, sizeof err) != 0) {
            fprintf(stderr, "error: rank %d: resume: %s (hint: every rank must see the run directory on a shared filesystem)\n", L->d.rank, err);
            dist_abort(1);
        }
    }
    if (st.data_len < 5 || st.data[0] != LEARNER_STATE_VERSION) {
        if (L->d.rank == 0)
            fprintf(stderr, "error: resume: %s holds learner state version %llu, this build reads %d (resume with the "
                    "build that wrote it, or start a new run directory)\n", path,
                    st.data_len ? (unsigned long long)st.data[0] : 0ull, LEARNER_STATE_VERSION);
        checkpoint_state_free(&st);
        return -1;
    }
    int is_sft = strcmp(L->cfg.trainer_mode, "sft") == 0;
    if ((int)st.data[4] != is_sft) {
        if (L->d.rank == 0)
            fprintf(stderr, "error: resume: %s was written in %s mode but trainer.mode is %s (to start GRPO from an SFT "
                    "result, use model.path with its final.h5 in a new run directory)\n", path, st.data[4] ? "sft" : "grpo", L->cfg.trainer_mode);
        checkpoint_state_free(&st);
        return -1;
    }
    L->step = st.step;
    L->version = st.policy_version;
    L->resume_opt_step = st.optimizer_step;
    L->data.cursor = st.data[1];
    L->data.skipped_long = st.data[2];
    L->plateau_step = (long)st.data[3] - 1;
    if (st.rng_len == 4) memcpy(L->rng.s, st.rng, sizeof L->rng.s);
    if (st.config_yaml && st.config_yaml[0]) {
        RlvrConfig old;
        config_defaults(&old);
        char cerr[512];
        if (config_load_string(&old, st.config_yaml, path, CONFIG_IGNORE_UNKNOWN, cerr, sizeof cerr) == 0 && L->d.rank == 0) {
            RlvrConfig now = L->cfg;
            now.trainer_resume = old.trainer_resume;   // the flag itself is expected to differ
            if (config_diff(&old, &now, NULL) > 0) {
                fprintf(stderr, "learner: resume: the config differs from the checkpoint's (checkpoint -> now):\n");
                config_diff(&old, &now, stderr);
            }
        }
    }
    if (history_load(&L->hist, st.metrics ? st.metrics : "", err, sizeof err) != 0) {
        if (L->d.rank == 0) fprintf(stderr, "error: resume: %s: %s\n", path, err);
        checkpoint_state_free(&st);
        return -1;
    }
    if (st.coordinator_len > 0 && L->d.rank == 0) {
        L->coord_blob = mallocCheck(st.coordinator_len);
        memcpy(L->coord_blob, st.coordinator, st.coordinator_len);
        L->coord_blob_len = st.coordinator_len;
    }
    if (L->d.rank == 0 && config_words_has(L->cfg.trainer_logger, "jsonl") && history_write_file(&L->hist, L->metrics_path, err, sizeof err) != 0)
        fprintf(stderr, "learner: warning: %s\n", err);
    if (L->d.rank == 0) repair_appended_files(L);
    learner_log(L, "resumed from %s: step %ld, policy version %lld, optimizer step %ld, data cursor %llu",
                path, L->step, (long long)L->version, L->resume_opt_step, (unsigned long long)L->data.cursor);
    checkpoint_state_free(&st);
    L->resumed = 1;
    return 1;
}
