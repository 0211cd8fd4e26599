// AdamW, gradient clipping and the lr schedule. See optim.h for the exact formulas.
#include "common/engine/optim.h"

// Compiled with -fno-math-errno (common/engine/CMakeLists.txt): sqrtf's arguments are >= 0, and the errno
// path stops GCC from vectorising the AdamW loop.

#include <math.h>
#include <stdlib.h>

#include "common/core/check.h"

#include "common/engine/ops.h"  // PAR_WORTH

AdamWConfig adamw_default(void) {
    AdamWConfig c = {0.9f, 0.999f, 1e-8f, 0.01f};
    return c;
}

void adamw_update_scaled(float *restrict params, const float *restrict grads, float *restrict m, float *restrict v,
                  size_t n, const AdamWConfig *c, float lr, long step, float grad_scale) {
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    // Bias corrections in double, then the same operation order as torch's single-tensor AdamW
    // (step_size = lr / bc1; denom = sqrt(v) / sqrt(bc2) + eps) so fp32 results track it closely.
    const double bc1 = 1.0 - pow((double)b1, (double)step), bc2 = 1.0 - pow((double)b2, (double)step);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * c->weight_decay;
    #pragma omp parallel for simd schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) {
        const float g = grads[i] * grad_scale;  // exact when grad_scale == 1
        float p = params[i] * decay;
        const float mi = b1 * m[i] + (1.0f - b1) * g;
        const float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
        params[i] = p;
    }
}

void adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                  const AdamWConfig *c, float lr, long step) {
    adamw_update_scaled(params, grads, m, v, n, c, lr, step, 1.0f);
}

void model_adamw_step_scaled(Model *m, const AdamWConfig *c, float lr, long step, float grad_scale) {
    adamw_update_scaled(m->params, m->grads, m->adam_m, m->adam_v, m->num_params, c, lr, step, grad_scale);
}

void model_adamw_range(Model *m, const AdamWConfig *c, float lr, long step, size_t off, size_t n) {
    adamw_update_scaled(m->params + off, m->grads + off, m->adam_m + off, m->adam_v + off, n, c, lr, step, 1.0f);
}

void model_adamw_step(Model *m, const AdamWConfig *c, float lr, long step) {
    model_adamw_step_scaled(m, c, lr, step, 1.0f);
}

// One block's sum of squares. Not inlined: grad_sqnorm and grad_sqnorm_blocks run the same machine code,
// so their block sums agree bit for bit.
__attribute__((noinline)) static double sqnorm_block(const float *g, size_t n) {
    double s = 0.0;
    #pragma omp simd reduction(+:s)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

void grad_sqnorm_blocks(const float *g, size_t n, double *out) {
    const size_t nb = (n + GRAD_SQNORM_BLOCK - 1) / GRAD_SQNORM_BLOCK;
    #pragma omp parallel for schedule(static) if (nb > 8)
    for (size_t b = 0; b < nb; b++) {
        const size_t e = (b + 1) * GRAD_SQNORM_BLOCK < n ? (b + 1) * GRAD_SQNORM_BLOCK : n;
        out[b] = sqnorm_block(g + b * GRAD_SQNORM_BLOCK, e - b * GRAD_SQNORM_BLOCK);
    }
}

#define SQNORM_STACK_BLOCKS 64

double grad_sqnorm(const float *g, size_t n) {
    // Fixed-size blocks summed in block order: the result does not depend on the thread count, and a
    // ZeRO-1 shard of whole blocks reproduces it from the shards' block sums.
    const size_t nb = (n + GRAD_SQNORM_BLOCK - 1) / GRAD_SQNORM_BLOCK;
    double stack[SQNORM_STACK_BLOCKS];
    double *part = nb <= SQNORM_STACK_BLOCKS ? stack : mallocCheck(nb * sizeof(double));
    grad_sqnorm_blocks(g, n, part);
    double total = 0.0;
    for (size_t b = 0; b < nb; b++) total += part[b];
    if (part != stack) free(part);
    return total;
}

float clip_coef(double norm, float max_norm) {
    if (!isfinite(norm)) return 0.0f;
    if (max_norm <= 0.0f) return 1.0f;
    const double coef = (double)max_norm / (norm + 1e-6);
    return coef >= 1.0 ? 1.0f : (float)coef;
}

float grad_clip(float *g, size_t n, double norm, float max_norm) {
    const float f = clip_coef(norm, max_norm);
    if (f == 0.0f || f == 1.0f) return f;
    #pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) g[i] *= f;
    return f;
}

void grad_scale_range(float *g, size_t off, size_t n, float factor) {
    float *p = g + off;
    #pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) p[i] *= factor;
}

double model_grad_norm(const Model *m) { return sqrt(grad_sqnorm(m->grads, m->num_params)); }

double model_clip_grad_norm(Model *m, float max_norm) {
    const double norm = model_grad_norm(m);
    grad_clip(m->grads, m->num_params, norm, max_norm);
    return norm;
}

float lr_at(const LrSchedule *s, long step) {
    if (step < 0) step = 0;
    if (step < s->warmup_steps) return s->lr * (float)step / (float)s->warmup_steps;
    if (s->decay == LR_CONSTANT) return s->lr;
    const long span = s->total_steps - s->warmup_steps > 1 ? s->total_steps - s->warmup_steps : 1;
    double progress = (double)(step - s->warmup_steps) / (double)span;
    if (progress > 1.0) progress = 1.0;
    const double mn = s->min_lr_ratio;
    return (float)(s->lr * (mn + (1.0 - mn) * 0.5 * (1.0 + cos(M_PI * progress))));
}
