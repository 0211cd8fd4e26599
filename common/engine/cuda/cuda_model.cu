// The training engine on the GPU: the same sequence of ops as common/engine/forward.c, on device buffers.
// See cuda_model.h.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/cuda/cuda_common.cuh"

extern "C" {
#include "common/engine/cuda/cuda_model.h"
#include "common/engine/forward.h"
#include "common/engine/ops.h"
}

// Logits chunk: rows * V stays under 32M floats (128 MiB), at most 2048 rows (bigger GEMMs than the
// CPU's 64 rows: the GPU needs thousands of rows to be busy).
#define CUDA_HEAD_CHUNK_FLOATS ((size_t)32 << 20)
#define CUDA_HEAD_MAX_ROWS 2048

static size_t cuda_head_rows(size_t V, size_t N) {
    size_t r = CUDA_HEAD_CHUNK_FLOATS / V;
    if (r > CUDA_HEAD_MAX_ROWS) r = CUDA_HEAD_MAX_ROWS;
    if (r < 1) r = 1;
    if (r > N) r = N;
    return r;
}

// ---- model ----------------------------------------------------------------------------------------------

extern "C" void cuda_model_init(CudaModel *cm, const Model *m, int train, int allow_tf32) {
    memset(cm, 0, sizeof(*cm));
    cm->cx = cuda_ctx_create(allow_tf32);
    cm->cfg = m->cfg;
    cm->num_params = m->num_params;
    cm->train = train ? 1 : 0;
    const size_t bytes = m->num_params * sizeof(float);
    cm->params = (float *)cuda_malloc(bytes);
    cuda_upload(cm->params, m->params, bytes);
    // model_view only does pointer arithmetic on `base`, so it works on device addresses too.
    model_view(m, cm->params, &cm->w);
    if (cm->train) {
        cm->grads = (float *)cuda_malloc(bytes);
        cm->adam_m = (float *)cuda_malloc(bytes);
        cm->adam_v = (float *)cuda_malloc(bytes);
        if (m->grads) cuda_upload(cm->grads, m->grads, bytes); else cuda_zero(cm->grads, bytes);
        if (m->adam_m) cuda_upload(cm->adam_m, m->adam_m, bytes); else cuda_zero(cm->adam_m, bytes);
        if (m->adam_v) cuda_upload(cm->adam_v, m->adam_v, bytes); else cuda_zero(cm->adam_v, bytes);
        model_view(m, cm->grads, &cm->gw);
    }
    cuda_sync();
}

extern "C" void cuda_model_free(CudaModel *cm) {
    cuda_free(cm->params);
    cuda_free(cm->grads);
    cuda_free(cm->adam_m);
    cuda_free(cm->adam_v);
    cuda_ctx_destroy(cm->cx);
    memset(cm, 0, sizeof(*cm));
}

extern "C" void cuda_model_upload_params(CudaModel *cm, const Model *m) {
    if (m->num_params != cm->num_params)
        die("cuda_model_upload_params: host model has %zu parameters, the device model %zu (different config?)",
            m->num_params, cm->num_params);
    cuda_upload(cm->params, m->params, cm->num_params * sizeof(float));
}

extern "C" void cuda_model_download(const CudaModel *cm, Model *m) {
    if (m->num_params != cm->num_params)
        die("cuda_model_download: host model has %zu parameters, the device model %zu (different config?)",
            m->num_params, cm->num_params);
    const size_t bytes = cm->num_params * sizeof(float);
    cuda_download(m->params, cm->params, bytes);
    if (cm->train && m->grads) cuda_download(m->grads, cm->grads, bytes);
    if (cm->train && m->adam_m) cuda_download(m->adam_m, cm->adam_m, bytes);
    if (cm->train && m->adam_v) cuda_download(m->adam_v, cm->adam_v, bytes);
}

extern "C" void cuda_model_zero_grad(CudaModel *cm) {
    if (!cm->train) die("cuda_model_zero_grad: the device model was made with train = 0 (no gradients)");
    cuda_zero(cm->grads, cm->num_params * sizeof(float));
}

// ---- activations ----------------------------------------------------------------------------------------

