// Coordinator test harness for the rollout worker tests and benchmark (not a learner: no training).
// Starts the real coordinator (learner/coordinator/coordinator.h), publishes weights, writes the rendezvous file,
// enqueues N arithmetic prompts (common/tasks/tasks.h), then collects groups, checks every response and
// writes one JSON line per group; finally prints "FINAL {...}" with its own checks and the
// coordinator's counters. Exit 0 when all N prompts came back exactly once and every check passed.
//
//   coord_harness --make-model PATH [--hidden C --layers L --heads H --kv-heads KV --init-std S --model-seed S]
//   coord_harness --run-dir DIR --model PATH [options]      (see usage())
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#include "common/engine/model.h"
#include "common/core/rng.h"
#include "common/tasks/tasks.h"
#include "common/engine/tokenizer.h"
#include "common/tasks/verifier.h"
#include "learner/coordinator/coordinator.h"
#include "common/io/model_io.h"

static void usage(void) {
    fprintf(stderr,
            "usage: coord_harness --make-model PATH [--hidden 32 --layers 2 --heads 4 --kv-heads 2 --intermediate 64\n"
            "                     --init-std 0.3 --model-seed 7] [--chain STR ... --fork STR ...]\n"
            "       coord_harness --run-dir DIR --model PATH [--prompts 6 --group 4 --max-tokens 24 --temperature 1\n"
            "                     --top-p 1 --top-k 0 --seed 1 --lease 2 --heartbeat 0.2 --staleness 1 --credits-cap 64\n"
            "                     --weights path|chunks|none --bump-after K --rdv-model --timeout 20 --out FILE.jsonl\n"
            "                     --status-every S --settle S]\n");
}

