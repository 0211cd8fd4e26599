// The learner: an MPI program. Rank 0 also runs the coordinator thread (no MPI calls) that serves the
// rollout workers; every rank trains. See docs/architecture.md.
//
//   mpirun -np N learner --config FILE --run-dir DIR [--resume] [key.sub=value ...]
//          [--weights-via-file] [--check-every N] [--help] [--help-config]
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/core/check.h"
#include "learner/learner.h"
#include "learner/plan.h"
#include "common/io/model_io.h"


static volatile sig_atomic_t exit_code_after_alarm = 0;
static void on_alarm_exit(int sig) { (void)sig; _exit(exit_code_after_alarm); }

static void usage(FILE *f) {
    fprintf(f,
            "usage: mpirun -np N learner --config FILE --run-dir DIR [--resume] [key.sub=value ...]\n"
            "  --config FILE        YAML config (repeatable; later files override earlier ones)\n"
            "  --run-dir DIR        run directory (checkpoints/, metrics.jsonl, rendezvous.json)\n"
            "  --resume             continue from the newest complete checkpoint in DIR/checkpoints\n"
            "  key.sub=value        override any config key (learner --help-config lists them)\n"
            "  --weights-via-file   publish HDF5 snapshots (DIR/weights/) instead of sending weights over ZeroMQ\n"
            "  --check-every N      compare parameter checksums across ranks every N steps (default 10; 0 off)\n"
            "  --dry-run [--ranks N] print the per-GPU memory plan of the config and exit (1: it does not fit\n"
            "                       trainer.gpu_memory_gib); no MPI or GPU needed (= rlvr plan)\n"
            "signals: SIGUSR1 checkpoints at the next step boundary; SIGTERM/SIGINT checkpoint and exit 0\n"
            "exit codes: 0 state on disk (done, or stopped by a signal after its checkpoint); 1 failed; 2 bad arguments or\n"
            "  config; 3 the final / stop checkpoint failed (the newest on disk is older); see docs/operations.md\n");
}

