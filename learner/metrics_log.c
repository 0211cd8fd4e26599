// Metrics lines, status line and history; see metrics_log.h.
#include "learner/metrics_log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/core/files.h"

// A metric that cannot be computed (NaN, +-inf) is written as null and counted, never dropped: JSON has
// no number for it, and a missing key would hide that it happened.
static void set_real(json_t *o, const char *k, double v, int *nulls) {
    if (isfinite(v)) { json_object_set_new(o, k, json_real(v)); return; }
    json_object_set_new(o, k, json_null());
    (*nulls)++;
}

char *metrics_format(const StepStats *st, const StepMeta *mt) {
    json_t *o = json_object();
    int nulls = 0;
#define I_(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
#define F_(k, v) set_real(o, k, (double)(v), &nulls)
    I_("step", mt->step);
    I_("policy_version", mt->policy_version);
    json_object_set_new(o, "mode", json_string(mt->mode));
    if (strcmp(mt->mode, "sft") == 0) {
        F_("loss", mt->sft_loss);
    } else {
        F_("reward_mean", st->reward_mean);
        F_("accuracy", st->accuracy);
        F_("score_mean", st->score_mean);
        F_("response_length_mean", st->resp_len_mean);
        F_("response_length_max", st->resp_len_max);
        F_("response_clip_frac", st->clip_len_frac);
        F_("entropy_mean", st->entropy_mean);
        F_("entropy_pos", st->entropy_pos);
        F_("entropy_neg", st->entropy_neg);
        F_("ppl_mean", st->ppl_mean);
        F_("adv_abs_mean", st->adv_abs_mean);
        F_("pg_loss", st->pg_loss);
        F_("kl_loss", st->kl_loss);
        F_("ppo_kl", st->ppo_kl);
        F_("clipfrac", st->clipfrac);
        F_("clipfrac_lower", st->clipfrac_lower);
        F_("logprob_gap", st->logprob_gap);
        F_("logprob_gap_max", st->logprob_gap_max);
        I_("logprob_gap_tokens", st->gap_tokens);
        F_("quality_boxed_violation", st->quality_boxed_violation);
        F_("quality_cjk", st->quality_cjk);
        F_("staleness_mean", st->staleness_mean);
        I_("position_shaping_active", st->position_active);
        I_("gen_rounds", mt->gen_rounds);
        I_("groups_dropped", mt->groups_dropped);
        json_object_set_new(o, "stage", json_string(mt->stage ? mt->stage : "rising"));
        I_("plateau_step", mt->plateau_step);
    }
    F_("grad_norm", st->grad_norm);
    F_("grad_norm_max", st->grad_norm_max);
    F_("lr", st->lr);
    I_("optimizer_steps", st->opt_steps);
    I_("skipped_steps", st->skipped_steps);
    I_("sequences", st->R);
    I_("tokens", st->n_tokens);
    I_("response_tokens", st->n_resp_tokens);
    F_("tokens_per_s", mt->tokens_per_s);
    F_("time_wait_s", mt->time_wait_s);
    F_("time_train_s", mt->time_train_s);
    F_("time_sync_s", mt->time_sync_s);
    F_("time_step_s", mt->time_step_s);
    if (mt->coord) {
        const CoordCounters *k = mt->coord;
        I_("coord_workers", k->workers);
        I_("coord_requeued", k->requeued);
        I_("coord_leases_expired", k->leases_expired);
        I_("coord_bad_messages", k->bad_total);
        I_("coord_late_dropped", k->late_dropped);
        I_("coord_stale_dropped", k->stale_dropped);
    }
    if (nulls) I_("metrics_null", nulls);
#undef I_
#undef F_
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!s) die("metrics: json_dumps failed (out of memory?)");
    char *out = strdupCheck(s);
    free(s);
    return out;
}

void metrics_status(FILE *f, const StepStats *st, const StepMeta *mt) {
    if (strcmp(mt->mode, "sft") == 0) {
        fprintf(f, "step %ld/%ld | sft loss %.4f | grad %.3f | lr %.2e | %.0f tok/s | train %.2fs\n", mt->step,
                mt->total_steps, mt->sft_loss, st->grad_norm, st->lr, mt->tokens_per_s, mt->time_train_s);
    } else {
        fprintf(f, "step %ld/%ld v%lld | reward %+.3f acc %.3f | len %.1f (max %.0f) | ent %.3f (+%.3f/-%.3f) | "
                "clip %.3f | grad %.3f | lr %.2e | gap %.2e | stale %.2f | %s | wait %.2fs train %.2fs sync %.2fs | %.0f tok/s%s\n",
                mt->step, mt->total_steps, (long long)mt->policy_version, st->reward_mean, st->accuracy, st->resp_len_mean,
                st->resp_len_max, st->entropy_mean, st->entropy_pos, st->entropy_neg, st->clipfrac, st->grad_norm, st->lr,
                st->logprob_gap, st->staleness_mean, mt->stage ? mt->stage : "rising", mt->time_wait_s, mt->time_train_s,
                mt->time_sync_s, mt->tokens_per_s, st->position_active ? " | position bonus on" : "");
    }
    fflush(f);
}

void history_free(MetricsHistory *h) {
    for (size_t i = 0; i < h->n; i++) free(h->lines[i]);
    free(h->lines); free(h->acc); free(h->ent);
    memset(h, 0, sizeof *h);
}

