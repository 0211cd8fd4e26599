// Rollout generation: assignments in, scored groups out (see rollout_gen.h).
#include "rollout/rollout_gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/bf16.h"
#include "common/core/check.h"
#include "common/tasks/verifier.h"
#include "common/io/model_io.h"
#ifdef RLVR_CUDA
#include "common/engine/cuda/cuda_gen_backend.h"
#endif

#define BF16_EXP_MASK 0x7f80u   // all-ones exponent: inf or NaN

void rollout_gen_opts_default(RolloutGenOpts *o) {
    memset(o, 0, sizeof *o);
    o->max_batch = 32;
    device_opts_default(&o->device);
    o->send_entropies = 1;
    o->zero_one_reward = 0;
    quality_params_default(&o->quality);
}

int rollout_engine_init(RolloutEngine *e, Model *m, int64_t version, int from_coordinator,
                        const RolloutGenOpts *o, char *err, size_t errlen) {
    memset(e, 0, sizeof *e);
    if (o->max_batch < 0) return rlvr_err(err, errlen, "rollout: max_batch = %d must be >= 1 (or 0 on cuda: as memory allows)", o->max_batch);
    if (quality_params_check(&o->quality, err, errlen) != 0) return -1;
    if (device_opts_available(&o->device, "rollout", err, errlen) != 0) return -1;
    if (o->max_batch < 1 && o->device.kind == DEVICE_CPU) return rlvr_err(err, errlen, "rollout: max_batch = %d must be >= 1", o->max_batch);
    if (tokenizer_from_model(&e->tok, m, err, errlen) != 0) return -1;
    if (e->tok.vocab_size > m->cfg.vocab_size) {
        rlvr_err(err, errlen, "rollout: tokenizer '%s' has %d tokens but the model's vocab_size is %d (hint: wrong model for this tokenizer)",
                 e->tok.type, e->tok.vocab_size, m->cfg.vocab_size);
        tokenizer_free(&e->tok);
        return -1;
    }
    e->model = *m;
    memset(m, 0, sizeof *m);
    e->version = version;
    e->version_from_coordinator = from_coordinator;
    e->opts = *o;
    return 0;
}

static void gpu_free(RolloutEngine *e) {
#ifdef RLVR_CUDA
    if (e->gpu) cuda_gen_free(e->gpu);
#endif
    free(e->gpu);
    e->gpu = NULL;
}

void rollout_engine_free(RolloutEngine *e) {
    if (e->inf_ready) infer_free(&e->inf);
    gpu_free(e);
    model_free(&e->model);
    tokenizer_free(&e->tok);
    memset(e, 0, sizeof *e);
}

int rollout_engine_set_weights(RolloutEngine *e, const float *w, size_t n, int64_t version, char *err, size_t errlen) {
    if (n != e->model.num_params)
        return rlvr_err(err, errlen, "weights version %lld has %zu floats but the model has %zu parameters (hint: the learner and "
                        "this worker use different model configs; check --model)", (long long)version, n, e->model.num_params);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return rlvr_err(err, errlen, "weights version %lld: parameter %zu is not finite; keeping the old weights", (long long)version, i);
    memcpy(e->model.params, w, n * sizeof(float));   // Infer reads params directly: no re-init needed
#ifdef RLVR_CUDA
    if (e->gpu) cuda_gen_load_params(e->gpu, e->model.params);
#endif
    e->version = version;
    e->version_from_coordinator = 1;
    return 0;
}

int rollout_engine_set_weights_bf16(RolloutEngine *e, const uint16_t *w, size_t n, int64_t version, char *err, size_t errlen) {
    if (n != e->model.num_params)
        return rlvr_err(err, errlen, "bf16 weights version %lld have %zu values but the model has %zu parameters (hint: the learner and "
                        "this worker use different model configs; check --model)", (long long)version, n, e->model.num_params);
    for (size_t i = 0; i < n; i++)
        if ((w[i] & BF16_EXP_MASK) == BF16_EXP_MASK)
            return rlvr_err(err, errlen, "bf16 weights version %lld: parameter %zu is not finite; keeping the old weights", (long long)version, i);
    for (size_t i = 0; i < n; i++) e->model.params[i] = f32_from_bf16(w[i]);
#ifdef RLVR_CUDA
    if (e->gpu) cuda_gen_load_params_bf16(e->gpu, w);   // as sent: no rounding on the device
#endif
    e->version = version;
    e->version_from_coordinator = 1;
    return 0;
}