static int mkdir_p(const char *path) {
    char tmp[LEARNER_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

// One learner per run directory: rank 0 holds an flock on RUN_DIR/learner.lock until it exits. A
// learner started while another still runs there (a resume loop restarting after mpirun was killed,
// while the orphaned ranks write their checkpoint) waits for it, up to LOCK_WAIT_S. 0, or -1 (err).
#define LOCK_WAIT_S 120.0
#define LOCK_POLL_US 200000
static int lock_run_dir(const char *run_dir, char *err, size_t errlen) {
    char path[LEARNER_PATH_MAX + 32];
    snprintf(path, sizeof path, "%.1000s/learner.lock", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return rlvr_err(err, errlen, "cannot open %s: %s (is the run directory writable?)", path, strerror(errno));
    double t0 = now_seconds();
    int said = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            return rlvr_err(err, errlen, "cannot lock %s: %s", path, strerror(e));
        }
        char who[32] = "?";
        ssize_t k = pread(fd, who, sizeof who - 1, 0);
        who[k > 0 ? k : 0] = 0;
        who[strcspn(who, "\n")] = 0;
        if (now_seconds() - t0 > LOCK_WAIT_S) {
            close(fd);
            return rlvr_err(err, errlen, "another learner (pid %s) still runs in %s after %.0f s (stop it first, or use another run directory)",
                            who, run_dir, LOCK_WAIT_S);
        }
        if (!said++) { fprintf(stderr, "learner: waiting for the learner (pid %s) that holds %s to exit\n", who, path); fflush(stderr); }
        usleep(LOCK_POLL_US);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) { /* the pid is a courtesy for the message above */ }
    return 0;   // fd stays open (and locked) until the process exits
}

// Every rank parses identically, so every rank reaches the same verdict; rank 0 prints it.
static void fail_all(Learner *L, int code, const char *fmt, const char *msg) {
    if (L->d.rank == 0) { fprintf(stderr, fmt, msg); fflush(stderr); }
    learner_write_exit_status(L, code, code == LEARNER_EXIT_USAGE ? "config_error" : "failed");
    dist_finalize(&L->d);
    exit(code);
}

static void init_model(Learner *L, Model *m) {
    const RlvrConfig *c = &L->cfg;
    char err[2048];
    if (c->model_path[0]) {
        const char *path = c->model_path;
        if (model_load(path, m, err, sizeof err) != 0)
            fail_all(L, 1, "error: model.path: %s\n", err);
        return;
    }
    ModelConfig mc;
    model_config_default(&mc);
    mc.arch = ARCH_QWEN2;
    mc.vocab_size = CHAR_TOK_VOCAB;
    mc.hidden_size = (int)c->model_init_hidden_size;
    mc.intermediate_size = (int)c->model_init_intermediate_size;
    mc.num_layers = (int)c->model_init_num_layers;
    mc.num_heads = (int)c->model_init_num_heads;
    mc.num_kv_heads = (int)c->model_init_num_kv_heads;
    mc.head_dim = mc.num_heads > 0 ? mc.hidden_size / mc.num_heads : 0;
    mc.max_position_embeddings = (int)c->model_init_max_position_embeddings;
    mc.rope_theta = (float)c->model_init_rope_theta;
    mc.qkv_bias = c->model_init_qkv_bias;
    mc.tie_word_embeddings = c->model_init_tie_word_embeddings;
    mc.bos_token_id = CHAR_TOK_BOS; mc.pad_token_id = CHAR_TOK_PAD;
    model_config_set_eos(&mc, CHAR_TOK_EOS);
    snprintf(mc.tokenizer, sizeof mc.tokenizer, "char");
    if (model_init(m, &mc, err, sizeof err) != 0) fail_all(L, 2, "error: model.init.*: %s\n", err);
    model_init_random(m, (uint64_t)c->trainer_seed, (float)c->model_init_std);
}

// The rendezvous file workers read: the coordinator's fields plus "model", a file giving the
// architecture (rollout workers receive only a float buffer).
static int write_rendezvous(Learner *L, char *err, size_t errlen) {
    char arch[LEARNER_PATH_MAX + 32], absarch[PATH_MAX];
    if (L->cfg.model_path[0]) {
        snprintf(arch, sizeof arch, "%s", L->cfg.model_path);
    } else {
        snprintf(arch, sizeof arch, "%s/policy_arch.h5", L->run_dir);
        if (model_save_native(&L->model, arch, err, errlen) != 0) return -1;
    }
    if (!realpath(arch, absarch)) return rlvr_err(err, errlen, "%s: %s", arch, strerror(errno));
    return coord_write_rendezvous(L->coord, L->rendezvous_path, absarch, err, errlen);
}

// The rank count a dry run plans for: --ranks N, else the launcher's (mpirun, srun), else 1.
static int dry_run_ranks(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--ranks")) return atoi(argv[i + 1]);
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]) && atoi(getenv(vars[i])) > 0) return atoi(getenv(vars[i]));
    return 1;
}

// --dry-run: prints the memory plan of the config and exits (no MPI, no GPU needed): 0 when it fits
// (or the GPU memory is unknown), 1 when it does not, 2 on a bad config.
static int dry_run(int argc, char **argv) {
    RlvrConfig *c = mallocCheck(sizeof *c);
    config_defaults(c);
    char **rest = mallocCheck((size_t)(argc + 1) * sizeof(char *));
    int nrest = 0, rc = 0;
    char err[4096];
    if (config_parse_args(c, argc - 1, argv + 1, rest, &nrest, err, sizeof err) != 0) {
        fprintf(stderr, "error: learner --dry-run: %s\n", err);
        rc = 2;
    }
    for (int i = 0; i < nrest && rc == 0; i++) {
        if (!strcmp(rest[i], "--dry-run")) continue;
        if (!strcmp(rest[i], "--ranks") && i + 1 < nrest && atoi(rest[i + 1]) > 0) { i++; continue; }
        fprintf(stderr, "error: learner --dry-run: unknown argument '%s' (--ranks N takes a positive count)\n", rest[i]);
        rc = 2;
    }
    LearnerPlan lp;
    if (rc == 0 && plan_make(c, dry_run_ranks(argc, argv), &lp, err, sizeof err) != 0) {
        fprintf(stderr, "error: learner --dry-run: %s\n", err);
        rc = 2;
    }
    if (rc == 0) {
        plan_print(stdout, &lp);
        if (plan_check_fit(&lp, err, sizeof err) != 0) {
            fprintf(stderr, "error: %s\n", err);
            rc = 1;
        }
    }
    free(rest);
    free(c);
    return rc;
}