static double json_num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return v && json_is_number(v) ? json_number_value(v) : 0.0;
}

static int history_push(MetricsHistory *h, const char *line, char *err, size_t errlen) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!o || !json_is_object(o)) {
        if (o) json_decref(o);
        return rlvr_err(err, errlen, "metrics history line %zu is not a JSON object (%s)", h->n + 1, je.text);
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->lines = reallocCheck(h->lines, h->cap * sizeof(char *));
        h->acc = reallocCheck(h->acc, h->cap * sizeof(double));
        h->ent = reallocCheck(h->ent, h->cap * sizeof(double));
    }
    h->lines[h->n] = strdupCheck(line);
    h->acc[h->n] = json_num(o, "accuracy");
    h->ent[h->n] = json_num(o, "entropy_mean");
    h->n++;
    json_decref(o);
    return 0;
}

void history_add(MetricsHistory *h, const char *line) {
    char err[256];
    if (history_push(h, line, err, sizeof err) != 0) die("%s", err);
}

char *history_join(const MetricsHistory *h) {
    size_t n = 1;
    for (size_t i = 0; i < h->n; i++) n += strlen(h->lines[i]) + 1;
    char *s = mallocCheck(n), *p = s;
    for (size_t i = 0; i < h->n; i++) { size_t k = strlen(h->lines[i]); memcpy(p, h->lines[i], k); p += k; *p++ = '\n'; }
    *p = 0;
    return s;
}

int history_load(MetricsHistory *h, const char *text, char *err, size_t errlen) {
    history_free(h);
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t k = nl ? (size_t)(nl - p) : strlen(p);
        if (k > 0) {
            char *line = mallocCheck(k + 1);
            memcpy(line, p, k); line[k] = 0;
            int rc = history_push(h, line, err, errlen);
            free(line);
            if (rc != 0) return -1;
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

int jsonl_append(const char *path, const char *line, char *err, size_t errlen) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        return rlvr_err(err, errlen, "cannot open %s for appending: %s (%s)", path, strerror(e), write_error_hint(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return rlvr_err(err, errlen, "cannot stat %s: %s (%s)", path, strerror(e), write_error_hint(e));
    }
    size_t n = strlen(line);
    char *buf = mallocCheck(n + 1);   // the line and its newline in one write: no torn line between them
    memcpy(buf, line, n);
    buf[n] = '\n';
    int rc = write_all(fd, buf, n + 1);
    free(buf);
    if (rc != 0) {
        int e = errno;
        // whatever part of the line reached the file comes off again, so the file stays whole lines
        int cut = ftruncate(fd, sb.st_size);
        close(fd);
        return rlvr_err(err, errlen, "writing %s failed: %s (%s); %s", path, strerror(e), write_error_hint(e),
                        cut == 0 ? "the partial line was removed" : "the file may end with a partial line, removed at the next resume");
    }
    if (close(fd) != 0) {
        int e = errno;
        return rlvr_err(err, errlen, "writing %s failed at close: %s (%s)", path, strerror(e), write_error_hint(e));
    }
    return 0;
}

int jsonl_repair_tail(const char *path, long *removed, char *err, size_t errlen) {
    *removed = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        int e = errno;
        return rlvr_err(err, errlen, "cannot open %s: %s (%s)", path, strerror(e), write_error_hint(e));
    }
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        rc = rlvr_err(err, errlen, "cannot stat %s: %s", path, strerror(e));
    } else {
        // scan back from the end for the last newline, a block at a time
        char blk[4096];
        off_t end = sb.st_size, keep = 0;
        int found = 0;
        while (end > 0 && !found && rc == 0) {
            off_t at = end > (off_t)sizeof blk ? end - (off_t)sizeof blk : 0;
            ssize_t k = pread(fd, blk, (size_t)(end - at), at);
            if (k != end - at) { rc = rlvr_err(err, errlen, "reading %s failed: %s", path, k < 0 ? strerror(errno) : "short read"); break; }
            for (ssize_t i = k - 1; i >= 0; i--)
                if (blk[i] == '\n') { keep = at + i + 1; found = 1; break; }
            end = at;
        }
        if (rc == 0 && keep < sb.st_size) {
            if (ftruncate(fd, keep) != 0) {
                int e = errno;
                rc = rlvr_err(err, errlen, "cannot cut the partial last line of %s: %s (%s)", path, strerror(e), write_error_hint(e));
            } else {
                *removed = (long)(sb.st_size - keep);
            }
        }
    }
    close(fd);
    return rc;
}

int history_write_file(const MetricsHistory *h, const char *path, char *err, size_t errlen) {
    char *text = history_join(h);
    int rc = file_write_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}

int metrics_append(const char *path, const char *line, char *err, size_t errlen) { return jsonl_append(path, line, err, errlen); }

// ---- the learner's hook -----------------------------------------------------------------------------
#include <time.h>

#include "learner/learner.h"

void learner_write_metrics(Learner *L, const char *line) {
    char err[2048];
    if (config_words_has(L->cfg.trainer_logger, "jsonl") && metrics_append(L->metrics_path, line, err, sizeof err) != 0)
        learner_log(L, "warning: %s", err);
    if (L->tb.fd >= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (tb_write_metrics_line(&L->tb, line, (double)ts.tv_sec + ts.tv_nsec * 1e-9, err, sizeof err) != 0)
            learner_log(L, "warning: %s", err);
    }
}
