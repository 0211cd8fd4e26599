// The training engine on the GPU: the same sequence of ops as common/engine/forward.c, on device buffers,
// in fp32 (matching the CPU engine) or bf16 mixed precision, with optional activation recompute, flash
// attention and a ZeRO-1 optimizer shard. See cuda_model.h.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/cuda/cuda_common.cuh"

extern "C" {
#include "common/core/bf16.h"
#include "common/engine/cuda/cuda_model.h"
#include "common/engine/forward.h"
#include "common/engine/memplan.h"
#include "common/engine/ops.h"
}

// Host staging for bf16 <-> fp32 conversions of weights (elements per chunk: 32 MiB of fp32).
#define STAGE_ELEMS ((size_t)8 << 20)

static size_t align_bytes(size_t b) { return (b + MEMPLAN_ALIGN - 1) / MEMPLAN_ALIGN * MEMPLAN_ALIGN; }
static int model_bf16(const CudaModel *cm) { return cm->opts.precision == CUDA_PREC_BF16; }

// ModelView is a struct of float pointers only; a view made on the host parameter buffer becomes one on
// a device buffer of elem-byte elements by moving every pointer by its element offset.
static_assert(sizeof(ModelView) % sizeof(float *) == 0, "ModelView must hold pointers only");
static void view_rebase(ModelView *v, const float *from, void *to, size_t elem) {
    float **p = (float **)(void *)v;
    for (size_t i = 0; i < sizeof(ModelView) / sizeof(float *); i++)
        if (p[i]) p[i] = (float *)(void *)((char *)to + (size_t)(p[i] - from) * elem);
}

// bf16 device weights [off, off + n) from host fp32 (bf16_from_f32, chunked through a host buffer).
static void upload_bf16_from_f32(void *dst, const float *src, size_t n) {
    uint16_t *stage = (uint16_t *)mallocCheck((n < STAGE_ELEMS ? n : STAGE_ELEMS) * sizeof(uint16_t) + 1);
    for (size_t i0 = 0; i0 < n; i0 += STAGE_ELEMS) {
        const size_t k = n - i0 < STAGE_ELEMS ? n - i0 : STAGE_ELEMS;
        for (size_t i = 0; i < k; i++) stage[i] = bf16_from_f32(src[i0 + i]);
        cuda_upload((uint16_t *)dst + i0, stage, k * sizeof(uint16_t));
    }
    free(stage);
}

// ---- phase timing (cuda_model_profile) ------------------------------------------------------------------

typedef struct { int phase; cudaEvent_t start, stop; } ProfMark;
static int g_prof_on;
static ProfMark *g_marks;
static size_t g_nmarks, g_cap_marks;

extern "C" void cuda_model_profile(int on) { g_prof_on = on; }

// Opens a timed span of `phase` on the default stream; returns its index (or -1 when timing is off).
static long prof_begin(int phase) {
    if (!g_prof_on) return -1;
    if (g_nmarks == g_cap_marks) {
        const size_t cap = g_cap_marks ? 2 * g_cap_marks : 256;
        g_marks = (ProfMark *)reallocCheck(g_marks, cap * sizeof(ProfMark));
        for (size_t i = g_cap_marks; i < cap; i++) {
            cudaCheck(cudaEventCreate(&g_marks[i].start));
            cudaCheck(cudaEventCreate(&g_marks[i].stop));
        }
        g_cap_marks = cap;
    }
    g_marks[g_nmarks].phase = phase;
    cudaCheck(cudaEventRecord(g_marks[g_nmarks].start, 0));
    return (long)g_nmarks++;
}

static void prof_end(long mark) {
    if (mark >= 0) cudaCheck(cudaEventRecord(g_marks[mark].stop, 0));
}

extern "C" void cuda_model_profile_take(double *ms) {
    for (int p = 0; p < CUDA_PHASES; p++) ms[p] = 0.0;
    cudaCheck(cudaDeviceSynchronize());
    for (size_t i = 0; i < g_nmarks; i++) {
        float t = 0.0f;
        cudaCheck(cudaEventElapsedTime(&t, g_marks[i].start, g_marks[i].stop));
        ms[g_marks[i].phase] += t;
    }
    g_nmarks = 0;
}

// The layers' GEMMs through the timing spans.
template <typename T>
static void lin_fwd(CudaCtx *cx, T *out, const T *x, const T *Wt, const T *b, size_t N, int IC, int OC) {
    const long mk = prof_begin(CUDA_PHASE_GEMM);
    op_linear_forward<T>(cx, out, x, Wt, b, N, IC, OC);
    prof_end(mk);
}
template <typename T>
static void lin_bwd(CudaCtx *cx, T *dx, float beta_dx, float *dW, float *db, const T *dout, const T *x, const T *Wt,
                    size_t N, int IC, int OC) {
    const long mk = prof_begin(CUDA_PHASE_GEMM);
    op_linear_backward<T>(cx, dx, beta_dx, dW, db, dout, x, Wt, N, IC, OC);
    prof_end(mk);
}

// ---- model ----------------------------------------------------------------------------------------------

extern "C" void cuda_model_opts_default(CudaModelOpts *o, size_t num_params) {
    memset(o, 0, sizeof(*o));
    o->train = 1;
    o->precision = CUDA_PREC_FP32;
    o->flash = 1;
    o->opt_off = 0;
    o->opt_len = num_params;
    o->capacity = num_params;
    o->device = 0;
}

