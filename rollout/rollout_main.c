// rollout: a rollout worker. Finds the learner's coordinator, takes prompts, samples G responses per
// prompt with the KV-cache engine, scores them and ships tokens + log-probs back (rollout/worker.h).
// Exit codes: 0 done (signal, --max-prompts, coordinator gone), 1 fatal error, 2 bad arguments.
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/core/cli.h"
#include "rollout/worker.h"

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: rollout (--run-dir DIR | --connect ENDPOINT) [options]\n"
            "  --run-dir DIR            wait for DIR/rendezvous.json (written by the learner) and follow it when\n"
            "                           the learner restarts\n"
            "  --connect ENDPOINT       coordinator ROUTER endpoint, e.g. tcp://host:5555\n"
            "  --id NAME                worker name (default host:pid); must be unique among workers\n"
            "  --credits N              assignments held at once; they are batched together (default: ceil(max-batch / G) + 1\n"
            "                           once the group size G is known: every slot filled plus one group queued)\n"
            "  --threads N              OpenMP threads for generation (default: OMP_NUM_THREADS)\n"
            "  --model PATH             model (HF directory or .h5) giving the architecture; its weights are used only\n"
            "                           until the coordinator's arrive (default: the rendezvous 'model' key, else the\n"
            "                           first HDF5 snapshot the coordinator announces)\n"
            "  --model-version V        policy version to assume for --model's weights (default 0)\n"
            "  --max-batch N            engine slots: samples decoded together, a finished one's slot refilled at once\n"
            "                           (default rollout.max_batch, 32; 0 with --device cuda: as many as memory allows)\n"
            "  --device cpu|cuda        where to generate (default rollout.device, cpu); cuda needs a -DRLVR_CUDA=ON build\n"
            "                           and uses the first visible GPU (pin one with CUDA_VISIBLE_DEVICES)\n"
            "  --precision fp32|bf16    cuda weights / KV cache / activations (default rollout.precision, fp32)\n"
            "  --gpu-memory-fraction F  share of the GPU's memory this worker takes, in (0, 1] (default 0.9); workers\n"
            "                           sharing a GPU give fractions that add up to at most ~0.9\n"
            "  --config FILE            take rollout.max_batch / device / precision / gpu_memory_fraction from the run's\n"
            "                           YAML (the learner's --config); key.sub=value arguments override it, flags win\n"
            "  --no-entropies           do not send per-token entropies\n"
            "  --reward pm1|01          reward for correct / wrong: +1/-1 (default) or 1/0\n"
            "  --status-interval S      seconds between status lines on stderr (default 5; 0 = none)\n"
            "  --max-prompts N          stop after N groups (default: no limit)\n"
            "  --rendezvous-timeout S   give up when no rendezvous file appears within S seconds (default: wait forever)\n"
            "  --stats FILE             write the final stats (JSON) to FILE\n"
            "  --gen-delay S            testing aid: sleep S seconds before each batch (simulates a slow model)\n"
            "  --quiet                  only errors on stderr\n"
            "SIGINT / SIGTERM: stop taking work, finish and send the groups in hand, say goodbye (the coordinator\n"
            "re-queues assignments not started), exit 0. A second signal kills the process at once.\n");
}

static int copy_arg(char *dst, size_t cap, const char *opt, const char *v) {
    if (strlen(v) >= cap) {
        fprintf(stderr, "rollout: %s value is too long (at most %zu characters)\n", opt, cap - 1);
        return -1;
    }
    snprintf(dst, cap, "%s", v);
    return 0;
}

// Options without a value; every other option takes the next argument (both passes below rely on it).
static int is_switch(const char *a) {
    return !strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "--no-entropies") || !strcmp(a, "--quiet");
}

// A `key.sub=value` config override (not an option, not an option's value).
static int is_override(const char *a) { return a[0] != '-' && strchr(a, '=') != NULL; }

