// Training forward / head / backward over full sequences. See forward.h.
#include "common/engine/forward.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/core/check.h"
#include "common/engine/ops.h"

// OpenBLAS's cblas.h pulls in <complex.h>, whose I macro would shadow our intermediate size.
#undef I

#ifdef _OPENMP
#include <omp.h>
#endif

// The head works on (N, cols) slices of the logits: a slice of the vocabulary for ALL rows, so every
// GEMM has a long inner or outer dimension, lm_head and its gradient are each streamed once per pass
// (row chunks would re-read the whole (V, C) matrix per chunk) and memory stays N * cols floats.
// cols = budget / N, at least HEAD_MIN_COLS (GEMM efficiency), at most V.
#define HEAD_CHUNK_FLOATS ((size_t)4 << 20)
#define HEAD_MIN_COLS 256

// One description of every buffer, used by both acts_bytes and acts_init so they cannot disagree.
#define ACTS_FIELDS(X) \
    X(rope_cos, (size_t)maxT * (D / 2)) X(rope_sin, (size_t)maxT * (D / 2)) \
    X(resid, (size_t)(LS + 1) * N * C) X(ln1, (size_t)LS * N * C) X(ln1_rstd, (size_t)LS * N) \
    X(q, (size_t)LS * N * H * D) X(k, (size_t)LS * N * KV * D) X(v, (size_t)LS * N * KV * D) \
    X(att, (size_t)LS * maxB * H * maxT * maxT) X(atty, (size_t)LS * N * H * D) \
    X(resid_mid, (size_t)LS * N * C) X(ln2, (size_t)LS * N * C) X(ln2_rstd, (size_t)LS * N) \
    X(gate, (size_t)LS * N * I) X(up, (size_t)LS * N * I) X(mlp_h, (size_t)LS * N * I) \
    X(lnf, N * C) X(lnf_rstd, N) X(lse, N) X(hent, N) X(logits, N * cols) X(head_stats, 2 * 5 * N) \
    X(hrows, TR * N * C) X(hgrad, TR * N * C) \
    X(dresid, TR * N * C) X(dln, TR * N * C) X(dq, TR * N * H * D) X(dk, TR * N * KV * D) \
    X(dv, TR * N * KV * D) X(dbig, TR * N * (I > H * D ? I : H * D)) X(dgate, TR * N * I) X(dup, TR * N * I) \
    X(dscratch, TR * (nth > (size_t)maxT ? nth : (size_t)maxT) * maxT)

