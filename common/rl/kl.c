// KL penalty estimators against a frozen reference policy (verl's kl_penalty), with their derivatives.
#include "common/rl/algo.h"

#include <math.h>
#include <string.h>

int kl_type_parse(const char *s, KlType *out) {
    if (!s) return -1;
    if (!strcmp(s, "k1") || !strcmp(s, "kl")) { *out = KL_K1; return 0; }
    if (!strcmp(s, "abs")) { *out = KL_ABS; return 0; }
    if (!strcmp(s, "k2") || !strcmp(s, "mse")) { *out = KL_K2; return 0; }
    if (!strcmp(s, "k3") || !strcmp(s, "low_var_kl")) { *out = KL_K3; return 0; }
    return -1;
}

const char *kl_type_name(KlType k) {
    switch (k) {
    case KL_K1: return "k1";
    case KL_ABS: return "abs";
    case KL_K2: return "k2";
    case KL_K3: return "k3";
    }
    return "?";
}

// k3's two clamps (verl): the log-ratio to [-20, 20] so exp cannot overflow, the estimate to [-10, 10]
// so a single token cannot dominate the loss. Both pass no gradient when active.
#define K3_LOGRATIO_CLAMP 20.0
#define K3_VALUE_CLAMP 10.0

void kl_penalty(const float *logp, const float *ref, const float *mask, size_t n, KlType k, float *kl, float *dkl) {
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0.0f) {
            kl[i] = 0.0f;
            if (dkl) dkl[i] = 0.0f;
            continue;
        }
        double d = (double)logp[i] - (double)ref[i];
        double v, g;
        switch (k) {
        case KL_K1: v = d; g = 1.0; break;
        case KL_ABS: v = fabs(d); g = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0); break;
        case KL_K2: v = 0.5 * d * d; g = d; break;
        case KL_K3: default: {
            double x = -d;   // ref - logp
            int in_range = x >= -K3_LOGRATIO_CLAMP && x <= K3_LOGRATIO_CLAMP;
            if (x < -K3_LOGRATIO_CLAMP) x = -K3_LOGRATIO_CLAMP;
            if (x > K3_LOGRATIO_CLAMP) x = K3_LOGRATIO_CLAMP;
            double e = exp(x);
            v = e - x - 1.0;
            g = in_range ? 1.0 - e : 0.0;   // d/dlogp (e^x - x - 1) with dx/dlogp = -1
            if (v > K3_VALUE_CLAMP) { v = K3_VALUE_CLAMP; g = 0.0; }
            if (v < -K3_VALUE_CLAMP) { v = -K3_VALUE_CLAMP; g = 0.0; }
            break;
        }
        }
        kl[i] = (float)v;
        if (dkl) dkl[i] = (float)g;
    }
}
