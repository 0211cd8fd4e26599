// rlvr analyze entropy|gradnorm|replace|shift --model PATH --data SPEC [options]
// The paper's analyses (docs/analysis.md has the equations and output fields).
// This file holds what the three share: options, the problem set (common/tasks/problems.h, as rlvr eval
// reads it, --config included), the model and engine, and the sampling + grading loop; each analysis
// sees one problem's graded samples at a time (common/tools/analyze.h).
// Exit codes: 0 ok, 2 bad arguments / unreadable model or data, 1 internal error (output write failure).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tools/commands.h"
#include "common/core/cli.h"
#include "common/config/config.h"
#include "common/tasks/grade.h"
#include "common/tasks/jsonl.h"
#include "common/core/stats.h"
#include "common/tasks/tasks.h"
#include "common/tools/analyze.h"
#include "common/tools/sample_opts.h"
#include "common/tasks/verifier.h"
#include "common/tasks/data_stream.h"
#include "common/io/model_io.h"


// Which analyses an option applies to, so a misplaced flag is an error instead of being ignored.
#define FOR_E 1
#define FOR_G 2
#define FOR_R 4
#define FOR_S 8
#define FOR_ALL 15

static void usage(FILE *f) {
    fprintf(f,
            "usage: rlvr analyze entropy|gradnorm|replace|shift --model PATH --data SPEC [options]\n"
            "  entropy               token entropy (eq. 3) of correct vs incorrect responses, the positional\n"
            "                        profile, perplexity distributions, the highest-entropy tokens\n"
            "  gradnorm              the LM-head gradient-norm proxy G_t (eq. 4/12) against token entropy\n"
            "  replace               performance impact (eq. 6): replace a token by the best other one and\n"
            "                        compare the accuracy of k continuations from both\n"
            "  shift                 probability shifts after an update: log pi_B - log pi_A of every token of\n"
            "                        responses sampled from A (--model), B = --model-b (e.g. a later checkpoint)\n"
            "common options:\n"
            "  --model PATH          HF directory, native .h5 model file or checkpoint\n"
            "  --data SPEC           a JSON Lines benchmark ({\"id\", \"problem\", \"answer\"}; verifier \"math\") or\n"
            "                        arith:heldout[:COUNT] (the arithmetic task's held-out split; verifier \"arith\")\n"
            "  -n N                  samples per problem (default 8; rollout.n with --config)\n"
            "  --temperature T       > 0 (default 1.0; rollout.temperature with --config): sampling AND the\n"
            "                        temperature of every entropy / probability reported\n"
            "  --top-p P             (0, 1] (default 1.0; rollout.top_p with --config)\n"
            "  --max-tokens N        response tokens at most (default 512; rollout.max_new_tokens or\n"
            "                        data.max_response_length with --config)\n"
            "  --seed S              sampling seed (default 0): sample i of problem j uses sampler_seed(S, j, i),\n"
            "                        as rlvr eval does, so rlvr eval with the same flags draws the same responses\n"
            "  --limit P             first P problems only\n"
            "  --template T          the problem's text: default, plain, dapo, chatml, qwen-math, or text with {prompt}\n"
            "                        (default: default for JSONL, the bare problem for arith; --config: data.prompt_template)\n"
            "  --chat, --chat-template NAME, --no-chat   the model's chat template around it, as rlvr eval\n"
            "  --batch N             engine slots (default 64)\n"
            "  --device cpu          the analyses run on the CPU engine (--device cuda is refused)\n"
            "  --arith-seed S, --arith-digits D, --arith-steps K   the arithmetic split (as rlvr eval)\n"
            "  --config FILE         a training config (repeatable): the arithmetic split from trainer.seed and\n"
            "                        data.arith.*, the sampling defaults above, and (gradnorm) reward.format and\n"
            "                        algorithm.norm_adv_by_std_in_grpo\n"
            "  key.sub=value         config overrides applied after the --config files\n"
            "  --out DIR             write DIR/summary.json and the per-item JSON Lines\n"
            "  --quiet               no progress bar\n"
            "entropy:\n"
            "  --bins B              relative-position bins of the positional profile (default 10)\n"
            "  --top-tokens K        rows of the highest-mean-entropy token table (default 20)\n"
            "  --min-count C         a token enters that table after C occurrences (default 5)\n"
            "  --save-tokens         DIR/tokens.jsonl: ids, log-probs and entropies of every response\n"
            "gradnorm:\n"
            "  --bins B              entropy quantile bins (default 5)\n"
            "  --save-tokens         add token ids, pi(o_t) and ||h_t|| to DIR/gradnorm.jsonl\n"
            "  --dump-logits         add every response token's raw logits (V floats each; small models only)\n"
            "replace:\n"
            "  --bins B              entropy quantile bins (default 5)\n"
            "  -k K                  continuations per branch (default 32)\n"
            "  --positions P         top-entropy:K (default top-entropy:4: the K highest-entropy tokens of each\n"
            "                        response) or all (every position, up to --max-positions)\n"
            "  --max-positions M     cap for --positions all (default 64)\n"
            "shift:\n"
            "  --model-b PATH        policy B (same architecture and vocabulary as --model); required\n"
            "  --bins B              entropy quantile bins (entropy under A; default 5)\n"
            "  --save-tokens         add token ids, both log-probs, A's entropies and the shifts to DIR/shift.jsonl\n");
}

