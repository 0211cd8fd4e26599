// Training forward / head / backward over full sequences. See forward.h.
#include "common/forward.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/ops.h"

// OpenBLAS's cblas.h pulls in <complex.h>, whose I macro would shadow our intermediate size.
#undef I

#ifdef _OPENMP
#include <omp.h>
#endif

// Logits chunk budget: rows * V stays under this many floats (16 MiB), but at least 1 row and at
// most 64 rows, enough for sgemm to run near peak while (rows, V) stays cache-friendly.
#define HEAD_CHUNK_FLOATS ((size_t)4 << 20)
#define HEAD_MAX_ROWS 64

typedef struct { size_t off; size_t n; } Slot;

// One description of every buffer, used by both acts_bytes and acts_init so they cannot disagree.
#define ACTS_FIELDS(X) \
    X(rope_cos, (size_t)maxT * (D / 2)) X(rope_sin, (size_t)maxT * (D / 2)) \
    X(resid, (size_t)(LS + 1) * N * C) X(ln1, (size_t)LS * N * C) X(ln1_rstd, (size_t)LS * N) \
    X(q, (size_t)LS * N * H * D) X(k, (size_t)LS * N * KV * D) X(v, (size_t)LS * N * KV * D) \
    X(att, (size_t)LS * maxB * H * maxT * maxT) X(atty, (size_t)LS * N * H * D) \
    X(resid_mid, (size_t)LS * N * C) X(ln2, (size_t)LS * N * C) X(ln2_rstd, (size_t)LS * N) \
    X(gate, (size_t)LS * N * I) X(up, (size_t)LS * N * I) X(mlp_h, (size_t)LS * N * I) \
    X(lnf, N * C) X(lnf_rstd, N) X(lse, N) X(logits, rows * V) \
    X(dresid, TR * N * C) X(dln, TR * N * C) X(dq, TR * N * H * D) X(dk, TR * N * KV * D) \
    X(dv, TR * N * KV * D) X(dbig, TR * N * (I > H * D ? I : H * D)) X(dgate, TR * N * I) X(dup, TR * N * I) \
    X(dscratch, TR * (size_t)nth * maxT)

static size_t head_rows_for(size_t V, size_t N) {
    size_t r = HEAD_CHUNK_FLOATS / V;
    if (r > HEAD_MAX_ROWS) r = HEAD_MAX_ROWS;
    if (r < 1) r = 1;
    if (r > N) r = N;
    return r;
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
    const size_t N = (size_t)maxB * maxT, rows = head_rows_for(V, N), nth = max_threads();
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
    const size_t N = (size_t)maxB * maxT, rows = head_rows_for((size_t)V, N);
    const size_t nth = (size_t)max_threads();
    const size_t TR = train ? 1 : 0, LS = train ? (size_t)L : 1;
    a->train = train;
    a->maxB = maxB; a->maxT = maxT;
    a->L = L; a->C = C; a->H = H; a->KV = KV; a->D = D; a->I = I; a->V = V;
    a->head_rows = rows;
    a->nthreads = (int)nth;
    a->tokens = mallocCheck(N * sizeof(int));
    a->targets = mallocCheck(N * sizeof(int));
#define ALLOC(name, count) a->name = mallocCheck((count) * sizeof(float));
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
    a->B = B; a->T = T; a->head_done = 0;
    const int L = a->L, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->I;
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

    for (size_t r0 = 0; r0 < N; r0 += a->head_rows) {
        const size_t rows = N - r0 < a->head_rows ? N - r0 : a->head_rows;
        // z = (lnf W^T) / temperature, (rows, V)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, V, C,
                    invT, a->lnf + r0 * C, C, w.lm_head, C, 0.0f, a->logits, V);
        #pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            const size_t n = r0 + r;
            const float *z = a->logits + r * V;
            float mx = -INFINITY;
            for (int j = 0; j < V; j++) mx = z[j] > mx ? z[j] : mx;
            // Sums in double: V can be 150k and these feed the entropy/proxy statistics directly.
            double se = 0.0, sez = 0.0, se2 = 0.0;
            for (int j = 0; j < V; j++) {
                const double e = exp((double)(z[j] - mx));
                se += e;
                sez += e * (double)(z[j] - mx);
                se2 += e * e;
            }
            const double lse_shift = log(se);  // lse - mx
            a->lse[n] = (float)(mx + lse_shift);
            const int tg = a->targets[n];
            logp[n] = tg >= 0 ? (float)((double)(z[tg] - mx) - lse_shift) : 0.0f;
            // H = lse - E_p[z] = log se - sez / se (both relative to mx)
            if (entropy) entropy[n] = (float)(lse_shift - sez / se);
            if (sumsq) sumsq[n] = (float)(se2 / (se * se));
            if (hnorm) {
                const float *hr = a->lnf + n * C;
                double s = 0.0;
                for (int c = 0; c < C; c++) s += (double)hr[c] * hr[c];
                hnorm[n] = (float)sqrt(s);
            }
        }
    }
    a->head_done = 1;
}

// ---- backward -------------------------------------------------------------------------------------

// dlnf = d(head)/d(lnf), dlm_head += ...: recompute each logits chunk, turn it into
// dz = dlogp * (onehot(target) - p) / temperature, then two GEMMs.
static void head_backward(const Model *m, Acts *a, const float *dlogp, float *dlnf, const ModelView *gw,
                          const ModelView *w) {
    (void)m;
    const int C = a->C, V = a->V;
    const size_t N = (size_t)a->B * a->T;
    const float invT = 1.0f / a->temperature;
    for (size_t r0 = 0; r0 < N; r0 += a->head_rows) {
        const size_t rows = N - r0 < a->head_rows ? N - r0 : a->head_rows;
        int any = 0;
        for (size_t r = 0; r < rows; r++) any |= dlogp[r0 + r] != 0.0f;
        memset(dlnf + r0 * C, 0, rows * C * sizeof(float));
        if (!any) continue;  // masked chunk (padding, prompts): nothing flows back
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, V, C,
                    invT, a->lnf + r0 * C, C, w->lm_head, C, 0.0f, a->logits, V);
        #pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            const size_t n = r0 + r;
            float *z = a->logits + r * V;
            const float g = dlogp[n] * invT, lse = a->lse[n];
            if (g == 0.0f) { memset(z, 0, (size_t)V * sizeof(float)); continue; }
            for (int j = 0; j < V; j++) z[j] = -g * expf(z[j] - lse);
            const int tg = a->targets[n];
            if (tg >= 0) z[tg] += g;
        }
        // dlnf (rows, C) = dz (rows, V) @ W (V, C); dW (V, C) += dz^T @ lnf
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, C, V,
                    1.0f, a->logits, V, w->lm_head, C, 0.0f, dlnf + r0 * C, C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, C, (int)rows,
                    1.0f, a->logits, V, a->lnf + r0 * C, C, 1.0f, gw->lm_head, C);
    }
}

void model_backward(Model *m, Acts *a, const float *dlogp) {
    if (!m->grads) die("model_backward: no gradient buffer; call model_alloc_train first");
    if (!a->train) die("model_backward: these activations were made by acts_init_eval (forward only); use acts_init");
    if (!a->head_done) die("model_backward: call model_head after model_forward before model_backward");
    const int B = a->B, T = a->T, L = a->L, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->I;
    const size_t N = (size_t)B * T;
    ModelView w, gw;
    model_view(m, m->params, &w);
    model_view(m, m->grads, &gw);

    // dln <- d/d(lnf); dresid = final RMSNorm backward (dresid is overwritten here, accumulated after)
    head_backward(m, a, dlogp, a->dln, &gw, &w);
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
