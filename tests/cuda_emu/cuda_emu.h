// Test support: just enough of the CUDA programming model, on the CPU, to run the kernels of
// common/engine/cuda/cuda_flash.cu without a GPU (tests/cuda_emu/run_flash_emu.sh). Each block runs with
// one fiber per CUDA thread, blocks one after another; __syncthreads / __syncwarp are barriers,
// shuffles go through a per-warp exchange array, shared memory is one static buffer (one block at a
// time), and WMMA fragments hold the whole 16 x 16 tile in every lane (loads and stores are
// warp-collective, as on the device). It checks what a wrong kernel most often gets wrong -- indexing,
// masking, tails, barriers around shared tiles, the shared-memory budget (227 KiB) and WMMA's pointer
// alignment (32 bytes) and leading dimensions -- not timing, occupancy or bank conflicts. Not product code.
#pragma once
#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__
#define __align__(n) __attribute__((aligned(n)))

#define EMU_MAX_SMEM (227 * 1024)  // bytes of dynamic shared memory one block may opt in to (sm_90)
#define EMU_MAX_THREADS 1024

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint4 {
    unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return uint4{a, b, c, d}; }

inline dim3 threadIdx, blockIdx, gridDim, blockDim;
alignas(128) inline float smem[EMU_MAX_SMEM / sizeof(float)];
alignas(128) inline unsigned char tc_smem[EMU_MAX_SMEM];

[[noreturn]] inline void emu_fail(const char *what) {
    fprintf(stderr, "cuda_emu: %s\n", what);
    abort();
}

// ---- threads as fibers -----------------------------------------------------------------------------------
// The threads of a block are ucontext fibers on one OS thread, resumed round-robin by emu_launch; a
// thread runs until it waits at a barrier (then yields) or returns. Deterministic, and far cheaper
// than OS threads at 256 per block.
#define EMU_STACK_BYTES (256 * 1024)  // WMMA fragments are 1 KiB each here

struct EmuFiber {
    ucontext_t ctx;
    bool done;
};
struct EmuBarrier {
    int arrived, generation;
};
struct EmuState {
    ucontext_t sched;
    EmuFiber fiber[EMU_MAX_THREADS];
    std::vector<char> stacks;
    EmuBarrier block, warp[EMU_MAX_THREADS / 32];
    float xch[EMU_MAX_THREADS];
    unsigned nthreads, cur;
    std::function<void()> body;
};
inline EmuState emu;

inline void emu_yield() { swapcontext(&emu.fiber[emu.cur].ctx, &emu.sched); }

inline void emu_barrier(EmuBarrier &b, int n) {
    const int gen = b.generation;
    if (++b.arrived == n) {
        b.arrived = 0;
        b.generation++;
        return;
    }
    while (b.generation == gen) emu_yield();
}

inline void __syncthreads() { emu_barrier(emu.block, (int)emu.nthreads); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    if (mask != 0xffffffffu) emu_fail("__syncwarp with a partial mask is not emulated");
    emu_barrier(emu.warp[threadIdx.x / 32], 32);
}
inline float __shfl_xor_sync(unsigned mask, float v, int o) {
    if (mask != 0xffffffffu) emu_fail("shuffle with a partial mask is not emulated");
    const unsigned lane = threadIdx.x % 32, base = threadIdx.x - lane;
    emu.xch[threadIdx.x] = v;
    __syncwarp();
    const float r = emu.xch[base + (lane ^ (unsigned)o)];
    __syncwarp();
    return r;
}

inline void emu_fiber_entry() {
    emu.body();
    emu.fiber[emu.cur].done = true;  // returning resumes uc_link, the scheduler
}

// Runs kernel k over the grid: blocks in order, each with blockDim.x fiber threads.
template <class... KArgs, class... Args>
void emu_launch(dim3 g, dim3 b, size_t smem_bytes, void (*k)(KArgs...), Args... args) {
    if (b.y != 1 || b.z != 1 || b.x == 0 || b.x > EMU_MAX_THREADS || b.x % 32) emu_fail("block shape not emulated");
    if (smem_bytes > EMU_MAX_SMEM) emu_fail("dynamic shared memory above the device's 227 KiB");
    gridDim = g;
    blockDim = b;
    emu.nthreads = b.x;
    emu.stacks.resize((size_t)EMU_STACK_BYTES * b.x);
    emu.body = [=]() { k(args...); };
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                blockIdx = dim3(x, y, z);
                memset(smem, 0xff, smem_bytes);  // NaN garbage: a read before a write shows
                memset(tc_smem, 0xff, smem_bytes);
                emu.block = EmuBarrier{0, 0};
                for (unsigned w = 0; w < b.x / 32; w++) emu.warp[w] = EmuBarrier{0, 0};
                for (unsigned t = 0; t < b.x; t++) {
                    EmuFiber &f = emu.fiber[t];
                    f.done = false;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = emu.stacks.data() + (size_t)EMU_STACK_BYTES * t;
                    f.ctx.uc_stack.ss_size = EMU_STACK_BYTES;
                    f.ctx.uc_link = &emu.sched;
                    makecontext(&f.ctx, emu_fiber_entry, 0);
                }
                for (unsigned live = b.x; live > 0;) {
                    live = 0;
                    for (unsigned t = 0; t < b.x; t++) {
                        if (emu.fiber[t].done) continue;
                        emu.cur = t;
                        threadIdx = dim3(t);
                        swapcontext(&emu.sched, &emu.fiber[t].ctx);
                        live += !emu.fiber[t].done;
                    }
                }
            }
}