// Every buffer of CudaActs as (name, float count), used by both cuda_acts_bytes and cuda_acts_init.
#define CUDA_ACTS_FIELDS(X) \
    X(rope_cos, (size_t)maxT * (D / 2)) X(rope_sin, (size_t)maxT * (D / 2)) \
    X(resid, (L + 1) * N * C) X(ln1, L * N * C) X(ln1_rstd, L * N) \
    X(q, L * N * H * D) X(k, L * N * KV * D) X(v, L * N * KV * D) \
    X(att, L * maxB * H * maxT * maxT) X(atty, L * N * H * D) \
    X(resid_mid, L * N * C) X(ln2, L * N * C) X(ln2_rstd, L * N) \
    X(gate, L * N * I) X(up, L * N * I) X(mlp_h, L * N * I) \
    X(lnf, N * C) X(lnf_rstd, N) X(lse, N) X(logits, rows * V) X(stats, 4 * N) X(dlogp, N) \
    X(dresid, N * C) X(dln, N * C) X(dq, N * H * D) X(dk, N * KV * D) X(dv, N * KV * D) \
    X(dbig, N * (I > H * D ? I : H * D)) X(dgate, N * I) X(dup, N * I) \
    X(att_scratch, cuda_attention_scratch_floats(maxB, maxT, (int)H, (int)KV, (int)D))

// 256-byte alignment for every buffer (coalescing, and what cuBLAS prefers).
static size_t align64(size_t nfloats) { return (nfloats + 63) & ~(size_t)63; }

#define CUDA_ACTS_DIMS(cfg, maxB, maxT) \
    const size_t L = (cfg)->num_layers, C = (cfg)->hidden_size, H = (cfg)->num_heads, KV = (cfg)->num_kv_heads, \
                 D = (cfg)->head_dim, I = (cfg)->intermediate_size, V = (cfg)->vocab_size; \
    const size_t N = (size_t)(maxB) * (maxT), rows = cuda_head_rows(V, N); \
    (void)L; (void)C; (void)H; (void)KV; (void)D; (void)I; (void)rows;

extern "C" size_t cuda_acts_bytes(const ModelConfig *cfg, int maxB, int maxT) {
    CUDA_ACTS_DIMS(cfg, maxB, maxT)
    size_t total = 2 * align64(N);  // tokens, targets (ints, same size as floats)
#define ADD(name, count) total += align64(count);
    CUDA_ACTS_FIELDS(ADD)
#undef ADD
    return total * sizeof(float);
}

extern "C" void cuda_acts_init(CudaActs *a, const ModelConfig *cfg, int maxB, int maxT) {
    if (maxB <= 0 || maxT <= 0) die("cuda_acts_init: batch shape (%d, %d) must be positive", maxB, maxT);
    memset(a, 0, sizeof(*a));
    CUDA_ACTS_DIMS(cfg, maxB, maxT)
    a->maxB = maxB; a->maxT = maxT;
    a->L = (int)L; a->C = (int)C; a->H = (int)H; a->KV = (int)KV; a->D = (int)D; a->I = (int)I; a->V = (int)V;
    a->head_rows = rows;
    a->slab_bytes = cuda_acts_bytes(cfg, maxB, maxT);
    a->slab = cuda_malloc(a->slab_bytes);
    float *p = (float *)a->slab;
    a->tokens = (int *)p; p += align64(N);
    a->targets = (int *)p; p += align64(N);
#define CARVE(name, count) a->name = p; p += align64(count);
    CUDA_ACTS_FIELDS(CARVE)
#undef CARVE
    a->dlogp_host = (float *)mallocCheck(N * sizeof(float));
    // Same tables as the CPU engine (rope_tables on the host), uploaded once.
    float *cs = (float *)mallocCheck(2 * (size_t)maxT * (D / 2) * sizeof(float));
    rope_tables(cs, cs + (size_t)maxT * (D / 2), maxT, (int)D, cfg->rope_theta);
    cuda_upload(a->rope_cos, cs, (size_t)maxT * (D / 2) * sizeof(float));
    cuda_upload(a->rope_sin, cs + (size_t)maxT * (D / 2), (size_t)maxT * (D / 2) * sizeof(float));
    free(cs);
}

extern "C" void cuda_acts_free(CudaActs *a) {
    cuda_free(a->slab);
    free(a->dlogp_host);
    memset(a, 0, sizeof(*a));
}

// ---- forward --------------------------------------------------------------------------------------------

