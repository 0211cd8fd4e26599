// Continuous batching over a backend's slots (see common/engine/genloop.h).
#include "common/engine/genloop.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

static int imax(int a, int b) { return a > b ? a : b; }

const char *finish_reason_name(FinishReason r) {
    return r == FINISH_STOP ? "stop" : r == FINISH_LENGTH ? "length" : "none";
}

void gen_params_default(GenParams *p) {
    memset(p, 0, sizeof(*p));
    sampler_params_default(&p->sampler);
    p->max_new_tokens = 256;
}

void gen_output_alloc(GenOutput *o, int cap) {
    memset(o, 0, sizeof(*o));
    o->cap = cap;
    o->tokens = mallocCheck((size_t)imax(cap, 1) * sizeof(int));
    o->logprobs = mallocCheck((size_t)imax(cap, 1) * sizeof(float));
    o->entropies = mallocCheck((size_t)imax(cap, 1) * sizeof(float));
}

void gen_output_free(GenOutput *o) {
    free(o->tokens);
    free(o->logprobs);
    free(o->entropies);
    memset(o, 0, sizeof(*o));
}

static int is_stop(const GenParams *p, int tok) {
    for (int i = 0; i < p->n_stop; i++)
        if (p->stop[i] == tok) return 1;
    return 0;
}

static int validate(const GenBackend *be, int n_prompts, const int *const *prompts, const int *prompt_lens,
                    int n_req, const GenRequest *reqs, const GenParams *p, const GenOutput *out, char *err, size_t errlen) {
    const int V = be->vocab, T = be->max_seq;
    if (sampler_params_validate(&p->sampler, err, errlen) != 0) return -1;
    if (p->max_new_tokens < 1) return rlvr_err(err, errlen, "generate: max_new_tokens = %d must be >= 1", p->max_new_tokens);
    if (p->n_stop < 0 || p->n_stop > INFER_MAX_STOP)
        return rlvr_err(err, errlen, "generate: %d stop tokens given; at most %d are supported", p->n_stop, INFER_MAX_STOP);
    for (int i = 0; i < p->n_stop; i++)
        if (p->stop[i] < 0 || p->stop[i] >= V)
            return rlvr_err(err, errlen, "generate: stop token %d is outside the vocabulary (0..%d)", p->stop[i], V - 1);
    for (int j = 0; j < n_prompts; j++) {
        if (prompt_lens[j] < 1)
            return rlvr_err(err, errlen, "generate: prompt %d is empty; give at least one token (e.g. BOS)", j);
        if (prompt_lens[j] + p->max_new_tokens > T)
            return rlvr_err(err, errlen, "generate: prompt %d has %d tokens; with max_new_tokens %d it needs %d positions "
                            "but the engine was created with max_seq %d: raise max_seq or lower max_new_tokens",
                            j, prompt_lens[j], p->max_new_tokens, prompt_lens[j] + p->max_new_tokens, T);
        for (int t = 0; t < prompt_lens[j]; t++)
            if (prompts[j][t] < 0 || prompts[j][t] >= V)
                return rlvr_err(err, errlen, "generate: prompt %d token %d = %d is outside the vocabulary (0..%d)",
                                j, t, prompts[j][t], V - 1);
    }
    for (int r = 0; r < n_req; r++) {
        if (reqs[r].prompt < 0 || reqs[r].prompt >= n_prompts)
            return rlvr_err(err, errlen, "generate: request %d names prompt %d; there are %d prompts", r, reqs[r].prompt, n_prompts);
        if (out[r].cap < p->max_new_tokens)
            return rlvr_err(err, errlen, "generate: output %d has capacity %d < max_new_tokens %d (use gen_output_alloc)",
                            r, out[r].cap, p->max_new_tokens);
    }
    return 0;
}

// One request's prompt rows are checked when it is pulled (genloop_run checks them all up front).
int genloop_check_request(const GenBackend *be, const GenParams *p, const int *prompt, int plen, const GenOutput *out,
                          char *err, size_t errlen) {
    const int V = be->vocab, T = be->max_seq;
    if (plen < 1) return rlvr_err(err, errlen, "generate: a prompt is empty; give at least one token (e.g. BOS)");
    if (plen + p->max_new_tokens > T)
        return rlvr_err(err, errlen, "generate: a prompt has %d tokens; with max_new_tokens %d it needs %d positions "
                        "but the engine was created with max_seq %d: raise max_seq or lower max_new_tokens",
                        plen, p->max_new_tokens, plen + p->max_new_tokens, T);
    for (int t = 0; t < plen; t++)
        if (prompt[t] < 0 || prompt[t] >= V)
            return rlvr_err(err, errlen, "generate: prompt token %d = %d is outside the vocabulary (0..%d)", t, prompt[t], V - 1);
    if (out->cap < p->max_new_tokens)
        return rlvr_err(err, errlen, "generate: an output has capacity %d < max_new_tokens %d (use gen_output_alloc)", out->cap, p->max_new_tokens);
    return 0;
}

