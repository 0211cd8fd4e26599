// Generation and scoring engines of the tools on the chosen device (see device_run.h).
#include "common/tools/device_run.h"

#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"
#ifdef RLVR_CUDA
#include "common/engine/cuda/cuda_gen_backend.h"
#include "common/engine/cuda/cuda_model.h"
#endif

int tool_gen_init(ToolGen *g, const Model *m, const DeviceOpts *d, int max_batch, int max_seq, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    if (device_opts_available(d, "generation", err, errlen) != 0) return -1;
    if (d->kind == DEVICE_CPU) {
        if (infer_init(&g->inf, m, max_batch, max_seq, err, errlen) != 0) return -1;
        g->have_inf = 1;
        infer_backend(&g->inf, &g->be);
        return 0;
    }
#ifdef RLVR_CUDA
    CudaGen *cg = mallocCheck(sizeof *cg);
    if (cuda_gen_init(cg, m, d, 0, max_batch, max_seq, err, errlen) != 0) {
        free(cg);
        return -1;
    }
    g->gpu = cg;
    g->be = cg->be;
    return 0;
#else
    return rlvr_err(err, errlen, "generation: device cuda: this build has no CUDA backend; rebuild with -DRLVR_CUDA=ON");
#endif
}

void tool_gen_free(ToolGen *g) {
    if (g->have_inf) infer_free(&g->inf);
#ifdef RLVR_CUDA
    if (g->gpu) cuda_gen_free(g->gpu);
#endif
    free(g->gpu);
    memset(g, 0, sizeof *g);
}

int tool_scorer_init(ToolScorer *s, const Model *m, const DeviceOpts *d, int max_seq, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->m = m;
    if (device_opts_available(d, "scoring", err, errlen) != 0) return -1;
    if (d->kind == DEVICE_CPU) {
        acts_init_eval(&s->acts, &m->cfg, 1, max_seq);
        s->have_acts = 1;
        return 0;
    }
#ifdef RLVR_CUDA
    CudaModel *cm = mallocCheck(sizeof *cm);
    CudaActs *ca = mallocCheck(sizeof *ca);
    if (d->precision == PRECISION_FP32) {   // the GPU-tested fp32 path; it dies with a hint when memory is short
        cuda_model_init(cm, m, 0, 0);
        cuda_acts_init(ca, &m->cfg, 1, max_seq);
    } else {
        CudaModelOpts o;
        cuda_model_opts_default(&o, m->num_params);
        o.train = 0;
        o.precision = CUDA_PREC_BF16;
        size_t free_b, total_b;
        cuda_set_device(o.device);
        cuda_mem_info(&free_b, &total_b);
        const size_t need = cuda_model_bytes_opts(&m->cfg, m->num_params, &o) + cuda_acts_bytes_opts(&m->cfg, &o, 1, max_seq, 1);
        if ((double)need > d->mem_fraction * (double)total_b) {
            free(cm); free(ca);
            return rlvr_err(err, errlen, "scoring: the model and the activations of %d positions need %.2f GiB, more than "
                            "--gpu-memory-fraction %.2f of the GPU's %.2f GiB; raise the fraction", max_seq,
                            need / 1073741824.0, d->mem_fraction, total_b / 1073741824.0);
        }
        cuda_model_init_opts(cm, m, &o);
        cuda_acts_init_opts(ca, cm, 1, max_seq, 1);
    }
    s->cm = cm;
    s->ca = ca;
    return 0;
#else
    return rlvr_err(err, errlen, "scoring: device cuda: this build has no CUDA backend; rebuild with -DRLVR_CUDA=ON");
#endif
}

void tool_scorer_run(ToolScorer *s, const int *tokens, int T, const int *targets, float temp, float *logp, float *ent, float *hn) {
#ifdef RLVR_CUDA
    if (s->cm) {
        cuda_model_forward(s->cm, s->ca, tokens, 1, T);
        cuda_model_head(s->cm, s->ca, targets, temp, logp, ent, hn, NULL);
        return;
    }
#endif
    model_forward(s->m, &s->acts, tokens, 1, T);
    model_head(s->m, &s->acts, targets, temp, logp, ent, hn, NULL);
}

void tool_scorer_free(ToolScorer *s) {
    if (s->have_acts) acts_free(&s->acts);
#ifdef RLVR_CUDA
    if (s->ca) cuda_acts_free(s->ca);
    if (s->cm) cuda_model_free(s->cm);
#endif
    free(s->ca);
    free(s->cm);
    memset(s, 0, sizeof *s);
}
