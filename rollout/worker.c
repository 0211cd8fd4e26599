// The rollout worker loop (see worker.h).
#include "rollout/worker.h"

#include <jansson.h>
#include <limits.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config/config.h"
#include "common/core/check.h"
#include "proto/client.h"
#include "common/io/model_io.h"

void worker_config_default(WorkerConfig *c) {
    RlvrConfig rc;
    config_defaults(&rc);
    worker_config_from(c, &rc);
}

void worker_config_from(WorkerConfig *c, const RlvrConfig *cfg) {
    memset(c, 0, sizeof *c);
    const RlvrConfig rc = *cfg;
    c->credits = 0;
    c->status_interval = 5.0;
    c->weights_timeout = 30.0;
    c->model_version = 0;
    rollout_gen_opts_default(&c->gen);
    c->gen.max_batch = (int)rc.rollout_max_batch;
    device_kind_parse(rc.rollout_device, &c->gen.device.kind);          // validated by the schema
    device_precision_parse(rc.rollout_precision, &c->gen.device.precision);
    c->gen.device.mem_fraction = rc.rollout_gpu_memory_fraction;
}

// Credits before the group size is known (rollout.credits' default).
static int initial_credits(void) {
    RlvrConfig rc;
    config_defaults(&rc);
    return (int)rc.rollout_credits;
}

typedef struct {
    const WorkerConfig *cfg;
    WorkerStats *st;
    volatile sig_atomic_t *stop;
    WireClientConfig cc;
    WireClient *cl;
    RolloutEngine eng;
    int eng_ready;
    uint64_t weights_session;      // coordinator session the installed weights came from
    WireAssign **pend;             // (npend) assignments received, not yet started (each malloc'd)
    int npend, cap_pend;
    // The stream of one round (rollout_generate_stream): the committed batch first, then what arrives.
    const WireAssign **commit;     // (ncommit) chosen at the round's start: generated even when stopping
    int ncommit, icommit;
    WireAssign first_copy;         // the round's sampling settings (only .sampling is read: inline fields)
    const WireAssign *first;       // &first_copy
    long budget;                   // groups that may still start (--max-prompts)
    int64_t stale;                 // the welcome's max_staleness
    int coord_has;                 // the coordinator has published weights
    uint64_t session;              // the welcome's session at the round's start
    WireWeights stash;             // weights that arrived during the round, installed after it
    int have_stash;
    double t0, last_status;
    double t_first_gen, recv_before, send_before, wwait_before;   // start of the active window
    uint64_t last_groups, last_tokens;
    int credits;                   // asked of the coordinator now
    int credits_derived;           // 1 once derived from the first assignment's group size
} Worker;

static void say(const Worker *w, const char *fmt, ...) RLVR_PRINTF(2, 3);
static void say(const Worker *w, const char *fmt, ...) {
    if (w->cfg->quiet) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "rollout %s: %s\n", w->cc.worker_id, buf);
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

// The optional "model" key of the rendezvous file: where a worker without --model finds the
// architecture (and fallback weights). The wire client ignores keys it does not know.
static int rendezvous_model(const char *path, char *out, size_t cap) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return 0;
    json_t *m = json_object_get(j, "model");
    int ok = json_is_string(m) && strlen(json_string_value(m)) < cap;
    if (ok) snprintf(out, cap, "%s", json_string_value(m));
    json_decref(j);
    return ok;
}

static int engine_from_file(Worker *w, const char *path, int64_t version, int from_coord, char *err, size_t errlen) {
    Model m;
    double t0 = now_seconds();
    if (model_load(path, &m, err, errlen) != 0) return -1;
    if (rollout_engine_init(&w->eng, &m, version, from_coord, &w->cfg->gen, err, errlen) != 0) {
        model_free(&m);
        return -1;
    }
    w->eng_ready = 1;
    w->st->t.weights_s += now_seconds() - t0;
    say(w, "model %s: %d layers, hidden %d, vocab %d, %zu parameters, tokenizer %s (policy version %lld%s)", path,
        w->eng.model.cfg.num_layers, w->eng.model.cfg.hidden_size, w->eng.model.cfg.vocab_size, w->eng.model.num_params,
        w->eng.tok.type, (long long)version, from_coord ? "" : ", local fallback until the coordinator's weights arrive");
    return 0;
}

// Installs the newest weights the client has, waiting up to timeout_s. 1 installed, 0 none,
// -1 fatal (err): a broadcast arrived but this worker has no model architecture to put it in.
static int install_weights(Worker *w, const WireWeights *wwp, char *err, size_t errlen);