json_t *analyze_num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

void analyze_scorer_init(AnalyzeScorer *sc, const Analyze *a) {
    acts_init_eval(&sc->acts, &a->m.cfg, 1, a->max_seq);
    sc->seq = mallocCheck((size_t)a->max_seq * sizeof(int));
    sc->targets = mallocCheck((size_t)a->max_seq * sizeof(int));
}

void analyze_scorer_free(AnalyzeScorer *sc) {
    acts_free(&sc->acts);
    free(sc->seq);
    free(sc->targets);
}

size_t analyze_score(AnalyzeScorer *sc, const Model *m, const int *prompt, int plen, const int *resp, int n, float T,
                     float *logp, float *ent, float *hn) {
    const int S = plen + n;
    memcpy(sc->seq, prompt, (size_t)plen * sizeof(int));
    memcpy(sc->seq + plen, resp, (size_t)n * sizeof(int));
    for (int t = 0; t < S; t++) sc->targets[t] = t + 1 < S ? sc->seq[t + 1] : -1;
    model_forward(m, &sc->acts, sc->seq, 1, S);
    model_head(m, &sc->acts, sc->targets, T, logp, ent, hn, NULL);
    return (size_t)plen - 1;
}

void analyze_print_bins(const char *label, const json_t *bins, const char *key, const char *fmt) {
    printf("%s", label);
    for (size_t b = 0; b < json_array_size(bins); b++) {
        const json_t *o = json_array_get(bins, b);
        printf(" [H %.3f: ", analyze_jnum(json_object_get(o, "entropy_mean")));
        printf(fmt, analyze_jnum(json_object_get(o, key)));
        printf("]");
    }
    printf("\n");
}

json_t *analyze_float_array(const float *x, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, analyze_num((double)x[i]));
    return a;
}

json_t *analyze_item(const Sampled *sm, int sample) {
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(sm->id));
    json_object_set_new(j, "index", json_integer((json_int_t)sm->index));
    json_object_set_new(j, "sample", json_integer(sample));
    json_object_set_new(j, "correct", json_integer(sm->correct[sample]));
    return j;
}

int analyze_write_line(FILE *f, json_t *o, const char *what, char *err, size_t errlen) {
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    int rc = 0;
    if (!line || fprintf(f, "%s\n", line) < 0) rc = rlvr_err(err, errlen, "writing %s failed: %s", what, strerror(errno));
    free(line);
    json_decref(o);
    return rc;
}

int analyze_grade(const Analyze *a, const char *gold, const int *tokens, int n) {
    char *text = NULL, ans[1024];
    size_t cap = 0;
    tokenizer_decode(&a->tok, tokens, (size_t)n, TOK_SKIP_SPECIAL, &text, &cap);
    int c = verify(a->b.verifier, gold, text, ans, sizeof ans) == 1;
    free(text);
    return c;
}