static int config_same(const ModelConfig *a, const ModelConfig *b) {
    return a->arch == b->arch && a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
           a->intermediate_size == b->intermediate_size && a->num_layers == b->num_layers && a->num_heads == b->num_heads &&
           a->num_kv_heads == b->num_kv_heads && a->head_dim == b->head_dim && a->qkv_bias == b->qkv_bias &&
           a->tie_word_embeddings == b->tie_word_embeddings && a->rope_theta == b->rope_theta && a->rms_norm_eps == b->rms_norm_eps;
}

int rollout_engine_load_weights(RolloutEngine *e, const char *path, int64_t version, char *err, size_t errlen) {
    Model m;
    if (model_load(path, &m, err, errlen) != 0) return -1;
    int rc = 0;
    if (!config_same(&m.cfg, &e->model.cfg) || m.num_params != e->model.num_params)
        rc = rlvr_err(err, errlen, "weights '%s' (version %lld): architecture differs from this worker's model (%d layers x %d hidden, "
                      "rope_theta %g vs %d x %d, rope_theta %g); start the worker with the run's model", path, (long long)version,
                      m.cfg.num_layers, m.cfg.hidden_size, (double)m.cfg.rope_theta, e->model.cfg.num_layers, e->model.cfg.hidden_size,
                      (double)e->model.cfg.rope_theta);
    else
        rc = rollout_engine_set_weights(e, m.params, m.num_params, version, err, errlen);
    model_free(&m);
    return rc;
}

int rollout_assign_compatible(const WireAssign *a, const WireAssign *b) {
    const WireSampling *x = &a->sampling, *y = &b->sampling;
    if (x->temperature != y->temperature || x->top_p != y->top_p || x->top_k != y->top_k ||
        x->max_new_tokens != y->max_new_tokens || x->n_stop != y->n_stop)
        return 0;
    return memcmp(x->stop, y->stop, (size_t)x->n_stop * sizeof(int32_t)) == 0;
}

int rollout_gen_params(const RolloutEngine *e, const WireAssign *a, GenParams *gp, char *err, size_t errlen) {
    gen_params_default(gp);
    const WireSampling *s = &a->sampling;
    gp->sampler.temperature = s->temperature;
    gp->sampler.top_p = s->top_p;
    gp->sampler.top_k = s->top_k;
    gp->max_new_tokens = s->max_new_tokens;
    if (s->n_stop > INFER_MAX_STOP)
        return rlvr_err(err, errlen, "prompt %llu: %d stop tokens; the engine supports %d", (unsigned long long)a->prompt_id, s->n_stop, INFER_MAX_STOP);
    for (int i = 0; i < s->n_stop; i++) gp->stop[gp->n_stop++] = s->stop[i];
    // Every EOS of the model ends a response, listed by the assignment or not.
    for (int k = 0; k < e->tok.n_eos && gp->n_stop < INFER_MAX_STOP; k++) {
        int eos = e->tok.eos_ids[k], have = eos >= e->model.cfg.vocab_size;
        for (int i = 0; i < gp->n_stop && !have; i++) have = gp->stop[i] == eos;
        if (!have) gp->stop[gp->n_stop++] = eos;
    }
    return sampler_params_validate(&gp->sampler, err, errlen);
}

// The GPU engine for `seq` positions per slot (re-created, never shrunk); its slot count is
// max_batch, or what the memory fraction allows when max_batch is 0.
static int ensure_gpu(RolloutEngine *e, int seq, char *err, size_t errlen) {
#ifdef RLVR_CUDA
    if (e->gpu && seq <= e->inf_seq) return 0;
    const int ns = (seq + 63) / 64 * 64;
    gpu_free(e);
    CudaGen *g = mallocCheck(sizeof *g);
    if (cuda_gen_init(g, &e->model, &e->opts.device, 0, e->opts.max_batch, ns, err, errlen) != 0) {
        free(g);
        return -1;
    }
    e->gpu = g;
    e->inf_batch = g->be.max_batch;
    e->inf_seq = ns;
    return 0;
#else
    (void)e; (void)seq;
    return rlvr_err(err, errlen, "rollout: device cuda: this build has no CUDA backend; rebuild with -DRLVR_CUDA=ON");
#endif
}

// Grows the Infer state to hold `batch` slots of `seq` positions (re-created, never shrunk).
static int ensure_infer(RolloutEngine *e, int batch, int seq, char *err, size_t errlen) {
    if (e->inf_ready && batch <= e->inf_batch && seq <= e->inf_seq) return 0;
    int nb = batch > e->inf_batch ? batch : e->inf_batch;
    int ns = seq > e->inf_seq ? seq : e->inf_seq;
    ns = (ns + 63) / 64 * 64;   // fewer re-creations when lengths creep up
    if (e->inf_ready) infer_free(&e->inf);
    e->inf_ready = 0;
    if (infer_init(&e->inf, &e->model, nb, ns, err, errlen) != 0) return -1;
    e->inf_ready = 1;
    e->inf_batch = nb;
    e->inf_seq = ns;
    return 0;
}