static int take_weights(Worker *w, double timeout_s, char *err, size_t errlen) {
    WireWeights ww;
    if (wire_client_weights(w->cl, &ww, timeout_s) != 1) return 0;
    return install_weights(w, &ww, err, errlen);
}

// Installs *wwp (from wire_client_weights; valid until its next call). 1 installed, 0 refused, -1 fatal.
static int install_weights(Worker *w, const WireWeights *wwp, char *err, size_t errlen) {
    const WireWeights ww = *wwp;
    double t0 = now_seconds();
    char e2[1024];
    int rc;
    if (!w->eng_ready) {
        if (!ww.path)
            return rlvr_err(err, errlen, "weights version %lld arrived as a broadcast buffer, which carries no model architecture; "
                            "start the worker with --model PATH (any file of the run's model: config + weights)", (long long)ww.version);
        rc = engine_from_file(w, ww.path, ww.version, 1, e2, sizeof e2);
        if (rc != 0) return rlvr_err(err, errlen, "%s", e2);
    } else if (ww.data) {
        rc = rollout_engine_set_weights(&w->eng, ww.data, ww.n, ww.version, e2, sizeof e2);
    } else if (ww.bf16) {
        rc = rollout_engine_set_weights_bf16(&w->eng, ww.bf16, ww.n, ww.version, e2, sizeof e2);
    } else {
        rc = rollout_engine_load_weights(&w->eng, ww.path, ww.version, e2, sizeof e2);
    }
    w->st->t.weights_s += now_seconds() - t0;
    if (rc != 0) {   // keep the old weights; the coordinator logs the report
        say(w, "cannot install weights: %s", e2);
        wire_client_send_error(w->cl, "weights", e2, 0);
        return 0;
    }
    WireWelcome wl;
    if (wire_client_welcome(w->cl, &wl)) w->weights_session = wl.session;
    w->st->weights_installed++;
    wire_client_set_policy_version(w->cl, w->eng.version);
    if (w->cfg->status_interval > 0) say(w, "installed weights version %lld (%s)", (long long)ww.version, ww.path ? ww.path : "broadcast");
    return 1;
}

static void status_line(Worker *w, double now, int force) {
    if (w->cfg->status_interval <= 0 || w->cfg->quiet) return;
    if (!force && now - w->last_status < w->cfg->status_interval) return;
    double dt = now - w->last_status;
    if (dt <= 0) dt = 1e-9;
    WireClientStats cs;
    wire_client_stats(w->cl, &cs);
    uint64_t held = cs.assigns > cs.groups_sent ? cs.assigns - cs.groups_sent : 0;
    fprintf(stderr, "rollout %s: prompts %llu | %.2f groups/s | %.0f tok/s | policy v%lld | leases %llu/%d\n", w->cc.worker_id,
            (unsigned long long)w->st->groups_sent, (double)(w->st->groups_sent - w->last_groups) / dt,
            (double)(w->st->t.tokens - w->last_tokens) / dt, (long long)(w->eng_ready ? w->eng.version : -1),
            (unsigned long long)held, w->credits);
    w->last_status = now;
    w->last_groups = w->st->groups_sent;
    w->last_tokens = w->st->t.tokens;
}

static void pend_push(Worker *w, WireAssign *a) {
    if (w->npend == w->cap_pend) {
        w->cap_pend = w->cap_pend ? 2 * w->cap_pend : 8;
        w->pend = reallocCheck(w->pend, (size_t)w->cap_pend * sizeof *w->pend);
    }
    WireAssign *node = mallocCheck(sizeof *node);
    *node = *a;
    w->pend[w->npend++] = node;
}

// Takes entry i out of the list (the caller owns it now), keeping the order of the rest.
static WireAssign *pend_take(Worker *w, int i) {
    WireAssign *a = w->pend[i];
    memmove(&w->pend[i], &w->pend[i + 1], (size_t)(w->npend - i - 1) * sizeof *w->pend);
    w->npend--;
    return a;
}

static void assign_free(const WireAssign *a) {
    wire_assign_free((WireAssign *)a);
    free((void *)a);
}

static void pend_free_all(Worker *w) {
    for (int i = 0; i < w->npend; i++) assign_free(w->pend[i]);
    w->npend = 0;
}

static int open_client(Worker *w, char *err, size_t errlen) {
    w->cl = wire_client_open(&w->cc, err, errlen);
    return w->cl ? 0 : -1;
}

