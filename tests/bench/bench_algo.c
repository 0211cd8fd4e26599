// Throughput of the per-token RL math on the CPU: policy_loss (with gradient) over B*T tokens and
// token entropy over full-vocabulary logits rows. Not a test:
//   OMP_NUM_THREADS=1 build/bench/bench_algo
#include "common/core/check.h"
#include "common/rl/token_metrics.h"
#include "common/core/rng.h"
#include "common/rl/algo.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
    size_t B = 256, T = 4096, n = B * T;
    Rng r;
    rng_seed(&r, 1);
    float *lp = mallocCheck(n * 4), *old = mallocCheck(n * 4), *A = mallocCheck(n * 4), *m = mallocCheck(n * 4), *g = mallocCheck(n * 4);
    for (size_t i = 0; i < n; i++) {
        old[i] = -2 * rng_uniform(&r); lp[i] = old[i] + 0.2f * (rng_uniform(&r) - 0.5f);
        A[i] = rng_uniform(&r) - 0.5f; m[i] = rng_uniform(&r) < 0.9f;
    }
    PolicyLossParams p;
    policy_loss_params_default(&p);
    PolicyLossOut o = {NULL, NULL, g, NULL};
    PolicyLossStats st;
    double t0 = now_seconds();
    int reps = 10;
    for (int k = 0; k < reps; k++) policy_loss(lp, old, A, m, B, T, &p, &o, &st);
    double t1 = now_seconds();
    printf("policy_loss: %zu tokens, %.2f ms per call, %.1f Mtok/s (loss %.6f)\n", n, (t1 - t0) / reps * 1e3,
           n * reps / (t1 - t0) / 1e6, st.pg_loss);
    size_t N = 64, V = 151936;
    float *z = mallocCheck(N * V * 4), *H = mallocCheck(N * 4), *L = mallocCheck(N * 4);
    int *lab = mallocCheck(N * sizeof(int));
    for (size_t i = 0; i < N * V; i++) z[i] = 4 * rng_normal(&r);
    for (size_t i = 0; i < N; i++) lab[i] = (int)(i * 977 % V);
    t0 = now_seconds();
    token_entropy_rows(z, lab, N, V, 1.0f, H, L);
    t1 = now_seconds();
    printf("token_entropy_rows: %zu rows x V=%zu, %.3f ms per row\n", N, V, (t1 - t0) / N * 1e3);
    return 0;
}