static size_t head_cols_for(size_t V, size_t N) {
    size_t c = HEAD_CHUNK_FLOATS / N;
    if (c < HEAD_MIN_COLS) c = HEAD_MIN_COLS;
    if (c > V) c = V;
    return c;
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static size_t bytes_of(const ModelConfig *cfg, int maxB, int maxT, int train) {
    const size_t TR = train ? 1 : 0, LS = train ? (size_t)cfg->num_layers : 1;
    const size_t L = cfg->num_layers, C = cfg->hidden_size, H = cfg->num_heads, KV = cfg->num_kv_heads,
                 D = cfg->head_dim, I = cfg->intermediate_size, V = cfg->vocab_size;
    const size_t N = (size_t)maxB * maxT, cols = head_cols_for(V, N), nth = max_threads();
    size_t total = 0;
#define ADD(name, count) total += (count) * sizeof(float);
    ACTS_FIELDS(ADD)
#undef ADD
    (void)L;
    return total + 2 * N * sizeof(int);
}

size_t acts_bytes(const ModelConfig *cfg, int maxB, int maxT) { return bytes_of(cfg, maxB, maxT, 1); }
size_t acts_bytes_eval(const ModelConfig *cfg, int maxB, int maxT) { return bytes_of(cfg, maxB, maxT, 0); }

static void init_acts(Acts *a, const ModelConfig *cfg, int maxB, int maxT, int train) {
    if (maxB <= 0 || maxT <= 0) die("acts_init: batch shape (%d, %d) must be positive", maxB, maxT);
    memset(a, 0, sizeof(*a));
    const int L = cfg->num_layers, C = cfg->hidden_size, H = cfg->num_heads, KV = cfg->num_kv_heads,
              D = cfg->head_dim, I = cfg->intermediate_size, V = cfg->vocab_size;
    const size_t N = (size_t)maxB * maxT, cols = head_cols_for((size_t)V, N);
    const size_t nth = (size_t)max_threads();
    const size_t TR = train ? 1 : 0, LS = train ? (size_t)L : 1;
    a->train = train;
    a->maxB = maxB; a->maxT = maxT;
    a->L = L; a->C = C; a->H = H; a->KV = KV; a->D = D; a->FF = I; a->V = V;
    a->head_cols = cols;
    a->nthreads = (int)nth;
    a->tokens = mallocCheck(N * sizeof(int));
    a->targets = mallocCheck(N * sizeof(int));
#define ALLOC(name, count) a->name = mallocBigCheck((count) * sizeof(float));
    ACTS_FIELDS(ALLOC)
#undef ALLOC
    rope_tables(a->rope_cos, a->rope_sin, maxT, D, cfg->rope_theta);
}

void acts_init(Acts *a, const ModelConfig *cfg, int maxB, int maxT) { init_acts(a, cfg, maxB, maxT, 1); }
void acts_init_eval(Acts *a, const ModelConfig *cfg, int maxB, int maxT) { init_acts(a, cfg, maxB, maxT, 0); }

void acts_free(Acts *a) {
    free(a->tokens);
    free(a->targets);
#define FREE(name, count) free(a->name);
    ACTS_FIELDS(FREE)
#undef FREE
    memset(a, 0, sizeof(*a));
}

int model_check_tokens(const ModelConfig *cfg, const int *tokens, size_t n, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cfg->vocab_size)
            return rlvr_err(err, errlen, "token %d at position %zu is outside the vocabulary [0, %d); "
                            "check that the tokenizer matches the model", tokens[i], i, cfg->vocab_size);
    return 0;
}

// ---- forward --------------------------------------------------------------------------------------