int main(int argc, char **argv) {
    WorkerConfig cfg;
    worker_config_default(&cfg);
    // First the run's config and its overrides (they set the defaults), then the flags (they win).
    RlvrConfig run_cfg;
    config_defaults(&run_cfg);
    int have_rc = 0;
    char cerr[1024];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            if (config_load_file(&run_cfg, argv[++i], cerr, sizeof cerr) != 0) { fprintf(stderr, "rollout: %s\n", cerr); return 2; }
            have_rc = 1;
        } else if (is_override(argv[i])) {
            if (config_override(&run_cfg, argv[i], cerr, sizeof cerr) != 0) { fprintf(stderr, "rollout: %s\n", cerr); return 2; }
            have_rc = 1;
        } else if (argv[i][0] == '-' && !is_switch(argv[i])) {
            i++;   // an option's value (even one with '=' in it)
        }
    }
    if (have_rc) {
        if (config_validate(&run_cfg, cerr, sizeof cerr) != 0) { fprintf(stderr, "rollout: %s\n", cerr); return 2; }
        worker_config_from(&cfg, &run_cfg);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long l;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--no-entropies")) { cfg.gen.send_entropies = 0; continue; }
        if (!strcmp(a, "--quiet")) { cfg.quiet = 1; continue; }
        if (is_override(a)) continue;   // applied above
        if (i + 1 >= argc) { fprintf(stderr, "rollout: %s needs a value\n", a); usage(stderr); return 2; }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--config")) continue;     // loaded above
        if (!strcmp(a, "--run-dir")) bad = copy_arg(cfg.run_dir, sizeof cfg.run_dir, a, v);
        else if (!strcmp(a, "--connect")) bad = copy_arg(cfg.endpoint, sizeof cfg.endpoint, a, v);
        else if (!strcmp(a, "--id")) bad = copy_arg(cfg.id, sizeof cfg.id, a, v);
        else if (!strcmp(a, "--model")) bad = copy_arg(cfg.model, sizeof cfg.model, a, v);
        else if (!strcmp(a, "--stats")) bad = copy_arg(cfg.stats_path, sizeof cfg.stats_path, a, v);
        else if (!strcmp(a, "--model-version")) {
            if (cli_parse_long(v, 0, 1L << 40, &l) != 0) { fprintf(stderr, "rollout: --model-version '%s' must be an integer >= 0\n", v); return 2; }
            cfg.model_version = l;
        } else if (!strcmp(a, "--credits")) {
            if (cli_parse_long(v, 1, 1024, &l) != 0) { fprintf(stderr, "rollout: --credits '%s' must be an integer in 1..1024\n", v); return 2; }
            cfg.credits = (int)l;
        } else if (!strcmp(a, "--threads")) {
            if (cli_parse_long(v, 1, 4096, &l) != 0) { fprintf(stderr, "rollout: --threads '%s' must be an integer in 1..4096\n", v); return 2; }
            cfg.threads = (int)l;
        } else if (!strcmp(a, "--max-batch")) {
            if (cli_parse_long(v, 0, 65536, &l) != 0) { fprintf(stderr, "rollout: --max-batch '%s' must be an integer in 0..65536\n", v); return 2; }
            cfg.gen.max_batch = (int)l;
        } else if (!strcmp(a, "--device")) {
            if (device_kind_parse(v, &cfg.gen.device.kind) != 0) { fprintf(stderr, "rollout: --device '%s' must be cpu or cuda\n", v); return 2; }
        } else if (!strcmp(a, "--precision")) {
            if (device_precision_parse(v, &cfg.gen.device.precision) != 0) { fprintf(stderr, "rollout: --precision '%s' must be fp32 or bf16\n", v); return 2; }
        } else if (!strcmp(a, "--gpu-memory-fraction")) {
            if (cli_parse_double(v, &d) != 0 || !(d > 0 && d <= 1)) { fprintf(stderr, "rollout: --gpu-memory-fraction '%s' must be a number in (0, 1]\n", v); return 2; }
            cfg.gen.device.mem_fraction = d;
        } else if (!strcmp(a, "--max-prompts")) {
            if (cli_parse_long(v, 0, 1L << 40, &l) != 0) { fprintf(stderr, "rollout: --max-prompts '%s' must be an integer >= 0\n", v); return 2; }
            cfg.max_prompts = l;
        } else if (!strcmp(a, "--reward")) {
            if (!strcmp(v, "pm1")) cfg.gen.zero_one_reward = 0;
            else if (!strcmp(v, "01")) cfg.gen.zero_one_reward = 1;
            else { fprintf(stderr, "rollout: --reward '%s' must be pm1 (+1/-1) or 01 (1/0)\n", v); return 2; }
        } else if (!strcmp(a, "--status-interval")) {
            if ((cli_parse_double(v, &d) != 0 || d < 0)) { fprintf(stderr, "rollout: --status-interval '%s' must be a number >= 0\n", v); return 2; }
            cfg.status_interval = d;
        } else if (!strcmp(a, "--rendezvous-timeout")) {
            if ((cli_parse_double(v, &d) != 0 || d < 0)) { fprintf(stderr, "rollout: --rendezvous-timeout '%s' must be a number >= 0\n", v); return 2; }
            cfg.rendezvous_timeout = d;
        } else if (!strcmp(a, "--gen-delay")) {
            if ((cli_parse_double(v, &d) != 0 || d < 0)) { fprintf(stderr, "rollout: --gen-delay '%s' must be a number >= 0\n", v); return 2; }
            cfg.gen_delay = d;
        } else {
            fprintf(stderr, "rollout: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) return 2;
    }
    if (cfg.gen.max_batch == 0 && cfg.gen.device.kind != DEVICE_CUDA) {
        fprintf(stderr, "rollout: --max-batch 0 (as many as memory allows) needs --device cuda\n");
        return 2;
    }
    char derr[512];
    if (device_opts_available(&cfg.gen.device, "rollout", derr, sizeof derr) != 0) {
        fprintf(stderr, "%s\n", derr);
        return 2;
    }
    if (!cfg.run_dir[0] == !cfg.endpoint[0]) {
        fprintf(stderr, "rollout: give exactly one of --run-dir DIR or --connect ENDPOINT\n");
        usage(stderr);
        return 2;
    }
    // First signal: finish gracefully; SA_RESETHAND makes a second one fatal (the default action).
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    WorkerStats st;
    char err[2048];
    int rc = worker_run(&cfg, &g_stop, &st, err, sizeof err);
    if (rc != 0) fprintf(stderr, "rollout: %s\n", err);
    char js[4096];
    worker_stats_json(&st, js, sizeof js);
    if (!cfg.quiet) fprintf(stderr, "rollout %s: stats %s\n", cfg.id[0] ? cfg.id : "", js);
    if (cfg.stats_path[0]) {
        FILE *f = fopen(cfg.stats_path, "w");
        if (!f || fprintf(f, "%s\n", js) < 0 || fclose(f) != 0) {
            fprintf(stderr, "rollout: cannot write --stats file %s\n", cfg.stats_path);
            if (rc == 0) rc = 1;
        }
    }
    return rc == 0 ? 0 : 1;
}
