// Where generation and scoring run: the device (cpu | cuda), the precision (fp32 | bf16) and, on a
// GPU, the fraction of its memory this process may take (several workers can share one GPU, each
// with its own fraction). Parsed the same way by the rollout program (rollout.device,
// rollout.precision, rollout.gpu_memory_fraction) and `rlvr eval / generate / score / analyze`
// (--device, --precision, --gpu-memory-fraction).
//
// The CPU engine is fp32 only. device_opts_available says why a CUDA request cannot be served: a
// build without the backend (rebuild with -DRLVR_CUDA=ON) or no visible device (CUDA_VISIBLE_DEVICES).
#pragma once
#include <stddef.h>
#include <stdlib.h>

#include "common/core/check.h"

#ifdef RLVR_CUDA
#include "common/engine/cuda/cuda_ops.h"
#endif

#define DEVICE_MEM_FRACTION_DEFAULT 0.9   // of the GPU's memory: room for the CUDA context and other users

typedef enum { DEVICE_CPU = 0, DEVICE_CUDA = 1 } DeviceKind;
typedef enum { PRECISION_FP32 = 0, PRECISION_BF16 = 1 } Precision;

typedef struct {
    DeviceKind kind;
    Precision precision;
    double mem_fraction;   // (0, 1]
} DeviceOpts;

void device_opts_default(DeviceOpts *d);   // cpu, fp32, 0.9
// "cpu" / "cuda" and "fp32" / "bf16"; 0, or -1 for any other text.
int device_kind_parse(const char *s, DeviceKind *out);
int device_precision_parse(const char *s, Precision *out);
const char *device_kind_name(DeviceKind k);
const char *device_precision_name(Precision p);
// Ranges and combinations (bf16 needs cuda; the fraction in (0, 1]). who prefixes the message
// ("rollout", "rlvr eval"). 0, or -1 with err naming the option and the fix.
int device_opts_validate(const DeviceOpts *d, const char *who, char *err, size_t errlen);

// 0 when the device can be used by this program, else -1 with err: no CUDA backend in this build
// (rebuild with -DRLVR_CUDA=ON), or no CUDA device visible (CUDA_VISIBLE_DEVICES). Inline because only
// the programs that link the CUDA backend know RLVR_CUDA.
static inline int device_opts_available(const DeviceOpts *d, const char *who, char *err, size_t errlen) {
    if (device_opts_validate(d, who, err, errlen) != 0) return -1;
    if (d->kind == DEVICE_CPU) return 0;
#ifndef RLVR_CUDA
    return rlvr_err(err, errlen, "%s: device cuda: this build has no CUDA backend; rebuild with -DRLVR_CUDA=ON "
                    "(launch/build.sh build -DRLVR_CUDA=ON, needs the CUDA toolkit) or use device cpu", who);
#else
    if (cuda_device_count() < 1) {
        const char *vis = getenv("CUDA_VISIBLE_DEVICES");
        return rlvr_err(err, errlen, "%s: device cuda: no CUDA device is visible (CUDA_VISIBLE_DEVICES=%s); check the driver "
                        "(nvidia-smi) and CUDA_VISIBLE_DEVICES, or use device cpu", who, vis ? vis : "<unset>");
    }
    return 0;
#endif
}
