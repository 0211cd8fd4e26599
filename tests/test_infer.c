// Tests for the inference path (common/engine/infer.c) and the sampler (common/engine/sampler.c):
//   - KV-cache decoding equals a full recompute (engine's model_forward) at every step, and the
//     PyTorch fixtures' logits, for prompts split into prefill + decode, several prompts of different
//     lengths in one batch, and a prefill longer than one row chunk;
//   - sampling is batch invariant: a sample alone, in its group, in a shuffled batch of mixed prompts,
//     in waves of a smaller engine and with another thread count gives bit-identical tokens /
//     log-probs / entropies;
//   - continuous batching: responses of very different lengths through 8 slots equal max_batch 1 bit
//     for bit and take fewer forward steps than waves; a group's prompt is prefilled once;
//   - top-k = 1 equals greedy; top-p keeps the smallest set with mass >= p (crafted distribution)
//     and sampling frequencies follow the renormalised kept set; stop tokens and max length set the
//     right finish reason; reported log-probs / entropies equal a full recompute at temperature T.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/forward.h"
#include "common/engine/infer.h"
#include "common/engine/model.h"
#include "common/io/safetensors.h"
#include "common/engine/sampler.h"
#include "tests/harness.h"
#include "common/io/model_io.h"

// Tolerances: our decode path and the engine's forward are both fp32 with different summation
// orders (sgemm blocks vs the engine's kernels); logits are O(1), so 2e-4 absolute is ~100 ulps.
#define TOL_LOGIT 2e-4
#define TOL_LOGP 2e-4

static void make_model(Model *m, int arch, int V, int C, int FF, int L, int H, int KV, int bias, int tie, float theta) {
    ModelConfig c;
    char err[256];
    model_config_default(&c);
    c.arch = arch; c.vocab_size = V; c.hidden_size = C; c.intermediate_size = FF; c.num_layers = L;
    c.num_heads = H; c.num_kv_heads = KV; c.head_dim = C / H; c.qkv_bias = bias; c.tie_word_embeddings = tie;
    c.rope_theta = theta; c.max_position_embeddings = 256;
    if (model_init(m, &c, err, sizeof(err)) != 0) { fprintf(stderr, "%s\n", err); exit(1); }
    // std 0.15 gives peaked-but-not-degenerate distributions; perturb norms and biases off 1 / 0.
    model_init_random(m, 1234 + V + C + L, 0.15f);
    Rng r;
    rng_seed(&r, 99);
    for (int i = 0; i < m->num_tensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < m->tensors[i].numel; j++) m->params[m->tensors[i].offset + j] += 0.2f * rng_normal(&r);
}

