// RL batch assembly, packing and micro-batching; see batch.h.
#include "learner/batch.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

#define BATCH_MAGIC 0x52424154u   // "RBAT"
#define BATCH_VERSION 1u

void rl_batch_free(RlBatch *b) {
    free(b->prompt_len); free(b->resp_len); free(b->prompt_id); free(b->version);
    free(b->correct); free(b->boxed_count); free(b->has_cjk); free(b->finish); free(b->worker_reward);
    free(b->tok_off); free(b->lp_off); free(b->tokens); free(b->old_logp);
    free(b->score); free(b->adv); free(b->ln_ppl); free(b->tok_adv);
    memset(b, 0, sizeof *b);
}

static void alloc_per_response(RlBatch *b) {
    size_t R = (size_t)b->R ? (size_t)b->R : 1;
    b->prompt_len = callocCheck(R, sizeof(int32_t));
    b->resp_len = callocCheck(R, sizeof(int32_t));
    b->prompt_id = callocCheck(R, sizeof(int64_t));
    b->version = callocCheck(R, sizeof(int64_t));
    b->correct = callocCheck(R, sizeof(int32_t));
    b->boxed_count = callocCheck(R, sizeof(int32_t));
    b->has_cjk = callocCheck(R, sizeof(int32_t));
    b->finish = callocCheck(R, sizeof(int32_t));
    b->worker_reward = callocCheck(R, sizeof(float));
}

void rl_batch_index(RlBatch *b) {
    size_t R = (size_t)b->R ? (size_t)b->R : 1;
    free(b->tok_off); free(b->lp_off);
    b->tok_off = mallocCheck(R * sizeof(size_t));
    b->lp_off = mallocCheck(R * sizeof(size_t));
    size_t t = 0, l = 0;
    for (int r = 0; r < b->R; r++) {
        b->tok_off[r] = t; b->lp_off[r] = l;
        t += (size_t)b->prompt_len[r] + (size_t)b->resp_len[r];
        l += (size_t)b->resp_len[r];
    }
    b->n_tok = t; b->n_resp_tok = l;
    free(b->score); free(b->adv); free(b->ln_ppl); free(b->tok_adv);
    b->score = callocCheck(R, sizeof(float));
    b->adv = callocCheck(R, sizeof(float));
    b->ln_ppl = callocCheck(R, sizeof(double));
    b->tok_adv = callocCheck(l ? l : 1, sizeof(float));
}

static int cmp_group_id(const void *a, const void *b) {
    const CoordGroup *x = a, *y = b;
    return x->prompt_id < y->prompt_id ? -1 : x->prompt_id > y->prompt_id;
}

int rl_batch_from_groups(CoordGroup *groups, int n, RlBatch *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    qsort(groups, (size_t)n, sizeof *groups, cmp_group_id);
    int R = 0;
    for (int g = 0; g < n; g++) {
        if (groups[g].group.n_responses <= 0)
            return rlvr_err(err, errlen, "group for prompt %llu has no responses", (unsigned long long)groups[g].prompt_id);
        if (groups[g].n_prompt <= 0)
            return rlvr_err(err, errlen, "group for prompt %llu has an empty prompt", (unsigned long long)groups[g].prompt_id);
        R += groups[g].group.n_responses;
    }
    out->R = R; out->G = n;
    alloc_per_response(out);
    int r = 0;
    for (int g = 0; g < n; g++) {
        const CoordGroup *cg = &groups[g];
        for (int i = 0; i < cg->group.n_responses; i++, r++) {
            const WireResponse *w = &cg->group.responses[i];
            out->prompt_len[r] = cg->n_prompt;
            out->resp_len[r] = w->n_tokens;
            out->prompt_id[r] = (int64_t)cg->prompt_id;
            out->version[r] = cg->group.policy_version;
            out->correct[r] = w->correct;
            out->boxed_count[r] = w->boxed_count;
            out->has_cjk[r] = w->has_cjk;
            out->finish[r] = (int32_t)w->finish;
            out->worker_reward[r] = w->reward;
        }
    }
    rl_batch_index(out);
    out->tokens = mallocCheck((out->n_tok ? out->n_tok : 1) * sizeof(int32_t));
    out->old_logp = mallocCheck((out->n_resp_tok ? out->n_resp_tok : 1) * sizeof(float));
    r = 0;
    for (int g = 0; g < n; g++) {
        const CoordGroup *cg = &groups[g];
        for (int i = 0; i < cg->group.n_responses; i++, r++) {
            const WireResponse *w = &cg->group.responses[i];
            memcpy(out->tokens + out->tok_off[r], cg->prompt_tokens, (size_t)cg->n_prompt * sizeof(int32_t));
            if (w->n_tokens > 0) {
                memcpy(out->tokens + out->tok_off[r] + cg->n_prompt, w->tokens, (size_t)w->n_tokens * sizeof(int32_t));
                memcpy(out->old_logp + out->lp_off[r], w->logprobs, (size_t)w->n_tokens * sizeof(float));
            }
        }
    }
    return 0;
}

