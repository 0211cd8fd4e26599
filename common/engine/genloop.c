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

// The scheduler's buffers for one run (B slots).
typedef struct {
    int *slot_req;       // (B) request decoding in each slot, -1 free
    int *slot_new;       // (B) 1 when the slot's request started in the current step
    int *leader;         // (n_prompts) slot that prefills prompt j in the current step, -1 none
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

int genloop_run(const GenBackend *be, int n_prompts, const int *const *prompts, const int *prompt_lens,
                int n_req, const GenRequest *reqs, const GenParams *p, GenOutput *out, GenStats *stats,
                char *err, size_t errlen) {
    if (validate(be, n_prompts, prompts, prompt_lens, n_req, reqs, p, out, err, errlen) != 0) return -1;
    GenStats st = {0};
    const int B = be->max_batch;
    Sched s;
    s.slot_req = mallocCheck((size_t)B * sizeof(int));
    s.slot_new = mallocCheck((size_t)B * sizeof(int));
    s.leader = mallocCheck((size_t)imax(n_prompts, 1) * sizeof(int));
    s.cap_rows = imax(B, 64);
    s.rs = mallocCheck((size_t)s.cap_rows * sizeof(int));
    s.rp = mallocCheck((size_t)s.cap_rows * sizeof(int));
    s.rt = mallocCheck((size_t)s.cap_rows * sizeof(int));
    s.orow = mallocCheck((size_t)B * sizeof(int)); s.oslot = mallocCheck((size_t)B * sizeof(int));
    s.oseed = mallocCheck((size_t)B * sizeof(uint64_t)); s.odraw = mallocCheck((size_t)B * sizeof(uint64_t));
    s.otok = mallocCheck((size_t)B * sizeof(int));
    s.olp = mallocCheck((size_t)B * sizeof(float)); s.oent = mallocCheck((size_t)B * sizeof(float));
    s.fslot = mallocCheck((size_t)B * sizeof(int)); s.fsrc = mallocCheck((size_t)B * sizeof(int));
    for (int b = 0; b < B; b++) { s.slot_req[b] = -1; be->reset_slot(be->ctx, b); }
    for (int j = 0; j < n_prompts; j++) s.leader[j] = -1;

    int next = 0;   // next queued request
    for (;;) {
        int n = 0, nout = 0, nfol = 0;
        // Slots already decoding: one row each (their last sampled token).
        for (int b = 0; b < B; b++) {
            s.slot_new[b] = 0;
            const int r = s.slot_req[b];
            if (r < 0) continue;
            const GenOutput *o = &out[r];
            push_row(&s, &n, b, prompt_lens[reqs[r].prompt] + o->n - 1, o->tokens[o->n - 1]);
            s.orow[nout] = n - 1; s.oslot[nout] = b; nout++;
        }
        // Free slots: refilled from the queue at once.
        for (int b = 0; b < B && next < n_req; b++) {
            if (s.slot_req[b] >= 0) continue;
            const int r = next++, j = reqs[r].prompt, plen = prompt_lens[j];
            out[r].n = 0;
            out[r].finish = FINISH_NONE;
            s.slot_req[b] = r;
            s.slot_new[b] = 1;
            if (s.leader[j] >= 0) {   // another sample of this prompt is prefilled in this step
                s.fslot[nfol] = b; s.fsrc[nfol] = s.leader[j]; nfol++;
                int lr = -1;
                for (int k = 0; k < nout; k++)
                    if (s.oslot[k] == s.leader[j]) lr = s.orow[k];
                s.orow[nout] = lr; s.oslot[nout] = b; nout++;
                continue;
            }
            int src = -1;   // a slot that has decoded this prompt since an earlier step
            for (int c = 0; c < B && plen > 1 && src < 0; c++)
                if (c != b && s.slot_req[c] >= 0 && !s.slot_new[c] && reqs[s.slot_req[c]].prompt == j) src = c;
            if (src >= 0) {
                be->copy_prefix(be->ctx, b, src, plen - 1);
                st.prefix_copies++;
                push_row(&s, &n, b, plen - 1, prompts[j][plen - 1]);
                st.prefill_rows++;
            } else {
                for (int t = 0; t < plen; t++) push_row(&s, &n, b, t, prompts[j][t]);
                st.prefill_rows += plen;
                s.leader[j] = b;
            }
            s.orow[nout] = n - 1; s.oslot[nout] = b; nout++;
        }
        if (nout == 0) break;
        for (int k = 0; k < nout; k++) {
            const int r = s.slot_req[s.oslot[k]];
            s.oseed[k] = reqs[r].seed;
            s.odraw[k] = (uint64_t)out[r].n;
        }
        be->step(be->ctx, n, s.rs, s.rp, s.rt, nout, s.orow, s.oslot, &p->sampler, s.oseed, s.odraw, s.otok, s.olp, s.oent);
        st.steps++;
        st.rows += n;
        for (int f = 0; f < nfol; f++) {
            be->copy_prefix(be->ctx, s.fslot[f], s.fsrc[f], prompt_lens[reqs[s.slot_req[s.fslot[f]]].prompt]);
            st.prefix_copies++;
        }
        for (int b = 0; b < B; b++)
            if (s.slot_new[b]) s.leader[reqs[s.slot_req[b]].prompt] = -1;
        for (int k = 0; k < nout; k++) {
            const int b = s.oslot[k], r = s.slot_req[b];
            GenOutput *o = &out[r];
            o->tokens[o->n] = s.otok[k];
            o->logprobs[o->n] = s.olp[k];
            o->entropies[o->n] = s.oent[k];
            o->n++;
            if (is_stop(p, s.otok[k])) o->finish = FINISH_STOP;
            else if (o->n >= p->max_new_tokens) o->finish = FINISH_LENGTH;
            if (o->finish != FINISH_NONE) {
                s.slot_req[b] = -1;
                be->reset_slot(be->ctx, b);
            }
        }
    }
    free(s.slot_req); free(s.slot_new); free(s.leader); free(s.rs); free(s.rp); free(s.rt);
    free(s.orow); free(s.oslot); free(s.oseed); free(s.odraw); free(s.otok); free(s.olp); free(s.oent);
    free(s.fslot); free(s.fsrc);
    if (stats) *stats = st;
    return 0;
}