// The coordinator restarted from an older checkpoint: its policy version went back below the weights
// this worker holds, so groups sampled from them would be refused as "newer than current" forever.
// A fresh client session forgets the newer weights (the client only hands out newer versions) and
// says goodbye, so the coordinator re-queues what this worker held.
static int check_rewind(Worker *w, char *err, size_t errlen) {
    WireWelcome wl;
    if (!w->eng_ready || !w->eng.version_from_coordinator || !wire_client_welcome(w->cl, &wl)) return 0;
    if (wl.session == w->weights_session || wl.policy_version >= w->eng.version) return 0;
    say(w, "coordinator restarted at policy version %lld, older than the installed %lld; reconnecting to fetch its weights",
        (long long)wl.policy_version, (long long)w->eng.version);
    pend_free_all(w);
    wire_client_close(w->cl, "rewind");
    w->cl = NULL;
    w->eng.version = -1;
    w->st->rewinds++;
    return open_client(w, err, errlen);
}

static void send_groups(Worker *w, WireGroup *g, int n) {
    double t0 = now_seconds();
    for (int j = 0; j < n; j++) {
        char e2[512];
        if (wire_client_send_group(w->cl, &g[j], e2, sizeof e2) != 0) {   // would be dropped: say why, the lease expires
            say(w, "group for prompt %llu not sent: %s", (unsigned long long)g[j].prompt_id, e2);
            wire_client_send_error(w->cl, "bad_group", e2, g[j].prompt_id);
            w->st->groups_failed++;
        } else {
            w->st->groups_sent++;
        }
        wire_group_free(&g[j]);
    }
    double t1 = now_seconds();
    WorkerStats *st = w->st;
    st->send_s += t1 - t0;
    st->active_s = t1 - w->t_first_gen;
    st->active_recv_s = st->recv_s - w->recv_before;
    st->active_send_s = st->send_s - w->send_before;
    st->active_weights_wait_s = st->weights_wait_s - w->wwait_before;
}

// Without --credits: once the group size G is known, enough groups to fill the engine's slots plus
// one queued (see worker.h), within the coordinator's max_credits.
static void derive_credits(Worker *w) {
    if (w->cfg->credits > 0 || w->credits_derived || w->npend == 0) return;
    const int G = w->pend[0]->group_size > 0 ? w->pend[0]->group_size : 1;
    const int slots = w->cfg->gen.max_batch > 0 ? w->cfg->gen.max_batch : w->eng.inf_batch;
    if (slots < 1) return;   // --max-batch 0 on a GPU: the slot count is known once its engine exists (next round)
    w->credits_derived = 1;
    int want = (slots + G - 1) / G + 1;
    WireWelcome wl;
    if (wire_client_welcome(w->cl, &wl) && wl.max_credits > 0 && want > wl.max_credits) want = wl.max_credits;
    if (want <= w->credits) return;
    say(w, "credits %d -> %d (%d slots / group size %d, plus one group queued)", w->credits, want, slots, G);
    w->credits = want;
    wire_client_set_credits(w->cl, want);
}

// Puts the committed assignments not started back at the front of the pending list.
static void uncommit(Worker *w) {
    const int back = w->ncommit - w->icommit;
    if (back > 0) {
        if (w->npend + back > w->cap_pend) {
            w->cap_pend = w->npend + back;
            w->pend = reallocCheck(w->pend, (size_t)w->cap_pend * sizeof *w->pend);
        }
        memmove(&w->pend[back], &w->pend[0], (size_t)w->npend * sizeof *w->pend);
        for (int j = 0; j < back; j++) w->pend[j] = (WireAssign *)w->commit[w->icommit + j];
        w->npend += back;
    }
    free(w->commit);
    w->commit = NULL;
    w->ncommit = w->icommit = 0;
}

// The round's next assignment (rollout_generate_stream's feed): the committed batch first; then, unless
// stopping, out of budget or new weights are in (installed after the round), the oldest pending
// assignment with the round's sampling settings, a prompt that fits and weights recent enough.
static int feed_next(void *ud, int max_prompt, const WireAssign **out) {
    Worker *w = ud;
    if (w->icommit < w->ncommit) {
        *out = w->commit[w->icommit++];
        return 1;
    }
    if (*w->stop || w->have_stash || w->budget <= 0) return 0;
    WireAssign a;
    int r;
    while ((r = wire_client_next(w->cl, &a, 0.0)) == 1) pend_push(w, &a);
    if (r < 0) return 0;
    WireWelcome wl;
    if (wire_client_welcome(w->cl, &wl) && wl.session != w->session) return 0;   // a restarted coordinator: next round
    if (wire_client_weights(w->cl, &w->stash, 0.0) == 1) {
        w->have_stash = 1;
        return 0;
    }
    for (int i = 0; i < w->npend; i++) {
        const WireAssign *p = w->pend[i];
        if (!rollout_assign_compatible(w->first, p) || p->n_prompt > max_prompt || p->policy_version - w->stale > w->eng.version) continue;
        *out = pend_take(w, i);
        w->budget--;
        w->st->groups_streamed++;
        return 1;
    }
    return 0;
}