extern "C" void cuda_model_forward(const CudaModel *cm, CudaActs *a, const int *tokens, int B, int T) {
    if (B <= 0 || T <= 0 || B > a->maxB || T > a->maxT)
        die("cuda_model_forward: batch (%d, %d) exceeds the activations' capacity (%d, %d)", B, T, a->maxB, a->maxT);
    char err[256];
    if (model_check_tokens(&cm->cfg, tokens, (size_t)B * T, err, sizeof(err)) != 0) die("cuda_model_forward: %s", err);
    a->B = B; a->T = T; a->head_done = 0;
    const int L = a->L, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->I;
    const size_t N = (size_t)B * T;
    const float eps = cm->cfg.rms_norm_eps;
    CudaCtx *cx = cm->cx;
    const ModelView *w = &cm->w;
    cuda_upload(a->tokens, tokens, N * sizeof(int));

    cuda_embedding_forward(a->resid, a->tokens, w->embed_tokens, N, C);
    for (int l = 0; l < L; l++) {
        const LayerView *lw = &w->layers[l];
        float *x = a->resid + (size_t)l * N * C;                 // (N, C)
        float *ln1 = a->ln1 + (size_t)l * N * C;                 // (N, C)
        float *q = a->q + (size_t)l * N * H * D;                 // (N, H*D)
        float *k = a->k + (size_t)l * N * KV * D;                // (N, KV*D)
        float *v = a->v + (size_t)l * N * KV * D;                // (N, KV*D)
        float *att = a->att + (size_t)l * B * H * T * T;         // (B, H, T, T)
        float *atty = a->atty + (size_t)l * N * H * D;           // (N, H*D)
        float *mid = a->resid_mid + (size_t)l * N * C;           // (N, C)
        float *ln2 = a->ln2 + (size_t)l * N * C;                 // (N, C)
        float *gate = a->gate + (size_t)l * N * I, *up = a->up + (size_t)l * N * I;  // (N, I)
        float *h = a->mlp_h + (size_t)l * N * I;                 // (N, I)
        float *xout = a->resid + (size_t)(l + 1) * N * C;        // (N, C)

        cuda_rmsnorm_forward(ln1, a->ln1_rstd + (size_t)l * N, x, lw->input_layernorm, N, C, eps);
        cuda_linear_forward(cx, q, ln1, lw->q_proj, lw->q_bias, N, C, H * D);
        cuda_linear_forward(cx, k, ln1, lw->k_proj, lw->k_bias, N, C, KV * D);
        cuda_linear_forward(cx, v, ln1, lw->v_proj, lw->v_bias, N, C, KV * D);
        cuda_rope_forward(q, a->rope_cos, a->rope_sin, B, T, H, D);
        cuda_rope_forward(k, a->rope_cos, a->rope_sin, B, T, KV, D);
        cuda_attention_forward(cx, atty, att, q, k, v, a->att_scratch, B, T, H, KV, D);
        cuda_linear_forward(cx, mid, atty, lw->o_proj, NULL, N, H * D, C);
        cuda_residual_forward(mid, mid, x, N * C);
        cuda_rmsnorm_forward(ln2, a->ln2_rstd + (size_t)l * N, mid, lw->post_attention_layernorm, N, C, eps);
        cuda_linear_forward(cx, gate, ln2, lw->gate_proj, NULL, N, C, I);
        cuda_linear_forward(cx, up, ln2, lw->up_proj, NULL, N, C, I);
        cuda_swiglu_forward(h, gate, up, N * I);
        cuda_linear_forward(cx, xout, h, lw->down_proj, NULL, N, I, C);
        cuda_residual_forward(xout, xout, mid, N * C);
    }
    cuda_rmsnorm_forward(a->lnf, a->lnf_rstd, a->resid + (size_t)L * N * C, w->norm, N, C, eps);
}

// ---- head -----------------------------------------------------------------------------------------------

extern "C" void cuda_model_head(const CudaModel *cm, CudaActs *a, const int *targets, float temperature,
                                float *logp, float *entropy, float *hnorm, float *sumsq) {
    if (!(temperature > 0.0f)) die("cuda_model_head: temperature %g must be > 0", (double)temperature);
    const int V = a->V;
    const size_t N = (size_t)a->B * a->T;
    int *tg = (int *)mallocCheck(N * sizeof(int));
    for (size_t n = 0; n < N; n++) tg[n] = (targets[n] >= 0 && targets[n] < V) ? targets[n] : -1;
    cuda_upload(a->targets, tg, N * sizeof(int));
    free(tg);
    a->temperature = temperature;
    float *d_logp = a->stats, *d_ent = a->stats + N, *d_hn = a->stats + 2 * N, *d_ss = a->stats + 3 * N;
    cuda_head_forward(cm->cx, d_logp, entropy ? d_ent : NULL, hnorm ? d_hn : NULL, sumsq ? d_ss : NULL, a->lse,
                      a->logits, a->head_rows, a->lnf, cm->w.lm_head, a->targets, N, a->C, V, temperature);
    cuda_download(logp, d_logp, N * sizeof(float));
    if (entropy) cuda_download(entropy, d_ent, N * sizeof(float));
    if (hnorm) cuda_download(hnorm, d_hn, N * sizeof(float));
    if (sumsq) cuda_download(sumsq, d_ss, N * sizeof(float));
    a->head_done = 1;
}

// ---- backward -------------------------------------------------------------------------------------------

