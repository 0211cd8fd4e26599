// Device options (see common/engine/device.h).
#include "common/engine/device.h"

#include <string.h>

void device_opts_default(DeviceOpts *d) {
    d->kind = DEVICE_CPU;
    d->precision = PRECISION_FP32;
    d->mem_fraction = DEVICE_MEM_FRACTION_DEFAULT;
}

int device_kind_parse(const char *s, DeviceKind *out) {
    if (!strcmp(s, "cpu")) *out = DEVICE_CPU;
    else if (!strcmp(s, "cuda")) *out = DEVICE_CUDA;
    else return -1;
    return 0;
}

int device_precision_parse(const char *s, Precision *out) {
    if (!strcmp(s, "fp32")) *out = PRECISION_FP32;
    else if (!strcmp(s, "bf16")) *out = PRECISION_BF16;
    else return -1;
    return 0;
}

const char *device_kind_name(DeviceKind k) { return k == DEVICE_CUDA ? "cuda" : "cpu"; }
const char *device_precision_name(Precision p) { return p == PRECISION_BF16 ? "bf16" : "fp32"; }

int device_opts_validate(const DeviceOpts *d, const char *who, char *err, size_t errlen) {
    if (!(d->mem_fraction > 0.0 && d->mem_fraction <= 1.0))
        return rlvr_err(err, errlen, "%s: gpu memory fraction %g must be in (0, 1]", who, d->mem_fraction);
    if (d->kind == DEVICE_CPU && d->precision == PRECISION_BF16)
        return rlvr_err(err, errlen, "%s: precision bf16 needs device cuda (the CPU engine is fp32)", who);
    return 0;
}
