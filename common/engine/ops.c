// CPU fp32 reference ops. See ops.h for shapes and the accumulate-into-grads convention.
#include "common/engine/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

// ---- embedding ------------------------------------------------------------------------------------

void embedding_forward(float *out, const int *tokens, const float *wte, size_t N, int C) {
    #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)C))
    for (size_t n = 0; n < N; n++)
        memcpy(out + n * C, wte + (size_t)tokens[n] * C, (size_t)C * sizeof(float));
}

void embedding_backward(float *dwte, const float *dout, const int *tokens, size_t N, int C) {
    // Rows may repeat, so split the channels across threads instead of the rows: no races and the
    // summation order per element is fixed (row order), so results are deterministic.
    #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)C))
    for (int c = 0; c < C; c++)
        for (size_t n = 0; n < N; n++) dwte[(size_t)tokens[n] * C + c] += dout[n * C + c];
}

// ---- RMSNorm --------------------------------------------------------------------------------------

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, size_t N, int C, float eps) {
    #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)C))
    for (size_t n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float *o = out + n * C;
        float ss = 0.0f;
        #pragma omp simd reduction(+:ss)
        for (int c = 0; c < C; c++) ss += xr[c] * xr[c];
        float r = 1.0f / sqrtf(ss / C + eps);
        rstd[n] = r;
        for (int c = 0; c < C; c++) o[c] = xr[c] * r * w[c];
    }
}

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, size_t N, int C) {
    // y_c = w_c x_c r, r = (mean x^2 + eps)^(-1/2), dr/dx_c = -r^3 x_c / C, so
    // dx_c = r (w_c dy_c) - r^3 x_c / C * sum_j w_j dy_j x_j.
    #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)C))
    for (size_t n = 0; n < N; n++) {
        const float *xr = x + n * C, *dy = dout + n * C;
        float *dxr = dx + n * C;
        const float r = rstd[n];
        float dot = 0.0f;
        #pragma omp simd reduction(+:dot)
        for (int c = 0; c < C; c++) dot += w[c] * dy[c] * xr[c];
        const float k = dot * r * r * r / C;
        for (int c = 0; c < C; c++) dxr[c] += r * w[c] * dy[c] - k * xr[c];
    }
    // dw_c = sum_n dy_nc x_nc r_n; parallel over channels keeps the row order fixed.
    #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)C))
    for (int c = 0; c < C; c++) {
        float s = 0.0f;
        for (size_t n = 0; n < N; n++) s += dout[n * C + c] * x[n * C + c] * rstd[n];
        dw[c] += s;
    }
}

// ---- linear ---------------------------------------------------------------------------------------

void linear_forward(float *out, const float *x, const float *W, const float *b, size_t N, int IC, int OC) {
    if (b) {
        #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)OC))
        for (size_t n = 0; n < N; n++) memcpy(out + n * OC, b, (size_t)OC * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, OC, IC,
                1.0f, x, IC, W, IC, b ? 1.0f : 0.0f, out, OC);
}

void linear_backward(float *dx, float *dW, float *db, const float *dout, const float *x, const float *W,
                     size_t N, int IC, int OC) {
    if (dx)  // (N, IC) += (N, OC) @ (OC, IC)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, IC, OC,
                    1.0f, dout, OC, W, IC, 1.0f, dx, IC);
    // (OC, IC) += (N, OC)^T @ (N, IC)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, (int)N,
                1.0f, dout, OC, x, IC, 1.0f, dW, IC);
    if (db) {
        #pragma omp parallel for schedule(static) if (PAR_WORTH(N * (size_t)OC))
        for (int o = 0; o < OC; o++) {
            float s = 0.0f;
            for (size_t n = 0; n < N; n++) s += dout[n * OC + o];
            db[o] += s;
        }
    }
}

// ---- RoPE -----------------------------------------------------------------------------------------

void rope_tables(float *cos_t, float *sin_t, int T, int D, float theta) {
    const int half = D / 2;
    for (int i = 0; i < half; i++) {
        // HF: inv_freq = 1 / theta^(arange(0, D, 2) / D), computed in fp32 there; angles t * inv_freq.
        const float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)D);
        for (int t = 0; t < T; t++) {
            const float ang = (float)t * inv_freq;
            cos_t[(size_t)t * half + i] = cosf(ang);
            sin_t[(size_t)t * half + i] = sinf(ang);
        }
    }
}

// x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin (pairs i, i + D/2); sign = -1 applies the inverse.
static void rope_apply(float *x, const float *cos_t, const float *sin_t, int B, int T, int NH, int D, float sign) {
    const int half = D / 2;
    #pragma omp parallel for collapse(2) schedule(static) if (PAR_WORTH((size_t)B * T * NH * D))
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *cs = cos_t + (size_t)t * half, *sn = sin_t + (size_t)t * half;
            for (int h = 0; h < NH; h++) {
                float *xh = x + (((size_t)b * T + t) * NH + h) * D;
                for (int i = 0; i < half; i++) {
                    const float x1 = xh[i], x2 = xh[i + half], s = sign * sn[i];
                    xh[i] = x1 * cs[i] - x2 * s;
                    xh[i + half] = x2 * cs[i] + x1 * s;
                }
            }
        }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int NH, int D) {
    rope_apply(x, cos_t, sin_t, B, T, NH, D, 1.0f);
}