// ---- streaming ---------------------------------------------------------------------------------------
static int build_group(RolloutEngine *e, const WireAssign *a, const GenOutput *go, float gen_seconds, WireGroup *g,
                       RolloutTimers *t, char *err, size_t errlen);

// One assignment in flight: its prompt (as int), its G outputs, how many samples started / finished.
typedef struct {
    const WireAssign *a;
    int *prompt;      // (n_prompt)
    GenOutput *go;    // (G)
    int started, finished;
    double t0;
} StreamGroup;

typedef struct {
    RolloutEngine *e;
    const RolloutFeed *feed;
    const GenBackend *be;
    const GenParams *gp;
    RolloutTimers *t;
    StreamGroup *cur;   // the group whose samples are being handed out
    int live;           // groups started and not yet done
} Stream;

static void stream_group_free(StreamGroup *g) {
    for (int i = 0; i < g->a->group_size; i++) gen_output_free(&g->go[i]);
    free(g->go);
    free(g->prompt);
    free(g);
}

// The next sample: of the current group, else of the feed's next usable assignment.
static int stream_pull(void *ud, GenPull *q) {
    Stream *s = ud;
    while (!s->cur) {
        const WireAssign *a;
        if (!s->feed->next(s->feed->ud, s->be->max_seq - s->gp->max_new_tokens, &a)) return 0;
        char err[512];
        StreamGroup *g = callocCheck(1, sizeof *g);
        g->a = a;
        g->prompt = mallocCheck((size_t)(a->n_prompt > 0 ? a->n_prompt : 1) * sizeof(int));
        for (int i = 0; i < a->n_prompt; i++) g->prompt[i] = a->prompt_tokens[i];
        g->go = mallocCheck((size_t)a->group_size * sizeof(GenOutput));
        for (int i = 0; i < a->group_size; i++) gen_output_alloc(&g->go[i], s->gp->max_new_tokens);
        int ok = a->group_size >= 1;
        if (!ok) rlvr_err(err, sizeof err, "prompt %llu: group size %d", (unsigned long long)a->prompt_id, a->group_size);
        if (ok && !verifier_known(a->verifier)) {
            ok = 0;
            rlvr_err(err, sizeof err, "prompt %llu: unknown verifier '%s' (known: " VERIFIER_NAMES ")", (unsigned long long)a->prompt_id, a->verifier);
        }
        if (ok && genloop_check_request(s->be, s->gp, g->prompt, a->n_prompt, &g->go[0], err, sizeof err) != 0) ok = 0;
        if (!ok) {
            stream_group_free(g);
            WireGroup none;
            memset(&none, 0, sizeof none);
            s->feed->done(s->feed->ud, a, &none, -1, err);
            continue;
        }
        g->t0 = now_seconds();
        s->cur = g;
        s->live++;
    }
    StreamGroup *g = s->cur;
    const int i = g->started++;
    q->prompt = g->prompt;
    q->plen = g->a->n_prompt;
    q->seed = sampler_seed(g->a->seed, g->a->prompt_id, (uint64_t)i);
    q->out = &g->go[i];
    q->tag = g;
    if (g->started == g->a->group_size) s->cur = NULL;
    return 1;
}

static void stream_done(void *ud, const GenPull *q) {
    Stream *s = ud;
    StreamGroup *g = q->tag;
    if (++g->finished < g->a->group_size) return;
    char err[1024] = "";
    WireGroup wg;
    memset(&wg, 0, sizeof wg);
    const int rc = build_group(s->e, g->a, g->go, (float)(now_seconds() - g->t0), &wg, s->t, err, sizeof err);
    const WireAssign *a = g->a;
    stream_group_free(g);
    s->live--;
    s->feed->done(s->feed->ud, a, &wg, rc, err);
}

