// Test support: the host side of common/engine/cuda/cuda_ops.h that tests/test_cuda_flash.c uses, on the
// CPU, for the emulated flash kernels (tests/cuda_emu/cuda_emu.h): "device" memory is host memory, and
// the cuBLAS attention is the CPU attention (it is only a comparison point there). Not product code.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/engine/cuda/cuda_ops.h"
extern "C" {
#include "common/engine/ops.h"
}

#define EMU_ORACLE_ROWS 512  // attention_backward wants max(threads, T) rows of T floats

struct CudaCtx {
    int tf32;
};

extern "C" {
int cuda_device_count(void) { return 1; }
void cuda_device_describe(char *buf, size_t len) { snprintf(buf, len, "CPU emulation of the CUDA kernels (tests/cuda_emu)"); }
CudaCtx *cuda_ctx_create(int allow_tf32) { return new CudaCtx{allow_tf32}; }
void cuda_ctx_set_tf32(CudaCtx *cx, int allow_tf32) { cx->tf32 = allow_tf32; }
void cuda_ctx_destroy(CudaCtx *cx) { delete cx; }
void *cuda_malloc(size_t bytes) {
    void *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!p) { fprintf(stderr, "cuda_emu: out of memory\n"); abort(); }
    memset(p, 0xff, bytes);  // NaN garbage, as device memory is undefined
    return p;
}
void cuda_free(void *p) { free(p); }
void cuda_upload(void *dst, const void *src_host, size_t bytes) { memcpy(dst, src_host, bytes); }
void cuda_download(void *dst_host, const void *src, size_t bytes) { memcpy(dst_host, src, bytes); }
void cuda_zero(void *p, size_t bytes) { memset(p, 0, bytes); }
void cuda_sync(void) {}
size_t cuda_attention_scratch_floats(int B, int T, int H, int KV, int D) {
    (void)B; (void)H; (void)KV; (void)D;
    return (size_t)(T > EMU_ORACLE_ROWS ? T : EMU_ORACLE_ROWS) * T;
}
void cuda_attention_forward(CudaCtx *cx, float *out, float *att, const float *q, const float *k, const float *v,
                            float *scratch, int B, int T, int H, int KV, int D) {
    (void)cx; (void)scratch;
    memset(att, 0, (size_t)B * H * T * T * sizeof(float));
    attention_forward(out, att, q, k, v, B, T, H, KV, D);
}
void cuda_attention_backward(CudaCtx *cx, float *dq, float *dk, float *dv, const float *dout, const float *att,
                             const float *q, const float *k, const float *v, float *scratch,
                             int B, int T, int H, int KV, int D) {
    (void)cx;
    attention_backward(dq, dk, dv, dout, att, q, k, v, scratch, B, T, H, KV, D);
}
}