void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int NH, int D) {
    rope_apply(dx, cos_t, sin_t, B, T, NH, D, -1.0f);
}

// ---- causal grouped-query attention ---------------------------------------------------------------

void attention_forward_loops(float *out, float *att, const float *q, const float *k, const float *v,
                             int B, int T, int H, int KV, int D) {
    const int G = H / KV;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D;  // row strides
    const float scale = 1.0f / sqrtf((float)D);
    #pragma omp parallel for collapse(3) schedule(dynamic, 4) if (PAR_WORTH((size_t)B * H * T * T * D / 2))
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)b * T + t) * qs + (size_t)h * D;
                const float *kb = k + (size_t)b * T * ks + (size_t)(h / G) * D;
                const float *vb = v + (size_t)b * T * ks + (size_t)(h / G) * D;
                float *p = att + (((size_t)b * H + h) * T + t) * T;
                float mx = -INFINITY;
                for (int s = 0; s <= t; s++) {
                    const float *ks_ = kb + (size_t)s * ks;
                    float dot = 0.0f;
                    #pragma omp simd reduction(+:dot)
                    for (int d = 0; d < D; d++) dot += qt[d] * ks_[d];
                    dot *= scale;
                    p[s] = dot;
                    if (dot > mx) mx = dot;
                }
                float sum = 0.0f;
                #pragma omp simd reduction(+:sum)
                for (int s = 0; s <= t; s++) { p[s] = vexpf(p[s] - mx); sum += p[s]; }
                const float inv = 1.0f / sum;
                float *o = out + ((size_t)b * T + t) * qs + (size_t)h * D;
                for (int d = 0; d < D; d++) o[d] = 0.0f;
                for (int s = 0; s <= t; s++) {
                    p[s] *= inv;
                    const float *vs = vb + (size_t)s * ks;
                    const float w = p[s];
                    #pragma omp simd
                    for (int d = 0; d < D; d++) o[d] += w * vs[d];
                }
            }
}

void attention_backward_loops(float *dq, float *dk, float *dv, const float *dout, const float *att,
                              const float *q, const float *k, const float *v, float *scratch,
                              int B, int T, int H, int KV, int D) {
    const int G = H / KV;
    const size_t qs = (size_t)H * D, ks = (size_t)KV * D;
    const float scale = 1.0f / sqrtf((float)D);
    // One task per (b, kv head): it alone writes that head's dk/dv rows, so there are no races and the
    // summation order is fixed regardless of the thread count.
    #pragma omp parallel for collapse(2) schedule(dynamic, 1) if (PAR_WORTH((size_t)B * H * T * T * D / 2))
    for (int b = 0; b < B; b++)
        for (int kh = 0; kh < KV; kh++) {
#ifdef _OPENMP
            float *dp = scratch + (size_t)omp_get_thread_num() * T;
#else
            float *dp = scratch;
#endif
            const float *kb = k + (size_t)b * T * ks + (size_t)kh * D;
            const float *vb = v + (size_t)b * T * ks + (size_t)kh * D;
            float *dkb = dk + (size_t)b * T * ks + (size_t)kh * D;
            float *dvb = dv + (size_t)b * T * ks + (size_t)kh * D;
            for (int h = kh * G; h < (kh + 1) * G; h++)
                for (int t = 0; t < T; t++) {
                    const float *p = att + (((size_t)b * H + h) * T + t) * T;
                    const float *dot_ = dout + ((size_t)b * T + t) * qs + (size_t)h * D;
                    const float *qt = q + ((size_t)b * T + t) * qs + (size_t)h * D;
                    float *dqt = dq + ((size_t)b * T + t) * qs + (size_t)h * D;
                    // dp_s = dout . v_s; dv_s += p_s dout
                    float pdp = 0.0f;
                    for (int s = 0; s <= t; s++) {
                        const float *vs = vb + (size_t)s * ks;
                        float *dvs = dvb + (size_t)s * ks;
                        float acc = 0.0f;
                        #pragma omp simd reduction(+:acc)
                        for (int d = 0; d < D; d++) acc += dot_[d] * vs[d];
                        dp[s] = acc;
                        pdp += p[s] * acc;
                        const float ps = p[s];
                        #pragma omp simd
                        for (int d = 0; d < D; d++) dvs[d] += ps * dot_[d];
                    }
                    // softmax backward: dscore_s = p_s (dp_s - sum_j p_j dp_j), then the 1/sqrt(D) scale
                    for (int s = 0; s <= t; s++) {
                        const float ds = p[s] * (dp[s] - pdp) * scale;
                        const float *kss = kb + (size_t)s * ks;
                        float *dks = dkb + (size_t)s * ks;
                        #pragma omp simd
                        for (int d = 0; d < D; d++) {
                            dqt[d] += ds * kss[d];
                            dks[d] += ds * qt[d];
                        }
                    }
                }
        }
}

