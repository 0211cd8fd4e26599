// The GRPO loop. Rank 0 feeds the coordinator exactly the prompts a step needs (plus max_staleness
// batches ahead in off-policy mode), collects the groups, sorts them by prompt id and broadcasts the
// batch; every rank computes the same advantages and trains on its token-balanced share.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "common/engine/model.h"
#include "learner/learner.h"
#include "common/io/model_io.h"
#include "common/tasks/verifier.h"

#define TAKE_MAX 64              // groups moved out of the coordinator per coord_take
#define TAKE_TIMEOUT_S 0.2       // a take waits this long, so signals and the give-up rule are seen promptly
#define WAIT_REPORT_S 10.0       // a "waiting for rollouts" line at most this often
#define GROUP_LIST_INIT_CAP 64
#define SNAPSHOTS_KEPT 2         // --weights-via-file: a worker may still be reading the previous one

// What rank 0 tells every rank before the batch itself.
typedef struct {
    int32_t status;           // HDR_*
    int32_t gen_rounds, dropped, pad;
    int64_t plateau_step;     // rank 0's stage detector result, so every rank shapes identically
    uint64_t packed_len;
    double time_wait;
} StepHeader;

enum { HDR_OK = 0, HDR_ABORT = 1, HDR_FATAL = 2 };   // train / skip the step (a signal) / stop the run

// Seconds spent in the phases of one step.
typedef struct { double t0, bcast, train, publish; } StepTimes;

typedef struct { CoordGroup *g; int n, cap; } GroupList;

static void glist_push(GroupList *l, const CoordGroup *g) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : GROUP_LIST_INIT_CAP;
        l->g = reallocCheck(l->g, (size_t)l->cap * sizeof *l->g);
    }
    l->g[l->n++] = *g;
}

static void glist_free(GroupList *l) {
    for (int i = 0; i < l->n; i++) coord_group_free(&l->g[i]);
    free(l->g);
    memset(l, 0, sizeof *l);
}

static WireSampling sampling_from_config(const Learner *L) {
    const RlvrConfig *c = &L->cfg;
    WireSampling s;
    memset(&s, 0, sizeof s);
    s.temperature = (float)c->rollout_temperature;
    s.top_p = (float)c->rollout_top_p;
    s.top_k = c->rollout_top_k > 0 ? (int32_t)c->rollout_top_k : 0;
    s.max_new_tokens = (int32_t)(c->rollout_max_new_tokens > 0 ? c->rollout_max_new_tokens : c->data_max_response_length);
    if (s.max_new_tokens > c->data_max_response_length) s.max_new_tokens = (int32_t)c->data_max_response_length;
    for (int i = 0; i < L->tok.n_eos && s.n_stop < WIRE_MAX_STOP; i++) s.stop[s.n_stop++] = L->tok.eos_ids[i];
    return s;
}

static int enqueue_new(Learner *L, int n, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        DataItem it;
        if (data_next(&L->data, &it, err, errlen) != 0) return -1;
        CoordPrompt p;
        memset(&p, 0, sizeof p);
        p.id = it.id;
        p.n_tokens = it.n_tokens;
        p.tokens = it.tokens;
        p.text = it.text;
        p.answer = it.answer;
        p.verifier = verifier_for_style(L->cfg.reward_verifier, L->cfg.reward_style);   // both checked by the config
        p.group_size = (int32_t)L->cfg.rollout_n;
        p.sampling = sampling_from_config(L);
        p.seed = rng_mix((uint64_t)L->cfg.trainer_seed, it.id);   // per prompt; workers derive per-sample streams
        int rc = coord_enqueue(L->coord, &p, err, errlen);
        data_item_free(&it);
        if (rc != 0) return -1;
    }
    return 0;
}

// Puts a taken group's prompt back into the coordinator's queue (its responses are discarded).
static void requeue(Learner *L, CoordGroup *g) {
    uint64_t id = g->prompt_id;
    char err[512];
    if (coord_requeue(L->coord, g, err, sizeof err) != 0)
        learner_log(L, "warning: could not re-queue prompt %llu: %s", (unsigned long long)id, err);
}