int main(int argc, char **argv) {
    static Learner Lst;
    Learner *L = &Lst;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--dry-run")) return dry_run(argc, argv);
    dist_init(&L->d, &argc, &argv);
    learner_install_signals();
    // Ranks started by a launcher (mpirun, srun) stop when it dies; a singleton's parent is a shell,
    // whose exit (a closed terminal under nohup) must not stop training.
    L->ppid = getenv("OMPI_COMM_WORLD_RANK") || getenv("PMIX_RANK") ? (long)getppid() : 0;
    L->plateau_step = -1;
    L->tb.fd = -1;
    L->debug_check_every = 10;
    char err[4096];
    config_defaults(&L->cfg);
    char **rest = mallocCheck((size_t)(argc + 1) * sizeof(char *));
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { if (L->d.rank == 0) usage(stdout); dist_finalize(&L->d); return 0; }
        if (!strcmp(argv[i], "--help-config")) { if (L->d.rank == 0) config_print_help(stdout); dist_finalize(&L->d); return 0; }
    }
    if (config_parse_args(&L->cfg, argc - 1, argv + 1, rest, &nrest, err, sizeof err) != 0)
        fail_all(L, 2, "error: learner: %s\n", err);
    for (int i = 0; i < nrest; i++) {
        if (!strcmp(rest[i], "--weights-via-file")) L->weights_via_file = 1;
        else if (!strcmp(rest[i], "--check-every") && i + 1 < nrest) L->debug_check_every = atoi(rest[++i]);
        else {
            snprintf(err, sizeof err, "unknown argument '%s' (learner --help lists the options; config keys are key.sub=value)", rest[i]);
            fail_all(L, 2, "error: learner: %s\n", err);
        }
    }
    free(rest);
    if (trainer_check_config(&L->cfg, err, sizeof err) != 0) fail_all(L, 2, "error: learner: %s\n", err);
    const RlvrConfig *c = &L->cfg;
    int is_sft = strcmp(c->trainer_mode, "sft") == 0;
    if (strlen(c->trainer_run_dir) > 1000) fail_all(L, 2, "error: learner: %s\n", "trainer.run_dir is longer than 1000 characters; use a shorter path");
    int pn = snprintf(L->run_dir, sizeof L->run_dir, "%s", c->trainer_run_dir);
    pn += snprintf(L->ckpt_dir, sizeof L->ckpt_dir, "%.1000s/checkpoints", L->run_dir);
    pn += snprintf(L->metrics_path, sizeof L->metrics_path, "%.1000s/metrics.jsonl", L->run_dir);
    pn += snprintf(L->rendezvous_path, sizeof L->rendezvous_path, "%.1000s/rendezvous.json", L->run_dir);
    (void)pn;
    if (L->d.rank == 0) {
        if (mkdir_p(L->run_dir) != 0) {
            if (snprintf(err, sizeof err, "cannot create run directory %s: %s", L->run_dir, strerror(errno)) < 0) err[0] = 0;
            fail_all(L, 1, "error: learner: %s\n", err);
        }
        if (lock_run_dir(L->run_dir, err, sizeof err) != 0) {   // the run directory's files are the other learner's
            fprintf(stderr, "error: learner: %s\n", err);
            fflush(stderr);
            dist_abort(LEARNER_EXIT_USAGE);
        }
        char stale[LEARNER_PATH_MAX + 32];   // a verdict of an earlier run must not pass for this one's
        snprintf(stale, sizeof stale, "%.1000s/%s", L->run_dir, LEARNER_EXIT_STATUS_FILE);
        unlink(stale);
        printf("learner: %d rank%s, mode %s, run directory %s\n# resolved config\n", L->d.size, L->d.size > 1 ? "s" : "",
               c->trainer_mode, L->run_dir);
        config_print(c, stdout);
        fflush(stdout);
    }
    dist_barrier(DIST_POLL_US);
    rng_seed(&L->rng, rng_mix((uint64_t)c->trainer_seed, 0x6c6561726e6572ull));

    // the policy: the newest checkpoint when resuming, else model.path or a random init
    if (c->trainer_resume) {
        int rc = learner_resume(L);
        if (rc < 0) {
            learner_write_exit_status(L, LEARNER_EXIT_FAILED, "failed");
            dist_finalize(&L->d);
            return LEARNER_EXIT_FAILED;
        }
    }
    if (!L->resumed) {
        if (L->d.rank == 0 && !c->trainer_resume) {
            // a fresh run owns its metrics file: start it empty
            FILE *f = fopen(L->metrics_path, "w");
            if (f) fclose(f);
        }
        init_model(L, &L->model);
        model_alloc_train(&L->model);
    }
    if (L->d.rank == 0 && config_words_has(c->trainer_logger, "tensorboard")) {
        char tbdir[LEARNER_PATH_MAX + 16];
        snprintf(tbdir, sizeof tbdir, "%.4000s/tensorboard", L->run_dir);
        if (tb_open(&L->tb, tbdir, err, sizeof err) != 0)
            fail_all(L, 1, "error: learner: trainer.logger tensorboard: %s (or drop tensorboard from trainer.logger)\n", err);
    }
    if (c->actor_use_kl_loss) { init_model(L, &L->ref); L->has_ref = 1; }
    if (tokenizer_from_model(&L->tok, &L->model, err, sizeof err) != 0) {
        char msg[4400];
        snprintf(msg, sizeof msg, "%s (the learner tokenizes prompts itself: the model needs its tokenizer.json, or the built-in "
                 "'char' tokenizer, e.g. model.path \"\" and model.init.*)", err);
        fail_all(L, 2, "error: learner: model tokenizer: %s\n", msg);
    }
    if (L->model.cfg.vocab_size < L->tok.vocab_size) {
        snprintf(err, sizeof err, "model vocab_size %d is smaller than the %.64s tokenizer's %d", L->model.cfg.vocab_size, L->tok.type, L->tok.vocab_size);
        fail_all(L, 2, "error: learner: %s\n", err);
    }
    if (L->d.rank == 0 || is_sft) {
        uint64_t cur = L->data.cursor, skipped = L->data.skipped_long;
        if (data_open(&L->data, c, &L->tok, 0, err, sizeof err) != 0) fail_all(L, 2, "error: learner: data: %s\n", err);
        L->data.cursor = cur; L->data.skipped_long = skipped;
    }
    int steps_per_batch = (int)(c->data_train_batch_size / c->actor_ppo_mini_batch_size);
    if (trainer_init(&L->tr, c, &L->d, &L->model, L->has_ref ? &L->ref : NULL, steps_per_batch, err, sizeof err) != 0)
        fail_all(L, 1, "error: learner: %s\n", err);
    L->tr.opt_step = L->resume_opt_step;
    if (L->d.rank == 0) {
        const Comm *cm = &L->tr.comm;
        printf("learner: trainer.device %s, %s, ZeRO stage %d", c->trainer_device, c->trainer_precision, cm->zero_stage);
        if (cm->zero_stage) printf(" (AdamW state in shards of %zu floats over %d ranks)", cm->block, L->d.size);
        if (L->d.size > 1) printf(", gradients through %s", comm_path_name(cm->path));
        printf("\n");
    }
    if (L->d.rank == 0)
        printf("learner: model %s, %zu parameters, %d layers, hidden %d, vocab %d; %s\n", model_arch_name(L->model.cfg.arch),
               L->model.num_params, L->model.cfg.num_layers, L->model.cfg.hidden_size, L->model.cfg.vocab_size,
               L->resumed ? "resumed" : (c->model_path[0] ? c->model_path : "random init"));
    if (L->d.rank == 0 && L->data.use_chat) printf("learner: prompts through the chat template %s\n", chat_template_describe(&L->data.chat));

    int rc;
    if (is_sft) {
        rc = learner_sft(L);
    } else {
        int32_t ok = 1;
        if (L->d.rank == 0) {
            CoordConfig cc;
            if (coord_config_from_rlvr(c, &cc, err, sizeof err) != 0) ok = 0;
            // the limits a worker's messages are checked against come from the model and the data
            cc.lim.vocab_size = L->model.cfg.vocab_size;
            cc.lim.max_tokens = (int32_t)c->data_max_response_length;
            cc.lim.max_prompt_tokens = (int32_t)c->data_max_prompt_length;
            cc.lim.max_group = (int32_t)c->rollout_n;
            cc.eos_token_id = L->tok.eos_id;
            snprintf(cc.tokenizer, sizeof cc.tokenizer, "%.*s", (int)sizeof cc.tokenizer - 1, L->tok.type);
            // Chunks stay small whatever the model's size: a worker's SUB socket takes messages of at
            // most max_chunk_bytes (16 MiB) and drops larger ones.
            if (cc.chunk_bytes > cc.lim.max_msg_bytes / 2) cc.chunk_bytes = cc.lim.max_msg_bytes / 2;
            if (ok) L->coord = coord_create(&cc, err, sizeof err);
            if (ok && !L->coord) ok = 0;
            if (ok && L->coord_blob && coord_restore_state(L->coord, L->coord_blob, L->coord_blob_len, err, sizeof err) != 0) ok = 0;
            if (ok) coord_set_policy_version(L->coord, L->version);
            if (ok && coord_start(L->coord, err, sizeof err) != 0) ok = 0;
            if (ok && write_rendezvous(L, err, sizeof err) != 0) ok = 0;
            if (!ok) fprintf(stderr, "error: learner: coordinator: %s\n", err);
            else {
                printf("learner: coordinator on %s, weights on %s, rendezvous %s\n", coord_endpoint(L->coord),
                       coord_pub_endpoint(L->coord), L->rendezvous_path);
                fflush(stdout);
                learner_publish(L);   // the workers' first weights (version 0, or the resumed version)
            }
            free(L->coord_blob);
            L->coord_blob = NULL;
        }
        dist_bcast(&ok, sizeof ok, DIST_POLL_US);
        rc = ok ? learner_grpo(L) : 1;
        if (L->coord) {
            if (L->d.rank == 0) {
                char counters[4096];
                if (coord_counters_json(L->coord, counters, sizeof counters) == 0) {
                    printf("learner: coordinator counters %s\n", counters);
                    fflush(stdout);
                }
            }
            coord_free(L->coord);
            L->coord = NULL;
        }
    }
    // A launcher that died did not ask for the stop (mpirun killed, OOM): the state is on disk, but the
    // run is not finished, so a resume loop should restart it.
    int code = rc != 0 ? LEARNER_EXIT_FAILED : L->final_save_failed ? LEARNER_EXIT_CKPT_FAILED : L->launcher_gone ? LEARNER_EXIT_FAILED : LEARNER_EXIT_OK;
    const char *state = rc != 0 ? "failed" : L->final_save_failed ? "checkpoint_failed" : L->launcher_gone ? "launcher_gone" :
                        L->stopped_by_signal ? "stopped_by_signal" : "done";
    if (L->d.rank == 0) {
        if (rc != 0) printf("learner: FAILED at step %ld\n", L->step);
        else if (L->final_save_failed)
            printf("learner: %s at step %ld, but its checkpoint FAILED: the newest checkpoint on disk is older (%s); exit code %d\n",
                   L->stopped_by_signal ? "stopped by signal" : "finished", L->step, L->last_ckpt[0] ? L->last_ckpt : "none from this run",
                   code);
        else printf("learner: %s at step %ld (checkpoint %s)\n", L->launcher_gone ? "stopped: the launcher died" :
                    L->stopped_by_signal ? "stopped by signal" : "done", L->step, L->last_ckpt[0] ? L->last_ckpt : "-");
        fflush(stdout);
        learner_write_exit_status(L, code, state);
    }
    trainer_free(&L->tr);
    free(L->weights_bf16);
    if (L->data.src) data_close(&L->data);
    history_free(&L->hist);
    tb_close(&L->tb);
    model_free(&L->model);
    if (L->has_ref) model_free(&L->ref);
    tokenizer_free(&L->tok);
    if (rc != 0) { fflush(stdout); dist_abort(rc); }
    if (L->stopped_by_signal) {
        // When mpirun forwarded the SIGTERM it is already tearing the job down and MPI_Finalize can
        // block on its runtime until the SIGKILL; when the signal came straight to the ranks (Slurm),
        // finalize works. The checkpoint is on disk either way: finalize with a short deadline.
        fflush(stdout); fflush(stderr);
        exit_code_after_alarm = code;
        signal(SIGALRM, on_alarm_exit);
        alarm(2);
    }
    dist_finalize(&L->d);
    return code;
}