// Full recompute: logits (n, V) of tokens (n) through the engine's training forward.
static float *full_logits(const Model *m, const int *tokens, int n) {
    Acts a;
    acts_init_eval(&a, &m->cfg, 1, n);
    model_forward(m, &a, tokens, 1, n);
    float *out = malloc((size_t)n * m->cfg.vocab_size * sizeof(float));
    model_logits(m, &a, out);
    acts_free(&a);
    return out;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

// Several sequences of different lengths in one batch: prefill prompt_len[b] tokens of each, then
// feed the remaining tokens one step at a time (teacher forcing), collecting every position's logits
// into got[b] (len[b], V) (positions < prompt_len-1 are not produced by the decode path; they are
// obtained by a separate full prefill with out_rows on every row).
static void decode_teacher_forced(const Model *m, int nseq, int *const *seqs, const int *lens, const int *plens,
                                  float **got) {
    const int V = m->cfg.vocab_size;
    int maxlen = 0, total = 0;
    for (int b = 0; b < nseq; b++) { maxlen = lens[b] > maxlen ? lens[b] : maxlen; total += plens[b]; }
    Infer s;
    char err[256];
    if (infer_init(&s, m, nseq, maxlen, err, sizeof(err)) != 0) { fprintf(stderr, "%s\n", err); exit(1); }
    // Prefill: all prompts in one call; logits wanted for each prompt's last row.
    int *sl = malloc(total * sizeof(int)), *ps = malloc(total * sizeof(int)), *tk = malloc(total * sizeof(int));
    int outr[64], n = 0;
    for (int b = 0; b < nseq; b++) {
        for (int t = 0; t < plens[b]; t++) { sl[n] = b; ps[n] = t; tk[n] = seqs[b][t]; n++; }
        outr[b] = n - 1;
    }
    float *lg = malloc((size_t)nseq * V * sizeof(float));
    infer_forward(&s, n, sl, ps, tk, nseq, outr, lg);
    for (int b = 0; b < nseq; b++) memcpy(got[b] + (size_t)(plens[b] - 1) * V, lg + (size_t)b * V, V * sizeof(float));
    // Decode: one row per unfinished sequence per step.
    for (;;) {
        int nr = 0, who[64];
        for (int b = 0; b < nseq; b++) {
            const int p = s.cache.len[b];
            if (p >= lens[b]) continue;
            sl[nr] = b; ps[nr] = p; tk[nr] = seqs[b][p]; outr[nr] = nr; who[nr] = b; nr++;
        }
        if (nr == 0) break;
        infer_forward(&s, nr, sl, ps, tk, nr, outr, lg);
        for (int i = 0; i < nr; i++) memcpy(got[who[i]] + (size_t)ps[i] * V, lg + (size_t)i * V, V * sizeof(float));
    }
    free(sl); free(ps); free(tk); free(lg);
    infer_free(&s);
}

static void test_kv_vs_full_random(void) {
    struct { int arch, V, C, FF, L, H, KV, bias, tie; float theta; } cfgs[] = {
        {ARCH_QWEN2, 96, 64, 96, 2, 4, 2, 1, 0, 10000.0f},     // bias, GQA, untied
        {ARCH_LLAMA, 128, 48, 80, 3, 4, 4, 0, 1, 500000.0f},   // no bias, MHA, tied
        {ARCH_LLAMA, 64, 64, 128, 1, 8, 1, 0, 0, 10000.0f},    // multi-query (KV = 1)
        {ARCH_QWEN2, 96, 160, 96, 1, 2, 1, 1, 0, 10000.0f},    // head_dim 80: full 4-vector blocks + a short one
    };
    for (size_t ci = 0; ci < sizeof(cfgs) / sizeof(cfgs[0]); ci++) {
        Model m;
        make_model(&m, cfgs[ci].arch, cfgs[ci].V, cfgs[ci].C, cfgs[ci].FF, cfgs[ci].L, cfgs[ci].H, cfgs[ci].KV,
                   cfgs[ci].bias, cfgs[ci].tie, cfgs[ci].theta);
        const int V = m.cfg.vocab_size;
        // Three sequences of lengths 20, 9, 90 with prompts 5, 1, 70 (70 > one 64-row chunk).
        int lens[3] = {20, 9, 90}, plens[3] = {5, 1, 70};
        int *seqs[3];
        float *got[3];
        Rng r;
        rng_seed(&r, 5 + ci);
        for (int b = 0; b < 3; b++) {
            seqs[b] = malloc(lens[b] * sizeof(int));
            for (int t = 0; t < lens[b]; t++) seqs[b][t] = (int)(rng_u64(&r) % V);
            got[b] = calloc((size_t)lens[b] * V, sizeof(float));
        }
        decode_teacher_forced(&m, 3, seqs, lens, plens, got);
        for (int b = 0; b < 3; b++) {
            float *ref = full_logits(&m, seqs[b], lens[b]);
            const size_t off = (size_t)(plens[b] - 1) * V, cnt = (size_t)(lens[b] - plens[b] + 1) * V;
            double d = max_abs_diff(got[b] + off, ref + off, cnt);
            CHECK_MSG(d <= TOL_LOGIT, "config %zu seq %d: KV-cache logits differ from the full forward by %g", ci, b, d);
            if (ci == 0 && b == 0) printf("kv vs full forward (random qwen2): max |diff| %.3g over %d positions\n", d, lens[b] - plens[b] + 1);
            free(ref); free(got[b]); free(seqs[b]);
        }
        model_free(&m);
    }
}

static void test_kv_vs_fixtures(void) {
    static const char *FIX[] = {"qwen2_gqa", "qwen2_tied", "llama_gqa", "llama_tied"};
    for (int f = 0; f < 4; f++) {
        char dir[256], path[300], err[512];
        snprintf(dir, sizeof(dir), "tests/fixtures/%s", FIX[f]);
        Model m;
        if (model_load(dir, &m, err, sizeof(err)) != 0) { CHECK_MSG(0, "%s", err); continue; }
        snprintf(path, sizeof(path), "%s/reference.safetensors", dir);
        SafeTensors st;
        if (st_open(&st, path, err, sizeof(err)) != 0) { CHECK_MSG(0, "%s", err); model_free(&m); continue; }
        const StTensor *tt = st_find(&st, "tokens"), *lt = st_find(&st, "lengths"), *gt = st_find(&st, "logits");
        CHECK_MSG(tt && lt && gt && tt->ndim == 2, "%s: reference tensors missing", FIX[f]);
        if (!(tt && lt && gt && tt->ndim == 2)) { st_close(&st); model_free(&m); continue; }
        const int B = (int)tt->shape[0], T = (int)tt->shape[1], V = m.cfg.vocab_size;
        int *tok = malloc((size_t)B * T * sizeof(int)), *len = malloc(B * sizeof(int));
        float *ref = malloc((size_t)B * T * V * sizeof(float));
        CHECK(st_read_i32(&st, tt, tok, (size_t)B * T, err, sizeof(err)) == 0);
        CHECK(st_read_i32(&st, lt, len, B, err, sizeof(err)) == 0);
        CHECK(st_read_f32(&st, gt, ref, (size_t)B * T * V, err, sizeof(err)) == 0);
        int *seqs[8], plens[8];
        float *got[8];
        for (int b = 0; b < B && b < 8; b++) {
            seqs[b] = tok + (size_t)b * T;
            plens[b] = 1 + b * 2;   // different prompt lengths in one batch
            got[b] = calloc((size_t)T * V, sizeof(float));
        }
        decode_teacher_forced(&m, B, seqs, len, plens, got);
        double worst = 0.0;
        for (int b = 0; b < B; b++) {
            const size_t off = (size_t)(plens[b] - 1) * V, cnt = (size_t)(len[b] - plens[b] + 1) * V;
            worst = fmax(worst, max_abs_diff(got[b] + off, ref + (size_t)b * T * V + off, cnt));
            free(got[b]);
        }
        CHECK_MSG(worst <= TOL_LOGIT, "%s: KV-cache logits differ from PyTorch by %g", FIX[f], worst);
        printf("kv decode vs PyTorch fixture %s: max |diff| %.3g\n", FIX[f], worst);
        free(tok); free(len); free(ref);
        st_close(&st);
        model_free(&m);
    }
}

static int same_output(const GenOutput *a, const GenOutput *b) {
    return a->n == b->n && a->finish == b->finish && memcmp(a->tokens, b->tokens, a->n * sizeof(int)) == 0 &&
           memcmp(a->logprobs, b->logprobs, a->n * sizeof(float)) == 0 &&
           memcmp(a->entropies, b->entropies, a->n * sizeof(float)) == 0;
}

static void test_batch_invariance(void) {
    Model m;
    make_model(&m, ARCH_QWEN2, 128, 64, 128, 2, 4, 2, 1, 0, 10000.0f);
    char err[256];
    GenParams gp;
    gen_params_default(&gp);
    gp.max_new_tokens = 24;
    gp.n_stop = 1;
    gp.stop[0] = 2;
    const float temps[2] = {1.0f, 0.7f}, tps[2] = {1.0f, 0.9f};
    const int tks[2] = {0, 20};
    int pA[5] = {1, 40, 41, 42, 43}, pB[11] = {1, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59}, pC[1] = {1};
    const int *prompts[3] = {pA, pB, pC};
    const int plens[3] = {5, 11, 1};
    const uint64_t seed = 42, pid = 7;
    for (int v = 0; v < 2; v++) {
        gp.sampler.temperature = temps[v];
        gp.sampler.top_p = tps[v];
        gp.sampler.top_k = tks[v];
        Infer s;
        CHECK(infer_init(&s, &m, 16, 64, err, sizeof(err)) == 0);
        GenOutput grp[8], alone, mixed[12], waves[12];
        for (int i = 0; i < 8; i++) gen_output_alloc(&grp[i], gp.max_new_tokens);
        gen_output_alloc(&alone, gp.max_new_tokens);
        for (int i = 0; i < 12; i++) { gen_output_alloc(&mixed[i], gp.max_new_tokens); gen_output_alloc(&waves[i], gp.max_new_tokens); }
        // The group: prompt A, G = 8, prefill shared.
        CHECK(infer_generate_group(&s, pA, 5, 8, seed, pid, &gp, grp, err, sizeof(err)) == 0);
        // Sample 3 alone.
        GenRequest r1 = {0, sampler_seed(seed, pid, 3)};
        CHECK(infer_generate(&s, 1, prompts, plens, 1, &r1, &gp, &alone, err, sizeof(err)) == 0);
        CHECK_MSG(same_output(&alone, &grp[3]), "variant %d: sample alone differs from the same sample in its group", v);
        // Mixed, shuffled batch: the 8 samples of A in reverse order interleaved with B and C samples.
        GenRequest req[12];
        int where[8];
        for (int i = 0, k = 0; i < 12; i++) {
            if (i % 3 == 1 && i < 12) { req[i].prompt = 1 + (i % 2); req[i].seed = sampler_seed(seed, 100 + i, i); continue; }
            if (k < 8) { where[7 - k] = i; req[i].prompt = 0; req[i].seed = sampler_seed(seed, pid, 7 - k); k++; }
            else { req[i].prompt = 2; req[i].seed = sampler_seed(seed, 200, i); }
        }
        CHECK(infer_generate(&s, 3, prompts, plens, 12, req, &gp, mixed, err, sizeof(err)) == 0);
        int ok = 1;
        for (int i = 0; i < 8; i++) ok &= same_output(&mixed[where[i]], &grp[i]);
        CHECK_MSG(ok, "variant %d: samples in a shuffled mixed batch differ from the group run", v);
        // Waves: an engine with 3 slots runs the same 12 requests in 4 waves.
        Infer s3;
        CHECK(infer_init(&s3, &m, 3, 64, err, sizeof(err)) == 0);
        CHECK(infer_generate(&s3, 3, prompts, plens, 12, req, &gp, waves, err, sizeof(err)) == 0);
        ok = 1;
        for (int i = 0; i < 12; i++) ok &= same_output(&waves[i], &mixed[i]);
        CHECK_MSG(ok, "variant %d: running in waves of 3 changed the samples", v);
        // Threads: every loop forced parallel on 3 threads gives the same bits as the serial loops.
        const int nth = omp_get_max_threads();
        omp_set_num_threads(3);
        s3.min_parallel_work = 0;
        s3.min_parallel_matmul = 0;
        CHECK(infer_generate(&s3, 3, prompts, plens, 12, req, &gp, waves, err, sizeof(err)) == 0);
        omp_set_num_threads(nth);
        ok = 1;
        for (int i = 0; i < 12; i++) ok &= same_output(&waves[i], &mixed[i]);
        CHECK_MSG(ok, "variant %d: a different thread count changed the samples", v);
        // Samples of one group differ from each other (the seeds are really per sample).
        int distinct = 0;
        for (int i = 1; i < 8; i++) distinct += !same_output(&grp[i], &grp[0]);
        CHECK_MSG(distinct >= 6, "variant %d: only %d of 7 samples differ from sample 0", v, distinct);
        // Log-probs and entropies equal a full recompute under softmax(logits / T).
        double worst_lp = 0.0, worst_h = 0.0;
        for (int i = 0; i < 12; i++) {
            const int j = req[i].prompt, n = plens[j] + mixed[i].n;
            int *seq = malloc(n * sizeof(int));
            memcpy(seq, prompts[j], plens[j] * sizeof(int));
            memcpy(seq + plens[j], mixed[i].tokens, mixed[i].n * sizeof(int));
            float *lg = full_logits(&m, seq, n);
            for (int t = 0; t < mixed[i].n; t++) {
                float lp, h;
                sampler_logprob_entropy(lg + (size_t)(plens[j] - 1 + t) * m.cfg.vocab_size, m.cfg.vocab_size,
                                        gp.sampler.temperature, mixed[i].tokens[t], &lp, &h);
                worst_lp = fmax(worst_lp, fabs(lp - mixed[i].logprobs[t]));
                worst_h = fmax(worst_h, fabs(h - mixed[i].entropies[t]));
            }
            free(lg); free(seq);
        }
        CHECK_MSG(worst_lp <= TOL_LOGP, "variant %d: log-prob vs full recompute differs by %g", v, worst_lp);
        CHECK_MSG(worst_h <= TOL_LOGP, "variant %d: entropy vs full recompute differs by %g", v, worst_h);
        printf("batch invariance variant %d ok; log-prob / entropy vs full recompute: %.3g / %.3g\n", v, worst_lp, worst_h);
        for (int i = 0; i < 8; i++) gen_output_free(&grp[i]);
        gen_output_free(&alone);
        for (int i = 0; i < 12; i++) { gen_output_free(&mixed[i]); gen_output_free(&waves[i]); }
        infer_free(&s3);
        infer_free(&s);
    }
    model_free(&m);
}

// A source that releases one group of G = 6 requests every 5 pulls that found nothing new.
typedef struct {
    const int *const *prompts;
    const int *plens;
    const GenRequest *req;
    GenOutput *out;
    int next, idle;
    int done[64];
} StreamSrc;

static int stream_pull(void *ud, GenPull *q) {
    StreamSrc *s = ud;
    const int released = 6 * (1 + s->idle / 5);
    if (s->next >= 24) return 0;
    if (s->next >= released) { s->idle++; return 0; }
    const int r = s->next++;
    q->prompt = s->prompts[s->req[r].prompt];
    q->plen = s->plens[s->req[r].prompt];
    q->seed = s->req[r].seed;
    q->out = &s->out[r];
    q->tag = (void *)(size_t)r;
    return 1;
}

static void stream_done(void *ud, const GenPull *q) {
    StreamSrc *s = ud;
    s->done[(size_t)q->tag]++;
}

// Continuous batching (common/engine/genloop.h): responses of very different lengths (many stop
// tokens, long max_new_tokens) through 8 slots give the same bits as one slot at a time, and take
// fewer forward steps than waves of 8 would (a wave waits for its longest response: max n per wave).
static void test_continuous_batching(void) {
    Model m;
    make_model(&m, ARCH_QWEN2, 128, 64, 128, 2, 4, 2, 1, 0, 10000.0f);
    char err[256];
    GenParams gp;
    gen_params_default(&gp);
    gp.max_new_tokens = 64;
    gp.n_stop = 10;   // ~8% of the vocabulary stops a response: lengths spread from 1 to max_new_tokens
    for (int i = 0; i < gp.n_stop; i++) gp.stop[i] = 2 + 11 * i;
    enum { NP = 4, G = 6, NR = NP * G, B = 8 };
    int p0[4] = {1, 40, 41, 42}, p1[9] = {1, 50, 51, 52, 53, 54, 55, 56, 57}, p2[1] = {1}, p3[6] = {1, 90, 91, 92, 93, 94};
    const int *prompts[NP] = {p0, p1, p2, p3};
    const int plens[NP] = {4, 9, 1, 6};
    GenRequest req[NR];
    for (int r = 0; r < NR; r++) { req[r].prompt = r / G; req[r].seed = sampler_seed(5, (uint64_t)(r / G), (uint64_t)(r % G)); }
    GenOutput cont[NR], one[NR];
    for (int r = 0; r < NR; r++) { gen_output_alloc(&cont[r], gp.max_new_tokens); gen_output_alloc(&one[r], gp.max_new_tokens); }
    Infer s8, s1;
    CHECK(infer_init(&s8, &m, B, 80, err, sizeof(err)) == 0);
    CHECK(infer_init(&s1, &m, 1, 80, err, sizeof(err)) == 0);
    GenBackend be;
    infer_backend(&s8, &be);
    GenStats st;
    const uint64_t calls0 = s8.forward_calls;
    CHECK(genloop_run(&be, NP, prompts, plens, NR, req, &gp, cont, &st, err, sizeof(err)) == 0);
    CHECK_EQ_INT((int)(s8.forward_calls - calls0), (int)st.steps);
    CHECK(infer_generate(&s1, NP, prompts, plens, NR, req, &gp, one, err, sizeof(err)) == 0);
    int same = 0, nmin = gp.max_new_tokens, nmax = 0;
    long tokens = 0;
    for (int r = 0; r < NR; r++) {
        same += same_output(&cont[r], &one[r]);
        if (cont[r].n < nmin) nmin = cont[r].n;
        if (cont[r].n > nmax) nmax = cont[r].n;
        tokens += cont[r].n;
    }
    CHECK_MSG(same == NR, "continuous batching over %d slots: %d of %d requests differ from max_batch = 1", B, NR - same, NR);
    CHECK_MSG(nmax >= 4 * nmin && nmax >= 16, "response lengths %d..%d do not spread enough for the test", nmin, nmax);
    long wave_steps = 0;   // waves of B: each runs until its longest response is done (prefill step included)
    for (int w0 = 0; w0 < NR; w0 += B) {
        int mx = 0;
        for (int r = w0; r < w0 + B && r < NR; r++) if (cont[r].n > mx) mx = cont[r].n;
        wave_steps += mx;
    }
    CHECK_MSG(st.steps < wave_steps, "continuous batching took %ld steps, waves of %d would take %ld", st.steps, B, wave_steps);
    // A group's prompt is prefilled once per run of its samples, not once per sample.
    long full = 0;
    for (int r = 0; r < NR; r++) full += plens[req[r].prompt];
    CHECK_MSG(st.prefill_rows < full && st.prefix_copies > 0, "prompt rows %ld (one prefill per sample: %ld), prefix copies %ld",
              st.prefill_rows, full, st.prefix_copies);
    // Refilled slots keep the batch full: tokens sampled per step close to B while the queue lasts.
    printf("continuous batching: %d requests, lengths %d..%d, %ld tokens in %ld steps (waves of %d: %ld steps), "
           "%ld prompt rows, %ld prefix copies; identical to max_batch 1\n",
           NR, nmin, nmax, tokens, st.steps, B, wave_steps, st.prefill_rows, st.prefix_copies);
    // Request order does not matter either: reversed queue, same bits per request.
    GenRequest rev[NR];
    GenOutput back[NR];
    for (int r = 0; r < NR; r++) { rev[r] = req[NR - 1 - r]; gen_output_alloc(&back[r], gp.max_new_tokens); }
    CHECK(infer_generate(&s8, NP, prompts, plens, NR, rev, &gp, back, err, sizeof(err)) == 0);
    same = 0;
    for (int r = 0; r < NR; r++) same += same_output(&back[r], &cont[NR - 1 - r]);
    CHECK_MSG(same == NR, "reversed request order: %d of %d requests differ", NR - same, NR);
    // Streaming: the groups become available one at a time, every 5 pulls that find nothing, while
    // earlier ones decode (a worker receiving assignments): same bits, each request done exactly once.
    StreamSrc ss = {prompts, plens, req, back, 0, 0, {0}};
    for (int r = 0; r < NR; r++) back[r].n = -1;
    const GenSource src = {&ss, stream_pull, stream_done};
    CHECK(genloop_stream(&be, &gp, &src, &st, err, sizeof err) == 0);
    same = 0;
    int once = 1;
    for (int r = 0; r < NR; r++) { same += same_output(&back[r], &cont[r]); once &= ss.done[r] == 1; }
    CHECK_MSG(same == NR && once, "streamed groups: %d of %d requests differ, done once each: %d", NR - same, NR, once);
    printf("streamed groups (one group every 5 empty pulls): %ld steps, identical\n", st.steps);
    for (int r = 0; r < NR; r++) { gen_output_free(&cont[r]); gen_output_free(&one[r]); gen_output_free(&back[r]); }
    infer_free(&s8);
    infer_free(&s1);
    model_free(&m);
}

static void test_greedy_topk_stop_length(void) {
    Model m;
    make_model(&m, ARCH_LLAMA, 128, 48, 80, 2, 4, 2, 0, 1, 10000.0f);
    char err[256];
    Infer s;
    CHECK(infer_init(&s, &m, 4, 48, err, sizeof(err)) == 0);
    int prompt[3] = {1, 70, 71};
    const int *prompts[1] = {prompt};
    int plen = 3;
    GenParams g;
    gen_params_default(&g);
    g.max_new_tokens = 30;
    g.sampler.temperature = 0.0f;
    GenOutput greedy, k1, st;
    gen_output_alloc(&greedy, 30); gen_output_alloc(&k1, 30); gen_output_alloc(&st, 30);
    GenRequest rq = {0, 1};
    CHECK(infer_generate(&s, 1, prompts, &plen, 1, &rq, &g, &greedy, err, sizeof(err)) == 0);
    CHECK_EQ_INT(greedy.n, 30);
    CHECK_EQ_INT(greedy.finish, FINISH_LENGTH);
    // Greedy log-probs are under softmax(logits) (T = 1) and must be the max over the vocabulary.
    CHECK(greedy.logprobs[0] <= 0.0f && greedy.logprobs[0] > -logf(128.0f) - 1e-3f);
    GenParams gk = g;
    gk.sampler.temperature = 0.8f;
    gk.sampler.top_k = 1;
    rq.seed = 12345;
    CHECK(infer_generate(&s, 1, prompts, &plen, 1, &rq, &gk, &k1, err, sizeof(err)) == 0);
    CHECK_MSG(k1.n == greedy.n && memcmp(k1.tokens, greedy.tokens, greedy.n * sizeof(int)) == 0, "top-k = 1 differs from greedy");
    // Stop: use the token greedy produces at step 5 (its first occurrence) as a stop token.
    int k = 5;
    while (k > 0) { int seen = 0; for (int i = 0; i < k; i++) seen |= greedy.tokens[i] == greedy.tokens[k]; if (!seen) break; k--; }
    GenParams gs = g;
    gs.n_stop = 2;
    gs.stop[0] = 127 == greedy.tokens[k] ? 126 : 127;
    gs.stop[1] = greedy.tokens[k];
    int never = 1;
    for (int i = 0; i < k; i++) never &= greedy.tokens[i] != gs.stop[0];
    CHECK(infer_generate(&s, 1, prompts, &plen, 1, &rq, &gs, &st, err, sizeof(err)) == 0);
    if (never) {
        CHECK_EQ_INT(st.n, k + 1);
        CHECK_EQ_INT(st.finish, FINISH_STOP);
        CHECK_EQ_INT(st.tokens[st.n - 1], greedy.tokens[k]);
    }
    CHECK(strcmp(finish_reason_name(FINISH_STOP), "stop") == 0 && strcmp(finish_reason_name(FINISH_LENGTH), "length") == 0);
    // max_new_tokens = 1 finishes by length after one token (unless it is a stop token).
    GenParams g1 = g;
    g1.max_new_tokens = 1;
    CHECK(infer_generate(&s, 1, prompts, &plen, 1, &rq, &g1, &st, err, sizeof(err)) == 0);
    CHECK_EQ_INT(st.n, 1);
    CHECK_EQ_INT(st.finish, FINISH_LENGTH);
    // Errors: prompt + max_new_tokens beyond max_seq, bad sampler values, out-of-vocab prompt token.
    GenParams gbad = g;
    gbad.max_new_tokens = 46;
    CHECK(infer_generate(&s, 1, prompts, &plen, 1, &rq, &gbad, &greedy, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "max_seq") != NULL, "error message: %s", err);
    gbad = g; gbad.sampler.top_p = 0.0f;
    CHECK(infer_generate(&s, 1, prompts, &plen, 1, &rq, &gbad, &greedy, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "top_p") != NULL, "error message: %s", err);
    gbad = g; gbad.sampler.temperature = -1.0f;
    CHECK(infer_generate(&s, 1, prompts, &plen, 1, &rq, &gbad, &greedy, err, sizeof(err)) == -1);
    int badp[2] = {1, 500};
    const int *bp[1] = {badp};
    int bl = 2;
    CHECK(infer_generate(&s, 1, bp, &bl, 1, &rq, &g, &greedy, err, sizeof(err)) == -1);
    CHECK_MSG(strstr(err, "vocabulary") != NULL, "error message: %s", err);
    CHECK(infer_generate_group(&s, prompt, 3, 0, 1, 1, &g, &greedy, err, sizeof(err)) == -1);
    gen_output_free(&greedy); gen_output_free(&k1); gen_output_free(&st);
    infer_free(&s);
    model_free(&m);
}

static void test_sampler_crafted(void) {
    const int V = 6;
    // probabilities 0.5, 0.2, 0.15, 0.1, 0.05, 0 (the last as -inf logit is not allowed; use a tiny one)
    const double pr[6] = {0.5, 0.2, 0.15, 0.1, 0.0499, 0.0001};
    float logits[6];
    const int order[6] = {3, 0, 5, 1, 2, 4};   // scatter them over ids so ordering is exercised
    for (int i = 0; i < V; i++) logits[order[i]] = (float)log(pr[i]);
    SamplerScratch sc;
    sampler_scratch_init(&sc, V);
    SamplerParams p;
    sampler_params_default(&p);
    int kept[6];
    struct { float top_p; int top_k; int n; } cases[] = {
        {0.4f, 0, 1}, {0.49f, 0, 1}, {0.6f, 0, 2}, {0.75f, 0, 3}, {0.8f, 0, 3}, {0.9f, 0, 4}, {0.99f, 0, 5},
        {1.0f, 0, 6}, {1.0f, 2, 2}, {0.7f, 2, 1}, {0.75f, 2, 2}, {0.85f, 3, 3}, {0.8f, 3, 2}, {0.75f, 3, 2},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        p.top_p = cases[c].top_p;
        p.top_k = cases[c].top_k;
        int n = sampler_kept_set(logits, V, &p, &sc, kept);
        CHECK_MSG(n == cases[c].n, "top_p %.2f top_k %d: kept %d tokens, expected %d", p.top_p, p.top_k, n, cases[c].n);
        int ok = 1;
        for (int i = 0; i < n && i < cases[c].n; i++) ok &= kept[i] == order[i];
        CHECK_MSG(ok, "top_p %.2f top_k %d: kept set not the most likely tokens in order", p.top_p, p.top_k);
    }
    // Sampling frequencies with top_p = 0.8 (kept: ranks 0..2, mass 0.85) and without truncation.
    Rng r;
    rng_seed(&r, 3);
    const int N = 200000;
    for (int mode = 0; mode < 2; mode++) {
        p.top_k = 0;
        p.top_p = mode ? 0.8f : 1.0f;
        int cnt[6] = {0};
        for (int i = 0; i < N; i++) {
            float lp, h;
            int t = sampler_sample(logits, V, &p, &r, &sc, &lp, &h);
            cnt[t]++;
            if (i == 0) {
                float rl, rh;
                sampler_logprob_entropy(logits, V, 1.0f, t, &rl, &rh);
                CHECK_NEAR(lp, rl, 1e-5);   // full-vocabulary log-prob even when truncated
                CHECK_NEAR(h, rh, 1e-5);
            }
        }
        const double mass = mode ? 0.85 : 1.0;
        for (int i = 0; i < V; i++) {
            const double want = (mode && i >= 3) ? 0.0 : pr[i] / mass, got = (double)cnt[order[i]] / N;
            CHECK_MSG(fabs(got - want) < 5.0 * sqrt(want * (1 - want) / N) + 1e-9,
                      "mode %d rank %d: frequency %.4f, expected %.4f", mode, i, got, want);
        }
    }
    // Greedy: argmax, log-prob under T = 1.
    p.temperature = 0.0f;
    float lp;
    CHECK_EQ_INT(sampler_sample(logits, V, &p, NULL, &sc, &lp, NULL), order[0]);
    CHECK_NEAR(lp, log(0.5), 1e-5);
    // Temperature: entropy grows with T; crafted uniform logits give entropy log V at any T.
    float flat[6] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, h1, h2;
    sampler_logprob_entropy(flat, V, 0.5f, 0, &lp, &h1);
    CHECK_NEAR(h1, log(6.0), 1e-6);
    CHECK_NEAR(lp, -log(6.0), 1e-6);
    sampler_logprob_entropy(logits, V, 0.5f, 0, &lp, &h1);
    sampler_logprob_entropy(logits, V, 2.0f, 0, &lp, &h2);
    CHECK(h2 > h1);
    // Seeds: per (run, prompt, sample), distinct across sample indices and prompts.
    CHECK(sampler_seed(1, 2, 3) == sampler_seed(1, 2, 3));
    CHECK(sampler_seed(1, 2, 3) != sampler_seed(1, 2, 4));
    CHECK(sampler_seed(1, 2, 3) != sampler_seed(1, 3, 3));
    char err[256];
    SamplerParams bad = {1.0f, 1.5f, 0};
    CHECK(sampler_params_validate(&bad, err, sizeof(err)) == -1);
    bad.top_p = 1.0f; bad.top_k = -1;
    CHECK(sampler_params_validate(&bad, err, sizeof(err)) == -1);
    sampler_scratch_free(&sc);
}

// The vectorised softmax pass and the two-level (block, then token) draw over a vocabulary that is not
// a multiple of the vector width or of SAMP_BLOCK, with masked (-inf) logits and mass in several blocks.
static void test_sampler_large_vocab(void) {
    const int V = 3 * SAMP_BLOCK + 37;
    float *logits = malloc((size_t)V * sizeof(float));
    Rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < V; i++) logits[i] = (float)(rng_uniform_f64(&r) * 6.0 - 3.0);
    for (int i = 0; i < V; i += 7) logits[i] = -INFINITY;   // masked tokens: never drawn, no NaN
    logits[3] = -200.0f;                                     // exp underflows to 0
    SamplerScratch sc;
    sampler_scratch_init(&sc, V);
    SamplerParams p;
    sampler_params_default(&p);
    const float temps[3] = {1.0f, 0.6f, 1.7f};
    for (int ti = 0; ti < 3; ti++) {
        p.temperature = temps[ti];
        float lp, h, rl, rh;
        for (int k = 0; k < 50; k++) {
            const int t = sampler_sample(logits, V, &p, &r, &sc, &lp, &h);
            CHECK_MSG(t >= 0 && t < V && t % 7 != 0 && t != 3, "T %.1f: drew masked / zero-probability token %d", p.temperature, t);
            sampler_logprob_entropy(logits, V, p.temperature, t, &rl, &rh);
            CHECK_MSG(fabsf(lp - rl) < 1e-5f && fabsf(h - rh) < 1e-5f,
                      "T %.1f token %d: log-prob %g / entropy %g vs double reference %g / %g", p.temperature, t, lp, h, rl, rh);
        }
    }
    // Frequencies: four tokens in different blocks (the last one in the partial block) carry ~all mass.
    for (int i = 0; i < V; i++) logits[i] = -30.0f;
    const int hot[4] = {5, SAMP_BLOCK + 1, 2 * SAMP_BLOCK - 1, V - 1};
    const double w[4] = {0.1, 0.2, 0.3, 0.4};
    for (int j = 0; j < 4; j++) logits[hot[j]] = (float)log(w[j]);
    p.temperature = 1.0f;
    int cnt[4] = {0}, other = 0;
    const int N = 100000;
    for (int i = 0; i < N; i++) {
        const int t = sampler_sample(logits, V, &p, &r, &sc, NULL, NULL);
        int j = 0;
        while (j < 4 && hot[j] != t) j++;
        if (j < 4) cnt[j]++; else other++;
    }
    for (int j = 0; j < 4; j++)
        CHECK_MSG(fabs((double)cnt[j] / N - w[j]) < 5.0 * sqrt(w[j] * (1 - w[j]) / N) + 1e-3,
                  "token %d: frequency %.4f, expected ~%.2f", hot[j], (double)cnt[j] / N, w[j]);
    CHECK_MSG(other < 20, "%d draws outside the four likely tokens (expected ~%.1f)", other, N * V * exp(-30.0));
    sampler_scratch_free(&sc);
    free(logits);
}

int main(void) {
    test_sampler_crafted();
    test_sampler_large_vocab();
    test_kv_vs_full_random();
    test_kv_vs_fixtures();
    test_batch_invariance();
    test_continuous_batching();
    test_greedy_topk_stop_length();
    return tests_done();
}
