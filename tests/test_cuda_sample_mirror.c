// The device sampler's algorithm (common/engine/cuda/cuda_sample.cu) mirrored step for step in C and
// checked on the CPU against common/engine/sampler.h, so its logic is tested on machines without a GPU
// (tests/test_cuda_infer.c checks the kernel itself on a GPU). Mirrored: the 64-bit key order
// (ord(logit) << 32 | ~id), the fixed-point masses round(expf((l - max) / T) * 2^44), the radix descent
// (four 8-bit levels of count / mass histograms, bins scanned from the top, then the tied logits taken
// in id order) for top-k and then top-p, and the draw (first kept token in id order whose running mass
// exceeds floor(u * W)). The block-parallel parts (strided histograms, segment scans) are sums of
// integers, so a sequential loop gives the same numbers.
//
// Checks: on random rows (several scales, temperatures, with and without -inf entries), rows with many
// tied logits and an all-equal row, the kept set {key >= tau} equals sampler_kept_set's for top-k,
// top-p and both; the draw over a grid of u gives each kept token a share w_i / W of the grid, and no
// token outside the set.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/rng.h"
#include "common/engine/sampler.h"
#include "tests/harness.h"

#define FIX_SCALE 17592186044416.0f   // 2^44, as cuda_sample.cu