// ---- bf16 ----------------------------------------------------------------------------------------------
struct __nv_bfloat16 {
    uint16_t x;
};
inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.x << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{(uint16_t)((u >> 16) | 0x40u)};
    u += 0x7fffu + ((u >> 16) & 1u);
    return __nv_bfloat16{(uint16_t)(u >> 16)};
}
inline float emu_f(float x) { return x; }
inline float emu_f(__nv_bfloat16 x) { return __bfloat162float(x); }

// ---- runtime / cuBLAS names that common/engine/cuda/cuda_common.cuh uses ---------------------------------
enum cudaError_t {
    cudaSuccess = 0, cudaErrorNoDevice, cudaErrorInsufficientDriver, cudaErrorMemoryAllocation,
    cudaErrorNoKernelImageForDevice, cudaErrorUnsupportedPtxVersion, cudaErrorIllegalAddress, cudaErrorLaunchFailure
};
inline const char *cudaGetErrorName(cudaError_t) { return "cudaErrorEmulated"; }
inline const char *cudaGetErrorString(cudaError_t) { return "emulated failure"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
template <class F> cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int bytes) {
    return bytes <= EMU_MAX_SMEM ? cudaSuccess : cudaErrorLaunchFailure;
}
typedef void *cublasHandle_t;
enum cublasComputeType_t { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32 };
enum cublasStatus_t {
    CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED, CUBLAS_STATUS_ALLOC_FAILED, CUBLAS_STATUS_INVALID_VALUE,
    CUBLAS_STATUS_ARCH_MISMATCH, CUBLAS_STATUS_EXECUTION_FAILED, CUBLAS_STATUS_NOT_SUPPORTED
};

// ---- WMMA (16 x 16 x 16, fp32 accumulators) ---------------------------------------------------------------
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
    float x[256];  // element (row, col) at x[16 row + col], the same in every lane
};

template <class Use, class T, class L> void fill_fragment(fragment<Use, 16, 16, 16, T, L> &f, float v) {
    for (int i = 0; i < 256; i++) f.x[i] = v;
}

template <class T> void emu_check(const T *p, unsigned ldm) {
    if ((uintptr_t)p % 32) emu_fail("WMMA pointer not 32-byte aligned");
    if (ldm % (16 / sizeof(T))) emu_fail("WMMA leading dimension not a multiple of 16 bytes");
}

// (row, col) of the 16 x 16 operand read from p: row-major p[row ldm + col], column-major p[row + col ldm]
template <class Use, class T, class L> void load_matrix_sync(fragment<Use, 16, 16, 16, T, L> &f, const T *p, unsigned ldm) {
    emu_check(p, ldm);
    __syncwarp();
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            const bool rm = std::is_same<L, row_major>::value;
            f.x[16 * r + c] = emu_f(rm ? p[r * ldm + c] : p[r + c * ldm]);
        }
    __syncwarp();
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm, layout_t l) {
    emu_check(p, ldm);
    __syncwarp();
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.x[16 * r + c] = l == mem_row_major ? p[r * ldm + c] : p[r + c * ldm];
    __syncwarp();
}
inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm, layout_t l) {
    emu_check(p, ldm);
    __syncwarp();
    if (threadIdx.x % 32 == 0)
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++) (l == mem_row_major ? p[r * ldm + c] : p[r + c * ldm]) = f.x[16 * r + c];
    __syncwarp();
}
template <class TA, class LA, class TB, class LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float> &d, const fragment<matrix_a, 16, 16, 16, TA, LA> &a,
              const fragment<matrix_b, 16, 16, 16, TB, LB> &b, const fragment<accumulator, 16, 16, 16, float> &c) {
    float out[256];
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++) {
            float s = c.x[16 * r + n];
            for (int k = 0; k < 16; k++) s += a.x[16 * r + k] * b.x[16 * k + n];
            out[16 * r + n] = s;
        }
    memcpy(d.x, out, sizeof(out));
}
}  // namespace wmma
}  // namespace nvcuda
