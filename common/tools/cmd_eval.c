// rlvr eval --model PATH --data FILE.jsonl [--data ...] [-n 8] [--temperature 0.6] [--top-p 0.95]
//           [--max-tokens N] [--out DIR] [--config FILE [key.sub=value ...]] ...
// Samples N responses per problem with the KV-cache engine, scores them with the problem's verifier
// and reports Acc@N, Maj@N and Pass@N per benchmark (common/tasks/eval.h), with a progress bar on stderr.
// --out DIR writes DIR/summary.json and DIR/<name>.jsonl (one line per problem).
// --config FILE takes the arithmetic split from a training run's config (trainer.seed, data.arith.*,
// through the learner's own arith_knobs_from_config) so "held-out" means the same problems as in
// training, and the sampling defaults from eval.* and data.max_response_length; flags still win.
// Exit codes: 0 ok, 2 bad arguments / unreadable model or data, 1 internal error (output write failure).
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tools/commands.h"
#include "common/core/check.h"
#include "common/core/cli.h"
#include "common/tasks/eval.h"
#include "common/tasks/grade.h"
#include "common/tasks/jsonl.h"
#include "common/engine/infer.h"
#include "common/engine/model.h"
#include "common/tasks/quality.h"
#include "common/engine/sampler.h"
#include "common/tasks/tasks.h"
#include "common/engine/tokenizer.h"
#include "common/tasks/problems.h"
#include "common/tasks/verifier.h"
#include "common/tools/device_run.h"
#include "common/tools/sample_opts.h"
#include "common/tasks/data_stream.h"
#include "common/io/model_io.h"


static void usage(FILE *f) {
    fprintf(f,
            "usage: rlvr eval --model PATH --data SPEC [--data SPEC ...] [options]\n"
            "  --model PATH          HF directory or native .h5 model file\n"
            "  --data SPEC           a JSON Lines benchmark ({\"id\", \"problem\", \"answer\"}; verifier \"math\"; name =\n"
            "                        file name without extension), or arith:heldout[:COUNT] for the synthetic\n"
            "                        arithmetic task's held-out split (verifier \"arith\"; default COUNT 200)\n"
            "  -n N                  samples per problem (default 8)\n"
            "  --temperature T       > 0 (default 0.6); 0 = greedy\n"
            "  --top-p P             (0, 1] (default 0.95)\n"
            "  --top-k K             0 = off (default 0)\n"
            "  --max-tokens N        maximum new tokens per sample (default 512)\n"
            "  --template T          the problem's text: default (problem + the \\boxed{} instruction), plain, dapo\n"
            "                        (DAPO's instruction), chatml, qwen-math, or text with {prompt} (default: default for\n"
            "                        JSONL, the bare problem for arith; with --config: data.prompt_template)\n"
            "  --chat                put that text through the model's chat template as the user message (recognised\n"
            "                        from its tokenizer_config.json; with --config: data.apply_chat_template)\n"
            "  --chat-template NAME  the same with a built-in renderer: " CHAT_TEMPLATE_NAMES "\n"
            "  --no-chat             no chat template, whatever the config says\n"
            "  --seed S              sampling seed (default 0): sample i of problem j uses sampler_seed(S, j, i)\n"
            "  --limit P             first P problems of each benchmark only\n"
            "  --batch N             engine slots: samples decoded together, a finished one's slot refilled at once\n"
            "                        (default 64)\n"
            "  --device cpu|cuda     generate on the CPU engine (default) or the GPU (-DRLVR_CUDA=ON build, first\n"
            "                        visible GPU; its sampling draws from Philox: other samples for the same seed,\n"
            "                        the same greedy tokens)\n"
            "  --precision P         fp32 (default) or bf16 (cuda only)\n"
            "  --gpu-memory-fraction F  share of the GPU's memory to use, in (0, 1] (default 0.9)\n"
            "  --arith-seed S        task seed of the arithmetic split (default 0; use the training run's task seed)\n"
            "  --arith-digits D, --arith-steps K   arithmetic knobs (defaults of common/tasks/tasks.h)\n"
            "  --config FILE         a training config (repeatable, loaded in order): the arithmetic split\n"
            "                        from trainer.seed and data.arith.* (ops, held-out size) exactly as the\n"
            "                        learner builds it; -n, --temperature, --top-p, --max-tokens default to\n"
            "                        eval.n, eval.temperature, eval.top_p, eval.max_new_tokens (0: data.\n"
            "                        max_response_length); explicit flags win\n"
            "  key.sub=value         config overrides applied after the --config files (e.g. trainer.seed=3)\n"
            "  --reward-style STYLE  how math answers are graded (reward.style): default, boxed, math_dapo,\n"
            "                        prime_math (default: reward.style of --config, else default)\n"
            "  --save-responses      include the response texts in the per-problem files\n"
            "  --out DIR             write DIR/summary.json and DIR/<name>.jsonl\n"
            "  --quiet               no progress bar\n");
}