extern "C" void cuda_model_backward(CudaModel *cm, CudaActs *a, const float *dlogp) {
    if (!cm->train) die("cuda_model_backward: the device model was made with train = 0; pass train = 1 to cuda_model_init");
    if (!a->head_done) die("cuda_model_backward: call cuda_model_head after cuda_model_forward before cuda_model_backward");
    const int B = a->B, T = a->T, L = a->L, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->I;
    const size_t N = (size_t)B * T;
    CudaCtx *cx = cm->cx;
    const ModelView *w = &cm->w;
    ModelView *gw = &cm->gw;
    memcpy(a->dlogp_host, dlogp, N * sizeof(float));
    cuda_upload(a->dlogp, dlogp, N * sizeof(float));

    cuda_head_backward(cx, a->dln, gw->lm_head, a->dlogp, a->dlogp_host, a->lnf, w->lm_head, a->targets, a->lse,
                       a->logits, a->head_rows, N, C, a->V, a->temperature);
    cuda_zero(a->dresid, N * C * sizeof(float));
    cuda_rmsnorm_backward(a->dresid, gw->norm, a->dln, a->resid + (size_t)L * N * C, w->norm, a->lnf_rstd, N, C);

    for (int l = L - 1; l >= 0; l--) {
        const LayerView *lw = &w->layers[l];
        LayerView *lg = &gw->layers[l];
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

        // MLP branch; dresid also flows straight through the residual to mid.
        float *dh = a->dbig;                                       // (N, I)
        cuda_zero(dh, N * I * sizeof(float));
        cuda_linear_backward(cx, dh, lg->down_proj, NULL, a->dresid, h, lw->down_proj, N, I, C);
        cuda_swiglu_backward(a->dgate, a->dup, dh, gate, up, N * I);
        cuda_zero(a->dln, N * C * sizeof(float));
        cuda_linear_backward(cx, a->dln, lg->gate_proj, NULL, a->dgate, ln2, lw->gate_proj, N, C, I);
        cuda_linear_backward(cx, a->dln, lg->up_proj, NULL, a->dup, ln2, lw->up_proj, N, C, I);
        cuda_rmsnorm_backward(a->dresid, lg->post_attention_layernorm, a->dln, mid, lw->post_attention_layernorm,
                              a->ln2_rstd + (size_t)l * N, N, C);

        // attention branch
        float *datty = a->dbig;                                    // (N, H*D)
        cuda_zero(datty, N * H * D * sizeof(float));
        cuda_linear_backward(cx, datty, lg->o_proj, NULL, a->dresid, atty, lw->o_proj, N, H * D, C);
        cuda_zero(a->dq, N * H * D * sizeof(float));
        cuda_zero(a->dk, N * KV * D * sizeof(float));
        cuda_zero(a->dv, N * KV * D * sizeof(float));
        cuda_attention_backward(cx, a->dq, a->dk, a->dv, datty, att, q, k, v, a->att_scratch, B, T, H, KV, D);
        cuda_rope_backward(a->dq, a->rope_cos, a->rope_sin, B, T, H, D);
        cuda_rope_backward(a->dk, a->rope_cos, a->rope_sin, B, T, KV, D);
        cuda_zero(a->dln, N * C * sizeof(float));
        cuda_linear_backward(cx, a->dln, lg->q_proj, lg->q_bias, a->dq, ln1, lw->q_proj, N, C, H * D);
        cuda_linear_backward(cx, a->dln, lg->k_proj, lg->k_bias, a->dk, ln1, lw->k_proj, N, C, KV * D);
        cuda_linear_backward(cx, a->dln, lg->v_proj, lg->v_bias, a->dv, ln1, lw->v_proj, N, C, KV * D);
        cuda_rmsnorm_backward(a->dresid, lg->input_layernorm, a->dln, x, lw->input_layernorm,
                              a->ln1_rstd + (size_t)l * N, N, C);
    }
    cuda_embedding_backward(gw->embed_tokens, a->dresid, a->tokens, N, C);
}

// ---- optimizer ------------------------------------------------------------------------------------------

extern "C" void cuda_model_adamw_step(CudaModel *cm, const AdamWConfig *c, float lr, long step) {
    if (!cm->train) die("cuda_model_adamw_step: the device model was made with train = 0 (no optimizer state)");
    cuda_adamw_update(cm->params, cm->grads, cm->adam_m, cm->adam_v, cm->num_params, c->beta1, c->beta2, c->eps,
                      c->weight_decay, lr, step);
}

extern "C" double cuda_model_clip_grad_norm(CudaModel *cm, float max_norm) {
    if (!cm->train) die("cuda_model_clip_grad_norm: the device model was made with train = 0 (no gradients)");
    const double norm = sqrt(cuda_grad_sqnorm(cm->grads, cm->num_params));
    cuda_grad_clip(cm->grads, cm->num_params, norm, max_norm);
    return norm;
}