json_t *analyze_token_text(const Analyze *a, int id) {
    char *text = NULL, name[32];
    size_t cap = 0;
    // One token alone may end inside a character: its text is what decode shows (U+FFFD for that).
    size_t len = tokenizer_decode(&a->tok, &id, 1, TOK_SKIP_SPECIAL, &text, &cap);
    json_t *j = len ? json_stringn(text, len) : NULL;
    free(text);
    if (j) return j;
    snprintf(name, sizeof name, "<id %d>", id);
    return json_string(name);
}

json_t *analyze_entropy_bins(const double *entropy, size_t n, int bins, const double *const *vals,
                             const char *const *names, int nvals) {
    int *bin = mallocCheck((n ? n : 1) * sizeof(int));                         // (n)
    size_t *cnt = callocCheck((size_t)bins, sizeof(size_t));                   // (bins)
    double *lo = mallocCheck((size_t)bins * sizeof(double)), *hi = mallocCheck((size_t)bins * sizeof(double));
    double *esum = callocCheck((size_t)bins, sizeof(double));                  // (bins)
    double *vsum = callocCheck((size_t)bins * (size_t)(nvals ? nvals : 1), sizeof(double));   // (bins, nvals)
    stats_rank_bins(entropy, n, bins, bin);
    for (int b = 0; b < bins; b++) { lo[b] = INFINITY; hi[b] = -INFINITY; }
    for (size_t i = 0; i < n; i++) {
        int b = bin[i];
        cnt[b]++;
        esum[b] += entropy[i];
        if (entropy[i] < lo[b]) lo[b] = entropy[i];
        if (entropy[i] > hi[b]) hi[b] = entropy[i];
        for (int k = 0; k < nvals; k++) vsum[(size_t)b * nvals + k] += vals[k][i];
    }
    json_t *arr = json_array();
    for (int b = 0; b < bins; b++) {
        json_t *o = json_object();
        double c = (double)cnt[b];
        json_object_set_new(o, "count", json_integer((json_int_t)cnt[b]));
        json_object_set_new(o, "entropy_lo", analyze_num(lo[b]));
        json_object_set_new(o, "entropy_hi", analyze_num(hi[b]));
        json_object_set_new(o, "entropy_mean", analyze_num(cnt[b] ? esum[b] / c : NAN));
        for (int k = 0; k < nvals; k++) {
            char key[64];
            snprintf(key, sizeof key, "%s_mean", names[k]);
            json_object_set_new(o, key, analyze_num(cnt[b] ? vsum[(size_t)b * nvals + k] / c : NAN));
        }
        json_array_append_new(arr, o);
    }
    free(bin); free(cnt); free(lo); free(hi); free(esum); free(vsum);
    return arr;
}

json_t *analyze_correlation(const double *x, const double *y, size_t n) {
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer((json_int_t)n));
    json_object_set_new(o, "pearson", analyze_num(stats_pearson(x, y, n)));
    json_object_set_new(o, "spearman", analyze_num(stats_spearman(x, y, n)));
    return o;
}

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

json_t *analyze_distribution(double *x, size_t n) {
    if (n > 1) qsort(x, n, sizeof(double), cmp_double);   // x may be NULL when n is 0 (no correct response)
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)n));
    json_object_set_new(o, "mean", analyze_num(n ? s / (double)n : NAN));
    json_object_set_new(o, "min", analyze_num(n ? x[0] : NAN));
    json_object_set_new(o, "q1", analyze_num(stats_quantile_sorted(x, n, 0.25)));
    json_object_set_new(o, "median", analyze_num(stats_quantile_sorted(x, n, 0.5)));
    json_object_set_new(o, "q3", analyze_num(stats_quantile_sorted(x, n, 0.75)));
    json_object_set_new(o, "max", analyze_num(n ? x[n - 1] : NAN));
    return o;
}