// GEMM formulation, one (b, h) at a time: S = scale Q K^T over the full square (the upper triangle
// is wasted work, but sgemm runs ~10x faster than the loops), masked softmax rows (upper triangle set
// to 0 so P V and P^T dO need no mask), O = P V. Heads run one after another so dk/dv of a shared KV
// head accumulate in a fixed order; the threads are inside sgemm and the row loops.
void attention_forward_gemm(float *out, float *att, const float *q, const float *k, const float *v,
                            int B, int T, int H, int KV, int D) {
    const int G = H / KV, qs = H * D, ks = KV * D;
    const float scale = 1.0f / sqrtf((float)D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *qh = q + (size_t)b * T * qs + (size_t)h * D;
            const float *kh = k + (size_t)b * T * ks + (size_t)(h / G) * D;
            const float *vh = v + (size_t)b * T * ks + (size_t)(h / G) * D;
            float *P = att + ((size_t)b * H + h) * T * T;  // (T, T)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, qh, qs, kh, ks, 0.0f, P, T);
            #pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)T * T))
            for (int t = 0; t < T; t++) {
                float *p = P + (size_t)t * T, mx = -INFINITY, sum = 0.0f;
                for (int s = 0; s <= t; s++) mx = p[s] > mx ? p[s] : mx;
                #pragma omp simd reduction(+:sum)
                for (int s = 0; s <= t; s++) { p[s] = vexpf(p[s] - mx); sum += p[s]; }
                const float inv = 1.0f / sum;
                for (int s = 0; s <= t; s++) p[s] *= inv;
                for (int s = t + 1; s < T; s++) p[s] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, P, T, vh, ks, 0.0f,
                        out + (size_t)b * T * qs + (size_t)h * D, qs);
        }
}

void attention_backward_gemm(float *dq, float *dk, float *dv, const float *dout, const float *att,
                             const float *q, const float *k, const float *v, float *scratch,
                             int B, int T, int H, int KV, int D) {
    const int G = H / KV, qs = H * D, ks = KV * D;
    const float scale = 1.0f / sqrtf((float)D);
    float *dS = scratch;  // (T, T)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t qo = (size_t)b * T * qs + (size_t)h * D, ko = (size_t)b * T * ks + (size_t)(h / G) * D;
            const float *P = att + ((size_t)b * H + h) * T * T;
            // dP = dO V^T (T, T)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dout + qo, qs, v + ko, ks, 0.0f, dS, T);
            #pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)T * T))
            for (int t = 0; t < T; t++) {
                const float *p = P + (size_t)t * T;
                float *d = dS + (size_t)t * T, pdp = 0.0f;
                #pragma omp simd reduction(+:pdp)
                for (int s = 0; s <= t; s++) pdp += p[s] * d[s];
                for (int s = 0; s <= t; s++) d[s] = p[s] * (d[s] - pdp) * scale;
                for (int s = t + 1; s < T; s++) d[s] = 0.0f;
            }
            // dQ += dS K; dK += dS^T Q; dV += P^T dO
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, dS, T, k + ko, ks, 1.0f, dq + qo, qs);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, dS, T, q + qo, qs, 1.0f, dk + ko, ks);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, P, T, dout + qo, qs, 1.0f, dv + ko, ks);
        }
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int H, int KV, int D) {
    if (T >= ATTENTION_GEMM_MIN_T) attention_forward_gemm(out, att, q, k, v, B, T, H, KV, D);
    else attention_forward_loops(out, att, q, k, v, B, T, H, KV, D);
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, float *scratch,
                        int B, int T, int H, int KV, int D) {
    if (T >= ATTENTION_GEMM_MIN_T) attention_backward_gemm(dq, dk, dv, dout, att, q, k, v, scratch, B, T, H, KV, D);
    else attention_backward_loops(dq, dk, dv, dout, att, q, k, v, scratch, B, T, H, KV, D);
}

// ---- SwiGLU ---------------------------------------------------------------------------------------

void swiglu_forward(float *out, const float *gate, const float *up, size_t n) {
    #pragma omp parallel for simd schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + vexpf(-g)) * up[i];
    }
}

void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n) {
    // silu(g) = g s(g); silu'(g) = s(g) (1 + g (1 - s(g)))
    #pragma omp parallel for simd schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i], s = 1.0f / (1.0f + vexpf(-g));
        dup[i] = dout[i] * g * s;
        dgate[i] = dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
    #pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