void model_forward(const Model *m, Acts *a, const int *tokens, int B, int T) {
    if (B <= 0 || T <= 0 || B > a->maxB || T > a->maxT)
        die("model_forward: batch (%d, %d) exceeds the activations' capacity (%d, %d)", B, T, a->maxB, a->maxT);
    char err[256];
    if (model_check_tokens(&m->cfg, tokens, (size_t)B * T, err, sizeof(err)) != 0) die("model_forward: %s", err);
    a->B = B; a->T = T; a->head_done = 0; a->logits_cached = 0;
    const int L = a->L, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->FF;
    const size_t N = (size_t)B * T;
    const float eps = m->cfg.rms_norm_eps;
    memcpy(a->tokens, tokens, N * sizeof(int));
    ModelView w;
    model_view(m, m->params, &w);

    embedding_forward(a->resid, tokens, w.embed_tokens, N, C);
    for (int l = 0; l < L; l++) {
        const LayerView *lw = &w.layers[l];
        // training keeps every layer (slot l); eval reuses slot 0 and ping-pongs the residual stream
        const size_t sl = a->train ? (size_t)l : 0;
        const size_t xi = a->train ? (size_t)l : (size_t)(l % 2), xo = a->train ? (size_t)l + 1 : (size_t)((l + 1) % 2);
        float *x = a->resid + xi * N * C;                   // (N, C)
        float *ln1 = a->ln1 + sl * N * C;                   // (N, C)
        float *q = a->q + sl * N * H * D;                   // (N, H*D)
        float *k = a->k + sl * N * KV * D;                  // (N, KV*D)
        float *v = a->v + sl * N * KV * D;                  // (N, KV*D)
        float *att = a->att + sl * B * H * T * T;           // (B, H, T, T)
        float *atty = a->atty + sl * N * H * D;             // (N, H*D)
        float *mid = a->resid_mid + sl * N * C;             // (N, C)
        float *ln2 = a->ln2 + sl * N * C;                   // (N, C)
        float *gate = a->gate + sl * N * I, *up = a->up + sl * N * I;  // (N, I)
        float *h = a->mlp_h + sl * N * I;                   // (N, I)
        float *xout = a->resid + xo * N * C;                // (N, C)

        rmsnorm_forward(ln1, a->ln1_rstd + sl * N, x, lw->input_layernorm, N, C, eps);
        linear_forward(q, ln1, lw->q_proj, lw->q_bias, N, C, H * D);
        linear_forward(k, ln1, lw->k_proj, lw->k_bias, N, C, KV * D);
        linear_forward(v, ln1, lw->v_proj, lw->v_bias, N, C, KV * D);
        rope_forward(q, a->rope_cos, a->rope_sin, B, T, H, D);
        rope_forward(k, a->rope_cos, a->rope_sin, B, T, KV, D);
        attention_forward(atty, att, q, k, v, B, T, H, KV, D);
        linear_forward(mid, atty, lw->o_proj, NULL, N, H * D, C);
        residual_forward(mid, mid, x, N * C);
        rmsnorm_forward(ln2, a->ln2_rstd + sl * N, mid, lw->post_attention_layernorm, N, C, eps);
        linear_forward(gate, ln2, lw->gate_proj, NULL, N, C, I);
        linear_forward(up, ln2, lw->up_proj, NULL, N, C, I);
        swiglu_forward(h, gate, up, N * I);
        linear_forward(xout, h, lw->down_proj, NULL, N, I, C);
        residual_forward(xout, xout, mid, N * C);
    }
    const size_t xl = a->train ? (size_t)L : (size_t)(L % 2);
    rmsnorm_forward(a->lnf, a->lnf_rstd, a->resid + xl * N * C, w.norm, N, C, eps);
}

// ---- head -----------------------------------------------------------------------------------------

void model_logits(const Model *m, Acts *a, float *out) {
    ModelView w;
    model_view(m, m->params, &w);
    linear_forward(out, a->lnf, w.lm_head, NULL, (size_t)a->B * a->T, a->C, a->V);
}