// The scheduler's buffers for one run (B slots).
typedef struct {
    GenPull *slot;       // (B) the request decoding in each slot
    int *busy;           // (B) 1 while a request decodes in the slot
    int *fresh;          // (B) 1 when the slot's request started in the current step
    int *lead;           // (B) 1 when the slot prefills its prompt in full in the current step
    int *rs, *rp, *rt;   // (cap_rows) rows: slot, position, token
    int cap_rows;
    int *orow, *oslot;   // (B) outputs: row, slot
    uint64_t *oseed, *odraw;  // (B)
    int *otok;           // (B)
    float *olp, *oent;   // (B)
    int *fslot, *fsrc;   // (B) followers: slot, leader slot, copied after the step
} Sched;

static void push_row(Sched *s, int *n, int slot, int pos, int tok) {
    if (*n == s->cap_rows) {
        s->cap_rows *= 2;
        s->rs = reallocCheck(s->rs, (size_t)s->cap_rows * sizeof(int));
        s->rp = reallocCheck(s->rp, (size_t)s->cap_rows * sizeof(int));
        s->rt = reallocCheck(s->rt, (size_t)s->cap_rows * sizeof(int));
    }
    s->rs[*n] = slot; s->rp[*n] = pos; s->rt[*n] = tok;
    (*n)++;
}

static int same_prompt(const GenPull *a, const GenPull *b) { return a->prompt == b->prompt && a->plen == b->plen; }

static void sched_free(Sched *s) {
    free(s->slot); free(s->busy); free(s->fresh); free(s->lead); free(s->rs); free(s->rp); free(s->rt);
    free(s->orow); free(s->oslot); free(s->oseed); free(s->odraw); free(s->otok); free(s->olp); free(s->oent);
    free(s->fslot); free(s->fsrc);
}