static uint32_t ord_f(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static float from_ord(uint32_t o) {
    const uint32_t u = (o & 0x80000000u) ? (o & 0x7FFFFFFFu) : ~o;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint64_t key_of(uint32_t hw, int id) { return ((uint64_t)hw << 32) | (uint64_t)(0xFFFFFFFFu - (uint32_t)id); }
static uint64_t wfix(float l, float mx, float invT) { return (uint64_t)llrintf(expf((l - mx) * invT) * FIX_SCALE); }

// select_threshold of cuda_sample.cu.
static uint64_t select_threshold(const float *row, int V, uint64_t lo, uint64_t need, int mass, float mx, float invT) {
    uint32_t prefix = 0;
    uint64_t above = 0, bins[256];
    for (int level = 0; level < 4; level++) {
        const int shift = 24 - 8 * level;
        memset(bins, 0, sizeof(bins));
        for (int i = 0; i < V; i++) {
            const uint32_t hw = ord_f(row[i]);
            if (level > 0 && (hw >> (shift + 8)) != (prefix >> (shift + 8))) continue;
            if (key_of(hw, i) < lo) continue;
            bins[(hw >> shift) & 255u] += mass ? wfix(row[i], mx, invT) : 1;
        }
        uint64_t cum = above;
        int chosen = -1;
        for (int b = 255; b >= 0; b--) {
            if (cum + bins[b] >= need) { chosen = b; break; }
            cum += bins[b];
        }
        if (chosen < 0) { chosen = 0; cum = above; }
        prefix |= (uint32_t)chosen << shift;
        above = cum;
    }
    const uint64_t qt = mass ? wfix(from_ord(prefix), mx, invT) : 1;
    const uint64_t need_t = need > above ? need - above : 1;
    const uint64_t c = qt ? (need_t + qt - 1) / qt : need_t;
    uint64_t k = 0;
    for (int i = 0; i < V; i++)
        if (ord_f(row[i]) == prefix && key_of(prefix, i) >= lo && ++k == c) return key_of(prefix, i);
    return lo;
}

// The kernel's kept-set boundary for T > 0; *mx_out the max logit.
static uint64_t kept_threshold(const float *row, int V, const SamplerParams *sp, float *mx_out) {
    uint64_t kb = 0;
    for (int i = 0; i < V; i++) {
        const uint64_t k = key_of(ord_f(row[i]), i);
        kb = k > kb ? k : kb;
    }
    const float mx = row[0xFFFFFFFFu - (uint32_t)kb], invT = 1.0f / sp->temperature;
    *mx_out = mx;
    uint64_t lo = 0;
    if (sp->top_k > 0 && sp->top_k < V) lo = select_threshold(row, V, 0, (uint64_t)sp->top_k, 0, mx, invT);
    if (sp->top_p < 1.0f) {
        uint64_t wb = 0;
        for (int i = 0; i < V; i++)
            if (key_of(ord_f(row[i]), i) >= lo) wb += wfix(row[i], mx, invT);
        uint64_t target = (uint64_t)ceil((double)sp->top_p * (double)wb);
        target = target < 1 ? 1 : target > wb ? wb : target;
        lo = select_threshold(row, V, lo, target, 1, mx, invT);
    }
    return lo;
}

// The draw for uniform u: first kept token in id order whose running mass exceeds floor(u * W).
static int draw(const float *row, int V, const SamplerParams *sp, uint64_t lo, float mx, double u) {
    const float invT = 1.0f / sp->temperature;
    uint64_t W = 0;
    for (int i = 0; i < V; i++)
        if (key_of(ord_f(row[i]), i) >= lo) W += wfix(row[i], mx, invT);
    uint64_t r = (uint64_t)(u * (double)W);
    if (r >= W) r = W - 1;
    uint64_t cum = 0;
    for (int i = 0; i < V; i++) {
        if (key_of(ord_f(row[i]), i) < lo) continue;
        cum += wfix(row[i], mx, invT);
        if (r < cum) return i;
    }
    return -1;
}

static int n_cases = 0, n_same = 0;

static void check_row(const char *what, const float *row, int V, const SamplerParams *sp, SamplerScratch *sc) {
    int *kept = malloc((size_t)V * sizeof(int));
    char *in_cpu = calloc((size_t)V, 1);
    const int nk = sampler_kept_set(row, V, sp, sc, kept);
    for (int i = 0; i < nk; i++) in_cpu[kept[i]] = 1;
    float mx;
    const uint64_t lo = kept_threshold(row, V, sp, &mx);
    int diff = 0, n_mirror = 0;
    for (int i = 0; i < V; i++) {
        const int in_m = key_of(ord_f(row[i]), i) >= lo;
        n_mirror += in_m;
        diff += in_m != in_cpu[i];
    }
    n_cases++;
    n_same += diff == 0;
    CHECK_MSG(diff == 0, "%s (T %g top-k %d top-p %g): kept sets differ in %d tokens (mirror %d, CPU %d)", what,
              sp->temperature, sp->top_k, sp->top_p, diff, n_mirror, nk);
    // draws over a grid of u: shares w_i / W, nothing outside the set
    const int NU = 512;
    int *hits = calloc((size_t)V, sizeof(int)), outside = 0, bad = 0;
    for (int j = 0; j < NU; j++) {
        const int t = draw(row, V, sp, lo, mx, (j + 0.5) / NU);
        if (t < 0 || key_of(ord_f(row[t]), t) < lo) outside++;
        else hits[t]++;
    }
    uint64_t W = 0;
    const float invT = 1.0f / sp->temperature;
    for (int i = 0; i < V; i++)
        if (key_of(ord_f(row[i]), i) >= lo) W += wfix(row[i], mx, invT);
    for (int i = 0; i < V; i++)
        if (key_of(ord_f(row[i]), i) >= lo) {
            const double want = (double)NU * (double)wfix(row[i], mx, invT) / (double)W;
            if (fabs(hits[i] - want) > 1.0 + 1e-9) bad++;   // a grid of u: within one point of its share
        }
    CHECK_MSG(outside == 0 && bad == 0, "%s: draw grid: %d outside the kept set, %d tokens off their share", what, outside, bad);
    free(kept); free(in_cpu); free(hits);
}

int main(void) {
    const int V = 5000;
    float *row = malloc((size_t)V * sizeof(float));
    SamplerScratch sc;
    sampler_scratch_init(&sc, V);
    Rng r;
    rng_seed(&r, 2026);
    const SamplerParams cases[] = {{1.0f, 1.0f, 1},  {1.0f, 1.0f, 5},   {1.0f, 1.0f, 50},  {1.0f, 1.0f, 4999},
                                   {1.0f, 0.8f, 0},  {1.0f, 0.95f, 0},  {1.0f, 0.3f, 0},   {1.0f, 0.8f, 5},
                                   {0.7f, 0.9f, 40}, {1.3f, 0.5f, 0},   {0.5f, 0.99f, 0},  {1.0f, 1e-6f, 0}};
    const int ncases = (int)(sizeof(cases) / sizeof(cases[0]));
    const float scales[3] = {0.5f, 2.0f, 8.0f};
    for (int s = 0; s < 3; s++)
        for (int rep = 0; rep < 3; rep++) {
            for (int i = 0; i < V; i++) row[i] = scales[s] * rng_normal(&r);
            if (rep == 2)
                for (int i = 0; i < V; i += 7) row[i] = -INFINITY;   // masked tokens
            for (int c = 0; c < ncases; c++) check_row("random", row, V, &cases[c], &sc);
        }
    // many ties: logits on a grid of 0.25 (equal probabilities, ranked by id on both sides)
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < V; i++) row[i] = 0.25f * (float)(int)(6.0f * rng_normal(&r));
        for (int c = 0; c < ncases; c++) check_row("ties", row, V, &cases[c], &sc);
    }
    for (int i = 0; i < V; i++) row[i] = 0.5f;
    for (int c = 0; c < ncases; c++) check_row("all equal", row, V, &cases[c], &sc);
    printf("mirror of the device sampler: %d of %d kept sets equal sampler_kept_set's\n", n_same, n_cases);
    sampler_scratch_free(&sc);
    free(row);
    return tests_done();
}
