// The learner's training engine; see engine.h. The CPU branch of every function is the call the
// trainer made before the seam existed, so CPU results are bit-identical to it.
#include "learner/engine.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

#ifdef RLVR_CUDA
#include "common/engine/cuda/cuda_model.h"
#define CM(e) ((CudaModel *)(e)->cm)
#define CA(e) ((CudaActs *)(e)->ca)
#endif

void engine_opts_from_config(EngineOpts *o, const char *device, const char *precision, int recompute, int flash,
                             int allow_tf32, size_t num_params, int maxB, int maxT) {
    memset(o, 0, sizeof *o);
    o->cuda = strcmp(device, "cuda") == 0;
    o->bf16 = strcmp(precision, "bf16") == 0;
    o->recompute = recompute;
    o->flash = flash;
    o->allow_tf32 = allow_tf32;
    o->opt_off = 0;
    o->opt_len = num_params;
    o->capacity = num_params;
    o->maxB = maxB;
    o->maxT = maxT;
}

int engine_init(Engine *e, Model *m, Model *ref, const EngineOpts *o, char *err, size_t errlen) {
    memset(e, 0, sizeof *e);
    e->o = *o;
    e->m = m;
    e->ref = ref;
    if (o->capacity < m->num_params || o->opt_off + o->opt_len > m->num_params)
        return rlvr_err(err, errlen, "engine: optimizer range [%zu, %zu) or capacity %zu does not fit %zu parameters",
                        o->opt_off, o->opt_off + o->opt_len, o->capacity, m->num_params);
    if (!o->cuda) {
        if (!o->eval_only && !m->grads)
            return rlvr_err(err, errlen, "engine: the model has no gradient buffer (model_alloc_train first)");
        acts_init(&e->acts, &m->cfg, o->maxB, o->maxT);
        return 0;
    }
#ifdef RLVR_CUDA
    CudaModelOpts co;
    cuda_model_opts_default(&co, m->num_params);
    co.train = !o->eval_only;
    co.precision = o->bf16 ? CUDA_PREC_BF16 : CUDA_PREC_FP32;
    co.allow_tf32 = o->allow_tf32;
    co.recompute = o->recompute;
    co.flash = o->flash;
    co.opt_off = o->opt_off;
    co.opt_len = o->opt_len;
    co.capacity = o->capacity;
    co.device = o->device;
    e->cm = mallocCheck(sizeof(CudaModel));
    cuda_model_init_opts(CM(e), m, &co);
    if (!o->eval_only) {
        e->ca = mallocCheck(sizeof(CudaActs));
        cuda_acts_init_opts(CA(e), CM(e), o->maxB, o->maxT, 0);
    }
    e->ca_eval = mallocCheck(sizeof(CudaActs));
    cuda_acts_init_opts((CudaActs *)e->ca_eval, CM(e), o->maxB, o->maxT, 1);
    if (ref) {
        // the reference never trains: weights only, same precision and attention as the policy
        CudaModelOpts ro = co;
        ro.train = 0;
        ro.opt_off = 0;
        ro.opt_len = 0;
        ro.capacity = 0;
        e->cref = mallocCheck(sizeof(CudaModel));
        cuda_model_init_opts((CudaModel *)e->cref, ref, &ro);
    }
    return 0;
#else
    return rlvr_err(err, errlen, "trainer.device = cuda but this build has no CUDA backend; rebuild with "
                    "launch/build.sh build -DRLVR_CUDA=ON (docs/cuda.md), or set trainer.device=cpu");
#endif
}

void engine_free(Engine *e) {
    if (!e->o.cuda) acts_free(&e->acts);
#ifdef RLVR_CUDA
    if (e->ca) { cuda_acts_free(CA(e)); free(e->ca); }
    if (e->ca_eval) { cuda_acts_free((CudaActs *)e->ca_eval); free(e->ca_eval); }
    if (e->cm) { cuda_model_free(CM(e)); free(e->cm); }
    if (e->cref) { cuda_model_free((CudaModel *)e->cref); free(e->cref); }
#endif
    memset(e, 0, sizeof *e);
}

void engine_forward_head(Engine *e, const int *tokens, const int *targets, int B, int T, float temperature,
                         float *logp, float *entropy) {
    if (!e->o.cuda) {
        model_forward(e->m, &e->acts, tokens, B, T);
        model_head(e->m, &e->acts, targets, temperature, logp, entropy, NULL, NULL);
        return;
    }
#ifdef RLVR_CUDA
    cuda_model_forward(CM(e), CA(e), tokens, B, T);
    cuda_model_head(CM(e), CA(e), targets, temperature, logp, entropy, NULL, NULL);
#endif
}

