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

typedef struct {
    int32_t status;           // HDR_*
    int32_t gen_rounds, dropped, pad;
    int64_t plateau_step;     // rank 0's stage detector result, so every rank shapes identically
    uint64_t packed_len;
    double time_wait;
} StepHeader;

enum { HDR_OK = 0, HDR_ABORT = 1, HDR_FATAL = 2 };

typedef struct { CoordGroup *g; int n, cap; } GroupList;

static void glist_push(GroupList *l, const CoordGroup *g) {
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 64; l->g = reallocCheck(l->g, (size_t)l->cap * sizeof *l->g); }
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
    s.temperature = c->rollout_temperature > 0 ? (float)c->rollout_temperature : 1.0f;
    s.top_p = (float)c->rollout_top_p;
    s.top_k = c->rollout_top_k > 0 ? (int32_t)c->rollout_top_k : 0;
    s.max_new_tokens = (int32_t)(c->rollout_max_new_tokens > 0 ? c->rollout_max_new_tokens : c->data_max_response_length);
    if (s.max_new_tokens > c->data_max_response_length) s.max_new_tokens = (int32_t)c->data_max_response_length;
    if (L->tok.eos_id >= 0) { s.n_stop = 1; s.stop[0] = L->tok.eos_id; }
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
    CoordPrompt p;
    memset(&p, 0, sizeof p);
    p.id = g->prompt_id;
    p.n_tokens = g->n_prompt;
    p.tokens = g->prompt_tokens;
    p.text = g->text;
    p.answer = g->answer;
    p.verifier = g->verifier;
    p.group_size = (int32_t)L->cfg.rollout_n;
    p.sampling = g->sampling;
    p.seed = g->seed;
    char err[512];
    if (coord_enqueue(L->coord, &p, err, sizeof err) != 0)
        learner_log(L, "warning: could not re-queue prompt %llu: %s", (unsigned long long)g->prompt_id, err);
    coord_group_free(g);
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

// Rank 0: gathers the groups of one step into *out. Returns HDR_OK, HDR_ABORT (a signal arrived: the
// taken groups went back to the queue) or HDR_FATAL (err set).
static int collect(Learner *L, GroupList *out, StepHeader *h, char *err, size_t errlen) {
    const RlvrConfig *c = &L->cfg;
    int B = (int)c->data_train_batch_size;
    int64_t stale = c->rollout_max_staleness;
    int filter = c->algorithm_filter_groups_enable;
    long maxgen = c->algorithm_filter_groups_max_num_gen_batches;
    GroupList round = {0};
    CoordGroup buf[64];
    long prompts_this_step = 0;
    double last_report = now_seconds(), t_start = last_report;
    int rounds = 0;
    while (out->n < B) {
        if (learner_sigterm || learner_sigusr1) {
            for (int i = 0; i < round.n; i++) requeue(L, &round.g[i]);
            for (int i = 0; i < out->n; i++) requeue(L, &out->g[i]);
            free(round.g); free(out->g);
            memset(out, 0, sizeof *out);
            return HDR_ABORT;
        }
        uint64_t fl = inflight(L);
        if (stale == 0) {
            // on-policy: one round = exactly the prompts still missing; wait for all of them
            if (fl == 0 && round.n == 0) {
                if (filter && maxgen > 0 && rounds >= maxgen) {
                    rlvr_err(err, errlen, "dynamic sampling: after %d generation rounds only %d of %d groups had differing rewards "
                             "(raise algorithm.filter_groups.max_num_gen_batches, or disable algorithm.filter_groups.enable; "
                             "the task may be too easy or too hard for the policy)", rounds, out->n, B);
                    glist_free(&round);
                    return HDR_FATAL;
                }
                if (enqueue_new(L, B - out->n, err, errlen) != 0) { glist_free(&round); return HDR_FATAL; }
                prompts_this_step += B - out->n;
                rounds++;
            } else if (rounds == 0) {
                rounds = 1;   // prompts restored from a checkpoint or left from an aborted step
            }
        } else {
            long target = (long)B * (1 + stale);
            if (!(filter && maxgen > 0 && prompts_this_step >= maxgen * (long)B) && (long)fl + out->n < target) {
                int n = (int)(target - (long)fl - out->n);
                if (enqueue_new(L, n, err, errlen) != 0) { glist_free(&round); return HDR_FATAL; }
                prompts_this_step += n;
            }
            rounds = (int)((prompts_this_step + B - 1) / B);
            if (rounds < 1) rounds = 1;
            if (filter && maxgen > 0 && prompts_this_step >= maxgen * (long)B && fl == 0) {
                rlvr_err(err, errlen, "dynamic sampling: %ld prompts generated this step, only %d of %d groups had differing rewards "
                         "(raise algorithm.filter_groups.max_num_gen_batches or disable algorithm.filter_groups.enable)",
                         prompts_this_step, out->n, B);
                glist_free(&round);
                return HDR_FATAL;
            }
        }
        int want = stale == 0 ? 64 : B - out->n;
        if (want > 64) want = 64;
        int n = coord_take(L->coord, buf, want, 0.2);
        for (int i = 0; i < n; i++) {
            CoordGroup *g = &buf[i];
            if (g->group.policy_version < L->version - stale) {   // went stale while waiting in the ready list
                h->dropped++;
                requeue(L, g);
                continue;
            }
            if (stale == 0) { glist_push(&round, g); continue; }
            if (filter && !group_varies(L, g)) { h->dropped++; coord_group_free(g); continue; }
            glist_push(out, g);
        }
        if (stale == 0 && round.n > 0 && inflight(L) == 0) {
            // the round is complete: sort (arrival order never matters), filter, keep
            for (int i = 1; i < round.n; i++)   // insertion sort by prompt id (rounds are small)
                for (int j = i; j > 0 && round.g[j - 1].prompt_id > round.g[j].prompt_id; j--) {
                    CoordGroup x = round.g[j]; round.g[j] = round.g[j - 1]; round.g[j - 1] = x;
                }
            for (int i = 0; i < round.n; i++) {
                if ((filter && !group_varies(L, &round.g[i])) || out->n >= B) { h->dropped++; coord_group_free(&round.g[i]); }
                else glist_push(out, &round.g[i]);
            }
            round.n = 0;
        }
        double now = now_seconds();
        if (now - last_report > 10.0) {
            CoordCounters k;
            coord_counters(L->coord, &k);
            learner_log(L, "step %ld: waiting for rollouts %.0fs: %d/%d groups, %llu workers, %llu queued, %llu leased, %llu ready",
                        L->step + 1, now - t_start, out->n + round.n, B, (unsigned long long)k.workers, (unsigned long long)k.queued,
                        (unsigned long long)k.outstanding, (unsigned long long)k.ready);
            last_report = now;
        }
    }
    free(round.g);
    h->gen_rounds = rounds;
    return HDR_OK;
}