// The options with defaults filled in (capacity 0 = num_params), or death naming the bad field.
static CudaModelOpts opts_checked(const CudaModelOpts *o, size_t P) {
    CudaModelOpts r = *o;
    if (r.capacity == 0) r.capacity = P;
    if (r.precision != CUDA_PREC_FP32 && r.precision != CUDA_PREC_BF16)
        die("cuda_model_init_opts: precision %d is neither CUDA_PREC_FP32 nor CUDA_PREC_BF16", (int)r.precision);
    if (r.precision == CUDA_PREC_BF16 && !r.flash)
        die("cuda_model_init_opts: bf16 needs flash attention (opts.flash = 1); the cuBLAS attention path is fp32 only");
    if (r.train && (r.opt_off > P || r.opt_len > P - r.opt_off))
        die("cuda_model_init_opts: optimizer shard [%zu, %zu) is outside the %zu parameters (memplan_zero_shard gives it)",
            r.opt_off, r.opt_off + r.opt_len, P);
    if (r.capacity < P)
        die("cuda_model_init_opts: capacity %zu < num_params %zu (memplan_zero_shard gives the padded capacity)",
            r.capacity, P);
    if (!r.train) r.opt_off = r.opt_len = 0;
    return r;
}

extern "C" size_t cuda_model_bytes_opts(const ModelConfig *cfg, size_t num_params, const CudaModelOpts *o) {
    (void)cfg;
    const CudaModelOpts r = opts_checked(o, num_params);
    const int bf16w = r.precision == CUDA_PREC_BF16;
    size_t total = align_bytes(num_params * (bf16w ? 2 : 4));
    if (r.train) {
        if (bf16w) total += align_bytes(r.opt_len * sizeof(float));            // master shard
        total += align_bytes(r.capacity * sizeof(float));                       // grads
        total += 2 * align_bytes(r.opt_len * sizeof(float));                    // Adam m, v
    }
    return total;
}

extern "C" void cuda_model_init_opts(CudaModel *cm, const Model *m, const CudaModelOpts *o) {
    if (cuda_device_count() == 0)
        die("cuda_model_init: no CUDA device: run on a GPU machine or build with -DRLVR_CUDA=OFF");
    const size_t P = m->num_params;
    const CudaModelOpts r = opts_checked(o, P);
    cuda_set_device(r.device);
    memset(cm, 0, sizeof(*cm));
    cm->opts = r;
    cm->cx = cuda_ctx_create(r.precision == CUDA_PREC_FP32 && r.allow_tf32);
    cm->cfg = m->cfg;
    cm->num_params = P;
    cm->train = r.train ? 1 : 0;
    if (r.precision == CUDA_PREC_FP32) {
        cm->params = (float *)cuda_malloc(align_bytes(P * sizeof(float)));
        cuda_upload(cm->params, m->params, P * sizeof(float));
        // model_view only does pointer arithmetic on `base`, so it works on device addresses too.
        model_view(m, cm->params, &cm->w);
        cm->wc = cm->w;
    } else {
        cm->wb = cuda_malloc(align_bytes(P * sizeof(uint16_t)));
        model_view(m, m->params, &cm->wc);
        view_rebase(&cm->wc, m->params, cm->wb, sizeof(uint16_t));
        if (cm->train) {
            // The fp32 weights pass through the gradient buffer (>= num_params floats, zeroed below) and
            // are rounded on the device: one upload, no host conversion of billions of floats.
            cm->params = (float *)cuda_malloc(align_bytes(r.opt_len * sizeof(float)));
            cm->grads = (float *)cuda_malloc(align_bytes(r.capacity * sizeof(float)));
            cuda_upload(cm->grads, m->params, P * sizeof(float));
            op_to_bf16((bf16 *)cm->wb, cm->grads, P);
            cudaCheck(cudaMemcpy(cm->params, cm->grads + r.opt_off, r.opt_len * sizeof(float), cudaMemcpyDeviceToDevice));
        } else {
            upload_bf16_from_f32(cm->wb, m->params, P);
        }
    }
    if (cm->train) {
        if (!cm->grads) cm->grads = (float *)cuda_malloc(align_bytes(r.capacity * sizeof(float)));
        cuda_zero(cm->grads, r.capacity * sizeof(float));
        if (m->grads) cuda_upload(cm->grads, m->grads, P * sizeof(float));
        const size_t ob = r.opt_len * sizeof(float);
        cm->adam_m = (float *)cuda_malloc(align_bytes(ob));
        cm->adam_v = (float *)cuda_malloc(align_bytes(ob));
        if (m->adam_m) cuda_upload(cm->adam_m, m->adam_m + r.opt_off, ob); else cuda_zero(cm->adam_m, ob);
        if (m->adam_v) cuda_upload(cm->adam_v, m->adam_v + r.opt_off, ob); else cuda_zero(cm->adam_v, ob);
        model_view(m, cm->grads, &cm->gw);
    }
    cuda_sync();
}

extern "C" void cuda_model_init(CudaModel *cm, const Model *m, int train, int allow_tf32) {
    CudaModelOpts o;
    cuda_model_opts_default(&o, m->num_params);
    o.train = train ? 1 : 0;
    o.allow_tf32 = allow_tf32;
    o.flash = 0;  // the activations of cuda_acts_init (the cuBLAS attention); unused by the model itself
    if (cuda_device_count() > 0) o.device = cuda_get_device();  // keep the caller's device
    cuda_model_init_opts(cm, m, &o);
}

extern "C" void cuda_model_free(CudaModel *cm) {
    cuda_free(cm->params);
    cuda_free(cm->wb);
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
    if (!model_bf16(cm)) {
        cuda_upload(cm->params, m->params, cm->num_params * sizeof(float));
        return;
    }
    upload_bf16_from_f32(cm->wb, m->params, cm->num_params);
    if (cm->params) cuda_upload(cm->params, m->params + cm->opts.opt_off, cm->opts.opt_len * sizeof(float));
}

