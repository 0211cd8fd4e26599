// Paper metrics (common/rl/token_metrics.h) and response quality flags (common/tasks/quality.h).
#include "common/rl/token_metrics.h"
#include "common/tasks/quality.h"
#include "common/core/rng.h"
#include "tests/harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_entropy(void) {
    // Uniform over 4 -> ln 4 at any temperature; label log-prob -ln 4.
    float z[4] = {2, 2, 2, 2}, lp;
    CHECK_NEAR(token_entropy(z, 4, 1.0f, 1, &lp), log(4.0), 1e-6);
    CHECK_NEAR(lp, -log(4.0), 1e-6);
    CHECK_NEAR(token_entropy(z, 4, 0.6f, 1, NULL), log(4.0), 1e-6);
    // z = {0, ln 3}: p = {1/4, 3/4}, H = -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.5623351.
    float z2[2] = {0, (float)log(3.0)};
    CHECK_NEAR(token_entropy(z2, 2, 1.0f, 1, &lp), -(0.25 * log(0.25) + 0.75 * log(0.75)), 1e-6);
    CHECK_NEAR(lp, log(0.75), 1e-6);
    // Temperature 0.5 doubles the logits: z/T = {0, 2 ln 3} -> p = {1/10, 9/10}.
    CHECK_NEAR(token_entropy(z2, 2, 0.5f, 0, &lp), -(0.1 * log(0.1) + 0.9 * log(0.9)), 1e-6);
    CHECK_NEAR(lp, log(0.1), 1e-6);
    // Extreme logits: no overflow, entropy ~0 and never negative.
    float z3[3] = {1000, -1000, 0};
    float h3 = token_entropy(z3, 3, 1.0f, 0, &lp);
    CHECK(h3 >= 0 && h3 < 1e-6);
    CHECK_NEAR(lp, 0, 1e-6);
    // Rows: (3, 4) with labels.
    float rows[12] = {2, 2, 2, 2, 0, (float)log(3.0), 0, 0, 1, 2, 3, 4};
    int labels[3] = {0, 1, 3};
    float H[3], LP[3];
    token_entropy_rows(rows, labels, 3, 4, 1.0f, H, LP);
    CHECK_NEAR(H[0], log(4.0), 1e-6);
    double s = exp(1.0) + exp(2.0) + exp(3.0) + exp(4.0);
    CHECK_NEAR(LP[2], 4 - log(s), 1e-6);
    // Backward: finite differences of H w.r.t. each logit, at T = 0.7.
    Rng r;
    rng_seed(&r, 5);
    float zz[6], g[6] = {0};
    for (int v = 0; v < 6; v++) zz[v] = 3.0f * rng_normal(&r);
    token_entropy_backward(zz, 6, 0.7f, 2.0f, g);   // dH = 2: scales the gradient
    for (int v = 0; v < 6; v++) {
        float a = zz[v], h = 1e-2f;
        zz[v] = a + h; double hp = token_entropy(zz, 6, 0.7f, -1, NULL);
        zz[v] = a - h; double hm = token_entropy(zz, 6, 0.7f, -1, NULL);
        zz[v] = a;
        CHECK_NEAR(g[v], 2.0 * (hp - hm) / (2 * h), 2e-3);
    }
}

static void test_grad_norm_proxy(void) {
    // p = {1/2, 1/2}, label 0: ||e - p|| = sqrt(1/4 + 1/4) = 0.70711; G = |-3| * 0.70711 * 2 = 4.24264.
    float z[2] = {0, 0}, hn[1] = {2}, coef[1] = {-3}, g[1];
    int lab[1] = {0};
    grad_norm_proxy(z, lab, hn, coef, 1, 2, 1.0f, g);
    CHECK_NEAR(g[0], 3 * sqrt(0.5) * 2, 1e-6);
    // Clipped token: coef 0 -> G 0.
    coef[0] = 0;
    grad_norm_proxy(z, lab, hn, coef, 1, 2, 1.0f, g);
    CHECK(g[0] == 0.0f);
    // Against the explicit rank-1 gradient: LM head W (V, C), z = W h, dL/dW = coef (e - p) h^T; its
    // Frobenius norm computed element by element must equal the proxy.
    enum { V = 7, C = 5 };
    Rng r;
    rng_seed(&r, 11);
    float h[C], logits[V];
    for (int c = 0; c < C; c++) h[c] = rng_normal(&r);
    for (int v = 0; v < V; v++) logits[v] = 2.0f * rng_normal(&r);
    float T = 0.8f, cf = 1.7f;
    int label = 3;
    double mx = -1e30, s = 0, p[V];
    for (int v = 0; v < V; v++) if (logits[v] / T > mx) mx = logits[v] / T;
    for (int v = 0; v < V; v++) s += exp(logits[v] / T - mx);
    for (int v = 0; v < V; v++) p[v] = exp(logits[v] / T - mx) / s;
    double fro = 0, hn2 = 0;
    for (int c = 0; c < C; c++) hn2 += (double)h[c] * h[c];
    for (int v = 0; v < V; v++)
        for (int c = 0; c < C; c++) {
            double gvc = cf * ((v == label) - p[v]) * h[c];
            fro += gvc * gvc;
        }
    float hnorm = (float)sqrt(hn2), gg;
    grad_norm_proxy(logits, &label, &hnorm, &cf, 1, V, T, &gg);
    CHECK_NEAR(gg, sqrt(fro), 1e-5 * sqrt(fro));
    // ||e - p|| identity: sqrt(1 - 2 p_o + sum p^2).
    double sq = 0;
    for (int v = 0; v < V; v++) sq += p[v] * p[v];
    CHECK_NEAR(onehot_minus_softmax_norm(logits, V, T, label), sqrt(1 - 2 * p[label] + sq), 1e-6);
}

