// Small, fast, seedable RNG (xoshiro256**) with a splittable seed scheme, so that every sample has
// its own stream derived from (run seed, prompt id, sample index) and never depends on batch order.
#pragma once
#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);                 // splitmix64 expansion of one 64-bit seed
uint64_t rng_u64(Rng *r);
float rng_uniform(Rng *r);                            // [0, 1), 24 random bits
double rng_uniform_f64(Rng *r);                       // [0, 1), 53 random bits
float rng_normal(Rng *r);                             // standard normal (Box-Muller)
uint64_t rng_mix(uint64_t a, uint64_t b);             // hash two values into a seed (splitmix64 of a ^ rot(b))
