// A CudaInfer behind the generation loop's backend seam (see cuda_gen_backend.h).
#include "common/engine/cuda/cuda_gen_backend.h"

#include <string.h>

#include "common/core/check.h"

// The scheduler's out_slots are not needed: the device draws from (seed, draw counter) alone.
static void gpu_step(void *ctx, int n, const int *slots, const int *pos, const int *tokens, int n_out,
                     const int *out_rows, const int *out_slots, const SamplerParams *sp, const uint64_t *seeds,
                     const uint64_t *draws, int *tok, float *logp, float *ent) {
    (void)out_slots;
    cuda_infer_step((CudaInfer *)ctx, n, slots, pos, tokens, n_out, out_rows, sp, seeds, draws, tok, logp, ent, NULL);
}

static void gpu_copy_prefix(void *ctx, int dst, int src, int len) { cuda_infer_copy_prefix((CudaInfer *)ctx, dst, src, len); }
static void gpu_reset_slot(void *ctx, int slot) { cuda_infer_reset_slot((CudaInfer *)ctx, slot); }

int cuda_gen_init(CudaGen *g, const Model *m, const DeviceOpts *d, int device, int max_batch, int max_seq,
                  char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    if (device_opts_validate(d, "cuda generation", err, errlen) != 0) return -1;
    if (d->kind != DEVICE_CUDA) return rlvr_err(err, errlen, "cuda generation: device is %s, not cuda", device_kind_name(d->kind));
    CudaInferOpts o;
    memset(&o, 0, sizeof o);
    o.precision = d->precision == PRECISION_BF16 ? CUDA_PREC_BF16 : CUDA_PREC_FP32;
    o.max_batch = max_batch;
    o.max_seq = max_seq;
    o.mem_fraction = d->mem_fraction;
    o.device = device;
    if (cuda_infer_init(&g->ci, m, &o, err, errlen) != 0) return -1;
    g->be.ctx = g->ci;
    g->be.max_batch = cuda_infer_max_batch(g->ci);
    g->be.max_seq = max_seq;
    g->be.vocab = m->cfg.vocab_size;
    g->be.step = gpu_step;
    g->be.copy_prefix = gpu_copy_prefix;
    g->be.reset_slot = gpu_reset_slot;
    return 0;
}

void cuda_gen_free(CudaGen *g) {
    if (g->ci) cuda_infer_free(g->ci);
    memset(g, 0, sizeof *g);
}

void cuda_gen_load_params(CudaGen *g, const float *params) { cuda_infer_load_params(g->ci, params); }
void cuda_gen_load_params_bf16(CudaGen *g, const uint16_t *params) { cuda_infer_load_params_bf16(g->ci, params); }
