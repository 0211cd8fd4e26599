// AdamW (torch.optim.AdamW semantics), global gradient-norm clipping and the learning-rate schedule.
//
// Weight decay is decoupled and applied to EVERY parameter (norm weights and biases included), as
// torch.optim.AdamW over model.parameters() does in verl. The update for step t (1-based):
//     p -= lr * wd * p
//     m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//     p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The raw functions work on any slice (a ZeRO shard, one tensor), the model ones on the whole buffer.
#pragma once
#include <stddef.h>

#include "common/engine/model.h"

typedef struct {
    float beta1, beta2, eps, weight_decay;
} AdamWConfig;

// betas 0.9 / 0.999, eps 1e-8, weight decay 0.01 (torch defaults).
AdamWConfig adamw_default(void);

// One AdamW step over n floats; step is the 1-based step count used for bias correction.
void adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                  const AdamWConfig *c, float lr, long step);
// Same, with the gradient taken as grads[i] * grad_scale: pass clip_coef(norm, max_norm) to clip
// without a separate pass over the gradients (bit-identical to grad_clip + adamw_update).
// The arrays must not overlap.
void adamw_update_scaled(float *params, const float *grads, float *m, float *v, size_t n,
                         const AdamWConfig *c, float lr, long step, float grad_scale);
// Over the whole model (params, grads, adam_m, adam_v).
void model_adamw_step(Model *m, const AdamWConfig *c, float lr, long step);
void model_adamw_step_scaled(Model *m, const AdamWConfig *c, float lr, long step, float grad_scale);
// The same on [off, off + n) of the model's buffers (a ZeRO-1 shard): elementwise, so the union of the
// ranges' updates is bit-identical to model_adamw_step.
void model_adamw_range(Model *m, const AdamWConfig *c, float lr, long step, size_t off, size_t n);

// Sum of squares of g (n), accumulated in double: the sums of GRAD_SQNORM_BLOCK-float blocks, added in
// block order (whatever the thread count).
#define GRAD_SQNORM_BLOCK ((size_t)4096)
double grad_sqnorm(const float *g, size_t n);
// The block sums grad_sqnorm adds: out (ceil(n / GRAD_SQNORM_BLOCK)). A shard starting on a block
// boundary gives the same sums for its blocks as the whole buffer does.
void grad_sqnorm_blocks(const float *g, size_t n, double *out);
// The clipping factor of torch's clip_grad_norm_ for an already-reduced global L2 norm:
// max_norm / (norm + 1e-6) when that is < 1, else 1 (and 1 when max_norm <= 0). A non-finite norm
// gives 0: the caller should skip the step (verl does).
float clip_coef(double norm, float max_norm);
// Scales g in place by clip_coef(norm, max_norm) (unless 0 or 1) and returns the factor.
float grad_clip(float *g, size_t n, double norm, float max_norm);
// g[off, off + n) *= factor (grad_clip's multiply on a range).
void grad_scale_range(float *g, size_t off, size_t n, float factor);
// Global L2 norm of m->grads.
double model_grad_norm(const Model *m);
// Global norm of m->grads, clipped in place; returns the pre-clip norm. max_norm <= 0: no clipping.
double model_clip_grad_norm(Model *m, float max_norm);

typedef enum { LR_CONSTANT = 0, LR_COSINE = 1 } LrDecay;
typedef struct {
    float lr;            // peak learning rate
    long warmup_steps;   // linear warm-up length (0: none)
    long total_steps;    // cosine horizon (warm-up included); ignored for LR_CONSTANT
    LrDecay decay;
    float min_lr_ratio;  // cosine floor as a fraction of lr (verl's min_lr_ratio)
} LrSchedule;

// Learning rate for optimizer step `step` (0-based: the lr used by the first update is
// lr_at(s, 0)), matching verl / HF LambdaLR schedules:
//   step < warmup: lr * step / warmup            (so the very first warm-up step uses lr 0)
//   constant:      lr
//   cosine:        lr * (min + (1 - min) * 0.5 * (1 + cos(pi * progress))),
//                  progress = (step - warmup) / max(1, total - warmup), clamped to [0, 1]
float lr_at(const LrSchedule *s, long step);