static void feed_done(void *ud, const WireAssign *a, WireGroup *g, int rc, const char *err) {
    Worker *w = ud;
    if (rc == 0) {
        send_groups(w, g, 1);
    } else {   // a bad assignment does not take the others down
        say(w, "prompt %llu: %s", (unsigned long long)a->prompt_id, err);
        wire_client_send_error(w->cl, "generate", err, a->prompt_id);
        w->st->groups_failed++;
    }
    assign_free(a);
}

// One round: gather assignments, pick a compatible batch, make sure the weights are recent enough,
// generate, send. Returns 1 to go on, 0 to stop (reason set), -1 fatal.
static int round_once(Worker *w, char *err, size_t errlen) {
    const WorkerConfig *cfg = w->cfg;
    WorkerStats *st = w->st;
    if (take_weights(w, 0.0, err, errlen) < 0) return -1;
    if (check_rewind(w, err, errlen) != 0) return -1;
    double t0 = now_seconds();
    WireAssign a;
    int r = wire_client_next(w->cl, &a, w->npend ? 0.0 : 0.2);
    while (r == 1) {
        pend_push(w, &a);
        r = wire_client_next(w->cl, &a, 0.0);
    }
    st->recv_s += now_seconds() - t0;
    if (r < 0) { snprintf(st->stop_reason, sizeof st->stop_reason, "client closed"); return 0; }
    if (!w->npend || *w->stop) return 1;   // stopping: the goodbye hands back what is pending
    derive_credits(w);
    // A welcome always precedes its session's assignments: look again now that they are here.
    uint64_t rw = st->rewinds;
    if (check_rewind(w, err, errlen) != 0) return -1;
    if (st->rewinds != rw) return 1;

    // The committed batch: the oldest assignment plus every compatible one, within the sample budget;
    // generated even if a stop comes now. More compatible assignments join the stream as slots free up.
    long left = cfg->max_prompts > 0 ? cfg->max_prompts - (long)st->groups_sent : w->npend;
    int max_samples = cfg->gen.max_batch > w->pend[0]->group_size ? cfg->gen.max_batch : w->pend[0]->group_size;
    w->commit = mallocCheck((size_t)w->npend * sizeof *w->commit);
    w->ncommit = w->icommit = 0;
    int samples = 0;
    for (int i = 0; i < w->npend && w->ncommit < left;) {
        if (w->ncommit && (!rollout_assign_compatible(w->commit[0], w->pend[i]) || samples + w->pend[i]->group_size > max_samples)) {
            i++;
            continue;
        }
        samples += w->pend[i]->group_size;
        w->commit[w->ncommit++] = pend_take(w, i);
    }
    w->first_copy = *w->commit[0];
    w->first = &w->first_copy;
    w->budget = cfg->max_prompts > 0 ? left - w->ncommit : LONG_MAX;

    // Weights recent enough for every assignment of the batch.
    // Local --model weights stand in only while the coordinator has published none.
    WireWelcome wl;
    int have_wl = wire_client_welcome(w->cl, &wl);
    int64_t need = 0;
    w->stale = have_wl ? wl.max_staleness : 0;
    w->coord_has = have_wl && wl.weights_version >= 0;
    w->session = have_wl ? wl.session : 0;
    for (int j = 0; j < w->ncommit; j++)
        if (w->commit[j]->policy_version - w->stale > need) need = w->commit[j]->policy_version - w->stale;
    double tw = now_seconds(), warn = tw + cfg->weights_timeout;
    while (!w->eng_ready || w->eng.version < need || (w->coord_has && !w->eng.version_from_coordinator)) {
        if (*w->stop) break;
        int k = take_weights(w, 0.25, err, errlen);
        if (k < 0) { uncommit(w); return -1; }
        if (now_seconds() > warn) {
            say(w, "still waiting for weights version >= %lld (have %lld); is the learner publishing?", (long long)need,
                (long long)(w->eng_ready ? w->eng.version : -1));
            warn = now_seconds() + cfg->weights_timeout;
        }
        status_line(w, now_seconds(), 0);
    }
    st->weights_wait_s += now_seconds() - tw;
    if (*w->stop) {   // nothing started: the goodbye hands these back
        uncommit(w);
        return 1;
    }
    if (cfg->gen_delay > 0) sleep_s(cfg->gen_delay);

    if (w->t_first_gen == 0) {
        w->t_first_gen = now_seconds();
        w->recv_before = st->recv_s;
        w->send_before = st->send_s;
        w->wwait_before = st->weights_wait_s;
    }
    const RolloutFeed feed = {w, feed_next, feed_done};
    char e2[1024];
    int longest = 0;   // the engine holds every committed prompt; streamed ones must fit what it holds
    for (int j = 0; j < w->ncommit; j++)
        if (w->commit[j]->n_prompt > longest) longest = w->commit[j]->n_prompt;
    if (rollout_generate_stream(&w->eng, w->commit[0], longest, &feed, &st->t, e2, sizeof e2) != 0) {
        // Nothing started (the engine or the batch's settings are unusable): report each assignment.
        say(w, "generation failed: %s", e2);
        for (int j = w->icommit; j < w->ncommit; j++) {
            wire_client_send_error(w->cl, "generate", e2, w->commit[j]->prompt_id);
            st->groups_failed++;
            assign_free(w->commit[j]);
        }
        w->icommit = w->ncommit;
    }
    uncommit(w);
    if (w->have_stash) {   // arrived during the round: installed now that nothing decodes
        w->have_stash = 0;
        if (install_weights(w, &w->stash, err, errlen) < 0) return -1;
    }
    st->policy_version = w->eng.version;
    return 1;
}

