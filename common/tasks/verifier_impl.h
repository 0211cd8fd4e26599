// Internals shared by the verifier_*.c files (not part of the public API; see verifier.h).
#pragma once
#include <complex.h>
#include <stddef.h>
#include <stdint.h>

// ---- growable string ---------------------------------------------------------------------------
typedef struct { char *s; size_t n, cap; int oom; } VStr;
void vs_init(VStr *b);
void vs_putn(VStr *b, const char *s, size_t n);
void vs_puts(VStr *b, const char *s);
void vs_putc(VStr *b, char c);
char *vs_take(VStr *b);   // the NUL-terminated string (caller frees), NULL after an allocation failure

// ---- normalisation (verifier_norm.c) -------------------------------------------------------------
#define VERIFY_MAX_ANSWER 4096   // longer answers are never parsed (compared as text only)
// Light pass: spacing commands, \left/\right, \dfrac, degrees, percent, dollars, trailing period,
// trailing units. Keeps \text{...}. Returns a malloc'd string or NULL (too long / out of memory).
char *vnorm_light(const char *in);
// Full pass on the light result: \text{} unwrapped, "x \in" prefixes, plain unit words, thousands
// separators, canonical spacing. Returns a malloc'd string or NULL.
char *vnorm_full(const char *light);
// Lower-case letters/digits/parentheses of a text answer with \text{} wrappers and spaces removed.
char *vnorm_text(const char *s);

// ---- expressions (verifier_expr.c) ---------------------------------------------------------------
enum {
    N_NUM, N_VAR, N_PI, N_E, N_I, N_INF, N_ADD, N_SUB, N_MUL, N_DIV, N_POW, N_NEG,
    N_FUNC, N_FACT, N_ABS, N_ROOT, N_BINOM, N_LOGB, N_APPLY,
};
enum {
    F_SIN, F_COS, F_TAN, F_SEC, F_CSC, F_COT, F_ASIN, F_ACOS, F_ATAN, F_SINH, F_COSH, F_TANH,
    F_LN, F_LOG, F_EXP, F_SQRT, F_COUNT
};

typedef struct VNode {
    int op, fn, var;
    double num;               // N_NUM: value
    const char *lit; int litlen;  // N_NUM: the literal text, for exact comparison
    struct VNode *a, *b;
} VNode;

#define VX_MAX_VARS 48
#define VX_MAX_NAME 64
typedef struct {
    VNode *nodes; int n, cap;             // arena shared by every expression of one comparison
    char names[VX_MAX_VARS][VX_MAX_NAME]; int nvars;
    int depth_limit;
} VExprCtx;

int vx_init(VExprCtx *c, int cap);
void vx_free(VExprCtx *c);
VNode *vx_new(VExprCtx *c, int op, VNode *a, VNode *b);
// Parses s[0..len) as one expression; NULL when it is not one (syntax we do not understand).
VNode *vx_parse(VExprCtx *c, const char *s, size_t len);
// Evaluates with vars[k] the value of variable k; NaN on domain errors, overflow or non-finite values.
double complex vx_eval(const VNode *e, const double complex *vars);
// Exact rational value (128-bit numerator and denominator) when the expression is integers/decimals with + - * / and integer powers.
int vx_rational(const VNode *e, __int128 *num, __int128 *den);
// Number of nodes of the expression tree.
size_t vx_size(const VNode *e);
// Bit set of variables used (bit k = variable k); bit 63 = uses unbased \log.
uint64_t vx_vars(const VNode *e);
// 1 when e is a (signed) decimal literal; fills its canonical form "d.ddd e N" in buf.
int vx_literal_canon(const VNode *e, char *buf, size_t cap);

// ---- reward styles (verifier_styles.c) -----------------------------------------------------------
// math_dapo.normalize_final_answer; malloc'd, NULL when out of memory.
char *dapo_normalize(const char *answer);
// prime_math.match_answer (the extracted answer) and math_normalize.normalize_answer; malloc'd.
char *prime_match_answer(const char *response);
char *prime_mathd_normalize(const char *answer);