// ---- packing: header, then the per-response arrays, tokens and log-probs, in a fixed order ----

typedef struct { uint32_t magic, version; int32_t R, G; uint64_t n_tok, n_resp_tok; } PackHeader;

#define PACK_FIELDS(X) \
    X(prompt_len, int32_t) X(resp_len, int32_t) X(prompt_id, int64_t) X(version, int64_t) \
    X(correct, int32_t) X(boxed_count, int32_t) X(has_cjk, int32_t) X(finish, int32_t) X(worker_reward, float)

uint8_t *rl_batch_pack(const RlBatch *b, size_t *len) {
    size_t R = (size_t)b->R, n = sizeof(PackHeader);
#define SZ_(f, t) n += R * sizeof(t);
    PACK_FIELDS(SZ_)
#undef SZ_
    n += b->n_tok * sizeof(int32_t) + b->n_resp_tok * sizeof(float);
    uint8_t *buf = mallocCheck(n), *p = buf;
    PackHeader h = {BATCH_MAGIC, BATCH_VERSION, b->R, b->G, b->n_tok, b->n_resp_tok};
    memcpy(p, &h, sizeof h); p += sizeof h;
#define CP_(f, t) memcpy(p, b->f, R * sizeof(t)); p += R * sizeof(t);
    PACK_FIELDS(CP_)
#undef CP_
    memcpy(p, b->tokens, b->n_tok * sizeof(int32_t)); p += b->n_tok * sizeof(int32_t);
    memcpy(p, b->old_logp, b->n_resp_tok * sizeof(float)); p += b->n_resp_tok * sizeof(float);
    *len = n;
    return buf;
}

int rl_batch_unpack(const uint8_t *buf, size_t len, RlBatch *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    PackHeader h;
    if (len < sizeof h) return rlvr_err(err, errlen, "batch broadcast: %zu bytes, shorter than its header", len);
    memcpy(&h, buf, sizeof h);
    if (h.magic != BATCH_MAGIC || h.version != BATCH_VERSION || h.R < 0)
        return rlvr_err(err, errlen, "batch broadcast: bad magic/version (ranks run different builds?)");
    size_t R = (size_t)h.R, need = sizeof h;
#define SZ_(f, t) need += R * sizeof(t);
    PACK_FIELDS(SZ_)
#undef SZ_
    need += h.n_tok * sizeof(int32_t) + h.n_resp_tok * sizeof(float);
    if (need != len) return rlvr_err(err, errlen, "batch broadcast: %zu bytes, expected %zu", len, need);
    out->R = h.R; out->G = h.G;
    alloc_per_response(out);
    const uint8_t *p = buf + sizeof h;
#define LD_(f, t) memcpy(out->f, p, R * sizeof(t)); p += R * sizeof(t);
    PACK_FIELDS(LD_)
#undef LD_
    rl_batch_index(out);
    if (out->n_tok != h.n_tok || out->n_resp_tok != h.n_resp_tok) {
        rl_batch_free(out);
        return rlvr_err(err, errlen, "batch broadcast: token counts disagree with the lengths");
    }
    out->tokens = mallocCheck((h.n_tok ? h.n_tok : 1) * sizeof(int32_t));
    out->old_logp = mallocCheck((h.n_resp_tok ? h.n_resp_tok : 1) * sizeof(float));
    memcpy(out->tokens, p, h.n_tok * sizeof(int32_t)); p += h.n_tok * sizeof(int32_t);
    memcpy(out->old_logp, p, h.n_resp_tok * sizeof(float));
    return 0;
}

