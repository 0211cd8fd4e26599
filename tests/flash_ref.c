// The flash-attention kernels of common/engine/cuda/cuda_flash.cu as plain C (see flash_ref.h). Names
// match the kernels: flash_fwd (one query tile of one (b, h)), flash_bwd_dot (D_i per row), flash_bwd_dkdv
// (one KV tile seen by one query head (b, h), looping over the query tiles on and below the diagonal,
// into per-head partials), flash_bwd_reduce (the G heads of a group summed), flash_bwd_dq (one query
// tile, looping over the KV tiles up to the diagonal).
#include "tests/flash_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/check.h"

#define TILE_MAX 64

int flash_ref_tile(int D) { return D <= 128 ? 64 : 32; }

size_t flash_ref_scratch_floats(int B, int T, int H, int D) {
    return (size_t)B * H * T + 2 * (size_t)B * T * H * D;
}

static float dot(const float *a, const float *b, int D) {
    float s = 0.0f;
    for (int d = 0; d < D; d++) s += a[d] * b[d];
    return s;
}

// One query tile [q0, q0 + BR) of head h in sequence b (the kernel flash_fwd). Running max m, running
// sum l and the unnormalised output o live in registers on the GPU; rows past T are computed on zeros
// and never stored, as in the kernel.
// o (TILE_MAX, FLASH_REF_MAX_D) and s (TILE_MAX, TILE_MAX) are the block's output registers and score tile.
static void fwd_tile(float *out, float *lse, float (*o)[FLASH_REF_MAX_D], float (*s)[TILE_MAX], const float *q,
                     const float *k, const float *v, int b, int h, int qt, int T, int H, int KV, int D) {
    const int BR = flash_ref_tile(D), BC = BR, G = H / KV, kh = h / G;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D;
    const float scale = 1.0f / sqrtf((float)D);
    float m[TILE_MAX], l[TILE_MAX];
    const int q0 = qt * BR;
    for (int r = 0; r < BR; r++) { m[r] = -INFINITY; l[r] = 0.0f; memset(o[r], 0, sizeof(float) * D); }
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * BC;
        // S = scale Q K^T, masked above the diagonal (key > query; this also masks keys >= T for rows < T)
        for (int r = 0; r < BR; r++) {
            const int t = q0 + r;
            for (int c = 0; c < BC; c++) {
                const int key = k0 + c;
                s[r][c] = (t < T && key <= t)
                              ? scale * dot(q + ((size_t)b * T + t) * qs + (size_t)h * D,
                                            k + ((size_t)b * T + key) * ks + (size_t)kh * D, D)
                              : -INFINITY;
            }
        }
        // online softmax: rescale what the earlier tiles summed by exp(m_old - m_new)
        for (int r = 0; r < BR; r++) {
            float mt = m[r];
            for (int c = 0; c < BC; c++) mt = s[r][c] > mt ? s[r][c] : mt;
            if (mt == -INFINITY) continue;  // nothing unmasked yet (only rows >= T)
            const float alpha = expf(m[r] - mt);
            float sum = 0.0f;
            for (int c = 0; c < BC; c++) {
                s[r][c] = s[r][c] == -INFINITY ? 0.0f : expf(s[r][c] - mt);
                sum += s[r][c];
            }
            l[r] = alpha * l[r] + sum;
            m[r] = mt;
            for (int d = 0; d < D; d++) {
                float acc = 0.0f;
                for (int c = 0; c < BC; c++)
                    if (k0 + c < T) acc += s[r][c] * v[((size_t)b * T + k0 + c) * ks + (size_t)kh * D + d];
                o[r][d] = alpha * o[r][d] + acc;
            }
        }
    }
    for (int r = 0; r < BR && q0 + r < T; r++) {
        const int t = q0 + r;
        const float inv = 1.0f / l[r];
        float *ot = out + ((size_t)b * T + t) * qs + (size_t)h * D;
        for (int d = 0; d < D; d++) ot[d] = o[r][d] * inv;
        lse[((size_t)b * H + h) * T + t] = m[r] + logf(l[r]);
    }
}

void flash_ref_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int H, int KV, int D) {
    if (D > FLASH_REF_MAX_D) die("flash_ref_forward: head_dim %d > %d", D, FLASH_REF_MAX_D);
    const int BR = flash_ref_tile(D), nq = (T + BR - 1) / BR;
    float (*o)[FLASH_REF_MAX_D] = mallocCheck(sizeof(float) * TILE_MAX * FLASH_REF_MAX_D);
    float (*s)[TILE_MAX] = mallocCheck(sizeof(float) * TILE_MAX * TILE_MAX);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int qt = 0; qt < nq; qt++) fwd_tile(out, lse, o, s, q, k, v, b, h, qt, T, H, KV, D);
    free(o);
    free(s);
}

// P and dS of one (query tile, KV tile) pair from lse and D_i, the part flash_bwd_dkdv and flash_bwd_dq
// share: p = exp(scale q.k - lse), dp = dout . v, ds = p (dp - D_i). Zero where masked or out of range.
static void bwd_pair(float p[TILE_MAX][TILE_MAX], float ds[TILE_MAX][TILE_MAX], const float *dout,
                     const float *lse, const float *Di, const float *q, const float *k, const float *v,
                     int b, int h, int q0, int k0, int BR, int BC, int T, int H, int KV, int D) {
    const int G = H / KV, kh = h / G;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D;
    const float scale = 1.0f / sqrtf((float)D);
    for (int r = 0; r < BR; r++) {
        const int t = q0 + r;
        for (int c = 0; c < BC; c++) {
            const int key = k0 + c;
            if (t >= T || key > t) { p[r][c] = ds[r][c] = 0.0f; continue; }
            const size_t row = ((size_t)b * H + h) * T + t;
            const float *kr = k + ((size_t)b * T + key) * ks + (size_t)kh * D;
            const float *vr = v + ((size_t)b * T + key) * ks + (size_t)kh * D;
            p[r][c] = expf(scale * dot(q + ((size_t)b * T + t) * qs + (size_t)h * D, kr, D) - lse[row]);
            const float dp = dot(dout + ((size_t)b * T + t) * qs + (size_t)h * D, vr, D);
            ds[r][c] = p[r][c] * (dp - Di[row]);
        }
    }
}

