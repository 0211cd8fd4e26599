// The finished group both wire benchmarks use (bench_wire sends it, bench_wire_decode decodes it):
// G responses of T tokens with log-probs and entropies, deterministic values, one allocation per array.
#pragma once
#include <stdio.h>
#include <stdlib.h>

#include "common/core/check.h"
#include "proto/wire.h"

typedef struct {
    WireGroup g;
    int32_t *tok;        // (G, T)
    float *lp, *ent;     // (G, T)
} BenchGroup;

static inline void bench_group_make(BenchGroup *b, int G, int T) {
    WireResponse *rs = callocCheck((size_t)G, sizeof *rs);
    b->tok = mallocCheck((size_t)G * T * sizeof(int32_t));
    b->lp = mallocCheck((size_t)G * T * sizeof(float));
    b->ent = mallocCheck((size_t)G * T * sizeof(float));
    for (size_t i = 0; i < (size_t)G * T; i++) {
        b->tok[i] = (int32_t)(i % 151000);
        b->lp[i] = -(float)(i % 97) * 0.01f;
        b->ent[i] = (float)(i % 13) * 0.1f;
    }
    for (int i = 0; i < G; i++)
        rs[i] = (WireResponse){T, b->tok + (size_t)i * T, b->lp + (size_t)i * T, b->ent + (size_t)i * T, 1.0f, 1, WIRE_FINISH_STOP, 1, 0, 0, 1.5f};
    b->g = (WireGroup){0};
    b->g.prompt_id = 1; b->g.policy_version = 3; b->g.n_responses = G; b->g.responses = rs;
    snprintf(b->g.worker, sizeof b->g.worker, "bench");
}

static inline void bench_group_free(BenchGroup *b) {
    free(b->g.responses); free(b->tok); free(b->lp); free(b->ent);
}