static void test_logprob_gap(void) {
    float a[4] = {-1, -2, -3, NAN}, b[4] = {-1.5f, -2, -2.75f, 0}, m[4] = {1, 1, 1, 0};
    double mean, mx;
    logprob_gap(a, b, m, 4, &mean, &mx);
    CHECK_NEAR(mean, 0.75 / 3, 1e-7);
    CHECK_NEAR(mx, 0.5, 1e-7);
}

static void test_quality(void) {
    QualityParams p;
    quality_params_default(&p);
    char err[128];
    CHECK(quality_params_check(&p, err, sizeof(err)) == 0);
    QualityFlags f;
    const char *ok = "The answer is \\boxed{42}.";
    quality_check_text(ok, strlen(ok), &p, &f);
    CHECK(f.boxed_count == 1 && !f.bad_boxed && !f.has_cjk && !f.repetitive && !f.any);
    const char *none = "I think it is 42.";
    quality_check_text(none, strlen(none), &p, &f);
    CHECK(f.boxed_count == 0 && f.bad_boxed && f.any);
    const char *two = "\\boxed{1} or \\boxed{2}; not \\boxed {3}";
    quality_check_text(two, strlen(two), &p, &f);
    CHECK(f.boxed_count == 2 && f.bad_boxed);
    // CJK: Han, kana, hangul, fullwidth digit, ideographic full stop. UTF-8 bytes written out.
    const char *mix = "x = 2 \xe6\x89\x80\xe4\xbb\xa5 \xe3\x81\x82 \xed\x95\x9c \xef\xbc\x91\xe3\x80\x82 \\boxed{2}";
    quality_check_text(mix, strlen(mix), &p, &f);
    CHECK_EQ_INT(f.cjk_count, 6);
    CHECK(f.has_cjk && !f.bad_boxed && f.any && f.invalid_utf8 == 0);
    // Latin accents, Greek, math symbols are not CJK.
    const char *latin = "caf\xc3\xa9 \xce\xb1 \xe2\x88\x91 \xe2\x89\xa4";
    CHECK_EQ_INT(count_cjk_utf8(latin, strlen(latin), NULL), 0);
    // Invalid UTF-8: stray continuation, truncated sequence, overlong encoding, surrogate: counted, no crash.
    const char bad[] = {'a', (char)0x80, (char)0xe6, (char)0x89, ' ', (char)0xc0, (char)0xaf, (char)0xed, (char)0xa0, (char)0x80, 0};
    long inval;
    CHECK_EQ_INT(count_cjk_utf8(bad, strlen(bad), &inval), 0);
    CHECK_EQ_INT(inval, 8);
    // Embedded NUL bytes are fine (length-based).
    const char nul[] = "\\boxed{1}\0\\boxed{2}";
    CHECK_EQ_INT(count_substr(nul, sizeof(nul) - 1, "\\boxed{"), 2);
    CHECK(is_cjk_codepoint(0x4E00) && is_cjk_codepoint(0x20000) && !is_cjk_codepoint(0x00E9) && !is_cjk_codepoint(0x1F600));
    // Repetition: an 8-word sentence repeated 5 times -> the 8-gram starting each copy occurs 5 times (>= 4).
    char loop[1024] = "";
    for (int i = 0; i < 5; i++) strcat(loop, "so we check the case again and then ");
    quality_check_text(loop, strlen(loop), &p, &f);
    CHECK(f.repetitive && f.max_ngram_count == 5 && f.words == 40);
    CHECK(f.repeat_frac > 0.7);
    const char *prose = "one two three four five six seven eight nine ten eleven twelve";
    quality_check_text(prose, strlen(prose), &p, &f);
    CHECK(!f.repetitive && f.max_ngram_count == 1 && f.repeat_frac == 0.0);
    // Unspaced CJK loop: each character is a word.
    char cjk_loop[512] = "";
    for (int i = 0; i < 12; i++) strcat(cjk_loop, "\xe6\x89\x80\xe4\xbb\xa5\xe6\x88\x91\xe4\xbb\xac");   // 4 chars
    quality_check_text(cjk_loop, strlen(cjk_loop), &p, &f);
    CHECK(f.words == 48 && f.repetitive);
    // Generic ids: {1 2 3 1 2 3 1 2} trigram counts: 123 x2, 231 x2, 312 x2 -> max 2; distinct 3 of 6.
    uint64_t ids[8] = {1, 2, 3, 1, 2, 3, 1, 2};
    double rf;
    CHECK_EQ_INT(ngram_repeat_stats(ids, 8, 3, &rf), 2);
    CHECK_NEAR(rf, 0.5, 1e-12);
    CHECK_EQ_INT(ngram_repeat_stats(ids, 2, 3, &rf), 0);
    quality_check_text("", 0, &p, &f);
    CHECK(f.bad_boxed && f.words == 0 && f.max_ngram_count == 0);
    p.ngram = 0;
    CHECK(quality_params_check(&p, err, sizeof(err)) == -1);
}

int main(void) {
    test_entropy();
    test_grad_norm_proxy();
    test_logprob_gap();
    test_quality();
    return tests_done();
}