int rollout_generate_stream(RolloutEngine *e, const WireAssign *first, int max_prompt, const RolloutFeed *feed,
                            RolloutTimers *t, char *err, size_t errlen) {
    if (e->version < 0) return rlvr_err(err, errlen, "rollout_generate_stream: no weights installed yet");
    GenParams gp;
    if (rollout_gen_params(e, first, &gp, err, errlen) != 0) return -1;
    GenBackend be;
    memset(&be, 0, sizeof be);
    const int seq = (max_prompt > first->n_prompt ? max_prompt : first->n_prompt) + gp.max_new_tokens;
    if (e->opts.device.kind == DEVICE_CUDA) {
        if (ensure_gpu(e, seq, err, errlen) != 0) return -1;
#ifdef RLVR_CUDA
        be = ((CudaGen *)e->gpu)->be;
#endif
    } else {
        if (ensure_infer(e, e->opts.max_batch, seq, err, errlen) != 0) return -1;
        infer_backend(&e->inf, &be);
    }
    Stream s = {e, feed, &be, &gp, t, NULL, 0};
    const GenSource src = {&s, stream_pull, stream_done};
    const double t0 = now_seconds();
    const int rc = genloop_stream(&be, &gp, &src, NULL, err, errlen);   // requests were checked when pulled
    if (t) t->gen_s += now_seconds() - t0;
    // The parameters are checked before anything starts and every request when it is pulled, so a
    // failure with groups in flight is a bug, not bad input.
    if (rc != 0 && s.live > 0) die("rollout_generate_stream: %s with %d groups in flight", err, s.live);
    return rc;
}

int rollout_score(const char *verifier, const char *gold, const char *text, size_t len, int zero_one_reward,
                  const QualityParams *qp, WireResponse *r, char *err, size_t errlen) {
    int ok = verify(verifier, gold ? gold : "", text, NULL, 0);
    if (ok < 0) return rlvr_err(err, errlen, "unknown verifier '%s' (known: " VERIFIER_NAMES ")", verifier);
    r->correct = ok;
    r->reward = verify_reward(ok, zero_one_reward);
    QualityFlags q;
    quality_check_text(text, len, qp, &q);
    r->boxed_count = q.boxed_count;
    r->has_cjk = q.has_cjk;
    r->repetition = q.repetitive;
    return 0;
}

// The group of assignment a from its G finished samples go (G): tokens, log-probs (checked finite
// and <= 0), entropies, finish reasons, rewards and quality flags. 0, or -1 with err (g left empty).
static int build_group(RolloutEngine *e, const WireAssign *a, const GenOutput *go, float gen_seconds, WireGroup *g,
                       RolloutTimers *t, char *err, size_t errlen) {
    const int G = a->group_size;
    size_t ntok = 0;
    for (int i = 0; i < G; i++) ntok += (size_t)go[i].n;
    size_t nf = e->opts.send_entropies ? 3 : 2;   // tokens, logprobs[, entropies]
    g->arena_ = mallocCheck(ntok * nf * 4 + 4);
    g->responses = callocCheck((size_t)G, sizeof(WireResponse));
    g->n_responses = G;
    g->prompt_id = a->prompt_id;
    g->lease_id = a->lease_id;
    g->seed = a->seed;
    g->policy_version = e->version;
    int32_t *tokp = (int32_t *)g->arena_;
    float *lpp = (float *)(tokp + ntok), *enp = lpp + ntok;
    size_t cap = 0;
    char *text = NULL;   // grown by tokenizer_decode
    int rc = 0;
    for (int i = 0; i < G && rc == 0; i++) {
        const GenOutput *o = &go[i];
        WireResponse *w = &g->responses[i];
        w->n_tokens = o->n;
        w->tokens = tokp; w->logprobs = lpp;
        w->entropies = e->opts.send_entropies ? enp : NULL;
        for (int k = 0; k < o->n; k++) {
            float lp = o->logprobs[k];
            if (lp > 0.0f && lp < 1e-6f) lp = 0.0f;   // rounding of log(1)
            if (!isfinite(lp) || lp > 0.0f) {
                rc = rlvr_err(err, errlen, "prompt %llu sample %d token %d: log-prob %g is not a finite value <= 0 "
                              "(numerical trouble in the model; check the weights)", (unsigned long long)a->prompt_id, i, k, (double)lp);
                break;
            }
            tokp[k] = o->tokens[k];
            lpp[k] = lp;
            if (w->entropies) enp[k] = isfinite(o->entropies[k]) && o->entropies[k] > 0 ? o->entropies[k] : 0.0f;
        }
        tokp += o->n; lpp += o->n;
        if (w->entropies) enp += o->n;
        w->finish = o->finish == FINISH_STOP ? WIRE_FINISH_STOP : WIRE_FINISH_LENGTH;
        w->gen_seconds = gen_seconds;
        if (rc != 0) break;
        double s0 = now_seconds();
        size_t len = tokenizer_decode(&e->tok, o->tokens, (size_t)o->n, TOK_SKIP_SPECIAL, &text, &cap);
        rc = rollout_score(a->verifier, a->answer, text, len, e->opts.zero_one_reward, &e->opts.quality, w, err, errlen);
        if (t) {
            t->score_s += now_seconds() - s0;
            t->tokens += (uint64_t)o->n;
            t->samples++;
            t->correct += (uint64_t)w->correct;
        }
    }
    if (t) t->groups++;
    free(text);
    if (rc != 0) wire_group_free(g);
    return rc;
}