static uint64_t inflight(Learner *L) {
    CoordCounters k;
    coord_counters(L->coord, &k);
    return k.queued + k.outstanding + k.ready;
}

// DAPO dynamic sampling: 1 when the group's metric (correctness or shaped score) is not all equal.
static int group_varies(const Learner *L, const CoordGroup *g) {
    if (g->group.n_responses <= 1) return 1;
    int by_score = strcmp(L->cfg.algorithm_filter_groups_metric, "score") == 0;
    double first = 0;
    for (int i = 0; i < g->group.n_responses; i++) {
        const WireResponse *w = &g->group.responses[i];
        double v = w->correct ? 1 : 0;
        if (by_score) {
            v = reward_from_correct(w->correct, L->tr.rf);
            if (L->cfg.reward_overlong_buffer_enable) v += overlong_penalty(w->n_tokens, &L->tr.ovl);
        }
        if (i == 0) first = v;
        else if (v != first) return 1;
    }
    return 0;
}

// ---- collecting one step's groups (rank 0) --------------------------------------------------------

// A signal arrived: every taken group goes back to the queue (this step starts over after it).
static int abort_collection(Learner *L, GroupList *round, GroupList *out) {
    for (int i = 0; i < round->n; i++) requeue(L, &round->g[i]);
    for (int i = 0; i < out->n; i++) requeue(L, &out->g[i]);
    free(round->g); free(out->g);
    memset(round, 0, sizeof *round);
    memset(out, 0, sizeof *out);
    return HDR_ABORT;
}

// DAPO dynamic sampling spent its budget (algorithm.filter_groups.max_num_gen_batches) first.
static int give_up(const char *spent, int have, int B, char *err, size_t errlen) {
    rlvr_err(err, errlen, "dynamic sampling: %s, only %d of %d groups had differing rewards (raise "
             "algorithm.filter_groups.max_num_gen_batches or disable algorithm.filter_groups.enable; the task may be "
             "too easy or too hard for the policy)", spent, have, B);
    return HDR_FATAL;
}

typedef struct { double t_start, last; } WaitClock;

static WaitClock wait_clock_start(void) {
    double t = now_seconds();
    return (WaitClock){t, t};
}

// A progress line every WAIT_REPORT_S while a step waits for its groups.
static void report_waiting(Learner *L, WaitClock *w, int have, int B) {
    double now = now_seconds();
    if (now - w->last <= WAIT_REPORT_S) return;
    CoordCounters k;
    coord_counters(L->coord, &k);
    learner_log(L, "step %ld: waiting for rollouts %.0fs: %d/%d groups, %llu workers, %llu queued, %llu leased, %llu ready",
                L->step + 1, now - w->t_start, have, B, (unsigned long long)k.workers, (unsigned long long)k.queued,
                (unsigned long long)k.outstanding, (unsigned long long)k.ready);
    w->last = now;
}

// Takes up to `want` finished groups into buf (waiting up to TAKE_TIMEOUT_S); groups that went more
// than max_staleness versions stale while waiting in the ready list go back to the queue. Returns
// how many fresh groups buf holds, in arrival order.
static int take_fresh(Learner *L, CoordGroup *buf, int want, StepHeader *h) {
    int64_t stale = L->cfg.rollout_max_staleness;
    int n = coord_take(L->coord, buf, want, TAKE_TIMEOUT_S), fresh = 0;
    for (int i = 0; i < n; i++) {
        if (buf[i].group.policy_version < L->version - stale) {
            h->dropped++;
            requeue(L, &buf[i]);
        } else {
            buf[fresh++] = buf[i];
        }
    }
    return fresh;
}

static void sort_by_prompt_id(GroupList *l) {
    for (int i = 1; i < l->n; i++)   // insertion sort (rounds are small)
        for (int j = i; j > 0 && l->g[j - 1].prompt_id > l->g[j].prompt_id; j--) {
            CoordGroup x = l->g[j]; l->g[j] = l->g[j - 1]; l->g[j - 1] = x;
        }
}