static void progress(int quiet, const char *name, size_t done, size_t total, double acc) {
    if (quiet) return;
    char bar[31];
    cli_progress_bar(bar, 30, done, total);
    fprintf(stderr, "\ranalyze %-8s [%s] %zu/%zu  acc %.3f ", name, bar, done, total, acc);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

typedef struct {
    Analyze *a;
    const AnalysisOps *ops;
    void *st;
    const GradeItem *item;   // the problem being graded
    size_t index, n_ok, n_resp;
} RunCtx;

static int on_problem(void *ctx, int k, const Graded *g, char *err, size_t errlen) {
    (void)k;
    RunCtx *r = ctx;
    const size_t j = r->index;
    for (int i = 0; i < g->n; i++) r->n_ok += (size_t)g->correct[i];
    r->n_resp += (size_t)g->n;
    Sampled s = {.index = j, .id = r->a->b.ids[j], .gold = r->a->b.answers[j], .prompt = r->item->tokens,
                 .prompt_len = r->item->n_tokens, .n = g->n, .out = g->out, .seeds = g->seeds, .texts = g->texts,
                 .answers = g->answers, .correct = g->correct};
    return r->ops->problem(r->a, r->st, &s, err, errlen);
}

// Samples and grades every problem (one at a time: the analyses re-run the engine per problem) and
// hands each to the analysis. Returns 0, or -1 with err.
static int run(Analyze *a, const AnalysisOps *ops, void *st, size_t *skipped, char *err, size_t errlen) {
    Grader g;
    grader_init(&g, &a->inf, &a->tok, &a->gp, a->b.verifier, a->o.seed, (int)a->o.n, 1);
    RunCtx r = {.a = a, .ops = ops, .st = st};
    int rc = 0;
    *skipped = 0;
    progress(a->o.quiet, ops->name, 0, a->b.n, 0.0);
    for (size_t j = 0; j < a->b.n && rc == 0; j++) {
        int k = 0, e = 0;
        char e2[512];
        int *prompt = tokenizer_encode_alloc(&a->tok, a->b.prompts[j], a->b.encode_flags, &e, e2, sizeof e2);   // [BOS] + text, or as rendered
        if (!prompt) e = -1;
        if (e < 0 || k + e == 0 || k + e + a->gp.max_new_tokens > a->max_seq) {
            free(prompt);
            fprintf(stderr, "%srlvr analyze: problem %s skipped: %s\n", a->o.quiet ? "" : "\n", a->b.ids[j],
                    e < 0 ? e2 : "prompt is empty or longer than the engine's context");
            (*skipped)++;
            continue;
        }
        const GradeItem item = {.tokens = prompt, .n_tokens = k + e, .seed_index = (uint64_t)j, .gold = a->b.answers[j]};
        r.item = &item;
        r.index = j;
        rc = grader_run(&g, &item, 1, on_problem, &r, err, errlen);
        free(prompt);
        if (rc == 0) progress(a->o.quiet, ops->name, j + 1, a->b.n, r.n_resp ? (double)r.n_ok / (double)r.n_resp : 0.0);
    }
    grader_free(&g);
    return rc;
}

static FILE *open_out(const char *dir, const char *file, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", dir, file);
    return fopen(path, "w");
}

int cmd_analyze(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const AnalysisOps *ops = NULL;
    int which = 0;
    if (!strcmp(argv[1], "entropy")) ops = &analysis_entropy, which = FOR_E;
    else if (!strcmp(argv[1], "gradnorm")) ops = &analysis_gradnorm, which = FOR_G;
    else if (!strcmp(argv[1], "replace")) ops = &analysis_replace, which = FOR_R;
    else if (!strcmp(argv[1], "shift")) ops = &analysis_shift, which = FOR_S;
    else {
        fprintf(stderr, "rlvr analyze: unknown analysis '%s' (known: entropy, gradnorm, replace, shift)\n", argv[1]);
        return 2;
    }
    AnalyzeOpts o;
    memset(&o, 0, sizeof o);
    o.bins = which == FOR_E ? 10 : 5;
    o.top_tokens = 20; o.min_count = 5; o.k = 32; o.top_positions = 4; o.max_positions = 64;
    o.norm_by_std = 1; o.reward_fmt = REWARD_PM1;
    const char *sub = argv[1];
    char tool[64];
    snprintf(tool, sizeof tool, "rlvr analyze %s", sub);
    SampleOpts so;
    sample_opts_init(&so, tool, "rlvr analyze --help", 0, 1.0, 1.0);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        int got = sample_opts_parse(&so, argc, argv, &i);
        if (got < 0) return 2;
        if (got > 0) continue;
        // Flags without a value.
        int flag_for = 0, *flag = NULL;
        if (!strcmp(a, "--save-tokens")) flag = &o.save_tokens, flag_for = FOR_E | FOR_G | FOR_S;
        else if (!strcmp(a, "--dump-logits")) flag = &o.dump_logits, flag_for = FOR_G;
        if (flag) {
            if (!(flag_for & which)) { fprintf(stderr, "rlvr analyze %s: %s does not apply to this analysis (see --help)\n", sub, a); return 2; }
            *flag = 1;
            continue;
        }
        if (i + 1 >= argc) { fprintf(stderr, "rlvr analyze %s: %s needs a value\n", sub, a); usage(stderr); return 2; }
        const char *v = argv[++i];
        int bad = 0, opt_for = FOR_ALL;
        long lv = 0;
        if (!strcmp(a, "--model-b")) o.model_b_path = v, opt_for = FOR_S;
        else if (!strcmp(a, "--bins")) bad = cli_parse_long(v, 1, 1000, &lv), o.bins = (int)lv;
        else if (!strcmp(a, "--top-tokens")) bad = cli_parse_long(v, 0, 100000, &lv), o.top_tokens = (int)lv, opt_for = FOR_E;
        else if (!strcmp(a, "--min-count")) bad = cli_parse_long(v, 1, 1L << 30, &lv), o.min_count = (int)lv, opt_for = FOR_E;
        else if (!strcmp(a, "-k")) bad = cli_parse_long(v, 1, 4096, &lv), o.k = (int)lv, opt_for = FOR_R;
        else if (!strcmp(a, "--max-positions")) bad = cli_parse_long(v, 1, 1000000, &lv), o.max_positions = (int)lv, opt_for = FOR_R;
        else if (!strcmp(a, "--positions")) {
            opt_for = FOR_R;
            if (!strcmp(v, "all")) o.positions_all = 1;
            else if (!strncmp(v, "top-entropy:", 12)) bad = cli_parse_long(v + 12, 1, 1000000, &lv), o.top_positions = (int)lv;
            else if (!strcmp(v, "top-entropy")) o.top_positions = 4;
            else bad = 1;
        } else {
            fprintf(stderr, "rlvr analyze %s: unknown option '%s'\n", sub, a);
            usage(stderr);
            return 2;
        }
        if (!(opt_for & which)) { fprintf(stderr, "rlvr analyze %s: %s does not apply to this analysis (see --help)\n", sub, a); return 2; }
        if (bad) {
            fprintf(stderr, "rlvr analyze %s: bad value '%s' for %s (see rlvr analyze --help for the allowed values)\n", sub, v, a);
            return 2;
        }
    }
    if (which == FOR_S && !o.model_b_path && so.model_path) {
        fprintf(stderr, "rlvr analyze shift: --model-b PATH is required (the policy to compare --model with)\n");
        return 2;
    }
    if (so.n_data > 1) { fprintf(stderr, "rlvr analyze %s: give one --data (run the analysis once per benchmark)\n", sub); return 2; }
    if (o.dump_logits && !so.out_dir) { fprintf(stderr, "rlvr analyze %s: --dump-logits writes into --out DIR; give --out\n", sub); return 2; }
    RlvrConfig cfg;
    int have_cfg;
    ArithKnobs knobs;
    // The training distribution (rollout.*) is what the paper analyses, so it gives the defaults here.
    if (so.device.kind != DEVICE_CPU) {   // the analyses read the CPU engine's activations (final-normed rows, logits)
        fprintf(stderr, "%s: --device cuda is not supported by rlvr analyze; it runs on the CPU engine (drop --device, or "
                "generate with rlvr eval --device cuda --out DIR and score on the CPU)\n", tool);
        return 2;
    }
    if (sample_opts_finish(&so, "rollout", &cfg, &have_cfg, &knobs) != 0) return 2;
    if (have_cfg) {
        o.norm_by_std = cfg.algorithm_norm_adv_by_std_in_grpo;
        if (reward_format_parse(cfg.reward_format, &o.reward_fmt) != 0) { fprintf(stderr, "rlvr analyze %s: --config: reward.format '%s'\n", sub, cfg.reward_format); return 2; }
    }
    o.model_path = so.model_path; o.out_dir = so.out_dir; o.tmpl = so.tmpl; o.data = so.data[0];
    o.n = so.n; o.max_tokens = so.max_tokens; o.limit = so.limit; o.batch = so.batch;
    o.temperature = so.temperature; o.top_p = so.top_p; o.seed = so.seed; o.quiet = so.quiet;
    const unsigned long long arith_seed = so.arith_seed;
    char err[2048];

    Analyze an;
    memset(&an, 0, sizeof an);
    an.o = o;
    an.out_dir = o.out_dir;
    int rc = 0, have_bench = 0, have_model = 0, have_model_b = 0, have_inf = 0;
    if (problem_set_load(o.data, o.tmpl, arith_seed, &knobs, o.limit, &an.b, err, sizeof err) != 0) {
        fprintf(stderr, "rlvr analyze %s: %s\n", sub, err);
        return 2;
    }
    have_bench = 1;
    if (model_load(o.model_path, &an.m, err, sizeof err) != 0) { fprintf(stderr, "rlvr analyze %s: cannot load model %s: %s\n", sub, o.model_path, err); rc = 2; }
    else have_model = 1;
    int have_tok = 0;
    if (rc == 0 && tokenizer_from_model(&an.tok, &an.m, err, sizeof err) == 0) have_tok = 1;
    else if (rc == 0) {
        fprintf(stderr, "rlvr analyze %s: model %s: %s\n", sub, o.model_path, err);
        rc = 2;
    }
    if (rc == 0 && o.model_b_path) {
        if (model_load(o.model_b_path, &an.mb, err, sizeof err) != 0) {
            fprintf(stderr, "rlvr analyze %s: cannot load model %s: %s\n", sub, o.model_b_path, err);
            rc = 2;
        } else {
            have_model_b = 1;
            // one token sequence is scored by both: the shapes (and so the vocabulary) must agree
            if (an.mb.num_params != an.m.num_params || an.mb.cfg.vocab_size != an.m.cfg.vocab_size ||
                an.mb.cfg.num_layers != an.m.cfg.num_layers || an.mb.cfg.hidden_size != an.m.cfg.hidden_size ||
                strcmp(an.mb.cfg.tokenizer, an.m.cfg.tokenizer) != 0 || !an.mb.tokenizer_json != !an.m.tokenizer_json ||
                (an.m.tokenizer_json && strcmp(an.mb.tokenizer_json, an.m.tokenizer_json) != 0)) {
                fprintf(stderr, "rlvr analyze %s: --model-b %s is not the same architecture / vocabulary / tokenizer as --model %s "
                        "(compare two checkpoints of one run)\n", sub, o.model_b_path, o.model_path);
                rc = 2;
            }
        }
    }
    if (rc == 0 && sample_opts_apply_chat(&so, &an.tok, &an.b, 1) != 0) rc = 2;
    if (rc == 0 && an.tok.vocab_size > an.m.cfg.vocab_size) {
        fprintf(stderr, "rlvr analyze %s: model %s: tokenizer '%s' has %d tokens but vocab_size is %d\n", sub, o.model_path, an.tok.type,
                an.tok.vocab_size, an.m.cfg.vocab_size);
        rc = 2;
    }
    if (rc == 0) {
        gen_params_default(&an.gp);
        an.gp.sampler.temperature = (float)o.temperature;
        an.gp.sampler.top_p = (float)o.top_p;
        an.gp.max_new_tokens = (int)o.max_tokens;
        for (int i = 0; i < an.tok.n_eos && an.gp.n_stop < INFER_MAX_STOP; i++)   // every EOS of the model ends a response
            if (an.tok.eos_ids[i] < an.m.cfg.vocab_size) an.gp.stop[an.gp.n_stop++] = an.tok.eos_ids[i];
        if (sampler_params_validate(&an.gp.sampler, err, sizeof err) != 0) { fprintf(stderr, "rlvr analyze %s: %s\n", sub, err); rc = 2; }
    }
    if (rc == 0) {
        int B = (int)(o.batch < o.n ? o.n : o.batch);
        int longest = 0;   // in tokens, special tokens included
        for (size_t j = 0; j < an.b.n; j++) {
            char e2[512];
            int len = 0;
            free(tokenizer_encode_alloc(&an.tok, an.b.prompts[j], an.b.encode_flags, &len, e2, sizeof e2));
            if (len > longest) longest = len;
        }
        an.max_seq = longest + (int)o.max_tokens;
        if (infer_init(&an.inf, &an.m, B, an.max_seq, err, sizeof err) != 0) { fprintf(stderr, "rlvr analyze %s: %s\n", sub, err); rc = 2; }
        else have_inf = 1;
    }
    char path[2048];
    if (rc == 0 && o.out_dir) {
        if (cli_mkdir_p(o.out_dir, err, sizeof err) != 0) { fprintf(stderr, "rlvr analyze %s: %s\n", sub, err); rc = 2; }
        else if (!(an.items = open_out(o.out_dir, ops->items_file, path, sizeof path))) {
            fprintf(stderr, "rlvr analyze %s: cannot write %s: %s\n", sub, path, strerror(errno));
            rc = 2;
        } else if (which == FOR_E && o.save_tokens && !(an.tokens = open_out(o.out_dir, "tokens.jsonl", path, sizeof path))) {
            fprintf(stderr, "rlvr analyze %s: cannot write %s: %s\n", sub, path, strerror(errno));
            rc = 2;
        }
    }
    void *st = NULL;
    size_t skipped = 0;
    if (rc == 0) {
        st = ops->init(&an);
        if (run(&an, ops, st, &skipped, err, sizeof err) != 0) { fprintf(stderr, "rlvr analyze %s: %s\n", sub, err); rc = 1; }
    }
    if (an.items && fclose(an.items) != 0) { fprintf(stderr, "rlvr analyze %s: writing %s failed\n", sub, ops->items_file); rc = 1; }
    if (an.tokens && fclose(an.tokens) != 0) { fprintf(stderr, "rlvr analyze %s: writing tokens.jsonl failed\n", sub); rc = 1; }
    if (rc == 0) {
        json_t *summary = json_object();
        json_object_set_new(summary, "analysis", json_string(ops->name));
        json_object_set_new(summary, "model", json_string(o.model_path));
        json_object_set_new(summary, "data", json_string(an.b.name));
        json_object_set_new(summary, "verifier", json_string(an.b.verifier));
        json_object_set_new(summary, "problems", json_integer((json_int_t)(an.b.n - skipped)));
        json_object_set_new(summary, "skipped", json_integer((json_int_t)skipped));
        json_object_set_new(summary, "samples", json_integer(o.n));
        json_object_set_new(summary, "temperature", json_real(o.temperature));
        json_object_set_new(summary, "top_p", json_real(o.top_p));
        json_object_set_new(summary, "max_tokens", json_integer(o.max_tokens));
        json_object_set_new(summary, "seed", json_integer((json_int_t)o.seed));
        ops->finish(&an, st, summary);
        if (o.out_dir) {
            snprintf(path, sizeof path, "%s/summary.json", o.out_dir);
            if (json_write_atomic(path, summary, JSON_INDENT(2), err, sizeof err) != 0) {
                fprintf(stderr, "rlvr analyze %s: %s\n", sub, err);
                rc = 1;
            }
        }
        json_decref(summary);
        if (fflush(stdout) != 0) rc = 1;
    }
    if (st) ops->free(st);
    if (have_inf) infer_free(&an.inf);
    if (have_model) model_free(&an.m);
    if (have_tok) tokenizer_free(&an.tok);
    if (have_model_b) model_free(&an.mb);
    if (have_bench) problem_set_free(&an.b);
    return rc;
}