int genloop_stream(const GenBackend *be, const GenParams *p, const GenSource *src, GenStats *stats, char *err, size_t errlen) {
    if (validate(be, 0, NULL, NULL, 0, NULL, p, NULL, err, errlen) != 0) return -1;
    GenStats st = {0};
    const int B = be->max_batch;
    Sched s;
    s.slot = callocCheck((size_t)B, sizeof(GenPull));
    s.busy = callocCheck((size_t)B, sizeof(int));
    s.fresh = callocCheck((size_t)B, sizeof(int));
    s.lead = callocCheck((size_t)B, sizeof(int));
    s.cap_rows = imax(B, 64);
    s.rs = mallocCheck((size_t)s.cap_rows * sizeof(int));
    s.rp = mallocCheck((size_t)s.cap_rows * sizeof(int));
    s.rt = mallocCheck((size_t)s.cap_rows * sizeof(int));
    s.orow = mallocCheck((size_t)B * sizeof(int)); s.oslot = mallocCheck((size_t)B * sizeof(int));
    s.oseed = mallocCheck((size_t)B * sizeof(uint64_t)); s.odraw = mallocCheck((size_t)B * sizeof(uint64_t));
    s.otok = mallocCheck((size_t)B * sizeof(int));
    s.olp = mallocCheck((size_t)B * sizeof(float)); s.oent = mallocCheck((size_t)B * sizeof(float));
    s.fslot = mallocCheck((size_t)B * sizeof(int)); s.fsrc = mallocCheck((size_t)B * sizeof(int));
    for (int b = 0; b < B; b++) be->reset_slot(be->ctx, b);

    for (;;) {
        int n = 0, nout = 0, nfol = 0;
        // Slots already decoding: one row each (their last sampled token).
        for (int b = 0; b < B; b++) {
            s.fresh[b] = s.lead[b] = 0;
            if (!s.busy[b]) continue;
            const GenOutput *o = s.slot[b].out;
            push_row(&s, &n, b, s.slot[b].plen + o->n - 1, o->tokens[o->n - 1]);
            s.orow[nout] = n - 1; s.oslot[nout] = b; nout++;
        }
        // Free slots: refilled at once from what the source has ready.
        for (int b = 0; b < B; b++) {
            if (s.busy[b]) continue;
            GenPull q;
            if (!src->pull(src->ud, &q)) break;
            if (genloop_check_request(be, p, q.prompt, q.plen, q.out, err, errlen) != 0) { sched_free(&s); return -1; }
            q.out->n = 0;
            q.out->finish = FINISH_NONE;
            s.slot[b] = q;
            s.busy[b] = s.fresh[b] = 1;
            int leader = -1, from = -1;
            for (int c = 0; c < B; c++) {
                if (c == b || !s.busy[c] || !same_prompt(&s.slot[c], &q)) continue;
                if (s.lead[c]) leader = c;                           // prefilled in this step: share its last row
                else if (!s.fresh[c] && q.plen > 1) from = c;        // decoding since an earlier step: copy its prefix
            }
            if (leader >= 0) {
                s.fslot[nfol] = b; s.fsrc[nfol] = leader; nfol++;
                int lr = -1;
                for (int k = 0; k < nout; k++)
                    if (s.oslot[k] == leader) lr = s.orow[k];
                s.orow[nout] = lr; s.oslot[nout] = b; nout++;
                continue;
            }
            if (from >= 0) {
                be->copy_prefix(be->ctx, b, from, q.plen - 1);
                st.prefix_copies++;
                push_row(&s, &n, b, q.plen - 1, q.prompt[q.plen - 1]);
                st.prefill_rows++;
            } else {
                for (int t = 0; t < q.plen; t++) push_row(&s, &n, b, t, q.prompt[t]);
                st.prefill_rows += q.plen;
                s.lead[b] = 1;
            }
            s.orow[nout] = n - 1; s.oslot[nout] = b; nout++;
        }
        if (nout == 0) break;   // nothing decoding and nothing ready
        for (int k = 0; k < nout; k++) {
            const GenPull *q = &s.slot[s.oslot[k]];
            s.oseed[k] = q->seed;
            s.odraw[k] = (uint64_t)q->out->n;
        }
        be->step(be->ctx, n, s.rs, s.rp, s.rt, nout, s.orow, s.oslot, &p->sampler, s.oseed, s.odraw, s.otok, s.olp, s.oent);
        st.steps++;
        st.rows += n;
        for (int f = 0; f < nfol; f++) {
            be->copy_prefix(be->ctx, s.fslot[f], s.fsrc[f], s.slot[s.fslot[f]].plen);
            st.prefix_copies++;
        }
        for (int k = 0; k < nout; k++) {
            const int b = s.oslot[k];
            GenOutput *o = s.slot[b].out;
            o->tokens[o->n] = s.otok[k];
            o->logprobs[o->n] = s.olp[k];
            o->entropies[o->n] = s.oent[k];
            o->n++;
            if (is_stop(p, s.otok[k])) o->finish = FINISH_STOP;
            else if (o->n >= p->max_new_tokens) o->finish = FINISH_LENGTH;
            if (o->finish != FINISH_NONE) {
                s.busy[b] = 0;
                be->reset_slot(be->ctx, b);
                if (src->done) src->done(src->ud, &s.slot[b]);
            }
        }
    }
    sched_free(&s);
    if (stats) *stats = st;
    return 0;
}

// genloop_run's source: the requests in order.
typedef struct {
    const int *const *prompts;
    const int *prompt_lens;
    const GenRequest *reqs;
    GenOutput *out;
    int n_req, next;
} ArraySource;

static int array_pull(void *ud, GenPull *q) {
    ArraySource *a = ud;
    if (a->next >= a->n_req) return 0;
    const int r = a->next++, j = a->reqs[r].prompt;
    q->prompt = a->prompts[j];
    q->plen = a->prompt_lens[j];
    q->seed = a->reqs[r].seed;
    q->out = &a->out[r];
    q->tag = NULL;
    return 1;
}

int genloop_run(const GenBackend *be, int n_prompts, const int *const *prompts, const int *prompt_lens,
                int n_req, const GenRequest *reqs, const GenParams *p, GenOutput *out, GenStats *stats,
                char *err, size_t errlen) {
    if (validate(be, n_prompts, prompts, prompt_lens, n_req, reqs, p, out, err, errlen) != 0) return -1;
    ArraySource a = {prompts, prompt_lens, reqs, out, n_req, 0};
    const GenSource src = {&a, array_pull, NULL};
    return genloop_stream(be, p, &src, stats, err, errlen);
}
