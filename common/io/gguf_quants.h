// ggml tensor types and their dequantization to float32.
//
// Block layouts (ggml-common.h; QK_K = 256 elements per super-block; d, dmin, m are fp16):
//   F32 / F16 / BF16   one element per "block"
//   Q4_0  (32 elems, 18 B)  d, qs[16]                y[j] = d*(lo(qs[j])-8), y[j+16] = d*(hi(qs[j])-8)
//   Q4_1  (32 elems, 20 B)  d, m, qs[16]             y[j] = d*lo(qs[j]) + m, y[j+16] = d*hi(qs[j]) + m
//   Q8_0  (32 elems, 34 B)  d, int8 qs[32]           y[j] = qs[j]*d
//   Q4_K  (256, 144 B)      d, dmin, scales[12], qs[128]
//         8 sub-blocks of 32 with 6-bit scale sc and min mn packed in scales[12];
//         y = (d*sc)*q - (dmin*mn), q the 4-bit value (sub-block 2k: low nibbles of qs[32k..32k+31],
//         2k+1: their high nibbles)
//   Q5_K  (256, 176 B)      d, dmin, scales[12], qh[32], qs[128]: Q4_K plus a fifth bit, bit k of
//         qh[l] for element l of sub-block k
//   Q6_K  (256, 210 B)      ql[128], qh[64], int8 scales[16], d: 16 sub-blocks of 16,
//         y = (d*scale)*(q-32), q 6 bits from a nibble of ql and two bits of qh
// The arithmetic is done in float32 in the same order as the gguf Python package (gguf.quants), so
// results are bit-identical to it (this file is compiled with -ffp-contract=off: a fused multiply-add
// would round differently).
#pragma once
#include <stddef.h>
#include <stdint.h>

enum {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3, GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9, GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13, GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_BF16 = 30,
    GGML_TYPE_COUNT = 42   // ids below this may be ggml types (most unsupported here)
};

// Name ("Q4_K"), elements per block and bytes per block of a ggml type. Returns 0, or -1 for a type
// this reader does not know the size of (then the outputs are untouched).
int ggml_type_info(uint32_t type, const char **name, size_t *block_elems, size_t *block_bytes);
// "Q4_K", or "type N" (in a static buffer) for an unknown id.
const char *ggml_type_name(uint32_t type);
// 1 when gguf_dequantize handles the type.
int ggml_type_can_dequantize(uint32_t type);
// Dequantizes n elements (a multiple of the block size) of type from src (n / block_elems blocks)
// into dst. Returns 0, or -1 when the type is not supported.
int gguf_dequantize(uint32_t type, const void *src, float *dst, size_t n);
