// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based RNG. The random numbers of draw `counter` under key `seed` are a pure function of
// (seed, counter), so a sample's draws never depend on the other samples in a batch, on the order in
// which slots are refilled, or on the device (the same inline code runs on the host and in CUDA
// kernels, bit for bit).
//
// The GPU sampler draws the uniform of token i of a sample as philox_uniform(sample_seed, i).
#pragma once
#include <stdint.h>

#if defined(__CUDACC__)
#define PHILOX_HD __host__ __device__ static inline
#else
#define PHILOX_HD static inline
#endif

typedef struct { uint32_t v[4]; } Philox4x32;

PHILOX_HD uint32_t philox_mulhilo_(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

// The 10-round Philox4x32 bijection of counter ctr under key (k0, k1); Random123's constants.
PHILOX_HD Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = philox_mulhilo_(0xD2511F53u, ctr.v[0], &hi0);
        uint32_t lo1 = philox_mulhilo_(0xCD9E8D57u, ctr.v[2], &hi1);
        Philox4x32 n;
        n.v[0] = hi1 ^ ctr.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ ctr.v[3] ^ k1;
        n.v[3] = lo0;
        ctr = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ctr;
}

// Uniform in [0, 1) with 53 random bits for draw `counter` of stream `seed` (the sampler's inverse-CDF
// draw needs more than 24 bits over a 150k vocabulary).
PHILOX_HD double philox_uniform(uint64_t seed, uint64_t counter) {
    Philox4x32 c;
    c.v[0] = (uint32_t)counter; c.v[1] = (uint32_t)(counter >> 32); c.v[2] = 0; c.v[3] = 0;
    Philox4x32 r = philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    uint64_t bits = ((uint64_t)r.v[0] << 21) ^ ((uint64_t)r.v[1] >> 11);   // 53 bits
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}