int worker_run(const WorkerConfig *cfg, volatile sig_atomic_t *stop, WorkerStats *st, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    st->policy_version = -1;
    Worker W;
    memset(&W, 0, sizeof W);
    Worker *w = &W;
    w->cfg = cfg; w->st = st; w->stop = stop;
    w->t0 = w->last_status = now_seconds();
    if (cfg->threads > 0) omp_set_num_threads(cfg->threads);
    if (cfg->credits < 0) return rlvr_err(err, errlen, "rollout: --credits %d must be >= 1", cfg->credits);
    w->credits = cfg->credits > 0 ? cfg->credits : initial_credits();

    wire_client_config_default(&w->cc);
    snprintf(w->cc.worker_id, sizeof w->cc.worker_id, "%s", cfg->id);
    if (!w->cc.worker_id[0]) {
        char host[128] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(w->cc.worker_id, sizeof w->cc.worker_id, "%.50s:%d", host, (int)getpid());
    }
    w->cc.credits = w->credits;
    w->cc.weights_retry_s = 0.5;   // a fresh SUB socket misses what was published before it joined
    w->cc.quiet = cfg->quiet;
    if (!cfg->gen.send_entropies) w->cc.caps &= ~(uint32_t)WIRE_CAP_ENTROPIES;
    if (cfg->endpoint[0]) {
        snprintf(w->cc.endpoint, sizeof w->cc.endpoint, "%s", cfg->endpoint);
    } else if (cfg->run_dir[0]) {
        int n = snprintf(w->cc.rendezvous, sizeof w->cc.rendezvous, "%s/rendezvous.json", cfg->run_dir);
        if (n < 0 || (size_t)n >= sizeof w->cc.rendezvous) return rlvr_err(err, errlen, "rollout: --run-dir path too long");
        // The learner may start after the workers (Slurm arrays, run_local.sh): wait for its file.
        double start = now_seconds(), told = 0;
        for (;;) {
            WireRendezvous rv;
            char e2[512];
            if (wire_rendezvous_read(w->cc.rendezvous, &rv, e2, sizeof e2) == 0) break;
            if (*stop) { snprintf(st->stop_reason, sizeof st->stop_reason, "signal"); return 0; }
            double waited = now_seconds() - start;
            if (cfg->rendezvous_timeout > 0 && waited > cfg->rendezvous_timeout)
                return rlvr_err(err, errlen, "rollout: no usable rendezvous file after %.0f s: %s", waited, e2);
            if (waited - told >= 30 || told == 0) {
                say(w, "waiting for %s (the learner writes it when its coordinator is up)", w->cc.rendezvous);
                told = waited + (told == 0 ? 1e-9 : 0);
            }
            sleep_s(0.2);
        }
    } else {
        return rlvr_err(err, errlen, "rollout: give --run-dir DIR (rendezvous file) or --connect ENDPOINT");
    }

    char model_path[1024] = "";
    if (cfg->model[0]) snprintf(model_path, sizeof model_path, "%s", cfg->model);
    else if (w->cc.rendezvous[0]) rendezvous_model(w->cc.rendezvous, model_path, sizeof model_path);
    if (model_path[0]) {
        if (engine_from_file(w, model_path, cfg->model_version, 0, err, errlen) != 0) return -1;
        w->cc.lim.vocab_size = w->eng.model.cfg.vocab_size;
    }
    if (open_client(w, err, errlen) != 0) {
        if (w->eng_ready) rollout_engine_free(&w->eng);
        return -1;
    }
    say(w, "connecting to %s (credits %d%s, %d threads, device %s %s)", cfg->endpoint[0] ? cfg->endpoint : w->cc.rendezvous, w->credits,
        cfg->credits > 0 ? "" : ", derived from the group size at the first assignment", omp_get_max_threads(),
        device_kind_name(cfg->gen.device.kind), device_precision_name(cfg->gen.device.precision));

    int rc = 0, stopping = 0;
    for (;;) {
        if (*stop && !stopping) {
            stopping = 1;
            snprintf(st->stop_reason, sizeof st->stop_reason, "signal");
            wire_client_set_credits(w->cl, 0);   // no new work while the groups in hand finish
            break;
        }
        if (cfg->max_prompts > 0 && (long)st->groups_sent >= cfg->max_prompts) {
            snprintf(st->stop_reason, sizeof st->stop_reason, "max_prompts");
            break;
        }
        int k = round_once(w, err, errlen);
        if (k < 0) { rc = -1; snprintf(st->stop_reason, sizeof st->stop_reason, "error"); break; }
        if (k == 0) break;
        status_line(w, now_seconds(), 0);
    }
    status_line(w, now_seconds(), 1);
    pend_free_all(w);
    free(w->pend);
    if (w->cl) wire_client_close(w->cl, st->stop_reason[0] ? st->stop_reason : "done");
    st->policy_version = w->eng_ready ? w->eng.version : -1;
    st->wall_s = now_seconds() - w->t0;
    if (w->eng_ready) rollout_engine_free(&w->eng);
    return rc;
}