int rollout_generate(RolloutEngine *e, const WireAssign *const *a, int n, WireGroup *out, RolloutTimers *t,
                     char *err, size_t errlen) {
    if (n < 1) return rlvr_err(err, errlen, "rollout_generate: no assignments");
    if (e->version < 0) return rlvr_err(err, errlen, "rollout_generate: no weights installed yet");
    GenParams gp;
    if (rollout_gen_params(e, a[0], &gp, err, errlen) != 0) return -1;
    int n_req = 0, max_prompt = 0;
    for (int j = 0; j < n; j++) {
        if (j > 0 && !rollout_assign_compatible(a[0], a[j]))
            return rlvr_err(err, errlen, "rollout_generate: prompt %llu has other sampling settings than prompt %llu",
                            (unsigned long long)a[j]->prompt_id, (unsigned long long)a[0]->prompt_id);
        if (!verifier_known(a[j]->verifier))
            return rlvr_err(err, errlen, "prompt %llu: unknown verifier '%s' (known: " VERIFIER_NAMES ")", (unsigned long long)a[j]->prompt_id, a[j]->verifier);
        n_req += a[j]->group_size;
        if (a[j]->n_prompt > max_prompt) max_prompt = a[j]->n_prompt;
    }
    GenBackend be;
    memset(&be, 0, sizeof be);
    if (e->opts.device.kind == DEVICE_CUDA) {
        if (ensure_gpu(e, max_prompt + gp.max_new_tokens, err, errlen) != 0) return -1;
#ifdef RLVR_CUDA
        be = ((CudaGen *)e->gpu)->be;
#endif
    } else {
        int batch = n_req < e->opts.max_batch ? n_req : e->opts.max_batch;
        if (ensure_infer(e, batch, max_prompt + gp.max_new_tokens, err, errlen) != 0) return -1;
        infer_backend(&e->inf, &be);
    }

    const int **prompts = mallocCheck((size_t)n * sizeof(int *));   // (n)
    int *plens = mallocCheck((size_t)n * sizeof(int));              // (n)
    int *ptoks = NULL;   // int32_t -> int copies when the types differ in size
    int same = sizeof(int) == sizeof(int32_t);
    if (!same) {
        size_t tot = 0;
        for (int j = 0; j < n; j++) tot += (size_t)a[j]->n_prompt;
        ptoks = mallocCheck(tot * sizeof(int));
    }
    size_t off = 0;
    for (int j = 0; j < n; j++) {
        plens[j] = a[j]->n_prompt;
        if (same) {
            prompts[j] = (const int *)a[j]->prompt_tokens;
        } else {
            for (int i = 0; i < a[j]->n_prompt; i++) ptoks[off + (size_t)i] = a[j]->prompt_tokens[i];
            prompts[j] = ptoks + off;
            off += (size_t)a[j]->n_prompt;
        }
    }
    GenRequest *reqs = mallocCheck((size_t)n_req * sizeof(GenRequest));   // (n_req)
    GenOutput *go = mallocCheck((size_t)n_req * sizeof(GenOutput));       // (n_req)
    for (int j = 0, r = 0; j < n; j++)
        for (int i = 0; i < a[j]->group_size; i++, r++) {
            reqs[r].prompt = j;
            reqs[r].seed = sampler_seed(a[j]->seed, a[j]->prompt_id, (uint64_t)i);
            gen_output_alloc(&go[r], gp.max_new_tokens);
        }
    double t0 = now_seconds();
    int rc = genloop_run(&be, n, prompts, plens, n_req, reqs, &gp, go, NULL, err, errlen);
    double t1 = now_seconds();
    float gen_each = (float)((t1 - t0) / n);   // per group: the batch's time shared out
    for (int j = 0, r = 0; j < n && rc == 0; r += a[j]->group_size, j++)
        rc = build_group(e, a[j], go + r, gen_each, &out[j], t, err, errlen);
    if (rc != 0)
        for (int j = 0; j < n; j++) wire_group_free(&out[j]);
    if (t) t->gen_s += t1 - t0;
    for (int r = 0; r < n_req; r++) gen_output_free(&go[r]);
    free(go); free(reqs); free(prompts); free(plens); free(ptoks);
    return rc;
}
