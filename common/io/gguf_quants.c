// ggml block formats -> float32, in the gguf Python package's order of float32 operations.
#include "common/io/gguf_quants.h"

#include <stdio.h>
#include <string.h>

#include "common/io/safetensors.h"

#define QK 32      // elements per Q4_0 / Q4_1 / Q8_0 block
#define QK_K 256   // elements per K-quant super-block
#define K_SCALE_SIZE 12

typedef struct {
    const char *name;
    size_t block_elems, block_bytes;
} TypeInfo;

// Sizes of every ggml type (ggml.c type_traits), so that files holding types we cannot dequantize
// still open and fail only when such a tensor is read.
static const TypeInfo TYPES[GGML_TYPE_COUNT] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},          [2] = {"Q4_0", 32, 18},     [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},       [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 40},
    [10] = {"Q2_K", 256, 84},   [11] = {"Q3_K", 256, 110},    [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},    [16] = {"IQ2_XXS", 256, 66}, [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},   [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},  [23] = {"IQ4_XS", 256, 136},  [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},         [28] = {"F64", 1, 8},       [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},
    [40] = {"NVFP4", 64, 36},   [41] = {"Q1_0", 128, 18},
};

int ggml_type_info(uint32_t type, const char **name, size_t *block_elems, size_t *block_bytes) {
    if (type >= GGML_TYPE_COUNT || !TYPES[type].name) return -1;
    if (name) *name = TYPES[type].name;
    if (block_elems) *block_elems = TYPES[type].block_elems;
    if (block_bytes) *block_bytes = TYPES[type].block_bytes;
    return 0;
}

const char *ggml_type_name(uint32_t type) {
    static _Thread_local char buf[32];
    if (type < GGML_TYPE_COUNT && TYPES[type].name) return TYPES[type].name;
    snprintf(buf, sizeof(buf), "type %u", type);
    return buf;
}

int ggml_type_can_dequantize(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

static float f16_at(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return st_f16_to_f32(h);
}

static void dequant_q4_0(const unsigned char *b, float *y) {   // 18 bytes -> 32
    float d = f16_at(b);
    const unsigned char *qs = b + 2;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = d * (float)((int)(qs[j] & 0x0F) - 8);
        y[j + QK / 2] = d * (float)((int)(qs[j] >> 4) - 8);
    }
}

static void dequant_q4_1(const unsigned char *b, float *y) {   // 20 bytes -> 32
    float d = f16_at(b), m = f16_at(b + 2);
    const unsigned char *qs = b + 4;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = d * (float)(qs[j] & 0x0F) + m;
        y[j + QK / 2] = d * (float)(qs[j] >> 4) + m;
    }
}

static void dequant_q8_0(const unsigned char *b, float *y) {   // 34 bytes -> 32
    float d = f16_at(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
}

// The 6-bit scale and min of sub-block j (0..7) packed in the 12 scale bytes of Q4_K / Q5_K.
static void k_scale_min(const unsigned char *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 0x3F;
        *mn = s[j + 4] & 0x3F;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 2) & 0x30);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30);
    }
}

static void dequant_q4_k(const unsigned char *b, float *y) {   // 144 bytes -> 256
    float d = f16_at(b), dmin = f16_at(b + 2);
    const unsigned char *scales = b + 4, *qs = b + 4 + K_SCALE_SIZE;
    for (int j = 0; j < QK_K / 32; j++) {
        int sc, mn;
        k_scale_min(scales, j, &sc, &mn);
        float dl = d * (float)sc, ml = dmin * (float)mn;
        const unsigned char *q = qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) y[32 * j + l] = dl * (float)((q[l] >> shift) & 0x0F) - ml;
    }
}

static void dequant_q5_k(const unsigned char *b, float *y) {   // 176 bytes -> 256
    float d = f16_at(b), dmin = f16_at(b + 2);
    const unsigned char *scales = b + 4, *qh = b + 4 + K_SCALE_SIZE, *qs = qh + QK_K / 8;
    for (int j = 0; j < QK_K / 32; j++) {
        int sc, mn;
        k_scale_min(scales, j, &sc, &mn);
        float dl = d * (float)sc, ml = dmin * (float)mn;
        const unsigned char *q = qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> shift) & 0x0F) | (((qh[l] >> j) & 1) << 4);
            y[32 * j + l] = dl * (float)v - ml;
        }
    }
}

static void dequant_q6_k(const unsigned char *b, float *y) {   // 210 bytes -> 256
    const unsigned char *ql = b, *qh = b + QK_K / 2;
    const int8_t *scales = (const int8_t *)(b + QK_K / 2 + QK_K / 4);
    float d = f16_at(b + QK_K / 2 + QK_K / 4 + QK_K / 16);
    // Two halves of 128; within a half, position p takes a nibble of ql[p % 64] (low for p < 64)
    // and two bits of qh[p % 32] (bits 2*(p / 32)).
    for (int h = 0; h < 2; h++) {
        for (int p = 0; p < 128; p++) {
            int lo = (ql[64 * h + p % 64] >> (4 * (p / 64))) & 0x0F;
            int hi = (qh[32 * h + p % 32] >> (2 * (p / 32))) & 0x03;
            int i = 128 * h + p;
            float dl = d * (float)scales[i / 16];
            y[i] = dl * (float)((lo | (hi << 4)) - 32);
        }
    }
}

// The block formats we dequantize, by type; a type without an entry fails when its tensor is read.
static void (*const BLOCK_DEQUANT[GGML_TYPE_COUNT])(const unsigned char *block, float *y) = {
    [GGML_TYPE_Q4_0] = dequant_q4_0, [GGML_TYPE_Q4_1] = dequant_q4_1, [GGML_TYPE_Q8_0] = dequant_q8_0,
    [GGML_TYPE_Q4_K] = dequant_q4_k, [GGML_TYPE_Q5_K] = dequant_q5_k, [GGML_TYPE_Q6_K] = dequant_q6_k,
};

int gguf_dequantize(uint32_t type, const void *src, float *dst, size_t n) {
    const unsigned char *s = src;
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, s, n * sizeof(float));
        return 0;
    case GGML_TYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = f16_at(s + 2 * i);
        return 0;
    case GGML_TYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = st_bf16_to_f32(h);
        }
        return 0;
    default: {
        // Block formats: one call per block, its sizes from TYPES.
        if (type >= GGML_TYPE_COUNT || !BLOCK_DEQUANT[type]) return -1;
        size_t be = TYPES[type].block_elems, bb = TYPES[type].block_bytes;
        for (size_t i = 0; i < n / be; i++) BLOCK_DEQUANT[type](s + bb * i, dst + be * i);
        return 0;
    }
    }
}