int worker_stats_json(const WorkerStats *st, char *buf, size_t len) {
    const RolloutTimers *t = &st->t;
    double act = st->active_s > 0 ? st->active_s : 1e-9;
    double wall = st->wall_s > 0 ? st->wall_s : 1e-9;
    int n = snprintf(buf, len,
                     "{\"groups\": %llu, \"groups_failed\": %llu, \"samples\": %llu, \"tokens\": %llu, \"correct\": %llu, "
                     "\"wall_s\": %.3f, \"groups_per_s\": %.4f, \"tokens_per_s\": %.1f, \"gen_s\": %.3f, \"score_s\": %.3f, "
                     "\"send_s\": %.3f, \"recv_wait_s\": %.3f, \"weights_wait_s\": %.3f, \"weights_install_s\": %.3f, "
                     "\"active_s\": %.3f, \"active_groups_per_s\": %.4f, \"active_tokens_per_s\": %.1f, "
                     "\"share_gen\": %.4f, \"share_score\": %.4f, \"share_msg\": %.4f, \"share_weights_wait\": %.4f, \"weights_installed\": %llu, "
                     "\"rewinds\": %llu, \"groups_streamed\": %llu, \"policy_version\": %lld, \"stop_reason\": \"%s\"}",
                     (unsigned long long)st->groups_sent, (unsigned long long)st->groups_failed, (unsigned long long)t->samples,
                     (unsigned long long)t->tokens, (unsigned long long)t->correct, st->wall_s, (double)st->groups_sent / wall,
                     (double)t->tokens / wall, t->gen_s, t->score_s, st->send_s, st->recv_s, st->weights_wait_s, t->weights_s,
                     st->active_s, (double)st->groups_sent / act, (double)t->tokens / act, t->gen_s / act, t->score_s / act,
                     (st->active_send_s + st->active_recv_s) / act, st->active_weights_wait_s / act, (unsigned long long)st->weights_installed,
                     (unsigned long long)st->rewinds, (unsigned long long)st->groups_streamed, (long long)st->policy_version, st->stop_reason);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