void flash_ref_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                        const float *lse, const float *q, const float *k, const float *v, float *scratch,
                        int B, int T, int H, int KV, int D) {
    if (D > FLASH_REF_MAX_D) die("flash_ref_backward: head_dim %d > %d", D, FLASH_REF_MAX_D);
    const int G = H / KV, BR = flash_ref_tile(D), BC = BR, nt = (T + BR - 1) / BR;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D;
    const float scale = 1.0f / sqrtf((float)D);
    float *Di = scratch;                                  // (B, H, T)
    float *pdk = Di + (size_t)B * H * T;                  // (B, T, H, D)
    float *pdv = pdk + (size_t)B * T * H * D;             // (B, T, H, D)
    float (*p)[TILE_MAX] = mallocCheck(sizeof(float) * TILE_MAX * TILE_MAX);
    float (*ds)[TILE_MAX] = mallocCheck(sizeof(float) * TILE_MAX * TILE_MAX);
    float (*acc1)[FLASH_REF_MAX_D] = mallocCheck(sizeof(float) * TILE_MAX * FLASH_REF_MAX_D);
    float (*acc2)[FLASH_REF_MAX_D] = mallocCheck(sizeof(float) * TILE_MAX * FLASH_REF_MAX_D);

    // flash_bwd_dot: D_i = dout_i . out_i (= sum_s P_is dP_is, the softmax backward's row term)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                const size_t o = ((size_t)b * T + t) * qs + (size_t)h * D;
                Di[((size_t)b * H + h) * T + t] = dot(dout + o, out + o, D);
            }

    // flash_bwd_dkdv: per query head h and KV tile, dV_c = sum_r P_rc dout_r and dK_c = scale sum_r dS_rc q_r
    // over the query tiles from the diagonal on, into fp32 partials (B, T, H, D); one writer per element.
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int kt = 0; kt < nt; kt++) {
                const int k0 = kt * BC;
                for (int c = 0; c < BC; c++) {
                    memset(acc1[c], 0, sizeof(float) * D);  // dK
                    memset(acc2[c], 0, sizeof(float) * D);  // dV
                }
                for (int qt = kt; qt < nt; qt++) {
                    const int q0 = qt * BR;
                    bwd_pair(p, ds, dout, lse, Di, q, k, v, b, h, q0, k0, BR, BC, T, H, KV, D);
                    for (int c = 0; c < BC; c++)
                        for (int d = 0; d < D; d++) {
                            float sv = 0.0f, sk = 0.0f;
                            for (int r = 0; r < BR && q0 + r < T; r++) {
                                const size_t o = ((size_t)b * T + q0 + r) * qs + (size_t)h * D + d;
                                sv += p[r][c] * dout[o];
                                sk += ds[r][c] * q[o];
                            }
                            acc2[c][d] += sv;
                            acc1[c][d] += sk;
                        }
                }
                for (int c = 0; c < BC && k0 + c < T; c++) {
                    const size_t o = ((size_t)b * T + k0 + c) * qs + (size_t)h * D;
                    for (int d = 0; d < D; d++) {
                        pdk[o + d] = scale * acc1[c][d];
                        pdv[o + d] = acc2[c][d];
                    }
                }
            }

    // flash_bwd_reduce: dk, dv += the partials of the G query heads of each KV head, in head order.
    for (size_t bt = 0; bt < (size_t)B * T; bt++)
        for (int kh = 0; kh < KV; kh++)
            for (int d = 0; d < D; d++) {
                float sk = 0.0f, sv = 0.0f;
                for (int g = 0; g < G; g++) {
                    const size_t o = (bt * H + (size_t)kh * G + g) * D + d;
                    sk += pdk[o];
                    sv += pdv[o];
                }
                dk[bt * ks + (size_t)kh * D + d] += sk;
                dv[bt * ks + (size_t)kh * D + d] += sv;
            }

    // flash_bwd_dq: dQ_r = scale sum_c dS_rc k_c over the KV tiles up to the diagonal (a second pass
    // recomputing P and dS instead of atomics: deterministic).
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int qt = 0; qt < nt; qt++) {
                const int q0 = qt * BR, kh = h / G;
                for (int r = 0; r < BR; r++) memset(acc1[r], 0, sizeof(float) * D);
                for (int kt = 0; kt <= qt; kt++) {
                    const int k0 = kt * BC;
                    bwd_pair(p, ds, dout, lse, Di, q, k, v, b, h, q0, k0, BR, BC, T, H, KV, D);
                    for (int r = 0; r < BR; r++)
                        for (int d = 0; d < D; d++) {
                            float s = 0.0f;
                            for (int c = 0; c < BC && k0 + c < T; c++)
                                s += ds[r][c] * k[((size_t)b * T + k0 + c) * ks + (size_t)kh * D + d];
                            acc1[r][d] += s;
                        }
                }
                for (int r = 0; r < BR && q0 + r < T; r++) {
                    float *dqt = dq + ((size_t)b * T + q0 + r) * qs + (size_t)h * D;
                    for (int d = 0; d < D; d++) dqt[d] += scale * acc1[r][d];
                }
            }
    free(p); free(ds); free(acc1); free(acc2);
}