void model_head(const Model *m, Acts *a, const int *targets, float temperature,
                float *logp, float *entropy, float *hnorm, float *sumsq) {
    if (!(temperature > 0.0f)) die("model_head: temperature %g must be > 0", (double)temperature);
    const int C = a->C, V = a->V;
    const size_t N = (size_t)a->B * a->T;
    const float invT = 1.0f / temperature;
    ModelView w;
    model_view(m, m->params, &w);
    a->temperature = temperature;
    for (size_t n = 0; n < N; n++) a->targets[n] = (targets[n] >= 0 && targets[n] < V) ? targets[n] : -1;
    // Online softmax statistics per row over the vocabulary slices, relative to the running max mx:
    // se = sum e^(z-mx), sez = sum e^(z-mx) (z-mx), se2 = sum e^(2(z-mx)); zt = the target's z.
    // In double: V can be 150k and these feed the entropy / proxy statistics directly.
    double *mx = (double *)a->head_stats, *se = mx + N, *sez = se + N, *se2 = sez + N, *zt = se2 + N;
    for (size_t n = 0; n < N; n++) { mx[n] = -INFINITY; se[n] = sez[n] = se2[n] = 0.0; zt[n] = 0.0; }

    for (size_t v0 = 0; v0 < (size_t)V; v0 += a->head_cols) {
        const size_t vc = (size_t)V - v0 < a->head_cols ? (size_t)V - v0 : a->head_cols;
        // z = (lnf W[v0:v0+vc]^T) / temperature, (N, vc)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)vc, C,
                    invT, a->lnf, C, w.lm_head + v0 * C, C, 0.0f, a->logits, (int)vc);
        #pragma omp parallel for schedule(static) if (PAR_WORTH(N * vc))
        for (size_t n = 0; n < N; n++) {
            const float *z = a->logits + n * vc;
            float cm = -INFINITY;
            #pragma omp simd reduction(max:cm)
            for (size_t j = 0; j < vc; j++) cm = z[j] > cm ? z[j] : cm;
            const double m_new = (double)cm > mx[n] ? (double)cm : mx[n];
            if (mx[n] > -INFINITY && m_new > mx[n]) {  // rescale the sums to the new max
                const double d = mx[n] - m_new, f = exp(d);
                sez[n] = f * (sez[n] + se[n] * d);
                se[n] *= f;
                se2[n] *= f * f;
            }
            mx[n] = m_new;
            // exp in float (1 ulp, vectorisable), sums in double
            const float mf = (float)m_new;
            double s = 0.0, sz = 0.0, s2 = 0.0;
            #pragma omp simd reduction(+:s, sz, s2)
            for (size_t j = 0; j < vc; j++) {
                const float d = z[j] - mf, e = vexpf(d);
                s += e;
                sz += (double)e * d;
                s2 += (double)e * e;
            }
            se[n] += s; sez[n] += sz; se2[n] += s2;
            const int tg = a->targets[n];
            if (tg >= (int)v0 && tg < (int)(v0 + vc)) zt[n] = z[tg - v0];
        }
    }
    #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)C))
    for (size_t n = 0; n < N; n++) {
        const double lse_shift = log(se[n]);  // lse - mx
        a->lse[n] = (float)(mx[n] + lse_shift);
        logp[n] = a->targets[n] >= 0 ? (float)(zt[n] - mx[n] - lse_shift) : 0.0f;
        // H = lse - E_p[z] = log se - sez / se (both relative to mx)
        a->hent[n] = (float)(lse_shift - sez[n] / se[n]);
        if (entropy) entropy[n] = a->hent[n];
        if (sumsq) sumsq[n] = (float)(se2[n] / (se[n] * se[n]));
        if (hnorm) {
            const float *hr = a->lnf + n * C;
            double s = 0.0;
            for (int c = 0; c < C; c++) s += (double)hr[c] * hr[c];
            hnorm[n] = (float)sqrt(s);
        }
    }
    a->head_done = 1;
    a->logits_cached = a->head_cols >= (size_t)V;  // the one slice was the whole vocabulary
}

// ---- backward -------------------------------------------------------------------------------------

// dlnf (N, C) = d(head)/d(lnf) (overwritten), dlm_head += ... Only rows with dlogp != 0 take part
// (RL masks prompts and padding, often half the rows): they are gathered into (Na, C), and for each
// vocabulary slice the logits are recomputed and turned into dz = dlogp (onehot(target) - p) / T
// (unless model_head's logits are still there and reusing them is cheaper).
// One row (or vocabulary slice) of tempered logits z (n) -> their gradient, without the target's +g:
// z_v <- -g p_v - ge p_v (log p_v + H), p_v = exp(z_v - lse); g = dlogp / T, ge = dent / T (0: no
// entropy term, and the cheaper loop).
static inline void head_dz_row(float *z, size_t n, float g, float ge, float lse, float H) {
    if (ge == 0.0f) {
        #pragma omp simd
        for (size_t j = 0; j < n; j++) z[j] = -g * vexpf(z[j] - lse);
        return;
    }
    const float gh = -g - ge * H;
    #pragma omp simd
    for (size_t j = 0; j < n; j++) { const float lp = z[j] - lse; z[j] = vexpf(lp) * (gh - ge * lp); }
}