static int make_model(const char *path, int C, int L, int H, int KV, int I, float std, uint64_t seed) {
    ModelConfig cfg;
    model_config_default(&cfg);
    cfg.arch = ARCH_QWEN2;
    cfg.vocab_size = CHAR_TOK_VOCAB;
    cfg.hidden_size = C;
    cfg.intermediate_size = I;
    cfg.num_layers = L;
    cfg.num_heads = H;
    cfg.num_kv_heads = KV;
    cfg.head_dim = C / H;
    cfg.max_position_embeddings = 4096;
    cfg.qkv_bias = 1;
    cfg.tie_word_embeddings = 1;
    cfg.bos_token_id = CHAR_TOK_BOS;
    model_config_set_eos(&cfg, CHAR_TOK_EOS);
    cfg.pad_token_id = CHAR_TOK_PAD;
    snprintf(cfg.tokenizer, sizeof cfg.tokenizer, "char");
    Model m;
    char err[512];
    if (model_init(&m, &cfg, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
    model_init_random(&m, seed, std);
    int rc = model_save_native(&m, path, err, sizeof err);
    if (rc != 0) fprintf(stderr, "coord_harness: %s\n", err);
    else printf("{\"model\": \"%s\", \"params\": %zu}\n", path, m.num_params);
    model_free(&m);
    return rc ? 1 : 0;
}

// A model whose next token depends only on the current one (all layers zero, so the residual stream
// is the token's embedding): chains[k] = "abc" makes a -> b -> c near-certain, a final '$' stands for
// EOS; forks[k] = "xyz" makes y and z equally likely after x. For tests that need known answers
// ("=\\boxed{2}$").
static int make_chain_model(const char *path, char **chains, int n_chains, char **forks, int n_forks) {
    ModelConfig cfg;
    model_config_default(&cfg);
    cfg.arch = ARCH_LLAMA;
    cfg.vocab_size = CHAR_TOK_VOCAB;
    cfg.hidden_size = CHAR_TOK_VOCAB;   // one-hot embeddings
    cfg.intermediate_size = 32;
    cfg.num_layers = 1;
    cfg.num_heads = 4;
    cfg.num_kv_heads = 4;
    cfg.head_dim = CHAR_TOK_VOCAB / 4;
    cfg.max_position_embeddings = 4096;
    cfg.bos_token_id = CHAR_TOK_BOS;
    model_config_set_eos(&cfg, CHAR_TOK_EOS);
    cfg.pad_token_id = CHAR_TOK_PAD;
    snprintf(cfg.tokenizer, sizeof cfg.tokenizer, "char");
    Model m;
    char err[512];
    if (model_init(&m, &cfg, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
    ModelView v;
    model_view(&m, m.params, &v);
    const int V = CHAR_TOK_VOCAB, C = CHAR_TOK_VOCAB;
    for (int c = 0; c < C; c++) { v.layers[0].input_layernorm[c] = 1; v.layers[0].post_attention_layernorm[c] = 1; v.norm[c] = 1; }
    for (int t = 0; t < V; t++) v.embed_tokens[(size_t)t * C + t] = 1;
    const float big = 30.0f;
    for (int k = 0; k < n_chains; k++) {
        const unsigned char *s = (const unsigned char *)chains[k];
        for (size_t i = 0; s[i] && s[i + 1]; i++) {
            int next = s[i + 1] == '$' && !s[i + 2] ? CHAR_TOK_EOS : s[i + 1];
            v.lm_head[(size_t)next * C + s[i]] = big;
        }
    }
    for (int k = 0; k < n_forks; k++) {
        const unsigned char *s = (const unsigned char *)forks[k];
        for (size_t i = 1; s[0] && s[i]; i++) v.lm_head[(size_t)s[i] * C + s[0]] = big;
    }
    int rc = model_save_native(&m, path, err, sizeof err);
    if (rc != 0) fprintf(stderr, "coord_harness: %s\n", err);
    else printf("{\"model\": \"%s\", \"params\": %zu}\n", path, m.num_params);
    model_free(&m);
    return rc ? 1 : 0;
}

// The rendezvous file with an extra "model" key (what a worker without --model reads).
static int add_rdv_model(const char *rdv, const char *model) {
    json_error_t je;
    json_t *j = json_load_file(rdv, 0, &je);
    if (!j) return -1;
    json_object_set_new(j, "model", json_string(model));
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%.1100s.tmp", rdv);
    int rc = json_dump_file(j, tmp, JSON_COMPACT);
    json_decref(j);
    return rc == 0 ? rename(tmp, rdv) : -1;
}

typedef struct { const char *mode; const char *run_dir; } PubCtx;

// Publishes weights version v: a buffer broadcast, or an .h5 snapshot in the run directory.
static int publish(Coordinator *c, const PubCtx *pc, Model *m, int64_t v, const char *orig_path) {
    char err[512];
    if (!strcmp(pc->mode, "none")) { coord_set_policy_version(c, v); return 0; }
    if (!strcmp(pc->mode, "chunks")) {
        if (coord_publish_weights(c, v, m->params, m->num_params, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return -1; }
        return 0;
    }
    char path[1200];
    if (v == 0 && orig_path) {
        snprintf(path, sizeof path, "%s", orig_path);
    } else {
        snprintf(path, sizeof path, "%s/weights_v%lld.h5", pc->run_dir, (long long)v);
        if (model_save_native(m, path, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return -1; }
    }
    if (coord_publish_weights_path(c, v, path, m->num_params, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    char *chains[16], *forks[16];
    int n_chains = 0, n_forks = 0;
    const char *make = NULL, *run_dir = NULL, *model_path = NULL, *out_path = NULL, *wmode = "path";
    int C = 32, L = 2, H = 4, KV = 2, I = 64, n_prompts = 6, G = 4, max_tokens = 24, top_k = 0, rdv_model = 0, bump_after = -1;
    double init_std = 0.3, temperature = 1.0, top_p = 1.0, lease = 2.0, heartbeat = 0.2, timeout = 20.0, status_every = 0, settle = 0.3;
    long staleness = 1, credits_cap = 64;
    unsigned long long seed = 1, model_seed = 7;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--rdv-model")) { rdv_model = 1; continue; }
        if (i + 1 >= argc) { usage(); return 2; }
        const char *v = argv[++i];
        if (!strcmp(a, "--make-model")) make = v;
        else if (!strcmp(a, "--chain") && n_chains < 16) chains[n_chains++] = (char *)v;
        else if (!strcmp(a, "--fork") && n_forks < 16) forks[n_forks++] = (char *)v;
        else if (!strcmp(a, "--hidden")) C = atoi(v);
        else if (!strcmp(a, "--layers")) L = atoi(v);
        else if (!strcmp(a, "--heads")) H = atoi(v);
        else if (!strcmp(a, "--kv-heads")) KV = atoi(v);
        else if (!strcmp(a, "--intermediate")) I = atoi(v);
        else if (!strcmp(a, "--init-std")) init_std = atof(v);
        else if (!strcmp(a, "--model-seed")) model_seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--run-dir")) run_dir = v;
        else if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--prompts")) n_prompts = atoi(v);
        else if (!strcmp(a, "--group")) G = atoi(v);
        else if (!strcmp(a, "--max-tokens")) max_tokens = atoi(v);
        else if (!strcmp(a, "--temperature")) temperature = atof(v);
        else if (!strcmp(a, "--top-p")) top_p = atof(v);
        else if (!strcmp(a, "--top-k")) top_k = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--lease")) lease = atof(v);
        else if (!strcmp(a, "--heartbeat")) heartbeat = atof(v);
        else if (!strcmp(a, "--staleness")) staleness = atol(v);
        else if (!strcmp(a, "--credits-cap")) credits_cap = atol(v);
        else if (!strcmp(a, "--weights")) wmode = v;
        else if (!strcmp(a, "--bump-after")) bump_after = atoi(v);
        else if (!strcmp(a, "--timeout")) timeout = atof(v);
        else if (!strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--status-every")) status_every = atof(v);
        else if (!strcmp(a, "--settle")) settle = atof(v);
        else { usage(); return 2; }
    }
    if (make && (n_chains || n_forks)) return make_chain_model(make, chains, n_chains, forks, n_forks);
    if (make) return make_model(make, C, L, H, KV, I, (float)init_std, model_seed);
    if (!run_dir || !model_path || n_prompts < 1 || G < 1 || max_tokens < 1 ||
        (strcmp(wmode, "path") && strcmp(wmode, "chunks") && strcmp(wmode, "none"))) {
        usage();
        return 2;
    }
    char err[1024];
    Model m;
    if (model_load(model_path, &m, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
    Tokenizer tok;
    if (tokenizer_from_model(&tok, &m, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }

    CoordConfig cc;
    coord_config_default(&cc);
    snprintf(cc.endpoint, sizeof cc.endpoint, "tcp://127.0.0.1:*");
    snprintf(cc.pub_endpoint, sizeof cc.pub_endpoint, "tcp://127.0.0.1:*");
    cc.lease_s = lease;
    cc.heartbeat_s = heartbeat;
    cc.max_staleness = staleness;
    cc.max_credits = (int32_t)credits_cap;
    cc.republish_s = 0.2;
    cc.lim.vocab_size = m.cfg.vocab_size;
    cc.quiet = 1;
    Coordinator *c = coord_create(&cc, err, sizeof err);
    if (!c || coord_start(c, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
    PubCtx pc = {wmode, run_dir};
    if (publish(c, &pc, &m, 0, model_path) != 0) return 1;

    ArithKnobs knobs;
    arith_knobs_default(&knobs);
    ProblemSource *src = problem_source_arith(seed, &knobs, 0, err, sizeof err);
    if (!src) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
    uint64_t cursor = 0;
    uint64_t *ids = mallocCheck((size_t)n_prompts * sizeof(uint64_t));   // (n_prompts)
    int *seen = callocCheck((size_t)n_prompts, sizeof(int));
    char **answers = callocCheck((size_t)n_prompts, sizeof(char *));
    for (int i = 0; i < n_prompts; i++) {
        Problem p;
        if (problem_source_next(src, &cursor, &p, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
        int k = 0;
        int *tmp = tokenizer_encode_alloc(&tok, p.prompt, TOK_ADD_SPECIAL, &k, err, sizeof err);   // [BOS] + text
        if (!tmp) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
        int32_t *toks = mallocCheck(((size_t)k + 1) * sizeof(int32_t));
        for (int t = 0; t < k; t++) toks[t] = tmp[t];
        CoordPrompt cp = {p.id, k, toks, p.prompt, p.answer, p.verifier, G,
                          {(float)temperature, (float)top_p, top_k, max_tokens, 1, {tok.eos_id}}, seed};
        if (coord_enqueue(c, &cp, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
        ids[i] = p.id;
        answers[i] = strdupCheck(p.answer);
        free(toks); free(tmp);
        problem_free(&p);
    }
    problem_source_free(src);

    char rdv[1100];
    snprintf(rdv, sizeof rdv, "%s/rendezvous.json", run_dir);
    if (coord_write_rendezvous(c, rdv, NULL, err, sizeof err) != 0) { fprintf(stderr, "coord_harness: %s\n", err); return 1; }
    if (rdv_model && add_rdv_model(rdv, model_path) != 0) { fprintf(stderr, "coord_harness: cannot add 'model' to %s\n", rdv); return 1; }

    FILE *out = out_path ? fopenCheck(out_path, "w") : NULL;
    int taken = 0, dup = 0, invalid = 0, v1_groups = 0, bumped = 0;
    double t_start = now_seconds(), end = t_start + timeout, next_status = t_start + status_every, t_first = 0, t_last = 0;
    uint64_t tokens_total = 0;
    size_t tcap = 0;
    char *text = NULL;   // grown by tokenizer_decode
    while (taken < n_prompts && now_seconds() < end) {
        if (status_every > 0 && now_seconds() >= next_status) {
            char js[4096];
            coord_counters_json(c, js, sizeof js);
            printf("STATUS %s\n", js);
            fflush(stdout);
            next_status = now_seconds() + status_every;
        }
        CoordGroup g;
        if (coord_take(c, &g, 1, 0.05) != 1) continue;
        if (!t_first) t_first = now_seconds();
        t_last = now_seconds();
        int idx = -1;
        for (int i = 0; i < n_prompts; i++) if (ids[i] == g.prompt_id) idx = i;
        if (idx < 0 || seen[idx]) dup++;
        else seen[idx] = 1;
        taken++;
        // Every response: sizes, token ids, log-probs, finish reason, and the reward re-checked here.
        int bad = g.group.n_responses != G || g.group.policy_version < 0 || g.group.policy_version > coord_policy_version(c);
        for (int r = 0; r < g.group.n_responses && !bad; r++) {
            const WireResponse *x = &g.group.responses[r];
            bad |= x->n_tokens < 1 || x->n_tokens > max_tokens;
            for (int t = 0; t < x->n_tokens && !bad; t++)
                bad |= x->tokens[t] < 0 || x->tokens[t] >= m.cfg.vocab_size || !(x->logprobs[t] <= 0.0f) || !isfinite(x->logprobs[t]) ||
                       (x->entropies && !(x->entropies[t] >= 0.0f));
            if (bad) break;
            if (x->finish == WIRE_FINISH_STOP) bad |= !tokenizer_is_eos(&tok, x->tokens[x->n_tokens - 1]);
            else bad |= x->n_tokens != max_tokens;
            size_t len = tokenizer_decode(&tok, x->tokens, (size_t)x->n_tokens, TOK_SKIP_SPECIAL, &text, &tcap);
            int ok = verify(g.verifier, g.answer, text, NULL, 0);
            bad |= ok != x->correct || x->reward != (ok ? 1.0f : -1.0f);
            bad |= x->boxed_count != boxed_count(text);
            (void)len;
            tokens_total += (uint64_t)x->n_tokens;
        }
        if (bad) {
            invalid++;
            fprintf(stderr, "coord_harness: invalid group for prompt %llu from %s\n", (unsigned long long)g.prompt_id, g.group.worker);
        }
        if (g.group.policy_version >= 1) v1_groups++;
        if (out) {
            fprintf(out, "{\"prompt_id\": %llu, \"worker\": \"%s\", \"policy_version\": %lld, \"requeues\": %d, \"n\": %d, \"samples\": [",
                    (unsigned long long)g.prompt_id, g.group.worker, (long long)g.group.policy_version, g.requeues, g.group.n_responses);
            for (int r = 0; r < g.group.n_responses; r++) {
                const WireResponse *x = &g.group.responses[r];
                fprintf(out, "%s{\"finish\": \"%s\", \"reward\": %g, \"correct\": %d, \"entropies\": %s, \"tokens\": [", r ? ", " : "",
                        x->finish == WIRE_FINISH_STOP ? "stop" : "length", (double)x->reward, x->correct, x->entropies ? "true" : "false");
                for (int t = 0; t < x->n_tokens; t++) fprintf(out, "%s%d", t ? "," : "", x->tokens[t]);
                fprintf(out, "], \"logprobs\": [");
                for (int t = 0; t < x->n_tokens; t++) fprintf(out, "%s%.9g", t ? "," : "", (double)x->logprobs[t]);
                fprintf(out, "]}");
            }
            fprintf(out, "]}\n");
            fflush(out);
        }
        coord_group_free(&g);
        if (bump_after >= 0 && !bumped && taken >= bump_after) {   // a new policy: perturbed weights, version 1
            Rng rng;
            rng_seed(&rng, 99);
            for (size_t i = 0; i < m.num_params; i++) m.params[i] += 0.05f * rng_normal(&rng);
            if (publish(c, &pc, &m, 1, NULL) != 0) return 1;
            bumped = 1;
        }
    }
    // late duplicates and goodbyes settle before the counters are read
    double st_end = now_seconds() + settle;
    while (now_seconds() < st_end) {
        CoordGroup g;
        if (coord_take(c, &g, 1, 0.05) == 1) { dup++; coord_group_free(&g); }
    }
    int missing = 0;
    for (int i = 0; i < n_prompts; i++) missing += !seen[i];
    char js[4096];
    coord_counters_json(c, js, sizeof js);
    double span = t_last > t_first ? t_last - t_first : 0;
    printf("FINAL {\"prompts\": %d, \"taken\": %d, \"missing\": %d, \"duplicates\": %d, \"invalid\": %d, \"v1_groups\": %d, "
           "\"tokens\": %llu, \"elapsed_s\": %.3f, \"first_to_last_s\": %.3f, \"counters\": %s}\n",
           n_prompts, taken, missing, dup, invalid, v1_groups, (unsigned long long)tokens_total, now_seconds() - t_start, span, js);
    fflush(stdout);
    if (out) fcloseCheck(out);
    free(text);
    for (int i = 0; i < n_prompts; i++) free(answers[i]);
    free(answers); free(ids); free(seen);
    coord_free(c);
    model_free(&m);
    return missing == 0 && dup == 0 && invalid == 0 ? 0 : 1;
}
