// Test support: just enough of the CUDA programming model, on the CPU, to run the kernels and host code of
// common/engine/cuda/*.cu (all but cuda_comm.cu, which needs NCCL) without a GPU. Each block runs with
// one fiber per CUDA thread, blocks one after another; __syncthreads / __syncwarp are barriers,
// shuffles go through a per-warp exchange array, shared memory is one static buffer (one block at a
// time), and WMMA fragments hold the whole 16 x 16 tile in every lane (loads and stores are
// warp-collective, as on the device). It checks what a wrong kernel most often gets wrong -- indexing,
// masking, tails, barriers around shared tiles, the shared-memory budget (227 KiB) and WMMA's pointer
// alignment (32 bytes) and leading dimensions -- not timing, occupancy or bank conflicts. The runtime
// and cuBLAS calls are in emu_api.h. Not product code.
#pragma once
#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <functional>
#include <map>
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
using std::max;
using std::min;
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

// Kernel -> the dynamic shared memory it opted in to (cudaFuncSetAttribute); above 48 KiB a launch needs it.
inline std::map<const void *, int> &emu_smem_optin() {
    static std::map<const void *, int> m;
    return m;
}

// ---- threads as fibers -----------------------------------------------------------------------------------
// The threads of a block are fibers on one OS thread, resumed round-robin by emu_launch; a thread runs
// until it waits at a barrier (then yields) or returns. Deterministic, and far cheaper than OS threads.
// A fiber lives for the whole program: it loops running the current kernel body for whichever thread
// index it is, so a launch costs no stack setup. The switch is a few instructions of assembly on x86-64
// (callee-saved registers and the stack pointer; no signal mask, unlike swapcontext).
#define EMU_STACK_BYTES (256 * 1024)  // WMMA fragments are 1 KiB each here

#if !defined(__x86_64__)
#error "tests/cuda_emu: the fiber switch is written for x86-64"
#endif
// emu_switch(save, to): saves the callee-saved registers on the current stack, stores its pointer in
// *save and resumes the stack `to` (weak: the header is compiled into several objects).
extern "C" void emu_switch(void **save, void *to);
asm(R"(
    .text
    .weak emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");

struct EmuFiber {
    void *sp;
    bool done, started;
};
struct EmuBarrier {
    int arrived, generation;
};
struct EmuState {
    void *sched;
    EmuFiber fiber[EMU_MAX_THREADS];
    char *stacks;  // EMU_MAX_THREADS stacks, mapped once and touched only as deep as they are used
    EmuBarrier block, warp[EMU_MAX_THREADS / 32];
    uint64_t xch[2][EMU_MAX_THREADS];  // shuffle exchange, one slot per thread, values up to 8 bytes
    unsigned xsel[EMU_MAX_THREADS];    // shuffles each thread has done in this block (buffer parity)
    unsigned nthreads, cur;
    unsigned long progress;  // barrier arrivals and thread exits: no change in a round = deadlock
    std::function<void()> body;
};
inline EmuState emu;

inline void emu_yield() { emu_switch(&emu.fiber[emu.cur].sp, emu.sched); }

inline void emu_barrier(EmuBarrier &b, int n) {
    const int gen = b.generation;
    emu.progress++;
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
    emu_barrier(emu.warp[emu.cur / 32], 32);
}
// The value lane `src` of this warp put in; a source outside the warp returns the caller's own (CUDA).
template <class V> V emu_shfl(V v, int src) {
    static_assert(sizeof(V) <= sizeof(uint64_t), "shuffle of a type wider than 8 bytes");
    // Two exchange buffers used alternately: a lane can overwrite one only after the barrier of the next
    // shuffle, which every lane reaches after reading it, so one barrier per shuffle suffices.
    const unsigned lane = emu.cur % 32, base = emu.cur - lane, buf = emu.xsel[emu.cur]++ & 1u;
    memcpy(&emu.xch[buf][emu.cur], &v, sizeof(V));
    __syncwarp();
    V r = v;
    if (src >= 0 && src < 32) memcpy(&r, &emu.xch[buf][base + (unsigned)src], sizeof(V));
    return r;
}
template <class V> V __shfl_xor_sync(unsigned mask, V v, int o) {
    if (mask != 0xffffffffu) emu_fail("shuffle with a partial mask is not emulated");
    return emu_shfl(v, (int)(emu.cur % 32) ^ o);
}
template <class V> V __shfl_up_sync(unsigned mask, V v, unsigned d) {
    if (mask != 0xffffffffu) emu_fail("shuffle with a partial mask is not emulated");
    return emu_shfl(v, (int)(emu.cur % 32) - (int)d);
}
template <class V> V __shfl_down_sync(unsigned mask, V v, unsigned d) {
    if (mask != 0xffffffffu) emu_fail("shuffle with a partial mask is not emulated");
    return emu_shfl(v, (int)(emu.cur % 32) + (int)d);
}
template <class V> V __shfl_sync(unsigned mask, V v, int src) {
    if (mask != 0xffffffffu) emu_fail("shuffle with a partial mask is not emulated");
    return emu_shfl(v, src & 31);
}

// Atomics: the threads of a block never run at the same time and blocks run one after another, so a
// plain read-modify-write is atomic here.
template <class V> V atomicAdd(V *p, V v) {
    const V old = *p;
    *p = old + v;
    return old;
}
template <class V> V atomicMax(V *p, V v) {
    const V old = *p;
    if (v > old) *p = v;
    return old;
}

// ---- bit casts and math intrinsics -------------------------------------------------------------------------
inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, 4);
    return u;
}
inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline int __float_as_int(float f) { return (int)__float_as_uint(f); }
inline float __int_as_float(int i) { return __uint_as_float((unsigned)i); }
// Round to nearest even; out of range or NaN gives 0xffffffffffffffff like the device (PTX cvt.rni.u64.f32
// saturates; NaN is 0 there, which callers must never rely on).
inline unsigned long long __float2ull_rn(float f) {
    if (!(f > 0.0f)) return 0ull;
    if (f >= 18446744073709551616.0f) return 0xffffffffffffffffull;
    return (unsigned long long)nearbyintf(f);
}
template <class V> V __ldg(const V *p) { return *p; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }

[[noreturn]] inline void emu_fiber_main() {
    for (;;) {
        emu.body();
        emu.fiber[emu.cur].done = true;
        emu.progress++;
        emu_yield();
    }
}

// A new fiber's stack: six zero registers for emu_switch to pop, then emu_fiber_main as the return address
// (entered with the stack aligned as after a call).
inline void emu_fiber_start(unsigned t) {
    void **top = (void **)(emu.stacks + (size_t)EMU_STACK_BYTES * (t + 1));
    top[-1] = nullptr;
    top[-2] = (void *)&emu_fiber_main;
    for (int r = 3; r <= 8; r++) top[-r] = nullptr;
    emu.fiber[t].sp = top - 8;
    emu.fiber[t].started = true;
}

// Runs kernel k over the grid: blocks in order, each with blockDim.x * y * z fiber threads (warps are
// consecutive linear thread indices, x fastest, as on the device).
// The arguments convert to the kernel's parameter types at the call, as in a real launch (NULL included).
template <class T> struct emu_same {
    typedef T type;
};
template <class... KArgs>
void emu_launch(dim3 g, dim3 b, size_t smem_bytes, void (*k)(KArgs...), typename emu_same<KArgs>::type... args) {
    const size_t nt = (size_t)b.x * b.y * b.z;
    if (nt == 0 || nt > EMU_MAX_THREADS) emu_fail("block of 0 or more than 1024 threads (a launch error on the device)");
    if (nt % 32) emu_fail("block size not a multiple of 32 is not emulated");
    if (g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 || g.z > 65535) emu_fail("invalid grid (a launch error on the device)");
    if (smem_bytes > EMU_MAX_SMEM) emu_fail("dynamic shared memory above the device's 227 KiB");
    if (smem_bytes > 48 * 1024 && (size_t)emu_smem_optin()[(const void *)k] < smem_bytes)
        emu_fail("dynamic shared memory above 48 KiB without cudaFuncSetAttribute (a launch error on the device)");
    gridDim = g;
    blockDim = b;
    emu.nthreads = (unsigned)nt;
    if (!emu.stacks) {
        void *m = mmap(NULL, (size_t)EMU_STACK_BYTES * EMU_MAX_THREADS, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) emu_fail("cannot map the fiber stacks");
        emu.stacks = (char *)m;
    }
    emu.body = [=]() { k(args...); };
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                blockIdx = dim3(x, y, z);
                memset(smem, 0xff, smem_bytes);  // NaN garbage: a read before a write shows
                memset(tc_smem, 0xff, smem_bytes);
                emu.block = EmuBarrier{0, 0};
                for (unsigned w = 0; w < nt / 32; w++) emu.warp[w] = EmuBarrier{0, 0};
                for (unsigned t = 0; t < nt; t++) {
                    if (!emu.fiber[t].started) emu_fiber_start(t);
                    emu.fiber[t].done = false;
                    emu.xsel[t] = 0;
                }
                for (unsigned live = (unsigned)nt; live > 0;) {
                    live = 0;
                    const unsigned long before = emu.progress;
                    for (unsigned t = 0; t < nt; t++) {
                        if (emu.fiber[t].done) continue;
                        emu.cur = t;
                        threadIdx = dim3(t % b.x, t / b.x % b.y, t / (b.x * b.y));
                        emu_switch(&emu.sched, emu.fiber[t].sp);
                        live += !emu.fiber[t].done;
                    }
                    if (live && emu.progress == before)
                        emu_fail("barrier deadlock: threads wait at a barrier that others of the block never reach");
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
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16{u}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }

#include "emu_api.h"  // the runtime and cuBLAS calls

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