// With dent (entropy bonus, may be NULL) the rows with dent != 0 take part too and each logit's
// gradient gains dent (dH/dz) = -dent p (log p + H) / T.
static void head_backward(Acts *a, const float *dlogp, const float *dent, float *dlnf, const ModelView *gw, const ModelView *w) {
    const int C = a->C, V = a->V;
    const size_t N = (size_t)a->B * a->T;
    const float invT = 1.0f / a->temperature;
    memset(dlnf, 0, N * C * sizeof(float));
    int *idx = (int *)a->head_stats;  // (N) active row indices; the stats are no longer needed
    size_t Na = 0;
    for (size_t n = 0; n < N; n++)
        if (dlogp[n] != 0.0f || (dent && dent[n] != 0.0f)) idx[Na++] = (int)n;
    if (Na == 0) return;
    // Small vocabularies: model_head left every row's logits in place. Using them for all N rows costs
    // 2 GEMMs over N rows; recomputing for the active rows costs 3 over Na. Take the cheaper.
    if (a->logits_cached && 3 * Na >= 2 * N) {
        a->logits_cached = 0;  // turned into dz below
        #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)V))
        for (size_t n = 0; n < N; n++) {
            float *z = a->logits + n * V;
            const float g = dlogp[n] * invT, lse = a->lse[n];
            const float ge = dent ? dent[n] * invT : 0.0f;
            if (g == 0.0f && ge == 0.0f) { memset(z, 0, (size_t)V * sizeof(float)); continue; }
            head_dz_row(z, (size_t)V, g, ge, lse, a->hent[n]);
            if (a->targets[n] >= 0) z[a->targets[n]] += g;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, C, V,
                    1.0f, a->logits, V, w->lm_head, C, 0.0f, dlnf, C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, C, (int)N,
                    1.0f, a->logits, V, a->lnf, C, 1.0f, gw->lm_head, C);
        return;
    }
    #pragma omp parallel for schedule(static) if (PAR_WORTH(Na * (size_t)C))
    for (size_t i = 0; i < Na; i++) {
        memcpy(a->hrows + i * C, a->lnf + (size_t)idx[i] * C, (size_t)C * sizeof(float));
        memset(a->hgrad + i * C, 0, (size_t)C * sizeof(float));
    }
    for (size_t v0 = 0; v0 < (size_t)V; v0 += a->head_cols) {
        const size_t vc = (size_t)V - v0 < a->head_cols ? (size_t)V - v0 : a->head_cols;
        const float *Wc = w->lm_head + v0 * C;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Na, (int)vc, C,
                    invT, a->hrows, C, Wc, C, 0.0f, a->logits, (int)vc);
        #pragma omp parallel for schedule(static) if (PAR_WORTH(Na * vc))
        for (size_t i = 0; i < Na; i++) {
            const int n = idx[i];
            float *z = a->logits + i * vc;
            const float g = dlogp[n] * invT, lse = a->lse[n], ge = dent ? dent[n] * invT : 0.0f;
            head_dz_row(z, vc, g, ge, lse, a->hent[n]);
            const int tg = a->targets[n];
            if (tg >= (int)v0 && tg < (int)(v0 + vc)) z[tg - v0] += g;
        }
        // dh (Na, C) += dz (Na, vc) @ Wc (vc, C); dWc (vc, C) += dz^T @ h
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Na, C, (int)vc,
                    1.0f, a->logits, (int)vc, Wc, C, 1.0f, a->hgrad, C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)vc, C, (int)Na,
                    1.0f, a->logits, (int)vc, a->hrows, C, 1.0f, gw->lm_head + v0 * C, C);
    }
    #pragma omp parallel for schedule(static) if (PAR_WORTH(Na * (size_t)C))
    for (size_t i = 0; i < Na; i++) memcpy(dlnf + (size_t)idx[i] * C, a->hgrad + i * C, (size_t)C * sizeof(float));
}

void model_backward(Model *m, Acts *a, const float *dlogp) { model_backward_ent(m, a, dlogp, NULL); }