// On-policy (rollout.max_staleness 0): one round enqueues exactly the prompts still missing and waits
// for all of them; the round is then sorted by prompt id (arrival order never matters) and filtered.
static int collect_on_policy(Learner *L, GroupList *out, StepHeader *h, char *err, size_t errlen) {
    const RlvrConfig *c = &L->cfg;
    int B = (int)c->data_train_batch_size;
    int filter = c->algorithm_filter_groups_enable;
    long maxgen = c->algorithm_filter_groups_max_num_gen_batches;
    GroupList round = {0};
    CoordGroup buf[TAKE_MAX];
    int rounds = 0;
    WaitClock wc = wait_clock_start();
    while (out->n < B) {
        if (learner_check_launcher(L) || learner_sigterm || learner_sigusr1) return abort_collection(L, &round, out);
        if (inflight(L) == 0 && round.n == 0) {
            if (filter && maxgen > 0 && rounds >= maxgen) {
                char spent[64];
                snprintf(spent, sizeof spent, "after %d generation rounds", rounds);
                glist_free(&round);
                return give_up(spent, out->n, B, err, errlen);
            }
            if (enqueue_new(L, B - out->n, err, errlen) != 0) { glist_free(&round); return HDR_FATAL; }
            rounds++;
        } else if (rounds == 0) {
            rounds = 1;   // prompts restored from a checkpoint or left from an aborted step
        }
        int n = take_fresh(L, buf, TAKE_MAX, h);
        for (int i = 0; i < n; i++) glist_push(&round, &buf[i]);
        if (round.n > 0 && inflight(L) == 0) {   // the round is complete
            sort_by_prompt_id(&round);
            for (int i = 0; i < round.n; i++) {
                if ((filter && !group_varies(L, &round.g[i])) || out->n >= B) { h->dropped++; coord_group_free(&round.g[i]); }
                else glist_push(out, &round.g[i]);
            }
            round.n = 0;
        }
        report_waiting(L, &wc, out->n + round.n, B);
    }
    free(round.g);
    h->gen_rounds = rounds;
    return HDR_OK;
}

// Off-policy (rollout.max_staleness > 0): keeps B * (1 + max_staleness) prompts in flight and accepts
// groups as they come (fresh enough, and varied when filtering), so generation never waits for a step.
static int collect_off_policy(Learner *L, GroupList *out, StepHeader *h, char *err, size_t errlen) {
    const RlvrConfig *c = &L->cfg;
    int B = (int)c->data_train_batch_size;
    int filter = c->algorithm_filter_groups_enable;
    long maxgen = c->algorithm_filter_groups_max_num_gen_batches;
    long target = (long)B * (1 + c->rollout_max_staleness);
    long budget = filter && maxgen > 0 ? maxgen * (long)B : -1;   // prompts this step may enqueue (-1: any)
    GroupList none = {0};
    CoordGroup buf[TAKE_MAX];
    long prompts = 0;   // enqueued this step
    int rounds = 0;
    WaitClock wc = wait_clock_start();
    while (out->n < B) {
        if (learner_check_launcher(L) || learner_sigterm || learner_sigusr1) return abort_collection(L, &none, out);
        uint64_t fl = inflight(L);
        int spent = budget >= 0 && prompts >= budget;
        if (spent && fl == 0) {   // the budget is spent and every prompt it paid for came back
            char what[64];
            snprintf(what, sizeof what, "after %ld prompts generated this step", prompts);
            return give_up(what, out->n, B, err, errlen);
        }
        if (!spent && (long)fl + out->n < target) {
            int n = (int)(target - (long)fl - out->n);
            if (enqueue_new(L, n, err, errlen) != 0) return HDR_FATAL;
            prompts += n;
        }
        rounds = (int)((prompts + B - 1) / B);
        if (rounds < 1) rounds = 1;
        int want = B - out->n < TAKE_MAX ? B - out->n : TAKE_MAX;
        int n = take_fresh(L, buf, want, h);
        for (int i = 0; i < n; i++) {
            if (filter && !group_varies(L, &buf[i])) { h->dropped++; coord_group_free(&buf[i]); }
            else glist_push(out, &buf[i]);
        }
        report_waiting(L, &wc, out->n, B);
    }
    h->gen_rounds = rounds;
    return HDR_OK;
}

