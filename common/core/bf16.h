// bfloat16 on the host: the upper 16 bits of an IEEE fp32, rounded to nearest even (NaN stays NaN).
// Bit-identical to the device conversion (__float2bfloat16_rn), so the wire and checkpoints can carry
// bf16 weights that a CPU worker widens exactly as a GPU would.
#pragma once
#include <stdint.h>
#include <string.h>

static inline uint16_t bf16_from_f32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);   // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float f32_from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