void model_backward_ent(Model *m, Acts *a, const float *dlogp, const float *dent) {
    if (!m->grads) die("model_backward: no gradient buffer; call model_alloc_train first");
    if (!a->train) die("model_backward: these activations were made by acts_init_eval (forward only); use acts_init");
    if (!a->head_done) die("model_backward: call model_head after model_forward before model_backward");
    const int B = a->B, T = a->T, L = a->L, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->FF;
    const size_t N = (size_t)B * T;
    ModelView w, gw;
    model_view(m, m->params, &w);
    model_view(m, m->grads, &gw);
    if (max_threads() > a->nthreads) {  // omp_set_num_threads raised since acts_init: one row per thread
        a->nthreads = max_threads();
        free(a->dscratch);
        const size_t rows = a->nthreads > a->maxT ? (size_t)a->nthreads : (size_t)a->maxT;
        a->dscratch = mallocCheck(rows * a->maxT * sizeof(float));
    }

    // dln <- d/d(lnf); dresid = final RMSNorm backward (dresid is overwritten here, accumulated after)
    head_backward(a, dlogp, dent, a->dln, &gw, &w);
    memset(a->dresid, 0, N * C * sizeof(float));
    rmsnorm_backward(a->dresid, gw.norm, a->dln, a->resid + (size_t)L * N * C, w.norm, a->lnf_rstd, N, C);

    for (int l = L - 1; l >= 0; l--) {
        const LayerView *lw = &w.layers[l];
        LayerView *lg = &gw.layers[l];
        const float *x = a->resid + (size_t)l * N * C;
        const float *ln1 = a->ln1 + (size_t)l * N * C;
        const float *q = a->q + (size_t)l * N * H * D;
        const float *k = a->k + (size_t)l * N * KV * D;
        const float *v = a->v + (size_t)l * N * KV * D;
        const float *att = a->att + (size_t)l * B * H * T * T;
        const float *atty = a->atty + (size_t)l * N * H * D;
        const float *mid = a->resid_mid + (size_t)l * N * C;
        const float *ln2 = a->ln2 + (size_t)l * N * C;
        const float *gate = a->gate + (size_t)l * N * I, *up = a->up + (size_t)l * N * I;
        const float *h = a->mlp_h + (size_t)l * N * I;

        // MLP branch: dresid is d(layer output); it also flows straight through the residual to mid.
        float *dh = a->dbig;                                       // (N, I)
        memset(dh, 0, N * I * sizeof(float));
        linear_backward(dh, lg->down_proj, NULL, a->dresid, h, lw->down_proj, N, I, C);
        swiglu_backward(a->dgate, a->dup, dh, gate, up, N * I);
        memset(a->dln, 0, N * C * sizeof(float));
        linear_backward(a->dln, lg->gate_proj, NULL, a->dgate, ln2, lw->gate_proj, N, C, I);
        linear_backward(a->dln, lg->up_proj, NULL, a->dup, ln2, lw->up_proj, N, C, I);
        rmsnorm_backward(a->dresid, lg->post_attention_layernorm, a->dln, mid, lw->post_attention_layernorm,
                         a->ln2_rstd + (size_t)l * N, N, C);

        // attention branch
        float *datty = a->dbig;                                    // (N, H*D)
        memset(datty, 0, N * H * D * sizeof(float));
        linear_backward(datty, lg->o_proj, NULL, a->dresid, atty, lw->o_proj, N, H * D, C);
        memset(a->dq, 0, N * H * D * sizeof(float));
        memset(a->dk, 0, N * KV * D * sizeof(float));
        memset(a->dv, 0, N * KV * D * sizeof(float));
        attention_backward(a->dq, a->dk, a->dv, datty, att, q, k, v, a->dscratch, B, T, H, KV, D);
        rope_backward(a->dq, a->rope_cos, a->rope_sin, B, T, H, D);
        rope_backward(a->dk, a->rope_cos, a->rope_sin, B, T, KV, D);
        memset(a->dln, 0, N * C * sizeof(float));
        linear_backward(a->dln, lg->q_proj, lg->q_bias, a->dq, ln1, lw->q_proj, N, C, H * D);
        linear_backward(a->dln, lg->k_proj, lg->k_bias, a->dk, ln1, lw->k_proj, N, C, KV * D);
        linear_backward(a->dln, lg->v_proj, lg->v_bias, a->dv, ln1, lw->v_proj, N, C, KV * D);
        rmsnorm_backward(a->dresid, lg->input_layernorm, a->dln, x, lw->input_layernorm,
                         a->ln1_rstd + (size_t)l * N, N, C);
    }
    embedding_backward(gw.embed_tokens, a->dresid, a->tokens, N, C);
}