static void progress(int quiet, const char *name, size_t done, size_t total, double acc, double tok_s) {
    if (quiet) return;
    char bar[31];
    cli_progress_bar(bar, 30, done, total);
    fprintf(stderr, "\r%-16.16s [%s] %zu/%zu  acc %.3f  %.0f tok/s ", name, bar, done, total, acc, tok_s);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

typedef struct {
    const Model *m;
    const Tokenizer *tok;
    const GenBackend *be;
    GenParams gp;
    int n, batch, quiet, save_responses;
    uint64_t seed;
} EvalRun;

// Runs one benchmark; writes per-problem lines to f (may be NULL) and fills *tot.
// Response statistics besides correctness (the paper's appendix-B quality flags, common/tasks/quality.h).
typedef struct { size_t samples, tokens, length_clip, bad_boxed, cjk, repetitive; } EvalQuality;

typedef struct {
    const EvalRun *r;
    const ProblemSet *b;
    FILE *f;
    EvalTotals *tot;
    EvalQuality *q;
    QualityParams qp;
    const size_t *pidx;   // (per) benchmark index of each problem of the batch
} BenchCtx;

// One graded problem: quality flags, totals, and its line in the per-problem file.
static int on_problem(void *ctx, int k, const Graded *g, char *err, size_t errlen) {
    BenchCtx *c = ctx;
    const size_t j = c->pidx[k];
    const int n = g->n;
    for (int i = 0; i < n; i++) {
        QualityFlags qf;
        quality_check_text(g->texts[i], g->text_lens[i], &c->qp, &qf);
        c->q->samples++;
        c->q->tokens += (size_t)g->out[i].n;
        c->q->length_clip += g->out[i].finish == FINISH_LENGTH;
        c->q->bad_boxed += qf.bad_boxed;
        c->q->cjk += qf.has_cjk;
        c->q->repetitive += qf.repetitive;
    }
    const EvalProblem *ep = &g->ep;
    eval_totals_add(c->tot, ep);
    if (!c->f) return 0;
    json_t *o = json_object(), *ja = json_array(), *jc = json_array(), *jf = json_array(), *jn = json_array();
    json_object_set_new(o, "id", json_string(c->b->ids[j]));
    json_object_set_new(o, "index", json_integer((json_int_t)j));
    json_object_set_new(o, "gold", json_string(c->b->answers[j]));
    for (int i = 0; i < n; i++) {
        json_array_append_new(ja, json_string(g->answers[i]));
        json_array_append_new(jc, json_integer(g->correct[i]));
        json_array_append_new(jf, json_string(finish_reason_name(g->out[i].finish)));
        json_array_append_new(jn, json_integer(g->out[i].n));
    }
    json_object_set_new(o, "answers", ja);
    json_object_set_new(o, "correct", jc);
    json_object_set_new(o, "finish", jf);
    json_object_set_new(o, "n_tokens", jn);
    json_object_set_new(o, "n_correct", json_integer(ep->n_correct));
    json_object_set_new(o, "acc", json_real((double)ep->n_correct / n));
    json_object_set_new(o, "maj_answer", ep->maj_index >= 0 ? json_string(g->answers[ep->maj_index]) : json_null());
    json_object_set_new(o, "maj_votes", json_integer(ep->maj_votes));
    json_object_set_new(o, "maj_correct", json_integer(ep->maj_correct));
    json_object_set_new(o, "pass", json_integer(ep->pass));
    if (c->r->save_responses) {
        json_t *jr = json_array();
        for (int i = 0; i < n; i++) json_array_append_new(jr, json_string(g->texts[i]));
        json_object_set_new(o, "responses", jr);
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    int rc = 0;
    if (!line || fprintf(c->f, "%s\n", line) < 0) rc = rlvr_err(err, errlen, "writing the per-problem results of %s failed", c->b->name);
    free(line);
    json_decref(o);
    return rc;
}

static int run_bench(EvalRun *r, const ProblemSet *b, FILE *f, EvalTotals *tot, EvalQuality *q, size_t *skipped, char *err,
                     size_t errlen) {
    eval_totals_init(tot);
    memset(q, 0, sizeof *q);
    *skipped = 0;
    const int n = r->n;   // the tokenizer's ids fit the model's vocabulary (checked at start)
    const int per = r->batch / n > 0 ? r->batch / n : 1;   // problems per engine call
    Grader g;
    grader_init(&g, NULL, r->tok, &r->gp, b->verifier, r->seed, n, per);
    g.be = r->be;
    GradeItem *items = mallocCheck((size_t)per * sizeof *items);
    int **ptok = mallocCheck((size_t)per * sizeof(int *));
    size_t *pidx = mallocCheck((size_t)per * sizeof(size_t));
    BenchCtx ctx = {.r = r, .b = b, .f = f, .tot = tot, .q = q, .pidx = pidx};
    quality_params_default(&ctx.qp);
    int rc = 0;
    double t0 = now_seconds();
    size_t next = 0, done = 0;
    progress(r->quiet, b->name, 0, b->n, 0.0, 0.0);
    while (next < b->n && rc == 0) {
        int np = 0;
        while (np < per && next < b->n) {
            size_t j = next++;
            char e2[512];
            int k = 0, e = 0;
            int *t = tokenizer_encode_alloc(r->tok, b->prompts[j], b->encode_flags, &e, e2, sizeof e2);   // [BOS] + text, or as rendered
            if (!t) e = -1;
            if (e < 0 || k + e == 0 || k + e + r->gp.max_new_tokens > r->be->max_seq) {
                fprintf(stderr, "%srlvr eval: %s problem %s skipped: %s\n", r->quiet ? "" : "\n", b->name, b->ids[j],
                        e < 0 ? e2 : "prompt is empty or longer than the engine's context");
                free(t);
                (*skipped)++;
                done++;
                continue;
            }
            ptok[np] = t;
            pidx[np] = j;
            items[np] = (GradeItem){.tokens = t, .n_tokens = k + e, .seed_index = (uint64_t)j, .gold = b->answers[j]};
            np++;
        }
        rc = grader_run(&g, items, np, on_problem, &ctx, err, errlen);
        if (rc == 0) done += (size_t)np;
        for (int p = 0; p < np; p++) free(ptok[p]);
        double dt = now_seconds() - t0;
        progress(r->quiet, b->name, done, b->n, eval_acc(tot), dt > 0 ? (double)g.tokens / dt : 0.0);
    }
    if (!r->quiet && done != b->n) fputc('\n', stderr);
    grader_free(&g);
    free(items); free(ptok); free(pidx);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    SampleOpts so;
    sample_opts_init(&so, "rlvr eval", "rlvr eval --help", 1, 0.6, 0.95);
    int save_responses = 0;
    long top_k = 0;
    const char *style = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        int got = sample_opts_parse(&so, argc, argv, &i);
        if (got < 0) return 2;
        if (got > 0) continue;
        if (!strcmp(a, "--save-responses")) { save_responses = 1; continue; }
        if (!strcmp(a, "--reward-style")) {
            if (i + 1 >= argc) { fprintf(stderr, "rlvr eval: --reward-style needs a value\n"); return 2; }
            style = argv[++i];
            continue;
        }
        if (!strcmp(a, "--top-k")) {
            if (i + 1 >= argc) { fprintf(stderr, "rlvr eval: --top-k needs a value\n"); return 2; }
            const char *v = argv[++i];
            if (cli_parse_long(v, 0, 1L << 30, &top_k)) {
                fprintf(stderr, "rlvr eval: bad value '%s' for --top-k (see rlvr eval --help for the allowed values)\n", v);
                return 2;
            }
            continue;
        }
        fprintf(stderr, "rlvr eval: unknown option '%s'\n", a);
        usage(stderr);
        return 2;
    }
    RlvrConfig cfg;
    int have_cfg;
    ArithKnobs knobs;
    if (sample_opts_finish(&so, "eval", &cfg, &have_cfg, &knobs) != 0) return 2;
    const char *model_path = so.model_path, *out_dir = so.out_dir, *tmpl = so.tmpl;
    const char *const *data = so.data;
    const int n_data = so.n_data, quiet = so.quiet;
    const long n = so.n, max_tokens = so.max_tokens, limit = so.limit, batch = so.batch;
    const double temperature = so.temperature, top_p = so.top_p;
    const unsigned long long seed = so.seed, arith_seed = so.arith_seed;
    char err[2048];
    ProblemSet *benches = callocCheck((size_t)n_data, sizeof(ProblemSet));
    int rc = 0, nb = 0;
    for (; nb < n_data; nb++) {
        if (problem_set_load(data[nb], tmpl, arith_seed, &knobs, limit, &benches[nb], err, sizeof err) != 0) {
            fprintf(stderr, "rlvr eval: %s\n", err);
            rc = 2;
            break;
        }
        const char *styled = verifier_for_style(benches[nb].verifier, style ? style : have_cfg ? cfg.reward_style : "default");
        if (!styled) {
            fprintf(stderr, "rlvr eval: unknown --reward-style '%s' (known: " REWARD_STYLES ")\n", style);
            rc = 2;
            nb++;
            break;
        }
        benches[nb].verifier = styled;
        for (int k = 0; k < nb; k++)
            if (!strcmp(benches[k].name, benches[nb].name)) {
                fprintf(stderr, "rlvr eval: two --data files are both named '%s'; rename one (results are keyed by file name)\n", benches[nb].name);
                rc = 2;
            }
        if (rc) { nb++; break; }
    }
    Model m;
    int have_model = 0;
    Tokenizer tok;
    if (rc == 0) {
        if (model_load(model_path, &m, err, sizeof err) != 0) { fprintf(stderr, "rlvr eval: cannot load model: %s\n", err); rc = 2; }
        else have_model = 1;
    }
    int have_tok = 0;
    if (rc == 0 && tokenizer_from_model(&tok, &m, err, sizeof err) != 0) {
        fprintf(stderr, "rlvr eval: model %s: %s\n", model_path, err);
        rc = 2;
    } else if (rc == 0) have_tok = 1;
    if (rc == 0 && tok.vocab_size > m.cfg.vocab_size) {
        fprintf(stderr, "rlvr eval: model %s: tokenizer '%s' has %d tokens but vocab_size is %d\n", model_path, tok.type, tok.vocab_size, m.cfg.vocab_size);
        rc = 2;
    }
    if (rc == 0 && sample_opts_apply_chat(&so, &tok, benches, nb) != 0) rc = 2;
    EvalRun r;
    memset(&r, 0, sizeof r);
    ToolGen eng;
    int have_eng = 0;
    if (rc == 0) {
        gen_params_default(&r.gp);
        r.gp.sampler.temperature = (float)temperature;
        r.gp.sampler.top_p = (float)top_p;
        r.gp.sampler.top_k = (int)top_k;
        r.gp.max_new_tokens = (int)max_tokens;
        for (int i = 0; i < tok.n_eos && r.gp.n_stop < INFER_MAX_STOP; i++)   // every EOS of the model ends a response
            if (tok.eos_ids[i] < m.cfg.vocab_size) r.gp.stop[r.gp.n_stop++] = tok.eos_ids[i];
        if (sampler_params_validate(&r.gp.sampler, err, sizeof err) != 0) { fprintf(stderr, "rlvr eval: %s\n", err); rc = 2; }
    }
    if (rc == 0) {
        int longest = 0;   // in tokens, special tokens included (prompts that do not encode are skipped later)
        for (int k = 0; k < nb; k++)
            for (size_t j = 0; j < benches[k].n; j++) {
                char e2[512];
                int len = 0;
                free(tokenizer_encode_alloc(&tok, benches[k].prompts[j], benches[k].encode_flags, &len, e2, sizeof e2));
                if (len > longest) longest = len;
            }
        int B = (int)(batch < n ? n : batch);
        if (B > (int)(n * 64)) B = (int)(n * 64);
        if (tool_gen_init(&eng, &m, &so.device, B, longest + (int)max_tokens, err, sizeof err) != 0) { fprintf(stderr, "rlvr eval: %s\n", err); rc = 2; }
        else have_eng = 1;
        r.m = &m; r.tok = &tok; r.be = &eng.be; r.n = (int)n; r.batch = B; r.quiet = quiet; r.save_responses = save_responses; r.seed = seed;
    }
    if (rc == 0 && out_dir && cli_mkdir_p(out_dir, err, sizeof err) != 0) { fprintf(stderr, "rlvr eval: %s\n", err); rc = 2; }
    json_t *summary = json_object(), *jb = json_object();
    json_object_set_new(summary, "benchmarks", jb);
    for (int k = 0; k < nb && rc == 0; k++) {
        FILE *f = NULL;
        if (out_dir) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s.jsonl", out_dir, benches[k].name);
            f = fopen(path, "w");
            if (!f) { fprintf(stderr, "rlvr eval: cannot write %s: %s\n", path, strerror(errno)); rc = 1; break; }
        }
        EvalTotals tot;
        EvalQuality q;
        size_t skipped = 0;
        if (run_bench(&r, &benches[k], f, &tot, &q, &skipped, err, sizeof err) != 0) { fprintf(stderr, "rlvr eval: %s\n", err); rc = 1; }
        if (f && fclose(f) != 0) { fprintf(stderr, "rlvr eval: writing %s.jsonl failed\n", benches[k].name); rc = 1; }
        json_t *o = json_object();
        json_object_set_new(o, "problems", json_integer(tot.problems));
        json_object_set_new(o, "samples", json_integer(n));
        json_object_set_new(o, "acc", json_real(eval_acc(&tot)));
        json_object_set_new(o, "maj", json_real(eval_maj(&tot)));
        json_object_set_new(o, "pass", json_real(eval_pass(&tot)));
        json_object_set_new(o, "skipped", json_integer((json_int_t)skipped));
        // shares of all sampled responses
        const double ns = q.samples ? (double)q.samples : 1.0;
        json_object_set_new(o, "response_length_mean", json_real((double)q.tokens / ns));
        json_object_set_new(o, "length_clip", json_real((double)q.length_clip / ns));
        json_object_set_new(o, "quality_boxed_violation", json_real((double)q.bad_boxed / ns));
        json_object_set_new(o, "quality_cjk", json_real((double)q.cjk / ns));
        json_object_set_new(o, "quality_repetitive", json_real((double)q.repetitive / ns));
        json_object_set_new(o, "verifier", json_string(benches[k].verifier));
        if (benches[k].chat_template[0]) json_object_set_new(o, "chat_template", json_string(benches[k].chat_template));
        json_object_set_new(jb, benches[k].name, o);
        printf("%-24s problems %5d  n %3ld  acc@%ld %.4f  maj@%ld %.4f  pass@%ld %.4f%s\n", benches[k].name, tot.problems, n, n,
               eval_acc(&tot), n, eval_maj(&tot), n, eval_pass(&tot), skipped ? "  (some problems skipped, see above)" : "");
    }
    if (rc == 0) {
        json_object_set_new(summary, "model", json_string(model_path));
        json_object_set_new(summary, "temperature", json_real(temperature));
        json_object_set_new(summary, "top_p", json_real(top_p));
        json_object_set_new(summary, "top_k", json_integer(top_k));
        json_object_set_new(summary, "max_tokens", json_integer(max_tokens));
        json_object_set_new(summary, "seed", json_integer((json_int_t)seed));
        if (out_dir) {
            char path[2048];
            snprintf(path, sizeof path, "%s/summary.json", out_dir);
            if (json_write_atomic(path, summary, JSON_INDENT(2), err, sizeof err) != 0) {
                fprintf(stderr, "rlvr eval: %s\n", err);
                rc = 1;
            }
        }
        if (fflush(stdout) != 0) rc = 1;
    }
    json_decref(summary);
    if (have_eng) tool_gen_free(&eng);
    if (have_model) model_free(&m);
    if (have_tok) tokenizer_free(&tok);
    for (int k = 0; k < nb; k++) problem_set_free(&benches[k]);
    free(benches);
    return rc;
}