void engine_logp(Engine *e, int ref, const int *tokens, const int *targets, int B, int T, float temperature, float *logp) {
    if (ref && !e->ref) die("engine_logp: no reference policy (actor.use_kl_loss is off)");
    if (!e->o.cuda) {
        Model *m = ref ? e->ref : e->m;
        model_forward(m, &e->acts, tokens, B, T);
        model_head(m, &e->acts, targets, temperature, logp, NULL, NULL, NULL);
        return;
    }
#ifdef RLVR_CUDA
    // forward only: the eval slab keeps one layer, so pi_old / reference passes cost no activations
    const CudaModel *cm = ref ? (const CudaModel *)e->cref : CM(e);
    cuda_model_forward(cm, (CudaActs *)e->ca_eval, tokens, B, T);
    cuda_model_head(cm, (CudaActs *)e->ca_eval, targets, temperature, logp, NULL, NULL, NULL);
#endif
}

void engine_backward(Engine *e, const float *dlogp, const float *dent) {
    if (!e->o.cuda) { model_backward_ent(e->m, &e->acts, dlogp, dent); return; }
#ifdef RLVR_CUDA
    cuda_model_backward_ent(CM(e), CA(e), dlogp, dent);
#endif
}

void engine_zero_grads(Engine *e) {
    if (!e->o.cuda) { memset(e->m->grads, 0, e->m->num_params * sizeof(float)); return; }
#ifdef RLVR_CUDA
    cuda_model_zero_grad(CM(e));
#endif
}

float *engine_grads(const Engine *e) {
#ifdef RLVR_CUDA
    if (e->o.cuda) return cuda_model_grads(CM(e));
#endif
    return e->m->grads;
}

int engine_on_device(const Engine *e) { return e->o.cuda; }

double engine_grad_sqnorm(const Engine *e, size_t off, size_t n) {
#ifdef RLVR_CUDA
    if (e->o.cuda) return cuda_model_grad_sqnorm_range(CM(e), off, n);
#endif
    return grad_sqnorm(e->m->grads + off, n);
}

void engine_scale_grads(Engine *e, size_t off, size_t n, float factor) {
#ifdef RLVR_CUDA
    if (e->o.cuda) { cuda_model_scale_grads_range(CM(e), off, n, factor); return; }
#endif
    grad_scale_range(e->m->grads, off, n, factor);
}

void engine_adamw(Engine *e, const AdamWConfig *c, float lr, long step, size_t off, size_t n) {
    if (off < e->o.opt_off || off + n > e->o.opt_off + e->o.opt_len)
        die("engine_adamw: range [%zu, %zu) is outside this rank's optimizer range [%zu, %zu)", off, off + n, e->o.opt_off,
            e->o.opt_off + e->o.opt_len);
#ifdef RLVR_CUDA
    if (e->o.cuda) { cuda_model_adamw_range(CM(e), c, lr, step, off, n); return; }
#endif
    model_adamw_range(e->m, c, lr, step, off, n);
}

void *engine_weights(const Engine *e, size_t *elem_bytes) {
#ifdef RLVR_CUDA
    if (e->o.cuda) {
        *elem_bytes = cuda_model_weight_bytes(CM(e)) / e->m->num_params;
        return cuda_model_weights(CM(e));
    }
#endif
    *elem_bytes = sizeof(float);
    return e->m->params;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
}

uint64_t engine_weights_checksum(const Engine *e) {
    size_t elem = 0;
    void *w = engine_weights(e, &elem);
    size_t bytes = elem * e->m->num_params;
    if (!engine_on_device(e)) return fnv1a(w, bytes);
    uint64_t h = 0;
#ifdef RLVR_CUDA
    uint8_t *host = mallocCheck(bytes ? bytes : 1);
    cuda_download(host, w, bytes);
    h = fnv1a(host, bytes);
    free(host);
#endif
    return h;
}

void engine_params_to_host(Engine *e) {
    if (!e->o.cuda) return;
#ifdef RLVR_CUDA
    cuda_model_download_params(CM(e), e->m->params, 0, e->m->num_params);
#endif
}

int engine_weights_bf16(Engine *e, uint16_t *host) {
    if (!e->o.cuda || !e->o.bf16) return -1;
#ifdef RLVR_CUDA
    cuda_model_download_weights_bf16(CM(e), host, 0, e->m->num_params);
    return 0;
#else
    (void)host;
    return -1;
#endif
}

void engine_state_to_host(Engine *e) {
    engine_params_to_host(e);
    if (!e->o.cuda || e->o.eval_only || !e->m->adam_m) return;
#ifdef RLVR_CUDA
    // the optimizer shard, shard-relative on both sides; bf16: the exact fp32 masters of the shard too
    size_t off = e->o.opt_off;
    cuda_model_download_opt(CM(e), e->m->adam_m + off, e->m->adam_v + off, e->o.bf16 ? e->m->params + off : NULL);
#endif
}