// RUN_DIR/batches.jsonl: the prompt ids each step trained on (audit trail: no prompt used twice).
static void log_batch_ids(Learner *L, const CoordGroup *g, int n) {
    char path[LEARNER_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/batches.jsonl", L->run_dir);
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "{\"step\":%ld,\"prompt_ids\":[", L->step + 1);
    for (int i = 0; i < n; i++) fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)g[i].prompt_id);
    fprintf(f, "],\"versions\":[");
    for (int i = 0; i < n; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)g[i].group.policy_version);
    fprintf(f, "]}\n");
    fclose(f);
}

void learner_publish(Learner *L) {
    if (L->d.rank != 0 || !L->coord) return;
    char err[1024];
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
        if (L->version >= 2) {   // keep the two newest: a worker may still be reading the previous one
            snprintf(path, sizeof path, "%s/policy_%06lld.h5", dir, (long long)(L->version - 2));
            unlink(path);
        }
    } else if (coord_publish_weights(L->coord, L->version, L->model.params, L->model.num_params, err, sizeof err) != 0) {
        learner_log(L, "warning: publishing weights version %lld failed: %s", (long long)L->version, err);
    }
}

static void stage_update(Learner *L) {
    const RlvrConfig *c = &L->cfg;
    StageParams sp;
    stage_params_default(&sp);
    sp.window = (int)c->trainer_stage_detector_window;
    sp.acc_slope_max = c->trainer_stage_detector_rise_threshold;
    // the config gives the relative entropy change over a whole window; the detector takes it per step
    sp.ent_drop_max = c->trainer_stage_detector_entropy_threshold / (double)sp.window;
    sp.min_step = c->trainer_stage_detector_min_step;
    long at = -1;
    stage_detect(L->hist.acc, L->hist.ent, L->hist.n, &sp, &at);
    if (at >= 0 && L->plateau_step < 0) {
        L->plateau_step = at + 1;   // history index i is step i + 1
        learner_log(L, "stage detector: plateau declared at step %ld", L->plateau_step);
    }
}