// Rank 0: gathers the groups of one step into *out. Returns HDR_OK, HDR_ABORT (a signal arrived: the
// taken groups went back to the queue) or HDR_FATAL (err set).
static int collect(Learner *L, GroupList *out, StepHeader *h, char *err, size_t errlen) {
    return L->cfg.rollout_max_staleness == 0 ? collect_on_policy(L, out, h, err, errlen) : collect_off_policy(L, out, h, err, errlen);
}

// ---- what a step leaves behind: the audit trail, the published weights, the stage -------------------

// RUN_DIR/batches.jsonl: the prompt ids each step trained on (audit trail: no prompt used twice).
// Built in memory and appended as one whole line (jsonl_append), so a full disk never tears it.
static void log_batch_ids(Learner *L, const CoordGroup *g, int n) {
    char path[LEARNER_PATH_MAX + 32], err[LEARNER_PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/batches.jsonl", L->run_dir);
    size_t cap = 64 + (size_t)n * 2 * 22, len = 0;   // 20 digits, a sign and a comma per number
    char *line = mallocCheck(cap);
    len += (size_t)snprintf(line + len, cap - len, "{\"step\":%ld,\"prompt_ids\":[", L->step + 1);
    for (int i = 0; i < n; i++) len += (size_t)snprintf(line + len, cap - len, "%s%llu", i ? "," : "", (unsigned long long)g[i].prompt_id);
    len += (size_t)snprintf(line + len, cap - len, "],\"versions\":[");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(line + len, cap - len, "%s%lld", i ? "," : "", (long long)g[i].group.policy_version);
    snprintf(line + len, cap - len, "]}");
    if (jsonl_append(path, line, err, sizeof err) != 0) learner_log(L, "warning: the audit trail misses step %ld: %s", L->step + 1, err);
    free(line);
}

void learner_publish(Learner *L) {
    if (L->d.rank != 0 || !L->coord) return;
    char err[1024];
    if (!L->weights_via_file && L->tr.eng.o.cuda && L->tr.eng.o.bf16) {
        // A bf16 learner sends what it computes with: the device's bf16 weights, half the bytes of
        // fp32 and no fp32 copy of the whole model (docs/protocol.md, "Weights").
        if (!L->weights_bf16) L->weights_bf16 = mallocCheck(L->model.num_params * sizeof(uint16_t));
        if (trainer_weights_bf16(&L->tr, L->weights_bf16) != 0) die("learner_publish: the bf16 engine gave no bf16 weights (bug)");
        coord_set_policy_version(L->coord, L->version);
        if (coord_publish_weights_bf16(L->coord, L->version, L->weights_bf16, L->model.num_params, err, sizeof err) != 0)
            learner_log(L, "warning: publishing bf16 weights version %lld failed: %s", (long long)L->version, err);
        return;
    }
    trainer_sync_params(&L->tr);
    coord_set_policy_version(L->coord, L->version);
    if (L->weights_via_file) {
        char dir[LEARNER_PATH_MAX + 16], path[LEARNER_PATH_MAX + 64], tmp[LEARNER_PATH_MAX + 80];
        snprintf(dir, sizeof dir, "%s/weights", L->run_dir);
        mkdir(dir, 0755);
        snprintf(path, sizeof path, "%s/policy_%06lld.h5", dir, (long long)L->version);
        snprintf(tmp, sizeof tmp, "%s.tmp.h5", path);
        if (model_save_native(&L->model, tmp, err, sizeof err) != 0 || rename(tmp, path) != 0) {
            learner_log(L, "warning: weights snapshot %s failed: %s", path, err);
            return;
        }
        if (coord_publish_weights_path(L->coord, L->version, path, L->model.num_params, err, sizeof err) != 0)
            learner_log(L, "warning: publishing %s failed: %s", path, err);
        if (L->version >= SNAPSHOTS_KEPT) {
            snprintf(path, sizeof path, "%s/policy_%06lld.h5", dir, (long long)(L->version - SNAPSHOTS_KEPT));
            unlink(path);
        }
    } else if (coord_publish_weights(L->coord, L->version, L->model.params, L->model.num_params, err, sizeof err) != 0) {
        learner_log(L, "warning: publishing weights version %lld failed: %s", (long long)L->version, err);
    }
}

static void stage_update(Learner *L) {
    const RlvrConfig *c = &L->cfg;
    StageParams sp;
    stage_params_from_config(c, &sp);
    long at = -1;
    stage_detect(L->hist.acc, L->hist.ent, L->hist.n, &sp, &at);
    if (at >= 0 && L->plateau_step < 0) {
        L->plateau_step = at + 1;   // history index i is step i + 1
        learner_log(L, "stage detector: plateau declared at step %ld", L->plateau_step);
    }
}

// ---- one step ---------------------------------------------------------------------------------------

// Every rank agrees on the signals first. Returns 1 when the run stops (SIGTERM: checkpointed).
// The agreed flag, not this rank's own, says how the run ended: the signal may have reached any rank.
static int stop_requested(Learner *L) {
    learner_check_launcher(L);
    int32_t flags[3] = {learner_sigterm, learner_sigusr1, L->launcher_gone};
    dist_allreduce_max_i32(flags, 3, DIST_POLL_US);
    if (flags[0]) {
        L->stopped_by_signal = 1;
        L->launcher_gone = flags[2];
        if (learner_save(L, "SIGTERM") != 0) L->final_save_failed = 1;
        return 1;
    }
    if (flags[1]) { learner_sigusr1 = 0; learner_save(L, "SIGUSR1"); }
    return 0;
}

// Rank 0: collects the step's groups into b and packs them for the broadcast (NULL unless HDR_OK).
static uint8_t *collect_and_pack(Learner *L, RlBatch *b, StepHeader *h, double t0) {
    char err[2048];
    GroupList groups = {0};
    uint8_t *packed = NULL;
    h->status = collect(L, &groups, h, err, sizeof err);
    if (h->status == HDR_OK) {
        if (rl_batch_from_groups(groups.g, groups.n, b, err, sizeof err) != 0) h->status = HDR_FATAL;
        else {
            packed = rl_batch_pack(b, &h->packed_len);
            log_batch_ids(L, groups.g, groups.n);
        }
    }
    if (h->status == HDR_FATAL) fprintf(stderr, "error: learner: step %ld: %s\n", L->step + 1, err);
    glist_free(&groups);
    h->plateau_step = L->plateau_step;
    h->time_wait = now_seconds() - t0;
    return packed;
}

// Rank 0 collects the step's batch, every rank receives the same bytes into *b (so every rank computes
// the same advantages). Returns HDR_*; *b is filled only on HDR_OK.
static int collect_batch(Learner *L, RlBatch *b, StepHeader *h, StepTimes *tm) {
    memset(h, 0, sizeof *h);
    memset(b, 0, sizeof *b);
    uint8_t *packed = L->d.rank == 0 ? collect_and_pack(L, b, h, tm->t0) : NULL;
    dist_bcast(h, sizeof *h, DIST_POLL_US);
    if (h->status != HDR_OK) { free(packed); rl_batch_free(b); return h->status; }
    double t1 = now_seconds();
    if (L->d.rank != 0) packed = mallocCheck(h->packed_len ? h->packed_len : 1);
    dist_bcast(packed, h->packed_len, DIST_BLOCKING);
    char err[2048];
    if (L->d.rank != 0 && rl_batch_unpack(packed, h->packed_len, b, err, sizeof err) != 0)
        die("rank %d: %s", L->d.rank, err);
    free(packed);
    tm->bcast = now_seconds() - t1;
    return HDR_OK;
}

static void publish(Learner *L, StepTimes *tm) {
    double t = now_seconds();
    learner_publish(L);
    tm->publish = now_seconds() - t;
}

// --check-every: the ranks' parameters must stay bit-identical.
static void check_ranks_agree(Learner *L) {
    if (L->debug_check_every > 0 && L->step % L->debug_check_every == 0 && L->d.size > 1 &&
        !dist_all_equal_u64(engine_weights_checksum(&L->tr.eng)))
        die("rank %d: parameters differ between ranks after step %ld (non-deterministic all-reduce?); "
            "report this with the MPI version and the mpirun flags", L->d.rank, L->step);
}

static int is_last_step(const Learner *L) { return L->step == L->cfg.trainer_total_training_steps; }

// Rank 0: the metrics line (validation added when due), the stage detector, the status line.
static void log_step(Learner *L, const StepStats *st, const StepHeader *h, const StepTimes *tm) {
    const RlvrConfig *c = &L->cfg;
    CoordCounters k;
    coord_counters(L->coord, &k);
    StepMeta mt;
    memset(&mt, 0, sizeof mt);
    mt.step = L->step; mt.total_steps = c->trainer_total_training_steps;
    mt.policy_version = L->version;
    mt.mode = "grpo";
    mt.plateau_step = L->plateau_step;
    mt.stage = L->plateau_step >= 0 ? "plateau" : "rising";
    mt.time_wait_s = h->time_wait;
    mt.time_train_s = tm->train;
    mt.time_sync_s = tm->bcast + L->tr.time_allreduce + tm->publish;
    mt.time_step_s = now_seconds() - tm->t0;
    mt.tokens_per_s = tm->train > 0 ? (double)st->n_tokens / tm->train : 0;
    mt.gen_rounds = h->gen_rounds;
    mt.groups_dropped = h->dropped;
    mt.coord = &k;
    char *line = metrics_format(st, &mt);
    if (strstr(line, "\"metrics_null\""))
        learner_log(L, "warning: step %ld: some metrics could not be computed (not finite); metrics.jsonl has them as null "
                    "(metrics_null counts them)", L->step);
    if (c->trainer_test_freq > 0 && (L->step % c->trainer_test_freq == 0 || is_last_step(L)))
        line = learner_validate_step(L, line);
    history_add(&L->hist, line);
    stage_update(L);
    learner_write_metrics(L, line);
    free(line);
    if (config_words_has(c->trainer_logger, "console") && (L->step % c->trainer_log_freq == 0 || is_last_step(L)))
        metrics_status(stdout, st, &mt);
}

static void checkpoint(Learner *L) {
    long freq = L->cfg.trainer_save_freq;
    if ((freq > 0 && L->step % freq == 0) || is_last_step(L)) {
        int rc = learner_save(L, is_last_step(L) ? "final" : "periodic");
        if (rc != 0 && is_last_step(L)) L->final_save_failed = 1;
    }
}

int learner_grpo(Learner *L) {
    const RlvrConfig *c = &L->cfg;
    if (L->d.rank == 0 && c->trainer_val_before_train && c->trainer_test_freq > 0 && L->step == 0) free(learner_validate_step(L, NULL));
    while (L->step < c->trainer_total_training_steps) {
        if (stop_requested(L)) return 0;
        StepTimes tm = {.t0 = now_seconds()};
        StepHeader h;
        RlBatch b;
        int status = collect_batch(L, &b, &h, &tm);
        if (status == HDR_ABORT) continue;
        if (status == HDR_FATAL) return 1;

        StepStats st;
        double t_train = now_seconds();
        L->tr.time_allreduce = 0;
        trainer_prepare(&L->tr, &b, L->step + 1, (long)h.plateau_step, L->version, &st);   // rewards, advantages, shaping
        trainer_update(&L->tr, &b, &st);                                                      // PPO mini-batches + AdamW
        tm.train = now_seconds() - t_train - L->tr.time_allreduce;
        rl_batch_free(&b);
        L->step++;
        L->version++;

        publish(L, &tm);
        check_ranks_agree(L);
        if (L->d.rank == 0) log_step(L, &st, &h, &tm);
        checkpoint(L);
    }
    return 0;
}
