// Tests for common/core/philox.h (the GPU sampler's counter-based RNG):
//   - philox4x32_10 against Random123's known-answer vectors (kat_vectors, philox4x32_10): counter and
//     key all zeros, all ones, and the digits of pi;
//   - philox_uniform: in [0, 1), 53 bits of resolution (the low bits of u * 2^53 are used, not just
//     the 24 of a float), mean and variance of a uniform, and draws that depend on every bit of the
//     seed and of the counter but not on each other (lag-1 correlation ~ 0, no repeats).
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "common/core/philox.h"
#include "tests/harness.h"

#define N_DRAWS 200000   // ~20 ms; the statistical bounds below are > 6 sigma at this count

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                      uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    Philox4x32 c = {{c0, c1, c2, c3}};
    Philox4x32 r = philox4x32_10(c, k0, k1);
    CHECK_MSG(r.v[0] == e0 && r.v[1] == e1 && r.v[2] == e2 && r.v[3] == e3,
              "philox4x32_10(%08x %08x %08x %08x, key %08x %08x) = %08x %08x %08x %08x, Random123 says %08x %08x %08x %08x",
              c0, c1, c2, c3, k0, k1, r.v[0], r.v[1], r.v[2], r.v[3], e0, e1, e2, e3);
}

static void test_known_answers(void) {
    check_kat(0, 0, 0, 0, 0, 0, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
    check_kat(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
              0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
    check_kat(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
              0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}

static void test_uniform(void) {
    const uint64_t seed = 0x0123456789abcdefull;
    int in_range = 1, integral = 1;
    long low_bit = 0, below_2m24 = 0, fine = 0;   // fine: not a multiple of 2^-32
    double sum = 0, sum2 = 0, lag = 0, prev = 0;
    for (uint64_t i = 0; i < N_DRAWS; i++) {
        const double u = philox_uniform(seed, i);
        in_range &= u >= 0.0 && u < 1.0;
        const double m = u * 9007199254740992.0;   // u * 2^53: an integer for a 53-bit uniform
        integral &= m == floor(m);
        low_bit += ((uint64_t)m) & 1u;
        fine += u * 4294967296.0 != floor(u * 4294967296.0);
        below_2m24 += u < 1.0 / 16777216.0;
        sum += u; sum2 += u * u;
        if (i > 0) lag += (u - 0.5) * (prev - 0.5);
        prev = u;
    }
    CHECK_MSG(in_range, "philox_uniform left [0, 1)");
    CHECK_MSG(integral, "philox_uniform * 2^53 is not an integer: more than 53 bits?");
    // Bit 0 of the 53 is set half the time; almost every draw has bits below 2^-32.
    CHECK_MSG(fabs((double)low_bit / N_DRAWS - 0.5) < 0.01, "lowest of the 53 bits set in %.4f of the draws", (double)low_bit / N_DRAWS);
    CHECK_MSG(fine > N_DRAWS * 0.99, "only %ld of %d draws use bits below 2^-32", fine, N_DRAWS);
    CHECK_MSG(below_2m24 < 10, "%ld draws below 2^-24", below_2m24);
    const double mean = sum / N_DRAWS, var = sum2 / N_DRAWS - mean * mean, corr = lag / (N_DRAWS - 1) * 12.0;
    CHECK_MSG(fabs(mean - 0.5) < 0.004, "mean %.5f", mean);
    CHECK_MSG(fabs(var - 1.0 / 12.0) < 0.002, "variance %.5f (1/12 = 0.08333)", var);
    CHECK_MSG(fabs(corr) < 0.015, "lag-1 correlation %.5f", corr);
    printf("philox_uniform: %d draws, mean %.5f, variance %.5f, lag-1 correlation %.5f\n", N_DRAWS, mean, var, corr);

    // Every bit of the counter and of the seed matters; the result is a pure function of both.
    const double u0 = philox_uniform(seed, 1);
    CHECK(philox_uniform(seed, 1) == u0);
    int differ = 1;
    for (int b = 0; b < 64; b++) {
        differ &= philox_uniform(seed, 1 ^ (1ull << b)) != u0;
        differ &= philox_uniform(seed ^ (1ull << b), 1) != u0;
    }
    CHECK_MSG(differ, "flipping one bit of the seed or of the counter left a draw unchanged");
    // Neighbouring streams (seeds s and s + 1, as per-sample seeds of one group) are uncorrelated.
    double c = 0;
    for (uint64_t i = 0; i < N_DRAWS / 4; i++) c += (philox_uniform(100, i) - 0.5) * (philox_uniform(101, i) - 0.5);
    c = c / (N_DRAWS / 4) * 12.0;
    CHECK_MSG(fabs(c) < 0.03, "streams of seeds 100 and 101 correlate: %.5f", c);
}

int main(void) {
    test_known_answers();
    test_uniform();
    return tests_done();
}