extern "C" void cuda_model_download(const CudaModel *cm, Model *m) {
    if (m->num_params != cm->num_params)
        die("cuda_model_download: host model has %zu parameters, the device model %zu (different config?)",
            m->num_params, cm->num_params);
    cuda_model_download_params(cm, m->params, 0, cm->num_params);
    if (!cm->train) return;
    if (m->grads) cuda_download(m->grads, cm->grads, cm->num_params * sizeof(float));
    const size_t off = cm->opts.opt_off, ob = cm->opts.opt_len * sizeof(float);
    if (m->adam_m) cuda_download(m->adam_m + off, cm->adam_m, ob);
    if (m->adam_v) cuda_download(m->adam_v + off, cm->adam_v, ob);
}

extern "C" void cuda_model_zero_grad(CudaModel *cm) {
    if (!cm->train) die("cuda_model_zero_grad: the device model was made with train = 0 (no gradients)");
    cuda_zero(cm->grads, cm->opts.capacity * sizeof(float));
}

// ---- activations ----------------------------------------------------------------------------------------

static void plan_opts(MemPlanOpts *mo, int bf16a, int recompute, int flash, int eval, int maxB, int maxT) {
    memset(mo, 0, sizeof(*mo));
    mo->precision = bf16a ? MEMPLAN_BF16 : MEMPLAN_FP32;
    mo->recompute = recompute;
    mo->flash = flash;
    mo->eval = eval;
    mo->zero_stage = 0;
    mo->nranks = 1;
    mo->micro_batch = maxB;
    mo->seq_len = maxT;
}

extern "C" size_t cuda_acts_bytes_opts(const ModelConfig *cfg, const CudaModelOpts *o, int maxB, int maxT, int eval) {
    MemPlanOpts mo;
    plan_opts(&mo, o->precision == CUDA_PREC_BF16, o->recompute, o->flash, eval, maxB, maxT);
    return memplan_acts_bytes(cfg, &mo);
}

extern "C" size_t cuda_acts_bytes(const ModelConfig *cfg, int maxB, int maxT) {
    MemPlanOpts mo;
    plan_opts(&mo, 0, 0, 0, 0, maxB, maxT);
    return memplan_acts_bytes(cfg, &mo);
}