// ---- balancing ----

typedef struct { long cost; int idx; } CostIdx;

static int cmp_cost_desc(const void *a, const void *b) {
    const CostIdx *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->idx - y->idx;
}

void balance_assign(const long *cost, int n, int nranks, int *owner) {
    CostIdx *ci = mallocCheck((size_t)(n ? n : 1) * sizeof *ci);
    long *load = callocCheck((size_t)nranks, sizeof(long));
    for (int i = 0; i < n; i++) { ci[i].cost = cost[i]; ci[i].idx = i; }
    qsort(ci, (size_t)n, sizeof *ci, cmp_cost_desc);
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < nranks; k++) if (load[k] < load[best]) best = k;
        owner[ci[i].idx] = best;
        load[best] += ci[i].cost;
    }
    free(ci); free(load);
}

// ---- micro-batches ----

void micro_init(MicroBatch *m, int cap_B, int cap_T) {
    memset(m, 0, sizeof *m);
    m->cap_B = cap_B; m->cap_T = cap_T;
    size_t bt = (size_t)cap_B * (size_t)cap_T;
    m->rows = mallocCheck((size_t)cap_B * sizeof(int));
    m->row_len = mallocCheck((size_t)cap_B * sizeof(int));
    m->tokens = mallocCheck(bt * sizeof(int));
    m->targets = mallocCheck(bt * sizeof(int));
    m->mask = mallocCheck(bt * sizeof(float));
    m->old_logp = mallocCheck(bt * sizeof(float));
    m->adv = mallocCheck(bt * sizeof(float));
}

void micro_free(MicroBatch *m) {
    free(m->rows); free(m->row_len); free(m->tokens); free(m->targets); free(m->mask); free(m->old_logp); free(m->adv);
    memset(m, 0, sizeof *m);
}

void micro_build(MicroBatch *m, const RlBatch *b, const int *rows, int n) {
    if (n > m->cap_B) die("micro-batch of %d rows exceeds its capacity %d", n, m->cap_B);
    int T = 1;
    for (int i = 0; i < n; i++) {
        int r = rows[i];
        int in_len = b->prompt_len[r] + b->resp_len[r] - 1;   // the last token is only a target
        if (in_len > T) T = in_len;
    }
    if (T > m->cap_T) die("sequence of %d tokens exceeds the activation capacity %d (data.max_prompt_length + data.max_response_length)", T, m->cap_T);
    m->B = n; m->T = T;
    size_t bt = (size_t)n * (size_t)T;
    memset(m->tokens, 0, bt * sizeof(int));
    memset(m->mask, 0, bt * sizeof(float));
    memset(m->old_logp, 0, bt * sizeof(float));
    memset(m->adv, 0, bt * sizeof(float));
    for (size_t i = 0; i < bt; i++) m->targets[i] = -1;
    for (int i = 0; i < n; i++) {
        int r = rows[i];
        m->rows[i] = r;
        m->row_len[i] = b->resp_len[r];
        int P = b->prompt_len[r], L = P + b->resp_len[r];
        const int32_t *seq = b->tokens + b->tok_off[r];
        int *tok = m->tokens + (size_t)i * T, *tgt = m->targets + (size_t)i * T;
        for (int t = 0; t < L - 1; t++) { tok[t] = seq[t]; tgt[t] = seq[t + 1]; }
        for (int j = 0; j < b->resp_len[r]; j++) {
            size_t pos = (size_t)i * T + (size_t)(P - 1 + j);
            m->mask[pos] = 1.0f;
            m->old_logp[pos] = b->old_logp[b->lp_off[r] + j];
            m->adv[pos] = b->tok_adv[b->lp_off[r] + j];
        }
    }
}