int learner_grpo(Learner *L) {
    const RlvrConfig *c = &L->cfg;
    char err[2048];
    if (L->d.rank == 0 && c->trainer_val_before_train && c->trainer_test_freq > 0 && L->step == 0) free(learner_validate_step(L, NULL));
    while (L->step < c->trainer_total_training_steps) {
        int32_t flags[2] = {learner_sigterm, learner_sigusr1};
        dist_allreduce_max_i32(flags, 2, 1000);
        if (flags[0]) { learner_save(L, "SIGTERM"); return 0; }
        if (flags[1]) { learner_sigusr1 = 0; learner_save(L, "SIGUSR1"); }

        double t0 = now_seconds();
        StepHeader h;
        memset(&h, 0, sizeof h);
        GroupList groups = {0};
        uint8_t *packed = NULL;
        RlBatch b;
        memset(&b, 0, sizeof b);
        if (L->d.rank == 0) {
            h.status = collect(L, &groups, &h, err, sizeof err);
            if (h.status == HDR_OK) {
                if (rl_batch_from_groups(groups.g, groups.n, &b, err, sizeof err) != 0) h.status = HDR_FATAL;
                else {
                    packed = rl_batch_pack(&b, &h.packed_len);
                    log_batch_ids(L, groups.g, groups.n);
                }
            }
            if (h.status == HDR_FATAL) fprintf(stderr, "error: learner: step %ld: %s\n", L->step + 1, err);
            glist_free(&groups);
            h.plateau_step = L->plateau_step;
            h.time_wait = now_seconds() - t0;
        }
        dist_bcast(&h, sizeof h, 1000);
        if (h.status == HDR_ABORT) { free(packed); rl_batch_free(&b); continue; }
        if (h.status == HDR_FATAL) return 1;
        double t1 = now_seconds();
        if (L->d.rank != 0) packed = mallocCheck(h.packed_len ? h.packed_len : 1);
        dist_bcast(packed, h.packed_len, 0);
        if (L->d.rank != 0 && rl_batch_unpack(packed, h.packed_len, &b, err, sizeof err) != 0)
            die("rank %d: %s", L->d.rank, err);
        free(packed);
        double t_bcast = now_seconds() - t1;

        double t2 = now_seconds();
        L->tr.time_allreduce = 0;
        StepStats st;
        trainer_prepare(&L->tr, &b, L->step + 1, (long)h.plateau_step, L->version, &st);
        trainer_update(&L->tr, &b, &st);
        double t_train = now_seconds() - t2 - L->tr.time_allreduce;
        rl_batch_free(&b);
        L->step++;
        L->version++;
        double t3 = now_seconds();
        learner_publish(L);
        double t_pub = now_seconds() - t3;
        if (L->debug_check_every > 0 && L->step % L->debug_check_every == 0 && L->d.size > 1 &&
            !dist_all_equal_u64(dist_checksum_f32(L->model.params, L->model.num_params)))
            die("rank %d: parameters differ between ranks after step %ld (non-deterministic all-reduce?); "
                "report this with the MPI version and the mpirun flags", L->d.rank, L->step);
        if (L->d.rank == 0) {
            CoordCounters k;
            coord_counters(L->coord, &k);
            StepMeta mt;
            memset(&mt, 0, sizeof mt);
            mt.step = L->step; mt.total_steps = c->trainer_total_training_steps;
            mt.policy_version = L->version;
            mt.mode = "grpo";
            mt.plateau_step = L->plateau_step;
            mt.stage = L->plateau_step >= 0 ? "plateau" : "rising";
            mt.time_wait_s = h.time_wait;
            mt.time_train_s = t_train;
            mt.time_sync_s = t_bcast + L->tr.time_allreduce + t_pub;
            mt.time_step_s = now_seconds() - t0;
            mt.tokens_per_s = t_train > 0 ? (double)st.n_tokens / t_train : 0;
            mt.gen_rounds = h.gen_rounds;
            mt.groups_dropped = h.dropped;
            mt.coord = &k;
            char *line = metrics_format(&st, &mt);
            if (c->trainer_test_freq > 0 && (L->step % c->trainer_test_freq == 0 || L->step == c->trainer_total_training_steps))
                line = learner_validate_step(L, line);
            history_add(&L->hist, line);
            stage_update(L);
            if (metrics_append(L->metrics_path, line, err, sizeof err) != 0) learner_log(L, "warning: %s", err);
            free(line);
            if (L->step % c->trainer_log_freq == 0 || L->step == c->trainer_total_training_steps) metrics_status(stdout, &st, &mt);
        }
        if ((c->trainer_save_freq > 0 && L->step % c->trainer_save_freq == 0) || L->step == c->trainer_total_training_steps)
            learner_save(L, L->step == c->trainer_total_training_steps ? "final" : "periodic");
    }
    return 0;
}