// Carves the slab field by field from MEMPLAN_ACTS_FIELDS, so the allocation is the plan.
static void acts_init_layout(CudaActs *a, const ModelConfig *cfg, int bf16a, int recompute, int flash, int eval,
                             int maxB, int maxT) {
    if (maxB <= 0 || maxT <= 0) die("cuda_acts_init: batch shape (%d, %d) must be positive", maxB, maxT);
    if (bf16a && !flash) die("cuda_acts_init: bf16 activations need flash attention (the cuBLAS attention is fp32 only)");
    memset(a, 0, sizeof(*a));
    MemPlanOpts mo;
    plan_opts(&mo, bf16a, recompute, flash, eval, maxB, maxT);
    const MemPlanOpts *o = &mo;
    MEMPLAN_ACTS_DIMS(cfg, o)
    a->maxB = maxB; a->maxT = maxT;
    a->bf16 = bf16a; a->recompute = recompute; a->eval = eval; a->flash = flash;
    a->act_bytes = A;
    a->L = (int)L; a->C = (int)C; a->H = (int)H; a->KV = (int)KV; a->D = (int)D; a->I = (int)I; a->V = (int)V;
    a->head_rows = ROWS;
    a->slab_bytes = memplan_acts_bytes(cfg, o);
    a->slab = cuda_malloc(a->slab_bytes);
    char *p = (char *)a->slab;
    size_t scratch_count = 0;
#define CARVE(name, count, elem)                                                        \
    {                                                                                   \
        const size_t cnt_ = (size_t)(count);                                           \
        a->name = cnt_ > 0 ? (decltype(a->name))(void *)p : NULL;                      \
        p += align_bytes(cnt_ * (size_t)(elem));                                        \
        if (!strcmp(#name, "att_scratch")) scratch_count = cnt_;                        \
    }
    MEMPLAN_ACTS_FIELDS(CARVE)
#undef CARVE
    if ((size_t)(p - (char *)a->slab) != a->slab_bytes)
        die("cuda_acts_init: carved %zu bytes of a %zu-byte slab (memplan.h out of step; bug)",
            (size_t)(p - (char *)a->slab), a->slab_bytes);
    if (flash && !eval && cuda_flash_scratch_floats(maxB, maxT, (int)H, (int)KV, (int)D) > scratch_count)
        die("cuda_acts_init: flash attention wants %zu scratch floats, memplan.h's att_scratch holds %zu: update "
            "MEMPLAN_ACTS_FIELDS", cuda_flash_scratch_floats(maxB, maxT, (int)H, (int)KV, (int)D), scratch_count);
    a->dlogp_host = (float *)mallocCheck(2 * N * sizeof(float));
    a->dent_host = a->dlogp_host + N;
    a->tokens_host = (int *)mallocCheck(N * sizeof(int));
    a->index_host = (int *)mallocCheck((5 * N + 1) * sizeof(int));
    // Same tables as the CPU engine (rope_tables on the host), uploaded once.
    float *cs = (float *)mallocCheck(2 * (size_t)maxT * (D / 2) * sizeof(float));
    rope_tables(cs, cs + (size_t)maxT * (D / 2), maxT, (int)D, cfg->rope_theta);
    cuda_upload(a->rope_cos, cs, (size_t)maxT * (D / 2) * sizeof(float));
    cuda_upload(a->rope_sin, cs + (size_t)maxT * (D / 2), (size_t)maxT * (D / 2) * sizeof(float));
    free(cs);
}

extern "C" void cuda_acts_init(CudaActs *a, const ModelConfig *cfg, int maxB, int maxT) {
    acts_init_layout(a, cfg, 0, 0, 0, 0, maxB, maxT);
}

extern "C" void cuda_acts_init_opts(CudaActs *a, const CudaModel *cm, int maxB, int maxT, int eval) {
    acts_init_layout(a, &cm->cfg, model_bf16(cm), cm->opts.recompute, cm->opts.flash, eval ? 1 : 0, maxB, maxT);
}

extern "C" void cuda_acts_free(CudaActs *a) {
    cuda_free(a->slab);
    free(a->dlogp_host);
    free(a->tokens_host);
    free(a->index_host);
    memset(a, 0, sizeof(*a));
}

// ---- buffer addressing ------------------------------------------------------------------------------------

// Element `slot * per` of an activation buffer of type T.
template <typename T> static T *act(void *base, size_t slot, size_t per) {
    return (T *)base + slot * per;
}
static size_t layer_slot(const CudaActs *a, int l) { return (a->recompute || a->eval) ? 0 : (size_t)l; }
// Residual stream slot holding the input of layer l (l = L: the final one); eval keeps two, in turn.
static size_t resid_slot(const CudaActs *a, int l) { return a->eval ? (size_t)(l & 1) : (size_t)l; }
template <typename T> static const T *W(const float *p) { return (const T *)(const void *)p; }

// Attention through flash (fp32 or bf16) or the cuBLAS full-matrix path (fp32 only), by overload.
static void attn_forward(CudaCtx *cx, const CudaActs *a, size_t ls, float *out, const float *q, const float *k,
                         const float *v) {
    const int B = a->B, T = a->T;
    if (a->flash)
        cuda_flash_attention_forward(out, a->att_lse + ls * B * a->H * T, q, k, v, B, T, a->H, a->KV, a->D);
    else
        cuda_attention_forward(cx, out, a->att + ls * B * a->H * T * T, q, k, v, a->att_scratch, B, T, a->H, a->KV,
                               a->D);
}
static void attn_forward(CudaCtx *, const CudaActs *a, size_t ls, bf16 *out, const bf16 *q, const bf16 *k,
                         const bf16 *v) {
    const int B = a->B, T = a->T;
    cuda_flash_attention_forward_bf16(out, a->att_lse + ls * B * a->H * T, q, k, v, B, T, a->H, a->KV, a->D);
}
// dq, dk, dv <- d(attention) (overwritten: the fp32 ops accumulate, so they are zeroed first).
static void attn_backward(CudaCtx *cx, const CudaActs *a, size_t ls, float *dq, float *dk, float *dv,
                          const float *dout, const float *out, const float *q, const float *k, const float *v) {
    const int B = a->B, T = a->T, H = a->H, KV = a->KV, D = a->D;
    const size_t N = (size_t)B * T;
    cuda_zero(dq, N * H * D * sizeof(float));
    cuda_zero(dk, N * KV * D * sizeof(float));
    cuda_zero(dv, N * KV * D * sizeof(float));
    if (a->flash)
        cuda_flash_attention_backward(dq, dk, dv, dout, out, a->att_lse + ls * B * H * T, q, k, v, a->att_scratch, B,
                                      T, H, KV, D);
    else
        cuda_attention_backward(cx, dq, dk, dv, dout, a->att + ls * B * H * T * T, q, k, v, a->att_scratch, B, T, H,
                                KV, D);
}
static void attn_backward(CudaCtx *, const CudaActs *a, size_t ls, bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout,
                          const bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v) {
    const int B = a->B, T = a->T;
    cuda_flash_attention_backward_bf16(dq, dk, dv, dout, out, a->att_lse + ls * B * a->H * T, q, k, v, a->att_scratch,
                                       B, T, a->H, a->KV, a->D);
}

// The residual-stream gradient (fp32) as an operand of type T: itself in fp32, a bf16 copy in scratch.
static const float *grad_operand(const float *dresid, float *, size_t) { return dresid; }
static const bf16 *grad_operand(const float *dresid, bf16 *scratch, size_t n) {
    op_to_bf16(scratch, dresid, n);
    return scratch;
}

// ---- forward --------------------------------------------------------------------------------------------

// Layer l's forward from its residual input into its buffers (slot layer_slot); full = 0 stops after the
// SwiGLU (the recompute of the backward needs nothing later, and the layer's output is kept already).
template <typename T> static void layer_forward(const CudaModel *cm, CudaActs *a, int l, int full) {
    const int B = a->B, Tn = a->T, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->I;
    const size_t N = (size_t)B * Tn, ls = layer_slot(a, l);
    const float eps = cm->cfg.rms_norm_eps;
    CudaCtx *cx = cm->cx;
    const LayerView *lw = &cm->wc.layers[l];
    const T *x = act<T>(a->resid, resid_slot(a, l), N * C);        // (N, C)
    T *ln1 = act<T>(a->ln1, ls, N * C);                            // (N, C)
    float *r1 = a->ln1_rstd + ls * N;                              // (N)
    T *q = act<T>(a->q, ls, N * H * D);                            // (N, H*D)
    T *k = act<T>(a->k, ls, N * KV * D);                           // (N, KV*D)
    T *v = act<T>(a->v, ls, N * KV * D);                           // (N, KV*D)
    T *atty = act<T>(a->atty, ls, N * H * D);                      // (N, H*D)
    T *mid = act<T>(a->resid_mid, ls, N * C);                      // (N, C)
    T *ln2 = act<T>(a->ln2, ls, N * C);                            // (N, C)
    float *r2 = a->ln2_rstd + ls * N;                              // (N)
    T *gate = act<T>(a->gate, ls, N * I), *up = act<T>(a->up, ls, N * I); // (N, I)
    T *h = act<T>(a->mlp_h, ls, N * I);                            // (N, I)

    op_rmsnorm_forward<T>(ln1, r1, x, W<T>(lw->input_layernorm), N, C, eps);
    lin_fwd<T>(cx, q, ln1, W<T>(lw->q_proj), W<T>(lw->q_bias), N, C, H * D);
    lin_fwd<T>(cx, k, ln1, W<T>(lw->k_proj), W<T>(lw->k_bias), N, C, KV * D);
    lin_fwd<T>(cx, v, ln1, W<T>(lw->v_proj), W<T>(lw->v_bias), N, C, KV * D);
    op_rope<T>(q, a->rope_cos, a->rope_sin, B, Tn, H, D, 1.0f);
    op_rope<T>(k, a->rope_cos, a->rope_sin, B, Tn, KV, D, 1.0f);
    long mk = prof_begin(CUDA_PHASE_ATTENTION);
    attn_forward(cx, a, ls, atty, q, k, v);
    prof_end(mk);
    lin_fwd<T>(cx, mid, atty, W<T>(lw->o_proj), (const T *)NULL, N, H * D, C);
    op_residual_forward<T>(mid, mid, x, N * C);
    op_rmsnorm_forward<T>(ln2, r2, mid, W<T>(lw->post_attention_layernorm), N, C, eps);
    lin_fwd<T>(cx, gate, ln2, W<T>(lw->gate_proj), (const T *)NULL, N, C, I);
    lin_fwd<T>(cx, up, ln2, W<T>(lw->up_proj), (const T *)NULL, N, C, I);
    op_swiglu_forward<T>(h, gate, up, N * I);
    if (!full) return;
    T *xout = act<T>(a->resid, resid_slot(a, l + 1), N * C);       // (N, C)
    lin_fwd<T>(cx, xout, h, W<T>(lw->down_proj), (const T *)NULL, N, I, C);
    op_residual_forward<T>(xout, xout, mid, N * C);
}

template <typename T> static void forward_t(const CudaModel *cm, CudaActs *a) {
    const size_t N = (size_t)a->B * a->T;
    const int C = a->C, L = a->L;
    op_embedding_forward<T>(act<T>(a->resid, 0, 0), a->tokens, W<T>(cm->wc.embed_tokens), N, C);
    for (int l = 0; l < L; l++) layer_forward<T>(cm, a, l, 1);
    op_rmsnorm_forward<T>((T *)(void *)a->lnf, a->lnf_rstd, act<T>(a->resid, resid_slot(a, L), N * C),
                          W<T>(cm->wc.norm), N, C, cm->cfg.rms_norm_eps);
}

static void check_pair(const CudaModel *cm, const CudaActs *a, const char *fn) {
    if (a->bf16 != model_bf16(cm))
        die("%s: the activations are %s but the model is %s: make them with cuda_acts_init_opts(&acts, &model, ...)",
            fn, a->bf16 ? "bf16" : "fp32", model_bf16(cm) ? "bf16" : "fp32");
}

extern "C" void cuda_model_forward(const CudaModel *cm, CudaActs *a, const int *tokens, int B, int T) {
    if (B <= 0 || T <= 0 || B > a->maxB || T > a->maxT)
        die("cuda_model_forward: batch (%d, %d) exceeds the activations' capacity (%d, %d)", B, T, a->maxB, a->maxT);
    check_pair(cm, a, "cuda_model_forward");
    char err[256];
    if (model_check_tokens(&cm->cfg, tokens, (size_t)B * T, err, sizeof(err)) != 0) die("cuda_model_forward: %s", err);
    a->B = B; a->T = T; a->head_done = 0;
    const size_t N = (size_t)B * T;
    memcpy(a->tokens_host, tokens, N * sizeof(int));
    cuda_upload(a->tokens, tokens, N * sizeof(int));
    if (a->bf16) forward_t<bf16>(cm, a); else forward_t<float>(cm, a);
}

// ---- head -----------------------------------------------------------------------------------------------

extern "C" void cuda_model_head(const CudaModel *cm, CudaActs *a, const int *targets, float temperature,
                                float *logp, float *entropy, float *hnorm, float *sumsq) {
    if (!(temperature > 0.0f)) die("cuda_model_head: temperature %g must be > 0", (double)temperature);
    check_pair(cm, a, "cuda_model_head");
    const int V = a->V;
    const size_t N = (size_t)a->B * a->T;
    int *tg = (int *)mallocCheck(N * sizeof(int));
    for (size_t n = 0; n < N; n++) tg[n] = (targets[n] >= 0 && targets[n] < V) ? targets[n] : -1;
    cuda_upload(a->targets, tg, N * sizeof(int));
    free(tg);
    a->temperature = temperature;
    // The entropy is always made: the entropy-bonus backward reads it.
    float *d_logp = a->stats, *d_ent = a->stats + N, *d_hn = a->stats + 2 * N, *d_ss = a->stats + 3 * N;
    const long mk = prof_begin(CUDA_PHASE_HEAD);
    if (a->bf16)
        op_head_forward<bf16>(cm->cx, d_logp, d_ent, hnorm ? d_hn : NULL, sumsq ? d_ss : NULL, a->lse, a->logits,
                              a->head_rows, (const bf16 *)(void *)a->lnf, W<bf16>(cm->wc.lm_head), a->targets, N, a->C,
                              V, temperature);
    else
        op_head_forward<float>(cm->cx, d_logp, d_ent, hnorm ? d_hn : NULL, sumsq ? d_ss : NULL, a->lse, a->logits,
                               a->head_rows, a->lnf, cm->wc.lm_head, a->targets, N, a->C, V, temperature);
    prof_end(mk);
    cuda_download(logp, d_logp, N * sizeof(float));
    if (entropy) cuda_download(entropy, d_ent, N * sizeof(float));
    if (hnorm) cuda_download(hnorm, d_hn, N * sizeof(float));
    if (sumsq) cuda_download(sumsq, d_ss, N * sizeof(float));
    a->head_done = 1;
}

// ---- backward -------------------------------------------------------------------------------------------

static int cmp_pair(const void *x, const void *y) {
    const int *p = (const int *)x, *q = (const int *)y;
    return p[0] != q[0] ? (p[0] < q[0] ? -1 : 1) : (p[1] < q[1] ? -1 : p[1] > q[1]);
}

// Positions grouped by token on the host (uniq (U) | start (U+1) | pos (N) in emb_index), so that the
// embedding gradient sums each token's rows in position order on the device.
static int embedding_index(CudaActs *a, size_t N) {
    int *pairs = a->index_host + 3 * N + 1;  // (N, 2): (token, position), after the index (3 N + 1)
    for (size_t n = 0; n < N; n++) { pairs[2 * n] = a->tokens_host[n]; pairs[2 * n + 1] = (int)n; }
    qsort(pairs, N, 2 * sizeof(int), cmp_pair);
    int *uniq = a->index_host;
    int U = 0;
    for (size_t i = 0; i < N; i++)
        if (i == 0 || pairs[2 * i] != pairs[2 * (i - 1)]) uniq[U++] = pairs[2 * i];
    int *start = uniq + U, *pos = start + U + 1;
    int u = 0;
    for (size_t i = 0; i < N; i++) {
        if (i == 0 || pairs[2 * i] != pairs[2 * (i - 1)]) start[u++] = (int)i;
        pos[i] = pairs[2 * i + 1];
    }
    start[U] = (int)N;
    cuda_upload(a->emb_index, a->index_host, (2 * (size_t)U + 1 + N) * sizeof(int));
    return U;
}

template <typename T> static void backward_t(CudaModel *cm, CudaActs *a, int with_ent) {
    const int B = a->B, Tn = a->T, L = a->L, C = a->C, H = a->H, KV = a->KV, D = a->D, I = a->I;
    const size_t N = (size_t)B * Tn;
    CudaCtx *cx = cm->cx;
    const ModelView *w = &cm->wc;
    ModelView *gw = &cm->gw;
    T *dln = (T *)(void *)a->dln, *dbig = (T *)(void *)a->dbig;
    T *dgate = (T *)(void *)a->dgate, *dup = (T *)(void *)a->dup;
    T *dq = (T *)(void *)a->dq, *dk = (T *)(void *)a->dk, *dv = (T *)(void *)a->dv;

    const long mh = prof_begin(CUDA_PHASE_HEAD);
    op_head_backward<T>(cx, dln, gw->lm_head, a->dlogp, a->dlogp_host, with_ent ? a->dent : NULL,
                        with_ent ? a->dent_host : NULL, a->stats + N, (const T *)(void *)a->lnf, W<T>(w->lm_head),
                        a->targets, a->lse, a->logits, (bf16 *)a->logits16, a->head_rows, N, C, a->V, a->temperature);
    prof_end(mh);
    cuda_zero(a->dresid, N * C * sizeof(float));
    op_rmsnorm_backward<T>(a->dresid, gw->norm, dln, act<T>(a->resid, resid_slot(a, L), N * C), W<T>(w->norm),
                           a->lnf_rstd, N, C);

    for (int l = L - 1; l >= 0; l--) {
        // Recompute: layer L-1's buffers still hold its forward; the others are rebuilt from their input.
        if (a->recompute && l != L - 1) layer_forward<T>(cm, a, l, 0);
        const LayerView *lw = &w->layers[l];
        LayerView *lg = &gw->layers[l];
        const size_t ls = layer_slot(a, l);
        const T *x = act<T>(a->resid, resid_slot(a, l), N * C);
        const T *ln1 = act<T>(a->ln1, ls, N * C);
        const T *q = act<T>(a->q, ls, N * H * D);
        const T *k = act<T>(a->k, ls, N * KV * D);
        const T *v = act<T>(a->v, ls, N * KV * D);
        const T *atty = act<T>(a->atty, ls, N * H * D);
        const T *mid = act<T>(a->resid_mid, ls, N * C);
        const T *ln2 = act<T>(a->ln2, ls, N * C);
        const T *gate = act<T>(a->gate, ls, N * I), *up = act<T>(a->up, ls, N * I);
        const T *h = act<T>(a->mlp_h, ls, N * I);

        // MLP branch; dresid also flows straight through the residual to mid.
        const T *dres = grad_operand(a->dresid, dln, N * C);
        T *dh = dbig;                                              // (N, I)
        lin_bwd<T>(cx, dh, 0.0f, lg->down_proj, NULL, dres, h, W<T>(lw->down_proj), N, I, C);
        op_swiglu_backward<T>(dgate, dup, dh, gate, up, N * I);
        lin_bwd<T>(cx, dln, 0.0f, lg->gate_proj, NULL, dgate, ln2, W<T>(lw->gate_proj), N, C, I);
        lin_bwd<T>(cx, dln, 1.0f, lg->up_proj, NULL, dup, ln2, W<T>(lw->up_proj), N, C, I);
        op_rmsnorm_backward<T>(a->dresid, lg->post_attention_layernorm, dln, mid, W<T>(lw->post_attention_layernorm),
                               a->ln2_rstd + ls * N, N, C);

        // attention branch
        dres = grad_operand(a->dresid, dln, N * C);
        T *datty = dbig;                                           // (N, H*D)
        lin_bwd<T>(cx, datty, 0.0f, lg->o_proj, NULL, dres, atty, W<T>(lw->o_proj), N, H * D, C);
        long mk = prof_begin(CUDA_PHASE_ATTENTION);
        attn_backward(cx, a, ls, dq, dk, dv, datty, atty, q, k, v);
        prof_end(mk);
        op_rope<T>(dq, a->rope_cos, a->rope_sin, B, Tn, H, D, -1.0f);
        op_rope<T>(dk, a->rope_cos, a->rope_sin, B, Tn, KV, D, -1.0f);
        lin_bwd<T>(cx, dln, 0.0f, lg->q_proj, lg->q_bias, dq, ln1, W<T>(lw->q_proj), N, C, H * D);
        lin_bwd<T>(cx, dln, 1.0f, lg->k_proj, lg->k_bias, dk, ln1, W<T>(lw->k_proj), N, C, KV * D);
        lin_bwd<T>(cx, dln, 1.0f, lg->v_proj, lg->v_bias, dv, ln1, W<T>(lw->v_proj), N, C, KV * D);
        op_rmsnorm_backward<T>(a->dresid, lg->input_layernorm, dln, x, W<T>(lw->input_layernorm),
                               a->ln1_rstd + ls * N, N, C);
    }
    const int U = embedding_index(a, N);
    const int *uniq = a->emb_index, *start = uniq + U, *pos = start + U + 1;
    op_embedding_backward_sorted(gw->embed_tokens, a->dresid, uniq, start, pos, U, C);
}

extern "C" void cuda_model_backward_ent(CudaModel *cm, CudaActs *a, const float *dlogp, const float *dent) {
    if (!cm->train) die("cuda_model_backward: the device model was made with train = 0; pass train = 1 to cuda_model_init");
    if (a->eval)
        die("cuda_model_backward: these activations were made for eval (forward + head only); make them with eval = 0");
    if (!a->head_done) die("cuda_model_backward: call cuda_model_head after cuda_model_forward before cuda_model_backward");
    check_pair(cm, a, "cuda_model_backward");
    const size_t N = (size_t)a->B * a->T;
    memcpy(a->dlogp_host, dlogp, N * sizeof(float));
    cuda_upload(a->dlogp, dlogp, N * sizeof(float));
    if (dent) {
        memcpy(a->dent_host, dent, N * sizeof(float));
        cuda_upload(a->dent, dent, N * sizeof(float));
    }
    if (a->bf16) backward_t<bf16>(cm, a, dent != NULL); else backward_t<float>(cm, a, dent != NULL);
}

extern "C" void cuda_model_backward(CudaModel *cm, CudaActs *a, const float *dlogp) {
    cuda_model_backward_ent(cm, a, dlogp, NULL);
}

// ---- optimizer and ranges ---------------------------------------------------------------------------------

static void check_grad_range(const CudaModel *cm, size_t off, size_t n, const char *fn) {
    if (!cm->train) die("%s: the device model was made with train = 0 (no gradients)", fn);
    if (off > cm->opts.capacity || n > cm->opts.capacity - off)
        die("%s: range [%zu, %zu) outside the %zu-float gradient buffer", fn, off, off + n, cm->opts.capacity);
}

extern "C" double cuda_model_grad_sqnorm_range(const CudaModel *cm, size_t off, size_t n) {
    check_grad_range(cm, off, n, "cuda_model_grad_sqnorm_range");
    return cuda_grad_sqnorm(cm->grads + off, n);
}

extern "C" void cuda_model_scale_grads_range(CudaModel *cm, size_t off, size_t n, float factor) {
    check_grad_range(cm, off, n, "cuda_model_scale_grads_range");
    op_scale(cm->grads + off, n, factor);
}

extern "C" void cuda_model_adamw_range(CudaModel *cm, const AdamWConfig *c, float lr, long step, size_t off, size_t n) {
    if (!cm->train) die("cuda_model_adamw_range: the device model was made with train = 0 (no optimizer state)");
    const size_t o0 = cm->opts.opt_off, o1 = o0 + cm->opts.opt_len;
    if (off < o0 || off > o1 || n > o1 - off)
        die("cuda_model_adamw_range: range [%zu, %zu) is outside this rank's optimizer shard [%zu, %zu)", off, off + n,
            o0, o1);
    const size_t i = off - o0;  // into the shard's buffers
    const long mk = prof_begin(CUDA_PHASE_OPTIMIZER);
    if (model_bf16(cm))
        op_adamw(cm->params + i, (bf16 *)cm->wb + off, cm->grads + off, cm->adam_m + i, cm->adam_v + i, n, c->beta1,
                 c->beta2, c->eps, c->weight_decay, lr, step);
    else
        op_adamw(cm->params + off, NULL, cm->grads + off, cm->adam_m + i, cm->adam_v + i, n, c->beta1, c->beta2, c->eps,
                 c->weight_decay, lr, step);
    prof_end(mk);
}

extern "C" void cuda_model_adamw_step(CudaModel *cm, const AdamWConfig *c, float lr, long step) {
    if (!cm->train) die("cuda_model_adamw_step: the device model was made with train = 0 (no optimizer state)");
    cuda_model_adamw_range(cm, c, lr, step, cm->opts.opt_off, cm->opts.opt_len);
}

extern "C" double cuda_model_clip_grad_norm(CudaModel *cm, float max_norm) {
    if (!cm->train) die("cuda_model_clip_grad_norm: the device model was made with train = 0 (no gradients)");
    const long mk = prof_begin(CUDA_PHASE_OPTIMIZER);
    const double norm = sqrt(cuda_grad_sqnorm(cm->grads, cm->num_params));
    cuda_grad_clip(cm->grads, cm->num_params, norm, max_norm);
    prof_end(mk);
    return norm;
}

// ---- weights and optimizer state in and out -----------------------------------------------------------------

extern "C" void *cuda_model_weights(const CudaModel *cm) { return model_bf16(cm) ? cm->wb : (void *)cm->params; }

extern "C" size_t cuda_model_weight_bytes(const CudaModel *cm) {
    return cm->num_params * (model_bf16(cm) ? sizeof(uint16_t) : sizeof(float));
}

extern "C" float *cuda_model_grads(const CudaModel *cm) { return cm->grads; }

static void check_param_range(const CudaModel *cm, size_t off, size_t n, const char *fn) {
    if (off > cm->num_params || n > cm->num_params - off)
        die("%s: range [%zu, %zu) outside the %zu parameters", fn, off, off + n, cm->num_params);
}

// bf16 device weights [off, off + n) widened into host fp32 (f32_from_bf16).
static void download_widened(const CudaModel *cm, float *host, size_t off, size_t n) {
    uint16_t *stage = (uint16_t *)mallocCheck((n < STAGE_ELEMS ? n : STAGE_ELEMS) * sizeof(uint16_t) + 1);
    for (size_t i0 = 0; i0 < n; i0 += STAGE_ELEMS) {
        const size_t k = n - i0 < STAGE_ELEMS ? n - i0 : STAGE_ELEMS;
        cuda_download(stage, (const uint16_t *)cm->wb + off + i0, k * sizeof(uint16_t));
        for (size_t i = 0; i < k; i++) host[i0 + i] = f32_from_bf16(stage[i]);
    }
    free(stage);
}

extern "C" void cuda_model_download_params(const CudaModel *cm, float *host, size_t off, size_t n) {
    check_param_range(cm, off, n, "cuda_model_download_params");
    if (!model_bf16(cm)) {
        cuda_download(host, cm->params + off, n * sizeof(float));
        return;
    }
    // [off, off + n) = widened bf16 | master (the part inside the shard, when any) | widened bf16
    const size_t end = off + n;
    size_t m0 = cm->opts.opt_off, m1 = m0 + cm->opts.opt_len;
    if (!cm->params || m1 <= off || m0 >= end) m0 = m1 = end;
    if (m0 < off) m0 = off;
    if (m1 > end) m1 = end;
    if (m0 > off) download_widened(cm, host, off, m0 - off);
    if (m1 > m0) cuda_download(host + (m0 - off), cm->params + (m0 - cm->opts.opt_off), (m1 - m0) * sizeof(float));
    if (end > m1) download_widened(cm, host + (m1 - off), m1, end - m1);
}

extern "C" void cuda_model_download_weights_bf16(const CudaModel *cm, uint16_t *host, size_t off, size_t n) {
    check_param_range(cm, off, n, "cuda_model_download_weights_bf16");
    if (model_bf16(cm)) {
        cuda_download(host, (const uint16_t *)cm->wb + off, n * sizeof(uint16_t));
        return;
    }
    float *stage = (float *)mallocCheck((n < STAGE_ELEMS ? n : STAGE_ELEMS) * sizeof(float) + 1);
    for (size_t i0 = 0; i0 < n; i0 += STAGE_ELEMS) {
        const size_t k = n - i0 < STAGE_ELEMS ? n - i0 : STAGE_ELEMS;
        cuda_download(stage, cm->params + off + i0, k * sizeof(float));
        for (size_t i = 0; i < k; i++) host[i0 + i] = bf16_from_f32(stage[i]);
    }
    free(stage);
}

extern "C" void cuda_model_download_opt(const CudaModel *cm, float *m_host, float *v_host, float *master_host) {
    if (!cm->train) die("cuda_model_download_opt: the device model was made with train = 0 (no optimizer state)");
    const size_t ob = cm->opts.opt_len * sizeof(float);
    if (m_host) cuda_download(m_host, cm->adam_m, ob);
    if (v_host) cuda_download(v_host, cm->adam_v, ob);
    if (master_host) cuda_download(master_host, model_bf16(cm) ? cm->params : cm->params + cm->opts.opt_off, ob);
}

extern "C" void cuda_model_upload_opt(CudaModel *cm, const float *m_host, const float *v_host, const float *master_host) {
    if (!cm->train) die("cuda_model_upload_opt: the device model was made with train = 0 (no optimizer state)");
    const size_t ob = cm->opts.opt_len * sizeof(float);
    if (m_host) cuda_upload(cm->adam_m, m_host, ob);
    if (v_host) cuda_upload(cm->adam_v, v_host, ob);
    if (!master_host) return;
    if (model_bf16(cm)) {
        cuda_upload(cm->params, master_host, ob);
        op_to_bf16((bf16 *)cm->wb + cm->opts.opt_off, cm->params, cm->opts.opt_len);  // the compute copy follows
    } else {
        cuda_upload(cm->params + cm->opts.opt_off, master_host, ob);
    }
    cuda_sync();
}