// ---- cross-entropy convenience -------------------------------------------------------------------

float model_ce(Model *m, Acts *a, const int *tokens, const int *targets, const float *mask,
               int B, int T, int do_backward) {
    const size_t N = (size_t)B * T;
    model_forward(m, a, tokens, B, T);
    // logp and dlogp share one scratch allocation of 2N floats
    float *logp = mallocCheck(2 * N * sizeof(float)), *dlogp = logp + N;
    model_head(m, a, targets, 1.0f, logp, NULL, NULL, NULL);
    double count = 0.0, sum = 0.0;
    for (size_t n = 0; n < N; n++) {
        const int valid = (!mask || mask[n] != 0.0f) && a->targets[n] >= 0;
        if (valid) { count += 1.0; sum -= logp[n]; }
    }
    float loss = count > 0 ? (float)(sum / count) : 0.0f;
    if (do_backward && count > 0) {
        for (size_t n = 0; n < N; n++) {
            const int valid = (!mask || mask[n] != 0.0f) && a->targets[n] >= 0;
            dlogp[n] = valid ? (float)(-1.0 / count) : 0.0f;
        }
        model_backward(m, a, dlogp);
    }
    free(logp);
    return loss;
}

double model_flops_per_token(const ModelConfig *c, int T) {
    const double C = c->hidden_size, QD = (double)c->num_heads * c->head_dim, KD = (double)c->num_kv_heads * c->head_dim;
    const double I = c->intermediate_size, V = c->vocab_size;
    // per layer: q, k, v, o projections + 3 MLP matmuls; attention scores and weighted sum over
    // (T+1)/2 keys on average (causal)
    const double per_layer = 2.0 * (C * QD + 2.0 * C * KD + QD * C + 3.0 * C * I)
                             + 2.0 * 2.0 * QD * (T + 1) / 2.0;
    return c->num_layers * per_layer + 2.0 * C * V;
}

const char *engine_cpu_hint(void) {
    const char *core = openblas_get_corename();
    const int weak_core = core && (!strcmp(core, "Prescott") || !strcmp(core, "Core2") || !strcmp(core, "Nehalem"));
    const char *wait = getenv("OMP_WAIT_POLICY");
    const int spin = !wait || strcasecmp(wait, "passive") != 0;
#if defined(__x86_64__) && defined(__GNUC__)
    const int avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
#else
    const int avx512 = 0, avx2 = 0;
#endif
    if (weak_core && (avx512 || avx2))
        return avx512 ? "OpenBLAS picked its generic SSE3 sgemm kernel on an AVX-512 CPU: export OPENBLAS_CORETYPE=SkylakeX "
                        "(and OMP_WAIT_POLICY=passive) before starting, for several times faster training"
                      : "OpenBLAS picked its generic SSE3 sgemm kernel on an AVX2 CPU: export OPENBLAS_CORETYPE=Haswell "
                        "(and OMP_WAIT_POLICY=passive) before starting, for several times faster training";
    if (spin)
        return "OMP_WAIT_POLICY is not 'passive': spinning OpenMP threads compete with OpenBLAS's threads; "
               "export OMP_WAIT_POLICY=passive for faster CPU training";
    return NULL;
}
